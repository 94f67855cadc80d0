//! On-stack replacement at loop headers (see docs/architecture.md, "Tier-up"): the `osr`
//! builtin, through which an interpreter or baseline activation continues in better code,
//! and each function's optimized variant entered at its loops, compiled in the background
//! the first time a baseline activation asks.

use super::code::CodeMemory;
use super::instance::instance_from_vmctx;
use super::native;
use super::tiering::{
    approximate_stack_pointer, compile_once, store_context, tiers_up_to_optimizing,
};
use crate::module::ModuleInner;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use strata_environ::vmcontext::VMContext;
use strata_environ::{TrapCode, ValRaw, WasmFuncType, WasmValType};

/// A function's optimized code entering at its loops, compiled in the background for
/// activations running in the baseline.
#[derive(Default)]
pub(crate) struct OsrVariant {
    requested: AtomicBool,
    code: OnceLock<Result<CodeMemory, String>>,
}

/// How many more loop iterations baseline code runs before asking again whether its
/// optimized on-stack-replacement code is ready.
const OSR_RECHECK_ITERATIONS: i32 = 100;

/// Compiles defined function `defined`'s optimized on-stack-replacement variant, logging the
/// outcome.
pub(crate) fn compile_optimizing_osr(module: &ModuleInner, defined: u32) {
    let cell = &module.native.optimizing_osr[defined as usize].code;
    let to = "optimizing (on-stack entries)";
    let _ = compile_once(module, defined, cell, ("baseline", to), || {
        let options = module.engine.config().optimizing_options();
        strata_optimizing::compile_osr(&module.info, module.offsets, &options, defined)
            .map_err(|e| e.to_string())
    });
}

/// The `osr` builtin (see `VMBuiltins::osr`): continues an activation of defined function
/// `defined`, stopped at the header of the loop at module byte `loop_offset` in the tier
/// `from`, in better code with an entry for the loop.
///
/// From the baseline that is the function's optimized on-stack-replacement variant: the
/// first call asks the background compiler for it, and until it is ready the loop budget
/// is set to come back after [`OSR_RECHECK_ITERATIONS`]. From the interpreter it is the
/// optimized variant if ready, else the baseline code.
///
/// # Safety
/// `vmctx` is the calling instance's live `VMContext`; `values` holds `len` values, the
/// first a pointer to the activation's state laid out as `strata_environ::OsrEntry` says.
pub(crate) unsafe extern "C" fn osr(
    vmctx: *mut VMContext,
    defined: u32,
    loop_offset: u32,
    values: *mut ValRaw,
    len: usize,
    from: u32,
) -> u32 {
    use strata_environ::vmcontext::{
        OSR_FROM_BASELINE, OSR_RETURNED, OSR_TRAPPED, OSR_UNAVAILABLE,
    };
    // SAFETY: builtins are called with the calling instance's live `VMContext`.
    let instance = unsafe { instance_from_vmctx(vmctx) };
    let module_arc = instance.module.inner_arc().clone();
    let module = &*module_arc;
    let mut optimized = optimized_osr_entry(module, defined, loop_offset);
    if optimized.is_none() && from == OSR_FROM_BASELINE {
        let pending = request_optimized_osr(&module_arc, defined);
        optimized = optimized_osr_entry(module, defined, loop_offset);
        if optimized.is_none() {
            if pending {
                instance.budgets[2 * defined as usize + 1] = OSR_RECHECK_ITERATIONS;
            }
            return OSR_UNAVAILABLE;
        }
    }
    let (entry, tier) = match optimized {
        Some(entry) => (entry, "optimizing"),
        None => {
            let baseline = module.native.baseline[defined as usize].get();
            match baseline.and_then(|code| code.as_ref().ok()?.osr_entry(loop_offset)) {
                Some(entry) => (entry, "baseline"),
                None => return OSR_UNAVAILABLE,
            }
        }
    };
    let func_index = module.info.func_index(defined);
    let results = &module.info.func_type(func_index).results;
    if len < results.len().max(1) {
        return OSR_UNAVAILABLE;
    }
    // The entry's signature: the state pointer in, the function's results out.
    let osr_type = WasmFuncType::new([WasmValType::I64], results.iter().copied());
    let id = module.engine.signatures().register(&osr_type);
    let Some(trampoline) = module.engine.trampolines().get(id, &osr_type) else {
        return OSR_UNAVAILABLE;
    };
    let store = store_context(vmctx, module);
    if approximate_stack_pointer() < store.stack_limit {
        // The caller reports the activation's frame.
        store.begin_trap(TrapCode::StackOverflow);
        return OSR_TRAPPED;
    }
    module.native.osr_transfers.fetch_add(1, Ordering::Relaxed);
    if module.engine.config().tiering_log {
        let func = super::background::func_label(module, defined);
        let from = if from == OSR_FROM_BASELINE {
            "baseline"
        } else {
            "interp"
        };
        eprintln!(
            "[strata tiering] {func}: {from} -> {tier} on stack, at the loop at byte \
             {loop_offset:#x}"
        );
    }
    // SAFETY: the trampoline matches the entry's signature (state pointer in, the function's
    // results out), the entry belongs to this instance's module, and `values` holds the
    // state pointer with room for the results (contract and check above).
    match unsafe { native::enter(trampoline, entry, vmctx, vmctx, values) } {
        Ok(()) => OSR_RETURNED,
        Err((code, frames)) => {
            let store = store_context(vmctx, module);
            if let Some(code) = TrapCode::from_raw(code as u8) {
                store.begin_trap(code);
            }
            // The continued activation's frame is its first tier's to report.
            store.backtrace.extend_but_outermost(&frames);
            OSR_TRAPPED
        }
    }
}

/// The entry of `defined`'s optimized variant for the loop at `loop_offset`, if compiled.
fn optimized_osr_entry(module: &ModuleInner, defined: u32, loop_offset: u32) -> Option<*const u8> {
    let variant = &module.native.optimizing_osr[defined as usize];
    variant.code.get()?.as_ref().ok()?.osr_entry(loop_offset)
}

/// Asks the background compiler for `defined`'s optimized on-stack-replacement variant,
/// unless it was asked already. Returns whether it is still to come (the activation should
/// ask again soon).
fn request_optimized_osr(module: &Arc<ModuleInner>, defined: u32) -> bool {
    if !tiers_up_to_optimizing(module) {
        return false;
    }
    let variant = &module.native.optimizing_osr[defined as usize];
    if !variant.requested.swap(true, Ordering::AcqRel) {
        // The activation waiting for it is as hot as it gets.
        let hottest = std::time::Duration::ZERO;
        (module.engine.background()).submit(module, defined, true, hottest);
    }
    variant.code.get().is_none()
}
