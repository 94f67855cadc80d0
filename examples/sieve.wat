;; The sieve of Eratosthenes in linear memory.
;;
;;   strata run examples/sieve.wat                              # primes below 10000: 1229
;;   strata run examples/sieve.wat --invoke count_primes 1000000  # 78498
(module
  ;; One byte per number; grown on demand (at most 16 MiB).
  (memory 1 256)

  ;; The number of primes below $n.
  (func $count_primes (export "count_primes") (param $n i32) (result i32)
    (local $i i32) (local $j i32) (local $count i32) (local $pages i32)
    ;; Make room for $n bytes.
    (local.set $pages
      (i32.sub
        (i32.shr_u (i32.add (local.get $n) (i32.const 65535)) (i32.const 16))
        (memory.size)))
    (if (i32.gt_s (local.get $pages) (i32.const 0))
      (then
        (if (i32.eq (memory.grow (local.get $pages)) (i32.const -1))
          (then unreachable))))
    ;; 0 = maybe prime, 1 = composite.
    (memory.fill (i32.const 0) (i32.const 0) (local.get $n))
    (local.set $i (i32.const 2))
    (block $done
      (loop $outer
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.eqz (i32.load8_u (local.get $i)))
          (then
            (local.set $count (i32.add (local.get $count) (i32.const 1)))
            ;; Cross out multiples from i*i (64-bit product: no overflow for large $n).
            (if (i64.lt_u
                  (i64.mul (i64.extend_i32_u (local.get $i)) (i64.extend_i32_u (local.get $i)))
                  (i64.extend_i32_u (local.get $n)))
              (then
                (local.set $j (i32.mul (local.get $i) (local.get $i)))
                (block $crossed
                  (loop $cross
                    (br_if $crossed (i32.ge_u (local.get $j) (local.get $n)))
                    (i32.store8 (local.get $j) (i32.const 1))
                    (local.set $j (i32.add (local.get $j) (local.get $i)))
                    (br $cross)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (local.get $count))

  (func (export "_start") (result i32)
    (call $count_primes (i32.const 10000))))
