//! The interpreter's threaded code.
//!
//! Its handlers continue by tail calls, which the compiler turns into jumps
//! (interp/src/exec/mod.rs): a handler whose continuation stayed a call would grow the
//! native stack with every instruction it runs. These tests run every kind of handler in
//! loops of many iterations on a thread with a small native stack, where such a handler
//! overflows it, and compare the results with the optimizing tier's. They also check the
//! instructions the translator fuses (an `i32.add` into the address of a load or store, a
//! constant into its instruction) against every other tier.

use strata::*;

/// Native stack of the thread the loops run on: far less than the frames of one call per
/// instruction the loops run would take.
const SMALL_STACK: usize = 256 << 10;

const ITERATIONS: i32 = 100_000;

/// One loop over (nearly) every instruction family: numeric, trapping numeric that does
/// not trap, loads and stores, bulk memory, globals, tables, direct, indirect and host
/// calls, `select`, `br_table`, `if`/`else` and the conditional branches.
const EVERY_HANDLER: &str = r#"
(module
  (import "host" "echo" (func $echo (param i32) (result i32)))
  (type $t (func (param i32) (result i32)))
  (memory 1)
  (table $tab 4 funcref)
  (table $tab2 4 funcref)
  (elem (table $tab) (i32.const 0) func $id $id)
  (elem $passive func $id)
  (data $d "abcd")
  (global $g (mut i32) (i32.const 0))
  (func $id (param i32) (result i32) local.get 0)
  (func (export "every") (param $n i32) (result i32)
    (local $i i32) (local $acc i32) (local $copy i32) (local $f f64) (local $r funcref)
    (loop $l
      (local.set $acc (i32.add (local.get $acc) (i32.popcnt (local.get $i))))
      (local.set $acc (i32.xor (local.get $acc) (i32.div_u (local.get $i) (i32.const 3))))
      (local.set $f (f64.add (local.get $f) (f64.convert_i32_u (i32.and (local.get $i) (i32.const 7)))))
      (local.set $acc (i32.add (local.get $acc) (i32.trunc_f64_u (f64.const 2.5))))
      (local.set $copy (local.get $acc))
      (i32.store offset=8 (i32.const 0) (local.get $i))
      (local.set $acc (i32.add (local.get $acc) (i32.load8_u offset=8 (i32.const 0))))
      (memory.fill (i32.const 16) (local.get $i) (i32.const 4))
      (memory.copy (i32.const 32) (i32.const 16) (i32.const 4))
      (local.set $acc (i32.add (local.get $acc) (i32.load (i32.const 32))))
      (memory.init $d (i32.const 48) (i32.const 0) (i32.const 0))
      (data.drop $d)
      (local.set $acc (i32.add (local.get $acc) (memory.size)))
      (local.set $acc (i32.add (local.get $acc) (memory.grow (i32.const 0))))
      (global.set $g (i32.add (global.get $g) (i32.const 1)))
      (local.set $r (table.get $tab (i32.const 0)))
      (table.set $tab (i32.const 2) (local.get $r))
      (local.set $acc (i32.add (local.get $acc) (table.size $tab)))
      (local.set $acc (i32.add (local.get $acc) (table.grow $tab (ref.null func) (i32.const 0))))
      (table.fill $tab2 (i32.const 0) (ref.func $id) (i32.const 2))
      (table.copy $tab2 $tab (i32.const 2) (i32.const 0) (i32.const 2))
      (table.init $tab2 $passive (i32.const 0) (i32.const 0) (i32.const 0))
      (elem.drop $passive)
      (local.set $acc (call $id (local.get $acc)))
      (local.set $acc (call_indirect $tab (type $t) (local.get $acc) (i32.const 1)))
      (local.set $acc (call $echo (local.get $acc)))
      (local.set $acc
        (select (local.get $acc) (local.get $copy) (i32.and (local.get $i) (i32.const 1))))
      (block $a (block $b (br_table $a $b (i32.and (local.get $i) (i32.const 1)))))
      (if (i32.eqz (local.get $i))
        (then (local.set $acc (i32.add (local.get $acc) (i32.const 1))))
        (else (local.set $acc (i32.sub (local.get $acc) (i32.const 1)))))
      (block $c (br_if $c (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (i32.add (local.get $acc) (i32.add (global.get $g) (i32.trunc_f64_u (local.get $f)))))

  ;; Deep recursion: calls and returns.
  (func $depth (export "depth") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $depth (i32.sub (local.get $n) (i32.const 1))))))))
"#;

/// A loop using more distinct constants than a frame keeps in slots, so the later ones are
/// materialized by the `Const` instruction.
fn many_constants() -> String {
    let adds: String = (0..200)
        .map(|k| {
            format!(
                "(local.set $acc (i64.add (local.get $acc) (i64.const {})))\n",
                1000 + k
            )
        })
        .collect();
    format!(
        r#"(module
          (func (export "constants") (param $n i32) (result i64)
            (local $i i32) (local $acc i64)
            (loop $l
              {adds}
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
            (local.get $acc)))"#
    )
}

fn engine(strategy: Strategy) -> Engine {
    let mut config = Config::new();
    config.strategy(strategy);
    if strategy == Strategy::Tiered {
        // Loop and call budgets are spent, but never run out; functions are translated in
        // full, as where the interpreter is the only tier (the spec suite and the
        // differential test run the quick translation under tiering).
        config
            .baseline_call_threshold(1 << 30)
            .baseline_loop_threshold(1 << 30)
            .full_interpreter_translation(true);
    }
    Engine::new(&config).unwrap()
}

/// The result or trap of every export in `names` of `wat`, each `(i32, i32) -> i32`,
/// called with each of `args` in turn on one instance under `strategy`.
fn pair_results(
    strategy: Strategy,
    wat: &str,
    names: &[&str],
    args: &[(i32, i32)],
) -> Vec<std::result::Result<i32, Trap>> {
    let engine = engine(strategy);
    let module = Module::new(&engine, wat).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let mut out = Vec::new();
    for name in names {
        let f = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, name)
            .unwrap();
        for &args in args {
            out.push(
                f.call(&mut store, args)
                    .map_err(|e| e.downcast::<Trap>().unwrap()),
            );
        }
    }
    out
}

/// [`pair_results`] of calls that do not trap.
fn pair_outcomes(strategy: Strategy, wat: &str, names: &[&str], args: &[(i32, i32)]) -> Vec<i32> {
    let results = pair_results(strategy, wat, names, args);
    results.into_iter().map(|r| r.unwrap()).collect()
}

/// Runs `export(arg)` of `wat` under `strategy` on a thread with a small native stack.
fn run_on_small_stack<R: WasmResults + Send + 'static>(
    strategy: Strategy,
    wat: String,
    export: &'static str,
    arg: i32,
) -> R {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(move || {
            let engine = engine(strategy);
            let module = Module::new(&engine, &wat).unwrap();
            let mut store = Store::new(&engine, ());
            let echo = Func::wrap(&mut store, |x: i32| x);
            let imports: Vec<Extern> = if module.imports().len() == 1 {
                vec![echo.into()]
            } else {
                vec![]
            };
            let instance = Instance::new(&mut store, &module, &imports).unwrap();
            let f = instance
                .get_typed_func::<i32, R>(&mut store, export)
                .unwrap();
            f.call(&mut store, arg).unwrap()
        })
        .unwrap()
        .join()
        .expect("the interpreter overflowed a small native stack")
}

#[test]
fn every_handler_runs_in_constant_native_stack() {
    let expected: i32 = run_on_small_stack(
        Strategy::Optimizing,
        EVERY_HANDLER.into(),
        "every",
        ITERATIONS,
    );
    for strategy in [Strategy::Interpreter, Strategy::Tiered] {
        let got: i32 = run_on_small_stack(strategy, EVERY_HANDLER.into(), "every", ITERATIONS);
        assert_eq!(got, expected, "{strategy:?}");
    }
}

#[test]
fn deep_interpreted_recursion_needs_no_native_stack() {
    let depth: i32 = run_on_small_stack(
        Strategy::Interpreter,
        EVERY_HANDLER.into(),
        "depth",
        ITERATIONS,
    );
    assert_eq!(depth, ITERATIONS);
}

#[test]
fn materialized_constants_run_in_constant_native_stack() {
    let n = 2_000;
    let expected: i64 = (0..200).map(|k| 1000 + k).sum::<i64>() * n as i64;
    let got: i64 = run_on_small_stack(Strategy::Interpreter, many_constants(), "constants", n);
    assert_eq!(got, expected);
}

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
        let engine = engine(strategy);
        let module = Module::new(&engine, ADDRESS_SUMS).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
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
        let engine = engine(strategy);
        let module = Module::new(&engine, DIVISIONS).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
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
        let engine = engine(strategy);
        let module = Module::new(&engine, FLOAT_CHAINS).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
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
        let engine = engine(strategy);
        let module = Module::new(&engine, CONSTANT_USES).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
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
        let engine = engine(strategy);
        let module = Module::new(&engine, PAIRS).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
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
        let engine = engine(strategy);
        let module = Module::new(&engine, PAIRS).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
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
        let engine = engine(strategy);
        let module = Module::new(&engine, FIRST_ARGUMENTS).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
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
        let engine = engine(strategy);
        let module = Module::new(&engine, ALTERNATING_LOOPS).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
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
    let edges = [0, 1, 2, -1, 5, 0x1234, i32::MIN, i32::MAX, 0x2545f491];
    let outcomes = |strategy: Strategy| {
        let engine = engine(strategy);
        let module = Module::new(&engine, ARRIVALS).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let mut out = Vec::new();
        for name in [
            "xorshift",
            "first_writes_it",
            "both_operands",
            "other_operand",
        ] {
            let f = instance
                .get_typed_func::<(i32, i32), i32>(&mut store, name)
                .unwrap();
            for x in edges {
                for y in [1, 2, 7, 100] {
                    out.push(f.call(&mut store, (x, y)).unwrap());
                }
            }
        }
        out
    };
    let expected = outcomes(Strategy::Optimizing);
    assert_eq!(outcomes(Strategy::Interpreter), expected);
    assert_eq!(outcomes(Strategy::Tiered), expected);
}
