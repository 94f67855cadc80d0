//! On-stack replacement: under `Strategy::Tiered`, a call that spends its loop budget in
//! the interpreter continues in the baseline code at the loop header, with its locals, the
//! operand stack below the loop and the loop's parameters carried over, and returns (or
//! traps) from there as the interpreted call would have; a baseline activation that keeps
//! looping continues likewise in the optimized variant compiled for it in the background.

use strata::*;

const WAT: &str = r#"
(module
  (import "host" "tick" (func $tick (param i32)))
  (memory 1)

  ;; Locals of every type change in the loop.
  (func $mixed (export "mixed") (param $n i32) (result i64)
    (local $i i32) (local $acc i64) (local $x f64) (local $y f32)
    (local.set $x (f64.const 0.5))
    (local.set $y (f32.const 1.5))
    (loop $l
      (local.set $acc (i64.add (local.get $acc)
        (i64.mul (i64.extend_i32_u (local.get $i)) (i64.const 3))))
      (local.set $x (f64.add (local.get $x) (f64.const 0.25)))
      (local.set $y (f32.mul (local.get $y) (f32.const 1.0)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (i64.add (local.get $acc)
      (i64.add (i64.trunc_f64_u (local.get $x)) (i64.trunc_f32_u (local.get $y)))))

  ;; A constant and a temporary below the loop, and a loop parameter.
  (func (export "stacked") (param $n i32) (result i32)
    (local $i i32)
    i32.const 7
    local.get $n
    i32.const 3
    i32.mul
    i32.const 5
    (loop $l (param i32) (result i32)
      local.get $i
      i32.add
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      local.get $n
      i32.lt_u
      br_if $l)
    i32.add
    i32.add)

  ;; Two results, through the results area.
  (func $pair (export "pair") (param $n i32) (result i64 f64)
    (local $i i32) (local $a i64) (local $b f64)
    (loop $l
      (local.set $a (i64.add (local.get $a) (i64.const 2)))
      (local.set $b (f64.add (local.get $b) (f64.const 1.0)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $a)
    (local.get $b))

  ;; An interpreted caller of a function that moves to native code mid-call.
  (func (export "outer") (param $n i32) (result i64)
    (local.get $n)
    (call $pair)
    (drop)
    (i64.const 1)
    (i64.add))

  ;; The loop stores its counter, then reads past the memory once it reaches $n.
  (func $faulting (param $n i32)
    (local $i i32)
    (loop $l
      (i32.store (i32.const 0) (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (drop (i32.load (i32.const 65536))))
  (func (export "faulting_caller") (param $n i32)
    (call $faulting (local.get $n)))
  (func (export "counter") (result i32) (i32.load (i32.const 0)))

  ;; A host call on every iteration.
  (func (export "ticking") (param $n i32) (result i32)
    (local $i i32)
    (loop $l
      (call $tick (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $i))

  ;; Nested loops: the inner one runs out of budget first.
  (func (export "nested") (param $n i32) (result i32)
    (local $i i32) (local $j i32) (local $sum i32)
    (loop $outer
      (local.set $j (i32.const 0))
      (loop $inner
        (local.set $sum (i32.add (local.get $sum) (i32.xor (local.get $i) (local.get $j))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $inner (i32.lt_u (local.get $j) (local.get $n))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $sum))
)
"#;

const N: i32 = 100_000;

/// A fresh tiered engine (default thresholds), its module, and an instance whose `tick`
/// import sums its arguments into the store's data.
fn instantiate() -> (Module, Store<u64>, Instance) {
    let mut config = Config::new();
    config.strategy(Strategy::Tiered).compile_threads(1);
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(&engine, WAT).unwrap();
    let mut store = Store::new(&engine, 0u64);
    let tick = Func::wrap(&mut store, |mut caller: Caller<'_, u64>, i: i32| {
        *caller.data_mut() += i as u64;
    });
    let instance = Instance::new(&mut store, &module, &[tick.into()]).unwrap();
    (module, store, instance)
}

#[test]
fn locals_of_every_type_carry_over() {
    let (module, mut store, instance) = instantiate();
    let mixed = instance
        .get_typed_func::<i32, i64>(&mut store, "mixed")
        .unwrap();
    let n = N as i64;
    let acc = 3 * n * (n - 1) / 2;
    let x = (0.5 + 0.25 * n as f64) as i64;
    assert_eq!(mixed.call(&mut store, N).unwrap(), acc + x + 1);
    assert!(module.osr_transfers() >= 1);
}

#[test]
fn the_operand_stack_below_the_loop_and_loop_parameters_carry_over() {
    let (module, mut store, instance) = instantiate();
    let stacked = instance
        .get_typed_func::<i32, i32>(&mut store, "stacked")
        .unwrap();
    let n = N as u32;
    let r = 5u32.wrapping_add(n.wrapping_mul(n - 1) / 2);
    let expected = 7u32.wrapping_add(3 * n).wrapping_add(r);
    assert_eq!(stacked.call(&mut store, N).unwrap() as u32, expected);
    assert!(module.osr_transfers() >= 1);
}

#[test]
fn several_results_and_interpreted_callers_see_the_native_return() {
    let (module, mut store, instance) = instantiate();
    let pair = instance
        .get_typed_func::<i32, (i64, f64)>(&mut store, "pair")
        .unwrap();
    assert_eq!(pair.call(&mut store, N).unwrap(), (2 * N as i64, N as f64));
    assert!(module.osr_transfers() >= 1);
    // Another instance: `pair` is compiled already, so its interpreted activation under
    // `outer` moves at its first budget check after 10,000 iterations.
    let outer = instance
        .get_typed_func::<i32, i64>(&mut store, "outer")
        .unwrap();
    assert_eq!(outer.call(&mut store, N).unwrap(), 2 * N as i64 + 1);
}

#[test]
fn traps_after_the_transfer_unwind_through_the_interpreted_caller() {
    let (module, mut store, instance) = instantiate();
    let caller = instance
        .get_typed_func::<i32, ()>(&mut store, "faulting_caller")
        .unwrap();
    let error = caller.call(&mut store, N).unwrap_err();
    assert_eq!(error.downcast_ref::<Trap>(), Some(&Trap::MemoryOutOfBounds));
    let trace = error.downcast_ref::<WasmBacktrace>().unwrap();
    let names: Vec<u32> = trace.frames().iter().map(|f| f.func_index()).collect();
    // `$faulting` (function 5) in the baseline, under `faulting_caller` (6) in the
    // interpreter: each once.
    assert_eq!(names, [5, 6]);
    assert!(module.osr_transfers() >= 1);
    // The stores before the trap happened.
    let counter = instance
        .get_typed_func::<(), i32>(&mut store, "counter")
        .unwrap();
    assert_eq!(counter.call(&mut store, ()).unwrap(), N - 1);
}

#[test]
fn host_calls_from_the_transferred_loop_reach_the_store() {
    let (module, mut store, instance) = instantiate();
    let ticking = instance
        .get_typed_func::<i32, i32>(&mut store, "ticking")
        .unwrap();
    assert_eq!(ticking.call(&mut store, N).unwrap(), N);
    let n = N as u64;
    assert_eq!(*store.data(), n * (n - 1) / 2);
    assert!(module.osr_transfers() >= 1);
}

#[test]
fn nested_loops_move_at_the_inner_loop() {
    let (module, mut store, instance) = instantiate();
    let nested = instance
        .get_typed_func::<i32, i32>(&mut store, "nested")
        .unwrap();
    let n = 500;
    let mut sum = 0i32;
    for i in 0..n {
        for j in 0..n {
            sum = sum.wrapping_add(i ^ j);
        }
    }
    assert_eq!(nested.call(&mut store, n).unwrap(), sum);
    assert!(module.osr_transfers() >= 1);
}

/// Loops that run until the host has seen both transfers (interpreter to baseline, then
/// baseline to the optimized variant) and a few more iterations.
const UNTIL_OPTIMIZED: &str = r#"
(module
  (import "host" "keep_going" (func $keep_going (result i32)))
  (func (export "spin") (param $seed i64) (result i64 i32)
    (local $i i32) (local $acc i64)
    (local.set $acc (local.get $seed))
    (loop $l
      (local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 6364136223846793005))
                               (i64.const 1442695040888963407)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (call $keep_going)))
    (local.get $acc)
    (local.get $i))
  (func $spin_then_trap
    (loop $l (br_if $l (call $keep_going)))
    unreachable)
  (func (export "trapping_caller") (call $spin_then_trap))
)
"#;

struct Host {
    module: Option<Module>,
    calls: u32,
    /// Iterations still to run once both transfers happened.
    extra: u32,
}

fn instantiate_until_optimized() -> (Module, Store<Host>, Instance) {
    let mut config = Config::new();
    config.strategy(Strategy::Tiered).compile_threads(1);
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(&engine, UNTIL_OPTIMIZED).unwrap();
    let host = Host {
        module: Some(module.clone()),
        calls: 0,
        extra: 1000,
    };
    let mut store = Store::new(&engine, host);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let keep_going = Func::wrap(&mut store, move |mut caller: Caller<'_, Host>| -> i32 {
        let host = caller.data_mut();
        host.calls += 1;
        let transfers = host.module.as_ref().map_or(0, Module::osr_transfers);
        if transfers >= 2 {
            host.extra = host.extra.saturating_sub(1);
        }
        (host.extra > 0 && std::time::Instant::now() < deadline) as i32
    });
    let instance = Instance::new(&mut store, &module, &[keep_going.into()]).unwrap();
    (module, store, instance)
}

#[test]
fn a_baseline_activation_continues_in_optimized_code() {
    let (module, mut store, instance) = instantiate_until_optimized();
    let spin = instance
        .get_typed_func::<i64, (i64, i32)>(&mut store, "spin")
        .unwrap();
    let (acc, iterations) = spin.call(&mut store, 12345).unwrap();
    assert_eq!(
        module.osr_transfers(),
        2,
        "interp -> baseline -> optimizing within the deadline"
    );
    assert_eq!(iterations as u32, store.data().calls);
    let mut expected = 12345i64;
    for _ in 0..iterations {
        expected = expected
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
    }
    assert_eq!(acc, expected);
}

#[test]
fn traps_in_optimized_code_entered_on_stack_name_each_frame_once() {
    let (module, mut store, instance) = instantiate_until_optimized();
    let caller = instance
        .get_typed_func::<(), ()>(&mut store, "trapping_caller")
        .unwrap();
    let error = caller.call(&mut store, ()).unwrap_err();
    assert_eq!(module.osr_transfers(), 2);
    assert_eq!(
        error.downcast_ref::<Trap>(),
        Some(&Trap::UnreachableCodeReached)
    );
    let trace = error.downcast_ref::<WasmBacktrace>().unwrap();
    let frames: Vec<u32> = trace.frames().iter().map(|f| f.func_index()).collect();
    // `$spin_then_trap` (2, after the import and `spin`), under `trapping_caller` (3).
    assert_eq!(frames, [2, 3]);
}
