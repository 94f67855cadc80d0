//! `strata bench`: one workload on several tiers, side by side, in one process.
//!
//! For each tier: the time to load the module (validation and the runtime's own
//! translation), the time to compile every function eagerly with that tier's compiler (and
//! the throughput in MB of function bodies per second), the time from bytes to the first
//! result in a fresh engine (what a short-lived instance pays: lazy translation, tier-up and
//! all), and the median of repeated calls on one instance (steady state). Every tier must
//! return the same value.

use super::{format_val, load_module, parse_args, Failure, Tier};
use std::path::Path;
use std::time::{Duration, Instant};
use strata::{Config, Engine, Linker, Module, Store, Val};

/// What one tier measured.
struct Measurement {
    tier: Tier,
    load: Duration,
    /// Eager compilation of every function, if the tier has a compiler to time.
    compile: Option<Duration>,
    code_size: usize,
    first_result: Duration,
    median: Duration,
    runs: usize,
    result: Vec<Val>,
}

pub(crate) struct Options<'a> {
    pub(crate) tiers: Vec<Tier>,
    pub(crate) invoke: &'a str,
    pub(crate) file: &'a Path,
    pub(crate) args: &'a [String],
    pub(crate) runs: Option<usize>,
    pub(crate) json: bool,
    pub(crate) lazy_validation: bool,
}

/// Time spent on repeated calls per tier when `--runs` is not given.
const STEADY_BUDGET: Duration = Duration::from_secs(2);
const MIN_RUNS: usize = 5;
const MAX_RUNS: usize = 1000;

pub(crate) fn bench(options: &Options<'_>) -> Result<(), Failure> {
    let mut measurements = Vec::new();
    for &tier in &options.tiers {
        measurements.push(measure(tier, options)?);
    }
    let reference = &measurements[0];
    let agree = measurements
        .iter()
        .all(|m| same_results(&m.result, &reference.result));
    if options.json {
        print_json(&measurements, agree);
    } else {
        print_table(&measurements, agree);
    }
    if agree {
        Ok(())
    } else {
        Err(Failure::Runtime(anyhow::anyhow!(
            "the tiers returned different results"
        )))
    }
}

fn engine_for(tier: Tier, options: &Options<'_>) -> Result<Engine, Failure> {
    let mut config = Config::new();
    config
        .strategy(tier.strategy())
        .lazy_validation(options.lazy_validation);
    Engine::new(&config).map_err(|e| Failure::Usage(format!("--tiers {}: {e:#}", tier.name())))
}

fn measure(tier: Tier, options: &Options<'_>) -> Result<Measurement, Failure> {
    // Bytes to first result, in a fresh engine, lazily as a short-lived user would.
    let start = Instant::now();
    let engine = engine_for(tier, options)?;
    let module = load_module(&engine, options.file)?;
    let (_, _, result) = instantiate_and_call(&engine, &module, options)?;
    let first_result = start.elapsed();

    // Load and eager compilation, timed separately in another fresh engine.
    let engine = engine_for(tier, options)?;
    let start = Instant::now();
    let module = load_module(&engine, options.file)?;
    let load = start.elapsed();
    let start = Instant::now();
    let compiled = match tier {
        Tier::Interp => Some(module.translate_interp_eagerly()),
        Tier::Baseline => Some(module.compile_baseline_eagerly()),
        Tier::Optimizing => Some(module.compile_optimizing_eagerly()),
        _ => None,
    };
    let compile = match compiled {
        Some(Ok(())) => Some(start.elapsed()),
        Some(Err(e)) => return Err(Failure::Runtime(e)),
        None => None,
    };

    // Steady state: repeated calls on one instance.
    let (mut store, func, _) = instantiate_and_call(&engine, &module, options)?;
    let params = parse_args(&store, &func, options.invoke, options.args)?;
    let mut results = result.clone();
    let mut times = Vec::new();
    let budget_start = Instant::now();
    loop {
        let start = Instant::now();
        func.call(&mut store, &params, &mut results)
            .map_err(Failure::Runtime)?;
        times.push(start.elapsed());
        let done = match options.runs {
            Some(n) => times.len() >= n,
            None => {
                times.len() >= MAX_RUNS
                    || (times.len() >= MIN_RUNS && budget_start.elapsed() > STEADY_BUDGET)
            }
        };
        if done {
            break;
        }
    }
    if !same_results(&results, &result) {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "{}: a repeated call returned a different result",
            tier.name()
        )));
    }
    times.sort();
    Ok(Measurement {
        tier,
        load,
        compile,
        code_size: module.code_size(),
        first_result,
        median: times[times.len() / 2],
        runs: times.len(),
        result,
    })
}

fn instantiate_and_call(
    engine: &Engine,
    module: &Module,
    options: &Options<'_>,
) -> Result<(Store<()>, strata::Func, Vec<Val>), Failure> {
    let mut store = Store::new(engine, ());
    let instance = Linker::new(engine)
        .instantiate(&mut store, module)
        .map_err(Failure::Runtime)?;
    let name = options.invoke;
    let func = instance
        .get_func(&mut store, name)
        .ok_or_else(|| Failure::Usage(format!("unknown export `{name}`")))?;
    let params = parse_args(&store, &func, name, options.args)?;
    let mut results: Vec<Val> = func
        .ty(&store)
        .results()
        .map(|t| Val::default_for_ty(&t).unwrap_or(Val::I32(0)))
        .collect();
    func.call(&mut store, &params, &mut results)
        .map_err(Failure::Runtime)?;
    Ok((store, func, results))
}

fn same_results(a: &[Val], b: &[Val]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| format!("{x:?}") == format!("{y:?}"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn throughput(m: &Measurement) -> Option<f64> {
    m.compile
        .map(|c| m.code_size as f64 / 1e6 / c.as_secs_f64().max(1e-9))
}

fn print_table(measurements: &[Measurement], agree: bool) {
    let interp = measurements
        .iter()
        .find(|m| matches!(m.tier, Tier::Interp))
        .map(|m| m.median);
    println!(
        "{:<10} {:>10} {:>11} {:>12} {:>13} {:>12} {:>6} {:>10}  result",
        "tier",
        "load ms",
        "compile ms",
        "compile MB/s",
        "first res ms",
        "median ms",
        "runs",
        "vs interp"
    );
    for m in measurements {
        let compile = m
            .compile
            .map_or("-".to_string(), |c| format!("{:.3}", ms(c)));
        let mbps = throughput(m).map_or("-".to_string(), |t| format!("{t:.1}"));
        let ratio = interp.map_or("-".to_string(), |i| {
            format!(
                "{:.2}x",
                i.as_secs_f64() / m.median.as_secs_f64().max(1e-12)
            )
        });
        let result: Vec<String> = m.result.iter().map(format_val).collect();
        println!(
            "{:<10} {:>10.3} {:>11} {:>12} {:>13.3} {:>12.3} {:>6} {:>10}  {}",
            m.tier.name(),
            ms(m.load),
            compile,
            mbps,
            ms(m.first_result),
            ms(m.median),
            m.runs,
            ratio,
            result.join(" ")
        );
    }
    if !agree {
        println!("error: the tiers returned different results");
    }
}

fn print_json(measurements: &[Measurement], agree: bool) {
    let rows: Vec<String> = measurements
        .iter()
        .map(|m| {
            let result: Vec<String> = m
                .result
                .iter()
                .map(|v| format!("\"{}\"", format_val(v)))
                .collect();
            format!(
                "{{\"tier\":\"{}\",\"load_ms\":{:.6},\"compile_ms\":{},\"code_bytes\":{},\"compile_mb_per_s\":{},\"first_result_ms\":{:.6},\"median_ms\":{:.6},\"runs\":{},\"result\":[{}]}}",
                m.tier.name(),
                ms(m.load),
                m.compile.map_or("null".to_string(), |c| format!("{:.6}", ms(c))),
                m.code_size,
                throughput(m).map_or("null".to_string(), |t| format!("{t:.3}")),
                ms(m.first_result),
                ms(m.median),
                m.runs,
                result.join(",")
            )
        })
        .collect();
    println!("{{\"agree\":{agree},\"tiers\":[{}]}}", rows.join(","));
}
