//! An instance's runtime data and its `VMContext`.

use super::VMStore;
use crate::{Global, Instance, Memory, Module, Table};
use std::ptr::NonNull;
use strata_environ::vmcontext::{
    VMArrayCallFn, VMContext, VMFuncRef, VMMemoryDefinition, VMStoreContext, VMTableDefinition,
};
use strata_environ::{ValRaw, VMCONTEXT_MAGIC};

/// A `*const VMFuncRef` that may cross threads with its store (see the SAFETY note).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FuncRefPtr(NonNull<VMFuncRef>);

// SAFETY: a `VMFuncRef` is immutable after creation and lives as long as its store; the
// pointer is only dereferenced through the store that owns it, which is itself `Send`.
unsafe impl Send for FuncRefPtr {}
// SAFETY: as above: shared access only reads immutable fields.
unsafe impl Sync for FuncRefPtr {}

impl FuncRefPtr {
    pub(crate) fn new(ptr: *const VMFuncRef) -> Option<FuncRefPtr> {
        NonNull::new(ptr.cast_mut()).map(FuncRefPtr)
    }
    pub(crate) fn as_ptr(self) -> *const VMFuncRef {
        self.0.as_ptr()
    }
    pub(crate) fn to_raw(self) -> u64 {
        self.0.as_ptr() as u64
    }
}

/// The engine signature id of a function.
pub(crate) fn funcref_type_id(f: FuncRefPtr) -> u32 {
    // SAFETY: `FuncRefPtr`s are only made from live `VMFuncRef`s owned by a store that
    // outlives the handle (callers check store ownership first).
    unsafe { (*f.as_ptr()).type_id }
}

/// What instantiation resolved for each index space, imports first.
#[derive(Default)]
pub(crate) struct InstanceParts {
    pub(crate) imported_funcs: Vec<FuncRefPtr>,
    pub(crate) memories: Vec<(Memory, *mut VMMemoryDefinition)>,
    pub(crate) tables: Vec<(Table, *mut VMTableDefinition)>,
    pub(crate) globals: Vec<(Global, *mut ValRaw)>,
}

/// Everything an instance owns besides its memories, tables and globals (owned by the
/// store). Boxed by the store: its `VMContext` points back at it.
pub(crate) struct InstanceData {
    /// The `VMContext`, laid out by the module's `VMOffsets`; `ValRaw` gives 16-byte
    /// alignment.
    vmctx: Box<[ValRaw]>,
    /// One `VMFuncRef` per defined function, one array in defined-index order; funcref
    /// values point here. Optimizing code relies on that order: its `call_indirect` finds
    /// whether a funcref is this instance's and its index from the address alone
    /// (`optimizing/src/calls.rs`).
    funcrefs: Box<[VMFuncRef]>,
    pub(crate) module: Module,
    pub(crate) handle: Instance,
    /// The owning store, for builtins and host calls.
    pub(crate) store: NonNull<dyn VMStore>,
    pub(crate) funcs: Box<[FuncRefPtr]>,
    pub(crate) memories: Box<[Memory]>,
    pub(crate) tables: Box<[Table]>,
    pub(crate) globals: Box<[Global]>,
    /// Evaluated passive element segments; `None` once dropped (active and declared
    /// segments are dropped after instantiation).
    pub(crate) elements: Vec<Option<Box<[u64]>>>,
    /// Whether each data segment was dropped.
    pub(crate) dropped_data: Vec<bool>,
    /// Exports resolved so far (populated lazily).
    pub(crate) exports: Vec<Option<crate::Extern>>,
    /// Tier-up budgets, two per defined function (calls, loop iterations); the `VMContext`
    /// points here.
    pub(crate) budgets: Box<[i32]>,
}

impl InstanceData {
    /// Builds the instance's `VMContext`; defined functions run in the interpreter.
    pub(crate) fn new(
        module: &Module,
        handle: Instance,
        store: NonNull<dyn VMStore>,
        store_context: *mut VMStoreContext,
        parts: InstanceParts,
    ) -> Box<InstanceData> {
        let inner = module.inner();
        let info = &inner.info;
        let offsets = inner.offsets;
        let size = offsets.size() as usize / std::mem::size_of::<ValRaw>();
        let mut data = Box::new(InstanceData {
            vmctx: vec![ValRaw::default(); size].into_boxed_slice(),
            funcrefs: Box::new([]),
            module: module.clone(),
            handle,
            store,
            funcs: Box::new([]),
            memories: parts.memories.iter().map(|m| m.0).collect(),
            tables: parts.tables.iter().map(|t| t.0).collect(),
            globals: parts.globals.iter().map(|g| g.0).collect(),
            elements: Vec::new(),
            dropped_data: vec![false; info.data.len()],
            exports: vec![None; info.exports.len()],
            budgets: super::tiering::initial_budgets(module),
        });
        let vmctx = data.vmctx();
        let array_call: VMArrayCallFn = match module.engine().config().strategy {
            crate::Strategy::Baseline | crate::Strategy::Optimizing | crate::Strategy::Tiered => {
                super::tiering::array_call
            }
            _ => strata_interp::array_call,
        };
        data.funcrefs = (0..info.num_defined_funcs())
            .map(|defined| {
                let index = info.func_index(defined);
                VMFuncRef {
                    array_call,
                    wasm_call: std::ptr::null(),
                    vmctx,
                    type_id: inner.type_ids[info.functions[index as usize] as usize],
                    func_index: index,
                }
            })
            .collect();
        let mut funcs = parts.imported_funcs;
        funcs.extend(
            data.funcrefs
                .iter()
                .map(|f| FuncRefPtr::new(f).expect("boxed")),
        );
        data.funcs = funcs.into_boxed_slice();

        let self_ptr: *mut InstanceData = &mut *data;
        let mut w = VmctxWriter {
            vmctx: data.vmctx.as_mut_ptr().cast(),
        };
        w.word(offsets.magic(), VMCONTEXT_MAGIC as usize);
        w.word(offsets.store_context(), store_context as usize);
        w.word(
            offsets.builtins(),
            &super::builtins::BUILTINS as *const _ as usize,
        );
        w.word(offsets.type_ids(), inner.type_ids.as_ptr() as usize);
        w.word(
            offsets.interp(),
            std::sync::Arc::as_ptr(&inner.interp) as usize,
        );
        w.word(offsets.instance(), self_ptr as usize);
        w.word(offsets.code_table(), inner.native.table_ptr() as usize);
        w.word(offsets.budgets(), data.budgets.as_mut_ptr() as usize);
        for (i, f) in data.funcs.iter().enumerate() {
            w.word(offsets.func(i as u32), f.as_ptr() as usize);
        }
        for (i, t) in parts.tables.iter().enumerate() {
            w.word(offsets.table(i as u32), t.1 as usize);
        }
        for (i, m) in parts.memories.iter().enumerate() {
            w.word(offsets.memory(i as u32), m.1 as usize);
        }
        for (i, g) in parts.globals.iter().enumerate() {
            w.word(offsets.global(i as u32), g.1 as usize);
        }
        data
    }

    pub(crate) fn vmctx(&mut self) -> *mut VMContext {
        self.vmctx.as_mut_ptr().cast()
    }
}

/// Writes pointer-sized fields of a `VMContext` under construction.
struct VmctxWriter {
    vmctx: *mut u8,
}

impl VmctxWriter {
    fn word(&mut self, offset: u32, value: usize) {
        // SAFETY: every offset comes from the module's `VMOffsets`, whose `size()` the buffer
        // was allocated with; fields are 8-byte aligned in a 16-byte aligned buffer.
        unsafe { self.vmctx.add(offset as usize).cast::<usize>().write(value) }
    }
}

/// The runtime data of the instance owning `vmctx`.
///
/// # Safety
/// `vmctx` must be the `VMContext` of a live instance (one built by `InstanceData::new`).
pub(crate) unsafe fn instance_from_vmctx<'a>(vmctx: *mut VMContext) -> &'a mut InstanceData {
    let offsets_instance = 40; // `VMOffsets::instance()`, the same for every module
                               // SAFETY: per the contract, `vmctx` is live and its `instance` field was written by
                               // `InstanceData::new` with the address of the boxed `InstanceData`, which the store keeps
                               // alive as long as the `VMContext` exists.
    unsafe {
        let field = vmctx
            .cast::<u8>()
            .add(offsets_instance)
            .cast::<*mut InstanceData>();
        &mut **field
    }
}

/// The instance a call came from (`None` for calls from the host).
///
/// # Safety
/// `vmctx` must be null or a live instance's `VMContext`.
pub(crate) unsafe fn caller_instance(vmctx: *mut VMContext) -> Option<Instance> {
    if vmctx.is_null() {
        return None;
    }
    // SAFETY: non-null and live per the contract.
    Some(unsafe { instance_from_vmctx(vmctx) }.handle)
}

#[cfg(test)]
mod tests {
    #[test]
    fn instance_offset_is_fixed() {
        let o = strata_environ::VMOffsets {
            num_funcs: 5,
            num_tables: 1,
            num_memories: 1,
            num_globals: 2,
        };
        assert_eq!(o.instance(), 40);
    }
}
