//! What a JIT tier hands the runtime for one function.

use crate::TrapCode;

/// Position-independent machine code of one function under the native convention (see
/// [`crate::abi`]), with the information the runtime's trap handler needs.
#[derive(Debug, Clone, Default)]
pub struct CompiledFunction {
    pub code: Vec<u8>,
    /// Instructions that fault on purpose (or may fault), sorted by offset.
    pub trap_sites: Vec<TrapSite>,
}

/// A faulting instruction and what its fault means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrapSite {
    /// Byte offset of the instruction in the function's code.
    pub offset: u32,
    pub code: TrapCode,
}

impl CompiledFunction {
    /// The trap raised by a fault at byte `offset`, if that instruction is a trap site.
    pub fn trap_at(&self, offset: u32) -> Option<TrapCode> {
        trap_at(&self.trap_sites, offset)
    }
}

/// Looks `offset` up in sorted `sites`.
pub fn trap_at(sites: &[TrapSite], offset: u32) -> Option<TrapCode> {
    sites
        .binary_search_by_key(&offset, |s| s.offset)
        .ok()
        .map(|i| sites[i].code)
}
