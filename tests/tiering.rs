//! Tier-up under `Strategy::Tiered`: interpreter, then baseline on the requesting thread,
//! then Cranelift in the background, with every result correct along the way; and clean
//! drops with compiles in flight.

use std::time::{Duration, Instant};
use strata::*;

const FIB: &str = r#"(module
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2))))))))"#;

fn tiered(baseline: u32, optimizing: u32) -> Config {
    let mut config = Config::new();
    config
        .strategy(Strategy::Tiered)
        .baseline_call_threshold(baseline)
        .baseline_loop_threshold(baseline)
        .optimizing_call_threshold(optimizing)
        .optimizing_loop_threshold(optimizing)
        .compile_threads(1);
    config
}

#[test]
fn hot_functions_climb_every_tier_and_stay_correct() {
    let engine = Engine::new(&tiered(3, 50)).unwrap();
    let module = Module::new(&engine, FIB).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let fib = instance
        .get_typed_func::<i32, i32>(&mut store, "fib")
        .unwrap();
    assert_eq!(module.function_tier(0), Some(Strategy::Interpreter));
    let mut seen = vec![Strategy::Interpreter];
    let deadline = Instant::now() + Duration::from_secs(30);
    while module.function_tier(0) != Some(Strategy::Optimizing) {
        assert!(
            Instant::now() < deadline,
            "never reached the optimizing tier"
        );
        assert_eq!(fib.call(&mut store, 15).unwrap(), 610);
        let tier = module.function_tier(0).unwrap();
        if seen.last() != Some(&tier) {
            seen.push(tier);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(fib.call(&mut store, 20).unwrap(), 6765);
    assert!(
        seen.contains(&Strategy::Baseline),
        "went through the baseline: {seen:?}"
    );
}

#[test]
fn dropping_engines_and_modules_with_compiles_in_flight_is_clean() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/programs/medium.wasm");
    let bytes = std::fs::read(path).unwrap();
    for round in 0..5 {
        // Thresholds of zero: every function called is queued for Cranelift at once.
        let engine = Engine::new(&tiered(0, 0)).unwrap();
        let module = Module::new(&engine, &bytes).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let run = instance
            .get_typed_func::<i32, i32>(&mut store, "run")
            .unwrap();
        for _ in 0..3 {
            assert_eq!(run.call(&mut store, 10).unwrap(), -1603742535);
        }
        // Drop in both orders while the worker may still be compiling.
        if round % 2 == 0 {
            drop(store);
            drop(module);
            drop(engine);
        } else {
            drop(engine);
            drop(store);
            drop(module);
        }
    }
}

/// Callees reached only from interpreted code: a direct call, a self-call and a
/// `call_indirect`, each also as the second of a pair (after a copy, after a subtraction).
const INNER_CALLS: &str = r#"(module
  (type $t (func (param i32) (result i32)))
  (table 1 funcref)
  (elem (i32.const 0) $indirect)
  (func $direct (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func $indirect (type $t) (i32.mul (local.get 0) (i32.const 3)))
  (func $self (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (i32.add (call $self (i32.sub (local.get 0) (i32.const 1))) (i32.const 2)))))
  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (loop $l
      (local.set $acc (i32.add (local.get $acc) (call $direct (local.get $i))))
      (local.set $acc (i32.add (local.get $acc)
        (call_indirect (type $t) (local.get $i) (i32.const 0))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (i32.add (local.get $acc) (call $self (local.get $n)))))"#;

#[test]
fn calls_between_interpreted_functions_spend_call_budgets() {
    // Loops never tier up here; `run` is called once, so only the calls it makes between
    // interpreted functions can use up their callees' budgets.
    let mut config = tiered(10, 1 << 30);
    config.baseline_loop_threshold(1 << 30);
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(&engine, INNER_CALLS).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let run = instance
        .get_typed_func::<i32, i32>(&mut store, "run")
        .unwrap();
    // sum(i + 1) + sum(3i) over i < 100, then 2 per level of `$self`.
    assert_eq!(run.call(&mut store, 100).unwrap(), 5050 + 3 * 4950 + 200);
    for (func, name) in [(0, "direct"), (1, "indirect"), (2, "self")] {
        assert_eq!(
            module.function_tier(func),
            Some(Strategy::Baseline),
            "{name}"
        );
    }
    assert_eq!(module.function_tier(3), Some(Strategy::Interpreter));
}
