//! Strata: a tiered WebAssembly runtime.
//!
//! Instances start executing at once in a register-based interpreter (`strata-interp`);
//! warm functions move to a baseline JIT (`strata-baseline`); `Strategy::Optimizing` compiles
//! with Cranelift (`strata-optimizing`), to which hot functions are meant to move too (see
//! `docs/architecture.md`). The embedding API has the shape of wasmtime's: code written
//! against wasmtime for these items compiles with only the crate name changed.
//!
//! ```
//! use strata::{Engine, Instance, Module, Store};
//!
//! let engine = Engine::default();
//! let module = Module::new(&engine, r#"(module (func (export "add") (param i32 i32) (result i32)
//!     local.get 0 local.get 1 i32.add))"#)?;
//! let mut store = Store::new(&engine, ());
//! let instance = Instance::new(&mut store, &module, &[])?;
//! let add = instance.get_typed_func::<(i32, i32), i32>(&mut store, "add")?;
//! assert_eq!(add.call(&mut store, (2, 3))?, 5);
//! # Ok::<(), strata::Error>(())
//! ```

mod config;
mod engine;
mod externals;
mod func;
mod instance;
mod limits;
mod linker;
mod module;
mod store;
mod trap;
mod types;
mod values;
mod vm;
pub mod wast;

pub use anyhow::{Error, Result};
pub use config::{Config, OptLevel, RegallocAlgorithm, Strategy};
pub use engine::Engine;
pub use externals::{Extern, Global, Memory, MemoryAccessError, Table};
#[doc(hidden)]
pub use func::HostFuncDef;
pub use func::{Caller, Func, IntoFunc, TypedFunc, WasmParams, WasmResults, WasmRet, WasmTy};
pub use instance::{Export, Instance};
pub use limits::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
pub use linker::Linker;
pub use module::Module;
pub use store::{AsContext, AsContextMut, Store, StoreContext, StoreContextMut};
pub use trap::{FrameInfo, Trap, WasmBacktrace};
pub use types::{
    ExportType, ExternType, FuncType, GlobalType, HeapType, ImportType, MemoryType, Mutability,
    RefType, TableType, ValType,
};
pub use values::{ExternRef, Ref, Val, V128};

/// How many traps on the calling thread came from a memory fault in JIT code (a guard-page
/// access) rather than an explicit bounds check. For tests of the bounds-check modes.
#[doc(hidden)]
pub fn memory_faults_on_this_thread() -> u64 {
    vm::memory_faults_on_this_thread()
}
