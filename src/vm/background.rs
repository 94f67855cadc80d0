//! Background compilation with the optimizing tier, and the tiering log.
//!
//! Hot functions are queued by the `tier_up` builtin (each function at most once per module)
//! and compiled by a pool of worker threads owned by the engine, hottest first, so no thread
//! running wasm ever waits for Cranelift. A finished function is installed with one release store into
//! its module's code table: every instance on every thread calls it from its next call on,
//! while frames already running in the baseline finish there.
//!
//! Heat is how quickly a function spent its baseline budget after its baseline code was
//! installed. Jobs wait in a priority queue; a crossbeam channel carries one wake-up per job
//! to the workers.
//!
//! Jobs hold their module weakly: a module dropped while queued is skipped, and one dropped
//! while compiling is freed by the worker when it finishes. Dropping the engine closes the
//! channel; the workers then exit on their own (nothing joins them, so nothing can hang).

use crate::module::ModuleInner;
use crossbeam_channel::{Receiver, Sender};
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// A function to compile with the optimizing tier.
struct Job {
    module: Weak<ModuleInner>,
    defined: u32,
    /// Whether the job is the function's on-stack-replacement variant (for activations
    /// running in the baseline) rather than its code for new calls.
    osr: bool,
    queued: Instant,
    /// How long the function took to spend its budget in the baseline: shorter is hotter.
    heat: Duration,
    /// Submission order, to keep equally hot jobs first come, first served.
    seq: u64,
}

impl PartialEq for Job {
    fn eq(&self, other: &Job) -> bool {
        (self.heat, self.seq) == (other.heat, other.seq)
    }
}
impl Eq for Job {}
impl PartialOrd for Job {
    fn partial_cmp(&self, other: &Job) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Job {
    /// The max-heap's greatest element is the hottest (shortest heat), then the oldest.
    fn cmp(&self, other: &Job) -> std::cmp::Ordering {
        (other.heat, other.seq).cmp(&(self.heat, self.seq))
    }
}

/// Jobs waiting, hottest first; the channel carries one wake-up per job.
struct Queue {
    jobs: Mutex<(BinaryHeap<Job>, u64)>,
}

/// The engine's compile workers (started on the first request).
pub(crate) struct BackgroundCompiler {
    /// Worker count (`None`: one per CPU; counting them costs a few syscalls, so it waits
    /// for the first request).
    threads: Option<usize>,
    queue: Arc<Queue>,
    wake: Mutex<Option<Sender<()>>>,
}

impl BackgroundCompiler {
    pub(crate) fn new(threads: Option<usize>) -> BackgroundCompiler {
        BackgroundCompiler {
            threads,
            queue: Arc::new(Queue {
                jobs: Mutex::new((BinaryHeap::new(), 0)),
            }),
            wake: Mutex::new(None),
        }
    }

    /// Queues defined function `defined` of `module` (or, with `osr`, its on-stack-
    /// replacement variant) for the optimizing tier; `heat` is how long it took to run out
    /// of its baseline budget (the hottest compile first). Under
    /// `Config::synchronous_tier_up` the job runs here and now instead.
    pub(crate) fn submit(
        &self,
        module: &Arc<ModuleInner>,
        defined: u32,
        osr: bool,
        heat: Duration,
    ) {
        let synchronous = module.engine.config().synchronous_tier_up;
        let module = Arc::downgrade(module);
        if synchronous {
            let (queued, seq) = (Instant::now(), 0);
            return compile(Job {
                module,
                defined,
                osr,
                queued,
                heat,
                seq,
            });
        }
        {
            let mut jobs = self.queue.jobs.lock().unwrap_or_else(|e| e.into_inner());
            let seq = jobs.1;
            jobs.1 += 1;
            jobs.0.push(Job {
                module,
                defined,
                osr,
                queued: Instant::now(),
                heat,
                seq,
            });
        }
        let mut wake = self.wake.lock().unwrap_or_else(|e| e.into_inner());
        let sender = wake.get_or_insert_with(|| self.start());
        // The receivers live as long as the workers, which outlive every sender.
        let _ = sender.send(());
    }

    /// Starts the workers and returns the channel that wakes them. The thread asking pays
    /// for one thread's start: the first worker counts the CPUs (a few syscalls and file
    /// reads) and starts the others.
    fn start(&self) -> Sender<()> {
        let (sender, receiver) = crossbeam_channel::unbounded();
        let (threads, queue) = (self.threads, self.queue.clone());
        spawn_worker(0, receiver.clone(), queue.clone(), move || {
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
                .max(1);
            for i in 1..threads {
                spawn_worker(i, receiver.clone(), queue.clone(), || {});
            }
        });
        sender
    }
}

/// Starts compile worker `i`, which runs `first` and then compiles jobs until the channel
/// closes. Without workers a function simply stays in the baseline.
fn spawn_worker(
    i: usize,
    receiver: Receiver<()>,
    queue: Arc<Queue>,
    first: impl FnOnce() + Send + 'static,
) {
    let spawned = std::thread::Builder::new()
        .name(format!("strata-compile-{i}"))
        .spawn(move || {
            first();
            while receiver.recv().is_ok() {
                let job = queue.jobs.lock().unwrap_or_else(|e| e.into_inner()).0.pop();
                if let Some(job) = job {
                    compile(job);
                }
            }
        });
    drop(spawned);
}

fn compile(job: Job) {
    let Some(module) = job.module.upgrade() else {
        return; // dropped while queued
    };
    if module.engine.config().tiering_log {
        eprintln!(
            "[strata tiering] {}: compiling after {:.2?} queued",
            func_label(&module, job.defined),
            job.queued.elapsed()
        );
    }
    // Logs its own outcome; a function that fails to compile stays in the baseline.
    if job.osr {
        super::osr::compile_optimizing_osr(&module, job.defined);
    } else {
        let _ = super::tiering::compile_optimizing(&module, job.defined);
    }
}

/// Prints one tier change (or failed attempt) to stderr.
pub(crate) fn log_tier_change(
    module: &ModuleInner,
    defined: u32,
    from: &str,
    to: &str,
    compile_time: std::time::Duration,
    error: Option<&str>,
) {
    let func = func_label(module, defined);
    match error {
        None => eprintln!("[strata tiering] {func}: {from} -> {to} in {compile_time:.2?}"),
        Some(why) => eprintln!(
            "[strata tiering] {func}: {from} -> {to} failed after {compile_time:.2?}: {why}"
        ),
    }
}

/// `func INDEX` or `func INDEX NAME`, as tiering log lines name functions.
pub(crate) fn func_label(module: &ModuleInner, defined: u32) -> String {
    let index = module.info.func_index(defined);
    match module.info.func_name(index) {
        Some(name) => format!("func {index} {name}"),
        None => format!("func {index}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hottest_jobs_come_out_first_then_the_oldest() {
        let job = |heat_ms, seq| Job {
            module: Weak::new(),
            defined: seq as u32,
            osr: false,
            queued: Instant::now(),
            heat: Duration::from_millis(heat_ms),
            seq,
        };
        let mut heap = BinaryHeap::new();
        for (heat, seq) in [(50, 0), (5, 1), (500, 2), (5, 3)] {
            heap.push(job(heat, seq));
        }
        let order: Vec<u32> = std::iter::from_fn(|| heap.pop().map(|j| j.defined)).collect();
        assert_eq!(order, [1, 3, 0, 2]);
    }
}
