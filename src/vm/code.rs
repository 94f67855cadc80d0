//! Executable memory for JIT code, and the process-wide registry the trap handler consults.
//!
//! Each compiled function gets its own mapping: written while read-write, then switched to
//! read-execute before anyone can call it, and never writable again (W^X). Pages are never
//! shared between functions, so installing code never touches a page another thread may be
//! executing. A mapping is unmapped, and unregistered, when its `CodeMemory` is dropped,
//! which its module does when it is dropped.

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use strata_environ::{trap_at, CompiledFunction, TrapCode, TrapSite};

/// One function's machine code, executable.
pub(crate) struct CodeMemory {
    alloc: region::Allocation,
    len: usize,
}

// SAFETY: the mapping is immutable (read-execute) after construction; sharing its address
// between threads is how JIT code is meant to be used.
unsafe impl Send for CodeMemory {}
// SAFETY: as above.
unsafe impl Sync for CodeMemory {}

/// What the trap handler knows of a code range.
struct Registered {
    end: usize,
    trap_sites: Arc<[TrapSite]>,
    func_index: u32,
}

/// Start address -> code range, for every live `CodeMemory`.
static REGISTRY: RwLock<BTreeMap<usize, Registered>> = RwLock::new(BTreeMap::new());

impl CodeMemory {
    /// Maps `func`'s code executable and registers its trap sites.
    pub(crate) fn new(func: &CompiledFunction, func_index: u32) -> Result<CodeMemory> {
        let len = func.code.len().max(1);
        let mut alloc = region::alloc(len, region::Protection::READ_WRITE)
            .context("failed to allocate code memory")?;
        let base = alloc.as_mut_ptr::<u8>();
        // SAFETY: the allocation is at least `len` bytes, freshly mapped read-write and not
        // yet visible to anyone else.
        unsafe {
            std::ptr::copy_nonoverlapping(func.code.as_ptr(), base, func.code.len());
            region::protect(base, len, region::Protection::READ_EXECUTE)
                .context("failed to make code executable")?;
        }
        let start = base as usize;
        REGISTRY.write().unwrap_or_else(|e| e.into_inner()).insert(
            start,
            Registered {
                end: start + len,
                trap_sites: func.trap_sites.clone().into(),
                func_index,
            },
        );
        Ok(CodeMemory { alloc, len })
    }

    /// The function's entry point.
    pub(crate) fn entry(&self) -> *const u8 {
        self.alloc.as_ptr::<u8>()
    }
}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        let start = self.alloc.as_ptr::<u8>() as usize;
        REGISTRY
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&start);
        debug_assert!(self.len > 0);
    }
}

/// If `pc` is inside registered JIT code: the trap its fault means (if it is a trap site)
/// and the function it belongs to.
pub(crate) fn lookup(pc: usize) -> Option<(Option<TrapCode>, u32)> {
    let registry = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    let (&start, reg) = registry.range(..=pc).next_back()?;
    if pc >= reg.end {
        return None;
    }
    Some((
        trap_at(&reg.trap_sites, (pc - start) as u32),
        reg.func_index,
    ))
}
