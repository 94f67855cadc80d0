//! Linear memory storage.
//!
//! For now a memory is a heap allocation that moves when it grows; the tiers reload
//! `VMMemoryDefinition::base` after any call that may grow it. The JIT tiers will replace
//! this with a 4 GiB + guard reservation (see docs/architecture.md).

use crate::limits::ResourceLimiter;
use anyhow::{bail, Result};
use strata_environ::vmcontext::VMMemoryDefinition;
use strata_environ::{MemoryType, WASM_PAGE_SIZE};

/// Largest number of 64 KiB pages of a 32-bit memory.
const MAX_PAGES_32: u64 = 1 << 16;

#[repr(C)]
pub(crate) struct MemoryData {
    /// What the tiers read; always describes `bytes`.
    def: VMMemoryDefinition,
    bytes: Vec<u8>,
    pub(crate) ty: MemoryType,
}

impl MemoryData {
    /// A memory of `ty.minimum` zeroed pages, if the limiter agrees.
    pub(crate) fn new(
        ty: MemoryType,
        limiter: Option<&mut dyn ResourceLimiter>,
    ) -> Result<Box<MemoryData>> {
        let max = Self::max_pages(&ty);
        if ty.minimum > max {
            bail!(
                "memory minimum size of {} pages exceeds the maximum of {max}",
                ty.minimum
            );
        }
        let bytes_len = (ty.minimum * WASM_PAGE_SIZE) as usize;
        if let Some(limiter) = limiter {
            let max_bytes = ty.maximum.map(|m| (m * WASM_PAGE_SIZE) as usize);
            if !limiter.memory_growing(0, bytes_len, max_bytes)? {
                bail!(
                    "memory minimum size of {} pages exceeds memory limits",
                    ty.minimum
                );
            }
        }
        let mut bytes = Vec::new();
        if bytes.try_reserve_exact(bytes_len).is_err() {
            bail!("failed to allocate a memory of {} pages", ty.minimum);
        }
        bytes.resize(bytes_len, 0);
        let mut mem = Box::new(MemoryData {
            def: VMMemoryDefinition {
                base: std::ptr::null_mut(),
                current_length: 0,
            },
            bytes,
            ty,
        });
        mem.sync_definition();
        Ok(mem)
    }

    fn max_pages(ty: &MemoryType) -> u64 {
        ty.maximum.unwrap_or(MAX_PAGES_32).min(MAX_PAGES_32)
    }

    fn sync_definition(&mut self) {
        self.def.base = self.bytes.as_mut_ptr();
        self.def.current_length = self.bytes.len();
    }

    pub(crate) fn definition(&mut self) -> *mut VMMemoryDefinition {
        &mut self.def
    }

    pub(crate) fn pages(&self) -> u64 {
        self.bytes.len() as u64 / WASM_PAGE_SIZE
    }

    pub(crate) fn data(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn data_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    /// Grows by `delta` pages. Returns the old size in pages, or `None` when the growth is
    /// refused (beyond the maximum, by the limiter, or out of host memory).
    pub(crate) fn grow(
        &mut self,
        delta: u64,
        limiter: Option<&mut dyn ResourceLimiter>,
    ) -> Result<Option<u64>> {
        let old = self.pages();
        let Some(new) = old.checked_add(delta) else {
            return Ok(None);
        };
        if new > Self::max_pages(&self.ty) {
            return Ok(None);
        }
        if delta == 0 {
            return Ok(Some(old));
        }
        let new_len = (new * WASM_PAGE_SIZE) as usize;
        if let Some(limiter) = limiter {
            let max = self.ty.maximum.map(|m| (m * WASM_PAGE_SIZE) as usize);
            if !limiter.memory_growing(self.bytes.len(), new_len, max)? {
                return Ok(None);
            }
        }
        if self
            .bytes
            .try_reserve_exact(new_len - self.bytes.len())
            .is_err()
        {
            return Ok(None);
        }
        self.bytes.resize(new_len, 0);
        self.sync_definition();
        Ok(Some(old))
    }
}
