//! wasmi on one program, in its own process: `wasmi-runner FILE N RUNS eager|lazy` prints
//! `{"first":..,"first_ns":..,"median_ns":..}` (the harness's child-process format).
//!
//! A binary of its own so that wasmi's machine code is laid out the same whatever changes
//! in Strata: linked into the harness, wasmi moved with every Strata commit, and its times
//! with it (10-15% per workload between two Strata commits that did not touch wasmi).

#[path = "../measure.rs"]
mod measure;

use anyhow::{Context, Result, bail};
use measure::{Caller, Runtime};

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
    fn start(&self, bytes: &[u8], n: i32) -> Result<(i32, Caller)> {
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

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, n, runs, mode] = &args[..] else {
        bail!("usage: wasmi-runner FILE N RUNS eager|lazy");
    };
    let lazy = match mode.as_str() {
        "eager" => false,
        "lazy" => true,
        other => bail!("unknown mode {other}: eager or lazy"),
    };
    let bytes = std::fs::read(file).with_context(|| format!("reading {file}"))?;
    let m = measure::measure(&Wasmi { lazy }, &bytes, n.parse()?, runs.parse()?)?;
    println!(
        "{{\"first\":{},\"first_ns\":{},\"median_ns\":{}}}",
        m.first,
        m.first_time.as_nanos(),
        m.median.as_nanos()
    );
    Ok(())
}
