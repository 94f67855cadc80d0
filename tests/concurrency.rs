//! One `Module` shared by eight threads, each with its own `Store`s and instances, calling
//! hot functions many times and checking every result: under `Strategy::Tiered` with low
//! thresholds (functions move from the interpreter to the baseline, compiled on whichever
//! thread spends the budget first, and on to Cranelift, compiled in the background, while
//! the other threads keep calling them), and under `Strategy::Baseline` and
//! `Strategy::Optimizing` (every thread races to compile each function on its first call).
//!
//! Each thread starts at a barrier, makes a new store and instance every [`EPOCH`]
//! iterations (new instances of a module whose code table other threads are filling), and
//! calls fib (recursion), a loop over its own memory, a loop in i64, a loop in f64 and a
//! `call_indirect` dispatcher, with arguments that differ per thread and iteration.

use std::io::Write as _;
use std::sync::Barrier;
use std::time::{Duration, Instant};
use strata::{Config, Engine, Instance, Module, Store, Strategy, TypedFunc};

const THREADS: usize = 8;

/// Iterations per thread (each calls every function once).
const ITERATIONS: usize = 1_500;

/// Iterations between new stores and instances.
const EPOCH: usize = 100;

/// Under `Tiered`, threads keep going past [`ITERATIONS`] until every function runs
/// Cranelift code, but no longer than this.
const TIER_UP_DEADLINE: Duration = Duration::from_secs(30);

const WAT: &str = r#"(module
  (type $unary (func (param i32) (result i32)))
  (memory (export "memory") 1)
  (table 3 funcref)
  (elem (i32.const 0) func $fib $sum_squares $collatz)

  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))

  ;; Stores i*i + n at 4*i for i < n, then sums the words back (wrapping).
  (func $sum_squares (export "sum_squares") (param $n i32) (result i32)
    (local $i i32) (local $sum i32)
    (block $filled
      (loop $fill
        (br_if $filled (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store (i32.shl (local.get $i) (i32.const 2))
                   (i32.add (i32.mul (local.get $i) (local.get $i)) (local.get $n)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $fill)))
    (local.set $i (i32.const 0))
    (block $summed
      (loop $sum
        (br_if $summed (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $sum (i32.add (local.get $sum)
                                 (i32.load (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $sum)))
    (local.get $sum))

  ;; Steps of the Collatz sequence from n down to 1, computed in i64.
  (func $collatz (export "collatz") (param $n i32) (result i32)
    (local $x i64) (local $steps i32)
    (local.set $x (i64.extend_i32_u (local.get $n)))
    (block $done
      (loop $step
        (br_if $done (i64.le_u (local.get $x) (i64.const 1)))
        (local.set $x
          (if (result i64) (i64.eqz (i64.and (local.get $x) (i64.const 1)))
            (then (i64.shr_u (local.get $x) (i64.const 1)))
            (else (i64.add (i64.mul (local.get $x) (i64.const 3)) (i64.const 1)))))
        (local.set $steps (i32.add (local.get $steps) (i32.const 1)))
        (br $step)))
    (local.get $steps))

  ;; The sum of 1/i for i in 1..=n, in f64, in that order.
  (func $harmonic (export "harmonic") (param $n i32) (result f64)
    (local $i i32) (local $sum f64)
    (local.set $i (i32.const 1))
    (block $done
      (loop $add
        (br_if $done (i32.gt_u (local.get $i) (local.get $n)))
        (local.set $sum (f64.add (local.get $sum)
                                 (f64.div (f64.const 1) (f64.convert_i32_u (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $add)))
    (local.get $sum))

  ;; table[k](x)
  (func $dispatch (export "dispatch") (param $k i32) (param $x i32) (result i32)
    (call_indirect (type $unary) (local.get $x) (local.get $k))))"#;

/// Defined functions of `WAT`, by index.
const FUNCTIONS: [&str; 5] = ["fib", "sum_squares", "collatz", "harmonic", "dispatch"];

fn fib(n: i32) -> i32 {
    let (mut a, mut b) = (0i32, 1i32);
    for _ in 0..n {
        (a, b) = (b, a.wrapping_add(b));
    }
    a
}

fn sum_squares(n: i32) -> i32 {
    (0..n).fold(0i32, |sum, i| {
        sum.wrapping_add(i.wrapping_mul(i).wrapping_add(n))
    })
}

fn collatz(n: i32) -> i32 {
    let (mut x, mut steps) = (u64::from(n as u32), 0);
    while x > 1 {
        x = if x % 2 == 0 { x / 2 } else { 3 * x + 1 };
        steps += 1;
    }
    steps
}

fn harmonic(n: i32) -> f64 {
    (1..=n).fold(0.0, |sum, i| sum + 1.0 / f64::from(i))
}

/// The arguments of iteration `i` on thread `t`: different per thread, so threads reach
/// thresholds and new code at different points.
fn args(t: usize, i: usize) -> (i32, i32, i32, i32) {
    let fib_n = 10 + (i * 7 + t * 3) % 11; // 10..=20
    let squares_n = 1 + (i * 131 + t * 17) % 4096; // fits the one page
    let collatz_n = 1 + (i * 977 + t * 101) % 100_000;
    let harmonic_n = (i * 37 + t) % 1000;
    (
        fib_n as i32,
        squares_n as i32,
        collatz_n as i32,
        harmonic_n as i32,
    )
}

struct Exports {
    fib: TypedFunc<i32, i32>,
    sum_squares: TypedFunc<i32, i32>,
    collatz: TypedFunc<i32, i32>,
    harmonic: TypedFunc<i32, f64>,
    dispatch: TypedFunc<(i32, i32), i32>,
}

fn instantiate(module: &Module) -> (Store<()>, Exports) {
    let mut store = Store::new(module.engine(), ());
    let instance = Instance::new(&mut store, module, &[]).unwrap();
    let exports = Exports {
        fib: instance.get_typed_func(&mut store, "fib").unwrap(),
        sum_squares: instance.get_typed_func(&mut store, "sum_squares").unwrap(),
        collatz: instance.get_typed_func(&mut store, "collatz").unwrap(),
        harmonic: instance.get_typed_func(&mut store, "harmonic").unwrap(),
        dispatch: instance.get_typed_func(&mut store, "dispatch").unwrap(),
    };
    (store, exports)
}

/// One thread's work: calls every function at each iteration and checks every result.
/// Runs `ITERATIONS` iterations, then more while `go_on` says so. Returns the iterations.
fn hammer(module: &Module, t: usize, barrier: &Barrier, go_on: &dyn Fn() -> bool) -> usize {
    barrier.wait();
    let mut i = 0;
    let (mut store, mut f) = instantiate(module);
    while i < ITERATIONS || go_on() {
        if i > 0 && i % EPOCH == 0 {
            (store, f) = instantiate(module);
        }
        let (fib_n, squares_n, collatz_n, harmonic_n) = args(t, i);
        let at = || format!("thread {t}, iteration {i}");
        assert_eq!(
            f.fib.call(&mut store, fib_n).unwrap(),
            fib(fib_n),
            "{}: fib({fib_n})",
            at()
        );
        assert_eq!(
            f.sum_squares.call(&mut store, squares_n).unwrap(),
            sum_squares(squares_n),
            "{}: sum_squares({squares_n})",
            at()
        );
        assert_eq!(
            f.collatz.call(&mut store, collatz_n).unwrap(),
            collatz(collatz_n),
            "{}: collatz({collatz_n})",
            at()
        );
        assert_eq!(
            f.harmonic.call(&mut store, harmonic_n).unwrap().to_bits(),
            harmonic(harmonic_n).to_bits(),
            "{}: harmonic({harmonic_n})",
            at()
        );
        let (k, x, expected) = match i % 3 {
            0 => (0, fib_n, fib(fib_n)),
            1 => (1, squares_n, sum_squares(squares_n)),
            _ => (2, collatz_n, collatz(collatz_n)),
        };
        assert_eq!(
            f.dispatch.call(&mut store, (k, x)).unwrap(),
            expected,
            "{}: dispatch({k}, {x})",
            at()
        );
        i += 1;
    }
    i
}

fn tiers(module: &Module) -> Vec<Option<Strategy>> {
    (0..FUNCTIONS.len() as u32)
        .map(|f| module.function_tier(f))
        .collect()
}

/// Runs [`hammer`] on [`THREADS`] threads sharing one module; returns the iterations done
/// by all threads together.
fn run_threads(module: &Module, go_on: &(dyn Fn() -> bool + Sync)) -> usize {
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let barrier = &barrier;
                std::thread::Builder::new()
                    .name(format!("hammer-{t}"))
                    .spawn_scoped(scope, move || hammer(module, t, barrier, go_on))
                    .unwrap()
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

fn engine(strategy: Strategy, tune: impl FnOnce(&mut Config)) -> Engine {
    let mut config = Config::new();
    config.strategy(strategy);
    tune(&mut config);
    Engine::new(&config).unwrap()
}

#[test]
fn tiered_module_tiers_up_while_eight_threads_call_it() {
    let start = Instant::now();
    let engine = engine(Strategy::Tiered, |config| {
        config
            .baseline_call_threshold(3)
            .baseline_loop_threshold(50)
            .optimizing_call_threshold(200)
            .optimizing_loop_threshold(200_000)
            .compile_threads(1);
    });
    let module = Module::new(&engine, WAT).unwrap();
    assert!(
        tiers(&module)
            .iter()
            .all(|t| *t == Some(Strategy::Interpreter)),
        "nothing is compiled before the threads start: {:?}",
        tiers(&module)
    );
    let deadline = start + TIER_UP_DEADLINE;
    let go_on = || {
        Instant::now() < deadline
            && !tiers(&module)
                .iter()
                .all(|t| *t == Some(Strategy::Optimizing))
    };
    let iterations = run_threads(&module, &go_on);
    // Every tier-up happened while the threads ran: they were the only callers.
    assert!(
        tiers(&module)
            .iter()
            .all(|t| *t == Some(Strategy::Optimizing)),
        "every function reached Cranelift within {TIER_UP_DEADLINE:?}: {:?}",
        tiers(&module)
    );
    let _ = writeln!(
        std::io::stderr(),
        "tiered: {THREADS} threads, {iterations} iterations, {:.2} s",
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn baseline_module_shared_by_eight_threads() {
    let start = Instant::now();
    let module = Module::new(&engine(Strategy::Baseline, |_| {}), WAT).unwrap();
    let iterations = run_threads(&module, &|| false);
    assert!(
        tiers(&module)
            .iter()
            .all(|t| *t == Some(Strategy::Baseline)),
        "{:?}",
        tiers(&module)
    );
    let _ = writeln!(
        std::io::stderr(),
        "baseline: {THREADS} threads, {iterations} iterations, {:.2} s",
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn optimizing_module_shared_by_eight_threads() {
    let start = Instant::now();
    let module = Module::new(&engine(Strategy::Optimizing, |_| {}), WAT).unwrap();
    let iterations = run_threads(&module, &|| false);
    assert!(
        tiers(&module)
            .iter()
            .all(|t| *t == Some(Strategy::Optimizing)),
        "{:?}",
        tiers(&module)
    );
    let _ = writeln!(
        std::io::stderr(),
        "optimizing: {THREADS} threads, {iterations} iterations, {:.2} s",
        start.elapsed().as_secs_f64()
    );
}
