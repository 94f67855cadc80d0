//! What a JIT tier hands the runtime for one function.

use crate::TrapCode;

/// Position-independent machine code of one function under the native convention (see
/// [`crate::abi`]), with the information the runtime's trap handler needs.
#[derive(Debug, Clone, Default)]
pub struct CompiledFunction {
    pub code: Vec<u8>,
    /// Instructions that fault on purpose (or may fault), sorted by offset.
    pub trap_sites: Vec<TrapSite>,
    /// Where a running interpreter activation may continue in this code (on-stack
    /// replacement), one per loop that has such an entry.
    pub osr_entries: Vec<OsrEntry>,
}

/// An on-stack-replacement entry: code that takes an interpreter activation's state at the
/// header of one loop and continues the call from there.
///
/// The entry is called under the native convention of a function with the same results as
/// the compiled one and a single `i64` parameter: a pointer to the state, one `u64` per
/// word: the loop's module byte offset (code with entries at several loops may share one
/// entry and read it), every local (parameters first), then the operand stack at the loop
/// header, bottom first (the loop's parameters last). Floats are their bit patterns, in the
/// low bits. The entry runs the rest of the call and returns its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsrEntry {
    /// Byte offset of the `loop` operator in the module, which names the loop for every tier.
    pub loop_offset: u32,
    /// Byte offset of the entry in the function's code.
    pub code_offset: u32,
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
