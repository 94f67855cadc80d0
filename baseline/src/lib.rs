//! strata-baseline: Strata's single-pass x86-64 compiler.
//!
//! Fast to compile above all: one pass over a function's operators ([`codegen`]) straight
//! into machine code under the native calling convention of [`strata_environ::abi`], with
//! trap sites for the runtime's signal handler. The runtime maps the code executable, installs
//! it in the module's code table and enters it through the per-signature trampolines of
//! [`trampoline`].
//!
//! Coverage is growing: a function using an operator this compiler does not handle yet is
//! reported [`Unsupported`] and keeps running in the interpreter.

#![allow(
    clippy::useless_conversion,
    reason = "dynasm! converts dynamic register operands with `.into()`"
)]

mod codegen;
mod float;
mod ops;
pub mod trampoline;

pub use codegen::{compile, CompileOptions};

/// Why a function cannot be compiled by the baseline (yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub reason: String,
}

impl Unsupported {
    pub(crate) fn new(reason: impl Into<String>) -> Unsupported {
        Unsupported {
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not supported by the baseline compiler: {}", self.reason)
    }
}

impl std::error::Error for Unsupported {}

impl From<wasmparser::BinaryReaderError> for Unsupported {
    fn from(e: wasmparser::BinaryReaderError) -> Unsupported {
        Unsupported::new(format!("reading the body: {e}"))
    }
}

/// Whether this CPU can run baseline code (x86-64 with POPCNT and SSE4.1).
pub fn host_supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("popcnt")
            && std::arch::is_x86_feature_detected!("sse4.1")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
