//! The layout of an instance's `VMContext`, computed from its module.
//!
//! ```text
//! offset 0   magic: u32 (+ padding)          identifies a live VMContext in debug checks
//!        8   store_context: *mut VMStoreContext
//!       16   builtins: *const VMBuiltins
//!       24   type_ids: *const u32           engine signature id per module type index
//!       32   interp: *const ()              the interpreter's per-module state
//!       40   instance: *mut ()              the runtime's instance (for libcalls)
//!       48   code_table: *const AtomicPtr<u8> the module's native entries, one per defined
//!                                           function (null: not compiled yet)
//!       56   budgets: *mut i32               per instance, two per defined function: calls
//!                                           and loop iterations left before tier-up
//!       64   funcs:    [*const VMFuncRef;          num_funcs]     imports first
//!            tables:   [*mut VMTableDefinition;    num_tables]
//!            memories: [*mut VMMemoryDefinition;   num_memories]
//!            globals:  [*mut ValRaw;               num_globals]
//! ```
//!
//! Every entity is reached through one pointer whether it is imported or defined, so a tier
//! needs no import/definition distinction to access it; the records pointed at are owned by
//! the store (memories, tables, globals) or by the instance (function references).

use crate::ModuleInfo;

/// Value of the `magic` field of a live `VMContext`.
pub const VMCONTEXT_MAGIC: u32 = u32::from_le_bytes(*b"stra");

const PTR: u32 = 8;

/// Byte offsets of the fields of one module's `VMContext`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VMOffsets {
    pub num_funcs: u32,
    pub num_tables: u32,
    pub num_memories: u32,
    pub num_globals: u32,
}

impl VMOffsets {
    /// The layout for `module`.
    pub fn new(module: &ModuleInfo) -> VMOffsets {
        VMOffsets {
            num_funcs: module.functions.len() as u32,
            num_tables: module.tables.len() as u32,
            num_memories: module.memories.len() as u32,
            num_globals: module.globals.len() as u32,
        }
    }

    #[inline]
    pub const fn magic(&self) -> u32 {
        0
    }
    #[inline]
    pub const fn store_context(&self) -> u32 {
        8
    }
    #[inline]
    pub const fn builtins(&self) -> u32 {
        16
    }
    #[inline]
    pub const fn type_ids(&self) -> u32 {
        24
    }
    #[inline]
    pub const fn interp(&self) -> u32 {
        32
    }
    #[inline]
    pub const fn instance(&self) -> u32 {
        40
    }
    #[inline]
    pub const fn code_table(&self) -> u32 {
        48
    }
    #[inline]
    pub const fn budgets(&self) -> u32 {
        56
    }
    #[inline]
    fn funcs_begin(&self) -> u32 {
        64
    }
    #[inline]
    fn tables_begin(&self) -> u32 {
        self.funcs_begin() + self.num_funcs * PTR
    }
    #[inline]
    fn memories_begin(&self) -> u32 {
        self.tables_begin() + self.num_tables * PTR
    }
    #[inline]
    fn globals_begin(&self) -> u32 {
        self.memories_begin() + self.num_memories * PTR
    }

    /// Offset of the `*const VMFuncRef` of function `index`.
    #[inline]
    pub fn func(&self, index: u32) -> u32 {
        debug_assert!(index < self.num_funcs);
        self.funcs_begin() + index * PTR
    }
    /// Offset of the `*mut VMTableDefinition` of table `index`.
    #[inline]
    pub fn table(&self, index: u32) -> u32 {
        debug_assert!(index < self.num_tables);
        self.tables_begin() + index * PTR
    }
    /// Offset of the `*mut VMMemoryDefinition` of memory `index`.
    #[inline]
    pub fn memory(&self, index: u32) -> u32 {
        debug_assert!(index < self.num_memories);
        self.memories_begin() + index * PTR
    }
    /// Offset of the `*mut ValRaw` of global `index`.
    #[inline]
    pub fn global(&self, index: u32) -> u32 {
        debug_assert!(index < self.num_globals);
        self.globals_begin() + index * PTR
    }
    /// Total size of the `VMContext` in bytes (a multiple of 16).
    #[inline]
    pub fn size(&self) -> u32 {
        (self.globals_begin() + self.num_globals * PTR).next_multiple_of(16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_follow_each_other() {
        let o = VMOffsets {
            num_funcs: 3,
            num_tables: 1,
            num_memories: 2,
            num_globals: 1,
        };
        assert_eq!(o.func(0), 64);
        assert_eq!(o.func(2), 80);
        assert_eq!(o.table(0), 88);
        assert_eq!(o.memory(1), 104);
        assert_eq!(o.global(0), 112);
        assert_eq!(o.size(), 128);
    }
}
