//! The native machinery on targets without a JIT tier (anything but x86-64 Linux): no code
//! is ever entered, `Strategy::Baseline` is refused by `Config`, and `Strategy::Tiered`
//! never leaves the interpreter.

use strata_environ::vmcontext::{VMBacktrace, VMContext};
use strata_environ::ValRaw;

pub(crate) type TrampolineFn = unsafe extern "C" fn(
    entry: *const u8,
    callee_vmctx: *mut VMContext,
    caller_vmctx: *mut VMContext,
    values: *mut ValRaw,
);

/// Never called: no native code exists on this target.
///
/// # Safety
/// None needed; it does nothing.
pub(crate) unsafe fn enter(
    _trampoline: TrampolineFn,
    _entry: *const u8,
    _callee_vmctx: *mut VMContext,
    _caller_vmctx: *mut VMContext,
    _values: *mut ValRaw,
) -> Result<(), (u32, Box<VMBacktrace>)> {
    unreachable!("no native code on this target")
}

/// The `raise_trap` builtin, which only JIT code calls.
pub(crate) unsafe extern "C" fn strata_raise_trap(_: *mut VMContext, _: u32) -> ! {
    std::process::abort()
}

pub(crate) fn memory_faults_on_this_thread() -> u64 {
    0
}

pub(crate) fn supported() -> bool {
    false
}
