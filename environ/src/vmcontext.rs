//! The `repr(C)` records that an instance's `VMContext` points at.
//!
//! The `VMContext` itself has no Rust struct: its layout depends on the module and is given by
//! [`crate::VMOffsets`]. The records here have fixed layouts, checked by the tests below
//! against the offset constants the JIT tiers embed.

use crate::ValRaw;

/// Opaque marker for an instance's `VMContext`; only ever used behind a pointer.
#[repr(C)]
pub struct VMContext {
    _opaque: [u8; 0],
}

/// The array calling convention: every function, whatever its tier or whether the host
/// defined it, can be called through this.
///
/// `callee` is the function's own [`VMFuncRef`] (so one trampoline per signature can find the
/// function it calls), `caller_vmctx` the calling instance (or null from the host),
/// `values` holds the arguments on entry and the results on return, `len` is
/// `max(params, results)`. Returns `false` when the call trapped: the trap code is then in
/// [`VMStoreContext::trap_code`], and a host error, if any, is held by the store.
pub type VMArrayCallFn = unsafe extern "C" fn(
    callee: *const VMFuncRef,
    caller_vmctx: *mut VMContext,
    values: *mut ValRaw,
    len: usize,
) -> bool;

/// What a `funcref` points at: everything needed to call the function.
///
/// Defined functions have one per instance, host functions one per `Func`. A funcref value is
/// a `*const VMFuncRef` (null is `ref.null func`); identity of the pointer is identity of
/// the function.
#[repr(C)]
pub struct VMFuncRef {
    /// Entry through the array convention (interpreter, host function or trampoline).
    pub array_call: VMArrayCallFn,
    /// Native entry of the current best JIT code, null while there is none.
    pub wasm_call: *const u8,
    /// The callee's `VMContext` (the owning instance, or the host function's context).
    pub vmctx: *mut VMContext,
    /// Engine-wide signature id (see the runtime's type registry), compared by
    /// `call_indirect`.
    pub type_id: u32,
    /// Index in the owning module's function space (`u32::MAX` for host functions).
    pub func_index: u32,
}

/// A linear memory as the tiers see it.
#[repr(C)]
pub struct VMMemoryDefinition {
    pub base: *mut u8,
    /// Accessible size in bytes.
    pub current_length: usize,
}

/// A table as the tiers see it: an array of raw references (see [`ValRaw::get_ref`]).
#[repr(C)]
pub struct VMTableDefinition {
    pub base: *mut u64,
    pub current_elements: usize,
}

/// Most frames a trap's backtrace records: the innermost ones and the outermost
/// [`BACKTRACE_TAIL`] (frames in between are counted, not kept).
pub const MAX_BACKTRACE_FRAMES: usize = 64;
/// How many of the outermost frames a long backtrace keeps.
pub const BACKTRACE_TAIL: usize = 16;

/// One wasm frame of a trap's backtrace: its function and where to find the function's
/// module (the instance, or, for JIT frames, the module the code registry knows).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct VMFrame {
    /// The frame's instance, or null.
    pub vmctx: *mut VMContext,
    /// The frame's module, or null (then `vmctx` is set).
    pub module: *const crate::ModuleInfo,
    /// The frame's function, in its module's function space.
    pub func_index: u32,
}

/// Frames pushed innermost first, keeping the first and the last ones of a long list.
#[repr(C)]
#[derive(Debug, Clone)]
pub struct VMBacktrace {
    /// Frames pushed so far (may exceed the capacity).
    pub len: u32,
    frames: [VMFrame; MAX_BACKTRACE_FRAMES],
}

impl VMBacktrace {
    const HEAD: usize = MAX_BACKTRACE_FRAMES - BACKTRACE_TAIL;

    pub const fn new() -> VMBacktrace {
        VMBacktrace {
            len: 0,
            frames: [VMFrame {
                vmctx: std::ptr::null_mut(),
                module: std::ptr::null(),
                func_index: u32::MAX,
            }; MAX_BACKTRACE_FRAMES],
        }
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends the next frame outwards.
    pub fn push(&mut self, frame: VMFrame) {
        let n = self.len as usize;
        let slot = if n < MAX_BACKTRACE_FRAMES {
            n
        } else {
            Self::HEAD + (n - Self::HEAD) % BACKTRACE_TAIL
        };
        self.frames[slot] = frame;
        self.len = self.len.saturating_add(1);
    }

    /// Counts `n` frames as pushed without keeping them (frames another list omitted).
    pub fn skip(&mut self, n: usize) {
        self.len = self.len.saturating_add(n.min(u32::MAX as usize) as u32);
    }

    /// Appends another list's frames (kept and omitted) after these.
    pub fn extend(&mut self, other: &VMBacktrace) {
        let (frames, omitted) = other.frames();
        self.extend_with(&frames, omitted);
    }

    /// Appends another list's frames but its outermost one (the activation an
    /// on-stack replacement continued, which its first tier reports itself).
    pub fn extend_but_outermost(&mut self, other: &VMBacktrace) {
        let (mut frames, omitted) = other.frames();
        frames.pop();
        self.extend_with(&frames, omitted);
    }

    /// Appends `frames`, of which `omitted` after the first [`Self::HEAD`] were left out.
    fn extend_with(&mut self, frames: &[VMFrame], omitted: usize) {
        let head = frames.len().min(Self::HEAD);
        for f in &frames[..head] {
            self.push(*f);
        }
        self.skip(omitted);
        for f in &frames[head..] {
            self.push(*f);
        }
    }

    /// The kept frames in order, and how many were omitted after the first
    /// `MAX_BACKTRACE_FRAMES - BACKTRACE_TAIL`.
    pub fn frames(&self) -> (Vec<VMFrame>, usize) {
        let n = self.len as usize;
        if n <= MAX_BACKTRACE_FRAMES {
            return (self.frames[..n].to_vec(), 0);
        }
        let mut frames = self.frames[..Self::HEAD].to_vec();
        for k in n - BACKTRACE_TAIL..n {
            frames.push(self.frames[Self::HEAD + (k - Self::HEAD) % BACKTRACE_TAIL]);
        }
        (frames, n - MAX_BACKTRACE_FRAMES)
    }
}

impl Default for VMBacktrace {
    fn default() -> Self {
        VMBacktrace::new()
    }
}

/// Per-store state every tier may read or write during a call.
#[repr(C)]
pub struct VMStoreContext {
    /// The lowest native stack address wasm may use; entries and prologues compare the stack
    /// pointer against it and trap with `StackOverflow` below it.
    pub stack_limit: usize,
    /// Raw [`crate::TrapCode`] of the trap being reported by a `false` array call (0: none).
    pub trap_code: u32,
    /// The trap's wasm frames, innermost first. The tier that raises a trap starts the list
    /// ([`VMStoreContext::begin_trap`]); every activation the trap passes through on its way
    /// out appends its own frames.
    pub backtrace: VMBacktrace,
}

impl VMStoreContext {
    pub fn new() -> VMStoreContext {
        VMStoreContext {
            stack_limit: usize::MAX,
            trap_code: 0,
            backtrace: VMBacktrace::new(),
        }
    }

    /// Starts reporting a new trap.
    pub fn begin_trap(&mut self, code: crate::TrapCode) {
        self.trap_code = code.as_raw().get().into();
        self.backtrace.clear();
    }

    /// Appends the next frame (outward) of the trap being reported: function `func_index`
    /// of the instance `vmctx`.
    pub fn push_frame(&mut self, vmctx: *mut VMContext, func_index: u32) {
        self.backtrace.push(VMFrame {
            vmctx,
            module: std::ptr::null(),
            func_index,
        });
    }
}

impl Default for VMStoreContext {
    fn default() -> Self {
        VMStoreContext::new()
    }
}

/// Functions of the runtime that compiled and interpreted code call (libcalls). Their ids are
/// their field order; every entry takes the calling instance's `VMContext` first.
#[repr(C)]
pub struct VMBuiltins {
    /// `memory.grow`: returns the old size in pages, or `u64::MAX` on failure.
    pub memory_grow: unsafe extern "C" fn(vmctx: *mut VMContext, memory: u32, delta: u64) -> u64,
    /// `table.grow`: returns the old size, or `u64::MAX` on failure.
    pub table_grow:
        unsafe extern "C" fn(vmctx: *mut VMContext, table: u32, delta: u64, init: u64) -> u64,
    /// `memory.init`: returns 0, or a raw trap code.
    pub memory_init: unsafe extern "C" fn(
        vmctx: *mut VMContext,
        memory: u32,
        data: u32,
        dst: u64,
        src: u32,
        len: u32,
    ) -> u32,
    /// `data.drop`.
    pub data_drop: unsafe extern "C" fn(vmctx: *mut VMContext, data: u32),
    /// `table.init`: returns 0, or a raw trap code.
    pub table_init: unsafe extern "C" fn(
        vmctx: *mut VMContext,
        table: u32,
        elem: u32,
        dst: u64,
        src: u32,
        len: u32,
    ) -> u32,
    /// `elem.drop`.
    pub elem_drop: unsafe extern "C" fn(vmctx: *mut VMContext, elem: u32),
    /// Leaves JIT code for the innermost host-to-wasm entry, which then reports trap `code`
    /// (a raw [`crate::TrapCode`]), or, with 0, the trap a callee already reported. Must be
    /// called directly from JIT code with its frame pointer in rbp: the JIT frames are walked
    /// from there for the backtrace.
    pub raise_trap: unsafe extern "C" fn(vmctx: *mut VMContext, code: u32) -> !,
    /// A function's tier-up budget ran out: compiles defined function `defined` with the
    /// next tier (on this thread) and installs it; returns whether native code is now
    /// installed. Resets the function's budgets either way.
    pub tier_up: unsafe extern "C" fn(vmctx: *mut VMContext, defined: u32) -> bool,
    /// On-stack replacement: continues an activation of defined function `defined`, stopped
    /// at the header of the loop at module byte `loop_offset` in the tier `from`
    /// ([`OSR_FROM_INTERP`] or [`OSR_FROM_BASELINE`]), in better code with an entry for the
    /// loop (see [`crate::OsrEntry`]): the optimized code's if it is ready, else, from the
    /// interpreter, the baseline's. `values` holds `len` values: the state pointer in the
    /// first on the way in, the call's results on the way out. Returns [`OSR_UNAVAILABLE`]
    /// (nothing ran: keep going where you are), [`OSR_RETURNED`] or [`OSR_TRAPPED`] (the
    /// trap is reported in the store context with the frames below the activation; the
    /// caller adds the activation's own frame and its callers').
    pub osr: unsafe extern "C" fn(
        vmctx: *mut VMContext,
        defined: u32,
        loop_offset: u32,
        values: *mut ValRaw,
        len: usize,
        from: u32,
    ) -> u32,
}

/// [`VMBuiltins::osr`]: called from the interpreter.
pub const OSR_FROM_INTERP: u32 = 0;
/// [`VMBuiltins::osr`]: called from baseline code.
pub const OSR_FROM_BASELINE: u32 = 1;
/// [`VMBuiltins::osr`]: no better code has an entry for the loop yet.
pub const OSR_UNAVAILABLE: u32 = 0;
/// [`VMBuiltins::osr`]: the call ran to its end; its results are in the values.
pub const OSR_RETURNED: u32 = 1;
/// [`VMBuiltins::osr`]: the call trapped.
pub const OSR_TRAPPED: u32 = 2;

/// Byte offsets inside the fixed-layout records, for code generators.
pub mod offsets {
    pub const FUNCREF_ARRAY_CALL: u8 = 0;
    pub const FUNCREF_WASM_CALL: u8 = 8;
    pub const FUNCREF_VMCTX: u8 = 16;
    pub const FUNCREF_TYPE_ID: u8 = 24;
    pub const FUNCREF_FUNC_INDEX: u8 = 28;
    pub const MEMORY_BASE: u8 = 0;
    pub const MEMORY_CURRENT_LENGTH: u8 = 8;
    pub const TABLE_BASE: u8 = 0;
    pub const TABLE_CURRENT_ELEMENTS: u8 = 8;
    pub const STORE_STACK_LIMIT: u8 = 0;
    pub const STORE_TRAP_CODE: u8 = 8;
    pub const BUILTIN_MEMORY_GROW: u8 = 0;
    pub const BUILTIN_TABLE_GROW: u8 = 8;
    pub const BUILTIN_MEMORY_INIT: u8 = 16;
    pub const BUILTIN_DATA_DROP: u8 = 24;
    pub const BUILTIN_TABLE_INIT: u8 = 32;
    pub const BUILTIN_ELEM_DROP: u8 = 40;
    pub const BUILTIN_RAISE_TRAP: u8 = 48;
    pub const BUILTIN_TIER_UP: u8 = 56;
    pub const BUILTIN_OSR: u8 = 64;
}

#[cfg(test)]
mod tests {
    use super::offsets::*;
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn long_backtraces_keep_both_ends() {
        let mut bt = VMBacktrace::new();
        for i in 0..100 {
            bt.push(VMFrame {
                vmctx: std::ptr::null_mut(),
                module: std::ptr::null(),
                func_index: i,
            });
        }
        let (frames, omitted) = bt.frames();
        let indices: Vec<u32> = frames.iter().map(|f| f.func_index).collect();
        let mut expected: Vec<u32> = (0..48).collect();
        expected.extend(84..100);
        assert_eq!(indices, expected);
        assert_eq!(omitted, 36);
    }

    #[test]
    fn record_layouts_match_offsets() {
        assert_eq!(offset_of!(VMFuncRef, array_call), FUNCREF_ARRAY_CALL.into());
        assert_eq!(offset_of!(VMFuncRef, wasm_call), FUNCREF_WASM_CALL.into());
        assert_eq!(offset_of!(VMFuncRef, vmctx), FUNCREF_VMCTX.into());
        assert_eq!(offset_of!(VMFuncRef, type_id), FUNCREF_TYPE_ID.into());
        assert_eq!(offset_of!(VMFuncRef, func_index), FUNCREF_FUNC_INDEX.into());
        assert_eq!(size_of::<VMFuncRef>(), 32);
        assert_eq!(offset_of!(VMMemoryDefinition, base), MEMORY_BASE.into());
        assert_eq!(
            offset_of!(VMMemoryDefinition, current_length),
            MEMORY_CURRENT_LENGTH.into()
        );
        assert_eq!(offset_of!(VMTableDefinition, base), TABLE_BASE.into());
        assert_eq!(
            offset_of!(VMTableDefinition, current_elements),
            TABLE_CURRENT_ELEMENTS.into()
        );
        assert_eq!(
            offset_of!(VMStoreContext, stack_limit),
            STORE_STACK_LIMIT.into()
        );
        assert_eq!(
            offset_of!(VMStoreContext, trap_code),
            STORE_TRAP_CODE.into()
        );
        assert_eq!(
            offset_of!(VMBuiltins, memory_grow),
            BUILTIN_MEMORY_GROW.into()
        );
        assert_eq!(
            offset_of!(VMBuiltins, table_grow),
            BUILTIN_TABLE_GROW.into()
        );
        assert_eq!(
            offset_of!(VMBuiltins, memory_init),
            BUILTIN_MEMORY_INIT.into()
        );
        assert_eq!(offset_of!(VMBuiltins, data_drop), BUILTIN_DATA_DROP.into());
        assert_eq!(
            offset_of!(VMBuiltins, table_init),
            BUILTIN_TABLE_INIT.into()
        );
        assert_eq!(offset_of!(VMBuiltins, elem_drop), BUILTIN_ELEM_DROP.into());
        assert_eq!(
            offset_of!(VMBuiltins, raise_trap),
            BUILTIN_RAISE_TRAP.into()
        );
        assert_eq!(offset_of!(VMBuiltins, tier_up), BUILTIN_TIER_UP.into());
        assert_eq!(offset_of!(VMBuiltins, osr), BUILTIN_OSR.into());
    }
}
