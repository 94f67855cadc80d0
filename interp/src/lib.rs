//! strata-interp: Strata's register-based WebAssembly interpreter.
//!
//! Every instance starts here. A function is translated to register bytecode on its first
//! call ([`translate`]): operands are frame slots, so `local.get` and constants cost no
//! instruction and most wasm operators become one bytecode instruction. The executor
//! ([`exec`]) lowers the bytecode to threaded code, where each instruction's handler jumps
//! straight to the next one's; it runs calls between an instance's own functions inside
//! one activation over one value stack per thread, and reaches everything else (imports,
//! other instances, the host) through the array calling convention, like every tier.
//!
//! Traps are values: the executor returns them, [`array_call`] reports them through the
//! store's `VMStoreContext` and returns `false`. No signal is involved; memory accesses are
//! bounds-checked here.

mod exec;
mod instr;
mod loop_entry;
mod opaque;
mod semantics;
mod tail_copy;
mod translate;
mod vm;

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};
use strata_environ::vmcontext::{VMContext, VMFuncRef, VMStoreContext};
use strata_environ::{ModuleInfo, TrapCode, VMOffsets, ValRaw};
use translate::CompiledFunc;
use vm::{ValueStack, Vmctx};

/// How much work translation spends on making a function's bytecode fast.
///
/// The analyses behind the accumulator, the superinstructions, the copied block tails and
/// the loop entries cost about half of a translation (`medium`'s five hot functions: 1.27M
/// instructions translated in full), which is more than the baseline JIT spends compiling
/// the same functions. That pays off for code the interpreter runs for as long as the
/// program does, not for code that runs a few dozen calls and loop iterations before the
/// baseline takes over, where it only delays the first result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effort {
    /// Every analysis and superinstruction: the interpreter is the function's only tier.
    Full,
    /// The cheapest translation that runs: each instruction reads its operands from their
    /// slots and runs alone; a function runs here only until it is warm enough for the
    /// baseline JIT.
    Quick,
}

/// The interpreter's per-module state: the module and its functions' bytecode, translated
/// on first call and shared by every instance and thread.
pub struct InterpModule {
    info: Arc<ModuleInfo>,
    offsets: VMOffsets,
    /// Whether functions spend tier-up budgets (see [`InterpModule::new`]).
    tiering: bool,
    /// How much translation spends on the speed of the bytecode.
    effort: Effort,
    /// Each function's bytecode, or why it could not be translated.
    funcs: Box<[FuncSlot]>,
}

/// A function's bytecode, once translated, in a slot the size of a power of two: a
/// `call_indirect` finds it from the distance of the callee's `VMFuncRef` to the instance's
/// first (see `vm::OwnFuncRefs`) with a shift instead of a multiplication.
#[repr(align(64))]
#[derive(Default)]
struct FuncSlot(OnceLock<Result<CompiledFunc, String>>);

impl std::fmt::Debug for InterpModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let translated = self.funcs.iter().filter(|f| f.0.get().is_some()).count();
        f.debug_struct("InterpModule")
            .field("functions", &self.funcs.len())
            .field("translated", &translated)
            .finish()
    }
}

impl InterpModule {
    /// State for `info`; translates nothing yet. With `tiering`, calls and loop iterations
    /// spend the per-instance budgets of the `VMContext`, and a function whose budget runs
    /// out asks the runtime to compile it (the `tier_up` builtin); calls then go to its
    /// native code. `effort` is what translation spends on the bytecode's speed.
    pub fn new(info: Arc<ModuleInfo>, tiering: bool, effort: Effort) -> InterpModule {
        let funcs = (0..info.num_defined_funcs())
            .map(|_| FuncSlot::default())
            .collect();
        InterpModule {
            offsets: VMOffsets::new(&info),
            info,
            tiering,
            effort,
            funcs,
        }
    }

    /// Translates every function now (benchmarks of translation speed, eager modes), with
    /// the first translation error, if any.
    pub fn translate_all(&self) -> anyhow::Result<()> {
        for defined in 0..self.info.num_defined_funcs() {
            if let Err(why) = self.translation(defined) {
                anyhow::bail!("function {}: {why}", self.info.func_index(defined));
            }
        }
        Ok(())
    }

    #[inline]
    fn translation(&self, defined: u32) -> &Result<CompiledFunc, String> {
        self.funcs[defined as usize].0.get_or_init(|| {
            self.info.validate_body(defined)?;
            translate::translate(&self.info, self.offsets, defined, self.tiering, self.effort)
                .map_err(|e| format!("{e:#}"))
        })
    }

    /// The bytecode of defined function `defined`, translated on first use. `None` only if
    /// its body is invalid (found on first use under lazy validation); the caller reports
    /// `TrapCode::InvalidFunction` with the function as the innermost frame.
    #[inline(always)]
    fn compiled(&self, defined: u32) -> Option<&CompiledFunc> {
        match self.funcs[defined as usize].0.get() {
            Some(translation) => translation.as_ref().ok(),
            None => self.translate_first(defined),
        }
    }

    /// The bytecode of defined function `defined` if it has been translated (and is valid).
    #[inline(always)]
    fn translated(&self, defined: u32) -> Option<&CompiledFunc> {
        self.funcs.get(defined as usize)?.0.get()?.as_ref().ok()
    }

    /// [`InterpModule::compiled`] on a function's first call, kept out of line: the
    /// executor's call handler must take no local's address, or its jump to the callee's
    /// code stops being a tail call (see [`exec`]).
    #[cold]
    #[inline(never)]
    fn translate_first(&self, defined: u32) -> Option<&CompiledFunc> {
        self.translation(defined).as_ref().ok()
    }
}

thread_local! {
    /// Value stacks of finished activations on this thread, reused by the next ones.
    static STACKS: RefCell<Vec<ValueStack>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a value stack of this thread (a fresh one for re-entrant activations).
fn with_stack<R>(f: impl FnOnce(&mut ValueStack) -> R) -> R {
    let mut stack = STACKS
        .with(|s| s.borrow_mut().pop())
        .unwrap_or_else(ValueStack::new);
    let result = f(&mut stack);
    STACKS.with(|s| s.borrow_mut().push(stack));
    result
}

/// An address in the current native stack frame.
#[inline(never)]
fn stack_pointer() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// The store context of a `VMContext`.
fn store_context<'a>(vmctx: Vmctx) -> &'a mut VMStoreContext {
    // SAFETY: the store context outlives every call into the store's instances, and only
    // the thread running the store's wasm touches it meanwhile.
    unsafe { &mut *vmctx.store_context() }
}

/// The array-call entry of every interpreted function (see
/// [`strata_environ::vmcontext::VMArrayCallFn`]).
///
/// # Safety
/// `callee` must be a live `VMFuncRef` of a defined function of an instance whose module's
/// `InterpModule` the `VMContext` points at; `values` must hold `len` values, at least
/// max(params, results) of the function's signature, with the arguments in place.
pub unsafe extern "C" fn array_call(
    callee: *const VMFuncRef,
    _caller_vmctx: *mut VMContext,
    values: *mut ValRaw,
    len: usize,
) -> bool {
    // SAFETY: `callee` is live per the contract.
    let (vmctx, func_index) = unsafe { ((*callee).vmctx, (*callee).func_index) };
    // The header fields come before the per-module arrays, so any layout reads them.
    let header = VMOffsets {
        num_funcs: 0,
        num_tables: 0,
        num_memories: 0,
        num_globals: 0,
    };
    // SAFETY: the callee's `VMContext` is a live instance's; only its header is read.
    let module = unsafe { Vmctx::new(vmctx, header) }.interp();
    // SAFETY: as above, now with the module's full layout.
    let vmctx = unsafe { Vmctx::new(vmctx, module.offsets) };
    let store = store_context(vmctx);
    let raise = |store: &mut VMStoreContext, code| {
        store.begin_trap(code);
        store.push_frame(vmctx.as_ptr(), func_index);
        false
    };
    if stack_pointer() < store.stack_limit {
        return raise(store, TrapCode::StackOverflow);
    }
    let Some(defined) = module.info.defined_func_index(func_index) else {
        return raise(store, TrapCode::UnreachableCodeReached);
    };
    if module.tiering && vmctx.spend_call_budget(defined) {
        // Compiled just now: this very call runs the native code.
        // SAFETY: forwarding the caller's arguments under the same contract.
        return unsafe { ((*callee).array_call)(callee, _caller_vmctx, values, len) };
    }
    let Some(func) = module.compiled(defined) else {
        return raise(store, TrapCode::InvalidFunction);
    };
    // SAFETY: the caller provides `len` values.
    let values = unsafe { std::slice::from_raw_parts_mut(values, len) };
    let results = module.info.func_type(func_index).results.len();
    let cx = exec::Context { vmctx, module };
    let outcome = with_stack(|stack| {
        let params = func.num_params as usize;
        let slots = stack.slots_mut(params.max(results));
        for (slot, v) in slots.iter_mut().zip(&values[..params]) {
            *slot = v.get_u64();
        }
        let outcome = exec::run(&cx, stack, func);
        if outcome.is_ok() {
            let slots = stack.slots_mut(results);
            for (v, slot) in values.iter_mut().zip(slots.iter()) {
                *v = ValRaw::from_u64(*slot);
            }
        }
        outcome
    });
    match outcome {
        Ok(()) => true,
        Err((exit, frames)) => {
            let store = store_context(vmctx);
            if let exec::Exit::Trap(code) = exit {
                store.begin_trap(code);
            }
            for func in frames {
                store.push_frame(vmctx.as_ptr(), func);
            }
            false
        }
    }
}
