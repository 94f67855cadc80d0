//! Linear memory storage: virtual-memory reservations that grow in place.
//!
//! A memory reserves `Config::memory_reservation` bytes plus `Config::memory_guard_size`
//! bytes of inaccessible address space up front and makes pages accessible as it grows, so
//! its base address never changes while it fits the reservation. With the default 4 GiB
//! reservation a 32-bit memory never moves, and JIT code can rely on the guard region
//! instead of bounds checks. A memory whose size outgrows a smaller reservation is moved to
//! a larger one (tiers reload `VMMemoryDefinition::base` after every call that may grow).
//! The interpreter always checks bounds itself.

use crate::limits::ResourceLimiter;
use anyhow::{anyhow, bail, Context, Result};
use strata_environ::vmcontext::VMMemoryDefinition;
use strata_environ::{MemoryType, WASM_PAGE_SIZE};

/// Largest number of 64 KiB pages of a 32-bit memory.
const MAX_PAGES_32: u64 = 1 << 16;

/// How memories reserve address space (from `Config`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MemoryConfig {
    pub(crate) reservation: u64,
    pub(crate) guard_size: u64,
}

#[repr(C)]
pub(crate) struct MemoryData {
    /// What the tiers read; always describes the accessible part of `mapping`.
    def: VMMemoryDefinition,
    mapping: Mapping,
    pub(crate) ty: MemoryType,
    config: MemoryConfig,
}

/// A reservation of `accessible_limit + guard` bytes whose first `accessible` bytes are
/// readable and writable.
struct Mapping {
    alloc: region::Allocation,
    accessible: usize,
    /// Bytes that can become accessible without moving.
    limit: usize,
}

impl Mapping {
    fn new(limit: usize, guard: usize, accessible: usize) -> Result<Mapping> {
        let page = region::page::size();
        let total = limit
            .checked_add(guard)
            .ok_or_else(|| anyhow!("memory reservation overflows"))?
            .max(page);
        let alloc = region::alloc(total, region::Protection::NONE)
            .with_context(|| format!("failed to reserve {total} bytes of address space"))?;
        let mut mapping = Mapping {
            alloc,
            accessible: 0,
            limit,
        };
        mapping.make_accessible(accessible)?;
        Ok(mapping)
    }

    fn base(&mut self) -> *mut u8 {
        self.alloc.as_mut_ptr::<u8>()
    }

    /// Makes the first `len` bytes accessible (`len` within `limit`, a multiple of the
    /// wasm page size and so of the host page size).
    fn make_accessible(&mut self, len: usize) -> Result<()> {
        debug_assert!(len <= self.limit);
        if len > self.accessible {
            let start = self.accessible;
            // SAFETY: `[start, len)` lies inside this mapping's reservation
            // (`len <= limit`), is page-aligned (wasm pages are host-page multiples) and is
            // not yet accessible, so nothing references it.
            unsafe {
                region::protect(
                    self.base().add(start),
                    len - start,
                    region::Protection::READ_WRITE,
                )
            }
            .context("failed to commit memory")?;
            self.accessible = len;
        }
        Ok(())
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: the first `accessible` bytes are mapped read-write and zero-initialised by
        // the OS; `&self` keeps them alive and unmoved.
        unsafe { std::slice::from_raw_parts(self.alloc.as_ptr::<u8>(), self.accessible) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        let len = self.accessible;
        // SAFETY: as in `bytes`, and `&mut self` makes the access exclusive on the Rust side.
        unsafe { std::slice::from_raw_parts_mut(self.base(), len) }
    }
}

impl MemoryData {
    /// A memory of `ty.minimum` zeroed pages, if the limiter agrees.
    pub(crate) fn new(
        ty: MemoryType,
        config: MemoryConfig,
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
        let max_bytes = max * WASM_PAGE_SIZE;
        let limit = config.reservation.min(max_bytes).max(bytes_len as u64) as usize;
        let mapping = Mapping::new(limit, config.guard_size as usize, bytes_len)?;
        let mut mem = Box::new(MemoryData {
            def: VMMemoryDefinition {
                base: std::ptr::null_mut(),
                current_length: 0,
            },
            mapping,
            ty,
            config,
        });
        mem.sync_definition();
        Ok(mem)
    }

    fn max_pages(ty: &MemoryType) -> u64 {
        ty.maximum.unwrap_or(MAX_PAGES_32).min(MAX_PAGES_32)
    }

    fn sync_definition(&mut self) {
        self.def.base = self.mapping.base();
        self.def.current_length = self.mapping.accessible;
    }

    pub(crate) fn definition(&mut self) -> *mut VMMemoryDefinition {
        &mut self.def
    }

    pub(crate) fn pages(&self) -> u64 {
        self.mapping.accessible as u64 / WASM_PAGE_SIZE
    }

    pub(crate) fn data(&self) -> &[u8] {
        self.mapping.bytes()
    }

    pub(crate) fn data_mut(&mut self) -> &mut [u8] {
        self.mapping.bytes_mut()
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
            if !limiter.memory_growing(self.mapping.accessible, new_len, max)? {
                return Ok(None);
            }
        }
        if new_len > self.mapping.limit {
            // Move to a reservation with room to grow (doubling, capped by the maximum).
            let max_bytes = (Self::max_pages(&self.ty) * WASM_PAGE_SIZE) as usize;
            let limit = new_len
                .max(self.mapping.limit.saturating_mul(2))
                .min(max_bytes);
            let Ok(mut moved) = Mapping::new(limit, self.config.guard_size as usize, new_len)
            else {
                return Ok(None);
            };
            let old_len = self.mapping.accessible;
            moved.bytes_mut()[..old_len].copy_from_slice(self.mapping.bytes());
            self.mapping = moved;
        } else if self.mapping.make_accessible(new_len).is_err() {
            return Ok(None);
        }
        self.sync_definition();
        Ok(Some(old))
    }
}
