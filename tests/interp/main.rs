//! The interpreter's threaded code.
//!
//! Its handlers continue by tail calls, which the compiler turns into jumps
//! (interp/src/exec/mod.rs): a handler whose continuation stayed a call would grow the
//! native stack with every instruction it runs. These tests run every kind of handler in
//! loops of many iterations on a thread with a small native stack, where such a handler
//! overflows it, and compare the results with the optimizing tier's. They also check the
//! instructions the translator fuses (an `i32.add` into the address of a load or store, a
//! constant into its instruction) against every other tier: `fused` (fused and rewritten
//! instructions, the pair table), `loops` (back edges, copied tails, carried counters),
//! `accumulator` (operands taken from a register) and `calls` (frames and calls).

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

/// A store holding an instance of `wat` (without imports) under `strategy`.
fn instantiate(strategy: Strategy, wat: &str) -> (Store<()>, Instance) {
    let engine = engine(strategy);
    let module = Module::new(&engine, wat).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    (store, instance)
}

/// The result or trap of every export in `names` of `wat`, each `(i32, i32) -> i32`,
/// called with each of `args` in turn on one instance under `strategy`.
fn pair_results(
    strategy: Strategy,
    wat: &str,
    names: &[&str],
    args: &[(i32, i32)],
) -> Vec<std::result::Result<i32, Trap>> {
    let (mut store, instance) = instantiate(strategy, wat);
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

mod accumulator;
mod calls;
mod fused;
mod loops;
