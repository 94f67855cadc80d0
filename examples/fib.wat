;; Fibonacci numbers, two ways.
;;
;;   strata run examples/fib.wat --invoke fib 20        # 6765
;;   strata run examples/fib.wat --invoke fib_iter 90   # 2880067194370816120
(module
  ;; fib(n) = fib(n - 1) + fib(n - 2), fib(0) = 0, fib(1) = 1: exponential on purpose, a
  ;; small benchmark of calls.
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else
        (i32.add
          (call $fib (i32.sub (local.get $n) (i32.const 1)))
          (call $fib (i32.sub (local.get $n) (i32.const 2)))))))

  ;; The same sequence in a loop, in 64 bits (exact up to n = 92).
  (func (export "fib_iter") (param $n i64) (result i64)
    (local $a i64) (local $b i64) (local $t i64)
    (local.set $b (i64.const 1))
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $t (i64.add (local.get $a) (local.get $b)))
        (local.set $a (local.get $b))
        (local.set $b (local.get $t))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))
    (local.get $a)))
