//! `Val`, `Ref` and `ExternRef`: typed values crossing the embedding API.

use crate::store::{AsContext, AsContextMut, StoreId, StoreOpaque};
use crate::types::{HeapType, RefType, ValType};
use crate::Func;
use anyhow::{bail, Result};
use std::any::Any;
use std::sync::Arc;
use strata_environ::ValRaw;

/// A 128-bit SIMD value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct V128(u128);

impl V128 {
    pub fn as_u128(&self) -> u128 {
        self.0
    }
}

impl From<u128> for V128 {
    fn from(v: u128) -> V128 {
        V128(v)
    }
}

impl From<V128> for u128 {
    fn from(v: V128) -> u128 {
        v.0
    }
}

/// A host reference: any `'static` value, shared by reference count.
///
/// Handles belong to the store that created them; their value lives as long as the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExternRef {
    store: StoreId,
    /// Index into the store's externref table; the raw wasm value is `index + 1`.
    index: u32,
}

impl ExternRef {
    /// Wraps `value` as a reference owned by `store`.
    pub fn new<T: Any + Send + Sync>(mut store: impl AsContextMut, value: T) -> Result<ExternRef> {
        let store = store.as_context_mut().0.opaque_mut();
        let index = store.externrefs.len();
        if index >= u32::MAX as usize - 1 {
            bail!("too many externrefs in one store");
        }
        store.externrefs.push(Arc::new(value));
        Ok(ExternRef {
            store: store.id(),
            index: index as u32,
        })
    }

    /// The host value this reference wraps.
    pub fn data<'a, T: 'a>(
        &self,
        store: impl Into<crate::store::StoreContext<'a, T>>,
    ) -> Result<Option<&'a (dyn Any + Send + Sync)>> {
        let store = store.into().0.opaque();
        store.assert_owns(self.store);
        Ok(Some(&*store.externrefs[self.index as usize]))
    }

    pub(crate) fn to_raw(self, store: &StoreOpaque) -> u64 {
        store.assert_owns(self.store);
        u64::from(self.index) + 1
    }

    pub(crate) fn from_raw(store: &StoreOpaque, raw: u64) -> Option<ExternRef> {
        let index = raw.checked_sub(1)?;
        Some(ExternRef {
            store: store.id(),
            index: index as u32,
        })
    }
}

/// A reference value.
#[derive(Debug, Clone, Copy)]
pub enum Ref {
    Func(Option<Func>),
    Extern(Option<ExternRef>),
}

impl Ref {
    pub fn is_null(&self) -> bool {
        matches!(self, Ref::Func(None) | Ref::Extern(None))
    }
    pub(crate) fn heap_type(&self) -> HeapType {
        match self {
            Ref::Func(_) => HeapType::Func,
            Ref::Extern(_) => HeapType::Extern,
        }
    }
    pub(crate) fn to_raw(self, store: &StoreOpaque) -> u64 {
        match self {
            Ref::Func(f) => f.map_or(0, |f| f.to_raw(store)),
            Ref::Extern(e) => e.map_or(0, |e| e.to_raw(store)),
        }
    }
    pub(crate) fn from_raw(store: &StoreOpaque, ty: RefType, raw: u64) -> Ref {
        match ty.heap_type() {
            HeapType::Func => Ref::Func(Func::from_raw(store, raw)),
            HeapType::Extern => Ref::Extern(ExternRef::from_raw(store, raw)),
        }
    }
}

impl From<Func> for Ref {
    fn from(f: Func) -> Ref {
        Ref::Func(Some(f))
    }
}

impl From<Option<Func>> for Ref {
    fn from(f: Option<Func>) -> Ref {
        Ref::Func(f)
    }
}

impl From<ExternRef> for Ref {
    fn from(e: ExternRef) -> Ref {
        Ref::Extern(Some(e))
    }
}

/// A typed wasm value. Floats are held as their bit patterns, so NaN payloads survive.
#[derive(Debug, Clone, Copy)]
pub enum Val {
    I32(i32),
    I64(i64),
    /// An f32, as its bits.
    F32(u32),
    /// An f64, as its bits.
    F64(u64),
    V128(V128),
    FuncRef(Option<Func>),
    ExternRef(Option<ExternRef>),
}

impl Val {
    /// The null reference of `ty`'s heap type, or zero of a numeric type.
    pub fn default_for_ty(ty: &ValType) -> Option<Val> {
        Some(match ty {
            ValType::I32 => Val::I32(0),
            ValType::I64 => Val::I64(0),
            ValType::F32 => Val::F32(0),
            ValType::F64 => Val::F64(0),
            ValType::V128 => Val::V128(V128(0)),
            ValType::Ref(r) => Val::null_ref(*r.heap_type()),
        })
    }

    /// The null reference of `heap`.
    pub fn null_ref(heap: HeapType) -> Val {
        match heap {
            HeapType::Func => Val::FuncRef(None),
            HeapType::Extern => Val::ExternRef(None),
        }
    }

    pub fn null_func_ref() -> Val {
        Val::FuncRef(None)
    }

    pub fn null_extern_ref() -> Val {
        Val::ExternRef(None)
    }

    /// This value's type.
    pub fn ty(&self, _store: impl AsContext) -> Result<ValType> {
        Ok(self.val_type())
    }

    pub(crate) fn val_type(&self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
            Val::V128(_) => ValType::V128,
            Val::FuncRef(_) => ValType::FUNCREF,
            Val::ExternRef(_) => ValType::EXTERNREF,
        }
    }

    pub fn i32(&self) -> Option<i32> {
        if let Val::I32(v) = self {
            Some(*v)
        } else {
            None
        }
    }
    pub fn i64(&self) -> Option<i64> {
        if let Val::I64(v) = self {
            Some(*v)
        } else {
            None
        }
    }
    pub fn f32(&self) -> Option<f32> {
        if let Val::F32(v) = self {
            Some(f32::from_bits(*v))
        } else {
            None
        }
    }
    pub fn f64(&self) -> Option<f64> {
        if let Val::F64(v) = self {
            Some(f64::from_bits(*v))
        } else {
            None
        }
    }
    pub fn unwrap_i32(&self) -> i32 {
        self.i32().expect("expected i32")
    }
    pub fn unwrap_i64(&self) -> i64 {
        self.i64().expect("expected i64")
    }
    pub fn unwrap_f32(&self) -> f32 {
        self.f32().expect("expected f32")
    }
    pub fn unwrap_f64(&self) -> f64 {
        self.f64().expect("expected f64")
    }
    pub fn ref_(&self) -> Option<Ref> {
        match self {
            Val::FuncRef(f) => Some(Ref::Func(*f)),
            Val::ExternRef(e) => Some(Ref::Extern(*e)),
            _ => None,
        }
    }
    pub fn funcref(&self) -> Option<Option<&Func>> {
        match self {
            Val::FuncRef(f) => Some(f.as_ref()),
            _ => None,
        }
    }
    pub fn externref(&self) -> Option<Option<&ExternRef>> {
        match self {
            Val::ExternRef(e) => Some(e.as_ref()),
            _ => None,
        }
    }

    /// Encodes the value for the array calling convention.
    pub(crate) fn to_raw(self, store: &StoreOpaque) -> ValRaw {
        match self {
            Val::I32(v) => ValRaw::i32(v),
            Val::I64(v) => ValRaw::i64(v),
            Val::F32(v) => ValRaw::f32(v),
            Val::F64(v) => ValRaw::f64(v),
            Val::V128(v) => ValRaw::v128(v.0),
            Val::FuncRef(f) => ValRaw::reference(Ref::Func(f).to_raw(store)),
            Val::ExternRef(e) => ValRaw::reference(Ref::Extern(e).to_raw(store)),
        }
    }

    /// Decodes a raw value of type `ty`.
    pub(crate) fn from_raw(store: &StoreOpaque, raw: ValRaw, ty: ValType) -> Val {
        match ty {
            ValType::I32 => Val::I32(raw.get_i32()),
            ValType::I64 => Val::I64(raw.get_i64()),
            ValType::F32 => Val::F32(raw.get_f32()),
            ValType::F64 => Val::F64(raw.get_f64()),
            ValType::V128 => Val::V128(V128(raw.get_v128())),
            ValType::Ref(r) => match Ref::from_raw(store, r, raw.get_ref()) {
                Ref::Func(f) => Val::FuncRef(f),
                Ref::Extern(e) => Val::ExternRef(e),
            },
        }
    }

    /// Checks that the value has type `ty` and belongs to `store`.
    pub(crate) fn check(&self, store: &StoreOpaque, ty: &ValType) -> Result<()> {
        let actual = self.val_type();
        if actual != *ty {
            bail!("type mismatch: expected {ty}, found {actual}");
        }
        match self {
            Val::FuncRef(Some(f)) => store.check_owns(f.store_id()),
            Val::ExternRef(Some(e)) => store.check_owns(e.store),
            _ => Ok(()),
        }
    }
}

impl From<i32> for Val {
    fn from(v: i32) -> Val {
        Val::I32(v)
    }
}
impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::I64(v)
    }
}
impl From<f32> for Val {
    fn from(v: f32) -> Val {
        Val::F32(v.to_bits())
    }
}
impl From<f64> for Val {
    fn from(v: f64) -> Val {
        Val::F64(v.to_bits())
    }
}
impl From<Func> for Val {
    fn from(f: Func) -> Val {
        Val::FuncRef(Some(f))
    }
}
impl From<Ref> for Val {
    fn from(r: Ref) -> Val {
        match r {
            Ref::Func(f) => Val::FuncRef(f),
            Ref::Extern(e) => Val::ExternRef(e),
        }
    }
}
impl From<V128> for Val {
    fn from(v: V128) -> Val {
        Val::V128(v)
    }
}

/// The store an externref belongs to.
pub(crate) fn extern_store(e: &ExternRef) -> StoreId {
    e.store
}
