//! Host functions: a `VMFuncRef` whose array-call entry is a trampoline into a Rust closure.

use super::instance::{caller_instance, FuncRefPtr};
use crate::store::StoreInner;
use anyhow::Result;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use strata_environ::vmcontext::{VMContext, VMFuncRef};
use strata_environ::{TrapCode, ValRaw};

/// The body of a host function: reads its parameters from the value slice and writes its
/// results there (the array calling convention).
/// It gets the store and the calling instance, and builds the `Caller` itself so it can
/// still use the store after the user's closure returned.
pub(crate) type HostFn<T> =
    dyn Fn(&mut StoreInner<T>, Option<crate::Instance>, &mut [ValRaw]) -> Result<()> + Send + Sync;

/// Owns a host function for its store (type-erased so the store needs no `T` for it).
pub(crate) trait HostFuncOwner: Send + Sync {}

/// A host function's context. `funcref` comes first so that a `*const VMFuncRef` of a host
/// function is also a pointer to its context.
#[repr(C)]
struct HostFuncContext<T: 'static> {
    funcref: VMFuncRef,
    store: *mut StoreInner<T>,
    func: Arc<HostFn<T>>,
}

// SAFETY: `store` points at the store owning this context and is only dereferenced while
// wasm of that store runs on the thread that has the store.
unsafe impl<T> Send for HostFuncContext<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for HostFuncContext<T> {}

impl<T> HostFuncOwner for HostFuncContext<T> {}

/// Creates a host function in `store` with engine signature `type_id`.
pub(crate) fn new_host_func<T: 'static>(
    store: &mut StoreInner<T>,
    type_id: u32,
    func: Arc<HostFn<T>>,
) -> FuncRefPtr {
    let store_ptr: *mut StoreInner<T> = store;
    let mut ctx = Box::new(HostFuncContext {
        funcref: VMFuncRef {
            array_call: host_trampoline::<T>,
            wasm_call: std::ptr::null(),
            vmctx: std::ptr::null_mut(),
            type_id,
            func_index: u32::MAX,
        },
        store: store_ptr,
        func,
    });
    let ctx_ptr: *mut HostFuncContext<T> = &mut *ctx;
    ctx.funcref.vmctx = ctx_ptr.cast::<VMContext>();
    let funcref = FuncRefPtr::new(&ctx.funcref).expect("boxed");
    store.opaque_mut().host_funcs.push(ctx);
    funcref
}

/// The array-call entry of every host function of stores with data `T`.
unsafe extern "C" fn host_trampoline<T: 'static>(
    callee: *const VMFuncRef,
    caller_vmctx: *mut VMContext,
    values: *mut ValRaw,
    len: usize,
) -> bool {
    // SAFETY: `callee` is the first field of a live, boxed `HostFuncContext<T>` (made by
    // `new_host_func`, owned by the store running this call).
    let ctx = unsafe { &*callee.cast::<HostFuncContext<T>>() };
    // SAFETY: the store outlives its host functions; while wasm runs, the host-to-wasm entry
    // holds no borrow of it, so this is the only live reference.
    let store = unsafe { &mut *ctx.store };
    // SAFETY: callers pass their own live `VMContext`, or null from the host.
    let caller = unsafe { caller_instance(caller_vmctx) };
    // SAFETY: the caller provides `len` initialized slots at `values`.
    let values = unsafe { std::slice::from_raw_parts_mut(values, len) };
    let func = ctx.func.clone();
    let result = catch_unwind(AssertUnwindSafe(|| func(&mut *store, caller, values)));
    let opaque = store.opaque_mut();
    match result {
        Ok(Ok(())) => true,
        Ok(Err(error)) => {
            opaque.pending_error = Some(error);
            opaque.vm_store_context.begin_trap(TrapCode::HostError);
            false
        }
        Err(panic) => {
            opaque.pending_panic = Some(panic);
            opaque.vm_store_context.begin_trap(TrapCode::HostError);
            false
        }
    }
}
