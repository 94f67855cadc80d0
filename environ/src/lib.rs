//! strata-environ: what every Strata tier and the runtime agree on.
//!
//! This crate owns no executable state. It holds the contract between the runtime and the
//! tiers (interpreter, baseline JIT, optimizing JIT):
//!
//! - [`ModuleInfo`]: a validated module's types, imports, definitions, exports and segments,
//!   built once by [`translate_module`] and shared by every instance and tier;
//! - [`VMOffsets`]: the byte layout of an instance's `VMContext`, computed from `ModuleInfo`;
//!   every tier reaches memories, globals, tables and functions through these offsets only;
//! - the `repr(C)` records those offsets point at ([`vmcontext`]), the builtin (libcall)
//!   table the tiers call back into the runtime through, [`TrapCode`] and [`ValRaw`].

pub mod abi;
mod bodies;
mod compiled;
mod module;
mod trap;
mod types;
mod val;
pub mod vmcontext;
mod vmoffsets;

pub use compiled::{trap_at, CompiledFunction, OsrEntry, TrapSite};
pub use module::{
    translate_module, translate_module_with, BodyValidation, ConstExpr, ConstOp, DataSegment,
    ElementSegment, Export, ExportKind, FunctionBody, Import, ModuleInfo, SegmentMode,
    WASM_FEATURES,
};
pub use trap::TrapCode;
pub use types::{
    EntityType, FuncIndex, GlobalIndex, GlobalType, MemoryIndex, MemoryType, RefType, TableIndex,
    TableType, TypeIndex, WasmFuncType, WasmValType, WASM_PAGE_SIZE,
};
pub use val::ValRaw;
pub use vmoffsets::{VMOffsets, VMCONTEXT_MAGIC};
