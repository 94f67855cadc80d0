//! References, table operations and bulk memory operations.
//!
//! Table accesses and `memory.fill`/`memory.copy` are done inline (the copies through libc's
//! `memmove`/`memset` after explicit bounds checks); operations on segments and growth call
//! the runtime's builtins.

use super::{Compiler, Operand, R14, RAX};
use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};
use strata_environ::vmcontext::offsets as off;
use strata_environ::TrapCode;
use wasmparser::Operator;

const RCX: u8 = 1;
const RDX: u8 = 2;
const RSI: u8 = 6;
const RDI: u8 = 7;
const R8: u8 = 8;
const R9: u8 = 9;
const R10: u8 = 10;

impl Compiler<'_> {
    /// Pops the top operand into register `r` (i32 values arrive zero-extended).
    fn pop_to(&mut self, r: u8) {
        let (op, pos) = self.pop();
        self.load(op, pos, r);
    }

    fn push_rax_result(&mut self) {
        let dst = self.push_temp();
        self.store(RAX, dst);
    }

    /// Calls the builtin at `offset` in the builtins table (arguments already in place).
    fn call_builtin(&mut self, offset: u8) {
        let builtins = self.offsets.builtins() as i32;
        dynasm!(self.asm
            ; .arch x64
            ; mov rax, QWORD [r15 + builtins]
            ; call QWORD [rax + offset as i32]
        );
    }

    /// After a builtin returning a raw trap code in `eax`: raises it unless zero.
    fn raise_if_eax(&mut self) {
        let ok = self.asm.new_dynamic_label();
        dynasm!(self.asm
            ; .arch x64
            ; test eax, eax
            ; jz =>ok
            ; mov esi, eax
            ; mov rdi, r15
        );
        self.call_builtin(off::BUILTIN_RAISE_TRAP);
        dynasm!(self.asm ; .arch x64 ; ud2 ; =>ok);
    }

    /// Traps with `TableOutOfBounds` unless `[start, start + len)` lies inside the table
    /// whose `VMTableDefinition` is in `def` (start and len zero-extended; clobbers rcx).
    fn check_table_range(&mut self, def: u8, start: u8, len: u8) {
        let oob = self.trap_label(TrapCode::TableOutOfBounds);
        dynasm!(self.asm
            ; .arch x64
            ; lea rcx, [Rq(start) + Rq(len)]
            ; cmp rcx, QWORD [Rq(def) + off::TABLE_CURRENT_ELEMENTS as i32]
            ; ja =>oob
        );
    }

    /// Emits a reference, table or bulk-memory operator; `false` if `op` is none of those.
    pub(super) fn bulk(&mut self, op: &Operator<'_>) -> bool {
        use Operator as O;
        // Everything but plain table accesses calls out (builtins, memmove, memset) or uses
        // pool registers as arguments.
        if !matches!(
            op,
            O::RefNull { .. }
                | O::RefFunc { .. }
                | O::TableGet { .. }
                | O::TableSet { .. }
                | O::TableSize { .. }
        ) {
            self.spill_all();
        }
        match *op {
            O::RefNull { .. } => self.push(Operand::Const(0)),
            O::RefFunc { function_index } => {
                let f = self.offsets.func(function_index) as i32;
                dynasm!(self.asm ; .arch x64 ; mov rax, QWORD [r15 + f]);
                self.push_rax_result();
            }
            O::TableGet { table } => {
                self.pop_to(RAX);
                let t = self.offsets.table(table) as i32;
                let oob = self.trap_label(TrapCode::TableOutOfBounds);
                dynasm!(self.asm
                    ; .arch x64
                    ; mov rcx, QWORD [r15 + t]
                    ; cmp rax, QWORD [rcx + off::TABLE_CURRENT_ELEMENTS as i32]
                    ; jae =>oob
                    ; mov rcx, QWORD [rcx + off::TABLE_BASE as i32]
                    ; mov rax, QWORD [rcx + rax * 8]
                );
                self.push_rax_result();
            }
            O::TableSet { table } => {
                self.pop_to(RDX);
                self.pop_to(RAX);
                let t = self.offsets.table(table) as i32;
                let oob = self.trap_label(TrapCode::TableOutOfBounds);
                dynasm!(self.asm
                    ; .arch x64
                    ; mov rcx, QWORD [r15 + t]
                    ; cmp rax, QWORD [rcx + off::TABLE_CURRENT_ELEMENTS as i32]
                    ; jae =>oob
                    ; mov rcx, QWORD [rcx + off::TABLE_BASE as i32]
                    ; mov QWORD [rcx + rax * 8], rdx
                );
            }
            O::TableSize { table } => {
                let t = self.offsets.table(table) as i32;
                dynasm!(self.asm
                    ; .arch x64
                    ; mov rax, QWORD [r15 + t]
                    ; mov rax, QWORD [rax + off::TABLE_CURRENT_ELEMENTS as i32]
                );
                self.push_rax_result();
            }
            O::TableGrow { table } => {
                self.pop_to(RDX);
                self.pop_to(RCX);
                dynasm!(self.asm ; .arch x64 ; mov rdi, r15 ; mov esi, table as i32);
                self.call_builtin(off::BUILTIN_TABLE_GROW);
                dynasm!(self.asm ; .arch x64 ; mov eax, eax);
                self.push_rax_result();
            }
            O::TableFill { table } => {
                self.pop_to(RDX);
                self.pop_to(RSI);
                self.pop_to(R8);
                let t = self.offsets.table(table) as i32;
                dynasm!(self.asm ; .arch x64 ; mov r9, QWORD [r15 + t]);
                self.check_table_range(R9, R8, RDX);
                dynasm!(self.asm
                    ; .arch x64
                    ; mov rdi, QWORD [r9 + off::TABLE_BASE as i32]
                    ; lea rdi, [rdi + r8 * 8]
                    ; mov rax, rsi
                    ; mov rcx, rdx
                    ; rep stosq
                );
            }
            O::TableCopy {
                dst_table,
                src_table,
            } => {
                self.pop_to(RDX);
                self.pop_to(R9);
                self.pop_to(R8);
                let src = self.offsets.table(src_table) as i32;
                let dst = self.offsets.table(dst_table) as i32;
                dynasm!(self.asm
                    ; .arch x64
                    ; mov rax, QWORD [r15 + src]
                    ; mov r10, QWORD [r15 + dst]
                );
                self.check_table_range(RAX, R9, RDX);
                self.check_table_range(R10, R8, RDX);
                dynasm!(self.asm
                    ; .arch x64
                    ; mov rsi, QWORD [rax + off::TABLE_BASE as i32]
                    ; lea rsi, [rsi + r9 * 8]
                    ; mov rdi, QWORD [r10 + off::TABLE_BASE as i32]
                    ; lea rdi, [rdi + r8 * 8]
                    ; shl rdx, 3
                    ; mov rax, QWORD libc::memmove as *const () as i64
                    ; call rax
                );
            }
            O::TableInit { elem_index, table } => {
                self.pop_to(R9);
                self.pop_to(R8);
                self.pop_to(RCX);
                dynasm!(self.asm
                    ; .arch x64
                    ; mov rdi, r15
                    ; mov esi, table as i32
                    ; mov edx, elem_index as i32
                );
                self.call_builtin(off::BUILTIN_TABLE_INIT);
                self.raise_if_eax();
            }
            O::ElemDrop { elem_index } => {
                dynasm!(self.asm ; .arch x64 ; mov rdi, r15 ; mov esi, elem_index as i32);
                self.call_builtin(off::BUILTIN_ELEM_DROP);
            }
            O::MemoryInit { data_index, .. } => {
                self.pop_to(R9);
                self.pop_to(R8);
                self.pop_to(RCX);
                dynasm!(self.asm
                    ; .arch x64
                    ; mov rdi, r15
                    ; xor esi, esi
                    ; mov edx, data_index as i32
                );
                self.call_builtin(off::BUILTIN_MEMORY_INIT);
                self.raise_if_eax();
            }
            O::DataDrop { data_index } => {
                dynasm!(self.asm ; .arch x64 ; mov rdi, r15 ; mov esi, data_index as i32);
                self.call_builtin(off::BUILTIN_DATA_DROP);
            }
            O::MemoryCopy { .. } => {
                self.pop_to(RDX);
                self.pop_to(RSI);
                self.pop_to(RDI);
                self.used_regs |= 1 << R14;
                let mem = self.offsets.memory(0) as i32;
                let oob = self.trap_label(TrapCode::MemoryOutOfBounds);
                dynasm!(self.asm
                    ; .arch x64
                    ; mov rax, QWORD [r15 + mem]
                    ; mov rax, QWORD [rax + off::MEMORY_CURRENT_LENGTH as i32]
                    ; lea rcx, [rsi + rdx]
                    ; cmp rcx, rax
                    ; ja =>oob
                    ; lea rcx, [rdi + rdx]
                    ; cmp rcx, rax
                    ; ja =>oob
                    ; add rdi, r14
                    ; add rsi, r14
                    ; mov rax, QWORD libc::memmove as *const () as i64
                    ; call rax
                );
            }
            O::MemoryFill { .. } => {
                self.pop_to(RDX);
                self.pop_to(RSI);
                self.pop_to(RDI);
                self.used_regs |= 1 << R14;
                let mem = self.offsets.memory(0) as i32;
                let oob = self.trap_label(TrapCode::MemoryOutOfBounds);
                dynasm!(self.asm
                    ; .arch x64
                    ; mov rax, QWORD [r15 + mem]
                    ; lea rcx, [rdi + rdx]
                    ; cmp rcx, QWORD [rax + off::MEMORY_CURRENT_LENGTH as i32]
                    ; ja =>oob
                    ; add rdi, r14
                    ; movzx esi, sil
                    ; mov rax, QWORD libc::memset as *const () as i64
                    ; call rax
                );
            }
            _ => return false,
        }
        true
    }
}
