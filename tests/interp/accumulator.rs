//! The accumulator: operands read from the register the previous instruction (or the
//! pair's arrival) left them in, and never where another way in left something else.

use super::*;

/// Instructions whose operand was computed by the instruction just before them read it from
/// a register (the interpreter's accumulator), unless a branch also reaches them: then the
/// register holds whatever the branching path computed last. Each function here has such a
/// join right after its operand's producer, reached by a branch that leaves a different
/// value in the register.
const JOINS: &str = r#"
(module
  (memory 1)
  ;; The end of a block, reached by `br_if` and by falling through from the `mul`.
  (func (export "block_end") (param $x i32) (param $c i32) (result i32)
    (local $t i32)
    (block $b
      (local.set $t (i32.const 5))
      (br_if $b (i32.and (local.get $c) (i32.const 1)))
      (local.set $t (i32.mul (local.get $x) (i32.const 3))))
    (i32.add (local.get $t) (i32.const 1)))
  ;; A loop header, reached by the back edge and by falling through from the `add`.
  (func (export "loop_header") (param $x i32) (param $c i32) (result i32)
    (local $t i32) (local $n i32)
    (local.set $t (i32.add (local.get $x) (i32.const 7)))
    (loop $l
      (local.set $n (i32.add (local.get $n) (i32.mul (local.get $t) (i32.const 2))))
      (local.set $t (i32.sub (local.get $t) (i32.const 1)))
      (br_if $l (i32.and (i32.gt_s (local.get $t) (local.get $c)) (i32.const 1))))
    (local.get $n))
  ;; A load after an `if` without `else`, whose address the `then` arm recomputes.
  (func (export "if_end") (param $x i32) (param $c i32) (result i32)
    (local $p i32)
    (i32.store (i32.const 64) (i32.const 1234))
    (i32.store (i32.const 128) (i32.const 5678))
    (local.set $p (i32.const 64))
    (if (local.get $c) (then (local.set $p (i32.add (local.get $x) (i32.const 128)))))
    (i32.load (local.get $p)))
  ;; A loop header both ways into which leave the pointer in the register: the entry, which
  ;; loads it, and the back edge, which tests the pointer it just loaded.
  (func (export "chase") (param $x i32) (param $c i32) (result i32)
    (local $p i32) (local $n i32)
    (i32.store (i32.const 200) (i32.const 204))
    (i32.store (i32.const 204) (i32.const 208))
    (i32.store (i32.const 208) (i32.const 0))
    (i32.store (i32.const 300) (i32.shl (i32.and (local.get $x) (i32.const 1)) (i32.const 2)))
    (local.set $p (i32.add (i32.load (i32.const 300)) (i32.const 200)))
    (loop $l
      (local.set $n (i32.add (local.get $n) (local.get $p)))
      (local.set $p (i32.load (local.get $p)))
      (br_if $l (local.get $p)))
    (local.get $n))
  ;; A value that reaches its use through a branch that falls through and a counter's
  ;; increment between them (both pass the value on in the register); a counter that is
  ;; the value itself, and one whose next instruction reads it (neither passes it on).
  (func (export "passing") (param $x i32) (param $c i32) (result i32)
    (local $d i32) (local $k i32) (local $s i32) (local $p i32)
    (i32.store (i32.const 0) (i32.add (local.get $x) (i32.const 40)))
    (block $b
      (local.set $k (i32.load (i32.const 0)))
      (br_if $b (i32.eq (local.get $k) (local.get $c)))
      (local.set $d (i32.add (local.get $d) (i32.const 1)))
      (local.set $s (i32.lt_u (local.get $c) (local.get $k))))
    (block $b
      (local.set $k (i32.mul (local.get $k) (i32.const 3)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $b (i32.eqz (local.get $c)))
      (local.set $s (i32.add (local.get $k) (local.get $s))))
    (local.set $s (i32.add (local.get $s) (i32.sub (local.get $k) (local.get $x))))
    (local.set $p (i32.xor (local.get $x) (i32.const 5)))
    (local.set $d (i32.sub (local.get $d) (i32.const 7)))
    (local.set $s (i32.add (local.get $s) (i32.mul (local.get $d) (local.get $p))))
    (i32.add (local.get $s) (i32.mul (local.get $d) (i32.const 1000))))
  ;; A counted loop whose back edge is fused with its increment, entered and left with the
  ;; counter in the register: the back edge leaves with the counter's old value.
  (func (export "counter") (param $x i32) (param $c i32) (result i32)
    (local $i i32) (local $s i32)
    (local.set $i (i32.and (local.get $x) (i32.const 7)))
    (loop $l
      (local.set $s (i32.add (i32.mul (local.get $i) (i32.const 3)) (local.get $s)))
      (local.set $i (i32.xor (local.get $i) (i32.const 0)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 12))))
    (i32.add (i32.mul (local.get $i) (i32.const 100)) (local.get $s)))
  ;; A select's result read right after it (as a second operand), across the `Arg` word
  ;; that follows a select, and at a loop header whose entry and back edge both come from a
  ;; select of the same local; an `f64` select into `f64` arithmetic (the value is not in
  ;; the float accumulator).
  (func (export "selects") (param $x i32) (param $c i32) (result i32)
    (local $t i32) (local $n i32) (local $f f64)
    (local.set $t (select (local.get $x) (i32.const 9) (local.get $c)))
    (local.set $n (i32.sub (i32.const 100) (local.get $t)))
    (local.set $t (select (local.get $n) (local.get $x) (i32.and (local.get $c) (i32.const 2))))
    (loop $l
      (local.set $n (i32.add (local.get $t) (local.get $n)))
      (local.set $t (select (i32.sub (local.get $t) (i32.const 3)) (i32.const 0)
                            (i32.gt_s (local.get $t) (i32.const 3))))
      (br_if $l (local.get $t)))
    (local.set $f (select (f64.convert_i32_s (local.get $x)) (f64.const 2.5) (local.get $c)))
    (local.set $f (f64.add (local.get $f) (f64.const 0.25)))
    (i32.add (local.get $n) (i32.trunc_f64_s (f64.mul (local.get $f) (f64.const 4))))))
"#;

#[test]
fn accumulated_operands_respect_joins() {
    let names = [
        "block_end",
        "loop_header",
        "if_end",
        "chase",
        "counter",
        "passing",
        "selects",
    ];
    let args = [(0, 0), (0, 1), (4, 0), (4, 1), (0, 3), (9, -2)];
    let outcomes = |strategy| pair_outcomes(strategy, JOINS, &names, &args);
    let expected = outcomes(Strategy::Optimizing);
    assert_eq!(&expected[..4], &[1, 6, 13, 6], "block_end");
    assert_eq!(outcomes(Strategy::Interpreter), expected);
}

/// A call's first result is the accumulator when the caller continues, whichever way the
/// call went: an interpreted callee whose result was in the accumulator or was not, a
/// host function, `call_indirect`, a callee already compiled (tiered, with low
/// thresholds), `f64` and multiple results, and calls without results.
const CALL_RESULTS: &str = r#"
(module
  (import "host" "triple" (func $triple (param i32) (result i32)))
  (table 3 funcref)
  (elem (i32.const 0) $sum $load $triple)
  (memory 1)
  (func $sum (param $a i32) (param $b i32) (result i32)
    (i32.add (local.get $a) (local.get $b)))
  ;; Its result was stored, not in the accumulator, when it returns.
  (func $load (param $a i32) (param $b i32) (result i32)
    (i32.store (i32.const 16) (i32.xor (local.get $a) (local.get $b)))
    (drop (i32.load (i32.const 20)))
    (i32.load (i32.const 16)))
  (func $half (param $x f64) (result f64) (f64.mul (local.get $x) (f64.const 0.5)))
  (func $pair (param $x i32) (result i32 i32)
    (i32.add (local.get $x) (i32.const 1)) (i32.sub (local.get $x) (i32.const 1)))
  (func $nothing (param $x i32) (i32.store (i32.const 32) (local.get $x)))
  (func (export "calls") (param $x i32) (param $y i32) (result i32)
    (local $s i32) (local $f f64) (local $k i32)
    (loop $l
      (local.set $s (i32.sub (local.get $s) (call $sum (local.get $x) (local.get $k))))
      (local.set $s (i32.sub (call $load (local.get $y) (local.get $k)) (local.get $s)))
      (local.set $s (i32.add (local.get $s) (call $triple (local.get $k))))
      (local.set $s (i32.sub (local.get $s)
        (call_indirect (param i32) (result i32) (local.get $s) (i32.const 2))))
      (local.set $s (i32.add (local.get $s)
        (call_indirect (param i32 i32) (result i32) (local.get $x) (local.get $s)
          (i32.and (local.get $k) (i32.const 1)))))
      (local.set $f (f64.add (call $half (f64.convert_i32_s (local.get $s))) (f64.const 1.5)))
      (local.set $s (i32.add (local.get $s) (i32.trunc_f64_s (local.get $f))))
      (local.set $s (i32.sub (local.get $s) (i32.mul (call $pair (local.get $k)))))
      (call $nothing (local.get $s))
      (local.set $s (i32.add (local.get $s) (i32.load (i32.const 32))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 40))))
    (local.get $s)))
"#;

#[test]
fn call_results_arrive_in_the_accumulator() {
    let outcomes = |engine: Engine| -> Vec<i32> {
        let module = Module::new(&engine, CALL_RESULTS).unwrap();
        let mut store = Store::new(&engine, ());
        let triple = Func::wrap(&mut store, |x: i32| x.wrapping_mul(3));
        let instance = Instance::new(&mut store, &module, &[triple.into()]).unwrap();
        let f = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, "calls")
            .unwrap();
        [(0, 0), (3, 5), (-7, 11), (i32::MAX, i32::MIN)]
            .into_iter()
            .map(|args| f.call(&mut store, args).unwrap())
            .collect()
    };
    let expected = outcomes(engine(Strategy::Optimizing));
    assert_eq!(outcomes(engine(Strategy::Interpreter)), expected);
    // Callees compiled after a few calls, the loop's function after a few iterations.
    let mut config = Config::new();
    config
        .strategy(Strategy::Tiered)
        .baseline_call_threshold(3)
        .baseline_loop_threshold(1 << 30);
    assert_eq!(outcomes(Engine::new(&config).unwrap()), expected);
}

/// A temporary that the next instruction takes from the accumulator, and that is dead after
/// it, is not written to its slot by the interpreter. Each function here keeps values on the
/// operand stack next to ones consumed at once: a block's value under a `br_if` condition
/// (copied on the branch, read after it), values across `if`/`else`, `br_table` and a call,
/// a `local.tee` while the local is still on the stack, expression trees, loads feeding
/// compare-and-branches and `select`, `f64` chains, and pairs whose first result only the
/// second reads.
const DISCARDED_RESULTS: &str = r#"
(module
  (memory 1)
  (global $g (mut i32) (i32.const 0))
  (func $id (param i32) (result i32) (local.get 0))
  (func (export "trees") (param $x i32) (param $y i32) (result i32)
    (i32.xor
      (i32.mul (i32.add (local.get $x) (i32.const 3)) (i32.sub (local.get $y) (local.get $x)))
      (i32.shr_u (i32.add (local.get $x) (local.get $y)) (i32.and (local.get $y) (i32.const 7)))))
  (func (export "br_if_value") (param $x i32) (param $y i32) (result i32)
    (i32.add
      (block (result i32)
        (i32.mul (local.get $x) (local.get $y))
        (i32.lt_s (i32.add (local.get $x) (i32.const 1)) (local.get $y))
        (br_if 0)
        (i32.const 5)
        (i32.add))
      (i32.const 1)))
  (func (export "if_values") (param $x i32) (param $y i32) (result i32)
    (i32.mul
      (i32.add (local.get $y) (i32.const 9))
      (if (result i32) (i32.and (local.get $x) (i32.const 1))
        (then (i32.add (local.get $x) (local.get $y)))
        (else (i32.sub (local.get $x) (local.get $y))))))
  (func (export "tee_aliased") (param $x i32) (param $y i32) (result i32)
    (i32.add
      (local.get $x)
      (i32.mul (local.tee $x (i32.add (local.get $x) (local.get $y))) (local.get $x))))
  (func (export "table_value") (param $x i32) (param $y i32) (result i32)
    (i32.add
      (i32.shl (local.get $y) (i32.const 2))
      (block (result i32)
        (block (result i32)
          (i32.xor (local.get $x) (local.get $y))
          (i32.and (i32.add (local.get $y) (i32.const 1)) (i32.const 3))
          (br_table 0 1 0))
        (i32.const 100)
        (i32.add))))
  (func (export "across_call") (param $x i32) (param $y i32) (result i32)
    (i32.sub
      (i32.mul (local.get $x) (local.get $y))
      (call $id (i32.add (local.get $x) (i32.const 1)))))
  (func (export "loop_mix") (param $x i32) (param $y i32) (result i32)
    (local $i i32) (local $s i32)
    (loop $l
      (i32.store (i32.shl (i32.and (local.get $i) (i32.const 15)) (i32.const 2))
                 (i32.add (i32.mul (local.get $i) (local.get $x)) (local.get $y)))
      (local.set $s (i32.add (local.get $s)
        (select
          (i32.load (i32.shl (i32.and (i32.add (local.get $i) (i32.const 3)) (i32.const 15))
                             (i32.const 2)))
          (i32.sub (local.get $s) (local.get $i))
          (i32.gt_u (i32.load (i32.const 8)) (local.get $s)))))
      (if (i32.lt_s (i32.load (i32.const 4)) (i32.xor (local.get $s) (local.get $x)))
        (then (global.set $g (i32.add (global.get $g) (i32.const 1)))))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                          (i32.const 40))))
    (i32.add (local.get $s) (global.get $g)))
  (func (export "floats") (param $x i32) (param $y i32) (result i32)
    (f64.store (i32.const 64)
      (f64.mul (f64.convert_i32_s (local.get $y)) (f64.load (i32.const 64))))
    (i32.trunc_sat_f64_s
      (f64.add (f64.mul (f64.convert_i32_s (local.get $x)) (f64.const 1.5))
               (f64.sqrt (f64.abs (f64.convert_i32_s (local.get $y))))))))
"#;

#[test]
fn discarded_results_are_read_nowhere_else() {
    let names = [
        "trees",
        "br_if_value",
        "if_values",
        "tee_aliased",
        "table_value",
        "across_call",
        "loop_mix",
        "floats",
    ];
    let args = [(0, 0), (3, 5), (5, 3), (-7, 11), (2, -1), (i32::MAX, 2)];
    let outcomes = |strategy| pair_outcomes(strategy, DISCARDED_RESULTS, &names, &args);
    let expected = outcomes(Strategy::Optimizing);
    // br_if_value(3, 5): 3 + 1 < 5, so the block's value is 15, plus 1.
    assert_eq!(expected[6 + 1], 16);
    assert_eq!(outcomes(Strategy::Interpreter), expected);
}

/// An `f64` operand computed by the instruction before it arrives in the interpreter's
/// float accumulator only when that instruction computed an `f64`; one that reinterprets
/// an integer's bits, or a copy, leaves it stale. Every function here feeds an `f64`
/// operation such a value right after it was made, next to chains the float accumulator
/// does carry.
const FLOAT_CHAINS: &str = r#"
(module
  (memory 1)
  (func (export "reinterpreted") (param $x i64) (param $y f64) (result f64)
    (f64.add (local.get $y) (f64.const 1.5))
    (f64.add (f64.reinterpret_i64 (i64.add (local.get $x) (i64.const 1)))))
  (func (export "to_bits") (param $x i64) (param $y f64) (result f64)
    (f64.convert_i64_s
      (i64.add (i64.reinterpret_f64 (f64.mul (local.get $y) (f64.const 2)))
               (local.get $x))))
  (func (export "chain") (param $x i64) (param $y f64) (result f64)
    (local $t f64)
    (f64.store (i32.const 8) (f64.mul (local.get $y) (local.get $y)))
    (local.set $t (f64.sqrt (f64.add (f64.load (i32.const 8)) (f64.const 1))))
    (f64.div (f64.sub (local.get $t) (f64.convert_i64_s (local.get $x)))
             (f64.neg (local.get $t))))
  (func (export "copied") (param $x i64) (param $y f64) (result f64)
    (local $t f64) (local $u f64)
    (local.set $t (f64.add (local.get $y) (f64.const 3)))
    (local.set $u (f64.reinterpret_i64 (local.get $x)))
    (f64.mul (local.get $u) (f64.const 0.5))))
"#;

#[test]
fn float_accumulator_carries_only_f64_results() {
    let outcomes = |strategy: Strategy| -> Vec<u64> {
        let (mut store, instance) = instantiate(strategy, FLOAT_CHAINS);
        let mut out = Vec::new();
        for name in ["reinterpreted", "to_bits", "chain", "copied"] {
            let f = instance
                .get_typed_func::<(i64, f64), f64>(&mut store, name)
                .unwrap();
            for args in [
                (0x4000_0000_0000_0000, 0.25),
                (7, -3.0),
                (0x3ff0_0000_0000_0000, 1e10),
            ] {
                out.push(f.call(&mut store, args).unwrap().to_bits());
            }
        }
        out
    };
    let expected = outcomes(Strategy::Optimizing);
    let reinterpreted = (0.25 + 1.5) + f64::from_bits(0x4000_0000_0000_0001);
    assert_eq!(f64::from_bits(expected[0]), reinterpreted);
    assert_eq!(outcomes(Strategy::Interpreter), expected);
}

/// Every entry into an interpreted function starts it with its first argument in the
/// accumulator, which its first instructions read when it is an `i32` or `i64`: a call whose
/// argument was computed just before it passes the register, any other reads the argument
/// from the callee's frame, and a call of a function whose first parameter is of another
/// type (or that has none) passes whatever the register holds. The callees read the
/// argument at once (`$inc`, `$wide`), at a loop header that is their first instruction
/// (`$countdown`), or not from the register (`$float_first`, `$none`); they are called
/// directly, through a table, recursively and from the host.
const FIRST_ARGUMENTS: &str = r#"
(module
  (type $unary (func (param i32) (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) func $inc $countdown)
  (global $g (mut i32) (i32.const 5))
  (func $inc (export "inc") (param i32) (result i32)
    (i32.add (local.get 0) (i32.const 1)))
  (func $countdown (export "countdown") (param i32) (result i32)
    (local $steps i32)
    (loop $l
      (local.set $steps (i32.add (local.get $steps) (i32.const 3)))
      (br_if $l (i32.gt_s (local.tee 0 (i32.sub (local.get 0) (i32.const 1))) (i32.const 0))))
    (i32.add (local.get $steps) (local.get 0)))
  (func $wide (param i64) (param i32) (result i32)
    (i32.wrap_i64 (i64.add (i64.mul (local.get 0) (i64.const 3)) (i64.extend_i32_s (local.get 1)))))
  (func $float_first (param f64) (param i32) (result i32)
    (i32.add (i32.trunc_sat_f64_s (local.get 0)) (local.get 1)))
  (func $none (result i32)
    (i32.add (global.get $g) (i32.const 2)))
  (func $sum_down (param i32) (result i32)
    (if (result i32) (i32.le_s (local.get 0) (i32.const 0))
      (then (i32.const 0))
      (else (i32.add (local.get 0) (call $sum_down (i32.sub (local.get 0) (i32.const 1)))))))
  (func (export "calls") (param $x i32) (param $y i32) (result i32)
    (local $s i32)
    ;; Argument computed just before the call.
    (local.set $s (call $inc (i32.mul (local.get $x) (local.get $y))))
    ;; Argument read from a local: not in the register at the call.
    (local.set $s (i32.add (local.get $s) (call $inc (local.get $y))))
    (local.set $s (i32.xor (local.get $s)
      (call $countdown (i32.and (i32.add (local.get $x) (i32.const 7)) (i32.const 15)))))
    (local.set $s (i32.add (local.get $s)
      (call $wide (i64.extend_i32_s (local.get $x)) (local.get $y))))
    ;; The register holds the last result, not the callee's argument.
    (local.set $s (i32.sub (local.get $s)
      (call $float_first (f64.convert_i32_s (local.get $y)) (i32.add (local.get $x) (i32.const 9)))))
    (global.set $g (local.get $s))
    (local.set $s (i32.add (local.get $s) (call $none)))
    ;; Through the table, the index computed last and the argument in a local.
    (local.set $s (i32.add (local.get $s)
      (call_indirect (type $unary) (local.get $y) (i32.and (local.get $x) (i32.const 1)))))
    (local.set $s (i32.add (local.get $s)
      (call_indirect (type $unary)
        (i32.and (i32.sub (local.get $x) (i32.const 2)) (i32.const 63)) (i32.const 1))))
    (i32.add (local.get $s) (call $sum_down (i32.and (local.get $y) (i32.const 31))))))
"#;

#[test]
fn first_arguments_arrive_in_the_accumulator() {
    // (A negative `y` would count down from it through the table.)
    let args = [
        (0, 0),
        (3, 5),
        (-7, 11),
        (12, 4),
        (i32::MAX, 77),
        (i32::MIN, 1),
    ];
    let outcomes = |strategy: Strategy| {
        let mut out = pair_outcomes(strategy, FIRST_ARGUMENTS, &["calls"], &args);
        // From the host: the activation's first frame.
        let (mut store, instance) = instantiate(strategy, FIRST_ARGUMENTS);
        for name in ["inc", "countdown"] {
            let f = instance
                .get_typed_func::<i32, i32>(&mut store, name)
                .unwrap();
            for x in [-3, 0, 1, 9, 40] {
                out.push(f.call(&mut store, x).unwrap());
            }
        }
        out
    };
    let expected = outcomes(Strategy::Optimizing);
    // countdown(9): 27 steps, ending at 0.
    assert_eq!(expected[args.len() + 8], 27);
    assert_eq!(outcomes(Strategy::Interpreter), expected);
    assert_eq!(outcomes(Strategy::Tiered), expected);
}

/// A value stepped from a copy of itself, the copy read next (`pc = old + 1`, then a load
/// at `old`: a bytecode interpreter's fetch): the add passes on the copy it arrived with,
/// which the load takes from the accumulator. `$fetch` walks a table of offsets that way;
/// `$unread` steps a copy that the next instruction does not read (the add keeps its own
/// result there); `$decode` takes fields out of a loaded word one after another (a shift,
/// a mask, a multiplication of it, each passing the word on to the next).
const STEPPED_COPIES: &str = r#"
(module
  (memory 1)
  (data (i32.const 0) "\04\00\00\00\0c\00\00\00\08\00\00\00\10\00\00\00\00\00\00\00")
  (func (export "fetch") (param $pc i32) (param $n i32) (result i32)
    (local $old i32) (local $s i32)
    (local.set $pc (i32.and (local.get $pc) (i32.const 12)))
    (local.set $n (i32.and (local.get $n) (i32.const 63)))
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $pc (i32.add (local.tee $old (local.get $pc)) (i32.const 4)))
        (local.set $s (i32.add (i32.load (local.get $old))
                               (i32.mul (local.get $s) (i32.const 31))))
        (local.set $pc (i32.and (i32.add (local.get $pc) (i32.load (local.get $old)))
                                (i32.const 12)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (i32.xor (local.get $s) (local.get $pc)))
  (func (export "decode") (param $x i32) (param $y i32) (result i32)
    (local $w i32) (local $a i32) (local $b i32) (local $c i32) (local $d i32) (local $e i32)
    (i32.store (i32.const 32) (i32.xor (local.get $x) (i32.shl (local.get $y) (i32.const 7))))
    (local.set $w (i32.load (i32.const 32)))
    (local.set $a (i32.shr_u (local.get $w) (i32.const 8)))
    (local.set $b (i32.and (local.get $w) (i32.const 255)))
    (local.set $c (i32.shl (local.get $w) (i32.const 3)))
    (local.set $d (i32.mul (local.get $w) (i32.const 5)))
    (local.set $e (i32.xor (local.get $w) (i32.const 1234)))
    (i32.add (i32.add (i32.add (local.get $a) (i32.mul (local.get $b) (i32.const 3)))
                      (i32.xor (local.get $c) (local.get $d)))
             (i32.or (local.get $e) (local.get $w))))
  (func (export "unread") (param $x i32) (param $y i32) (result i32)
    (local $old i32)
    (local.set $x (i32.sub (local.tee $old (local.get $x)) (i32.const 7)))
    (i32.add (i32.mul (local.get $x) (local.get $y)) (local.get $old))))
"#;

#[test]
fn stepped_copies_pass_the_copy_on() {
    let names = ["fetch", "decode", "unread"];
    let args = [
        (0, 0),
        (4, 9),
        (8, 63),
        (12, 17),
        (-1, 100),
        (i32::MAX, i32::MIN),
    ];
    let expected = pair_outcomes(Strategy::Optimizing, STEPPED_COPIES, &names, &args);
    assert_eq!(
        pair_outcomes(Strategy::Interpreter, STEPPED_COPIES, &names, &args),
        expected
    );
}

/// Pairs whose second reads the value the pair arrived with in the accumulator (`x ^= x <<
/// 13`: the shift arrives with `x`, and the `xor` takes it from there again), where the
/// first writes that slot itself (then the second must read the first's result), where
/// both operands are the arrived value, and where the arrival comes over a loop's back
/// edge.
const ARRIVALS: &str = r#"
(module
  (func (export "xorshift") (param $x i32) (param $n i32) (result i32)
    (local $sum i32)
    (loop $l
      (local.set $x (i32.xor (local.get $x) (i32.shl (local.get $x) (i32.const 13))))
      (local.set $x (i32.xor (local.get $x) (i32.shr_u (local.get $x) (i32.const 17))))
      (local.set $x (i32.xor (i32.shl (local.get $x) (i32.const 5)) (local.get $x)))
      (local.set $sum (i32.add (local.get $sum) (i32.shr_u (local.get $x) (i32.const 24))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n)))
    (i32.xor (local.get $x) (local.get $sum)))
  (func (export "first_writes_it") (param $x i32) (param $y i32) (result i32)
    (local.set $x (i32.add (local.get $x) (local.get $y)))
    (local.set $x (i32.shl (local.get $x) (i32.const 3)))
    (local.set $y (i32.xor (local.get $x) (local.get $y)))
    (local.set $x (i32.add (local.get $x) (i32.const 1)))
    (local.set $x (i32.shr_u (local.get $x) (i32.const 2)))
    (i32.xor (local.get $y) (local.get $x)))
  (func (export "both_operands") (param $x i32) (param $y i32) (result i32)
    (local $t i32) (local $z i32)
    (local.set $x (i32.mul (local.get $x) (local.get $y)))
    (local.set $t (i32.shl (local.get $y) (i32.const 2)))
    (local.set $z (i32.xor (local.get $x) (local.get $x)))
    (local.set $x (i32.sub (local.get $x) (local.get $y)))
    (local.set $t (i32.shr_u (local.get $t) (i32.const 1)))
    (local.set $z (i32.xor (local.get $z) (i32.xor (local.get $x) (local.get $t))))
    (i32.add (local.get $z) (local.get $t)))
  (func (export "other_operand") (param $x i32) (param $y i32) (result i32)
    (local.set $x (i32.add (local.get $x) (i32.const 0x9e3779b9)))
    (local.set $y (i32.xor (i32.shr_u (local.get $x) (i32.const 5)) (local.get $y)))
    (local.set $x (i32.add (local.get $x) (local.get $y)))
    (local.set $y (i32.xor (local.get $y) (i32.shl (local.get $x) (i32.const 7))))
    (i32.add (local.get $x) (local.get $y))))
"#;

#[test]
fn arrival_operands_match_every_tier() {
    let names = [
        "xorshift",
        "first_writes_it",
        "both_operands",
        "other_operand",
    ];
    let edges = [0, 1, 2, -1, 5, 0x1234, i32::MIN, i32::MAX, 0x2545f491];
    let args: Vec<(i32, i32)> = edges
        .into_iter()
        .flat_map(|x| [1, 2, 7, 100].map(|y| (x, y)))
        .collect();
    let expected = pair_outcomes(Strategy::Optimizing, ARRIVALS, &names, &args);
    assert_eq!(
        pair_outcomes(Strategy::Interpreter, ARRIVALS, &names, &args),
        expected
    );
    assert_eq!(
        pair_outcomes(Strategy::Tiered, ARRIVALS, &names, &args),
        expected
    );
}
