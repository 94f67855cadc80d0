//! `Extern` and the store-owned objects it can name: `Memory`, `Table`, `Global`.

use crate::store::{AsContext, AsContextMut, StoreId, StoreInner, StoreOpaque};
use crate::types::{ExternType, GlobalType, MemoryType, Mutability, TableType};
use crate::vm::{GlobalData, MemoryData, TableData};
use crate::{Func, Ref, Val};
use anyhow::{bail, Result};
use std::fmt;

/// Anything a module can import or export.
#[derive(Debug, Clone, Copy)]
pub enum Extern {
    Func(Func),
    Global(Global),
    Table(Table),
    Memory(Memory),
}

impl Extern {
    pub fn into_func(self) -> Option<Func> {
        match self {
            Extern::Func(f) => Some(f),
            _ => None,
        }
    }
    pub fn into_global(self) -> Option<Global> {
        match self {
            Extern::Global(g) => Some(g),
            _ => None,
        }
    }
    pub fn into_table(self) -> Option<Table> {
        match self {
            Extern::Table(t) => Some(t),
            _ => None,
        }
    }
    pub fn into_memory(self) -> Option<Memory> {
        match self {
            Extern::Memory(m) => Some(m),
            _ => None,
        }
    }

    /// The type of the external value.
    pub fn ty(&self, store: impl AsContext) -> ExternType {
        let store = store.as_context().0.opaque();
        self.load_ty(store)
    }

    pub(crate) fn load_ty(&self, store: &StoreOpaque) -> ExternType {
        match self {
            Extern::Func(f) => ExternType::Func(f.load_ty(store)),
            Extern::Global(g) => ExternType::Global(GlobalType::from_env(store.global(*g).ty)),
            Extern::Table(t) => {
                let data = store.table(*t);
                let mut ty = data.ty;
                ty.minimum = data.size();
                ExternType::Table(TableType::from_env(ty))
            }
            Extern::Memory(m) => {
                let data = store.memory(*m);
                let mut ty = data.ty;
                ty.minimum = data.pages();
                ExternType::Memory(MemoryType::from_env(ty))
            }
        }
    }

    pub(crate) fn store_id(&self) -> StoreId {
        match self {
            Extern::Func(f) => f.store_id(),
            Extern::Global(g) => g.store,
            Extern::Table(t) => t.store,
            Extern::Memory(m) => m.store,
        }
    }
}

impl From<Func> for Extern {
    fn from(f: Func) -> Extern {
        Extern::Func(f)
    }
}
impl From<Global> for Extern {
    fn from(g: Global) -> Extern {
        Extern::Global(g)
    }
}
impl From<Table> for Extern {
    fn from(t: Table) -> Extern {
        Extern::Table(t)
    }
}
impl From<Memory> for Extern {
    fn from(m: Memory) -> Extern {
        Extern::Memory(m)
    }
}

/// An out-of-bounds `Memory::read` or `Memory::write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryAccessError {
    _private: (),
}

impl fmt::Display for MemoryAccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("out of bounds memory access")
    }
}

impl std::error::Error for MemoryAccessError {}

/// A linear memory owned by a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Memory {
    pub(crate) store: StoreId,
    pub(crate) index: usize,
}

impl Memory {
    /// Creates a memory of type `ty` in `store`.
    pub fn new(mut store: impl AsContextMut, ty: MemoryType) -> Result<Memory> {
        Memory::create(store.as_context_mut().0, ty.to_env())
    }

    pub(crate) fn create<T>(
        store: &mut StoreInner<T>,
        ty: strata_environ::MemoryType,
    ) -> Result<Memory> {
        let (store, limiter) = store.opaque_and_limiter();
        let limit = limiter
            .as_ref()
            .map_or(crate::limits::DEFAULT_MEMORY_LIMIT, |l| l.memories());
        if store.memories.len() >= limit {
            bail!("resource limit exceeded: memory count too high at {limit}");
        }
        let config = store.engine().config().memory_config();
        let data = MemoryData::new(ty, config, limiter)?;
        store.memories.push(data);
        Ok(Memory {
            store: store.id(),
            index: store.memories.len() - 1,
        })
    }

    pub fn ty(&self, store: impl AsContext) -> MemoryType {
        match Extern::Memory(*self).ty(store) {
            ExternType::Memory(m) => m,
            _ => unreachable!("a memory's type is a memory type"),
        }
    }

    /// Current size in pages.
    pub fn size(&self, store: impl AsContext) -> u64 {
        store.as_context().0.opaque().memory(*self).pages()
    }

    /// Current size in bytes.
    pub fn data_size(&self, store: impl AsContext) -> usize {
        store.as_context().0.opaque().memory(*self).data().len()
    }

    pub fn data<'a, T: 'a>(&self, store: impl Into<crate::store::StoreContext<'a, T>>) -> &'a [u8] {
        store.into().0.opaque().memory(*self).data()
    }

    pub fn data_mut<'a, T: 'a>(
        &self,
        store: impl Into<crate::store::StoreContextMut<'a, T>>,
    ) -> &'a mut [u8] {
        store.into().0.opaque_mut().memory_mut(*self).data_mut()
    }

    /// Copies `buffer.len()` bytes at `offset` into `buffer`.
    pub fn read(
        &self,
        store: impl AsContext,
        offset: usize,
        buffer: &mut [u8],
    ) -> Result<(), MemoryAccessError> {
        let store = store.as_context();
        let data = store.0.opaque().memory(*self).data();
        let end = offset
            .checked_add(buffer.len())
            .ok_or(MemoryAccessError { _private: () })?;
        let src = data
            .get(offset..end)
            .ok_or(MemoryAccessError { _private: () })?;
        buffer.copy_from_slice(src);
        Ok(())
    }

    /// Copies `buffer` into memory at `offset`.
    pub fn write(
        &self,
        mut store: impl AsContextMut,
        offset: usize,
        buffer: &[u8],
    ) -> Result<(), MemoryAccessError> {
        let store = store.as_context_mut();
        let data = store.0.opaque_mut().memory_mut(*self).data_mut();
        let end = offset
            .checked_add(buffer.len())
            .ok_or(MemoryAccessError { _private: () })?;
        let dst = data
            .get_mut(offset..end)
            .ok_or(MemoryAccessError { _private: () })?;
        dst.copy_from_slice(buffer);
        Ok(())
    }

    /// Grows by `delta` pages; returns the previous size in pages.
    pub fn grow(&self, mut store: impl AsContextMut, delta: u64) -> Result<u64> {
        let store = store.as_context_mut();
        let (opaque, limiter) = store.0.opaque_and_limiter();
        match opaque.memory_mut(*self).grow(delta, limiter)? {
            Some(old) => Ok(old),
            None => bail!("failed to grow memory by `{delta}`"),
        }
    }
}

/// A table owned by a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Table {
    pub(crate) store: StoreId,
    pub(crate) index: usize,
}

impl Table {
    /// Creates a table of type `ty` in `store`, every element set to `init`.
    pub fn new(mut store: impl AsContextMut, ty: TableType, init: Ref) -> Result<Table> {
        let store = store.as_context_mut().0;
        check_ref(store.opaque(), &ty, &init)?;
        let raw = init.to_raw(store.opaque());
        Table::create(store, ty.to_env(), raw)
    }

    pub(crate) fn create<T>(
        store: &mut StoreInner<T>,
        ty: strata_environ::TableType,
        init: u64,
    ) -> Result<Table> {
        let (store, limiter) = store.opaque_and_limiter();
        let limit = limiter
            .as_ref()
            .map_or(crate::limits::DEFAULT_TABLE_LIMIT, |l| l.tables());
        if store.tables.len() >= limit {
            bail!("resource limit exceeded: table count too high at {limit}");
        }
        let data = TableData::new(ty, init, limiter)?;
        store.tables.push(data);
        Ok(Table {
            store: store.id(),
            index: store.tables.len() - 1,
        })
    }

    pub fn ty(&self, store: impl AsContext) -> TableType {
        match Extern::Table(*self).ty(store) {
            ExternType::Table(t) => t,
            _ => unreachable!("a table's type is a table type"),
        }
    }

    pub fn size(&self, store: impl AsContext) -> u64 {
        store.as_context().0.opaque().table(*self).size()
    }

    /// The element at `index`, `None` when out of bounds.
    pub fn get(&self, mut store: impl AsContextMut, index: u64) -> Option<Ref> {
        let store = store.as_context_mut();
        let opaque = store.0.opaque();
        let data = opaque.table(*self);
        let raw = *data.elements().get(usize::try_from(index).ok()?)?;
        let ty = crate::types::RefType::from_env(data.ty.element);
        Some(Ref::from_raw(opaque, ty, raw))
    }

    /// Sets the element at `index`.
    pub fn set(&self, mut store: impl AsContextMut, index: u64, val: Ref) -> Result<()> {
        let store = store.as_context_mut();
        let opaque = store.0.opaque_mut();
        let ty = TableType::from_env(opaque.table(*self).ty);
        check_ref(opaque, &ty, &val)?;
        let raw = val.to_raw(opaque);
        let elems = opaque.table_mut(*self).elements_mut();
        match usize::try_from(index).ok().and_then(|i| elems.get_mut(i)) {
            Some(slot) => {
                *slot = raw;
                Ok(())
            }
            None => bail!("table element index {index} out of bounds"),
        }
    }

    /// Grows by `delta` elements set to `init`; returns the previous size.
    pub fn grow(&self, mut store: impl AsContextMut, delta: u64, init: Ref) -> Result<u64> {
        let store = store.as_context_mut();
        let ty = TableType::from_env(store.0.opaque().table(*self).ty);
        check_ref(store.0.opaque(), &ty, &init)?;
        let raw = init.to_raw(store.0.opaque());
        let (opaque, limiter) = store.0.opaque_and_limiter();
        match opaque.table_mut(*self).grow(delta, raw, limiter)? {
            Some(old) => Ok(old),
            None => bail!("failed to grow table by `{delta}`"),
        }
    }
}

fn check_ref(store: &StoreOpaque, ty: &TableType, r: &Ref) -> Result<()> {
    if r.heap_type() != *ty.element().heap_type() {
        bail!(
            "type mismatch: table of {} cannot hold this reference",
            ty.element()
        );
    }
    match r {
        Ref::Func(Some(f)) => store.check_owns(f.store_id()),
        Ref::Extern(Some(e)) => store.check_owns(crate::values::extern_store(e)),
        _ => Ok(()),
    }
}

/// A global owned by a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Global {
    pub(crate) store: StoreId,
    pub(crate) index: usize,
}

impl Global {
    /// Creates a global of type `ty` holding `val`.
    pub fn new(mut store: impl AsContextMut, ty: GlobalType, val: Val) -> Result<Global> {
        let store = store.as_context_mut().0.opaque_mut();
        val.check(store, ty.content())?;
        let value = val.to_raw(store);
        Ok(Global::create(store, ty.to_env(), value))
    }

    pub(crate) fn create(
        store: &mut StoreOpaque,
        ty: strata_environ::GlobalType,
        value: strata_environ::ValRaw,
    ) -> Global {
        store.globals.push(Box::new(GlobalData { value, ty }));
        Global {
            store: store.id(),
            index: store.globals.len() - 1,
        }
    }

    pub fn ty(&self, store: impl AsContext) -> GlobalType {
        GlobalType::from_env(store.as_context().0.opaque().global(*self).ty)
    }

    pub fn get(&self, mut store: impl AsContextMut) -> Val {
        let store = store.as_context_mut();
        let opaque = store.0.opaque();
        let data = opaque.global(*self);
        Val::from_raw(
            opaque,
            data.value,
            crate::ValType::from_env(data.ty.content),
        )
    }

    /// Sets the value; fails for an immutable global or a value of the wrong type.
    pub fn set(&self, mut store: impl AsContextMut, val: Val) -> Result<()> {
        let store = store.as_context_mut();
        let opaque = store.0.opaque_mut();
        let ty = GlobalType::from_env(opaque.global(*self).ty);
        if ty.mutability() == Mutability::Const {
            bail!("immutable global cannot be set");
        }
        val.check(opaque, ty.content())?;
        let raw = val.to_raw(opaque);
        opaque.global_mut(*self).value = raw;
        Ok(())
    }
}
