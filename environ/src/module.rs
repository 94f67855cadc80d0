//! `ModuleInfo` and its translation from wasm bytes (validated by wasmparser).

use crate::types::*;
use anyhow::{bail, Result};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use wasmparser::{
    FuncToValidate, Parser, Payload, ValidPayload, Validator, ValidatorResources, WasmFeatures,
};

/// The features Strata accepts: WebAssembly 2.0 without SIMD (for now).
pub const WASM_FEATURES: WasmFeatures = WasmFeatures::WASM2.difference(WasmFeatures::SIMD);

/// Everything the runtime and the tiers need to know about a validated module.
#[derive(Debug)]
pub struct ModuleInfo {
    /// The module's bytes; function bodies are ranges into them.
    pub bytes: Arc<[u8]>,
    pub types: Vec<WasmFuncType>,
    pub imports: Vec<Import>,
    /// Type of every function, imported ones first.
    pub functions: Vec<TypeIndex>,
    pub num_imported_funcs: u32,
    pub tables: Vec<TableType>,
    pub num_imported_tables: u32,
    /// Initial value of each defined table's elements (`None` means null).
    pub table_inits: Vec<Option<ConstExpr>>,
    pub memories: Vec<MemoryType>,
    pub num_imported_memories: u32,
    pub globals: Vec<GlobalType>,
    pub num_imported_globals: u32,
    /// Initializer of each defined global.
    pub global_inits: Vec<ConstExpr>,
    pub exports: Vec<Export>,
    export_map: HashMap<String, usize>,
    pub start: Option<FuncIndex>,
    pub elements: Vec<ElementSegment>,
    pub data: Vec<DataSegment>,
    /// Body of each defined function.
    pub bodies: Vec<FunctionBody>,
    /// Module name from the name section.
    pub name: Option<String>,
    /// Function names from the name section.
    pub func_names: HashMap<FuncIndex, String>,
    /// Bodies still to be validated on first use (`None`: all validated up front).
    lazy_bodies: Option<LazyBodies>,
}

/// Function bodies validated on first use: what wasmparser needs to validate each one later,
/// and each one's outcome once known.
#[derive(Debug)]
struct LazyBodies {
    resources: ValidatorResources,
    /// The type index of each defined function.
    types: Box<[u32]>,
    outcomes: Box<[OnceLock<Result<(), String>>]>,
}

/// An import: where it comes from and what it must be.
#[derive(Debug, Clone)]
pub struct Import {
    pub module: String,
    pub field: String,
    pub ty: EntityType,
}

/// What an export refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    Func(FuncIndex),
    Table(TableIndex),
    Memory(MemoryIndex),
    Global(GlobalIndex),
}

/// A named export.
#[derive(Debug, Clone)]
pub struct Export {
    pub name: String,
    pub kind: ExportKind,
}

/// The location of a defined function's body (locals and code) in the module bytes.
#[derive(Debug, Clone, Copy)]
pub struct FunctionBody {
    pub offset: usize,
    pub len: usize,
}

/// One operation of a constant expression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ConstOp {
    I32Const(i32),
    I64Const(i64),
    F32Const(u32),
    F64Const(u64),
    V128Const(u128),
    RefNull(RefType),
    RefFunc(FuncIndex),
    GlobalGet(GlobalIndex),
    I32Add,
    I32Sub,
    I32Mul,
    I64Add,
    I64Sub,
    I64Mul,
}

/// A constant expression (global, table and segment initializers), in stack order.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstExpr {
    pub ops: Box<[ConstOp]>,
}

impl ConstExpr {
    fn from_wasmparser(expr: &wasmparser::ConstExpr<'_>) -> Result<ConstExpr> {
        use wasmparser::Operator as O;
        let mut ops = Vec::new();
        let mut reader = expr.get_operators_reader();
        while !reader.eof() {
            let op = match reader.read()? {
                O::I32Const { value } => ConstOp::I32Const(value),
                O::I64Const { value } => ConstOp::I64Const(value),
                O::F32Const { value } => ConstOp::F32Const(value.bits()),
                O::F64Const { value } => ConstOp::F64Const(value.bits()),
                O::V128Const { value } => ConstOp::V128Const(value.i128() as u128),
                O::RefNull { hty } => ConstOp::RefNull(if is_func_heap(hty) {
                    RefType::FuncRef
                } else {
                    RefType::ExternRef
                }),
                O::RefFunc { function_index } => ConstOp::RefFunc(function_index),
                O::GlobalGet { global_index } => ConstOp::GlobalGet(global_index),
                O::I32Add => ConstOp::I32Add,
                O::I32Sub => ConstOp::I32Sub,
                O::I32Mul => ConstOp::I32Mul,
                O::I64Add => ConstOp::I64Add,
                O::I64Sub => ConstOp::I64Sub,
                O::I64Mul => ConstOp::I64Mul,
                O::End => break,
                other => bail!("unsupported constant expression operator {other:?}"),
            };
            ops.push(op);
        }
        Ok(ConstExpr { ops: ops.into() })
    }

    /// A constant expression of one `ref.func`.
    pub fn ref_func(index: FuncIndex) -> ConstExpr {
        ConstExpr {
            ops: Box::new([ConstOp::RefFunc(index)]),
        }
    }
}

fn is_func_heap(hty: wasmparser::HeapType) -> bool {
    matches!(
        hty,
        wasmparser::HeapType::Abstract {
            ty: wasmparser::AbstractHeapType::Func,
            ..
        } | wasmparser::HeapType::Concrete(_)
    )
}

/// Whether a segment is applied at instantiation, kept for bulk instructions, or only declares.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentMode {
    Passive,
    Active { index: u32, offset: ConstExpr },
    Declared,
}

/// An element segment; every item is a constant expression producing a reference.
#[derive(Debug, Clone)]
pub struct ElementSegment {
    pub mode: SegmentMode,
    pub ty: RefType,
    pub items: Vec<ConstExpr>,
}

/// A data segment. `Declared` is never used for data.
#[derive(Debug, Clone)]
pub struct DataSegment {
    pub mode: SegmentMode,
    pub bytes: Arc<[u8]>,
}

impl ModuleInfo {
    /// Number of functions defined (not imported) by the module.
    pub fn num_defined_funcs(&self) -> u32 {
        self.functions.len() as u32 - self.num_imported_funcs
    }

    /// The signature of function `index`.
    pub fn func_type(&self, index: FuncIndex) -> &WasmFuncType {
        &self.types[self.functions[index as usize] as usize]
    }

    /// Index of a defined function in the function index space.
    pub fn func_index(&self, defined: u32) -> FuncIndex {
        self.num_imported_funcs + defined
    }

    /// Index of a function among the defined ones, `None` if it is imported.
    pub fn defined_func_index(&self, index: FuncIndex) -> Option<u32> {
        index.checked_sub(self.num_imported_funcs)
    }

    /// The raw body (locals, then operators) of defined function `defined`.
    pub fn body_bytes(&self, defined: u32) -> (&[u8], usize) {
        let b = self.bodies[defined as usize];
        (&self.bytes[b.offset..b.offset + b.len], b.offset)
    }

    /// Validates defined function `defined`'s body if the module was translated with
    /// [`BodyValidation::Lazy`] and this is its first use; `Ok` for every body of an eagerly
    /// validated module. Tiers call this before reading a body. The outcome is kept, so
    /// each body is validated at most once, whichever thread asks.
    pub fn validate_body(&self, defined: u32) -> Result<(), &str> {
        let Some(lazy) = &self.lazy_bodies else {
            return Ok(());
        };
        let outcome = lazy.outcomes[defined as usize].get_or_init(|| {
            let func = FuncToValidate {
                resources: lazy.resources.clone(),
                index: self.func_index(defined),
                ty: lazy.types[defined as usize],
                features: WASM_FEATURES,
            };
            let mut validator = func.into_validator(Default::default());
            validator
                .validate(&self.function_body(defined))
                .map_err(|e| e.to_string())
        });
        outcome.as_ref().map(|_| ()).map_err(String::as_str)
    }

    /// Whether function bodies are validated on first use.
    pub fn body_validation(&self) -> BodyValidation {
        if self.lazy_bodies.is_some() {
            BodyValidation::Lazy
        } else {
            BodyValidation::Eager
        }
    }

    /// A wasmparser view of defined function `defined`'s body.
    pub fn function_body(&self, defined: u32) -> wasmparser::FunctionBody<'_> {
        let (bytes, offset) = self.body_bytes(defined);
        let reader = wasmparser::BinaryReader::new_features(bytes, offset as u64, WASM_FEATURES);
        wasmparser::FunctionBody::new(reader)
    }

    /// Looks up an export by name.
    pub fn export(&self, name: &str) -> Option<&Export> {
        self.export_map.get(name).map(|&i| &self.exports[i])
    }

    /// The function's name from the name section, if any.
    pub fn func_name(&self, index: FuncIndex) -> Option<&str> {
        self.func_names.get(&index).map(|s| s.as_str())
    }
}

/// When function bodies are validated; everything else in a module always is, up front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyValidation {
    /// Every body before the module is accepted.
    Eager,
    /// Each body on its first use (see [`ModuleInfo::validate_body`]): a large module whose
    /// run touches a few functions starts sooner, and an invalid body is reported when it is
    /// first called or compiled rather than when the module is loaded.
    Lazy,
}

/// Validates `bytes` as a WebAssembly 2.0 module (without SIMD) and collects its
/// [`ModuleInfo`]. Errors carry wasmparser's message and byte offset.
pub fn translate_module(bytes: &[u8]) -> Result<ModuleInfo> {
    translate_module_with(bytes, BodyValidation::Eager)
}

/// [`translate_module`], validating function bodies as `bodies` says.
///
/// One pass over the bytes: wasmparser validates each payload, then it is collected; eagerly
/// validated bodies are validated after the pass, on several threads when there is enough
/// code (see [`crate::bodies`]).
pub fn translate_module_with(bytes: &[u8], bodies: BodyValidation) -> Result<ModuleInfo> {
    let mut validator = Validator::new_with_features(WASM_FEATURES);
    let mut pending = Vec::new();
    let mut lazy_resources = None;
    let mut lazy_types = Vec::new();
    let info = collect(bytes, |payload| {
        if let ValidPayload::Func(func, body) = validator.payload(payload)? {
            match bodies {
                BodyValidation::Eager => pending.push((func, body)),
                BodyValidation::Lazy => {
                    lazy_types.push(func.ty);
                    lazy_resources.get_or_insert(func.resources);
                }
            }
        }
        Ok(())
    });
    // The bodies come before anything a failed parse found wrong after them.
    crate::bodies::validate(pending)?;
    let info = info?;
    let lazy_bodies = lazy_resources.map(|resources| LazyBodies {
        resources,
        outcomes: lazy_types.iter().map(|_| OnceLock::new()).collect(),
        types: lazy_types.into(),
    });
    Ok(ModuleInfo {
        lazy_bodies,
        ..info
    })
}

/// Modules from this size up keep their copy of the bytes (which lazy translation reads the
/// bodies from) made on a second thread while the first parses and validates them: the
/// copy of a large module's code section is a third of loading it, and a thread costs tens
/// of microseconds.
const PARALLEL_COPY_BYTES: usize = 1 << 20;

/// Collects the [`ModuleInfo`] of `bytes`, passing each payload to `validate` first.
fn collect<'a>(
    bytes: &'a [u8],
    validate: impl FnMut(&Payload<'a>) -> Result<(), wasmparser::BinaryReaderError>,
) -> Result<ModuleInfo> {
    if bytes.len() < PARALLEL_COPY_BYTES {
        return collect_with_copy(bytes, validate, bytes.into());
    }
    std::thread::scope(|scope| {
        let copy = std::thread::Builder::new()
            .name("strata-module-copy".into())
            .spawn_scoped(scope, || Arc::<[u8]>::from(bytes));
        match copy {
            Ok(copy) => {
                let info = collect_with_copy(bytes, validate, Arc::from(&[][..]));
                let shared = copy
                    .join()
                    .map_err(|_| anyhow::anyhow!("copying the module's bytes panicked"))?;
                info.map(|info| ModuleInfo {
                    bytes: shared,
                    ..info
                })
            }
            // No thread to be had: copy here.
            Err(_) => collect_with_copy(bytes, validate, bytes.into()),
        }
    })
}

/// [`collect`], with `shared` the module's own copy of `bytes` (or a placeholder the caller
/// replaces).
fn collect_with_copy<'a>(
    bytes: &'a [u8],
    mut validate: impl FnMut(&Payload<'a>) -> Result<(), wasmparser::BinaryReaderError>,
    shared: Arc<[u8]>,
) -> Result<ModuleInfo> {
    let mut info = ModuleInfo {
        bytes: shared,
        types: Vec::new(),
        imports: Vec::new(),
        functions: Vec::new(),
        num_imported_funcs: 0,
        tables: Vec::new(),
        num_imported_tables: 0,
        table_inits: Vec::new(),
        memories: Vec::new(),
        num_imported_memories: 0,
        globals: Vec::new(),
        num_imported_globals: 0,
        global_inits: Vec::new(),
        exports: Vec::new(),
        export_map: HashMap::new(),
        start: None,
        elements: Vec::new(),
        data: Vec::new(),
        bodies: Vec::new(),
        name: None,
        func_names: HashMap::new(),
        lazy_bodies: None,
    };
    let mut parser = Parser::new(0);
    // The features decide how some things are read (memory limits as u32 without memory64).
    parser.set_features(WASM_FEATURES);
    for payload in parser.parse_all(bytes) {
        let payload = payload?;
        validate(&payload)?;
        match payload {
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    let ty = ty?;
                    info.types.push(WasmFuncType::new(
                        ty.params().iter().map(|t| WasmValType::from_wasmparser(*t)),
                        ty.results()
                            .iter()
                            .map(|t| WasmValType::from_wasmparser(*t)),
                    ));
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    let ty = match import.ty {
                        wasmparser::TypeRef::Func(t) | wasmparser::TypeRef::FuncExact(t) => {
                            info.functions.push(t);
                            info.num_imported_funcs += 1;
                            EntityType::Function(t)
                        }
                        wasmparser::TypeRef::Table(t) => {
                            let t = table_type(t);
                            info.tables.push(t);
                            info.num_imported_tables += 1;
                            EntityType::Table(t)
                        }
                        wasmparser::TypeRef::Memory(m) => {
                            let m = memory_type(m);
                            info.memories.push(m);
                            info.num_imported_memories += 1;
                            EntityType::Memory(m)
                        }
                        wasmparser::TypeRef::Global(g) => {
                            let g = global_type(g);
                            info.globals.push(g);
                            info.num_imported_globals += 1;
                            EntityType::Global(g)
                        }
                        wasmparser::TypeRef::Tag(_) => bail!("exception tags are not supported"),
                    };
                    info.imports.push(Import {
                        module: import.module.to_string(),
                        field: import.name.to_string(),
                        ty,
                    });
                }
            }
            Payload::FunctionSection(reader) => {
                for t in reader {
                    info.functions.push(t?);
                }
            }
            Payload::TableSection(reader) => {
                for table in reader {
                    let table = table?;
                    info.tables.push(table_type(table.ty));
                    info.table_inits.push(match table.init {
                        wasmparser::TableInit::RefNull => None,
                        wasmparser::TableInit::Expr(e) => Some(ConstExpr::from_wasmparser(&e)?),
                    });
                }
            }
            Payload::MemorySection(reader) => {
                for m in reader {
                    info.memories.push(memory_type(m?));
                }
            }
            Payload::GlobalSection(reader) => {
                for g in reader {
                    let g = g?;
                    info.globals.push(global_type(g.ty));
                    info.global_inits
                        .push(ConstExpr::from_wasmparser(&g.init_expr)?);
                }
            }
            Payload::ExportSection(reader) => {
                for e in reader {
                    let e = e?;
                    let kind = match e.kind {
                        wasmparser::ExternalKind::Func | wasmparser::ExternalKind::FuncExact => {
                            ExportKind::Func(e.index)
                        }
                        wasmparser::ExternalKind::Table => ExportKind::Table(e.index),
                        wasmparser::ExternalKind::Memory => ExportKind::Memory(e.index),
                        wasmparser::ExternalKind::Global => ExportKind::Global(e.index),
                        wasmparser::ExternalKind::Tag => bail!("exception tags are not supported"),
                    };
                    info.export_map
                        .insert(e.name.to_string(), info.exports.len());
                    info.exports.push(Export {
                        name: e.name.to_string(),
                        kind,
                    });
                }
            }
            Payload::StartSection { func, .. } => info.start = Some(func),
            Payload::ElementSection(reader) => {
                for e in reader {
                    let e = e?;
                    let mode = match e.kind {
                        wasmparser::ElementKind::Passive => SegmentMode::Passive,
                        wasmparser::ElementKind::Declared => SegmentMode::Declared,
                        wasmparser::ElementKind::Active {
                            table_index,
                            offset_expr,
                        } => SegmentMode::Active {
                            index: table_index.unwrap_or(0),
                            offset: ConstExpr::from_wasmparser(&offset_expr)?,
                        },
                    };
                    let (ty, items) = match e.items {
                        wasmparser::ElementItems::Functions(funcs) => {
                            let mut items = Vec::new();
                            for f in funcs {
                                items.push(ConstExpr::ref_func(f?));
                            }
                            (RefType::FuncRef, items)
                        }
                        wasmparser::ElementItems::Expressions(ty, exprs) => {
                            let mut items = Vec::new();
                            for expr in exprs {
                                items.push(ConstExpr::from_wasmparser(&expr?)?);
                            }
                            (RefType::from_wasmparser(ty), items)
                        }
                    };
                    info.elements.push(ElementSegment { mode, ty, items });
                }
            }
            Payload::DataSection(reader) => {
                for d in reader {
                    let d = d?;
                    let mode = match d.kind {
                        wasmparser::DataKind::Passive => SegmentMode::Passive,
                        wasmparser::DataKind::Active {
                            memory_index,
                            offset_expr,
                        } => SegmentMode::Active {
                            index: memory_index,
                            offset: ConstExpr::from_wasmparser(&offset_expr)?,
                        },
                    };
                    info.data.push(DataSegment {
                        mode,
                        bytes: d.data.into(),
                    });
                }
            }
            Payload::CodeSectionEntry(body) => {
                let range = body.range();
                info.bodies.push(FunctionBody {
                    offset: range.start as usize,
                    len: (range.end - range.start) as usize,
                });
            }
            Payload::CustomSection(section) => {
                if let wasmparser::KnownCustom::Name(names) = section.as_known() {
                    // The name section is advisory: a malformed one is ignored, as the
                    // spec requires.
                    let _ = read_names(names, &mut info);
                }
            }
            _ => {}
        }
    }
    Ok(info)
}

fn read_names(reader: wasmparser::NameSectionReader<'_>, info: &mut ModuleInfo) -> Result<()> {
    for name in reader {
        match name? {
            wasmparser::Name::Module { name, .. } => info.name = Some(name.to_string()),
            wasmparser::Name::Function(map) => {
                for naming in map {
                    let naming = naming?;
                    info.func_names
                        .insert(naming.index, naming.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn table_type(t: wasmparser::TableType) -> TableType {
    TableType {
        element: RefType::from_wasmparser(t.element_type),
        minimum: t.initial,
        maximum: t.maximum,
    }
}

fn memory_type(m: wasmparser::MemoryType) -> MemoryType {
    MemoryType {
        minimum: m.initial,
        maximum: m.maximum,
        shared: m.shared,
        memory64: m.memory64,
    }
}

fn global_type(g: wasmparser::GlobalType) -> GlobalType {
    GlobalType {
        content: WasmValType::from_wasmparser(g.content_type),
        mutable: g.mutable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_invalid_module_with_offset() {
        // A function whose body returns nothing although its type says i32.
        let wasm = [
            0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 127, 3, 2, 1, 0, 10, 4, 1, 2, 0, 11,
        ];
        let err = translate_module(&wasm).unwrap_err().to_string();
        assert!(err.contains("type mismatch"), "{err}");
        assert!(err.contains("offset"), "{err}");
    }

    #[test]
    fn collects_functions_and_exports() {
        // (module (func (export "f") (result i32) i32.const 7))
        let wasm = [
            0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 127, 3, 2, 1, 0, 7, 5, 1, 1, 102, 0, 0,
            10, 6, 1, 4, 0, 65, 7, 11,
        ];
        let info = translate_module(&wasm).unwrap();
        assert_eq!(info.num_defined_funcs(), 1);
        assert_eq!(info.export("f").unwrap().kind, ExportKind::Func(0));
        assert_eq!(info.func_type(0).results.as_ref(), &[WasmValType::I32]);
        let body = info.function_body(0);
        let ops: Vec<_> = body.get_operators_reader().unwrap().into_iter().collect();
        assert_eq!(ops.len(), 2);
    }
}
