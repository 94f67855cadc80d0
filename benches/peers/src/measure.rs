//! How one runtime is measured on one program, shared by the harness and the runners it
//! starts in child processes (`src/bin/`).

use anyhow::{Result, bail};
use std::time::{Duration, Instant};

/// Calls `run(n)` on an instance a runtime started.
pub type Caller = Box<dyn FnMut(i32) -> Result<i32>>;

/// One runtime under test: compile, instantiate and call `run(n)` repeatedly.
pub trait Runtime {
    fn name(&self) -> String;
    /// Compiles and instantiates `bytes`, calls `run(n)` once; returns a caller for more.
    fn start(&self, bytes: &[u8], n: i32) -> Result<(i32, Caller)>;
}

/// Rounds of bytes-to-first-result per runtime and program (fewer when they take longer
/// than the budget together).
const FIRST_RESULT_ROUNDS: usize = 5;
const FIRST_RESULT_BUDGET: Duration = Duration::from_secs(3);

/// What one runtime did on one program: its first result, the time from bytes to it, and
/// the median of the further calls.
pub struct Measured {
    pub first: i32,
    pub first_time: Duration,
    pub median: Duration,
}

/// Measures `runtime` on `bytes` with `run(n)`: bytes to first result from scratch each
/// round (engine, module, instance, call), the median of up to `FIRST_RESULT_ROUNDS`
/// rounds within the time budget, so no runtime is measured alone on a cold process heap;
/// then the median of `runs` calls on the last instance, each checked against the first.
pub fn measure(runtime: &dyn Runtime, bytes: &[u8], n: i32, runs: usize) -> Result<Measured> {
    let mut first_times = Vec::new();
    let budget = Instant::now();
    let (first, mut call) = loop {
        let start = Instant::now();
        let (first, call) = runtime.start(bytes, n)?;
        first_times.push(start.elapsed());
        if first_times.len() >= FIRST_RESULT_ROUNDS || budget.elapsed() > FIRST_RESULT_BUDGET {
            break (first, call);
        }
    };
    first_times.sort();
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let s = Instant::now();
        let r = call(n)?;
        times.push(s.elapsed());
        if r != first {
            bail!(
                "{}: {r} on a later call, {first} on the first",
                runtime.name()
            );
        }
    }
    times.sort();
    Ok(Measured {
        first,
        first_time: first_times[first_times.len() / 2],
        median: times[runs / 2],
    })
}
