//! The runtime's unsafe core: `VMContext` construction, the records it points at, builtins
//! (libcalls) that tiers call back into, host-function trampolines and the host-to-wasm
//! entry.
//!
//! Every `unsafe` block of the root crate lives under this module, each with a `// SAFETY:`
//! comment. The safe API (`Store`, `Instance`, `Func`, ...) is built on the functions here.

mod background;
mod builtins;
#[cfg_attr(
    not(all(target_arch = "x86_64", target_os = "linux")),
    allow(dead_code, reason = "only the x86-64 Linux trap handler looks code up")
)]
mod code;
mod entry;
mod host;
mod instance;
mod memory;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod native;
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
#[path = "native_unsupported.rs"]
mod native;
mod osr;
mod table;
mod tiering;

pub(crate) use background::BackgroundCompiler;
pub(crate) use entry::invoke;
pub(crate) use host::{new_host_func, HostFn, HostFuncOwner};
pub(crate) use instance::{funcref_type_id, FuncRefPtr, InstanceData, InstanceParts};
pub(crate) use memory::{MemoryConfig, MemoryData};
pub(crate) use native::{memory_faults_on_this_thread, supported as native_supported};
pub(crate) use table::TableData;
pub(crate) use tiering::{
    compile_all_baseline, compile_all_optimizing, compile_function, current_tier, NativeCode,
    Trampolines,
};

use crate::limits::ResourceLimiter;
use crate::store::StoreOpaque;
use strata_environ::{GlobalType, ValRaw};

/// The store as seen from code that only has a `VMContext` (builtins, trampolines).
pub(crate) trait VMStore {
    fn opaque_and_limiter(&mut self) -> (&mut StoreOpaque, Option<&mut dyn ResourceLimiter>);
}

/// A global's storage. Boxed by the store so `VMContext`s can point at `value`.
#[repr(C)]
pub(crate) struct GlobalData {
    pub(crate) value: ValRaw,
    pub(crate) ty: GlobalType,
}
