//! Calls: direct (`call`) and through a table (`call_indirect`).
//!
//! A callee with native code is called under the native convention: directly through the
//! module's code table, or, for `call_indirect`, when the table element is a function of this
//! same instance that has code. Everything else (imports, other instances, functions still
//! in the interpreter) is called through its `VMFuncRef`'s array entry with the values area
//! at the bottom of the frame; a `false` return leaves for the host-to-wasm entry through
//! the `raise_trap` builtin. Either way the results end up in the values area (`16 * i`),
//! from where they are pushed.

use super::{Compiler, Operand, RAX};
use crate::Unsupported;
use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};
use strata_environ::abi::{ArgLoc, NativeSignature};
use strata_environ::vmcontext::offsets as off;
use strata_environ::{TrapCode, WasmValType};

/// What a call instruction calls.
#[derive(Debug, Clone, Copy)]
pub(super) enum Callee {
    Direct(u32),
    Indirect { ty: u32, table: u32 },
}

impl Compiler<'_> {
    /// Offset from `rsp` of the array-call values area, above the outgoing stack arguments.
    pub(super) fn values_offset(&self) -> i32 {
        self.out_args as i32
    }

    /// A stub that leaves for the host-to-wasm entry after a callee reported a trap.
    pub(super) fn raise_label(&mut self) -> DynamicLabel {
        let l = self.asm.new_dynamic_label();
        let after = self.asm.new_dynamic_label();
        let builtins = self.offsets.builtins() as i32;
        dynasm!(self.asm
            ; .arch x64
            ; jmp =>after
            ; =>l
            ; mov rdi, r15
            ; xor esi, esi
            ; mov rax, QWORD [r15 + builtins]
            ; call QWORD [rax + off::BUILTIN_RAISE_TRAP as i32]
            ; ud2
            ; =>after
        );
        l
    }

    pub(super) fn call(&mut self, callee: Callee) -> Result<(), Unsupported> {
        let type_index = match callee {
            Callee::Direct(f) => self.module.functions[f as usize],
            Callee::Indirect { ty, .. } => ty,
        };
        let ty = &self.module.types[type_index as usize];
        let sig = NativeSignature::new(ty);
        // Callees clobber the pool's caller-saved registers: every entry below the
        // arguments goes to its slot. The arguments (and a `call_indirect` index above them)
        // move from wherever they are, unless moving them to their parameter registers in
        // order would overwrite one still to move; then they are spilled too.
        let args_end = self.stack.len() - matches!(callee, Callee::Indirect { .. }) as usize;
        let args_start = args_end - ty.params.len();
        if moves_in_order_are_safe(&self.stack[args_start..args_end], &sig.params) {
            self.spill_below(args_start);
        } else {
            self.spill_all();
        }
        let slow = self.asm.new_dynamic_label();
        let done = self.asm.new_dynamic_label();

        // A self-call of code that no tier replaces (no tier-up counting: the function stays
        // in this code) calls its own entry directly, pc-relative.
        let own_entry = match callee {
            Callee::Direct(f) if f == self.module.func_index(self.defined) => {
                (!self.options.count_for_tier_up).then_some(self.entry)
            }
            _ => None,
        };
        // r11 = the callee's VMFuncRef (indirect), r10 = its native entry (fast path).
        let native_possible = match callee {
            Callee::Direct(_) if own_entry.is_some() => true,
            Callee::Direct(f) => match self.module.defined_func_index(f) {
                Some(defined) => {
                    let table = self.offsets.code_table() as i32;
                    dynasm!(self.asm
                        ; .arch x64
                        ; mov rax, QWORD [r15 + table]
                        ; mov r10, QWORD [rax + 8 * defined as i32]
                        ; test r10, r10
                        ; jz =>slow
                    );
                    true
                }
                None => {
                    dynasm!(self.asm ; .arch x64 ; jmp =>slow);
                    false
                }
            },
            Callee::Indirect { ty, table } => {
                let (index, pos) = self.pop();
                self.load(index, pos, RAX);
                let oob = self.trap_label(TrapCode::TableOutOfBounds);
                let null = self.trap_label(TrapCode::IndirectCallToNull);
                let bad_sig = self.trap_label(TrapCode::BadSignature);
                let table = self.offsets.table(table) as i32;
                let type_ids = self.offsets.type_ids() as i32;
                let code_table = self.offsets.code_table() as i32;
                let imported = self.module.num_imported_funcs as i32;
                dynasm!(self.asm
                    ; .arch x64
                    ; mov eax, eax
                    ; mov rcx, QWORD [r15 + table]
                    ; cmp rax, QWORD [rcx + off::TABLE_CURRENT_ELEMENTS as i32]
                    ; jae =>oob
                    ; mov rcx, QWORD [rcx + off::TABLE_BASE as i32]
                    ; mov r11, QWORD [rcx + rax * 8]
                    ; test r11, r11
                    ; jz =>null
                    ; mov rcx, QWORD [r15 + type_ids]
                    ; mov ecx, DWORD [rcx + 4 * ty as i32]
                    ; cmp ecx, DWORD [r11 + off::FUNCREF_TYPE_ID as i32]
                    ; jne =>bad_sig
                    // Same instance and compiled: native call.
                    ; cmp r15, QWORD [r11 + off::FUNCREF_VMCTX as i32]
                    ; jne =>slow
                    ; mov eax, DWORD [r11 + off::FUNCREF_FUNC_INDEX as i32]
                    ; sub eax, imported
                    ; mov rcx, QWORD [r15 + code_table]
                    ; mov r10, QWORD [rcx + rax * 8]
                    ; test r10, r10
                    ; jz =>slow
                );
                true
            }
        };

        let nparams = ty.params.len();
        let nresults = ty.results.len();
        let first = self.stack.len() - nparams;
        let args: Vec<(Operand, u32)> = (first..self.stack.len())
            .map(|p| (self.stack[p], p as u32))
            .collect();
        self.truncate(first);
        let vo = self.values_offset();

        if native_possible {
            for (&(op, pos), loc) in args.iter().zip(&sig.params) {
                match *loc {
                    ArgLoc::Gpr(r) => self.load(op, pos, r),
                    ArgLoc::Xmm(x) => {
                        self.load(op, pos, RAX);
                        dynasm!(self.asm ; .arch x64 ; movq Rx(x), rax);
                    }
                    ArgLoc::Stack(o) => {
                        self.load(op, pos, RAX);
                        dynasm!(self.asm ; .arch x64 ; mov QWORD [rsp + o as i32], rax);
                    }
                }
            }
            match sig.results_area {
                Some(ArgLoc::Gpr(r)) => dynasm!(self.asm ; .arch x64 ; lea Rq(r), [rsp + vo]),
                Some(ArgLoc::Stack(o)) => dynasm!(self.asm
                    ; .arch x64
                    ; lea rax, [rsp + vo]
                    ; mov QWORD [rsp + o as i32], rax
                ),
                Some(ArgLoc::Xmm(_)) | None => {}
            }
            dynasm!(self.asm ; .arch x64 ; mov rdi, r15 ; mov rsi, r15);
            match own_entry {
                Some(entry) => dynasm!(self.asm ; .arch x64 ; call =>entry),
                None => dynasm!(self.asm ; .arch x64 ; call r10),
            }
            // One result meets the array path's in rax; several are in the values area.
            if nresults == 1 {
                match ty.results[0] {
                    WasmValType::I32 => dynasm!(self.asm ; .arch x64 ; mov eax, eax),
                    WasmValType::F32 => dynasm!(self.asm ; .arch x64 ; movd eax, xmm0),
                    WasmValType::F64 => dynasm!(self.asm ; .arch x64 ; movq rax, xmm0),
                    _ => {}
                }
            }
            dynasm!(self.asm ; .arch x64 ; jmp =>done);
        }

        // Through the callee's `VMFuncRef` and the array convention.
        dynasm!(self.asm ; .arch x64 ; =>slow);
        for (k, &(op, pos)) in args.iter().enumerate() {
            self.load(op, pos, RAX);
            dynasm!(self.asm ; .arch x64 ; mov QWORD [rsp + vo + 16 * k as i32], rax);
        }
        match callee {
            Callee::Direct(f) => {
                let fref = self.offsets.func(f) as i32;
                dynasm!(self.asm ; .arch x64 ; mov rdi, QWORD [r15 + fref]);
            }
            Callee::Indirect { .. } => dynasm!(self.asm ; .arch x64 ; mov rdi, r11),
        }
        let raise = self.raise_label();
        let len = nparams.max(nresults) as i32;
        dynasm!(self.asm
            ; .arch x64
            ; mov rsi, r15
            ; lea rdx, [rsp + vo]
            ; mov ecx, len
            ; call QWORD [rdi + off::FUNCREF_ARRAY_CALL as i32]
            ; test al, al
            ; jz =>raise
        );
        if nresults == 1 {
            dynasm!(self.asm ; .arch x64 ; mov rax, QWORD [rsp + vo] ; =>done);
            self.push_rax_in_reg();
        } else {
            dynasm!(self.asm ; .arch x64 ; =>done);
            for k in 0..nresults {
                dynasm!(self.asm ; .arch x64 ; mov rax, QWORD [rsp + vo + 16 * k as i32]);
                let dst = self.push_temp();
                self.store(RAX, dst);
            }
        }
        // With a full reservation a memory never moves, so its base stays in r14; with a
        // smaller one the callee may have grown and moved it.
        if self.options.explicit_bounds_checks {
            self.reload_memory_base();
        }
        Ok(())
    }
}

/// Whether loading `args` into their parameter locations `params` in order (as
/// [`Compiler::call`] does: a register parameter directly, a float or stack one through
/// `rax`) leaves every argument still to load where it is.
fn moves_in_order_are_safe(args: &[Operand], params: &[ArgLoc]) -> bool {
    params.iter().enumerate().all(|(k, loc)| {
        let (gpr, xmm) = match *loc {
            ArgLoc::Gpr(r) => (r, None),
            ArgLoc::Xmm(x) => (RAX, Some(x)),
            ArgLoc::Stack(_) => (RAX, None),
        };
        args[k + 1..].iter().all(|later| match *later {
            Operand::Reg(r) => r != gpr,
            Operand::Xmm(x) => Some(x) != xmm,
            _ => true,
        })
    })
}
