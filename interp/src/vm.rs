//! The interpreter's view of the runtime's data: an instance's `VMContext`, its linear
//! memory and tables, and the value stack frames live in. Every raw pointer the interpreter
//! follows is followed here.

use crate::exec::Op;
use crate::translate::CompiledFunc;
use crate::InterpModule;
use std::sync::atomic::{AtomicPtr, Ordering};
use strata_environ::vmcontext::{
    VMBuiltins, VMContext, VMFuncRef, VMMemoryDefinition, VMStoreContext, VMTableDefinition,
    OSR_FROM_INTERP,
};
use strata_environ::{TrapCode, VMOffsets, ValRaw};

/// A live instance's `VMContext`, read through [`VMOffsets`].
#[derive(Clone, Copy)]
pub(crate) struct Vmctx {
    ptr: *mut VMContext,
    offsets: VMOffsets,
}

impl Vmctx {
    /// # Safety
    /// `ptr` must be the `VMContext` of a live instance whose module's layout is `offsets`,
    /// and stay live (with everything it points at) while the returned value is used: the
    /// runtime guarantees this for the duration of a call into one of its functions.
    pub(crate) unsafe fn new(ptr: *mut VMContext, offsets: VMOffsets) -> Vmctx {
        Vmctx { ptr, offsets }
    }

    pub(crate) fn as_ptr(self) -> *mut VMContext {
        self.ptr
    }

    fn word(self, offset: u32) -> usize {
        // SAFETY: offsets come from this module's `VMOffsets` (or the fixed header), so they
        // lie inside the `VMContext`, whose pointer-sized fields are 8-byte aligned.
        unsafe {
            self.ptr
                .cast::<u8>()
                .add(offset as usize)
                .cast::<usize>()
                .read()
        }
    }

    /// The interpreter state of the instance's module.
    pub(crate) fn interp<'a>(self) -> &'a InterpModule {
        // SAFETY: the runtime stores `Arc::as_ptr` of the module's `InterpModule` here; the
        // instance keeps its module (and so that `Arc`) alive.
        unsafe { &*(self.word(self.offsets.interp()) as *const InterpModule) }
    }

    pub(crate) fn store_context(self) -> *mut VMStoreContext {
        self.word(self.offsets.store_context()) as *mut VMStoreContext
    }

    pub(crate) fn builtins<'a>(self) -> &'a VMBuiltins {
        // SAFETY: points at the runtime's static builtin table.
        unsafe { &*(self.word(self.offsets.builtins()) as *const VMBuiltins) }
    }

    /// The engine-wide signature id of module type `ty`.
    pub(crate) fn type_id(self, ty: u32) -> u32 {
        let ids = self.word(self.offsets.type_ids()) as *const u32;
        // SAFETY: the array has one entry per module type and `ty` is a validated type index.
        unsafe { ids.add(ty as usize).read() }
    }

    /// Native code of defined function `defined`, if it has some.
    pub(crate) fn native_entry(self, defined: u32) -> bool {
        let table = self.word(self.offsets.code_table()) as *const AtomicPtr<u8>;
        // SAFETY: the code table has one entry per defined function of the module, and
        // `defined` is such an index.
        let entry = unsafe { &*table.add(defined as usize) };
        !entry.load(Ordering::Acquire).is_null()
    }

    /// Spends one unit of `defined`'s budget `which` (0: calls, 1: loop iterations); when it
    /// runs out, asks the runtime to tier the function up. Returns whether the function has
    /// native code now.
    fn spend(self, defined: u32, which: usize) -> bool {
        let budgets = self.word(self.offsets.budgets()) as *mut i32;
        // SAFETY: the instance owns two budgets per defined function and only this thread
        // runs its code now.
        let budget = unsafe { &mut *budgets.add(2 * defined as usize + which) };
        *budget -= 1;
        if *budget >= 0 {
            return false;
        }
        // SAFETY: builtins take the calling instance's live `VMContext`.
        unsafe { (self.builtins().tier_up)(self.ptr, defined) }
    }

    pub(crate) fn spend_call_budget(self, defined: u32) -> bool {
        self.spend(defined, 0)
    }

    /// Spends one unit of `defined`'s call budget if the call stays interpreted without
    /// asking the runtime anything: the function has no native code and the budget does not
    /// run out. Otherwise changes nothing and returns `false` (the caller then takes
    /// [`Vmctx::spend_call_budget`]'s path).
    #[inline(always)]
    pub(crate) fn spend_call_budget_in_place(self, defined: u32) -> bool {
        if self.native_entry(defined) {
            return false;
        }
        let budgets = self.word(self.offsets.budgets()) as *mut i32;
        // SAFETY: as in `spend`.
        let budget = unsafe { &mut *budgets.add(2 * defined as usize) };
        if *budget <= 0 {
            return false;
        }
        *budget -= 1;
        true
    }

    /// Spends one loop iteration of `defined`'s budget; returns whether the function has
    /// native code now (only ever when the budget has just run out).
    pub(crate) fn spend_loop_budget(self, defined: u32) -> bool {
        self.spend(defined, 1)
    }

    /// Asks the runtime to continue this activation of `defined`, stopped at the header of
    /// the loop at module byte `loop_offset`, in native code (the `osr` builtin; `values`
    /// carries the state pointer in and the results out). Returns one of the
    /// `OSR_*` outcomes.
    pub(crate) fn osr(self, defined: u32, loop_offset: u32, values: &mut [ValRaw]) -> u32 {
        // SAFETY: builtins take the calling instance's live `VMContext`; `values` is a live
        // slice of its length, and its first value points at the state (the caller's
        // contract, kept alive by the caller for the call).
        unsafe {
            (self.builtins().osr)(
                self.ptr,
                defined,
                loop_offset,
                values.as_mut_ptr(),
                values.len(),
                OSR_FROM_INTERP,
            )
        }
    }

    /// The `*const VMFuncRef` stored at byte `offset` (a function slot).
    pub(crate) fn func_ref(self, offset: u32) -> *const VMFuncRef {
        self.word(offset) as *const VMFuncRef
    }

    /// The global whose pointer is at byte `offset`.
    fn global(self, offset: u32) -> *mut ValRaw {
        self.word(offset) as *mut ValRaw
    }

    pub(crate) fn global_get(self, offset: u32) -> u64 {
        // SAFETY: global slots point at the store's live, aligned `ValRaw`s.
        unsafe { self.global(offset).read() }.get_u64()
    }

    pub(crate) fn global_set(self, offset: u32, value: u64) {
        // SAFETY: as in `global_get`; validation guarantees the global is mutable.
        unsafe { self.global(offset).write(ValRaw::from_u64(value)) }
    }

    /// `memory.grow` of memory 0: the old size in pages, or `u64::MAX`.
    pub(crate) fn memory_grow(self, delta: u64) -> u64 {
        // SAFETY: builtins take the calling instance's live `VMContext`.
        unsafe { (self.builtins().memory_grow)(self.ptr, 0, delta) }
    }

    pub(crate) fn memory_init(self, data: u32, dst: u32, src: u32, len: u32) -> Option<TrapCode> {
        // SAFETY: as in `memory_grow`.
        let raw = unsafe { (self.builtins().memory_init)(self.ptr, 0, data, dst.into(), src, len) };
        TrapCode::from_raw(raw as u8)
    }

    pub(crate) fn data_drop(self, data: u32) {
        // SAFETY: as in `memory_grow`.
        unsafe { (self.builtins().data_drop)(self.ptr, data) }
    }

    /// `table.grow`: the old size, or `u64::MAX`.
    pub(crate) fn table_grow(self, table: u32, delta: u64, init: u64) -> u64 {
        // SAFETY: as in `memory_grow`.
        unsafe { (self.builtins().table_grow)(self.ptr, table, delta, init) }
    }

    pub(crate) fn table_init(
        self,
        table: u32,
        elem: u32,
        dst: u32,
        src: u32,
        len: u32,
    ) -> Option<TrapCode> {
        // SAFETY: as in `memory_grow`.
        let raw =
            unsafe { (self.builtins().table_init)(self.ptr, table, elem, dst.into(), src, len) };
        TrapCode::from_raw(raw as u8)
    }

    pub(crate) fn elem_drop(self, elem: u32) {
        // SAFETY: as in `memory_grow`.
        unsafe { (self.builtins().elem_drop)(self.ptr, elem) }
    }

    pub(crate) fn table<'a>(self, index: u32) -> &'a mut VMTableDefinition {
        // SAFETY: table slots point at the store's live table records; the interpreter holds
        // no other reference to one across this borrow's uses.
        unsafe { &mut *(self.word(self.offsets.table(index)) as *mut VMTableDefinition) }
    }

    /// Memory 0 as it is now (`Memory::none()` if the module has none).
    pub(crate) fn memory(self) -> Memory {
        if self.offsets.num_memories == 0 {
            return Memory::none();
        }
        let def = self.word(self.offsets.memory(0)) as *const VMMemoryDefinition;
        // SAFETY: memory slots point at the store's live memory records.
        let def = unsafe { &*def };
        Memory {
            base: def.base,
            len: def.current_length,
        }
    }
}

/// Calls `callee` (read from a function slot or a checked table element, so live) through
/// the array convention, with `values` sized for its signature by the caller (the
/// executor sizes it from the module type the callee was checked against).
pub(crate) fn array_call(callee: *const VMFuncRef, caller: Vmctx, values: &mut [ValRaw]) -> bool {
    // SAFETY: `callee` is a live function reference of the store (see above) and `values`
    // holds max(params, results) values of its signature.
    unsafe { ((*callee).array_call)(callee, caller.as_ptr(), values.as_mut_ptr(), values.len()) }
}

/// The engine-wide signature id of the function `f` (a non-null table element), which
/// `call_indirect` checks.
pub(crate) fn func_ref_type(f: *const VMFuncRef) -> u32 {
    // SAFETY: non-null table elements of a funcref table are live `VMFuncRef`s of the store.
    unsafe { (*f).type_id }
}

/// Where an instance keeps its defined functions' `VMFuncRef`s: the runtime puts them in
/// one array in defined-index order (`src/vm/instance.rs`), so whether a function
/// reference is one of them, and which, follows from its address alone.
#[derive(Clone, Copy)]
pub(crate) struct OwnFuncRefs {
    /// The address of defined function 0's.
    first: usize,
    /// The array's size in bytes (0 for a module without defined functions).
    bytes: usize,
}

impl OwnFuncRefs {
    pub(crate) fn of(vmctx: Vmctx, module: &InterpModule) -> OwnFuncRefs {
        let info = &module.info;
        let defined = info.num_defined_funcs() as usize;
        if defined == 0 {
            return OwnFuncRefs { first: 0, bytes: 0 };
        }
        let first = vmctx.func_ref(module.offsets.func(info.num_imported_funcs));
        OwnFuncRefs {
            first: first as usize,
            bytes: defined * std::mem::size_of::<VMFuncRef>(),
        }
    }

    /// The defined index of the function whose reference is `raw` (a table element), if it
    /// is one of this instance's.
    #[inline(always)]
    pub(crate) fn defined(self, raw: u64) -> Option<u32> {
        let distance = (raw as usize).wrapping_sub(self.first);
        (distance < self.bytes).then(|| (distance / std::mem::size_of::<VMFuncRef>()) as u32)
    }
}

/// A table's elements as a slice.
pub(crate) fn table_elements(table: &mut VMTableDefinition) -> &mut [u64] {
    if table.current_elements == 0 {
        return &mut [];
    }
    // SAFETY: a table record describes `current_elements` initialized raw references.
    unsafe { std::slice::from_raw_parts_mut(table.base, table.current_elements) }
}

/// A cached view of linear memory 0; reloaded after anything that may grow it.
#[derive(Clone, Copy)]
pub(crate) struct Memory {
    base: *mut u8,
    len: usize,
}

impl Memory {
    fn none() -> Memory {
        Memory {
            base: std::ptr::null_mut(),
            len: 0,
        }
    }

    pub(crate) fn size_in_bytes(self) -> usize {
        self.len
    }

    /// Whether `[addr, addr + len)` lies inside the memory.
    fn contains(self, addr: u64, len: u64) -> bool {
        addr.checked_add(len)
            .is_some_and(|end| end <= self.len as u64)
    }

    /// The `N` bytes of the access that ends at `end` (its address plus its offset plus
    /// `N`), if they lie inside the memory. The instructions store their offset plus their
    /// width, so the end of an access is one addition and its start a displacement of the
    /// read: two instructions fewer than computing the start, and from it the end to check.
    ///
    /// # Safety
    ///
    /// `end >= N`.
    #[inline(always)]
    pub(crate) unsafe fn load_ending_at<const N: usize>(self, end: u64) -> Option<[u8; N]> {
        if end > self.len as u64 {
            return None;
        }
        // SAFETY: `N <= end <= len` (the caller promises the first), so `[end - N, end)` is
        // inside the memory's accessible bytes.
        Some(unsafe {
            self.base
                .add(end as usize)
                .sub(N)
                .cast::<[u8; N]>()
                .read_unaligned()
        })
    }

    /// Writes the `N` bytes of the access that ends at `end` (as in
    /// [`Memory::load_ending_at`]), if they lie inside the memory.
    ///
    /// # Safety
    ///
    /// `end >= N`.
    #[inline(always)]
    pub(crate) unsafe fn store_ending_at<const N: usize>(
        self,
        end: u64,
        bytes: [u8; N],
    ) -> Option<()> {
        if end > self.len as u64 {
            return None;
        }
        // SAFETY: as in `load_ending_at`.
        unsafe {
            self.base
                .add(end as usize)
                .sub(N)
                .cast::<[u8; N]>()
                .write_unaligned(bytes)
        };
        Some(())
    }

    pub(crate) fn fill(self, dst: u64, value: u8, len: u64) -> Option<()> {
        if !self.contains(dst, len) {
            return None;
        }
        // SAFETY: the range is inside the memory.
        unsafe { self.base.add(dst as usize).write_bytes(value, len as usize) };
        Some(())
    }

    pub(crate) fn copy(self, dst: u64, src: u64, len: u64) -> Option<()> {
        if !self.contains(dst, len) || !self.contains(src, len) {
            return None;
        }
        // SAFETY: both ranges are inside the memory; `copy` allows overlap.
        unsafe {
            std::ptr::copy(
                self.base.add(src as usize),
                self.base.add(dst as usize),
                len as usize,
            )
        };
        Some(())
    }
}

/// Slots of the value stack one thread's interpreter activations use (8 MiB, committed by
/// the OS as it is touched).
const STACK_SLOTS: usize = 1 << 20;

/// The value stack: frames of 8-byte slots, one after the other.
pub(crate) struct ValueStack {
    slots: Box<[u64]>,
}

impl ValueStack {
    pub(crate) fn new() -> ValueStack {
        ValueStack {
            slots: vec![0; STACK_SLOTS].into_boxed_slice(),
        }
    }

    /// The first slot and the end of the stack, for [`enter`]. The stack never moves while
    /// an activation runs on it (the activation borrows it).
    pub(crate) fn bounds(&mut self) -> (*mut u64, *mut u64) {
        let range = self.slots.as_mut_ptr_range();
        (range.start, range.end)
    }

    pub(crate) fn slots_mut(&mut self, len: usize) -> &mut [u64] {
        &mut self.slots[..len]
    }
}

/// Room for `func`'s frame at `fp` in a value stack that ends at `end`, or `None` when the
/// frame would pass `end` (or, with `FEW`, when the function has more than
/// [`FEW_ENTRY_VALUES`]). [`FrameFit::enter`] then sets the frame up; the check and the
/// setup are apart so a caller can decide on other things in between, checking once.
///
/// `fp` must lie in a value stack whose end is `end` (`fp <= end`): it is the stack's first
/// slot, or a caller's frame start plus a slot of that frame.
#[inline(always)]
pub(crate) fn fit<'m, const FEW: bool>(
    fp: *mut u64,
    end: *mut u64,
    func: &'m CompiledFunc,
) -> Option<FrameFit<'m, FEW>> {
    // A function with more entry values has a `few_frame_bytes` no stack holds.
    let bytes = if FEW {
        func.few_frame_bytes
    } else {
        func.frame_bytes
    };
    // One subtraction and one comparison (`fp <= end`, so no overflow).
    let fits = end as usize - fp as usize >= bytes;
    fits.then_some(FrameFit { fp, func })
}

/// Entry values (zeroed locals, constants) a frame of [`fit`]`::<true>` copies in one by one:
/// the call handlers' fast path takes only functions with this many or fewer.
pub(crate) const FEW_ENTRY_VALUES: usize = 16;

/// A frame of `func` known to fit at `fp` (see [`fit`]); with `FEW`, of a function with few
/// entry values.
pub(crate) struct FrameFit<'m, const FEW: bool> {
    fp: *mut u64,
    pub(crate) func: &'m CompiledFunc,
}

impl<const FEW: bool> FrameFit<'_, FEW> {
    /// The frame's slots (set up by [`FrameFit::enter`]).
    pub(crate) fn regs(&self) -> Regs {
        Regs { fp: self.fp }
    }

    /// Sets the frame up (arguments already in place): records `caller` in its header and
    /// copies the function's entry values (zeroed locals, constants) in. The header first:
    /// the values it is made of are then free before the copy, which needs registers.
    #[inline(always)]
    pub(crate) fn enter(self, caller: FrameHeader<'_>) -> Regs {
        let func = self.func;
        let regs = Regs { fp: self.fp };
        regs.set_header(func.header, caller);
        // SAFETY: the frame's `frame_bytes` fit at `fp` (checked by `fit`), inside the
        // value stack, which no other reference covers while it runs; they hold the
        // parameters and then at least the entry values (the translator numbers temporaries
        // after them).
        let dst = unsafe { self.fp.add(func.num_params as usize) };
        let values = &func.entry_values;
        if FEW {
            // Two at a time (the translator pads them to an even count), without a loop
            // (the compiler unrolls this one) or a `memcpy` call, so that the call handlers'
            // fast path needs no more registers than it has free. More than eight pairs
            // make the compiler keep a loop, which costs `fib` a fifth more instructions.
            let pairs = values.chunks_exact(2).map(|pair| [pair[0], pair[1]]);
            for (k, pair) in pairs.enumerate().take(FEW_ENTRY_VALUES / 2) {
                // SAFETY: slots `num_params + 2k` and the next of the frame (see above).
                unsafe { dst.cast::<[u64; 2]>().add(k).write_unaligned(pair) };
            }
        } else {
            // SAFETY: `values.len()` slots from `dst` are the frame's (see above), apart
            // from the function's own entry values.
            unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), dst, values.len()) };
        }
        regs
    }
}

/// Slots a frame keeps its [`FrameHeader`] in: the translator reserves them after the
/// entry values (see `CompiledFunc::header`), below every temporary, so no callee frame,
/// which starts at a temporary, covers them.
pub(crate) const HEADER_SLOTS: u32 = 3;

/// What a frame records of its caller: the caller's function, where it continues and its
/// frame. The activation's first frame records the activation's end instead (its `ret`
/// is [`crate::exec::FINISH`]). Kept in the value stack, the frames of an activation need
/// no stack of their own: a call writes three slots, a return reads them, and neither
/// checks or moves a length.
#[derive(Clone, Copy)]
pub(crate) struct FrameHeader<'m> {
    pub(crate) func: &'m CompiledFunc,
    pub(crate) ret: Ip,
    pub(crate) regs: Regs,
}

/// The current frame's slots: a pointer to its first slot in the value stack, which never
/// moves while a thread runs wasm, so it stays valid as long as the frame is live.
#[derive(Clone, Copy)]
pub(crate) struct Regs {
    fp: *mut u64,
}

impl Regs {
    #[inline(always)]
    pub(crate) fn get(self, slot: u32) -> u64 {
        // SAFETY: the translator only emits slots inside the function's frame (its
        // `frame_bytes`), and the frame was entered with that room (`fit`, `enter`).
        unsafe { self.fp.add(slot as usize).read() }
    }

    #[inline(always)]
    pub(crate) fn set(self, slot: u32, value: u64) {
        // SAFETY: as in `get`.
        unsafe { self.fp.add(slot as usize).write(value) }
    }

    /// Records `header` in the frame's header slots, from `slot` (the function's
    /// `CompiledFunc::header`).
    #[inline(always)]
    fn set_header(self, slot: u32, header: FrameHeader<'_>) {
        // SAFETY: the header slots lie inside the frame (its `frame_bytes` count them,
        // `fit` checked that room), 8-byte aligned as every slot; `FrameHeader` is three
        // pointer-sized fields.
        unsafe {
            self.fp
                .add(slot as usize)
                .cast::<FrameHeader<'_>>()
                .write(header)
        }
    }

    /// The header a call recorded in this frame's header slots, from `slot`. `'m` is the
    /// executor's: the caller's bytecode belongs to the module, which outlives the
    /// activation.
    #[inline(always)]
    pub(crate) fn header<'m>(self, slot: u32) -> FrameHeader<'m> {
        // SAFETY: the slots are the frame's (see `set_header`), written by the call that
        // entered it (or by the activation's start, for its first frame) before the
        // frame's first instruction ran, from a `FrameHeader<'m>` of the same activation;
        // no instruction writes them (they are below the temporaries and above the entry
        // values).
        unsafe { self.fp.add(slot as usize).cast::<FrameHeader<'m>>().read() }
    }

    /// Where a callee's frame starts when its arguments are at `slot` of this frame (a slot
    /// below this frame's size, so the address stays inside the value stack).
    #[inline(always)]
    pub(crate) fn at(self, slot: u32) -> *mut u64 {
        self.fp.wrapping_add(slot as usize)
    }
}

/// The instruction pointer of threaded code: the [`Op`] a handler executes.
///
/// Threaded code is made by [`crate::exec::lower`] from a translated function, whose code
/// always ends in an instruction that leaves it (`Return`, `Br`, `Unreachable`) and whose
/// branch targets are instructions of the same function, so the steps the handlers take
/// (the next instruction, a branch's relative target, a `BrTable` entry) stay inside it.
#[derive(Clone, Copy)]
pub(crate) struct Ip(*const Op);

impl Ip {
    /// The first instruction of `code`, which must be threaded code (see above).
    pub(crate) fn start(code: &[Op]) -> Ip {
        Ip(code.as_ptr())
    }

    /// The stopped state, returned when an activation finishes or traps.
    pub(crate) fn stop() -> Ip {
        Ip(std::ptr::null())
    }

    /// Whether `self` and `other` are the same instruction.
    #[inline(always)]
    pub(crate) fn is(self, other: Ip) -> bool {
        std::ptr::eq(self.0, other.0)
    }

    pub(crate) fn is_stop(self) -> bool {
        self.0.is_null()
    }

    /// Where an activation's first frame returns to: [`crate::exec::FINISH`], which ends
    /// the activation.
    pub(crate) fn finish() -> Ip {
        Ip(&crate::exec::FINISH)
    }

    pub(crate) fn is_finish(self) -> bool {
        std::ptr::eq(self.0, &crate::exec::FINISH)
    }

    /// The instruction here.
    #[inline(always)]
    pub(crate) fn op<'a>(self) -> &'a Op {
        // SAFETY: `self` points at an instruction of live threaded code (see the type's
        // docs); code outlives every activation running it.
        unsafe { &*self.0 }
    }

    /// The instruction `n` places on (1: the next one; 2: past an `Arg` word).
    #[inline(always)]
    pub(crate) fn skip(self, n: usize) -> Ip {
        // SAFETY: handlers only step to instructions that exist (see the type's docs).
        Ip(unsafe { self.0.add(n) })
    }

    /// The instruction `rel` bytes away: a branch target, as [`crate::exec::distance`]
    /// encodes it (in bytes, so the jump is one addition, not a multiplication by the
    /// instruction's size first).
    #[inline(always)]
    pub(crate) fn jump(self, rel: u32) -> Ip {
        // SAFETY: `rel` is the distance in bytes from this branch to its target in the same
        // code, a multiple of the instruction size.
        Ip(unsafe { self.0.byte_offset(rel as i32 as isize) })
    }
}
