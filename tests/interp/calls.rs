//! Calls and frames: constants read as frame slots, calls of the running function, frame
//! headers, and `call_indirect` through a table that grows or that instances of one module
//! share.

use super::*;

/// Constants the interpreter reads only as immediates (the second operand of a binary
/// instruction) have no value in the frame; every other use of the same constants (a stored
/// value, an address sum, a call argument, a select operand, a branch's value, a returned
/// value, a first operand) reads the frame, so those must be there.
const CONSTANT_USES: &str = r#"
(module
  (memory 1)
  (func $pass (param i32) (result i32) (local.get 0))
  (func (export "uses") (param $x i32) (result i32)
    (local $s i32)
    (local.set $s (i32.add (local.get $x) (i32.const 1000)))
    (local.set $s (i32.mul (local.get $s) (i32.const 77)))
    (i32.store (i32.const 64) (i32.const 77))
    (local.set $s (i32.add (local.get $s) (i32.load (i32.const 64))))
    (local.set $s (i32.add (local.get $s) (i32.load (i32.add (local.get $x) (i32.const 1000)))))
    (local.set $s (i32.add (local.get $s) (call $pass (i32.const 1000))))
    (local.set $s (i32.add (local.get $s)
      (select (i32.const 77) (local.get $x) (i32.and (local.get $x) (i32.const 1)))))
    (local.set $s (i32.add (local.get $s) (i32.sub (i32.const 5000) (local.get $x))))
    (local.set $s (i32.add (local.get $s)
      (block (result i32) (br_if 0 (i32.const 1000) (local.get $x)) (drop) (i32.const 77))))
    (if (i32.eqz (local.get $x)) (then (return (i32.const 5000))))
    ;; The last constant of the function, read only by an address sum.
    (i32.store offset=2024 (local.get $x) (i32.mul (local.get $s) (i32.const 3)))
    (i32.add (local.get $s) (i32.load (i32.add (local.get $x) (i32.const 2024)))))
  ;; No parameters or locals: the constants' slots start at 0, where results go. The
  ;; returned 7 is the first constant; only the 5 is read by an instruction.
  (global $g (mut i32) (i32.const 100))
  (func (export "returned_first") (result i32)
    (i32.const 7)
    (global.set $g (i32.sub (i32.const 5) (global.get $g))))
  ;; The 3 is only an immediate, so it leaves slot 0, where the 7 is written.
  (func (export "returned_last") (result i32)
    (drop (i32.add (global.get $g) (i32.const 3)))
    (global.set $g (i32.sub (i32.const 5) (global.get $g)))
    (i32.const 7))
  (func (export "results") (result i32 i32 i32)
    (i32.const 7)
    (i32.sub (i32.const 5) (global.get $g))
    (i32.add (global.get $g) (i32.const 9))))
"#;

#[test]
fn constants_read_as_slots_are_in_the_frame() {
    let outcomes = |strategy: Strategy| -> Vec<i32> {
        let (mut store, instance) = instantiate(strategy, CONSTANT_USES);
        let f = instance
            .get_typed_func::<i32, i32>(&mut store, "uses")
            .unwrap();
        let returned = |store: &mut Store<()>, name| {
            let f = instance.get_typed_func::<(), i32>(&mut *store, name);
            f.unwrap().call(store, ()).unwrap()
        };
        let results = instance
            .get_typed_func::<(), (i32, i32, i32)>(&mut store, "results")
            .unwrap();
        let mut outcomes: Vec<i32> = [0, 1, 2, 3, 100]
            .into_iter()
            .map(|x| f.call(&mut store, x).unwrap())
            .collect();
        outcomes.push(returned(&mut store, "returned_first"));
        outcomes.push(returned(&mut store, "returned_last"));
        let (a, b, c) = results.call(&mut store, ()).unwrap();
        outcomes.extend([a, b, c]);
        outcomes
    };
    let expected = outcomes(Strategy::Optimizing);
    assert_eq!(expected[0], 5000);
    assert_eq!(expected[5..], [7, 7, 7, -95, 109]);
    assert_eq!(outcomes(Strategy::Interpreter), expected);
}

/// Calls of a function to itself, which the interpreter makes without looking the callee
/// up: after a counter's decrement and after a copy (the pairs), with more entry values
/// than the call fast path takes, and alternating with a call through another function
/// (whose return must leave the running function right for the next self-call).
const SELF_CALLS: &str = r#"
(module
  (func $fib (export "fib") (param $n i32) (param $unused i32) (result i32)
    (if (result i32) (i32.lt_s (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)) (local.get $unused))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)) (local.get $n))))))
  (func $many (export "many") (param $n i32) (param $x i32) (result i32)
    (local $a i32) (local $b i32) (local $c i32) (local $d i32) (local $e i32) (local $f i32)
    (local $g i32) (local $h i32) (local $i i32) (local $j i32) (local $k i32) (local $l i32)
    (local $m i32) (local $o i32) (local $p i32) (local $q i32) (local $r i32) (local $s i32)
    (local.set $a (i32.add (local.get $a) (local.get $x)))
    (local.set $s (i32.mul (local.get $s) (i32.const 3)))
    (if (result i32) (i32.le_s (local.get $n) (i32.const 0))
      (then (i32.add (local.get $a) (local.get $s)))
      (else (i32.add (local.get $a)
                     (call $many (i32.sub (local.get $n) (i32.const 1))
                                 (i32.add (local.get $x) (i32.const 7)))))))
  (func $other (param $n i32) (param $x i32) (result i32)
    (i32.xor (call $alternate (local.get $n) (local.get $x)) (i32.const 0x55)))
  (func $alternate (export "alternate") (param $n i32) (param $x i32) (result i32)
    (local $y i32)
    (if (result i32) (i32.le_s (local.get $n) (i32.const 0))
      (then (local.get $x))
      (else
        (local.set $y (i32.sub (local.get $n) (i32.const 1)))
        (i32.add
          (call $alternate (local.get $y) (i32.shl (local.get $x) (i32.const 1)))
          (call $other (i32.sub (local.get $y) (i32.const 1)) (local.get $x)))))))
"#;

#[test]
fn self_calls_match_every_tier() {
    let names = ["fib", "many", "alternate"];
    let args = [(0, 0), (1, 5), (2, -3), (10, 1), (15, 9), (-1, 4)];
    let expected = pair_outcomes(Strategy::Optimizing, SELF_CALLS, &names, &args);
    // fib(10) and fib(15).
    assert_eq!(&expected[3..5], &[55, 610]);
    assert_eq!(
        pair_outcomes(Strategy::Interpreter, SELF_CALLS, &names, &args),
        expected
    );
    // Tiered: budgets are spent on every call, never running out.
    assert_eq!(
        pair_outcomes(Strategy::Tiered, SELF_CALLS, &names, &args),
        expected
    );
}

/// Every frame records its caller in header slots of its own (after its entry values,
/// below its temporaries): `$four` has no parameters, locals or constants, so only its
/// four results count where its header goes, and a return writes them before it reads
/// the header. (tests/traps.rs follows the headers of a trapped activation.)
const FRAME_HEADERS: &str = r#"
(module
  (global $g (mut i32) (i32.const 7))
  (func $four (result i32 i32 i32 i32)
    global.get $g
    global.get $g
    global.get $g
    global.get $g)
  (func (export "results") (param $n i32) (param $x i32) (result i32)
    (local $acc i32)
    (global.set $g (local.get $x))
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (call $four)
        i32.add
        i32.add
        i32.add
        (local.set $acc (i32.add (local.get $acc)))
        (global.set $g (i32.add (global.get $g) (i32.const 3)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $acc)))
"#;

#[test]
fn frame_headers_survive_results() {
    let args = [(0, 1), (1, 2), (10, -5), (1000, 9), (3, 1)];
    let expected = pair_outcomes(Strategy::Optimizing, FRAME_HEADERS, &["results"], &args);
    // Four times x, x + 3, ... for each call.
    assert_eq!(expected[2], 4 * (10 * -5 + 3 * 45));
    assert_eq!(expected[4], 4 * (1 + 4 + 7));
    assert_eq!(
        pair_outcomes(Strategy::Interpreter, FRAME_HEADERS, &["results"], &args),
        expected
    );
}

/// Table 0 grown while an activation runs, by the function itself, by an interpreted callee
/// in the same activation and by a host function: `call_indirect` reaches the new elements
/// in every tier (an interpreter that kept the table's place and size at hand would have to
/// reload them after each of these; a cache that missed one failed this test).
const GROWN_TABLE: &str = r#"
(module
  (import "host" "grow" (func $host_grow (param i32) (result i32)))
  (type $f (func (param i32) (result i32)))
  (table $t (export "t") 2 funcref)
  (elem (i32.const 0) $double $inc)
  (func $double (type $f) (i32.mul (local.get 0) (i32.const 2)))
  (func $inc (type $f) (i32.add (local.get 0) (i32.const 1)))
  (func $grow_here (param $n i32) (result i32)
    (table.grow $t (ref.func $double) (local.get $n)))
  ;; Grows the table by $n with $double, then calls through the last element.
  (func (export "grown_itself") (param $n i32) (result i32)
    (local $old i32)
    (local.set $old (table.grow $t (ref.func $double) (local.get $n)))
    (call_indirect (type $f) (i32.const 21)
      (i32.sub (i32.add (local.get $old) (local.get $n)) (i32.const 1))))
  (func (export "grown_by_callee") (param $n i32) (result i32)
    (local $old i32)
    (local.set $old (call $grow_here (local.get $n)))
    (call_indirect (type $f) (i32.const 21)
      (i32.sub (i32.add (local.get $old) (local.get $n)) (i32.const 1))))
  (func (export "grown_by_host") (param $n i32) (result i32)
    (local $old i32)
    (local.set $old (call $host_grow (local.get $n)))
    (call_indirect (type $f) (i32.const 21)
      (i32.sub (i32.add (local.get $old) (local.get $n)) (i32.const 1))))
  ;; Calls through element $i (after the table grew, first the old elements).
  (func (export "at") (param $i i32) (result i32)
    (call_indirect (type $f) (i32.const 21) (local.get $i))))
"#;

#[test]
fn call_indirect_sees_table_growth() {
    let outcomes = |strategy: Strategy| {
        let engine = engine(strategy);
        let module = Module::new(&engine, GROWN_TABLE).unwrap();
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap(
                "host",
                "grow",
                |mut caller: Caller<'_, ()>, n: i32| -> i32 {
                    let Some(Extern::Table(table)) = caller.get_export("t") else {
                        return -2;
                    };
                    let init = table.get(&mut caller, 1).unwrap();
                    match table.grow(&mut caller, n as u64, init) {
                        Ok(old) => old as i32,
                        Err(_) => -1,
                    }
                },
            )
            .unwrap();
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let mut out = Vec::new();
        for name in ["grown_itself", "grown_by_callee", "grown_by_host", "at"] {
            let f = instance
                .get_typed_func::<i32, i32>(&mut store, name)
                .unwrap();
            for n in [1, 3, 100] {
                out.push(
                    f.call(&mut store, n)
                        .map_err(|e| e.downcast::<Trap>().unwrap()),
                );
            }
        }
        let size = instance.get_table(&mut store, "t").unwrap().size(&store);
        (out, size)
    };
    let expected = outcomes(Strategy::Optimizing);
    // The host's elements call $inc, the others $double; "at" 100 is still in bounds, past
    // the end after the growth would not be.
    assert_eq!(expected.0[..3], [Ok(42), Ok(42), Ok(42)]);
    assert_eq!(expected.0[6..9], [Ok(22), Ok(22), Ok(22)]);
    assert_eq!(expected.1, 2 + 3 * 104);
    assert_eq!(outcomes(Strategy::Interpreter), expected);
    assert_eq!(outcomes(Strategy::Tiered), expected);
}

/// Two instances of one module share a table (imported), each putting its own `$get` (the
/// same defined index in both) into its own element; `$get` returns the instance's
/// imported global. A `call_indirect` must run the callee in the instance the element
/// belongs to: the interpreter tells its own functions from another instance's by where
/// their `VMFuncRef`s are, not by their index.
const SHARED_TABLE: &str = r#"
(module
  (import "env" "t" (table $t 2 funcref))
  (import "env" "k" (global $k i32))
  (import "env" "slot" (global $slot i32))
  (type $r (func (result i32)))
  (type $p (func (param i32) (result i32)))
  (func $get (type $r) (global.get $k))
  (func $other (type $p) (local.get 0))
  (elem (table $t) (global.get $slot) func $get)
  (func (export "call") (param $i i32) (result i32)
    (call_indirect (type $r) (local.get $i)))
  ;; Its own function through a type it does not have.
  (func (export "mistyped") (param $i i32) (result i32)
    (call_indirect (type $p) (i32.const 7) (local.get $i))))
"#;

#[test]
fn call_indirect_tells_instances_of_one_module_apart() {
    let outcomes = |strategy: Strategy| {
        let engine = engine(strategy);
        let module = Module::new(&engine, SHARED_TABLE).unwrap();
        let provider = Module::new(&engine, r#"(module (table (export "t") 2 funcref))"#).unwrap();
        let mut store = Store::new(&engine, ());
        let provider = Instance::new(&mut store, &provider, &[]).unwrap();
        let table = provider.get_table(&mut store, "t").unwrap();
        let instances: Vec<Instance> = [(10, 0), (20, 1)]
            .into_iter()
            .map(|(k, slot)| {
                let global = |store: &mut Store<()>, v: i32| {
                    let ty = GlobalType::new(ValType::I32, Mutability::Const);
                    Global::new(store, ty, Val::I32(v)).unwrap()
                };
                let imports = [
                    table.into(),
                    global(&mut store, k).into(),
                    global(&mut store, slot).into(),
                ];
                Instance::new(&mut store, &module, &imports).unwrap()
            })
            .collect();
        let mut out = Vec::new();
        for instance in &instances {
            for name in ["call", "mistyped"] {
                let f = instance
                    .get_typed_func::<i32, i32>(&mut store, name)
                    .unwrap();
                for i in [0, 1] {
                    out.push(
                        f.call(&mut store, i)
                            .map_err(|e| e.downcast::<Trap>().unwrap()),
                    );
                }
            }
        }
        out
    };
    let expected = outcomes(Strategy::Optimizing);
    let ok = [Ok(10), Ok(20)];
    let mistyped = [Err(Trap::BadSignature), Err(Trap::BadSignature)];
    assert_eq!(expected[..4], [ok, mistyped].concat());
    assert_eq!(expected[4..], [ok, mistyped].concat());
    assert_eq!(outcomes(Strategy::Interpreter), expected);
    assert_eq!(outcomes(Strategy::Tiered), expected);
}

/// `call_indirect`s whose table index the instruction before computes, so the call reads
/// it from the accumulator: right before the call (its argument computed first), or before
/// the copies that put the arguments in place (which then pass the index on), in a loop,
/// as an argument too, out of bounds and of the wrong type. Table elements 0-3 are binary,
/// 4-7 unary; memory bytes 0-3 hold the indices 3, 2, 1, 0.
const INDEX_IN_ACC: &str = r#"
(module
  (type $bin (func (param i32 i32) (result i32)))
  (type $un (func (param i32) (result i32)))
  (table 8 funcref)
  (memory 1)
  (elem (i32.const 0) func $add $sub $mul $xor $inc $dbl $neg $sq)
  (data (i32.const 0) "\03\02\01\00")
  (func $add (type $bin) (i32.add (local.get 0) (local.get 1)))
  (func $sub (type $bin) (i32.sub (local.get 0) (local.get 1)))
  (func $mul (type $bin) (i32.mul (local.get 0) (local.get 1)))
  (func $xor (type $bin) (i32.xor (local.get 0) (local.get 1)))
  (func $inc (type $un) (i32.add (local.get 0) (i32.const 1)))
  (func $dbl (type $un) (i32.shl (local.get 0) (i32.const 1)))
  (func $neg (type $un) (i32.sub (i32.const 0) (local.get 0)))
  (func $sq (type $un) (i32.mul (local.get 0) (local.get 0)))
  (func (export "loaded") (param $a i32) (param $b i32) (result i32)
    (call_indirect (type $bin) (local.get $a) (local.get $b)
      (i32.load8_u (i32.and (local.get $b) (i32.const 3)))))
  (func (export "computed") (param $a i32) (param $b i32) (result i32)
    (call_indirect (type $un) (i32.add (local.get $a) (local.get $b))
      (i32.add (i32.and (local.get $a) (i32.const 3)) (i32.const 4))))
  (func (export "index_is_argument") (param $a i32) (param $b i32) (result i32)
    (local $i i32)
    (local.set $i (i32.and (local.get $b) (i32.const 3)))
    (call_indirect (type $bin) (local.get $i) (local.get $a) (local.get $i)))
  (func (export "looped") (param $a i32) (param $b i32) (result i32)
    (local $k i32)
    (loop $l
      (local.set $a (call_indirect (type $bin) (local.get $a) (local.get $k)
        (i32.load8_u (i32.and (i32.add (local.get $k) (local.get $b)) (i32.const 3)))))
      (br_if $l (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1)))
        (i32.const 10))))
    (local.get $a))
  (func (export "out_of_bounds") (param $a i32) (param $b i32) (result i32)
    (call_indirect (type $un) (local.get $a) (i32.add (local.get $b) (i32.const 8))))
  (func (export "mistyped") (param $a i32) (param $b i32) (result i32)
    (call_indirect (type $un) (local.get $a) (i32.and (local.get $b) (i32.const 3)))))
"#;

#[test]
fn call_indirect_index_in_the_accumulator_matches_every_tier() {
    let names = [
        "loaded",
        "computed",
        "index_is_argument",
        "looped",
        "out_of_bounds",
        "mistyped",
    ];
    let args = [(5, 0), (7, 1), (-3, 2), (100, 3), (9, -1)];
    let outcomes = |strategy| pair_results(strategy, INDEX_IN_ACC, &names, &args);
    let expected = outcomes(Strategy::Optimizing);
    // "loaded": xor, mul, sub, add by the byte at b & 3.
    assert_eq!(expected[..5], [Ok(5), Ok(7), Ok(-5), Ok(103), Ok(8)]);
    // "computed": inc, dbl, neg, sq of a + b by a & 3.
    assert_eq!(expected[5..10], [Ok(10), Ok(64), Ok(-2), Ok(104), Ok(16)]);
    // "out_of_bounds": b + 8 is past the table but for b = -1 ($sq).
    let oob = Err(Trap::TableOutOfBounds);
    assert_eq!(expected[20..25], [oob, oob, oob, oob, Ok(81)]);
    assert!(expected[25..].iter().all(|r| *r == Err(Trap::BadSignature)));
    assert_eq!(outcomes(Strategy::Interpreter), expected);
    assert_eq!(outcomes(Strategy::Tiered), expected);
}
