//! Criterion benchmarks of Strata's tiers, side by side (`cargo bench --bench tiers`).
//!
//! - `run/<program>/<tier>`: one call of `run(n)` of each workload in `benches/programs/` on
//!   one instance (steady state), per tier; every tier's result is checked equal first.
//! - `compile/<module>/<tier>`: eager translation (interpreter) or compilation (JIT tiers) of
//!   every function of the large and medium generated modules, as throughput in bytes of
//!   function bodies per second.
//! - `instantiate/1000-functions`: `Instance::new` of a module with a memory, a table and a
//!   thousand functions (store creation included).
//!
//! Filter with criterion's usual arguments, e.g. `cargo bench --bench tiers -- run/fib`.
//! `strata bench` gives the same comparisons for one workload from the command line.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::time::Duration;
use strata::{Config, Engine, Instance, Module, Store, Strategy, TypedFunc};

/// Workloads and the argument each is benchmarked with (a tenth or so of the default size in
/// `benches/programs/README.md`, so a call takes milliseconds in the interpreter).
const PROGRAMS: &[(&str, i32)] = &[
    ("fib", 25),
    ("sieve", 400_000),
    ("nbody", 20_000),
    ("mandelbrot", 200),
    ("matmul", 100),
    ("hash", 400_000),
    ("sort", 20_000),
    ("vm", 1_000),
    ("bintree", 10_000),
    ("list", 10_000),
    ("base64", 200_000),
    ("indirect", 200_000),
];

/// The tiers this machine has, by CLI name.
fn tiers() -> Vec<(&'static str, Strategy)> {
    [
        Strategy::Interpreter,
        Strategy::Baseline,
        Strategy::Optimizing,
        Strategy::Tiered,
    ]
    .into_iter()
    .filter(|&s| {
        let mut config = Config::new();
        config.strategy(s);
        Engine::new(&config).is_ok()
    })
    .map(|s| (s.name(), s))
    .collect()
}

fn engine(strategy: Strategy) -> Engine {
    let mut config = Config::new();
    config.strategy(strategy);
    Engine::new(&config).expect("tier available")
}

fn program(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/benches/programs/{name}.wasm",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn instantiate_run(engine: &Engine, bytes: &[u8]) -> (Store<()>, TypedFunc<i32, i32>) {
    let module = Module::new(engine, bytes).expect("valid workload");
    let mut store = Store::new(engine, ());
    let instance = Instance::new(&mut store, &module, &[]).expect("instantiates");
    let run = instance
        .get_typed_func::<i32, i32>(&mut store, "run")
        .expect("exports run(i32) -> i32");
    (store, run)
}

fn run_programs(c: &mut Criterion) {
    for &(name, n) in PROGRAMS {
        let bytes = program(name);
        let mut group = c.benchmark_group(format!("run/{name}"));
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(2));
        let mut expected = None;
        for (tier, strategy) in tiers() {
            let engine = engine(strategy);
            let (mut store, run) = instantiate_run(&engine, &bytes);
            let result = run.call(&mut store, n).expect("runs");
            assert_eq!(*expected.get_or_insert(result), result, "{name} on {tier}");
            group.bench_function(tier, |b| b.iter(|| run.call(&mut store, n).unwrap()));
        }
        group.finish();
    }
}

fn compile_speed(c: &mut Criterion) {
    for name in ["medium", "large"] {
        let bytes = program(name);
        let mut group = c.benchmark_group(format!("compile/{name}"));
        group.sample_size(10);
        let code_size = Module::new(&engine(Strategy::Interpreter), &bytes)
            .expect("valid")
            .code_size();
        group.throughput(Throughput::Bytes(code_size as u64));
        for (tier, strategy) in tiers() {
            let compile: fn(&Module) -> strata::Result<()> = match strategy {
                Strategy::Interpreter => Module::translate_interp_eagerly,
                Strategy::Baseline => Module::compile_baseline_eagerly,
                _ => continue,
            };
            let engine = engine(strategy);
            group.bench_function(tier, |b| {
                b.iter_batched(
                    || Module::new(&engine, &bytes).unwrap(),
                    |module| compile(&module).unwrap(),
                    BatchSize::PerIteration,
                )
            });
        }
        group.finish();
    }
}

/// A module with a memory, a table and `n` functions, all in the table.
fn many_functions_wat(n: usize) -> String {
    let mut wat = format!("(module (memory 1) (table {n} funcref)\n");
    for i in 0..n {
        wat +=
            &format!("  (func $f{i} (param i32) (result i32) local.get 0 i32.const {i} i32.add)\n");
    }
    wat += "  (elem (i32.const 0) func";
    for i in 0..n {
        wat += &format!(" $f{i}");
    }
    wat += ")\n  (export \"f0\" (func $f0)))";
    wat
}

fn instantiation(c: &mut Criterion) {
    let wat = many_functions_wat(1000);
    let mut group = c.benchmark_group("instantiate");
    for (tier, strategy) in tiers() {
        let engine = engine(strategy);
        let module = Module::new(&engine, &wat).expect("valid");
        group.bench_function(format!("1000-functions/{tier}"), |b| {
            b.iter(|| {
                let mut store = Store::new(&engine, ());
                Instance::new(&mut store, &module, &[]).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, run_programs, compile_speed, instantiation);
criterion_main!(benches);
