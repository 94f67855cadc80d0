//! Background compilation with the optimizing tier, and the tiering log.
//!
//! Hot functions are queued by the `tier_up` builtin (each function at most once per module)
//! and compiled by a pool of worker threads owned by the engine, so no thread running wasm
//! ever waits for Cranelift. A finished function is installed with one release store into
//! its module's code table: every instance on every thread calls it from its next call on,
//! while frames already running in the baseline finish there.
//!
//! Jobs hold their module weakly: a module dropped while queued is skipped, and one dropped
//! while compiling is freed by the worker when it finishes. Dropping the engine closes the
//! queue; the workers then exit on their own (nothing joins them, so nothing can hang).

use crate::module::ModuleInner;
use crossbeam_channel::{Receiver, Sender};
use std::sync::{Mutex, Weak};
use std::time::Instant;

/// A function to compile with the optimizing tier.
struct Job {
    module: Weak<ModuleInner>,
    defined: u32,
    queued: Instant,
}

/// The engine's compile workers (started on the first request).
pub(crate) struct BackgroundCompiler {
    threads: usize,
    queue: Mutex<Option<Sender<Job>>>,
}

impl BackgroundCompiler {
    pub(crate) fn new(threads: usize) -> BackgroundCompiler {
        BackgroundCompiler {
            threads: threads.max(1),
            queue: Mutex::new(None),
        }
    }

    /// Queues defined function `defined` of `module` for the optimizing tier.
    pub(crate) fn submit(&self, module: Weak<ModuleInner>, defined: u32) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let sender = queue.get_or_insert_with(|| self.start());
        // The receivers live as long as the workers, which outlive every sender.
        let _ = sender.send(Job {
            module,
            defined,
            queued: Instant::now(),
        });
    }

    fn start(&self) -> Sender<Job> {
        let (sender, receiver) = crossbeam_channel::unbounded();
        for i in 0..self.threads {
            let receiver: Receiver<Job> = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("strata-compile-{i}"))
                .spawn(move || {
                    while let Ok(job) = receiver.recv() {
                        compile(job);
                    }
                });
            // Without workers the function simply stays in the baseline.
            drop(spawned);
        }
        sender
    }
}

fn compile(job: Job) {
    let Some(module) = job.module.upgrade() else {
        return; // dropped while queued
    };
    if module.engine.config().tiering_log {
        let index = module.info.func_index(job.defined);
        eprintln!(
            "[strata tiering] func {index}: compiling after {:.2?} queued",
            job.queued.elapsed()
        );
    }
    // Logs its own outcome; a function that fails to compile stays in the baseline.
    let _ = super::tiering::compile_optimizing(&module, job.defined);
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
    let index = module.info.func_index(defined);
    let name = module.info.func_name(index).unwrap_or("");
    match error {
        None => {
            eprintln!("[strata tiering] func {index} {name}: {from} -> {to} in {compile_time:.2?}")
        }
        Some(why) => eprintln!(
            "[strata tiering] func {index} {name}: {from} -> {to} failed after \
             {compile_time:.2?}: {why}"
        ),
    }
}
