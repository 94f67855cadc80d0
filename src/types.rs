//! Public wasm types of the embedding API (shaped like wasmtime's).

use crate::Engine;
use std::fmt;
use strata_environ as env;

/// The heap type of a reference (Wasm 2.0: functions or host references).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeapType {
    Func,
    Extern,
}

/// A reference type. In Wasm 2.0 every reference type is nullable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RefType {
    heap: HeapType,
}

impl RefType {
    pub const FUNCREF: RefType = RefType {
        heap: HeapType::Func,
    };
    pub const EXTERNREF: RefType = RefType {
        heap: HeapType::Extern,
    };

    /// A reference type; only nullable references exist in Wasm 2.0, so `nullable` must be
    /// true (a non-nullable request is kept nullable).
    pub fn new(_nullable: bool, heap: HeapType) -> RefType {
        RefType { heap }
    }
    pub fn is_nullable(&self) -> bool {
        true
    }
    pub fn heap_type(&self) -> &HeapType {
        &self.heap
    }
    pub(crate) fn to_env(self) -> env::RefType {
        match self.heap {
            HeapType::Func => env::RefType::FuncRef,
            HeapType::Extern => env::RefType::ExternRef,
        }
    }
    pub(crate) fn from_env(r: env::RefType) -> RefType {
        match r {
            env::RefType::FuncRef => RefType::FUNCREF,
            env::RefType::ExternRef => RefType::EXTERNREF,
        }
    }
}

impl fmt::Display for RefType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_env().fmt(f)
    }
}

/// A value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValType {
    I32,
    I64,
    F32,
    F64,
    V128,
    Ref(RefType),
}

impl ValType {
    pub const FUNCREF: ValType = ValType::Ref(RefType::FUNCREF);
    pub const EXTERNREF: ValType = ValType::Ref(RefType::EXTERNREF);

    pub fn is_i32(&self) -> bool {
        matches!(self, ValType::I32)
    }
    pub fn is_i64(&self) -> bool {
        matches!(self, ValType::I64)
    }
    pub fn is_f32(&self) -> bool {
        matches!(self, ValType::F32)
    }
    pub fn is_f64(&self) -> bool {
        matches!(self, ValType::F64)
    }
    pub fn is_v128(&self) -> bool {
        matches!(self, ValType::V128)
    }
    pub fn is_ref(&self) -> bool {
        matches!(self, ValType::Ref(_))
    }
    pub fn is_num(&self) -> bool {
        !self.is_ref()
    }
    pub fn as_ref(&self) -> Option<&RefType> {
        match self {
            ValType::Ref(r) => Some(r),
            _ => None,
        }
    }
    /// Whether a value of type `self` may be used where `other` is expected.
    pub fn matches(&self, other: &ValType) -> bool {
        self == other
    }
    pub(crate) fn to_env(self) -> env::WasmValType {
        match self {
            ValType::I32 => env::WasmValType::I32,
            ValType::I64 => env::WasmValType::I64,
            ValType::F32 => env::WasmValType::F32,
            ValType::F64 => env::WasmValType::F64,
            ValType::V128 => env::WasmValType::V128,
            ValType::Ref(r) => r.to_env().into(),
        }
    }
    pub(crate) fn from_env(t: env::WasmValType) -> ValType {
        match t {
            env::WasmValType::I32 => ValType::I32,
            env::WasmValType::I64 => ValType::I64,
            env::WasmValType::F32 => ValType::F32,
            env::WasmValType::F64 => ValType::F64,
            env::WasmValType::V128 => ValType::V128,
            env::WasmValType::FuncRef => ValType::FUNCREF,
            env::WasmValType::ExternRef => ValType::EXTERNREF,
        }
    }
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_env().fmt(f)
    }
}

/// A function type, registered with an engine.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FuncType {
    pub(crate) ty: env::WasmFuncType,
}

impl FuncType {
    pub fn new(
        _engine: &Engine,
        params: impl IntoIterator<Item = ValType>,
        results: impl IntoIterator<Item = ValType>,
    ) -> FuncType {
        FuncType::from_env(env::WasmFuncType::new(
            params.into_iter().map(ValType::to_env),
            results.into_iter().map(ValType::to_env),
        ))
    }
    pub(crate) fn from_env(ty: env::WasmFuncType) -> FuncType {
        FuncType { ty }
    }
    pub fn params(&self) -> impl ExactSizeIterator<Item = ValType> + '_ {
        self.ty.params.iter().map(|t| ValType::from_env(*t))
    }
    pub fn results(&self) -> impl ExactSizeIterator<Item = ValType> + '_ {
        self.ty.results.iter().map(|t| ValType::from_env(*t))
    }
    pub fn param(&self, i: usize) -> Option<ValType> {
        self.ty.params.get(i).map(|t| ValType::from_env(*t))
    }
    pub fn result(&self, i: usize) -> Option<ValType> {
        self.ty.results.get(i).map(|t| ValType::from_env(*t))
    }
    /// Whether `self` may be used where `other` is expected (equality in Wasm 2.0).
    pub fn matches(&self, other: &FuncType) -> bool {
        self == other
    }
}

impl fmt::Display for FuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.ty.fmt(f)
    }
}

/// Whether a global may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mutability {
    Const,
    Var,
}

/// A global's type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GlobalType {
    content: ValType,
    mutability: Mutability,
}

impl GlobalType {
    pub fn new(content: ValType, mutability: Mutability) -> GlobalType {
        GlobalType {
            content,
            mutability,
        }
    }
    pub fn content(&self) -> &ValType {
        &self.content
    }
    pub fn mutability(&self) -> Mutability {
        self.mutability
    }
    pub fn is_mutable(&self) -> bool {
        self.mutability == Mutability::Var
    }
    pub(crate) fn from_env(g: env::GlobalType) -> GlobalType {
        GlobalType {
            content: ValType::from_env(g.content),
            mutability: if g.mutable {
                Mutability::Var
            } else {
                Mutability::Const
            },
        }
    }
    pub(crate) fn to_env(&self) -> env::GlobalType {
        env::GlobalType {
            content: self.content.to_env(),
            mutable: self.is_mutable(),
        }
    }
}

/// A table's type: element type and limits in elements.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableType {
    element: RefType,
    minimum: u64,
    maximum: Option<u64>,
}

impl TableType {
    pub fn new(element: RefType, min: u32, max: Option<u32>) -> TableType {
        TableType {
            element,
            minimum: min.into(),
            maximum: max.map(u64::from),
        }
    }
    pub fn element(&self) -> &RefType {
        &self.element
    }
    pub fn minimum(&self) -> u64 {
        self.minimum
    }
    pub fn maximum(&self) -> Option<u64> {
        self.maximum
    }
    pub(crate) fn from_env(t: env::TableType) -> TableType {
        TableType {
            element: RefType::from_env(t.element),
            minimum: t.minimum,
            maximum: t.maximum,
        }
    }
    pub(crate) fn to_env(&self) -> env::TableType {
        env::TableType {
            element: self.element.to_env(),
            minimum: self.minimum,
            maximum: self.maximum,
        }
    }
}

/// A linear memory's type, in 64 KiB pages.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemoryType {
    minimum: u64,
    maximum: Option<u64>,
    shared: bool,
    memory64: bool,
}

impl MemoryType {
    pub fn new(minimum: u32, maximum: Option<u32>) -> MemoryType {
        MemoryType {
            minimum: minimum.into(),
            maximum: maximum.map(u64::from),
            shared: false,
            memory64: false,
        }
    }
    pub fn minimum(&self) -> u64 {
        self.minimum
    }
    pub fn maximum(&self) -> Option<u64> {
        self.maximum
    }
    pub fn is_shared(&self) -> bool {
        self.shared
    }
    pub fn is_64(&self) -> bool {
        self.memory64
    }
    pub fn page_size(&self) -> u64 {
        env::WASM_PAGE_SIZE
    }
    pub(crate) fn from_env(m: env::MemoryType) -> MemoryType {
        MemoryType {
            minimum: m.minimum,
            maximum: m.maximum,
            shared: m.shared,
            memory64: m.memory64,
        }
    }
    pub(crate) fn to_env(&self) -> env::MemoryType {
        env::MemoryType {
            minimum: self.minimum,
            maximum: self.maximum,
            shared: self.shared,
            memory64: self.memory64,
        }
    }
}

/// The type of an import or export.
#[derive(Debug, Clone)]
pub enum ExternType {
    Func(FuncType),
    Global(GlobalType),
    Table(TableType),
    Memory(MemoryType),
}

impl ExternType {
    pub fn func(&self) -> Option<&FuncType> {
        match self {
            ExternType::Func(t) => Some(t),
            _ => None,
        }
    }
    pub fn global(&self) -> Option<&GlobalType> {
        match self {
            ExternType::Global(t) => Some(t),
            _ => None,
        }
    }
    pub fn table(&self) -> Option<&TableType> {
        match self {
            ExternType::Table(t) => Some(t),
            _ => None,
        }
    }
    pub fn memory(&self) -> Option<&MemoryType> {
        match self {
            ExternType::Memory(t) => Some(t),
            _ => None,
        }
    }
    pub(crate) fn desc(&self) -> &'static str {
        match self {
            ExternType::Func(_) => "function",
            ExternType::Global(_) => "global",
            ExternType::Table(_) => "table",
            ExternType::Memory(_) => "memory",
        }
    }
}

impl From<FuncType> for ExternType {
    fn from(t: FuncType) -> Self {
        ExternType::Func(t)
    }
}
impl From<GlobalType> for ExternType {
    fn from(t: GlobalType) -> Self {
        ExternType::Global(t)
    }
}
impl From<TableType> for ExternType {
    fn from(t: TableType) -> Self {
        ExternType::Table(t)
    }
}
impl From<MemoryType> for ExternType {
    fn from(t: MemoryType) -> Self {
        ExternType::Memory(t)
    }
}

/// One import of a module.
#[derive(Debug, Clone)]
pub struct ImportType<'module> {
    module: &'module str,
    name: &'module str,
    ty: ExternType,
}

impl<'module> ImportType<'module> {
    pub(crate) fn new(module: &'module str, name: &'module str, ty: ExternType) -> Self {
        ImportType { module, name, ty }
    }
    pub fn module(&self) -> &'module str {
        self.module
    }
    pub fn name(&self) -> &'module str {
        self.name
    }
    pub fn ty(&self) -> ExternType {
        self.ty.clone()
    }
}

/// One export of a module.
#[derive(Debug, Clone)]
pub struct ExportType<'module> {
    name: &'module str,
    ty: ExternType,
}

impl<'module> ExportType<'module> {
    pub(crate) fn new(name: &'module str, ty: ExternType) -> Self {
        ExportType { name, ty }
    }
    pub fn name(&self) -> &'module str {
        self.name
    }
    pub fn ty(&self) -> ExternType {
        self.ty.clone()
    }
}
