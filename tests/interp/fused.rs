//! Instructions the translator fuses or rewrites, against every other tier: address sums
//! folded into loads and stores, divisions by constants, scaled indices, and the table of
//! pair superinstructions.

use super::*;

/// Loads and stores whose address is an `i32.add` (fused into one instruction by the
/// interpreter) wrap the sum at 32 bits before adding the offset, as `i32.add` does, and
/// trap when the sum plus the offset leaves the memory.
const ADDRESS_SUMS: &str = r#"
(module
  (memory 1)
  (func (export "load") (param $a i32) (param $b i32) (result i32)
    (i32.load offset=4 (i32.add (local.get $a) (local.get $b))))
  (func (export "load8") (param $a i32) (result i32)
    (i32.load8_u (i32.add (local.get $a) (i32.const 16))))
  (func (export "store") (param $a i32) (param $b i32) (result i32)
    (i64.store offset=8 (i32.add (local.get $a) (local.get $b)) (i64.const 0x0102030405060708))
    (i32.load offset=8 (i32.add (local.get $a) (local.get $b))))
  ;; Offsets whose end (offset plus width) does not fit 32 bits: not fused.
  (func (export "far") (param $a i32) (param $b i32) (result i32)
    (i64.store offset=4294967290 (i32.add (local.get $a) (local.get $b)) (i64.const 1))
    (i32.load offset=4294967294 (i32.add (local.get $a) (local.get $b))))
  ;; Constant addends (an immediate in the interpreter), first or second, in stores and
  ;; f64 accesses.
  (func (export "const_first") (param $a i32) (param $b i32) (result i32)
    (i32.store8 (i32.add (local.get $a) (i32.const 40)) (local.get $b))
    (i32.load16_u (i32.add (i32.const 40) (local.get $a))))
  (func (export "const_f64") (param $a i32) (param $b i32) (result i32)
    (local $f f64)
    (local.set $f (f64.convert_i32_s (local.get $b)))
    (f64.store offset=8 (i32.add (i32.const 65000) (local.get $a)) (local.get $f))
    (i32.trunc_f64_s (f64.load offset=8 (i32.add (local.get $a) (i32.const 65000)))))
  ;; An address that is no sum.
  (func (export "plain") (param $a i32) (param $b i32) (result i32)
    (i32.store16 offset=2 (local.get $a) (local.get $b))
    (i32.load offset=2 (local.get $a))))
"#;

#[test]
fn fused_address_sums_wrap_like_i32_add() {
    let calls: &[(&str, i32, i32)] = &[
        ("load", 0, 0),
        ("load", -4, 8),    // wraps to 4
        ("load", -1, 1),    // wraps to 0
        ("load", 65536, 0), // out of bounds
        ("load", 65530, 2), // 65532 + 4 + 4 > 65536
        ("store", 16, 16),
        ("store", -8, 24),             // wraps to 16
        ("store", 65528, 0),           // 65536 + 8 out of bounds
        ("store", i32::MIN, i32::MIN), // wraps to 0
        ("load", 65526, 2),            // ends at the memory's end
        ("store", 65520, 0),           // ends at the memory's end
        ("far", 0, 0),
        ("far", -1, 1),
        ("plain", 65530, 0x1234), // ends at the memory's end
        ("plain", 65531, 0x1234), // one byte past it
        ("plain", -2, 0x1234),    // no wrap: far past it
        ("const_first", 0, 0x1234),
        ("const_first", -40, 0x77),   // wraps to 0
        ("const_first", -41, 1),      // wraps to 2^32 - 1: out of bounds
        ("const_first", 65494, 0x55), // the load ends at the memory's end
        ("const_first", 65495, 0x55), // the store fits, the load does not
        ("const_f64", 0, 9),
        ("const_f64", 520, -3),    // ends at the memory's end
        ("const_f64", 521, 3),     // one byte past it
        ("const_f64", -65000, 11), // wraps to 0
    ];
    let outcomes = |strategy: Strategy| -> Vec<String> {
        let (mut store, instance) = instantiate(strategy, ADDRESS_SUMS);
        let mut out = Vec::new();
        for &(name, a, b) in calls {
            let f = instance
                .get_typed_func::<(i32, i32), i32>(&mut store, name)
                .unwrap();
            out.push(match f.call(&mut store, (a, b)) {
                Ok(v) => format!("{v}"),
                Err(e) => format!("trap: {}", e.downcast::<Trap>().unwrap()),
            });
        }
        let load8 = instance
            .get_typed_func::<i32, i32>(&mut store, "load8")
            .unwrap();
        for a in [0, -16, -17, 65519, 65520] {
            out.push(match load8.call(&mut store, a) {
                Ok(v) => format!("{v}"),
                Err(e) => format!("trap: {}", e.downcast::<Trap>().unwrap()),
            });
        }
        out
    };
    let expected = outcomes(Strategy::Optimizing);
    assert_eq!(expected[1], "0", "a wrapped sum reads memory");
    assert!(expected[3].starts_with("trap"), "{}", expected[3]);
    assert_eq!(expected[6], format!("{}", 0x05060708));
    for strategy in [Strategy::Interpreter, Strategy::Baseline, Strategy::Tiered] {
        assert_eq!(outcomes(strategy), expected, "{strategy:?}");
    }
}

/// Unsigned divisions and remainders by constants (multiplications in the interpreter),
/// of a value just computed and of a local, by divisors at the edges; by 1 and by 0 (a
/// trap) they keep the division.
const DIVISIONS: &str = r#"
(module
  (func (export "divisions") (param $x i32) (result i32)
    (local $s i32)
    (local.set $s (i32.rem_u (i32.add (local.get $x) (i32.const 11)) (i32.const 7)))
    (local.set $s (i32.add (local.get $s) (i32.div_u (local.get $x) (i32.const 3))))
    (local.set $s (i32.xor (local.get $s) (i32.rem_u (local.get $x) (i32.const 1000))))
    (local.set $s (i32.add (local.get $s) (i32.div_u (local.get $x) (i32.const 0x80000001))))
    (local.set $s (i32.add (local.get $s) (i32.rem_u (local.get $x) (i32.const -1))))
    (local.set $s (i32.add (local.get $s) (i32.div_u (local.get $x) (i32.const -2))))
    (local.set $s (i32.add (local.get $s) (i32.rem_u (local.get $x) (i32.const 65536))))
    (local.set $s (i32.add (local.get $s) (i32.div_u (i32.mul (local.get $x) (i32.const 5))
                                                     (i32.const 641))))
    (local.set $s (i32.add (local.get $s) (i32.div_u (local.get $x) (i32.const 1))))
    (i32.add (local.get $s) (i32.rem_u (local.get $x) (i32.const 1))))
  (func (export "by_zero") (param $x i32) (result i32)
    (i32.rem_u (local.get $x) (i32.const 0))))
"#;

#[test]
fn divisions_by_constants_match_every_tier() {
    let values = [
        0,
        1,
        2,
        6,
        7,
        640,
        641,
        999,
        1000,
        65535,
        65536,
        i32::MAX,
        i32::MIN,
        -1,
        -2,
        -3,
    ];
    let outcomes = |strategy: Strategy| -> Vec<i32> {
        let (mut store, instance) = instantiate(strategy, DIVISIONS);
        let f = instance
            .get_typed_func::<i32, i32>(&mut store, "divisions")
            .unwrap();
        let by_zero = instance
            .get_typed_func::<i32, i32>(&mut store, "by_zero")
            .unwrap();
        let trap = by_zero.call(&mut store, 5).unwrap_err();
        assert_eq!(
            trap.downcast_ref::<Trap>(),
            Some(&Trap::IntegerDivisionByZero)
        );
        values
            .iter()
            .map(|&x| f.call(&mut store, x).unwrap())
            .collect()
    };
    let expected = outcomes(Strategy::Optimizing);
    assert_eq!(expected[0], 4);
    assert_eq!(outcomes(Strategy::Interpreter), expected);
}

/// Adjacent numeric instructions the interpreter runs as one handler (its pair table in
/// interp/src/exec/fused.rs), each with the second reading the first's result as either
/// operand, and some with the first reading the result of the instruction before: the
/// mixing steps of a hash, address arithmetic, pointer chasing, byte stores, and `f64`
/// expressions with their loads and stores. `trap` makes the second of a pair fail.
const PAIRS: &str = r#"
(module
  (memory 1)
  (func (export "pairs") (param $n i32) (result i32)
    (local $i i32) (local $x i32) (local $y i32) (local $p i32) (local $f f64) (local $g f64)
    (local $h f64) (local $q f64)
    (local.set $x (i32.const 0x2545f491))
    (local.set $h (f64.const 0.5))
    (local.set $q (f64.const 0.25))
    (local.set $g (f64.const 0.5))
    ;; A chain of pointers at 1024: cell k holds the address of cell k + 1.
    (i32.store (i32.const 1024) (i32.const 1028))
    (i32.store (i32.const 1028) (i32.const 1032))
    (i32.store (i32.const 1032) (i32.const 77))
    (loop $l
      ;; xorshift: shift then mix, the shifted value as either operand.
      (local.set $x (i32.xor (i32.shl (local.get $x) (i32.const 13)) (local.get $x)))
      (local.set $x (i32.xor (local.get $x) (i32.shr_u (local.get $x) (i32.const 17))))
      (local.set $x (i32.xor (local.get $x) (i32.shl (local.get $x) (i32.const 5))))
      ;; Mix then shift or multiply, the mix fed by the instruction before.
      (local.set $y (i32.shr_u (i32.xor (i32.add (local.get $y) (local.get $x)) (local.get $i))
                               (i32.const 3)))
      (local.set $y (i32.shl (i32.xor (local.get $y) (local.get $x)) (i32.const 7)))
      (local.set $y (i32.mul (i32.xor (local.get $y) (local.get $i)) (i32.const 16777619)))
      ;; Field extraction.
      (local.set $y (i32.add (local.get $y)
        (i32.and (i32.shr_u (local.get $x) (i32.const 4)) (i32.const 255))))
      (local.set $y (i32.add (local.get $y)
        (i32.shr_u (i32.and (local.get $x) (i32.const 0xff00)) (i32.const 8))))
      (local.set $y (i32.add (local.get $y)
        (i32.and (i32.and (local.get $x) (i32.const 0xf0f0)) (i32.const 0x3c3c))))
      (local.set $y (i32.add (local.get $y)
        (i32.shr_u (i32.shr_u (local.get $x) (i32.const 3)) (i32.const 2))))
      ;; Address arithmetic: a scaled index, into a load and into sums.
      (i32.store (i32.const 64) (local.get $x))
      (local.set $y (i32.add (local.get $y)
        (i32.load (i32.add (i32.const 48) (i32.shl (i32.and (local.get $i) (i32.const 7))
                                                   (i32.const 2))))))
      (local.set $p (i32.add (i32.shl (local.get $i) (i32.const 2)) (local.get $y)))
      (local.set $p (i32.shl (i32.add (local.get $p) (local.get $x)) (i32.const 1)))
      (local.set $p (i32.shl (i32.add (local.get $p) (i32.const 3)) (i32.const 2)))
      (local.set $p (i32.add (i32.add (local.get $p) (i32.const 5)) (i32.const 9)))
      (local.set $p (i32.add (local.get $y) (i32.add (local.get $p) (local.get $x))))
      (local.set $p (i32.sub (i32.add (local.get $p) (local.get $i)) (i32.const 11)))
      (local.set $y (i32.xor (local.get $y) (local.get $p)))
      ;; Pointer chasing, and a load from a computed address.
      (local.set $y (i32.add (local.get $y) (i32.load (i32.load (i32.const 1024)))))
      (local.set $y (i32.add (local.get $y) (i32.load (i32.load (i32.load (i32.const 1024))))))
      (local.set $p (i32.add (i32.and (local.get $x) (i32.const 255)) (i32.const 1024)))
      (local.set $y (i32.add (local.get $y) (i32.load (local.tee $p (i32.add (local.get $p) (i32.const 4))))))
      ;; A loaded value shifted, stored as a byte, and the store's successor.
      (local.set $y (i32.add (local.get $y)
        (i32.shr_u (i32.load offset=64 (i32.add (local.get $i) (local.get $i))) (i32.const 9))))
      (i32.store8 (i32.const 200) (i32.shr_u (local.get $x) (i32.const 8)))
      (local.set $y (i32.add (i32.load8_u (i32.const 200)) (i32.add (local.get $y) (i32.const 1))))
      ;; f64: loads into arithmetic (as either operand), chains, and results stored.
      (f64.store (i32.const 256) (f64.convert_i32_u (i32.and (local.get $x) (i32.const 1023))))
      (f64.store (i32.const 264) (local.get $g))
      ;; Fresh values each iteration, so none grows without bound.
      (local.set $f (f64.convert_i32_s (i32.and (local.get $y) (i32.const 4095))))
      (local.set $g (f64.convert_i32_u (i32.and (local.get $i) (i32.const 63))))
      (local.set $f (f64.add (local.get $f) (f64.load (i32.const 256))))
      (local.set $f (f64.add (f64.load (i32.const 264)) (local.get $f)))
      (local.set $f (f64.sub (local.get $f) (f64.load (i32.const 264))))
      (local.set $g (f64.sub (f64.load (i32.const 256)) (local.get $g)))
      (local.set $g (f64.mul (f64.load (i32.const 264)) (local.get $h)))
      (local.set $g (f64.add (local.get $g)
        (f64.mul (local.get $q)
                 (f64.load (i32.add (i32.const 256) (i32.and (local.get $i) (i32.const 8)))))))
      (local.set $f (f64.add (f64.mul (local.get $f) (local.get $h)) (local.get $g)))
      (local.set $f (f64.sub (local.get $f) (f64.mul (local.get $g) (local.get $q))))
      (local.set $f (f64.mul (f64.mul (local.get $f) (local.get $f)) (local.get $q)))
      (local.set $f (f64.mul (local.get $g) (f64.add (local.get $f) (local.get $h))))
      (local.set $g (f64.add (f64.sub (local.get $g) (local.get $f)) (local.get $h)))
      (local.set $g (f64.mul (f64.sub (local.get $g) (local.get $f)) (local.get $h)))
      (local.set $g (f64.add (f64.mul (local.get $g) (local.get $h)) (f64.load (i32.const 256))))
      (f64.store (i32.const 272) (f64.add (local.get $f) (local.get $g)))
      (f64.store (i32.const 280) (f64.sub (local.get $f) (local.get $g)))
      (local.set $p (i32.add (local.get $i) (i32.const 1)))
      (local.set $f (f64.add (local.get $f) (f64.load (i32.const 272))))
      (local.set $f (f64.sub (local.get $f) (f64.load (i32.const 280))))
      (local.set $y (i32.xor (local.get $y)
        (i32.wrap_i64 (i64.xor (i64.reinterpret_f64 (local.get $f))
                               (i64.rotl (i64.reinterpret_f64 (local.get $g)) (i64.const 29))))))
      ;; Loads at a constant distance from a computed address, into a select and a sum.
      (local.set $y (select (local.get $y) (local.get $x)
        (i32.load8_u (i32.add (local.get $i) (i32.const 200)))))
      (local.set $y (i32.add (local.get $y)
        (i32.load (i32.add (i32.and (local.get $x) (i32.const 60)) (i32.const 64)))))
      ;; Sums stored: as the value, and as the address.
      (i32.store offset=512 (i32.and (local.get $i) (i32.const 60))
        (i32.add (local.get $x) (i32.const 0x1234)))
      (i32.store offset=576 (i32.and (local.get $i) (i32.const 60))
        (i32.sub (local.get $y) (i32.const 99)))
      (i32.store (i32.add (i32.and (local.get $x) (i32.const 60)) (i32.const 640)) (local.get $y))
      (i32.store (i32.sub (i32.and (local.get $y) (i32.const 60)) (i32.const -704)) (local.get $x))
      (local.set $y (i32.add (local.get $y)
        (i32.xor (i32.load offset=512 (i32.and (local.get $x) (i32.const 60)))
                 (i32.load offset=576 (i32.and (local.get $y) (i32.const 60))))))
      (local.set $y (i32.sub (local.get $y)
        (i32.add (i32.load offset=640 (i32.and (local.get $i) (i32.const 60)))
                 (i32.load offset=704 (i32.and (local.get $x) (i32.const 60))))))
      ;; A byte store, then the pointer moves on.
      (i32.store8 offset=2048 (local.get $p) (local.get $x))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (local.set $y (i32.add (local.get $y) (local.get $p)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (i32.add (i32.add (local.get $x) (local.get $y))
             (i32.add (i32.trunc_sat_f64_s (local.get $f)) (i32.trunc_sat_f64_s (local.get $g)))))

  ;; Pairs ending in control flow: a load into every compare-and-branch and into `br_if`,
  ;; a decrement into a compare-and-branch against a constant and into a call, comparisons
  ;; and loads into `select`, copies around loads, stores and returns.
  (func $dec (param $v i32) (result i32)
    (local $r i32)
    (local.set $r (i32.mul (local.get $v) (i32.const 3)))
    (local.get $r))
  (func (export "control") (param $x i32) (param $y i32) (result i32)
    (local $m i32) (local $a i32) (local $b i32)
    (i32.store (i32.const 0) (local.get $x))
    (i32.store (i32.const 4) (local.get $y))
    (local.set $a (i32.and (local.get $x) (i32.const 7)))
    (local.set $b (i32.and (local.get $y) (i32.const 3)))
    (block $b (br_if $b (i32.eq (i32.load (i32.const 0)) (local.get $y)))
      (local.set $m (i32.or (local.get $m) (i32.const 1))))
    (block $b (br_if $b (i32.ne (i32.load (i32.const 0)) (local.get $y)))
      (local.set $m (i32.or (local.get $m) (i32.const 2))))
    (block $b (br_if $b (i32.lt_s (i32.load (i32.const 0)) (local.get $y)))
      (local.set $m (i32.or (local.get $m) (i32.const 4))))
    (block $b (br_if $b (i32.lt_u (i32.load (i32.const 0)) (local.get $y)))
      (local.set $m (i32.or (local.get $m) (i32.const 8))))
    (block $b (br_if $b (i32.gt_s (i32.load (i32.const 0)) (local.get $y)))
      (local.set $m (i32.or (local.get $m) (i32.const 16))))
    (block $b (br_if $b (i32.gt_u (i32.load (i32.const 0)) (local.get $y)))
      (local.set $m (i32.or (local.get $m) (i32.const 32))))
    (block $b (br_if $b (i32.le_s (i32.load (i32.const 0)) (local.get $y)))
      (local.set $m (i32.or (local.get $m) (i32.const 64))))
    (block $b (br_if $b (i32.le_u (i32.load (i32.const 0)) (local.get $y)))
      (local.set $m (i32.or (local.get $m) (i32.const 128))))
    (block $b (br_if $b (i32.ge_s (i32.load (i32.const 0)) (local.get $y)))
      (local.set $m (i32.or (local.get $m) (i32.const 256))))
    (block $b (br_if $b (i32.ge_u (i32.load (i32.const 0)) (local.get $y)))
      (local.set $m (i32.or (local.get $m) (i32.const 512))))
    (block $b (br_if $b (i32.eq (i32.sub (local.get $x) (i32.const 3)) (i32.const -2)))
      (local.set $m (i32.or (local.get $m) (i32.const 1024))))
    (block $b (br_if $b (i32.ne (i32.sub (local.get $x) (i32.const 3)) (i32.const -2)))
      (local.set $m (i32.or (local.get $m) (i32.const 2048))))
    (block $b (br_if $b (i32.lt_s (i32.sub (local.get $x) (i32.const 3)) (i32.const -2)))
      (local.set $m (i32.or (local.get $m) (i32.const 4096))))
    (block $b (br_if $b (i32.lt_u (i32.sub (local.get $x) (i32.const 3)) (i32.const -2)))
      (local.set $m (i32.or (local.get $m) (i32.const 8192))))
    (block $b (br_if $b (i32.gt_s (i32.sub (local.get $x) (i32.const 3)) (i32.const -2)))
      (local.set $m (i32.or (local.get $m) (i32.const 16384))))
    (block $b (br_if $b (i32.gt_u (i32.sub (local.get $x) (i32.const 3)) (i32.const -2)))
      (local.set $m (i32.or (local.get $m) (i32.const 32768))))
    (block $b (br_if $b (i32.le_s (i32.sub (local.get $x) (i32.const 3)) (i32.const -2)))
      (local.set $m (i32.or (local.get $m) (i32.const 65536))))
    (block $b (br_if $b (i32.le_u (i32.sub (local.get $x) (i32.const 3)) (i32.const -2)))
      (local.set $m (i32.or (local.get $m) (i32.const 131072))))
    (block $b (br_if $b (i32.ge_s (i32.sub (local.get $x) (i32.const 3)) (i32.const -2)))
      (local.set $m (i32.or (local.get $m) (i32.const 262144))))
    (block $b (br_if $b (i32.ge_u (i32.sub (local.get $x) (i32.const 3)) (i32.const -2)))
      (local.set $m (i32.or (local.get $m) (i32.const 524288))))
    (block $b (br_if $b (i32.load (i32.const 0)))
      (local.set $m (i32.or (local.get $m) (i32.const 0x100000))))
    (block $b (br_if $b (i32.eqz (i32.load (i32.const 4))))
      (local.set $m (i32.or (local.get $m) (i32.const 0x200000))))
    (block $b (br_if $b (i32.load8_u (i32.add (local.get $a) (local.get $b))))
      (local.set $m (i32.or (local.get $m) (i32.const 0x400000))))
    (block $b (br_if $b (i32.load (i32.add (local.get $b) (local.get $a))))
      (local.set $m (i32.or (local.get $m) (i32.const 0x800000))))
    (local.set $m (i32.add (local.get $m)
      (select (i32.const 0x1000000) (i32.const 0x2000000) (i32.lt_u (local.get $x) (local.get $y)))))
    (local.set $m (i32.add (local.get $m)
      (select (local.get $x) (local.get $y) (i32.load8_u (i32.add (local.get $b) (local.get $a))))))
    ;; A select whose result replaces one of its own operands (computed into the local).
    (local.set $a (i32.xor (local.get $x) (i32.const 0x55)))
    (local.set $b (i32.sub (local.get $y) (i32.const 3)))
    (local.set $a (select (local.get $b) (local.get $a) (i32.lt_s (local.get $a) (local.get $b))))
    (local.set $b (select (local.get $b) (local.get $a) (i32.gt_u (local.get $b) (local.get $a))))
    (local.set $m (i32.add (local.get $m) (i32.mul (local.get $a) (local.get $b))))
    (local.set $a (local.tee $b (i32.add (local.get $x) (local.get $m))))
    (i32.store (i32.const 8) (local.get $a))
    (local.set $a (local.get $y))
    (local.set $b (local.get $x))
    (local.set $m (i32.add (local.get $m) (i32.mul (local.get $a) (local.get $b))))
    (local.set $b (i32.and (local.get $x) (i32.const 4)))
    (local.set $a (local.get $b))
    (local.set $m (i32.add (local.get $m) (i32.load (local.get $a))))
    (local.set $m (i32.xor (local.get $m) (call $dec (i32.sub (local.get $y) (i32.const 1)))))
    (local.set $a (local.get $m))
    (local.get $a))
  ;; Results computed right before the return, and arguments copied right before a call.
  ;; A frame whose header is in the first 32 slots returns alone (its slot is the return
  ;; handler's constant); the `_big` functions have 40 more locals, so their returns pair.
  (type $bin (func (param i32 i32) (result i32)))
  (table $fns 16 funcref)
  (elem (table $fns) (i32.const 0) func $add $sub $mul $xor $add_k $mul_k $load
    $add_big $sub_big $mul_big $xor_big $add_k_big $mul_k_big $load_big)
  (func $add (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func $sub (param i32 i32) (result i32) (i32.sub (local.get 0) (local.get 1)))
  (func $mul (param i32 i32) (result i32) (i32.mul (local.get 0) (local.get 1)))
  (func $xor (param i32 i32) (result i32) (i32.xor (local.get 0) (local.get 1)))
  (func $add_k (param i32 i32) (result i32) (i32.add (local.get 1) (i32.const 7)))
  (func $mul_k (param i32 i32) (result i32) (i32.mul (local.get 1) (i32.const 9)))
  (func $load (param i32 i32) (result i32) (i32.load (i32.and (local.get 1) (i32.const 0xfc))))
  (func $add_big (param i32 i32) (result i32) (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64) (i32.add (local.get 0) (local.get 1)))
  (func $sub_big (param i32 i32) (result i32) (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64) (i32.sub (local.get 0) (local.get 1)))
  (func $mul_big (param i32 i32) (result i32) (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64) (i32.mul (local.get 0) (local.get 1)))
  (func $xor_big (param i32 i32) (result i32) (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64) (i32.xor (local.get 0) (local.get 1)))
  (func $add_k_big (param i32 i32) (result i32) (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64) (i32.add (local.get 1) (i32.const 7)))
  (func $mul_k_big (param i32 i32) (result i32) (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64) (i32.mul (local.get 1) (i32.const 9)))
  (func $load_big (param i32 i32) (result i32) (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)
    (i32.load (i32.and (local.get 1) (i32.const 0xfc))))
  (func (export "calls") (param $x i32) (param $y i32) (result i32)
    (local $m i32) (local $k i32)
    (i32.store (i32.const 16) (local.get $y))
    (loop $l
      (local.set $m (i32.add (i32.mul (local.get $m) (i32.const 31))
        (call_indirect $fns (type $bin) (local.get $x) (local.get $y) (local.get $k))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 14))))
    (i32.add (local.get $m) (call $xor (local.get $y) (local.get $x))))
  ;; f64 comparisons into branches on either outcome, against a local and a constant, NaN
  ;; included; f64 loads, stores and arithmetic around address arithmetic.
  (func (export "floats") (param $x i32) (param $y i32) (result i32)
    (local $m i32) (local $p i32) (local $q i32) (local $r i32)
    (local $f f64) (local $g f64) (local $a f64) (local $b f64)
    (local.set $f (f64.mul (f64.convert_i32_s (local.get $x)) (f64.const 0.25)))
    (local.set $g (f64.mul (f64.convert_i32_s (local.get $y)) (f64.const 0.25)))
    (if (i32.eq (local.get $x) (i32.const 7)) (then (local.set $f (f64.div (f64.const 0) (f64.const 0)))))
    (block $b (br_if $b (f64.lt (local.get $f) (local.get $g)))
      (local.set $m (i32.or (local.get $m) (i32.const 1))))
    (block $b (br_if $b (i32.eqz (f64.lt (local.get $f) (local.get $g))))
      (local.set $m (i32.or (local.get $m) (i32.const 2))))
    (block $b (br_if $b (f64.lt (local.get $f) (f64.const 0.5)))
      (local.set $m (i32.or (local.get $m) (i32.const 4))))
    (block $b (br_if $b (i32.eqz (f64.lt (local.get $f) (f64.const 0.5))))
      (local.set $m (i32.or (local.get $m) (i32.const 8))))
    (block $b (br_if $b (f64.gt (local.get $f) (local.get $g)))
      (local.set $m (i32.or (local.get $m) (i32.const 16))))
    (block $b (br_if $b (i32.eqz (f64.gt (local.get $f) (local.get $g))))
      (local.set $m (i32.or (local.get $m) (i32.const 32))))
    (block $b (br_if $b (f64.gt (local.get $f) (f64.const 0.5)))
      (local.set $m (i32.or (local.get $m) (i32.const 64))))
    (block $b (br_if $b (i32.eqz (f64.gt (local.get $f) (f64.const 0.5))))
      (local.set $m (i32.or (local.get $m) (i32.const 128))))
    (block $b (br_if $b (f64.le (local.get $f) (local.get $g)))
      (local.set $m (i32.or (local.get $m) (i32.const 256))))
    (block $b (br_if $b (i32.eqz (f64.le (local.get $f) (local.get $g))))
      (local.set $m (i32.or (local.get $m) (i32.const 512))))
    (block $b (br_if $b (f64.le (local.get $f) (f64.const 0.5)))
      (local.set $m (i32.or (local.get $m) (i32.const 1024))))
    (block $b (br_if $b (i32.eqz (f64.le (local.get $f) (f64.const 0.5))))
      (local.set $m (i32.or (local.get $m) (i32.const 2048))))
    (block $b (br_if $b (f64.ge (local.get $f) (local.get $g)))
      (local.set $m (i32.or (local.get $m) (i32.const 4096))))
    (block $b (br_if $b (i32.eqz (f64.ge (local.get $f) (local.get $g))))
      (local.set $m (i32.or (local.get $m) (i32.const 8192))))
    (block $b (br_if $b (f64.ge (local.get $f) (f64.const 0.5)))
      (local.set $m (i32.or (local.get $m) (i32.const 16384))))
    (block $b (br_if $b (i32.eqz (f64.ge (local.get $f) (f64.const 0.5))))
      (local.set $m (i32.or (local.get $m) (i32.const 32768))))
    (local.set $p (i32.const 96))
    (f64.store (i32.const 64) (local.get $f))
    (local.set $p (i32.sub (local.get $p) (i32.const 8)))
    (f64.store (i32.const 80) (local.get $g))
    (local.set $a (f64.load (i32.sub (local.get $p) (i32.const 8))))
    (local.set $a (f64.add (local.get $a) (f64.mul (f64.load (i32.const 64)) (f64.const 1.5))))
    (local.set $a (f64.add (f64.mul (local.get $a) (f64.const 2)) (local.get $g)))
    (local.set $a (f64.sqrt (f64.add (f64.abs (local.get $a)) (local.get $g))))
    (local.set $a (f64.div (local.get $g) (f64.mul (local.get $a) (local.get $f))))
    (local.set $b (local.tee $a (f64.add (local.get $a) (local.get $g))))
    (local.set $p (i32.const 64))
    (local.set $q (i32.and (local.get $y) (i32.const 16)))
    (local.set $r (i32.and (local.get $m) (i32.const 8)))
    (local.set $b (f64.add (local.get $b)
      (f64.sub (f64.load (i32.add (local.get $p) (local.get $q)))
               (f64.load (i32.add (local.get $p) (local.get $r))))))
    (i32.xor (local.get $m)
      (i32.wrap_i64 (i64.xor (i64.reinterpret_f64 (local.get $a))
                             (i64.rotl (i64.reinterpret_f64 (local.get $b)) (i64.const 17))))))
  ;; Switches whose index is computed right before their br_table.
  (func (export "switches") (param $x i32) (param $y i32) (result i32)
    (local $m i32)
    (block $d (block $c (block $b (block $a
      (br_table $a $b $c $d (i32.and (local.get $x) (i32.const 3))))
      (local.set $m (i32.const 1)))
      (local.set $m (i32.add (local.get $m) (i32.const 10))))
      (local.set $m (i32.add (local.get $m) (i32.const 100))))
    (block $d (block $c (block $b (block $a
      (br_table $a $b $c $d (i32.shr_u (local.get $y) (i32.const 29))))
      (local.set $m (i32.add (local.get $m) (i32.const 1000))))
      (local.set $m (i32.add (local.get $m) (i32.const 10000))))
      (local.set $m (i32.add (local.get $m) (i32.const 100000))))
    (block $d (block $c (block $b (block $a
      (br_table $a $b $c $d (i32.sub (local.get $x) (i32.const 2))))
      (local.set $m (i32.mul (local.get $m) (i32.const 3))))
      (local.set $m (i32.mul (local.get $m) (i32.const 5))))
      (local.set $m (i32.mul (local.get $m) (i32.const 7))))
    (local.get $m))
  ;; The second instruction of a pair leaves the memory when `$k` is large: a load from a
  ;; scaled index, and a load through a loaded pointer.
  (func (export "index") (param $k i32) (result i32)
    (i32.load (i32.add (i32.const 0) (i32.shl (local.get $k) (i32.const 2)))))
  (func (export "chase") (param $k i32) (result i32)
    (i32.store (i32.const 0) (local.get $k))
    (i32.load (i32.load (i32.const 0)))))
"#;

#[test]
fn superinstructions_match_every_tier() {
    let expected: i32 = run_on_small_stack(Strategy::Optimizing, PAIRS.into(), "pairs", 5000);
    let got: i32 = run_on_small_stack(Strategy::Interpreter, PAIRS.into(), "pairs", 5000);
    assert_eq!(got, expected);
    let edges = [
        0,
        1,
        2,
        3,
        -1,
        -2,
        5,
        i32::MIN,
        i32::MIN + 1,
        i32::MAX,
        0x1234,
    ];
    let control = |strategy: Strategy, name: &str| -> Vec<i32> {
        let (mut store, instance) = instantiate(strategy, PAIRS);
        let f = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, name)
            .unwrap();
        let mut out = Vec::new();
        for x in edges {
            for y in edges {
                out.push(f.call(&mut store, (x, y)).unwrap());
            }
        }
        out
    };
    let expected = control(Strategy::Optimizing, "control");
    assert!(expected.iter().any(|m| m & 0x3ff != 0) && expected.iter().any(|m| m & 0xffc00 != 0));
    assert_eq!(control(Strategy::Interpreter, "control"), expected);
    let expected = control(Strategy::Optimizing, "calls");
    assert_eq!(control(Strategy::Interpreter, "calls"), expected);
    let expected = control(Strategy::Optimizing, "switches");
    assert!(expected.iter().any(|&m| m != expected[0]));
    assert_eq!(control(Strategy::Interpreter, "switches"), expected);
    let expected = control(Strategy::Optimizing, "floats");
    assert!(expected.iter().any(|m| m & 0xffff != expected[0] & 0xffff));
    assert_eq!(control(Strategy::Interpreter, "floats"), expected);
    for strategy in [Strategy::Interpreter, Strategy::Optimizing] {
        let (mut store, instance) = instantiate(strategy, PAIRS);
        for (name, outside) in [("index", [0x4000, -4]), ("chase", [0xfffd, -4])] {
            let f = instance
                .get_typed_func::<i32, i32>(&mut store, name)
                .unwrap();
            assert_eq!(f.call(&mut store, 0).unwrap(), 0, "{strategy:?} {name}");
            for k in outside {
                let trap = f.call(&mut store, k).unwrap_err();
                assert_eq!(
                    trap.downcast_ref::<Trap>(),
                    Some(&Trap::MemoryOutOfBounds),
                    "{strategy:?} {name} {k}"
                );
            }
        }
    }
}

/// Indexed accesses whose second addend is an index shifted left by the log2 of the access
/// width (`a[i]`): the interpreter fuses the shift into the access. The index may wrap when
/// shifted, sit on either side of the sum, or be shifted by another amount (not fused), and
/// a label between the shift and the sum (a loop's, a block's end) joins a branch that
/// brings an unshifted second addend (not fused either).
const SCALED_INDICES: &str = r#"
(module
  (memory 1)
  (func $init
    (local $i i32)
    (loop $l
      (i32.store8 (local.get $i) (i32.add (i32.mul (local.get $i) (i32.const 31)) (i32.const 7)))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 4096)))))
  (start $init)
  (func (export "i32") (param $b i32) (param $i i32) (result i32)
    (i32.load offset=4 (i32.add (local.get $b) (i32.shl (local.get $i) (i32.const 2)))))
  (func (export "i32_swapped") (param $b i32) (param $i i32) (result i32)
    (i32.load (i32.add (i32.shl (local.get $i) (i32.const 2)) (local.get $b))))
  (func (export "i32_by_8") (param $b i32) (param $i i32) (result i32)
    (i32.load (i32.add (local.get $b) (i32.shl (local.get $i) (i32.const 3)))))
  (func (export "u16") (param $b i32) (param $i i32) (result i32)
    (i32.load16_u (i32.add (local.get $b) (i32.shl (local.get $i) (i32.const 1)))))
  (func (export "i64") (param $b i32) (param $i i32) (result i32)
    (i32.wrap_i64 (i64.rotl (i64.load (i32.add (local.get $b) (i32.shl (local.get $i) (i32.const 3))))
                            (i64.const 17))))
  (func (export "f64") (param $b i32) (param $i i32) (result i32)
    (i32.wrap_i64 (i64.reinterpret_f64
      (f64.add (f64.load (i32.add (local.get $b) (i32.shl (local.get $i) (i32.const 3))))
               (f64.const 1)))))
  (func (export "f32") (param $b i32) (param $i i32) (result i32)
    (i32.reinterpret_f32 (f32.load (i32.add (local.get $b) (i32.shl (local.get $i) (i32.const 2))))))
  (func (export "store") (param $b i32) (param $i i32) (result i32)
    (i32.store (i32.add (local.get $b) (i32.shl (local.get $i) (i32.const 2))) (i32.const 0x5a5a5a5a))
    (i64.store (i32.add (local.get $b) (i32.shl (local.get $i) (i32.const 3))) (i64.const -3))
    (f64.store offset=8 (i32.add (i32.shl (local.get $i) (i32.const 3)) (local.get $b)) (f64.const 2.5))
    (i32.add (i32.load (local.get $b)) (i32.load offset=8 (local.get $b))))
  (func (export "joined") (param $b i32) (param $i i32) (result i32)
    (local $n i32) (local $acc i32)
    (local.get $b)
    (i32.shl (local.get $i) (i32.const 2))
    (loop $l (param i32 i32) (result i32)
      i32.add
      i32.load
      local.get $acc
      i32.add
      local.set $acc
      (if (i32.lt_u (local.tee $n (i32.add (local.get $n) (i32.const 1))) (i32.const 3))
        (then (local.get $b) (i32.const 8) (br $l)))
      (local.get $acc)))
  ;; Scaled accesses next to the instructions the pair table runs with them.
  (func (export "pairs") (param $b i32) (param $i i32) (result i32)
    (local $x i32) (local $y i32) (local $f f64)
    (local.set $x (i32.shr_u (i32.load (i32.add (local.get $b) (i32.shl (local.get $i) (i32.const 2))))
                             (i32.const 3)))
    (local.set $x (i32.and (local.get $x) (i32.const 255)))
    (local.set $y (i32.add (i32.load (i32.add (local.get $b) (i32.shl (local.get $i) (i32.const 2))))
                           (i32.load (i32.add (local.get $b) (i32.shl (local.get $x) (i32.const 2))))))
    (local.set $y (i32.add (local.get $y)
                           (i32.load (i32.add (local.get $b) (i32.shl (local.get $x) (i32.const 2))))))
    (local.set $y (i32.sub (local.get $y)
                           (i32.load (i32.add (local.get $b) (i32.shl (local.get $x) (i32.const 2))))))
    (local.set $y (i32.sub (i32.load (i32.add (local.get $b) (i32.shl (local.get $x) (i32.const 2))))
                           (local.get $y)))
    (local.set $x (i32.add (local.get $x) (local.get $y)))
    (i32.store (i32.add (local.get $b) (i32.shl (local.get $i) (i32.const 2))) (local.get $x))
    (local.set $x (i32.sub (local.get $x) (i32.const 99)))
    (i32.store (i32.add (local.get $b) (i32.shl (local.get $i) (i32.const 2))) (local.get $x))
    (block $nz
      (br_if $nz (i32.load (i32.add (local.get $b) (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $y (i32.add (local.get $y) (i32.const 1000))))
    (block $lt
      (br_if $lt (i32.lt_s (i32.load (i32.add (local.get $b) (i32.shl (local.get $x) (i32.const 2))))
                           (local.get $y)))
      (local.set $y (i32.add (local.get $y) (i32.const 7))))
    (local.set $f (f64.convert_i32_s (local.get $y)))
    (local.set $f (f64.mul (f64.load (i32.add (local.get $b) (i32.shl (local.get $i) (i32.const 3))))
                           (local.get $f)))
    (local.set $f (f64.add (f64.load (i32.add (local.get $b) (i32.shl (local.get $i) (i32.const 3))))
                           (f64.load (i32.add (local.get $b) (i32.shl (local.get $x) (i32.const 3))))))
    (i32.add (local.get $y) (i32.wrap_i64 (i64.reinterpret_f64 (local.get $f)))))
  (func (export "joined_block") (param $b i32) (param $i i32) (result i32)
    (i32.load (i32.add (local.get $b)
      (block (result i32)
        (drop (br_if 0 (i32.const 8) (i32.and (local.get $i) (i32.const 1))))
        (i32.shl (local.get $i) (i32.const 2))))))
)
"#;

#[test]
fn scaled_indices_match_every_tier() {
    let pairs = [
        (0, 0),
        (100, 3),
        (0, 0x4000_0001), // shifted, wraps to 4 (by 4) or 8 (by 8)
        (16, -1),         // minus one element
        (65532, 0),       // ends at the memory's end (loads of 4 bytes)
        (65528, 1),       // past it for 8-byte accesses
        (65536 - 16, 2),  // 8-byte access ending exactly at the end
        (0, 0x3fff),      // index at the end
        (i32::MIN, i32::MIN),
    ];
    let names = [
        "i32",
        "i32_swapped",
        "i32_by_8",
        "u16",
        "i64",
        "f64",
        "f32",
        "store",
        "joined",
        "joined_block",
        "pairs",
    ];
    let outcomes = |strategy| pair_results(strategy, SCALED_INDICES, &names, &pairs);
    let expected = outcomes(Strategy::Optimizing);
    assert!(expected.contains(&Err(Trap::MemoryOutOfBounds)));
    assert!(expected.iter().filter(|r| r.is_ok()).count() > names.len() * 4);
    for strategy in [Strategy::Interpreter, Strategy::Baseline, Strategy::Tiered] {
        assert_eq!(outcomes(strategy), expected, "{strategy:?}");
    }
}
