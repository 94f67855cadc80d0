//! Array-to-native trampolines: one per signature, shared by every function of that
//! signature in the engine.
//!
//! A trampoline is `extern "C" fn(entry, callee_vmctx, caller_vmctx, values: *mut ValRaw)`:
//! it loads the arguments from `values` into their native locations, calls `entry` and stores
//! the result back into `values[0]` (several results are written there by the callee through
//! the results-area pointer, which is `values` itself).

use crate::Unsupported;
use dynasmrt::x64::X64Relocation;
use dynasmrt::{dynasm, DynasmApi, VecAssembler};
use strata_environ::abi::{ArgLoc, NativeSignature};
use strata_environ::{WasmFuncType, WasmValType};

/// Machine code of the trampoline for `ty` (position independent).
pub fn array_to_native(ty: &WasmFuncType) -> Result<Vec<u8>, Unsupported> {
    let sig = NativeSignature::new(ty);
    let mut a = VecAssembler::<X64Relocation>::new(0);
    // Entry rsp is 8 mod 16; three pushes make it 0 mod 16, and the stack-argument area is
    // a multiple of 16.
    dynasm!(a
        ; .arch x64
        ; push rbp
        ; mov rbp, rsp
        ; push rbx
        ; push r12
        ; mov r12, rdi
        ; mov rbx, rcx
        ; sub rsp, sig.stack_args_size as i32
        ; mov rdi, rsi
        ; mov rsi, rdx
    );
    for (i, loc) in sig.params.iter().enumerate() {
        let src = 16 * i as i32;
        match *loc {
            ArgLoc::Gpr(r) => dynasm!(a ; .arch x64 ; mov Rq(r), QWORD [rbx + src]),
            ArgLoc::Xmm(x) => dynasm!(a ; .arch x64 ; movq Rx(x), QWORD [rbx + src]),
            ArgLoc::Stack(o) => dynasm!(a
                ; .arch x64
                ; mov rax, QWORD [rbx + src]
                ; mov QWORD [rsp + o as i32], rax
            ),
        }
    }
    match sig.results_area {
        Some(ArgLoc::Gpr(r)) => dynasm!(a ; .arch x64 ; mov Rq(r), rbx),
        Some(ArgLoc::Stack(o)) => dynasm!(a ; .arch x64 ; mov QWORD [rsp + o as i32], rbx),
        Some(ArgLoc::Xmm(_)) => return Err(Unsupported::new("results area in an SSE register")),
        None => {}
    }
    dynasm!(a ; .arch x64 ; call r12);
    match ty.results.first() {
        _ if ty.results.len() != 1 => {}
        Some(WasmValType::I32) => dynasm!(a ; .arch x64 ; mov eax, eax ; mov QWORD [rbx], rax),
        Some(WasmValType::F32) => dynasm!(a ; .arch x64 ; movd eax, xmm0 ; mov QWORD [rbx], rax),
        Some(WasmValType::F64) => dynasm!(a ; .arch x64 ; movq QWORD [rbx], xmm0),
        Some(_) => dynasm!(a ; .arch x64 ; mov QWORD [rbx], rax),
        None => {}
    }
    dynasm!(a
        ; .arch x64
        ; lea rsp, [rbp - 16]
        ; pop r12
        ; pop rbx
        ; pop rbp
        ; ret
    );
    a.finalize()
        .map_err(|e| Unsupported::new(format!("assembler: {e}")))
}
