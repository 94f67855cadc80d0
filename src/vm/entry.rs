//! The host-to-wasm entry: sets the stack limit, calls through the array convention and turns
//! a failed call back into a Rust error.

use super::instance::{instance_from_vmctx, FuncRefPtr};
use crate::store::StoreOpaque;
use crate::trap::WasmBacktrace;
use anyhow::Result;
use strata_environ::{ModuleInfo, TrapCode, ValRaw};

/// Calls `func` with `values` (arguments in, results out).
///
/// `store` is a raw pointer on purpose: while wasm runs, host functions and builtins reach
/// the same store through the pointers its instances hold, so no Rust reference to it may be
/// live across the call.
///
/// # Safety
/// `store` must be valid and not borrowed elsewhere for the duration of the call; `func`
/// must be a live function of that store; `values` must have room for max(params, results)
/// values of the function's signature, with the parameters in place.
pub(crate) unsafe fn invoke(
    store: *mut StoreOpaque,
    func: FuncRefPtr,
    values: &mut [ValRaw],
) -> Result<()> {
    // SAFETY: valid and unaliased now, per the contract; the borrow ends before the call.
    let outermost = unsafe {
        let s = &mut *store;
        let outermost = s.entry_depth == 0;
        if outermost {
            let sp = approximate_stack_pointer();
            let max = s.engine().config().max_wasm_stack;
            s.vm_store_context.stack_limit = sp.saturating_sub(max);
        }
        s.entry_depth += 1;
        outermost
    };
    let callee = func.as_ptr();
    // SAFETY: `callee` is live and `values` sized per the contract; no reference to the store
    // is live across the call.
    let ok = unsafe {
        ((*callee).array_call)(
            callee,
            std::ptr::null_mut(),
            values.as_mut_ptr(),
            values.len(),
        )
    };
    // SAFETY: the call returned, so nothing else uses the store now.
    let s = unsafe { &mut *store };
    s.entry_depth -= 1;
    if outermost {
        s.vm_store_context.stack_limit = usize::MAX;
    }
    if ok {
        return Ok(());
    }
    let raw_code = std::mem::take(&mut s.vm_store_context.trap_code);
    let (frames, omitted) = s.vm_store_context.backtrace.frames();
    s.vm_store_context.backtrace.clear();
    if let Some(panic) = s.pending_panic.take() {
        std::panic::resume_unwind(panic);
    }
    // SAFETY: recorded frames name live instances of this store (instances live as long as
    // their store), or modules whose code is still mapped (the code registry holds them
    // while it is).
    let frames: Vec<(u32, &ModuleInfo)> = frames
        .iter()
        .filter(|f| (!f.vmctx.is_null() || !f.module.is_null()) && f.func_index != u32::MAX)
        .map(|f| unsafe {
            let info: &ModuleInfo = if f.module.is_null() {
                &instance_from_vmctx(f.vmctx).module.inner().info
            } else {
                &*f.module
            };
            (f.func_index, info)
        })
        .collect();
    let code = TrapCode::from_raw(raw_code as u8).unwrap_or(TrapCode::UnreachableCodeReached);
    let invalid_body = match (code, frames.first()) {
        (TrapCode::InvalidFunction, Some(&(index, info))) => Some(invalid_body_error(index, info)),
        _ => None,
    };
    let backtrace = WasmBacktrace::new(
        frames.iter().map(|&(index, info)| {
            let name = info.func_name(index).map(str::to_string);
            (index, name, info.name.clone())
        }),
        omitted,
    );
    if let Some(error) = s.pending_error.take() {
        // A host function's error comes back as the host made it.
        return Err(error);
    }
    let _ = func;
    let error = anyhow::Error::new(code);
    let error = match invalid_body {
        Some(why) => error.context(why),
        None => error,
    };
    Err(error.context(backtrace))
}

/// What the error of a call reaching invalid function `index` says: which function, and
/// why its body is invalid.
fn invalid_body_error(index: u32, info: &ModuleInfo) -> String {
    let why = info
        .defined_func_index(index)
        .and_then(|defined| info.validate_body(defined).err())
        .unwrap_or("its body could not be translated");
    match info.func_name(index) {
        Some(name) => format!("function {index} ({name}) failed validation: {why}"),
        None => format!("function {index} failed validation: {why}"),
    }
}

/// An address in the current stack frame, close enough to the stack pointer for limits.
#[inline(never)]
fn approximate_stack_pointer() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}
