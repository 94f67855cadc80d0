//! Loops: counted back edges fused with their step, the back edge the executor remembers,
//! copied block tails, and counters carried in the accumulator.

use super::*;

/// Counted loops whose back edge is `i = i + step; br_if (i <cmp> bound)` (fused by the
/// interpreter into one instruction), for every comparison with `i` on either side and the
/// step and bound locals or constants, and with a branch that skips the increment and lands
/// on the compare-and-branch itself. A guard returns -1 from loops that would not end.
fn counted_loops() -> String {
    let mut funcs = String::new();
    let comparisons = [
        "eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u",
    ];
    for cmp in comparisons {
        for i_left in [true, false] {
            for (step_name, step) in [("local", "(local.get $step)"), ("const", "(i32.const 3)")] {
                for (bound_name, bound) in
                    [("local", "(local.get $bound)"), ("const", "(i32.const 40)")]
                {
                    let (l, r) = if i_left {
                        ("(local.get $i)", bound)
                    } else {
                        (bound, "(local.get $i)")
                    };
                    let side = if i_left { "left" } else { "right" };
                    funcs.push_str(&format!(
                        r#"
  (func (export "{cmp}_{side}_{step_name}_{bound_name}")
      (param $i i32) (param $step i32) (param $bound i32) (result i32)
    (local $c i32)
    (loop $l
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (if (i32.gt_u (local.get $c) (i32.const 100)) (then (return (i32.const -1))))
      (block $skip
        (br_if $skip (i32.eq (local.get $c) (i32.const 2)))
        (local.set $i (i32.add (local.get $i) {step})))
      (br_if $l (i32.{cmp} {l} {r})))
    (i32.add (i32.mul (local.get $i) (i32.const 1000)) (local.get $c)))"#
                    ));
                }
            }
        }
    }
    format!("(module {funcs})")
}

#[test]
fn fused_loop_back_edges_match_every_tier() {
    let wat = counted_loops();
    let starts: &[(i32, i32, i32)] = &[
        (0, 3, 40),
        (37, 3, 40),
        (-5, 3, 40),
        (40, 3, 40),
        (i32::MAX - 4, 3, 40),
        (-1, 1, 0),
        (100, -3, 40),
    ];
    let outcomes = |strategy: Strategy| -> Vec<i32> {
        let engine = engine(strategy);
        let module = Module::new(&engine, &wat).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let names: Vec<String> = module.exports().map(|e| e.name().to_string()).collect();
        let mut out = Vec::new();
        for name in &names {
            let f = instance
                .get_typed_func::<(i32, i32, i32), i32>(&mut store, name)
                .unwrap();
            for &args in starts {
                out.push(f.call(&mut store, args).unwrap());
            }
        }
        out
    };
    let expected = outcomes(Strategy::Optimizing);
    assert_eq!(expected.len(), 80 * starts.len());
    assert!(expected.contains(&-1) && expected.iter().any(|&r| r > 1000));
    assert_eq!(outcomes(Strategy::Interpreter), expected);
}

/// Jumps to short blocks that end in a jump, which the interpreter replaces by copies of
/// the blocks: a bytecode loop's `br_table` header (reached with a case's result in the
/// accumulator, after a call, after a store), an exit reached by `br` and by falling
/// through, and a loop whose only back edge ends the block it jumps to (not copied).
const TAILS: &str = r#"
(module
  (memory 1)
  (func $double (param i32) (result i32) (i32.add (local.get 0) (local.get 0)))
  (func (export "switch_loop") (param $n i32) (param $seed i32) (result i32)
    (local $pc i32) (local $acc i32) (local $op i32)
    (local.set $acc (local.get $seed))
    (block $exit
      (loop $next
        (br_if $exit (i32.ge_u (local.get $pc) (local.get $n)))
        (local.set $op (i32.and (i32.add (local.get $pc) (local.get $seed)) (i32.const 7)))
        (local.set $pc (i32.add (local.get $pc) (i32.const 1)))
        (block $c3 (block $c2 (block $c1 (block $c0
          (br_table $c0 $c1 $c2 $c3 $exit (i32.rem_u (local.get $op) (i32.const 5))))
          (local.set $acc (i32.add (local.get $acc) (local.get $op)))
          (br $next))
          (local.set $acc (call $double (local.get $acc)))
          (br $next))
        (local.set $seed (i32.mul (local.get $seed) (i32.const 31)))
        (local.set $acc (i32.xor (local.get $acc) (local.get $seed)))
        (br $next))
        (i32.store (i32.and (i32.shl (local.get $pc) (i32.const 2)) (i32.const 0xfc))
                   (local.get $acc))
        (local.set $acc (i32.add (local.get $acc) (i32.load (i32.const 8))))
        (br $next)))
    (i32.add (local.get $acc) (i32.mul (local.get $pc) (i32.const 1000))))
  (func (export "exits") (param $x i32) (param $y i32) (result i32)
    (local $r i32)
    (block $out
      (br_if $out (i32.lt_s (local.get $x) (i32.const 0)))
      (local.set $r (i32.mul (local.get $x) (local.get $y)))
      (if (i32.gt_s (local.get $r) (i32.const 100))
        (then (local.set $r (i32.sub (local.get $r) (i32.const 100))) (br $out))
        (else (local.set $r (i32.add (local.get $r) (i32.const 7)))))
      (local.set $r (i32.add (local.get $r) (local.get $y))))
    (i32.add (local.get $r) (i32.shl (local.get $y) (i32.const 2))))
  (func (export "counted") (param $x i32) (param $y i32) (result i32)
    (local $i i32) (local $s i32)
    (block $end
      (loop $l
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $end (i32.gt_u (local.get $i) (i32.and (local.get $y) (i32.const 63))))
        (local.set $s (i32.add (local.get $s) (i32.mul (local.get $i) (local.get $x))))
        (br $l)))
    (local.get $s)))
"#;

#[test]
fn copied_tails_match_every_tier() {
    let names = ["switch_loop", "exits", "counted"];
    let args = [(0, 0), (1, 3), (50, 7), (1000, 12345), (-5, 2), (20, -9)];
    let outcomes = |strategy| pair_outcomes(strategy, TAILS, &names, &args);
    let expected = outcomes(Strategy::Optimizing);
    // Checked by hand: one step of case 3 (acc 3, pc 1); 50 * 7 - 100 + 7 * 4.
    assert_eq!((expected[1], expected[8]), (1003, 278));
    assert_eq!(outcomes(Strategy::Interpreter), expected);
}

/// Counted loops whose header reads the counter: the fused back edge leaves the counter in
/// the accumulator, the loop is entered through a copy of it (`interp/src/loop_entry.rs`),
/// and stores pass the accumulator on, so the header and the back edge's add take the
/// counter from the register. `$strided` is a sieve's inner loop after the test that skips
/// it; `$continued` has a second way back that leaves another value (the header must read
/// the slot); `$entered` computes the counter right before the loop; `$stored_counter`
/// stores the counter itself and adds to it in the body.
const CARRIED_COUNTERS: &str = r#"
(module
  (memory 1)
  (func $strided (export "strided") (param $step i32) (param $n i32) (result i32)
    (local $m i32) (local $s i32)
    (local.set $step (i32.add (i32.and (local.get $step) (i32.const 7)) (i32.const 1)))
    (local.set $n (i32.and (local.get $n) (i32.const 1023)))
    (local.set $m (i32.mul (local.get $step) (i32.const 3)))
    (block $done
      (br_if $done (i32.le_u (local.get $n) (local.get $m)))
      (loop $l
        (i32.store8 (local.get $m) (i32.const 1))
        ;; A guard, so that a counter the register got wrong ends the loop.
        (br_if $done (i32.gt_u (local.tee $s (i32.add (local.get $s) (i32.const 1)))
                               (i32.const 2000)))
        (br_if $l (i32.lt_u (local.tee $m (i32.add (local.get $m) (local.get $step)))
                            (local.get $n)))))
    (local.set $s (i32.mul (local.get $s) (i32.const 1000)))
    (local.set $m (i32.const 0))
    (loop $sum
      (local.set $s (i32.add (local.get $s) (i32.mul (i32.load8_u (local.get $m)) (local.get $m))))
      (i32.store8 (local.get $m) (i32.const 0))
      (br_if $sum (i32.lt_u (local.tee $m (i32.add (local.get $m) (i32.const 1))) (i32.const 1024))))
    (local.get $s))
  (func (export "continued") (param $x i32) (param $n i32) (result i32)
    (local $i i32) (local $s i32)
    (local.set $n (i32.and (local.get $n) (i32.const 255)))
    (local.set $i (i32.and (local.get $x) (i32.const 3)))
    (block $done
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (loop $l
        (i32.store (i32.shl (i32.and (local.get $i) (i32.const 63)) (i32.const 2)) (local.get $s))
        (local.set $s (i32.add (local.get $s) (i32.xor (local.get $i) (local.get $x))))
        (if (i32.eqz (i32.and (local.get $s) (i32.const 3)))
          (then
            (local.set $i (i32.add (local.get $i) (i32.const 2)))
            (local.set $s (i32.add (local.get $s) (i32.const 1)))
            (br_if $l (i32.lt_u (local.get $i) (local.get $n)))
            (br $done)))
        (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n)))))
    (i32.add (local.get $s) (i32.load (i32.const 12))))
  (func (export "entered") (param $x i32) (param $n i32) (result i32)
    (local $i i32) (local $s i32)
    (local.set $n (i32.and (local.get $n) (i32.const 255)))
    (local.set $i (i32.mul (i32.and (local.get $x) (i32.const 7)) (i32.const 3)))
    (block $done
      (loop $l
        (local.set $s (i32.add (local.get $s) (i32.mul (local.get $i) (local.get $i))))
        (br_if $done (i32.gt_u (local.get $s) (i32.const 100000000)))
        (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 5))) (local.get $n)))))
    (i32.xor (local.get $s) (local.get $i)))
  (func (export "stored_counter") (param $x i32) (param $n i32) (result i32)
    (local $i i32)
    (local.set $n (i32.and (local.get $n) (i32.const 63)))
    (block $done
      (br_if $done (i32.eqz (local.get $n)))
      (loop $l
        (i32.store (i32.shl (i32.and (local.get $i) (i32.const 63)) (i32.const 2))
                   (i32.add (local.get $i) (local.get $x)))
        (i32.store offset=512 (i32.shl (i32.and (local.get $i) (i32.const 63)) (i32.const 2))
                   (local.get $i))
        (br_if $done (i32.gt_u (local.get $i) (i32.const 64)))
        (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n)))))
    (i32.add (i32.load (i32.const 8)) (i32.load offset=512 (i32.const 20)))))
"#;

#[test]
fn loop_counters_arrive_in_the_accumulator() {
    let names = ["strided", "continued", "entered", "stored_counter"];
    let args = [
        (0, 0),
        (1, 100),
        (2, 1000),
        (5, 77),
        (7, 1023),
        (-1, -1),
        (3, 9),
    ];
    let expected = pair_outcomes(Strategy::Optimizing, CARRIED_COUNTERS, &names, &args);
    assert_eq!(
        pair_outcomes(Strategy::Interpreter, CARRIED_COUNTERS, &names, &args),
        expected
    );
}

/// Counted loops whose fused back edges alternate: the interpreter remembers the last back
/// edge taken and its target, so a loop nested in another, a sibling loop, a loop in a
/// callee and the same loop one recursion deeper must each find their own target (and not
/// the remembered one of another). `$steps` bounds the iterations, so a back edge that went
/// astray traps instead of looping forever.
const ALTERNATING_LOOPS: &str = r#"
(module
  (global $steps (mut i32) (i32.const 0))
  (func $step
    (global.set $steps (i32.add (global.get $steps) (i32.const 1)))
    (if (i32.gt_u (global.get $steps) (i32.const 1000000)) (then (unreachable))))
  (func $inner (param $n i32) (param $x i32) (result i32)
    (local $j i32)
    (loop $l
      (call $step)
      (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 3)) (local.get $j)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $j) (local.get $n))))
    (local.get $x))
  (func (export "nested") (param $n i32) (result i32)
    (local $i i32) (local $j i32) (local $k i32) (local $x i32)
    (loop $outer
      (call $step)
      (local.set $j (i32.const 0))
      (loop $a
        (call $step)
        (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 5)) (local.get $j)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $a (i32.lt_u (local.get $j) (local.get $i))))
      (local.set $k (i32.const 0))
      (loop $b
        (call $step)
        (local.set $x (i32.xor (local.get $x) (i32.shl (local.get $k) (i32.const 3))))
        (local.set $k (i32.add (local.get $k) (i32.const 2)))
        (br_if $b (i32.lt_u (local.get $k) (i32.const 7))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $x))
  (func (export "calls") (param $n i32) (result i32)
    (local $i i32) (local $x i32)
    (loop $l
      (call $step)
      (local.set $x (call $inner (i32.and (local.get $i) (i32.const 3)) (local.get $x)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $x))
  (func $recursive (export "recursive") (param $n i32) (result i32)
    (local $i i32) (local $x i32)
    (if (i32.eqz (local.get $n)) (then (return (i32.const 1))))
    (loop $l
      (call $step)
      (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 7))
        (call $recursive (i32.sub (local.get $n) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 3))))
    (i32.add (local.get $x) (local.get $n))))
"#;

#[test]
fn alternating_loop_back_edges_match_every_tier() {
    let outcomes = |strategy: Strategy| {
        let (mut store, instance) = instantiate(strategy, ALTERNATING_LOOPS);
        let mut out = Vec::new();
        for name in ["nested", "calls", "recursive"] {
            let f = instance
                .get_typed_func::<i32, i32>(&mut store, name)
                .unwrap();
            for n in [1, 2, 5, 9] {
                out.push(f.call(&mut store, n).map_err(|e| e.to_string()));
            }
        }
        out
    };
    let expected = outcomes(Strategy::Optimizing);
    assert!(expected.iter().all(Result::is_ok), "{expected:?}");
    assert_eq!(outcomes(Strategy::Interpreter), expected);
    assert_eq!(outcomes(Strategy::Tiered), expected);
}
