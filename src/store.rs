//! `Store`: owns every instance, function, memory, table and global created in it.
//!
//! Handles (`Func`, `Memory`, `Instance`, ...) are small `Copy` values naming their store by
//! [`StoreId`]; using one with another store panics, as in wasmtime. Everything a store owns
//! lives until the store is dropped, at stable addresses (boxed), because the `VMContext`s
//! of its instances point at them.

use crate::limits::ResourceLimiter;
use crate::vm::{HostFuncOwner, InstanceData, VMStore};
use crate::{Engine, Global, Memory, Table};
use anyhow::{bail, Result};
use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use strata_environ::vmcontext::VMStoreContext;

/// Identifies a store; handles carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StoreId(u64);

impl StoreId {
    fn fresh() -> StoreId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        StoreId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// A collection of wasm objects and the host data `T` they may reach through `Caller`.
pub struct Store<T> {
    // Boxed: host functions and instances hold pointers to it.
    inner: Box<StoreInner<T>>,
}

type LimiterFn<T> = Box<dyn FnMut(&mut T) -> &mut (dyn ResourceLimiter) + Send + Sync>;

pub(crate) struct StoreInner<T> {
    opaque: StoreOpaque,
    limiter: Option<LimiterFn<T>>,
    data: T,
}

/// The part of a store that does not depend on `T`.
#[allow(
    clippy::vec_box,
    reason = "VMContexts point into these records: they must not move when a vector grows"
)]
pub(crate) struct StoreOpaque {
    id: StoreId,
    engine: Engine,
    pub(crate) vm_store_context: Box<VMStoreContext>,
    pub(crate) instances: Vec<Box<InstanceData>>,
    pub(crate) host_funcs: Vec<Box<dyn HostFuncOwner>>,
    pub(crate) memories: Vec<Box<crate::vm::MemoryData>>,
    pub(crate) tables: Vec<Box<crate::vm::TableData>>,
    pub(crate) globals: Vec<Box<crate::vm::GlobalData>>,
    pub(crate) externrefs: Vec<Arc<dyn Any + Send + Sync>>,
    /// Error of a host function that failed, waiting to be returned by the outermost call.
    pub(crate) pending_error: Option<anyhow::Error>,
    /// Panic payload of a host function, resumed once back in Rust frames.
    pub(crate) pending_panic: Option<Box<dyn Any + Send>>,
    /// Number of active host-to-wasm entries on this thread.
    pub(crate) entry_depth: usize,
    /// Type-erased pointer to the enclosing `StoreInner<T>` (set once it is boxed).
    pub(crate) vmstore: Option<std::ptr::NonNull<dyn VMStore>>,
}

// SAFETY: the raw pointers a store holds (`vmstore`, and those inside instance data) point
// into the store itself; they are only dereferenced by whoever has `&mut Store`, so moving
// the store to another thread moves them together.
unsafe impl Send for StoreOpaque {}
// SAFETY: as above; shared access never dereferences the raw pointers mutably.
unsafe impl Sync for StoreOpaque {}

impl<T> Store<T> {
    /// A new store for `engine`, holding `data`.
    pub fn new(engine: &Engine, data: T) -> Store<T> {
        let mut inner = Box::new(StoreInner {
            opaque: StoreOpaque {
                id: StoreId::fresh(),
                engine: engine.clone(),
                vm_store_context: Box::new(VMStoreContext::new()),
                instances: Vec::new(),
                host_funcs: Vec::new(),
                memories: Vec::new(),
                tables: Vec::new(),
                globals: Vec::new(),
                externrefs: Vec::new(),
                pending_error: None,
                pending_panic: None,
                entry_depth: 0,
                vmstore: None,
            },
            limiter: None,
            data,
        });
        let ptr: *mut (dyn VMStore + '_) = &mut *inner;
        // The pointer is only used while the store is alive; erase the lifetime of `T`.
        // SAFETY: a fat pointer's layout does not depend on the trait object's lifetime bound;
        // the pointee outlives every use (see `StoreOpaque::vmstore`).
        let ptr: *mut dyn VMStore = unsafe { std::mem::transmute(ptr) };
        inner.opaque.vmstore = std::ptr::NonNull::new(ptr);
        Store { inner }
    }

    pub fn data(&self) -> &T {
        &self.inner.data
    }

    pub fn data_mut(&mut self) -> &mut T {
        &mut self.inner.data
    }

    pub fn into_data(self) -> T {
        self.inner.data
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.opaque.engine
    }

    /// Installs a resource limiter consulted when memories, tables and instances are created
    /// or grown.
    pub fn limiter(
        &mut self,
        limiter: impl FnMut(&mut T) -> &mut (dyn ResourceLimiter) + Send + Sync + 'static,
    ) {
        self.inner.limiter = Some(Box::new(limiter));
    }
}

impl<T> std::fmt::Debug for Store<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("id", &self.inner.opaque.id)
            .finish_non_exhaustive()
    }
}

impl<T> StoreInner<T> {
    pub(crate) fn opaque(&self) -> &StoreOpaque {
        &self.opaque
    }
    pub(crate) fn opaque_mut(&mut self) -> &mut StoreOpaque {
        &mut self.opaque
    }
    pub(crate) fn data(&self) -> &T {
        &self.data
    }
    pub(crate) fn data_mut(&mut self) -> &mut T {
        &mut self.data
    }
    /// The store and its limiter, borrowed together.
    pub(crate) fn opaque_and_limiter(
        &mut self,
    ) -> (&mut StoreOpaque, Option<&mut dyn ResourceLimiter>) {
        let limiter = match &mut self.limiter {
            Some(f) => Some(f(&mut self.data)),
            None => None,
        };
        (&mut self.opaque, limiter)
    }
}

impl<T> VMStore for StoreInner<T> {
    fn opaque_and_limiter(&mut self) -> (&mut StoreOpaque, Option<&mut dyn ResourceLimiter>) {
        StoreInner::opaque_and_limiter(self)
    }
}

impl StoreOpaque {
    pub(crate) fn id(&self) -> StoreId {
        self.id
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Panics unless this store owns an object of store `id` (the wasmtime contract).
    #[track_caller]
    pub(crate) fn assert_owns(&self, id: StoreId) {
        assert!(self.id == id, "object used with the wrong store");
    }

    /// Like `assert_owns`, as an error (for values passed in by the embedder).
    pub(crate) fn check_owns(&self, id: StoreId) -> Result<()> {
        if self.id != id {
            bail!("value used with the wrong store");
        }
        Ok(())
    }

    pub(crate) fn memory(&self, m: Memory) -> &crate::vm::MemoryData {
        self.assert_owns(m.store);
        &self.memories[m.index]
    }
    pub(crate) fn memory_mut(&mut self, m: Memory) -> &mut crate::vm::MemoryData {
        self.assert_owns(m.store);
        &mut self.memories[m.index]
    }
    pub(crate) fn table(&self, t: Table) -> &crate::vm::TableData {
        self.assert_owns(t.store);
        &self.tables[t.index]
    }
    pub(crate) fn table_mut(&mut self, t: Table) -> &mut crate::vm::TableData {
        self.assert_owns(t.store);
        &mut self.tables[t.index]
    }
    pub(crate) fn global(&self, g: Global) -> &crate::vm::GlobalData {
        self.assert_owns(g.store);
        &self.globals[g.index]
    }
    pub(crate) fn global_mut(&mut self, g: Global) -> &mut crate::vm::GlobalData {
        self.assert_owns(g.store);
        &mut self.globals[g.index]
    }
}

/// Shared access to a store, as taken by read-only API calls.
pub struct StoreContext<'a, T>(pub(crate) &'a StoreInner<T>);

/// Exclusive access to a store, as taken by API calls that may run wasm or change state.
pub struct StoreContextMut<'a, T>(pub(crate) &'a mut StoreInner<T>);

impl<T> StoreContext<'_, T> {
    pub fn data(&self) -> &T {
        self.0.data()
    }
    pub fn engine(&self) -> &Engine {
        self.0.opaque.engine()
    }
}

impl<T> StoreContextMut<'_, T> {
    pub fn data(&self) -> &T {
        self.0.data()
    }
    pub fn data_mut(&mut self) -> &mut T {
        self.0.data_mut()
    }
    pub fn engine(&self) -> &Engine {
        self.0.opaque.engine()
    }
}

/// Types that give shared access to a store (`&Store<T>`, `Caller<T>`, contexts, ...).
pub trait AsContext {
    type Data;
    fn as_context(&self) -> StoreContext<'_, Self::Data>;
}

/// Types that give exclusive access to a store.
pub trait AsContextMut: AsContext {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, Self::Data>;
}

impl<T> AsContext for Store<T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(&self.inner)
    }
}
impl<T> AsContextMut for Store<T> {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, T> {
        StoreContextMut(&mut self.inner)
    }
}
impl<T> AsContext for StoreContext<'_, T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(self.0)
    }
}
impl<T> AsContext for StoreContextMut<'_, T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(self.0)
    }
}
impl<T> AsContextMut for StoreContextMut<'_, T> {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, T> {
        StoreContextMut(self.0)
    }
}
impl<C: AsContext + ?Sized> AsContext for &C {
    type Data = C::Data;
    fn as_context(&self) -> StoreContext<'_, C::Data> {
        C::as_context(self)
    }
}
impl<C: AsContext + ?Sized> AsContext for &mut C {
    type Data = C::Data;
    fn as_context(&self) -> StoreContext<'_, C::Data> {
        C::as_context(self)
    }
}
impl<C: AsContextMut + ?Sized> AsContextMut for &mut C {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, C::Data> {
        C::as_context_mut(self)
    }
}

impl<'a, T: AsContext> From<&'a T> for StoreContext<'a, T::Data> {
    fn from(t: &'a T) -> Self {
        t.as_context()
    }
}
impl<'a, T: AsContext> From<&'a mut T> for StoreContext<'a, T::Data> {
    fn from(t: &'a mut T) -> Self {
        T::as_context(t)
    }
}
impl<'a, T: AsContextMut> From<&'a mut T> for StoreContextMut<'a, T::Data> {
    fn from(t: &'a mut T) -> Self {
        t.as_context_mut()
    }
}
