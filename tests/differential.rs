//! Differential test of the tiers: random modules from wasm-smith, each run under the
//! interpreter, the baseline JIT, the optimizing JIT (both JITs also with explicit bounds
//! checks) and tiered (every threshold at 1, so functions climb interpreter -> baseline ->
//! Cranelift mid-run), must behave identically: results, traps (instantiation included),
//! exported globals, memories and tables after every call. What "identically" means
//! exactly (NaN payloads from conversions, stack overflow) is in
//! `tests/differential/compare.rs`, shared with the cargo-fuzz target in `fuzz/`.
//!
//! The seeds are fixed, so a failure reproduces: the message names the seed, the
//! difference and the module as text (the binary is saved in the temp directory). The
//! summary line gives the modules and calls compared. Environment knobs:
//! `STRATA_DIFF_SEEDS=FROM..TO` runs other seeds (a long run in release:
//! `STRATA_DIFF_SEEDS=0..100000 cargo test --release --test differential -- --nocapture`),
//! `STRATA_DIFF_VERBOSE=1` prints every instantiation and call, `STRATA_DIFF_WAT=1` every
//! module.

#[path = "differential/compare.rs"]
mod compare;

use arbitrary::Unstructured;
use std::io::Write as _;
use std::time::Instant;

/// Seeds run by default: about 1,860 modules and 18,700 calls (wasm-smith refuses about
/// 7% of the byte strings), in about 22 s in the dev profile on 2 cores.
const DEFAULT_SEEDS: std::ops::Range<u64> = 0..2000;

/// Stack of the thread running the modules: the runtime's own limit
/// (`compare::MAX_WASM_STACK`) must hit well before the thread's end.
const STACK: usize = 8 * compare::MAX_WASM_STACK;

/// The seed's bytes for wasm-smith: a SplitMix64 stream of 1 to 16 KiB (the length, drawn
/// from the seed too, decides how big the module gets).
fn seed_bytes(seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x2545_f491_4f6c_dd1d);
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let len = 1024 + (next() % (15 * 1024)) as usize;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        bytes.extend_from_slice(&next().to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

fn seeds() -> std::ops::Range<u64> {
    let Ok(spec) = std::env::var("STRATA_DIFF_SEEDS") else {
        return DEFAULT_SEEDS;
    };
    let parse = |s: &str| {
        s.trim()
            .parse::<u64>()
            .expect("STRATA_DIFF_SEEDS is FROM..TO")
    };
    let (from, to) = spec
        .split_once("..")
        .expect("STRATA_DIFF_SEEDS is FROM..TO");
    parse(from)..parse(to)
}

#[test]
fn tiers_agree_on_random_modules() {
    // Own thread for a known stack size.
    std::thread::Builder::new()
        .name("differential".into())
        .stack_size(STACK)
        .spawn(run)
        .unwrap()
        .join()
        .unwrap();
}

fn run() {
    let start = Instant::now();
    let tiers = compare::tiers();
    let mut stats = compare::Stats::default();
    let mut failures = Vec::new();
    let mut not_generated = 0;
    for seed in seeds() {
        let bytes = seed_bytes(seed);
        // wasm-smith refuses some byte strings ("not of the correct format"); those seeds
        // are counted and skipped, the same ones on every run.
        let Ok(wasm) = compare::generate(&mut Unstructured::new(&bytes)) else {
            not_generated += 1;
            continue;
        };
        if std::env::var_os("STRATA_DIFF_WAT").is_some() {
            eprintln!("seed {seed}:\n{}", wasmprinter::print_bytes(&wasm).unwrap());
        }
        if let Err(difference) = compare::compare(&tiers, &wasm, &mut stats) {
            let wat = wasmprinter::print_bytes(&wasm)
                .unwrap_or_else(|e| format!("(wasmprinter failed: {e})"));
            let path = std::env::temp_dir().join(format!("strata-differential-{seed}.wasm"));
            let saved = match std::fs::write(&path, &wasm) {
                Ok(()) => format!("saved as {}", path.display()),
                Err(e) => format!("not saved: {e}"),
            };
            eprintln!("seed {seed}: {difference}\nmodule ({saved}):\n{wat}\n");
            failures.push(format!("seed {seed}: {difference}"));
        }
    }
    // Straight to stderr, past the test harness's capture: the summary is wanted in
    // every run.
    let _ = writeln!(
        std::io::stderr(),
        "differential: seeds {:?} ({not_generated} refused by wasm-smith): {stats}; \
         {} differences; {:.1} s",
        seeds(),
        failures.len(),
        start.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {} modules behave differently across tiers:\n{}",
        failures.len(),
        stats.modules,
        failures.join("\n")
    );
    assert!(
        stats.calls > stats.modules,
        "too few calls compared ({stats}): is the generator producing callable exports?"
    );
}
