//! `Config`: how an `Engine` runs code.

use anyhow::{bail, Result};
pub use strata_optimizing::{OptLevel, RegallocAlgorithm};

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
    pub(crate) memory_reservation: u64,
    pub(crate) memory_guard_size: u64,
    pub(crate) baseline_call_threshold: u32,
    pub(crate) baseline_loop_threshold: u32,
    pub(crate) optimizing_call_threshold: u32,
    pub(crate) optimizing_loop_threshold: u32,
    /// `None`: one per CPU, counted when the workers start.
    pub(crate) compile_threads: Option<usize>,
    pub(crate) tiering_log: bool,
    pub(crate) cranelift_opt_level: OptLevel,
    pub(crate) cranelift_regalloc: RegallocAlgorithm,
    pub(crate) cranelift_verifier: bool,
    pub(crate) lazy_validation: bool,
    pub(crate) synchronous_tier_up: bool,
    pub(crate) full_interpreter_translation: bool,
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
            memory_reservation: 4 << 30,
            memory_guard_size: 2 << 30,
            baseline_call_threshold: 30,
            baseline_loop_threshold: 100,
            optimizing_call_threshold: 1000,
            optimizing_loop_threshold: 10_000,
            compile_threads: None,
            tiering_log: std::env::var("STRATA_LOG").is_ok_and(|v| v.contains("tiering")),
            cranelift_opt_level: OptLevel::Speed,
            cranelift_regalloc: RegallocAlgorithm::Backtracking,
            cranelift_verifier: cfg!(debug_assertions),
            lazy_validation: false,
            synchronous_tier_up: false,
            full_interpreter_translation: false,
        }
    }

    /// Selects the tier strategy; see [`Strategy`].
    pub fn strategy(&mut self, strategy: Strategy) -> &mut Self {
        self.strategy = strategy;
        self
    }

    /// Under `Strategy::Tiered`: calls of a function (per instance) that the interpreter
    /// runs before the function is compiled by the baseline (default 30: the baseline
    /// compiles a typical function in tens of microseconds, about what 30 interpreted calls
    /// of it cost). The next call compiles it and runs the native code; 0 compiles on the
    /// first call.
    pub fn baseline_call_threshold(&mut self, calls: u32) -> &mut Self {
        self.baseline_call_threshold = calls;
        self
    }

    /// Under `Strategy::Tiered`: loop iterations of a function (per instance) that the
    /// interpreter runs before the function is compiled by the baseline (default 100). The
    /// running call continues in the native code at that loop header (on-stack
    /// replacement).
    pub fn baseline_loop_threshold(&mut self, iterations: u32) -> &mut Self {
        self.baseline_loop_threshold = iterations;
        self
    }

    /// How much Cranelift optimizes the optimizing tier's code (default `OptLevel::Speed`).
    pub fn cranelift_opt_level(&mut self, level: OptLevel) -> &mut Self {
        self.cranelift_opt_level = level;
        self
    }

    /// Cranelift's register allocator for the optimizing tier (default
    /// `RegallocAlgorithm::Backtracking`; `SinglePass` compiles faster, runs slower).
    pub fn cranelift_regalloc_algorithm(&mut self, algorithm: RegallocAlgorithm) -> &mut Self {
        self.cranelift_regalloc = algorithm;
        self
    }

    /// Run Cranelift's IR verifier on every function it compiles (default: on in debug
    /// builds of Strata, off in release builds).
    pub fn cranelift_debug_verifier(&mut self, enable: bool) -> &mut Self {
        self.cranelift_verifier = enable;
        self
    }

    /// Under `Strategy::Tiered`: calls of a function's baseline code (per instance) before
    /// the function is queued for the optimizing tier (default 1000). Compilation happens
    /// on background threads; the new code is used from the next call on.
    pub fn optimizing_call_threshold(&mut self, calls: u32) -> &mut Self {
        self.optimizing_call_threshold = calls;
        self
    }

    /// Under `Strategy::Tiered`: loop iterations of a function's baseline code (per
    /// instance) before the function is queued for the optimizing tier (default 10000).
    pub fn optimizing_loop_threshold(&mut self, iterations: u32) -> &mut Self {
        self.optimizing_loop_threshold = iterations;
        self
    }

    /// Background threads compiling hot functions with the optimizing tier (default: the
    /// number of CPUs; at least 1). They start on the first request and stop with the
    /// engine.
    pub fn compile_threads(&mut self, threads: usize) -> &mut Self {
        self.compile_threads = Some(threads.max(1));
        self
    }

    /// Print every tier change to stderr: function index and name, from and to tier,
    /// compile time (default: on when the `STRATA_LOG` environment variable contains
    /// `tiering`).
    pub fn tiering_log(&mut self, enable: bool) -> &mut Self {
        self.tiering_log = enable;
        self
    }

    /// Under `Strategy::Tiered`: compiles with the optimizing tier (new calls' code and
    /// on-stack-replacement variants) on the thread that asks, at the moment it asks,
    /// instead of in the background (default off). Tier changes then happen at the same
    /// points on every run: for tests.
    #[doc(hidden)]
    pub fn synchronous_tier_up(&mut self, enable: bool) -> &mut Self {
        self.synchronous_tier_up = enable;
        self
    }

    /// Under `Strategy::Tiered`: translates functions for the interpreter with every
    /// analysis and superinstruction (default off), as where the interpreter is the only
    /// tier. Tiering otherwise translates them quickly (`strata_interp::Effort::Quick`):
    /// warm ones move on to the baseline. For tests of the interpreter's full translation
    /// with tier-up budgets, which only machines without the baseline JIT run otherwise.
    #[doc(hidden)]
    pub fn full_interpreter_translation(&mut self, enable: bool) -> &mut Self {
        self.full_interpreter_translation = enable;
        self
    }

    /// Validates function bodies on first use instead of in `Module::new` (default off).
    ///
    /// Everything outside function bodies is still validated up front. A large module whose
    /// run touches a few functions gets to its first result much sooner (wasmi's lazy mode
    /// does the same); in exchange, a module with an invalid body loads, and a call that
    /// reaches that function fails with [`crate::Trap::InvalidFunction`], the validation
    /// error in the error's chain.
    pub fn lazy_validation(&mut self, enable: bool) -> &mut Self {
        self.lazy_validation = enable;
        self
    }

    /// Bytes of native stack that wasm (and host functions it calls) may use before a call
    /// traps with `StackOverflow`.
    pub fn max_wasm_stack(&mut self, size: usize) -> &mut Self {
        self.max_wasm_stack = size;
        self
    }

    /// Bytes of address space each linear memory reserves up front (default 4 GiB). A memory
    /// grows in place within its reservation; with 4 GiB a 32-bit memory never moves and JIT
    /// code needs no bounds checks. Smaller values save address space and make JIT code
    /// check bounds explicitly.
    pub fn memory_reservation(&mut self, bytes: u64) -> &mut Self {
        self.memory_reservation = bytes;
        self
    }

    /// Bytes of inaccessible address space after each memory's reservation (default 2 GiB),
    /// which lets JIT code skip bounds checks for static offsets below it.
    pub fn memory_guard_size(&mut self, bytes: u64) -> &mut Self {
        self.memory_guard_size = bytes;
        self
    }

    pub(crate) fn memory_config(&self) -> crate::vm::MemoryConfig {
        crate::vm::MemoryConfig {
            reservation: self.memory_reservation,
            guard_size: self.memory_guard_size,
        }
    }

    pub(crate) fn optimizing_options(&self) -> strata_optimizing::OptimizingOptions {
        strata_optimizing::OptimizingOptions {
            explicit_bounds_checks: self.memory_reservation < 1 << 32,
            guard_size: self.memory_guard_size,
            opt_level: self.cranelift_opt_level,
            regalloc: self.cranelift_regalloc,
            verifier: self.cranelift_verifier,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        match self.strategy {
            Strategy::Tiered | Strategy::Interpreter => {}
            Strategy::Baseline => {
                if !crate::vm::native_supported() {
                    bail!(
                        "the baseline tier is not available on this machine: it needs an \
                         x86-64 CPU with POPCNT and SSE4.1, on Linux"
                    );
                }
            }
            Strategy::Optimizing => {
                if !crate::vm::native_supported() || !strata_optimizing::host_supported() {
                    bail!(
                        "the optimizing tier is not available on this machine: it needs an \
                         x86-64 CPU with POPCNT and SSE4.1, on Linux"
                    );
                }
            }
        }
        if self.max_wasm_stack < 16 * 1024 {
            bail!("max_wasm_stack must be at least 16 KiB");
        }
        let page = strata_environ::WASM_PAGE_SIZE;
        if !self.memory_reservation.is_multiple_of(page)
            || !self.memory_guard_size.is_multiple_of(page)
        {
            bail!("memory_reservation and memory_guard_size must be multiples of 64 KiB");
        }
        Ok(())
    }
}
