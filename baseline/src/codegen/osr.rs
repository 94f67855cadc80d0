//! On-stack replacement in baseline code: entries that take an interpreter activation's
//! state at a loop header (see [`strata_environ::OsrEntry`]), and exits that hand the
//! activation's state at a loop header to optimized code through the `osr` builtin.
//!
//! Both sides lean on the stack model's invariant at loop headers: no register holds a
//! value there (entry spills them and copies locals out), so the state is the locals' and
//! the temporaries' frame slots plus the constants the code already knows.

use super::{slot_offset, Compiler, Operand, RAX};
use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};
use strata_environ::abi::{ArgLoc, NativeSignature};
use strata_environ::vmcontext::offsets as off;
use strata_environ::vmcontext::{OSR_FROM_BASELINE, OSR_RETURNED, OSR_TRAPPED};
use strata_environ::{OsrEntry, WasmFuncType, WasmValType};

/// A loop header an on-stack-replacement entry leads to: the loop (by module offset), its
/// label, and the operand stack there (constants and temporaries only: loop entry spills
/// registers and copies locals out).
#[derive(Clone)]
pub(super) struct OsrLoop {
    pub(super) loop_offset: u32,
    pub(super) label: DynamicLabel,
    pub(super) stack: Vec<Operand>,
}

impl Compiler<'_> {
    /// Emits the on-stack-replacement entries of the loops recorded while compiling the
    /// body (see [`strata_environ::OsrEntry`] for the convention); `num_locals` counts the
    /// parameters too. Each sets up the frame as the prologue does, copies the state into
    /// the locals' and the temporaries' slots and jumps to its loop header, whose budget
    /// spending follows as on every iteration.
    pub(super) fn osr_entries(&mut self, num_locals: u32) -> Vec<OsrEntry> {
        let mut entries = Vec::new();
        let results = self.func_type.results.clone();
        let osr_type = WasmFuncType::new([WasmValType::I64], results.iter().copied());
        let sig = NativeSignature::new(&osr_type);
        let ArgLoc::Gpr(state) = sig.params[0] else {
            unreachable!("the first integer parameter travels in a register")
        };
        for osr in std::mem::take(&mut self.osr_loops) {
            entries.push(OsrEntry {
                loop_offset: osr.loop_offset,
                code_offset: self.asm.offset().0 as u32,
            });
            self.enter_frame();
            if let (Some(slot), Some(loc)) = (self.results_area_slot, sig.results_area) {
                self.store_results_area(slot, loc);
            }
            let temps = osr
                .stack
                .iter()
                .enumerate()
                .filter(|(_, op)| **op == Operand::Temp)
                .map(|(pos, _)| (num_locals + pos as u32, self.temp_base + pos as u32));
            // Word 0 of the state names the loop; this entry knows it.
            for (from, to) in (0..num_locals).map(|l| (l, l)).chain(temps) {
                let from = 1 + from;
                dynasm!(self.asm
                    ; .arch x64
                    ; mov rax, QWORD [Rq(state) + 8 * from as i32]
                    ; mov QWORD [rbp + slot_offset(to)], rax
                );
            }
            self.reload_memory_base();
            dynasm!(self.asm ; .arch x64 ; jmp =>osr.label);
        }
        entries
    }

    /// At loop header `osr` (the budget just ran out and `tier_up` returned): hands the
    /// activation's state to the `osr` builtin, which continues the call in optimized code
    /// when it has an entry for this loop. Then returns the call's results from this frame,
    /// or raises the trap it reported, or falls through to keep running here.
    pub(super) fn osr_exit(&mut self, osr: &OsrLoop) {
        let num_locals = self.temp_base - self.results_area_slot.is_some() as u32;
        let values = self.func_type.results.len().max(1) as i32;
        let state = 16 * values;
        let words = 1 + num_locals + osr.stack.len() as u32;
        let size = (16 * values as u32 + 8 * words).next_multiple_of(16) as i32;
        dynasm!(self.asm
            ; .arch x64
            ; sub rsp, size
            ; mov QWORD [rsp + state], osr.loop_offset as i32
        );
        for l in 0..num_locals {
            dynasm!(self.asm
                ; .arch x64
                ; mov rax, QWORD [rbp + slot_offset(l)]
                ; mov QWORD [rsp + state + 8 * (1 + l as i32)], rax
            );
        }
        for (pos, &op) in osr.stack.iter().enumerate() {
            self.load(op, pos as u32, RAX);
            let at = state + 8 * (1 + num_locals as i32 + pos as i32);
            dynasm!(self.asm ; .arch x64 ; mov QWORD [rsp + at], rax);
        }
        let builtins = self.offsets.builtins() as i32;
        let returned = self.asm.new_dynamic_label();
        let trapped = self.asm.new_dynamic_label();
        let stay = self.asm.new_dynamic_label();
        dynasm!(self.asm
            ; .arch x64
            ; lea rax, [rsp + state]
            ; mov QWORD [rsp], rax
            ; mov rdi, r15
            ; mov esi, self.defined as i32
            ; mov edx, osr.loop_offset as i32
            ; mov rcx, rsp
            ; mov r8d, values
            ; mov r9d, OSR_FROM_BASELINE as i32
            ; mov rax, QWORD [r15 + builtins]
            ; call QWORD [rax + off::BUILTIN_OSR as i32]
            ; cmp eax, OSR_RETURNED as i32
            ; je =>returned
            ; cmp eax, OSR_TRAPPED as i32
            ; je =>trapped
            ; add rsp, size
            ; jmp =>stay
            ; =>trapped
            ; mov rdi, r15
            ; xor esi, esi
            ; mov rax, QWORD [r15 + builtins]
            ; call QWORD [rax + off::BUILTIN_RAISE_TRAP as i32]
            ; =>returned
        );
        self.return_results(|c, k| {
            dynasm!(c.asm ; .arch x64 ; mov rax, QWORD [rsp + 16 * k as i32]);
        });
        dynasm!(self.asm ; .arch x64 ; =>stay);
    }
}
