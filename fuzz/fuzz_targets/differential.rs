//! Differential fuzzing of Strata's tiers: the fuzzer's bytes drive wasm-smith (through
//! `arbitrary`) into a Wasm 2.0 module, which must behave the same under every tier. The
//! generator, the tiers and the comparison are `tests/differential/compare.rs`, shared
//! with `tests/differential.rs`; a difference panics with its description and the module
//! as text.
//!
//! Run from `fuzz/` with a nightly toolchain: `cargo fuzz run differential`.

#![no_main]

#[path = "../../tests/differential/compare.rs"]
mod compare;

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// The engines, made once per process.
static TIERS: OnceLock<Vec<compare::Tier>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(wasm) = compare::generate(&mut Unstructured::new(data)) else {
        return;
    };
    let tiers = TIERS.get_or_init(compare::tiers);
    // A thread with room for `compare::MAX_WASM_STACK` of wasm (and the host around it).
    let outcome = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(8 * compare::MAX_WASM_STACK)
            .spawn_scoped(scope, || {
                compare::compare(tiers, &wasm, &mut compare::Stats::default())
            })
            .expect("spawn the comparing thread")
            .join()
    });
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(difference)) => {
            let wat = wasmprinter::print_bytes(&wasm)
                .unwrap_or_else(|e| format!("(wasmprinter failed: {e})"));
            panic!("tiers differ: {difference}\nmodule:\n{wat}");
        }
        Err(panic) => std::panic::resume_unwind(panic),
    }
});
