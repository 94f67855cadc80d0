//! The runtime functions compiled and interpreted code calls (`VMBuiltins`).
//!
//! Each takes the calling instance's `VMContext`, finds the instance and its store through
//! it, and does what needs the runtime: growing (which may move storage and asks the
//! limiter) and segment operations (which need per-instance segment state).

use super::instance::instance_from_vmctx;
use strata_environ::vmcontext::{VMBuiltins, VMContext};

pub(crate) static BUILTINS: VMBuiltins = VMBuiltins {
    memory_grow,
    table_grow,
    memory_init,
    data_drop,
    table_init,
    elem_drop,
    raise_trap: super::native::strata_raise_trap,
    tier_up: super::tiering::tier_up,
    osr: super::osr::osr,
};

/// Runs `f` with the instance of `vmctx` and its store.
///
/// # Safety
/// `vmctx` must be a live instance's `VMContext`, called from wasm running in its store with
/// no other Rust borrow of the store active (the store is borrowed only by the host-to-wasm
/// entry, which does not touch it while wasm runs).
unsafe fn with_instance<R>(
    vmctx: *mut VMContext,
    f: impl FnOnce(
        InstanceView,
        &mut crate::store::StoreOpaque,
        Option<&mut dyn crate::ResourceLimiter>,
    ) -> R,
) -> R {
    // SAFETY: per the contract `vmctx` is live.
    let inst = unsafe { instance_from_vmctx(vmctx) };
    let view = InstanceView {
        index: inst.handle.index,
    };
    let store = inst.store;
    // SAFETY: the store outlives its instances, and no other borrow of it is active (see
    // the contract); `inst` is not used after this point.
    let (opaque, limiter) = unsafe { (*store.as_ptr()).opaque_and_limiter() };
    f(view, opaque, limiter)
}

/// Which instance a builtin runs for, by index into the store's instances.
struct InstanceView {
    index: usize,
}

unsafe extern "C" fn memory_grow(vmctx: *mut VMContext, memory: u32, delta: u64) -> u64 {
    // SAFETY: called by wasm code of a live instance (builtin contract).
    unsafe {
        with_instance(vmctx, |view, store, limiter| {
            let mem = store.instances[view.index].memories[memory as usize];
            match store.memory_mut(mem).grow(delta, limiter) {
                Ok(Some(old)) => old,
                _ => u64::MAX,
            }
        })
    }
}

unsafe extern "C" fn table_grow(vmctx: *mut VMContext, table: u32, delta: u64, init: u64) -> u64 {
    // SAFETY: called by wasm code of a live instance (builtin contract).
    unsafe {
        with_instance(vmctx, |view, store, limiter| {
            let t = store.instances[view.index].tables[table as usize];
            match store.table_mut(t).grow(delta, init, limiter) {
                Ok(Some(old)) => old,
                _ => u64::MAX,
            }
        })
    }
}

unsafe extern "C" fn memory_init(
    vmctx: *mut VMContext,
    memory: u32,
    data: u32,
    dst: u64,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: called by wasm code of a live instance (builtin contract).
    unsafe {
        with_instance(vmctx, |view, store, _| {
            let inst = &store.instances[view.index];
            let mem = inst.memories[memory as usize];
            let bytes = if inst.dropped_data[data as usize] {
                None
            } else {
                Some(inst.module.info().data[data as usize].bytes.clone())
            };
            let seg: &[u8] = bytes.as_deref().unwrap_or(&[]);
            match crate::instance::init_memory(store.memory_mut(mem).data_mut(), dst, seg, src, len)
            {
                Ok(()) => 0,
                Err(code) => code.as_raw().get().into(),
            }
        })
    }
}

unsafe extern "C" fn data_drop(vmctx: *mut VMContext, data: u32) {
    // SAFETY: called by wasm code of a live instance (builtin contract).
    unsafe {
        with_instance(vmctx, |view, store, _| {
            store.instances[view.index].dropped_data[data as usize] = true;
        })
    }
}

unsafe extern "C" fn table_init(
    vmctx: *mut VMContext,
    table: u32,
    elem: u32,
    dst: u64,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: called by wasm code of a live instance (builtin contract).
    unsafe {
        with_instance(vmctx, |view, store, _| {
            let inst = &mut store.instances[view.index];
            let t = inst.tables[table as usize];
            let seg = inst.elements[elem as usize].take();
            let items: &[u64] = seg.as_deref().unwrap_or(&[]);
            let result = crate::instance::init_table(
                store.table_mut(t).elements_mut(),
                dst,
                items,
                src,
                len,
            );
            store.instances[view.index].elements[elem as usize] = seg;
            match result {
                Ok(()) => 0,
                Err(code) => code.as_raw().get().into(),
            }
        })
    }
}

unsafe extern "C" fn elem_drop(vmctx: *mut VMContext, elem: u32) {
    // SAFETY: called by wasm code of a live instance (builtin contract).
    unsafe {
        with_instance(vmctx, |view, store, _| {
            store.instances[view.index].elements[elem as usize] = None;
        })
    }
}
