//! The native wasm calling convention every JIT tier emits and accepts.
//!
//! System V on x86-64: `(callee_vmctx, caller_vmctx, params..., [results_area])`. One result
//! comes back in `rax` (integers, references) or `xmm0` (floats); with more than one, the
//! caller passes a pointer to a results area as a hidden last parameter and the callee
//! writes result `i` at byte `16 * i` (the area has the layout of a `[ValRaw]`, so the
//! array-call trampolines pass the caller's values array straight through). Integers narrower
//! than 64 bits are passed and returned in the low bits; the receiver must not assume the
//! upper bits are zero.

use crate::{WasmFuncType, WasmValType};

/// Where one parameter or result lives at a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgLoc {
    /// A general-purpose register, by x86-64 encoding number (rdi = 7, rsi = 6, ...).
    Gpr(u8),
    /// An SSE register, by number.
    Xmm(u8),
    /// A stack slot: byte offset from the stack pointer at the call instruction (before the
    /// return address is pushed).
    Stack(u32),
}

/// System V integer argument registers, in order: rdi, rsi, rdx, rcx, r8, r9.
pub const INT_ARG_REGS: [u8; 6] = [7, 6, 2, 1, 8, 9];
/// Number of SSE argument registers (xmm0..xmm7).
pub const FLOAT_ARG_REGS: u8 = 8;
/// Encoding number of `rax`.
pub const RAX: u8 = 0;

/// The locations of a signature's values under the native convention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeSignature {
    /// Callee and caller `VMContext`s.
    pub vmctx: [ArgLoc; 2],
    pub params: Vec<ArgLoc>,
    /// The hidden results-area pointer, with more than one result.
    pub results_area: Option<ArgLoc>,
    /// The single result's register, if exactly one.
    pub result: Option<ArgLoc>,
    /// Bytes of stack arguments, rounded up to 16.
    pub stack_args_size: u32,
}

impl NativeSignature {
    pub fn new(ty: &WasmFuncType) -> NativeSignature {
        let mut ints = 0usize;
        let mut floats = 0u8;
        let mut stack = 0u32;
        let int_loc = |ints: &mut usize, stack: &mut u32| {
            if *ints < INT_ARG_REGS.len() {
                *ints += 1;
                ArgLoc::Gpr(INT_ARG_REGS[*ints - 1])
            } else {
                *stack += 8;
                ArgLoc::Stack(*stack - 8)
            }
        };
        let vmctx = [
            int_loc(&mut ints, &mut stack),
            int_loc(&mut ints, &mut stack),
        ];
        let params = ty
            .params
            .iter()
            .map(|&p| {
                if is_float(p) {
                    if floats < FLOAT_ARG_REGS {
                        floats += 1;
                        ArgLoc::Xmm(floats - 1)
                    } else {
                        stack += 8;
                        ArgLoc::Stack(stack - 8)
                    }
                } else {
                    int_loc(&mut ints, &mut stack)
                }
            })
            .collect();
        let (results_area, result) = match ty.results.len() {
            0 => (None, None),
            1 if is_float(ty.results[0]) => (None, Some(ArgLoc::Xmm(0))),
            1 => (None, Some(ArgLoc::Gpr(RAX))),
            _ => (Some(int_loc(&mut ints, &mut stack)), None),
        };
        NativeSignature {
            vmctx,
            params,
            results_area,
            result,
            stack_args_size: stack.next_multiple_of(16),
        }
    }
}

/// Whether values of `ty` travel in SSE registers.
pub fn is_float(ty: WasmValType) -> bool {
    matches!(ty, WasmValType::F32 | WasmValType::F64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use WasmValType::*;

    #[test]
    fn mixed_signature_follows_system_v() {
        let ty = WasmFuncType::new([I32, F64, I64, I64, I64, I64, F32], [I32, F64]);
        let sig = NativeSignature::new(&ty);
        assert_eq!(sig.vmctx, [ArgLoc::Gpr(7), ArgLoc::Gpr(6)]);
        assert_eq!(
            sig.params,
            [
                ArgLoc::Gpr(2),
                ArgLoc::Xmm(0),
                ArgLoc::Gpr(1),
                ArgLoc::Gpr(8),
                ArgLoc::Gpr(9),
                ArgLoc::Stack(0),
                ArgLoc::Xmm(1),
            ]
        );
        assert_eq!(sig.results_area, Some(ArgLoc::Stack(8)));
        assert_eq!(sig.stack_args_size, 16);
    }
}
