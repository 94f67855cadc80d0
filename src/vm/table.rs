//! Table storage: an array of raw references the tiers index directly.

use crate::limits::ResourceLimiter;
use anyhow::{bail, Result};
use strata_environ::vmcontext::VMTableDefinition;
use strata_environ::TableType;

/// Implementation limit on table size (elements), whatever the type allows.
const MAX_TABLE_ELEMENTS: u64 = 10_000_000;

#[repr(C)]
pub(crate) struct TableData {
    def: VMTableDefinition,
    elems: Vec<u64>,
    pub(crate) ty: TableType,
}

impl TableData {
    pub(crate) fn new(
        ty: TableType,
        init: u64,
        limiter: Option<&mut dyn ResourceLimiter>,
    ) -> Result<Box<TableData>> {
        if ty.minimum > Self::max_elements(&ty) {
            bail!(
                "table minimum size of {} elements exceeds table limits",
                ty.minimum
            );
        }
        if let Some(limiter) = limiter {
            if !limiter.table_growing(0, ty.minimum as usize, ty.maximum.map(|m| m as usize))? {
                bail!(
                    "table minimum size of {} elements exceeds table limits",
                    ty.minimum
                );
            }
        }
        let mut table = Box::new(TableData {
            def: VMTableDefinition {
                base: std::ptr::null_mut(),
                current_elements: 0,
            },
            elems: vec![init; ty.minimum as usize],
            ty,
        });
        table.sync_definition();
        Ok(table)
    }

    fn max_elements(ty: &TableType) -> u64 {
        ty.maximum
            .unwrap_or(u64::from(u32::MAX))
            .min(MAX_TABLE_ELEMENTS)
    }

    fn sync_definition(&mut self) {
        self.def.base = self.elems.as_mut_ptr();
        self.def.current_elements = self.elems.len();
    }

    pub(crate) fn definition(&mut self) -> *mut VMTableDefinition {
        &mut self.def
    }

    pub(crate) fn elements(&self) -> &[u64] {
        &self.elems
    }

    pub(crate) fn elements_mut(&mut self) -> &mut [u64] {
        &mut self.elems
    }

    pub(crate) fn size(&self) -> u64 {
        self.elems.len() as u64
    }

    /// Grows by `delta` elements set to `init`; the old size, or `None` when refused.
    pub(crate) fn grow(
        &mut self,
        delta: u64,
        init: u64,
        limiter: Option<&mut dyn ResourceLimiter>,
    ) -> Result<Option<u64>> {
        let old = self.size();
        let Some(new) = old.checked_add(delta) else {
            return Ok(None);
        };
        if new > Self::max_elements(&self.ty) {
            return Ok(None);
        }
        if delta == 0 {
            return Ok(Some(old));
        }
        if let Some(limiter) = limiter {
            let max = self.ty.maximum.map(|m| m as usize);
            if !limiter.table_growing(old as usize, new as usize, max)? {
                return Ok(None);
            }
        }
        if self.elems.try_reserve_exact(delta as usize).is_err() {
            return Ok(None);
        }
        self.elems.resize(new as usize, init);
        self.sync_definition();
        Ok(Some(old))
    }
}
