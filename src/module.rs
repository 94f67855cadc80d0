//! `Module`: a validated, shareable WebAssembly module.

use crate::types::{
    ExportType, ExternType, FuncType, GlobalType, ImportType, MemoryType, TableType,
};
use crate::Engine;
use anyhow::{Context, Result};
use std::path::Path;
use std::sync::Arc;
use strata_environ::{
    translate_module_with, BodyValidation, EntityType, ExportKind, ModuleInfo, VMOffsets,
};
use strata_interp::{Effort, InterpModule};

/// A compiled module, shared (cheaply cloned) by every instance and thread that uses it.
#[derive(Clone)]
pub struct Module {
    inner: Arc<ModuleInner>,
}

pub(crate) struct ModuleInner {
    pub(crate) engine: Engine,
    pub(crate) info: Arc<ModuleInfo>,
    pub(crate) offsets: VMOffsets,
    /// Engine signature id of each module type index.
    pub(crate) type_ids: Box<[u32]>,
    pub(crate) interp: Arc<InterpModule>,
    /// Native code of the module's functions, and their code table.
    pub(crate) native: crate::vm::NativeCode,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

impl Module {
    /// Compiles a module from its binary or text (WAT) form.
    pub fn new(engine: &Engine, bytes: impl AsRef<[u8]>) -> Result<Module> {
        let bytes = bytes.as_ref();
        let binary = wat::parse_bytes(bytes).context("failed to parse WebAssembly text")?;
        Module::from_binary(engine, &binary)
    }

    /// Compiles a module from its binary form.
    pub fn from_binary(engine: &Engine, binary: &[u8]) -> Result<Module> {
        let bodies = if engine.config().lazy_validation {
            BodyValidation::Lazy
        } else {
            BodyValidation::Eager
        };
        let info = Arc::new(translate_module_with(binary, bodies)?);
        let type_ids = info
            .types
            .iter()
            .map(|t| engine.signatures().register(t))
            .collect();
        let tiering = engine.config().strategy == crate::Strategy::Tiered;
        // Under tiering, warm functions move on to the baseline, where this machine has one.
        let quick = tiering
            && crate::vm::native_supported()
            && !engine.config().full_interpreter_translation;
        let effort = match quick {
            true => Effort::Quick,
            false => Effort::Full,
        };
        let interp = Arc::new(InterpModule::new(info.clone(), tiering, effort));
        let native = crate::vm::NativeCode::new(info.num_defined_funcs(), info.types.len());
        Ok(Module {
            inner: Arc::new(ModuleInner {
                engine: engine.clone(),
                offsets: VMOffsets::new(&info),
                info,
                type_ids,
                interp,
                native,
            }),
        })
    }

    /// Compiles every function with the baseline tier now, as `Strategy::Baseline` does on
    /// first calls; fails naming the first function it cannot compile. For tests and
    /// benchmarks of the baseline.
    #[doc(hidden)]
    pub fn compile_baseline_eagerly(&self) -> Result<()> {
        crate::vm::compile_all_baseline(&self.inner)
    }

    /// Compiles every function with the optimizing tier (Cranelift) now, as
    /// `Strategy::Optimizing` does on first calls; fails naming the first function it cannot
    /// compile. For tests and benchmarks of the optimizing tier.
    #[doc(hidden)]
    pub fn compile_optimizing_eagerly(&self) -> Result<()> {
        crate::vm::compile_all_optimizing(&self.inner)
    }

    /// Compiles function `index` (in the module's function space; a defined function) with
    /// the JIT tier `strategy` names (`Baseline` or `Optimizing`) and installs it, replacing
    /// any native code it had. For tests that mix tiers within one instance.
    #[doc(hidden)]
    pub fn compile_function_eagerly(&self, index: u32, strategy: crate::Strategy) -> Result<()> {
        let defined = self
            .inner
            .info
            .defined_func_index(index)
            .filter(|&d| d < self.inner.info.num_defined_funcs())
            .ok_or_else(|| anyhow::anyhow!("function {index} is not a defined function"))?;
        crate::vm::compile_function(&self.inner, defined, strategy)
    }

    /// Translates every function for the interpreter now (it otherwise translates each on
    /// its first call). For benchmarks of translation speed.
    #[doc(hidden)]
    pub fn translate_interp_eagerly(&self) -> Result<()> {
        self.inner.interp.translate_all()
    }

    /// Bytes of function bodies (the code section's payload): what compile throughput is
    /// measured against.
    #[doc(hidden)]
    pub fn code_size(&self) -> usize {
        self.inner.info.bodies.iter().map(|b| b.len).sum()
    }

    /// How many interpreter activations of this module's functions continued in native code
    /// (on-stack replacement at a loop header). For tests of tier-up.
    #[doc(hidden)]
    pub fn osr_transfers(&self) -> u64 {
        self.inner.native.osr_transfers()
    }

    /// The tier that runs function `func_index` (a defined function) at its next call:
    /// `Interpreter`, `Baseline` or `Optimizing`. For tests of tier-up.
    #[doc(hidden)]
    pub fn function_tier(&self, func_index: u32) -> Option<crate::Strategy> {
        let defined = self.inner.info.defined_func_index(func_index)?;
        (defined < self.inner.info.num_defined_funcs())
            .then(|| crate::vm::current_tier(&self.inner, defined))
    }

    /// Compiles the module in a `.wasm` or `.wat` file.
    pub fn from_file(engine: &Engine, path: impl AsRef<Path>) -> Result<Module> {
        let path = path.as_ref();
        let bytes =
            std::fs::read(path).with_context(|| format!("failed to read {}", path.display()))?;
        Module::new(engine, bytes).with_context(|| format!("failed to compile {}", path.display()))
    }

    /// Checks that `binary` is a valid module without compiling it.
    pub fn validate(_engine: &Engine, binary: &[u8]) -> Result<()> {
        let mut validator = wasmparser::Validator::new_with_features(strata_environ::WASM_FEATURES);
        validator.validate_all(binary)?;
        Ok(())
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The module's name from its name section.
    pub fn name(&self) -> Option<&str> {
        self.inner.info.name.as_deref()
    }

    /// The module's imports, in order.
    pub fn imports(&self) -> impl ExactSizeIterator<Item = ImportType<'_>> + '_ {
        self.inner
            .info
            .imports
            .iter()
            .map(|i| ImportType::new(&i.module, &i.field, self.entity_type(&i.ty)))
    }

    /// The module's exports, in order.
    pub fn exports(&self) -> impl ExactSizeIterator<Item = ExportType<'_>> + '_ {
        self.inner
            .info
            .exports
            .iter()
            .map(|e| ExportType::new(&e.name, self.export_type(e.kind)))
    }

    /// The type of the export called `name`.
    pub fn get_export(&self, name: &str) -> Option<ExternType> {
        self.inner
            .info
            .export(name)
            .map(|e| self.export_type(e.kind))
    }

    pub(crate) fn inner_arc(&self) -> &Arc<ModuleInner> {
        &self.inner
    }

    pub(crate) fn inner(&self) -> &ModuleInner {
        &self.inner
    }

    pub(crate) fn info(&self) -> &ModuleInfo {
        &self.inner.info
    }

    fn entity_type(&self, ty: &EntityType) -> ExternType {
        match ty {
            EntityType::Function(t) => ExternType::Func(FuncType::from_env(
                self.inner.info.types[*t as usize].clone(),
            )),
            EntityType::Table(t) => ExternType::Table(TableType::from_env(*t)),
            EntityType::Memory(m) => ExternType::Memory(MemoryType::from_env(*m)),
            EntityType::Global(g) => ExternType::Global(GlobalType::from_env(*g)),
        }
    }

    pub(crate) fn export_type(&self, kind: ExportKind) -> ExternType {
        let info = &self.inner.info;
        match kind {
            ExportKind::Func(i) => ExternType::Func(FuncType::from_env(info.func_type(i).clone())),
            ExportKind::Table(i) => ExternType::Table(TableType::from_env(info.tables[i as usize])),
            ExportKind::Memory(i) => {
                ExternType::Memory(MemoryType::from_env(info.memories[i as usize]))
            }
            ExportKind::Global(i) => {
                ExternType::Global(GlobalType::from_env(info.globals[i as usize]))
            }
        }
    }
}
