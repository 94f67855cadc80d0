//! Which tier runs a function: the module's code table, compiling on demand, and the array
//! entry that JIT-enabled strategies give every defined function.
//!
//! A module's code table holds one atomic entry pointer per defined function (null while the
//! function has no native code). Native callers read it at each call; the array entry below
//! reads it too, and falls back to the interpreter while it is null. Installing code is one
//! release store, so every instance on every thread picks it up at its next call.

use super::code::CodeMemory;
use super::instance::instance_from_vmctx;
use super::native;
use super::osr::OsrVariant;
use crate::config::Strategy;
use crate::module::ModuleInner;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use strata_environ::vmcontext::{VMContext, VMFuncRef, VMStoreContext};
use strata_environ::{TrapCode, ValRaw, WasmFuncType};

use super::background::log_tier_change;

/// A module's native code.
pub(crate) struct NativeCode {
    /// Current native entry of each defined function (null: none yet).
    table: Box<[AtomicPtr<u8>]>,
    /// Baseline code of each function, or why the baseline cannot compile it.
    pub(super) baseline: Box<[OnceLock<Result<CodeMemory, String>>]>,
    /// Optimizing (Cranelift) code of each function, or why it could not be compiled.
    optimizing: Box<[OnceLock<Result<CodeMemory, String>>]>,
    /// Whether each function was queued for background compilation (at most once).
    queued: Box<[AtomicBool]>,
    /// When each function's baseline code was installed (heat of tier-up requests).
    baseline_installed: Box<[OnceLock<Instant>]>,
    /// Interpreter activations continued in native code (on-stack replacement).
    pub(super) osr_transfers: AtomicU64,
    /// Each function's optimized on-stack-replacement variant (entries at all its loops),
    /// once requested.
    pub(super) optimizing_osr: Box<[OsrVariant]>,
    /// The engine's array-to-native trampoline of each module type, looked up once (`None`:
    /// none could be made).
    trampolines: Box<[OnceLock<Option<native::TrampolineFn>>]>,
}

impl NativeCode {
    pub(crate) fn new(num_defined: u32, num_types: usize) -> NativeCode {
        NativeCode {
            osr_transfers: AtomicU64::new(0),
            optimizing_osr: (0..num_defined).map(|_| OsrVariant::default()).collect(),
            trampolines: (0..num_types).map(|_| OnceLock::new()).collect(),
            table: (0..num_defined)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            baseline: (0..num_defined).map(|_| OnceLock::new()).collect(),
            optimizing: (0..num_defined).map(|_| OnceLock::new()).collect(),
            queued: (0..num_defined).map(|_| AtomicBool::new(false)).collect(),
            baseline_installed: (0..num_defined).map(|_| OnceLock::new()).collect(),
        }
    }

    /// How many interpreter activations continued in native code so far.
    pub(crate) fn osr_transfers(&self) -> u64 {
        self.osr_transfers.load(Ordering::Relaxed)
    }

    /// The code table, as `VMContext`s point at it.
    pub(crate) fn table_ptr(&self) -> *const AtomicPtr<u8> {
        self.table.as_ptr()
    }

    fn entry(&self, defined: u32) -> *const u8 {
        self.table[defined as usize].load(Ordering::Acquire)
    }
}

/// Whether `Strategy::Tiered` moves hot baseline code on to the optimizing tier here.
pub(super) fn tiers_up_to_optimizing(module: &ModuleInner) -> bool {
    module.engine.config().strategy == Strategy::Tiered && strata_optimizing::host_supported()
}

/// Compiles `defined` with a JIT tier into `cell` (once), logging the change; the tier's
/// result is the function's code or why it cannot be compiled.
pub(super) fn compile_once<'a>(
    module: &ModuleInner,
    defined: u32,
    cell: &'a OnceLock<Result<CodeMemory, String>>,
    (from, to): (&str, &str),
    compile: impl FnOnce() -> Result<strata_environ::CompiledFunction, String>,
) -> Result<&'a CodeMemory, String> {
    let code = cell.get_or_init(|| {
        let start = Instant::now();
        let func_index = module.info.func_index(defined);
        let result = module
            .info
            .validate_body(defined)
            .map_err(|why| format!("invalid body: {why}"));
        // A compiler bug must not take the process down (this may run inside a builtin
        // called from wasm, where unwinding would abort): it leaves the function where it is.
        let compile = || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(compile)).unwrap_or_else(
                |panic| Err(format!("the compiler panicked: {}", panic_message(&*panic))),
            )
        };
        let result = result.and_then(|()| compile()).and_then(|compiled| {
            CodeMemory::new(&compiled, func_index, Some(module.info.clone()))
                .map_err(|e| format!("{e:#}"))
        });
        let config = module.engine.config();
        if config.tiering_log {
            let from = if config.strategy == Strategy::Tiered {
                from
            } else {
                "-"
            };
            let error = result.as_ref().err().map(String::as_str);
            log_tier_change(module, defined, from, to, start.elapsed(), error);
        }
        result
    });
    code.as_ref().map_err(Clone::clone)
}

/// The message of a caught panic.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(s), _) => s,
        (_, Some(s)) => s,
        _ => "no message",
    }
}

/// Compiles defined function `defined` with the baseline (once) and installs it unless the
/// function already has better code. Returns its entry, or why the baseline cannot compile
/// it.
fn compile_baseline(module: &ModuleInner, defined: u32) -> Result<*const u8, String> {
    if !native::supported() {
        return Err("this machine has no baseline tier".to_string());
    }
    let cell = &module.native.baseline[defined as usize];
    let code = compile_once(module, defined, cell, ("interp", "baseline"), || {
        let config = module.engine.config();
        let options = strata_baseline::CompileOptions {
            explicit_bounds_checks: config.memory_reservation < 1 << 32,
            guard_size: config.memory_guard_size,
            count_for_tier_up: tiers_up_to_optimizing(module),
            osr_entries: config.strategy == Strategy::Tiered,
        };
        strata_baseline::compile(&module.info, module.offsets, options, defined)
            .map_err(|e| e.to_string())
    })?;
    let entry = code.entry();
    // Install only over nothing: optimizing code, if already there, stays.
    let slot = &module.native.table[defined as usize];
    match slot.compare_exchange(
        std::ptr::null_mut(),
        entry.cast_mut(),
        Ordering::Release,
        Ordering::Acquire,
    ) {
        Ok(_) => {
            module.native.baseline_installed[defined as usize].get_or_init(Instant::now);
            Ok(entry)
        }
        Err(current) => Ok(current),
    }
}

/// The tier whose code runs defined function `defined` at its next call.
pub(crate) fn current_tier(module: &ModuleInner, defined: u32) -> Strategy {
    let entry = module.native.entry(defined);
    let is = |cell: &OnceLock<Result<CodeMemory, String>>| matches!(cell.get(), Some(Ok(code)) if code.entry() == entry);
    if entry.is_null() {
        Strategy::Interpreter
    } else if is(&module.native.optimizing[defined as usize]) {
        Strategy::Optimizing
    } else {
        Strategy::Baseline
    }
}

/// Compiles every function of `module` with the baseline now; fails naming the first one the
/// baseline cannot compile.
pub(crate) fn compile_all_baseline(module: &ModuleInner) -> anyhow::Result<()> {
    for defined in 0..module.info.num_defined_funcs() {
        if let Err(why) = compile_baseline(module, defined) {
            let index = module.info.func_index(defined);
            let name = module.info.func_name(index).unwrap_or("");
            anyhow::bail!("function {index} {name}: {why}");
        }
    }
    Ok(())
}

/// Compiles defined function `defined` with the optimizing tier (once) and installs it.
/// Returns its entry, or why it could not be compiled.
pub(crate) fn compile_optimizing(module: &ModuleInner, defined: u32) -> Result<*const u8, String> {
    if !native::supported() || !strata_optimizing::host_supported() {
        return Err("this machine has no optimizing tier".to_string());
    }
    let cell = &module.native.optimizing[defined as usize];
    let code = compile_once(module, defined, cell, ("baseline", "optimizing"), || {
        let options = module.engine.config().optimizing_options();
        strata_optimizing::compile(&module.info, module.offsets, &options, defined)
            .map_err(|e| e.to_string())
    })?;
    let entry = code.entry();
    module.native.table[defined as usize].store(entry.cast_mut(), Ordering::Release);
    Ok(entry)
}

/// Compiles every function of `module` with the optimizing tier now; fails naming the first
/// one it cannot compile.
pub(crate) fn compile_all_optimizing(module: &ModuleInner) -> anyhow::Result<()> {
    for defined in 0..module.info.num_defined_funcs() {
        if let Err(why) = compile_optimizing(module, defined) {
            let index = module.info.func_index(defined);
            let name = module.info.func_name(index).unwrap_or("");
            anyhow::bail!("function {index} {name}: {why}");
        }
    }
    Ok(())
}

/// Compiles defined function `defined` with the JIT tier `strategy` names and installs it,
/// replacing the native code it had (tests mix tiers within an instance this way).
pub(crate) fn compile_function(
    module: &ModuleInner,
    defined: u32,
    strategy: Strategy,
) -> anyhow::Result<()> {
    let result = match strategy {
        Strategy::Baseline => compile_baseline(module, defined),
        Strategy::Optimizing => compile_optimizing(module, defined),
        other => anyhow::bail!("{} is not a compiling tier", other.name()),
    };
    result.map(drop).map_err(anyhow::Error::msg)
}

/// The budgets a new instance of `module` starts with: the engine's thresholds under
/// `Strategy::Tiered`, never running out otherwise.
pub(crate) fn initial_budgets(module: &crate::Module) -> Box<[i32]> {
    let config = module.engine().config();
    let (calls, loops) = if config.strategy == Strategy::Tiered {
        (
            config.baseline_call_threshold.min(i32::MAX as u32) as i32,
            config.baseline_loop_threshold.min(i32::MAX as u32) as i32,
        )
    } else {
        (i32::MAX, i32::MAX)
    };
    let n = module.inner().info.num_defined_funcs() as usize;
    (0..2 * n)
        .map(|i| if i % 2 == 0 { calls } else { loops })
        .collect()
}

/// The `tier_up` builtin: defined function `defined` of the instance ran out of budget.
///
/// Under `Strategy::Tiered` a function without native code is compiled by the baseline here,
/// on the requesting thread, and its budgets start counting toward the optimizing tier; a
/// function with baseline code is queued (once per module) for background compilation by
/// Cranelift. Returns whether the function has native code now.
pub(crate) unsafe extern "C" fn tier_up(vmctx: *mut VMContext, defined: u32) -> bool {
    // SAFETY: builtins are called with the calling instance's live `VMContext`.
    let instance = unsafe { instance_from_vmctx(vmctx) };
    let module = instance.module.inner_arc().clone();
    let config = module.engine.config();
    let i = 2 * defined as usize;
    instance.budgets[i] = i32::MAX;
    instance.budgets[i + 1] = i32::MAX;
    match config.strategy {
        Strategy::Tiered if module.native.baseline[defined as usize].get().is_none() => {
            let compiled = compile_baseline(&module, defined).is_ok();
            if compiled && tiers_up_to_optimizing(&module) {
                instance.budgets[i] = config.optimizing_call_threshold.min(i32::MAX as u32) as i32;
                instance.budgets[i + 1] =
                    config.optimizing_loop_threshold.min(i32::MAX as u32) as i32;
            }
            compiled
        }
        Strategy::Tiered => {
            if tiers_up_to_optimizing(&module)
                && !module.native.queued[defined as usize].swap(true, Ordering::AcqRel)
            {
                let heat = module.native.baseline_installed[defined as usize]
                    .get()
                    .map_or(std::time::Duration::MAX, Instant::elapsed);
                (module.engine.background()).submit(&module, defined, false, heat);
            }
            !module.native.entry(defined).is_null()
        }
        Strategy::Baseline => compile_baseline(&module, defined).is_ok(),
        _ => false,
    }
}

/// The engine's array-to-native trampolines, one per signature.
#[derive(Default)]
pub(crate) struct Trampolines {
    by_signature: Mutex<std::collections::HashMap<u32, Option<Arc<CodeMemory>>>>,
}

impl Trampolines {
    /// The trampoline for signature `id` (of type `ty`), generated on first use.
    pub(super) fn get(&self, id: u32, ty: &WasmFuncType) -> Option<native::TrampolineFn> {
        let mut map = self.by_signature.lock().unwrap_or_else(|e| e.into_inner());
        let code = map.entry(id).or_insert_with(|| {
            let bytes = strata_baseline::trampoline::array_to_native(ty).ok()?;
            let func = strata_environ::CompiledFunction {
                code: bytes,
                trap_sites: Vec::new(),
                osr_entries: Vec::new(),
            };
            CodeMemory::new(&func, u32::MAX, None).ok().map(Arc::new)
        });
        let entry = code.as_ref()?.entry();
        // SAFETY: the code is a trampoline generated for exactly this signature, with the
        // `TrampolineFn` ABI; it stays mapped as long as the engine.
        Some(unsafe { std::mem::transmute::<*const u8, native::TrampolineFn>(entry) })
    }
}

/// The array entry of defined functions under JIT-enabled strategies: native code if the
/// function has (or, under `Strategy::Baseline` and `Strategy::Optimizing`, can get) some,
/// else the interpreter.
///
/// # Safety
/// As for every `VMArrayCallFn`: `callee` is a live defined function's `VMFuncRef` and
/// `values` holds `len` values with the arguments in place.
pub(crate) unsafe extern "C" fn array_call(
    callee: *const VMFuncRef,
    caller_vmctx: *mut VMContext,
    values: *mut ValRaw,
    len: usize,
) -> bool {
    // SAFETY: `callee` is live per the contract.
    let (vmctx, func_index, type_id) =
        unsafe { ((*callee).vmctx, (*callee).func_index, (*callee).type_id) };
    // SAFETY: a defined function's vmctx is its live instance's; the instance keeps its
    // module alive for the whole call, so the pointer stays valid after the borrow ends.
    let module: *const ModuleInner = unsafe { instance_from_vmctx(vmctx) }.module.inner();
    // SAFETY: see above.
    let module = unsafe { &*module };
    let defined = func_index - module.info.num_imported_funcs;
    let mut entry = module.native.entry(defined);
    if entry.is_null() {
        // A function the JIT cannot compile stays in the interpreter.
        entry = match module.engine.config().strategy {
            Strategy::Baseline => compile_baseline(module, defined).unwrap_or(std::ptr::null()),
            Strategy::Optimizing => compile_optimizing(module, defined).unwrap_or(std::ptr::null()),
            _ => entry,
        };
    }
    let trampoline = if entry.is_null() {
        None
    } else {
        let type_index = module.info.functions[func_index as usize];
        *module.native.trampolines[type_index as usize].get_or_init(|| {
            let ty = &module.info.types[type_index as usize];
            module.engine.trampolines().get(type_id, ty)
        })
    };
    let Some(trampoline) = trampoline else {
        // SAFETY: forwarding the same contract.
        return unsafe { strata_interp::array_call(callee, caller_vmctx, values, len) };
    };
    let store = store_context(vmctx, module);
    if approximate_stack_pointer() < store.stack_limit {
        store.begin_trap(TrapCode::StackOverflow);
        store.push_frame(vmctx, func_index);
        return false;
    }
    // SAFETY: the trampoline matches the function's signature, `entry` is its code and
    // `values` is sized for it (contract).
    match unsafe { native::enter(trampoline, entry, vmctx, caller_vmctx, values) } {
        Ok(()) => true,
        Err((code, frames)) => {
            let store = store_context(vmctx, module);
            if let Some(code) = TrapCode::from_raw(code as u8) {
                store.begin_trap(code);
            }
            store.backtrace.extend(&frames);
            false
        }
    }
}

pub(super) fn store_context<'a>(
    vmctx: *mut VMContext,
    module: &ModuleInner,
) -> &'a mut VMStoreContext {
    let offset = module.offsets.store_context() as usize;
    // SAFETY: the field at this offset of a live `VMContext` holds its store's context,
    // which outlives calls into the store and is used only by the thread running them.
    unsafe {
        &mut *vmctx
            .cast::<u8>()
            .add(offset)
            .cast::<*mut VMStoreContext>()
            .read()
    }
}

#[inline(never)]
pub(super) fn approximate_stack_pointer() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}
