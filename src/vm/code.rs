//! Executable memory for JIT code, and the process-wide registry the trap handler consults.
//!
//! Each compiled function gets its own mapping: written while read-write, then switched to
//! read-execute before anyone can call it, and never writable again (W^X). Pages are never
//! shared between functions, so installing code never touches a page another thread may be
//! executing. A mapping is unmapped, and unregistered, when its `CodeMemory` is dropped,
//! which its module does when it is dropped.
//!
//! Code does not start at the beginning of its mapping: each function starts at the next
//! of the 64-byte lines free in its last page (round robin). Were every function at a page
//! boundary, all their entries would fall in the same set of the instruction cache (and
//! alias in the branch predictors), and a workload calling many small functions (indirect
//! calls through a table) would miss in it on every call.

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use strata_environ::{trap_at, CompiledFunction, ModuleInfo, OsrEntry, TrapCode, TrapSite};

/// One function's machine code, executable.
pub(crate) struct CodeMemory {
    alloc: region::Allocation,
    /// Where the code starts in the mapping.
    offset: usize,
    len: usize,
    /// The code's on-stack-replacement entries.
    osr_entries: Box<[OsrEntry]>,
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
    /// The function's module (`None` for trampolines), for naming backtrace frames.
    module: Option<Arc<ModuleInfo>>,
}

/// What the registry knows of a code address.
pub(crate) struct CodeInfo {
    /// The trap a fault at this address means, if it is a trap site.
    pub(crate) trap: Option<TrapCode>,
    /// The function and its module; `None` inside a trampoline.
    pub(crate) func: Option<(u32, *const ModuleInfo)>,
}

/// Start address -> code range, for every live `CodeMemory`.
static REGISTRY: RwLock<BTreeMap<usize, Registered>> = RwLock::new(BTreeMap::new());

impl CodeMemory {
    /// Maps `func`'s code executable and registers its trap sites, as function `func_index`
    /// of `module` (`None` for trampolines).
    pub(crate) fn new(
        func: &CompiledFunction,
        func_index: u32,
        module: Option<Arc<ModuleInfo>>,
    ) -> Result<CodeMemory> {
        let len = func.code.len().max(1);
        let offset = start_offset(len, region::page::size());
        let mut alloc = region::alloc(offset + len, region::Protection::READ_WRITE)
            .context("failed to allocate code memory")?;
        // SAFETY: the allocation is at least `offset + len` bytes, freshly mapped read-write
        // and not yet visible to anyone else.
        let base = unsafe {
            let base = alloc.as_mut_ptr::<u8>().add(offset);
            std::ptr::copy_nonoverlapping(func.code.as_ptr(), base, func.code.len());
            region::protect(base, len, region::Protection::READ_EXECUTE)
                .context("failed to make code executable")?;
            base
        };
        let start = base as usize;
        REGISTRY.write().unwrap_or_else(|e| e.into_inner()).insert(
            start,
            Registered {
                end: start + len,
                trap_sites: func.trap_sites.clone().into(),
                func_index,
                module,
            },
        );
        Ok(CodeMemory {
            alloc,
            offset,
            len,
            osr_entries: func.osr_entries.clone().into(),
        })
    }

    /// The function's entry point.
    pub(crate) fn entry(&self) -> *const u8 {
        // SAFETY: the mapping is `offset + len` bytes long.
        unsafe { self.alloc.as_ptr::<u8>().add(self.offset) }
    }

    /// The on-stack-replacement entry for the loop at module byte `loop_offset`, if the
    /// code has one.
    pub(crate) fn osr_entry(&self, loop_offset: u32) -> Option<*const u8> {
        let entry = self
            .osr_entries
            .iter()
            .find(|e| e.loop_offset == loop_offset)?;
        // SAFETY: entries are offsets inside this code.
        Some(unsafe { self.entry().add(entry.code_offset as usize) })
    }
}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        let start = self.entry() as usize;
        REGISTRY
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&start);
        debug_assert!(self.len > 0);
    }
}

/// Bytes of an instruction-cache line.
const CACHE_LINE: usize = 64;

/// Which line the next function starts at (see the module docs).
static NEXT_LINE: AtomicUsize = AtomicUsize::new(0);

/// Where `len` bytes of code start in their mapping: at a cache line free in the last page
/// of the mapping, so the offset costs no memory.
fn start_offset(len: usize, page: usize) -> usize {
    let slack = len.next_multiple_of(page) - len;
    let lines = slack / CACHE_LINE + 1;
    NEXT_LINE.fetch_add(1, Ordering::Relaxed) % lines * CACHE_LINE
}

/// What the registry knows of `pc`, if it is inside registered JIT code.
pub(crate) fn lookup(pc: usize) -> Option<CodeInfo> {
    let registry = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    let (&start, reg) = registry.range(..=pc).next_back()?;
    if pc >= reg.end {
        return None;
    }
    Some(CodeInfo {
        trap: trap_at(&reg.trap_sites, (pc - start) as u32),
        func: reg
            .module
            .as_ref()
            .map(|m| (reg.func_index, Arc::as_ptr(m))),
    })
}
