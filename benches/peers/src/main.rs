//! The project's workloads on every Strata tier and on peer runtimes, one after the other:
//! wasmtime (Cranelift and Winch) in this process, wasmi (eager and lazy translation) in a
//! child process of its own binary (`src/bin/wasmi-runner.rs`, so that its code's placement
//! does not move with Strata's) and, when `node` is installed, V8.
//!
//! ```text
//! cargo build --release && target/release/strata-peers [--runs N] [PROGRAM...]
//! ```
//!
//! For each program (default: all of `../programs`) and runtime: the time from bytes to the
//! first result (engine, compile, instantiate, first call; the median of up to five rounds
//! from scratch within three seconds, V8 one round in a fresh process), then the median of
//! `--runs` further calls on the same instance. Strata runs each tier, plus tiered with
//! lazy validation (`strata-tiered-lazy`, the counterpart of `wasmi-lazy`). Prints one Markdown table per measure with ratios to the
//! fastest, and checks every runtime returned the program's checksum from
//! `../programs/checksums.txt`.

mod measure;

use anyhow::{Context, Result, bail};
use measure::{Caller, Runtime};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    fn start(&self, bytes: &[u8], n: i32) -> Result<(i32, Caller)> {
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
    fn start(&self, bytes: &[u8], n: i32) -> Result<(i32, Caller)> {
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
    let mut node = std::process::Command::new("node");
    node.args(["-e", NODE_SCRIPT, "--"])
        .arg(file)
        .arg(n.to_string())
        .arg(runs.to_string());
    run_child(node)
}

/// wasmi (`lazy` or eager) on `file`, in a child process of `wasmi-runner`.
fn run_wasmi(file: &Path, n: i32, runs: usize, lazy: bool) -> Result<(i32, Duration, Duration)> {
    let exe = std::env::current_exe()?.with_file_name("wasmi-runner");
    let mut runner = std::process::Command::new(&exe);
    runner
        .arg(file)
        .arg(n.to_string())
        .arg(runs.to_string())
        .arg(if lazy { "lazy" } else { "eager" });
    run_child(runner).with_context(|| format!("{} (built by cargo build --release)", exe.display()))
}

/// Runs a child that prints `{"first":..,"first_ns":..,"median_ns":..}`.
fn run_child(mut command: std::process::Command) -> Result<(i32, Duration, Duration)> {
    let out = command.output()?;
    if !out.status.success() {
        bail!(
            "{:?}: {}",
            command.get_program(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8(out.stdout)?;
    let field = |name: &str| -> Result<i64> {
        let start = text.find(&format!("\"{name}\":")).context("child output")? + name.len() + 3;
        let end = text[start..]
            .find([',', '}'])
            .map(|e| start + e)
            .context("child output")?;
        Ok(text[start..end].trim().parse()?)
    };
    Ok((
        field("first")? as i32,
        Duration::from_nanos(field("first_ns")? as u64),
        Duration::from_nanos(field("median_ns")? as u64),
    ))
}

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
        if let [name, n, sum] = parts[..]
            && !defaults.contains_key(name)
        {
            defaults.insert(name.to_string(), (n.parse()?, sum.parse()?));
            order.push(name.to_string());
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
    let wasmi_runner = std::env::current_exe()?.with_file_name("wasmi-runner");
    if !wasmi_runner.exists() {
        bail!(
            "{} is missing: `cargo build --release` builds it with this harness \
             (`cargo run` builds only the harness)",
            wasmi_runner.display()
        );
    }
    let node = node_available();

    let mut names: Vec<String> = runtimes.iter().map(|r| r.name()).collect();
    names.extend(["wasmi-eager".to_string(), "wasmi-lazy".to_string()]);
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
            let m = measure::measure(runtime.as_ref(), &bytes, n, runs)
                .with_context(|| format!("{program} on {}", runtime.name()))?;
            record(
                &mut table,
                program,
                &runtime.name(),
                checksum,
                (m.first, m.first_time, m.median),
            )?;
        }
        for lazy in [false, true] {
            let name = if lazy { "wasmi-lazy" } else { "wasmi-eager" };
            let m =
                run_wasmi(&file, n, runs, lazy).with_context(|| format!("{program} on {name}"))?;
            record(&mut table, program, name, checksum, m)?;
        }
        if node {
            let m = run_node(&file, n, runs)?;
            record(&mut table, program, "node-v8", checksum, m)?;
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

/// Checks one runtime's result on `program` against its checksum, reports and keeps its
/// times.
fn record(
    table: &mut BTreeMap<(String, String), Row>,
    program: &str,
    name: &str,
    checksum: i32,
    (first, first_time, median): (i32, Duration, Duration),
) -> Result<()> {
    if first != checksum {
        bail!("{program} on {name}: {first}, expected {checksum}");
    }
    eprintln!("{program:>10} {name:<20} first {first_time:>10.3?} median {median:>10.3?}");
    table.insert(
        (program.to_string(), name.to_string()),
        Row {
            first: first_time,
            median,
        },
    );
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
