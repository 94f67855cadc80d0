//! Statically typed calls: `TypedFunc` for wasm functions called from Rust, `IntoFunc` for
//! Rust closures called from wasm. Both move values straight between Rust types and the raw
//! array-call slots, without `Val`.

use super::{Caller, Func};
use crate::store::{AsContextMut, StoreContextMut, StoreInner, StoreOpaque};
use crate::types::{FuncType, ValType};
use crate::vm::{self, HostFn};
use crate::{Engine, ExternRef, Instance, V128};
use anyhow::{bail, Result};
use std::marker::PhantomData;
use std::sync::Arc;
use strata_environ::ValRaw;

/// The store context typed values are converted in. Not constructible outside Strata.
#[doc(hidden)]
pub struct RawCtx<'a>(&'a StoreOpaque);

/// A Rust type that corresponds to one wasm value type.
pub trait WasmTy: Send + Sized + 'static {
    #[doc(hidden)]
    fn valtype() -> ValType;
    #[doc(hidden)]
    fn into_raw(self, ctx: &RawCtx<'_>) -> ValRaw;
    #[doc(hidden)]
    fn from_raw(ctx: &RawCtx<'_>, raw: ValRaw) -> Self;
}

macro_rules! numeric_wasm_ty {
    ($($ty:ty => $vt:ident, |$v:ident| $to:expr, |$r:ident| $from:expr;)*) => {$(
        impl WasmTy for $ty {
            fn valtype() -> ValType {
                ValType::$vt
            }
            fn into_raw(self, _: &RawCtx<'_>) -> ValRaw {
                let $v = self;
                $to
            }
            fn from_raw(_: &RawCtx<'_>, $r: ValRaw) -> Self {
                $from
            }
        }
    )*};
}

numeric_wasm_ty! {
    i32 => I32, |v| ValRaw::i32(v), |r| r.get_i32();
    u32 => I32, |v| ValRaw::i32(v as i32), |r| r.get_i32() as u32;
    i64 => I64, |v| ValRaw::i64(v), |r| r.get_i64();
    u64 => I64, |v| ValRaw::i64(v as i64), |r| r.get_i64() as u64;
    f32 => F32, |v| ValRaw::f32(v.to_bits()), |r| f32::from_bits(r.get_f32());
    f64 => F64, |v| ValRaw::f64(v.to_bits()), |r| f64::from_bits(r.get_f64());
    V128 => V128, |v| ValRaw::v128(v.as_u128()), |r| V128::from(r.get_v128());
}

impl WasmTy for Option<Func> {
    fn valtype() -> ValType {
        ValType::FUNCREF
    }
    fn into_raw(self, ctx: &RawCtx<'_>) -> ValRaw {
        ValRaw::reference(self.map_or(0, |f| f.to_raw(ctx.0)))
    }
    fn from_raw(ctx: &RawCtx<'_>, raw: ValRaw) -> Self {
        Func::from_raw(ctx.0, raw.get_ref())
    }
}

impl WasmTy for Option<ExternRef> {
    fn valtype() -> ValType {
        ValType::EXTERNREF
    }
    fn into_raw(self, ctx: &RawCtx<'_>) -> ValRaw {
        ValRaw::reference(self.map_or(0, |e| e.to_raw(ctx.0)))
    }
    fn from_raw(ctx: &RawCtx<'_>, raw: ValRaw) -> Self {
        ExternRef::from_raw(ctx.0, raw.get_ref())
    }
}

/// The parameters of a typed call: one [`WasmTy`] or a tuple of them.
pub trait WasmParams: Send {
    #[doc(hidden)]
    fn valtypes() -> Vec<ValType>;
    #[doc(hidden)]
    fn store_raw(self, ctx: &RawCtx<'_>, out: &mut [ValRaw]);
}

/// The results of a typed call: one [`WasmTy`] or a tuple of them (`()` for none).
pub trait WasmResults: Sized {
    #[doc(hidden)]
    fn valtypes() -> Vec<ValType>;
    #[doc(hidden)]
    fn load_raw(ctx: &RawCtx<'_>, values: &[ValRaw]) -> Self;
    #[doc(hidden)]
    fn store_raw(self, ctx: &RawCtx<'_>, out: &mut [ValRaw]);
}

impl<A: WasmTy> WasmParams for A {
    fn valtypes() -> Vec<ValType> {
        vec![A::valtype()]
    }
    fn store_raw(self, ctx: &RawCtx<'_>, out: &mut [ValRaw]) {
        out[0] = self.into_raw(ctx);
    }
}

impl<A: WasmTy> WasmResults for A {
    fn valtypes() -> Vec<ValType> {
        vec![A::valtype()]
    }
    fn load_raw(ctx: &RawCtx<'_>, values: &[ValRaw]) -> Self {
        A::from_raw(ctx, values[0])
    }
    fn store_raw(self, ctx: &RawCtx<'_>, out: &mut [ValRaw]) {
        out[0] = self.into_raw(ctx);
    }
}

/// What a host closure may return: results, or a `Result` of them (an `Err` traps).
pub trait WasmRet {
    #[doc(hidden)]
    type Results: WasmResults;
    #[doc(hidden)]
    fn into_results(self) -> Result<Self::Results>;
}

impl<R: WasmResults> WasmRet for R {
    type Results = R;
    fn into_results(self) -> Result<R> {
        Ok(self)
    }
}

impl<R: WasmResults> WasmRet for Result<R> {
    type Results = R;
    fn into_results(self) -> Result<R> {
        self
    }
}

macro_rules! tuple_impls {
    ($($a:ident)*) => {
        #[allow(non_snake_case, unused_variables, unused_mut, unused_assignments)]
        impl<$($a: WasmTy),*> WasmParams for ($($a,)*) {
            fn valtypes() -> Vec<ValType> {
                vec![$($a::valtype()),*]
            }
            fn store_raw(self, ctx: &RawCtx<'_>, out: &mut [ValRaw]) {
                let ($($a,)*) = self;
                let mut i = 0;
                $( out[i] = $a.into_raw(ctx); i += 1; )*
            }
        }

        #[allow(non_snake_case, unused_variables, unused_mut, unused_assignments, clippy::unused_unit)]
        impl<$($a: WasmTy),*> WasmResults for ($($a,)*) {
            fn valtypes() -> Vec<ValType> {
                vec![$($a::valtype()),*]
            }
            fn load_raw(ctx: &RawCtx<'_>, values: &[ValRaw]) -> Self {
                let mut i = 0;
                ($({ let v = $a::from_raw(ctx, values[i]); i += 1; v },)*)
            }
            fn store_raw(self, ctx: &RawCtx<'_>, out: &mut [ValRaw]) {
                let ($($a,)*) = self;
                let mut i = 0;
                $( out[i] = $a.into_raw(ctx); i += 1; )*
            }
        }

        #[allow(non_snake_case, unused_variables, unused_mut, unused_assignments)]
        impl<T: 'static, F, $($a: WasmTy,)* R: WasmRet> IntoFunc<T, ($($a,)*), R> for F
        where
            F: Fn($($a),*) -> R + Send + Sync + 'static,
        {
            fn into_host_fn(self, engine: &Engine) -> HostFuncDef<T> {
                let ty = FuncType::new(engine, vec![$($a::valtype()),*], R::Results::valtypes());
                let host = move |store: &mut StoreInner<T>, _caller: Option<Instance>, values: &mut [ValRaw]| {
                    let ctx = RawCtx(store.opaque());
                    let mut i = 0;
                    $( let $a = $a::from_raw(&ctx, values[i]); i += 1; )*
                    let results = self($($a),*).into_results()?;
                    results.store_raw(&RawCtx(store.opaque()), values);
                    Ok(())
                };
                HostFuncDef { ty, func: Arc::new(host) }
            }
        }

        #[allow(non_snake_case, unused_variables, unused_mut, unused_assignments)]
        impl<T: 'static, F, $($a: WasmTy,)* R: WasmRet> IntoFunc<T, (Caller<'_, T>, $($a,)*), R> for F
        where
            F: Fn(Caller<'_, T>, $($a),*) -> R + Send + Sync + 'static,
        {
            fn into_host_fn(self, engine: &Engine) -> HostFuncDef<T> {
                let ty = FuncType::new(engine, vec![$($a::valtype()),*], R::Results::valtypes());
                let host = move |store: &mut StoreInner<T>, caller: Option<Instance>, values: &mut [ValRaw]| {
                    let ctx = RawCtx(store.opaque());
                    let mut i = 0;
                    $( let $a = $a::from_raw(&ctx, values[i]); i += 1; )*
                    let results =
                        self(Caller::new(StoreContextMut(&mut *store), caller), $($a),*).into_results()?;
                    results.store_raw(&RawCtx(store.opaque()), values);
                    Ok(())
                };
                HostFuncDef { ty, func: Arc::new(host) }
            }
        }
    };
}

/// A host function's signature and body, before it is placed in a store.
#[doc(hidden)]
pub struct HostFuncDef<T> {
    pub(crate) ty: FuncType,
    pub(crate) func: Arc<HostFn<T>>,
}

/// A Rust closure usable as a host function (see `Func::wrap`, `Linker::func_wrap`).
pub trait IntoFunc<T, Params, Results>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_host_fn(self, engine: &Engine) -> HostFuncDef<T>;
}

tuple_impls!();
tuple_impls!(A1);
tuple_impls!(A1 A2);
tuple_impls!(A1 A2 A3);
tuple_impls!(A1 A2 A3 A4);
tuple_impls!(A1 A2 A3 A4 A5);
tuple_impls!(A1 A2 A3 A4 A5 A6);
tuple_impls!(A1 A2 A3 A4 A5 A6 A7);
tuple_impls!(A1 A2 A3 A4 A5 A6 A7 A8);
tuple_impls!(A1 A2 A3 A4 A5 A6 A7 A8 A9);
tuple_impls!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10);
tuple_impls!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11);
tuple_impls!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12);

/// A function whose signature was checked once against `Params` and `Results`.
pub struct TypedFunc<Params, Results> {
    func: Func,
    _marker: PhantomData<fn(Params) -> Results>,
}

impl<P, R> Clone for TypedFunc<P, R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<P, R> Copy for TypedFunc<P, R> {}

impl<P, R> std::fmt::Debug for TypedFunc<P, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedFunc")
            .field("func", &self.func)
            .finish()
    }
}

impl<Params: WasmParams, Results: WasmResults> TypedFunc<Params, Results> {
    pub(crate) fn new(func: Func, ty: &FuncType) -> Result<Self> {
        let params: Vec<ValType> = ty.params().collect();
        let results: Vec<ValType> = ty.results().collect();
        if params != Params::valtypes() {
            bail!("type mismatch with parameters: the function takes {ty}");
        }
        if results != Results::valtypes() {
            bail!("type mismatch with results: the function has type {ty}");
        }
        Ok(TypedFunc {
            func,
            _marker: PhantomData,
        })
    }

    /// The untyped function.
    pub fn func(&self) -> &Func {
        &self.func
    }

    /// Calls the function; a trap is returned as an error that downcasts to `Trap`.
    pub fn call(&self, mut store: impl AsContextMut, params: Params) -> Result<Results> {
        let store = store.as_context_mut().0.opaque_mut();
        store.assert_owns(self.func.store_id());
        let len = Params::valtypes().len().max(Results::valtypes().len());
        let mut inline = [ValRaw::default(); 8];
        let mut heap;
        let values: &mut [ValRaw] = if len <= inline.len() {
            &mut inline[..len]
        } else {
            heap = vec![ValRaw::default(); len];
            &mut heap
        };
        params.store_raw(&RawCtx(store), values);
        // SAFETY: the store owns the function (checked above) and is not otherwise borrowed
        // during the call; the signature was checked when this `TypedFunc` was made and
        // `values` has room for max(params, results).
        unsafe { vm::invoke(store, self.func.ptr(), values)? };
        Ok(Results::load_raw(&RawCtx(store), values))
    }
}
