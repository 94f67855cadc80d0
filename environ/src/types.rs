//! The wasm types Strata uses everywhere, converted once from wasmparser's.

use std::fmt;

/// Index into the module's function index space (imports first).
pub type FuncIndex = u32;
/// Index into the module's type section.
pub type TypeIndex = u32;
/// Index into the module's table index space (imports first).
pub type TableIndex = u32;
/// Index into the module's memory index space (imports first).
pub type MemoryIndex = u32;
/// Index into the module's global index space (imports first).
pub type GlobalIndex = u32;

/// Size of a wasm page in bytes.
pub const WASM_PAGE_SIZE: u64 = 65536;

/// A wasm value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WasmValType {
    I32,
    I64,
    F32,
    F64,
    V128,
    FuncRef,
    ExternRef,
}

impl WasmValType {
    /// Converts a validated wasmparser type. Only the Wasm 2.0 types are accepted by the
    /// validator configuration (see [`crate::WASM_FEATURES`]), so anything else is a bug.
    pub fn from_wasmparser(ty: wasmparser::ValType) -> WasmValType {
        match ty {
            wasmparser::ValType::I32 => WasmValType::I32,
            wasmparser::ValType::I64 => WasmValType::I64,
            wasmparser::ValType::F32 => WasmValType::F32,
            wasmparser::ValType::F64 => WasmValType::F64,
            wasmparser::ValType::V128 => WasmValType::V128,
            wasmparser::ValType::Ref(r) => RefType::from_wasmparser(r).into(),
        }
    }

    /// Whether values of this type are references.
    pub fn is_ref(self) -> bool {
        matches!(self, WasmValType::FuncRef | WasmValType::ExternRef)
    }
}

impl fmt::Display for WasmValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WasmValType::I32 => "i32",
            WasmValType::I64 => "i64",
            WasmValType::F32 => "f32",
            WasmValType::F64 => "f64",
            WasmValType::V128 => "v128",
            WasmValType::FuncRef => "funcref",
            WasmValType::ExternRef => "externref",
        })
    }
}

/// A reference type (Wasm 2.0: nullable funcref or externref).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefType {
    FuncRef,
    ExternRef,
}

impl RefType {
    /// Converts a validated wasmparser reference type.
    pub fn from_wasmparser(ty: wasmparser::RefType) -> RefType {
        if ty.is_func_ref() {
            RefType::FuncRef
        } else {
            RefType::ExternRef
        }
    }
}

impl From<RefType> for WasmValType {
    fn from(r: RefType) -> WasmValType {
        match r {
            RefType::FuncRef => WasmValType::FuncRef,
            RefType::ExternRef => WasmValType::ExternRef,
        }
    }
}

impl fmt::Display for RefType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        WasmValType::from(*self).fmt(f)
    }
}

/// A function signature.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WasmFuncType {
    pub params: Box<[WasmValType]>,
    pub results: Box<[WasmValType]>,
}

impl WasmFuncType {
    pub fn new(
        params: impl IntoIterator<Item = WasmValType>,
        results: impl IntoIterator<Item = WasmValType>,
    ) -> Self {
        WasmFuncType {
            params: params.into_iter().collect(),
            results: results.into_iter().collect(),
        }
    }
}

impl fmt::Display for WasmFuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(func")?;
        if !self.params.is_empty() {
            write!(f, " (param")?;
            for p in self.params.iter() {
                write!(f, " {p}")?;
            }
            write!(f, ")")?;
        }
        if !self.results.is_empty() {
            write!(f, " (result")?;
            for r in self.results.iter() {
                write!(f, " {r}")?;
            }
            write!(f, ")")?;
        }
        write!(f, ")")
    }
}

/// A table's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TableType {
    pub element: RefType,
    pub minimum: u64,
    pub maximum: Option<u64>,
}

/// A linear memory's type, in pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemoryType {
    pub minimum: u64,
    pub maximum: Option<u64>,
    pub shared: bool,
    pub memory64: bool,
}

/// A global's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GlobalType {
    pub content: WasmValType,
    pub mutable: bool,
}

/// The type of an import or export.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EntityType {
    Function(TypeIndex),
    Table(TableType),
    Memory(MemoryType),
    Global(GlobalType),
}
