//! The project's workloads on every Strata tier and on peer runtimes, in one process, one
//! after the other: wasmtime (Cranelift and Winch), wasmi (eager and lazy translation) and,
//! when `node` is installed, V8.
//!
//! ```text
//! cargo run --release -- [--runs N] [PROGRAM...]
//! ```
//!
//! For each program (default: all of `../programs`) and runtime: the time from bytes to the
//! first result (engine, compile, instantiate, first call; the median of up to five rounds
//! from scratch within three seconds, V8 one round in a fresh process), then the median of
//! `--runs` further calls on the same instance. Strata runs each tier, plus tiered with
//! lazy validation (`strata-tiered-lazy`, the counterpart of `wasmi-lazy`). Prints one Markdown table per measure with ratios to the
//! fastest, and checks every runtime returned the program's checksum from
//! `../programs/checksums.txt`.

use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One runtime under test: compile, instantiate and call `run(n)` repeatedly.
trait Runtime {
    fn name(&self) -> String;
    /// Compiles and instantiates `bytes`, calls `run(n)` once; returns a caller for more.
    fn start(&self, bytes: &[u8], n: i32) -> Result<(i32, Box<dyn FnMut(i32) -> Result<i32>>)>;
}

struct Strata {
    strategy: strata::Strategy,
    /// `Config::lazy_validation`: bodies validated on first use, like wasmi's lazy mode.
    lazy: bool,
}

impl Runtime for Strata {
    fn name(&self) -> String {
        let lazy = if self.lazy { "-lazy" } else { "" };
        format!("strata-{}{lazy}", self.strategy.name())
    }
    fn start(&self, bytes: &[u8], n: i32) -> Result<(i32, Box<dyn FnMut(i32) -> Result<i32>>)> {
        let mut config = strata::Config::new();
        config.strategy(self.strategy).lazy_validation(self.lazy);
        let engine = strata::Engine::new(&config)?;
        let module = strata::Module::new(&engine, bytes)?;
        let mut store = strata::Store::new(&engine, ());
        let instance = strata::Instance::new(&mut store, &module, &[])?;
        let run = instance.get_typed_func::<i32, i32>(&mut store, "run")?;
        let first = run.call(&mut store, n)?;
        Ok((first, Box::new(move |n| run.call(&mut store, n))))
    }
}

struct Wasmtime {
    winch: bool,
}

impl Runtime for Wasmtime {
    fn name(&self) -> String {
        if self.winch {
            "wasmtime-winch"
        } else {
            "wasmtime-cranelift"
        }
        .to_string()
    }
    fn start(&self, bytes: &[u8], n: i32) -> Result<(i32, Box<dyn FnMut(i32) -> Result<i32>>)> {
        let mut config = wasmtime::Config::new();
        config.strategy(if self.winch {
            wasmtime::Strategy::Winch
        } else {
            wasmtime::Strategy::Cranelift
        });
        let engine = wt(wasmtime::Engine::new(&config))?;
        let module = wt(wasmtime::Module::new(&engine, bytes))?;
        let mut store = wasmtime::Store::new(&engine, ());
        let instance = wt(wasmtime::Instance::new(&mut store, &module, &[]))?;
        let run = wt(instance.get_typed_func::<i32, i32>(&mut store, "run"))?;
        let first = wt(run.call(&mut store, n))?;
        Ok((first, Box::new(move |n| wt(run.call(&mut store, n)))))
    }
}

/// wasmtime's own error type, as an `anyhow::Error`.
fn wt<T>(result: wasmtime::Result<T>) -> Result<T> {
    result.map_err(|e| anyhow::anyhow!("{e:?}"))
}

struct Wasmi {
    lazy: bool,
}

impl Runtime for Wasmi {
    fn name(&self) -> String {
        if self.lazy {
            "wasmi-lazy"
        } else {
            "wasmi-eager"
        }
        .to_string()
    }
    fn start(&self, bytes: &[u8], n: i32) -> Result<(i32, Box<dyn FnMut(i32) -> Result<i32>>)> {
        let mut config = wasmi::Config::default();
        config.compilation_mode(if self.lazy {
            wasmi::CompilationMode::Lazy
        } else {
            wasmi::CompilationMode::Eager
        });
        let engine = wasmi::Engine::new(&config);
        let module = wasmi::Module::new(&engine, bytes)?;
        let mut store = wasmi::Store::new(&engine, ());
        let instance =
            wasmi::Linker::<()>::new(&engine).instantiate_and_start(&mut store, &module)?;
        let run = instance.get_typed_func::<i32, i32>(&store, "run")?;
        let first = run.call(&mut store, n)?;
        Ok((first, Box::new(move |n| Ok(run.call(&mut store, n)?))))
    }
}

// V8 runs through `node`, in a child process that reports its own timings.
const NODE_SCRIPT: &str = r#"
const fs = require('fs');
const [file, n, runs] = process.argv.slice(1);
const bytes = fs.readFileSync(file);
const t0 = process.hrtime.bigint();
const { instance } = { instance: new WebAssembly.Instance(new WebAssembly.Module(bytes), {}) };
const first = instance.exports.run(Number(n));
const t1 = process.hrtime.bigint();
const times = [];
for (let i = 0; i < Number(runs); i++) {
  const s = process.hrtime.bigint();
  const r = instance.exports.run(Number(n));
  if (r !== first) throw new Error('different result');
  times.push(Number(process.hrtime.bigint() - s));
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ first, first_ns: Number(t1 - t0), median_ns: times[times.length >> 1] }));
"#;

fn node_available() -> bool {
    std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run_node(file: &Path, n: i32, runs: usize) -> Result<(i32, Duration, Duration)> {
    let out = std::process::Command::new("node")
        .args(["-e", NODE_SCRIPT, "--"])
        .arg(file)
        .arg(n.to_string())
        .arg(runs.to_string())
        .output()?;
    if !out.status.success() {
        bail!("node: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8(out.stdout)?;
    let field = |name: &str| -> Result<i64> {
        let start = text.find(&format!("\"{name}\":")).context("node output")? + name.len() + 3;
        let end = text[start..]
            .find([',', '}'])
            .map(|e| start + e)
            .context("node output")?;
        Ok(text[start..end].trim().parse()?)
    };
    Ok((
        field("first")? as i32,
        Duration::from_nanos(field("first_ns")? as u64),
        Duration::from_nanos(field("median_ns")? as u64),
    ))
}

/// Rounds of bytes-to-first-result per runtime and program (fewer when they take longer
/// than the budget together).
const FIRST_RESULT_ROUNDS: usize = 5;
const FIRST_RESULT_BUDGET: Duration = Duration::from_secs(3);

struct Row {
    first: Duration,
    median: Duration,
}

fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 9;
    if let Some(i) = args.iter().position(|a| a == "--runs") {
        runs = args.get(i + 1).context("--runs N")?.parse()?;
        args.drain(i..i + 2);
    }
    let programs_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../programs");
    let checksums = std::fs::read_to_string(programs_dir.join("checksums.txt"))?;
    // First line per name: the default size and its checksum.
    let mut defaults: BTreeMap<String, (i32, i32)> = BTreeMap::new();
    let mut order = Vec::new();
    for line in checksums.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let [name, n, sum] = parts[..] {
            if !defaults.contains_key(name) {
                defaults.insert(name.to_string(), (n.parse()?, sum.parse()?));
                order.push(name.to_string());
            }
        }
    }
    let programs: Vec<String> = if args.is_empty() { order } else { args };

    let mut runtimes: Vec<Box<dyn Runtime>> = Vec::new();
    for strategy in [
        strata::Strategy::Interpreter,
        strata::Strategy::Baseline,
        strata::Strategy::Optimizing,
        strata::Strategy::Tiered,
    ] {
        let mut config = strata::Config::new();
        config.strategy(strategy);
        if strata::Engine::new(&config).is_ok() {
            runtimes.push(Box::new(Strata {
                strategy,
                lazy: false,
            }));
        }
    }
    runtimes.push(Box::new(Strata {
        strategy: strata::Strategy::Tiered,
        lazy: true,
    }));
    runtimes.push(Box::new(Wasmtime { winch: false }));
    runtimes.push(Box::new(Wasmtime { winch: true }));
    runtimes.push(Box::new(Wasmi { lazy: false }));
    runtimes.push(Box::new(Wasmi { lazy: true }));
    let node = node_available();

    let mut names: Vec<String> = runtimes.iter().map(|r| r.name()).collect();
    if node {
        names.push("node-v8".to_string());
    }
    let mut table: BTreeMap<(String, String), Row> = BTreeMap::new();
    for program in &programs {
        let (n, checksum) = *defaults
            .get(program)
            .with_context(|| format!("unknown program {program}"))?;
        let file = programs_dir.join(format!("{program}.wasm"));
        let bytes = std::fs::read(&file)?;
        for runtime in &runtimes {
            // Bytes to first result, from scratch each round (engine, module, instance,
            // call); the median of up to FIRST_RESULT_ROUNDS rounds within the time budget,
            // so no runtime is measured alone on a cold process heap.
            let mut first_times = Vec::new();
            let budget = Instant::now();
            let mut call = loop {
                let start = Instant::now();
                let (first, call) = runtime
                    .start(&bytes, n)
                    .with_context(|| format!("{program} on {}", runtime.name()))?;
                first_times.push(start.elapsed());
                if first != checksum {
                    bail!(
                        "{program} on {}: {first}, expected {checksum}",
                        runtime.name()
                    );
                }
                if first_times.len() >= FIRST_RESULT_ROUNDS
                    || budget.elapsed() > FIRST_RESULT_BUDGET
                {
                    break call;
                }
            };
            first_times.sort();
            let first_time = first_times[first_times.len() / 2];
            let mut times = Vec::with_capacity(runs);
            for _ in 0..runs {
                let s = Instant::now();
                let r = call(n)?;
                times.push(s.elapsed());
                if r != checksum {
                    bail!("{program} on {}: {r} on a later call", runtime.name());
                }
            }
            times.sort();
            eprintln!(
                "{program:>10} {:<20} first {:>10.3?} median {:>10.3?}",
                runtime.name(),
                first_time,
                times[runs / 2]
            );
            table.insert(
                (program.clone(), runtime.name()),
                Row {
                    first: first_time,
                    median: times[runs / 2],
                },
            );
        }
        if node {
            let (first, first_time, median) = run_node(&file, n, runs)?;
            if first != checksum {
                bail!("{program} on node: {first}, expected {checksum}");
            }
            eprintln!(
                "{program:>10} {:<20} first {:>10.3?} median {:>10.3?}",
                "node-v8", first_time, median
            );
            table.insert(
                (program.clone(), "node-v8".to_string()),
                Row {
                    first: first_time,
                    median,
                },
            );
        }
    }

    for (title, pick) in [
        (
            "Steady state: median of repeated calls, ms",
            (|r: &Row| r.median) as fn(&Row) -> Duration,
        ),
        (
            "Bytes to first result (compile, instantiate, first call), ms",
            |r: &Row| r.first,
        ),
    ] {
        println!("\n### {title}\n");
        println!("| program | {} |", names.join(" | "));
        println!("|---|{}", "---:|".repeat(names.len()));
        let mut logs = vec![0f64; names.len()];
        for program in &programs {
            let cells: Vec<String> = names
                .iter()
                .enumerate()
                .map(
                    |(i, name)| match table.get(&(program.clone(), name.clone())) {
                        Some(row) => {
                            let ms = pick(row).as_secs_f64() * 1e3;
                            logs[i] += ms.max(1e-6).ln();
                            format!("{ms:.3}")
                        }
                        None => "-".to_string(),
                    },
                )
                .collect();
            println!("| {program} | {} |", cells.join(" | "));
        }
        let geomeans: Vec<String> = logs
            .iter()
            .map(|l| format!("{:.3}", (l / programs.len() as f64).exp()))
            .collect();
        println!("| **geomean** | {} |", geomeans.join(" | "));
    }
    print_tiered_totals(&programs, &table, runs);
    Ok(())
}

/// The tiered target's table: for each program, strata-tiered's total time for this run
/// length (first result plus `runs` steady-state calls) against the best forced Strata tier's.
fn print_tiered_totals(programs: &[String], table: &BTreeMap<(String, String), Row>, runs: usize) {
    let total = |program: &String, name: &str| {
        let row = table.get(&(program.clone(), name.to_string()))?;
        Some((row.first + row.median * runs as u32).as_secs_f64() * 1e3)
    };
    println!(
        "
### Tiered total time (first result + {runs} calls) vs the best forced tier, ms
"
    );
    println!("| program | strata-tiered | best forced tier | its total | ratio |");
    println!("|---|---:|---|---:|---:|");
    for program in programs {
        let forced = ["strata-interp", "strata-baseline", "strata-optimizing"]
            .into_iter()
            .filter_map(|name| Some((name, total(program, name)?)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        if let (Some(tiered), Some((best, best_total))) = (total(program, "strata-tiered"), forced)
        {
            let ratio = tiered / best_total;
            println!("| {program} | {tiered:.3} | {best} | {best_total:.3} | {ratio:.2} |");
        }
    }
}
