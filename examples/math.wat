;; Small numeric functions: floats, multiple results and a trap.
;;
;;   strata run examples/math.wat --invoke hypot 3 4     # 5
;;   strata run examples/math.wat --invoke average 1 2   # 1.5
;;   strata run examples/math.wat --invoke divmod 17 5   # 3 and 2, one per line
;;   strata run examples/math.wat --invoke divmod 1 0    # traps: integer divide by zero
(module
  (func (export "hypot") (param $x f64) (param $y f64) (result f64)
    (f64.sqrt
      (f64.add
        (f64.mul (local.get $x) (local.get $x))
        (f64.mul (local.get $y) (local.get $y)))))

  (func (export "average") (param $a f32) (param $b f32) (result f32)
    (f32.mul (f32.add (local.get $a) (local.get $b)) (f32.const 0.5)))

  ;; Quotient and remainder, truncating toward zero; traps on a zero divisor.
  (func (export "divmod") (param $a i32) (param $b i32) (result i32 i32)
    (i32.div_s (local.get $a) (local.get $b))
    (i32.rem_s (local.get $a) (local.get $b))))
