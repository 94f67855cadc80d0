//! `Config`: how an `Engine` runs code.

use anyhow::{bail, Result};

/// Which tier(s) run wasm code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Strategy {
    /// Start in the interpreter, move warm and hot functions up the tiers.
    #[default]
    Tiered,
    /// Only the register interpreter.
    Interpreter,
    /// Only the baseline JIT (every function compiled on first call).
    Baseline,
    /// Only the optimizing JIT (Cranelift).
    Optimizing,
}

impl Strategy {
    /// The CLI spelling of the strategy.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Tiered => "tiered",
            Strategy::Interpreter => "interp",
            Strategy::Baseline => "baseline",
            Strategy::Optimizing => "optimizing",
        }
    }
}

/// Global settings of an [`crate::Engine`].
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) strategy: Strategy,
    pub(crate) max_wasm_stack: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

impl Config {
    pub fn new() -> Config {
        Config {
            strategy: Strategy::Tiered,
            max_wasm_stack: 1 << 20,
        }
    }

    /// Selects the tier strategy; see [`Strategy`].
    pub fn strategy(&mut self, strategy: Strategy) -> &mut Self {
        self.strategy = strategy;
        self
    }

    /// Bytes of native stack that wasm (and host functions it calls) may use before a call
    /// traps with `StackOverflow`.
    pub fn max_wasm_stack(&mut self, size: usize) -> &mut Self {
        self.max_wasm_stack = size;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        match self.strategy {
            Strategy::Tiered | Strategy::Interpreter => {}
            Strategy::Baseline => {
                bail!("the baseline tier is not available yet in this build of Strata")
            }
            Strategy::Optimizing => {
                bail!("the optimizing tier is not available yet in this build of Strata")
            }
        }
        if self.max_wasm_stack < 16 * 1024 {
            bail!("max_wasm_stack must be at least 16 KiB");
        }
        Ok(())
    }
}
