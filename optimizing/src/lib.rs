//! strata-optimizing: Strata's optimizing tier, on Cranelift.
//!
//! Where the baseline compiles fast, this tier compiles well: each defined function is
//! translated from wasm operators to Cranelift IR ([`translate`]) and compiled by Cranelift
//! with its optimizer and register allocator for the host CPU (`cranelift-native`). The
//! result obeys the same contract as the baseline's code, so the runtime installs it the
//! same way and calls may cross tiers anywhere:
//!
//! - the native calling convention of [`strata_environ::abi`] (System V,
//!   `(callee_vmctx, caller_vmctx, params..., [results area])`);
//! - the `VMContext` layout of [`strata_environ::VMOffsets`], read through the records of
//!   [`strata_environ::vmcontext`], and the runtime's builtins;
//! - position-independent code with no relocations (the runtime copies the bytes and patches
//!   nothing; the only ones Cranelift reports, self-calls, are resolved here), frame pointers kept (the trap handler walks frames through `rbp`), and every
//!   instruction that may fault listed as a [`TrapSite`] with Strata's [`TrapCode`].
//!
//! Cranelift's own trap codes (heap out of bounds, integer overflow, division by zero, bad
//! conversion, stack overflow) are mapped to Strata's; traps only Strata knows (table
//! bounds, null and mistyped indirect calls, `unreachable`) travel as Cranelift "user" trap
//! codes whose byte is the raw Strata code.

#![forbid(unsafe_code)]

mod bulk;
mod calls;
mod numeric;
mod translate;

use cranelift_codegen::binemit::Reloc;
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{
    self, ExternalName, UserExternalName, UserExternalNameRef, UserFuncName,
};
use cranelift_codegen::isa::{CallConv, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::{FinalizedMachReloc, FinalizedRelocTarget};
use cranelift_frontend::FunctionBuilderContext;
use std::cell::RefCell;
use strata_environ::{
    CompiledFunction, ModuleInfo, OsrEntry, TrapCode, TrapSite, VMOffsets, WasmFuncType,
    WasmValType,
};

/// How much Cranelift optimizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OptLevel {
    /// Minimal optimization: fastest compiles.
    None,
    /// The fastest code (the default).
    #[default]
    Speed,
    /// As `Speed`, also shrinking code.
    SpeedAndSize,
}

impl OptLevel {
    fn setting(self) -> &'static str {
        match self {
            OptLevel::None => "none",
            OptLevel::Speed => "speed",
            OptLevel::SpeedAndSize => "speed_and_size",
        }
    }
}

/// Cranelift's register allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RegallocAlgorithm {
    /// Backtracking with live-range splitting: better code (the default).
    #[default]
    Backtracking,
    /// One pass: faster compiles, more spills.
    SinglePass,
}

impl RegallocAlgorithm {
    fn setting(self) -> &'static str {
        match self {
            RegallocAlgorithm::Backtracking => "backtracking",
            RegallocAlgorithm::SinglePass => "single_pass",
        }
    }
}

/// Options the runtime's configuration decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OptimizingOptions {
    /// Check every memory access against the memory's current length, instead of relying
    /// on a 4 GiB reservation plus guard pages.
    pub explicit_bounds_checks: bool,
    /// Bytes of inaccessible guard after a 4 GiB reservation (static offsets below it need no
    /// check).
    pub guard_size: u64,
    pub opt_level: OptLevel,
    pub regalloc: RegallocAlgorithm,
    /// Run Cranelift's IR verifier on every function (default: in debug builds).
    pub verifier: bool,
}

impl Default for OptimizingOptions {
    fn default() -> Self {
        OptimizingOptions {
            explicit_bounds_checks: false,
            guard_size: 2 << 30,
            opt_level: OptLevel::Speed,
            verifier: cfg!(debug_assertions),
            regalloc: RegallocAlgorithm::Backtracking,
        }
    }
}

/// Why a function could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub reason: String,
}

impl CompileError {
    pub(crate) fn new(reason: impl Into<String>) -> CompileError {
        CompileError {
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "optimizing compiler: {}", self.reason)
    }
}

impl std::error::Error for CompileError {}

impl From<wasmparser::BinaryReaderError> for CompileError {
    fn from(e: wasmparser::BinaryReaderError) -> CompileError {
        CompileError::new(format!("reading the body: {e}"))
    }
}

/// Whether this CPU can run the code this tier generates: x86-64 with SSE4.1 (Cranelift
/// calls library functions for float rounding without it, and this tier links none).
pub fn host_supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("sse4.1")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// What a thread keeps between compilations: the ISA (building one detects CPU features and
/// parses settings) and Cranelift's contexts, whose allocations are reused.
struct Session {
    key: (OptLevel, RegallocAlgorithm, bool),
    isa: OwnedTargetIsa,
    context: cranelift_codegen::Context,
    builder: FunctionBuilderContext,
}

thread_local! {
    static SESSION: RefCell<Option<Session>> = const { RefCell::new(None) };
}

fn build_isa(options: &OptimizingOptions) -> Result<OwnedTargetIsa, CompileError> {
    let mut flags = settings::builder();
    let verifier = if options.verifier { "true" } else { "false" };
    for (name, value) in [
        ("opt_level", options.opt_level.setting()),
        ("regalloc_algorithm", options.regalloc.setting()),
        ("preserve_frame_pointers", "true"),
        ("enable_verifier", verifier),
        // The prologue's stack-limit check runs before the frame is allocated and the
        // runtime's limit leaves ample room below it: no probing needed.
        ("enable_probestack", "false"),
        ("unwind_info", "false"),
    ] {
        flags
            .set(name, value)
            .map_err(|e| CompileError::new(format!("setting {name}={value}: {e}")))?;
    }
    let builder =
        cranelift_native::builder().map_err(|e| CompileError::new(format!("host ISA: {e}")))?;
    builder
        .finish(settings::Flags::new(flags))
        .map_err(|e| CompileError::new(format!("host ISA: {e}")))
}

fn with_session<T>(
    options: &OptimizingOptions,
    f: impl FnOnce(&mut Session) -> Result<T, CompileError>,
) -> Result<T, CompileError> {
    SESSION.with(|cell| {
        let mut cached = cell.borrow_mut();
        let key = (options.opt_level, options.regalloc, options.verifier);
        if cached.as_ref().is_none_or(|s| s.key != key) {
            *cached = Some(Session {
                key,
                isa: build_isa(options)?,
                context: cranelift_codegen::Context::new(),
                builder: FunctionBuilderContext::new(),
            });
        }
        f(cached.as_mut().expect("set above"))
    })
}

/// Compiles defined function `defined` of `module`.
pub fn compile(
    module: &ModuleInfo,
    offsets: VMOffsets,
    options: &OptimizingOptions,
    defined: u32,
) -> Result<CompiledFunction, CompileError> {
    compile_variant(module, offsets, options, defined, false)
}

/// Compiles defined function `defined`'s on-stack-replacement variant: code whose entry,
/// at offset 0, takes an activation's state at the header of any of its loops (the state
/// names the loop; see [`OsrEntry`] for the convention) and runs the rest of the call. Its
/// `osr_entries` list every loop, all at offset 0.
pub fn compile_osr(
    module: &ModuleInfo,
    offsets: VMOffsets,
    options: &OptimizingOptions,
    defined: u32,
) -> Result<CompiledFunction, CompileError> {
    compile_variant(module, offsets, options, defined, true)
}

fn compile_variant(
    module: &ModuleInfo,
    offsets: VMOffsets,
    options: &OptimizingOptions,
    defined: u32,
    osr: bool,
) -> Result<CompiledFunction, CompileError> {
    if !cfg!(target_arch = "x86_64") {
        return Err(CompileError::new("only x86-64 hosts are supported"));
    }
    with_session(options, |session| {
        let func_index = module.func_index(defined);
        let ctx = &mut session.context;
        ctx.clear();
        let ty = module.func_type(func_index);
        ctx.func.signature = match osr {
            false => translate::native_signature(ty, CallConv::SystemV)?,
            true => {
                // The state pointer in, the function's results out.
                let osr_type = WasmFuncType::new([WasmValType::I64], ty.results.iter().copied());
                translate::native_signature(&osr_type, CallConv::SystemV)?
            }
        };
        ctx.func.name = UserFuncName::user(0, func_index);
        let loops = translate::translate(
            module,
            offsets,
            options,
            translate::Variant { defined, osr },
            &mut ctx.func,
            &mut session.builder,
            session.isa.frontend_config(),
        )?;
        // Self-calls name the function itself (see `calls`); nothing else may be named.
        let own_name = ctx
            .func
            .params
            .user_named_funcs()
            .iter()
            .find(|(_, name)| **name == UserExternalName::new(0, func_index))
            .map(|(r, _)| r);
        let compiled = ctx
            .compile(&*session.isa, &mut ControlPlane::default())
            .map_err(|e| CompileError::new(format!("cranelift: {:?}", e.inner)))?;
        let mut code = compiled.code_buffer().to_vec();
        resolve_self_calls(&mut code, compiled.buffer.relocs(), own_name)?;
        let mut trap_sites = Vec::with_capacity(compiled.buffer.traps().len());
        for trap in compiled.buffer.traps() {
            trap_sites.push(TrapSite {
                offset: trap.offset,
                code: map_trap_code(trap.code)?,
            });
        }
        trap_sites.sort_by_key(|s| s.offset);
        Ok(CompiledFunction {
            code,
            trap_sites,
            osr_entries: loops
                .into_iter()
                .map(|loop_offset| OsrEntry {
                    loop_offset,
                    code_offset: 0,
                })
                .collect(),
        })
    })
}

/// Resolves the relocations of a function's code, which may only be pc-relative calls of
/// the function itself (`own`): the code then needs no patching wherever it is copied.
fn resolve_self_calls(
    code: &mut [u8],
    relocs: &[FinalizedMachReloc],
    own: Option<UserExternalNameRef>,
) -> Result<(), CompileError> {
    for reloc in relocs {
        let to_self = matches!(
            (&reloc.target, reloc.kind),
            (FinalizedRelocTarget::ExternalName(ExternalName::User(name)), Reloc::X86CallPCRel4)
                if Some(*name) == own
        );
        if !to_self {
            return Err(CompileError::new(format!(
                "relocation {:?} at {}: this tier emits position-independent code only",
                reloc.kind, reloc.offset
            )));
        }
        // The rel32 is relative to its own address: the target (offset 0, plus the addend,
        // which accounts for the field's width) minus where the field is.
        let at = reloc.offset as usize;
        let rel = i32::try_from(reloc.addend - i64::from(reloc.offset))
            .map_err(|_| CompileError::new("a self-call beyond rel32 range"))?;
        code[at..at + 4].copy_from_slice(&rel.to_le_bytes());
    }
    Ok(())
}

/// The Cranelift trap code carrying Strata's `code`.
pub(crate) fn user_trap(code: TrapCode) -> ir::TrapCode {
    ir::TrapCode::unwrap_user(code.as_raw().get())
}

fn map_trap_code(code: ir::TrapCode) -> Result<TrapCode, CompileError> {
    Ok(match code {
        ir::TrapCode::STACK_OVERFLOW => TrapCode::StackOverflow,
        ir::TrapCode::HEAP_OUT_OF_BOUNDS => TrapCode::MemoryOutOfBounds,
        ir::TrapCode::INTEGER_OVERFLOW => TrapCode::IntegerOverflow,
        ir::TrapCode::INTEGER_DIVISION_BY_ZERO => TrapCode::IntegerDivisionByZero,
        ir::TrapCode::BAD_CONVERSION_TO_INTEGER => TrapCode::BadConversionToInteger,
        other => TrapCode::from_raw(other.as_raw().get())
            .ok_or_else(|| CompileError::new(format!("unknown trap code {other}")))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_environ::translate_module;

    fn compile_wat(wat: &str, options: &OptimizingOptions) -> Vec<CompiledFunction> {
        let info = translate_module(&wat::parse_str(wat).unwrap()).unwrap();
        let offsets = VMOffsets::new(&info);
        (0..info.num_defined_funcs())
            .map(|f| compile(&info, offsets, options, f).unwrap())
            .collect()
    }

    fn codes(f: &CompiledFunction) -> Vec<TrapCode> {
        f.trap_sites.iter().map(|s| s.code).collect()
    }

    const WAT: &str = r#"(module
      (memory 1)
      (table 1 funcref)
      (type $v (func))
      (func (param i32) (result i32)
        (call_indirect (type $v) (local.get 0))
        (i32.div_s (i32.load offset=8 (local.get 0)) (local.get 0))))"#;

    #[test]
    fn trap_sites_carry_strata_codes_in_order() {
        let compiled = compile_wat(WAT, &OptimizingOptions::default());
        let f = &compiled[0];
        assert!(!f.code.is_empty());
        assert!(f.trap_sites.windows(2).all(|w| w[0].offset <= w[1].offset));
        for code in [
            TrapCode::StackOverflow,
            TrapCode::TableOutOfBounds,
            TrapCode::IndirectCallToNull,
            TrapCode::BadSignature,
            TrapCode::MemoryOutOfBounds,
            TrapCode::IntegerDivisionByZero,
            TrapCode::IntegerOverflow,
        ] {
            assert!(codes(f).contains(&code), "{code:?} missing: {:?}", codes(f));
        }
        for site in &f.trap_sites {
            assert!((site.offset as usize) < f.code.len());
        }
    }

    #[test]
    fn every_setting_compiles() {
        for opt_level in [OptLevel::None, OptLevel::Speed, OptLevel::SpeedAndSize] {
            for regalloc in [
                RegallocAlgorithm::Backtracking,
                RegallocAlgorithm::SinglePass,
            ] {
                for (explicit_bounds_checks, verifier) in [(false, true), (true, false)] {
                    let options = OptimizingOptions {
                        explicit_bounds_checks,
                        guard_size: 64 << 10,
                        opt_level,
                        regalloc,
                        verifier,
                    };
                    let compiled = compile_wat(WAT, &options);
                    assert!(codes(&compiled[0]).contains(&TrapCode::MemoryOutOfBounds));
                }
            }
        }
    }

    #[test]
    fn self_calls_are_resolved_to_the_entry() {
        let compiled = compile_wat(
            r#"(module (func $fac (param i64) (result i64)
                 (if (result i64) (i64.eqz (local.get 0))
                   (then (i64.const 1))
                   (else (i64.mul (local.get 0)
                                  (call $fac (i64.sub (local.get 0) (i64.const 1))))))))"#,
            &OptimizingOptions::default(),
        );
        let code = &compiled[0].code;
        // Some `call rel32` (0xe8) lands on offset 0.
        let to_entry = (0..code.len().saturating_sub(4)).any(|at| {
            let rel = i32::from_le_bytes(code[at + 1..at + 5].try_into().unwrap());
            code[at] == 0xe8 && at as i64 + 5 + i64::from(rel) == 0
        });
        assert!(to_entry, "no call of the entry in {code:02x?}");
    }

    #[test]
    fn simd_is_refused_not_miscompiled() {
        // The validator of strata-environ rejects SIMD modules before any tier sees them;
        // the translator refuses v128 values anyway.
        assert!(translate::clif_type(strata_environ::WasmValType::V128).is_err());
    }
}
