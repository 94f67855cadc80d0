//! Chooses how the executor's handlers continue (see `src/exec/mod.rs`): by tail calls when
//! the crate is optimized without debug assertions, through a trampoline loop otherwise.
//!
//! LLVM turns a handler's call of the next handler into a jump from opt-level 2 up, but only
//! when the handler takes no local's address; the standard library's debug-assertion checks
//! (of `ptr::read_unaligned`, for one) do, and then each call would stay a call and grow the
//! native stack with every instruction run.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(strata_tail_calls)");
    println!("cargo::rerun-if-env-changed=OPT_LEVEL");
    let optimized = matches!(
        std::env::var("OPT_LEVEL").unwrap_or_default().as_str(),
        "2" | "3"
    );
    let debug_assertions = std::env::var_os("CARGO_CFG_DEBUG_ASSERTIONS").is_some();
    if optimized && !debug_assertions {
        println!("cargo::rustc-cfg=strata_tail_calls");
    }
}
