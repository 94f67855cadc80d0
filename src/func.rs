//! `Func`: a wasm or host function, callable from the host; `Caller`: what a host function
//! sees of its store.

mod typed;

pub use typed::{HostFuncDef, IntoFunc, TypedFunc, WasmParams, WasmResults, WasmRet, WasmTy};

use crate::store::{
    AsContext, AsContextMut, StoreContext, StoreContextMut, StoreId, StoreInner, StoreOpaque,
};
use crate::types::FuncType;
use crate::vm::{self, FuncRefPtr, HostFn};
use crate::{Engine, Extern, Instance, Val};
use anyhow::{bail, Context, Result};
use std::sync::Arc;
use strata_environ::ValRaw;

/// A function of a store: defined by a wasm instance or by the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Func {
    store: StoreId,
    ptr: FuncRefPtr,
}

impl Func {
    pub(crate) fn from_ptr(store: &StoreOpaque, ptr: FuncRefPtr) -> Func {
        Func {
            store: store.id(),
            ptr,
        }
    }

    pub(crate) fn store_id(&self) -> StoreId {
        self.store
    }

    pub(crate) fn ptr(&self) -> FuncRefPtr {
        self.ptr
    }

    pub(crate) fn to_raw(self, store: &StoreOpaque) -> u64 {
        store.assert_owns(self.store);
        self.ptr.to_raw()
    }

    pub(crate) fn from_raw(store: &StoreOpaque, raw: u64) -> Option<Func> {
        FuncRefPtr::new(raw as usize as *const _).map(|ptr| Func::from_ptr(store, ptr))
    }

    /// A host function with a dynamic signature.
    pub fn new<T: 'static>(
        mut store: impl AsContextMut<Data = T>,
        ty: FuncType,
        func: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static,
    ) -> Func {
        let store = store.as_context_mut().0;
        let host = dynamic_host_fn(ty.clone(), func);
        Func::new_host(store, &ty, host)
    }

    /// A host function whose signature is given by the closure's Rust types.
    pub fn wrap<T: 'static, Params, Results>(
        mut store: impl AsContextMut<Data = T>,
        func: impl IntoFunc<T, Params, Results>,
    ) -> Func {
        let store = store.as_context_mut().0;
        let engine = store.opaque().engine().clone();
        let def = func.into_host_fn(&engine);
        Func::new_host(store, &def.ty, def.func)
    }

    pub(crate) fn new_host<T: 'static>(
        store: &mut StoreInner<T>,
        ty: &FuncType,
        host: Arc<HostFn<T>>,
    ) -> Func {
        let type_id = store.opaque().engine().signatures().register(&ty.ty);
        let ptr = vm::new_host_func(store, type_id, host);
        Func::from_ptr(store.opaque(), ptr)
    }

    /// The function's signature.
    pub fn ty(&self, store: impl AsContext) -> FuncType {
        self.load_ty(store.as_context().0.opaque())
    }

    pub(crate) fn load_ty(&self, store: &StoreOpaque) -> FuncType {
        store.assert_owns(self.store);
        FuncType::from_env(
            store
                .engine()
                .signatures()
                .lookup(vm::funcref_type_id(self.ptr)),
        )
    }

    /// Calls the function. `params` must match its parameter types and `results` must have
    /// one slot per result; both mismatches are errors. A trap is returned as an error that
    /// downcasts to [`crate::Trap`].
    pub fn call(
        &self,
        mut store: impl AsContextMut,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<()> {
        let store = store.as_context_mut().0.opaque_mut();
        let ty = self.load_ty(store);
        if params.len() != ty.params().len() {
            bail!(
                "wrong number of arguments: expected {}, got {}",
                ty.params().len(),
                params.len()
            );
        }
        if results.len() != ty.results().len() {
            bail!(
                "wrong number of results: expected {}, got {}",
                ty.results().len(),
                results.len()
            );
        }
        let mut values = vec![ValRaw::default(); params.len().max(results.len())];
        for (i, (param, expected)) in params.iter().zip(ty.params()).enumerate() {
            param
                .check(store, &expected)
                .with_context(|| format!("argument {i}"))?;
            values[i] = param.to_raw(store);
        }
        // SAFETY: the store is ours (checked by `load_ty`) and not otherwise borrowed during
        // the call; `values` holds the checked parameters and has room for the results.
        unsafe { vm::invoke(store, self.ptr, &mut values)? };
        for ((slot, raw), ty) in results.iter_mut().zip(values).zip(ty.results()) {
            *slot = Val::from_raw(store, raw, ty);
        }
        Ok(())
    }

    /// A typed view of this function; fails if `Params`/`Results` do not match its type.
    pub fn typed<Params: WasmParams, Results: WasmResults>(
        &self,
        store: impl AsContext,
    ) -> Result<TypedFunc<Params, Results>> {
        let ty = self.ty(&store);
        TypedFunc::new(*self, &ty)
    }
}

/// Adapts a closure over `Val`s to the raw host-function convention.
pub(crate) fn dynamic_host_fn<T: 'static>(
    ty: FuncType,
    func: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static,
) -> Arc<HostFn<T>> {
    Arc::new(
        move |store: &mut StoreInner<T>, caller: Option<Instance>, values: &mut [ValRaw]| {
            let params: Vec<Val> = ty
                .params()
                .zip(values.iter())
                .map(|(t, raw)| Val::from_raw(store.opaque(), *raw, t))
                .collect();
            let mut results: Vec<Val> = ty
                .results()
                .map(|t| Val::default_for_ty(&t).expect("every type has a default"))
                .collect();
            func(
                Caller::new(StoreContextMut(&mut *store), caller),
                &params,
                &mut results,
            )?;
            for (i, (result, expected)) in results.iter().zip(ty.results()).enumerate() {
                result
                    .check(store.opaque(), &expected)
                    .with_context(|| format!("host function returned a bad result {i}"))?;
                values[i] = result.to_raw(store.opaque());
            }
            Ok(())
        },
    )
}

/// A host function's view of its store and of the instance that called it.
pub struct Caller<'a, T> {
    store: StoreContextMut<'a, T>,
    caller: Option<Instance>,
}

impl<'a, T> Caller<'a, T> {
    pub(crate) fn new(store: StoreContextMut<'a, T>, caller: Option<Instance>) -> Self {
        Caller { store, caller }
    }

    pub fn data(&self) -> &T {
        self.store.data()
    }

    pub fn data_mut(&mut self) -> &mut T {
        self.store.data_mut()
    }

    pub fn engine(&self) -> &Engine {
        self.store.engine()
    }

    /// An export of the calling instance (`None` when called from the host).
    pub fn get_export(&mut self, name: &str) -> Option<Extern> {
        let instance = self.caller?;
        instance.get_export(&mut self.store, name)
    }
}

impl<T> AsContext for Caller<'_, T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        self.store.as_context()
    }
}

impl<T> AsContextMut for Caller<'_, T> {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, T> {
        self.store.as_context_mut()
    }
}
