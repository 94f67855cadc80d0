//! Instruction selection for the floating-point operators (SSE2 and SSE4.1).
//!
//! Operands travel as bits in pool registers and frame slots like every value. Arithmetic
//! and square roots work in place in the first operand's float register (the second from
//! its own register, or loaded into `xmm1`); the other operations load their operands into
//! `xmm0`/`xmm1` (whole 64-bit slots, as integer operands are) and put the result in a
//! float register. Sign operations (`abs`, `neg`, `copysign`) stay in integer registers so
//! NaN payloads pass untouched; wasm's `min`/`max` (NaN-propagating, -0 below +0) and the
//! trapping truncations need explicit sequences around the SSE instructions.

use crate::codegen::Compiler;
use crate::ops::Cond;
use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};
use strata_environ::TrapCode;
use wasmparser::Operator;

type Asm = dynasmrt::VecAssembler<dynasmrt::x64::X64Relocation>;

/// Moves the result bits in `xmm0` to `rax` (an f32 zero-extended).
fn result_to_rax(a: &mut Asm, f64: bool) {
    if f64 {
        dynasm!(a ; .arch x64 ; movq rax, xmm0);
    } else {
        dynasm!(a ; .arch x64 ; movd eax, xmm0);
    }
}

fn unary_sse(c: &mut Compiler<'_>, f: impl FnOnce(&mut Asm)) {
    c.pop_into_xmm(0);
    f(c.asm());
    c.push_xmm0();
}

fn binary_sse(c: &mut Compiler<'_>, f: impl FnOnce(&mut Asm)) {
    c.pop2_into_xmm0_xmm1();
    f(c.asm());
    c.push_xmm0();
}

/// `a op= b` in place in `a`'s float register: `f(asm, dst, src)`.
fn binary_in_place(c: &mut Compiler<'_>, f: impl FnOnce(&mut Asm, u8, u8)) {
    let (dst, src) = c.pop2_for_sse();
    f(c.asm(), dst, src);
    c.release_xmm(src);
    c.push_xmm(dst);
}

/// `a = op(a)` in place in `a`'s float register.
fn unary_in_place(c: &mut Compiler<'_>, f: impl FnOnce(&mut Asm, u8)) {
    let x = c.pop_for_sse();
    f(c.asm(), x);
    c.push_xmm(x);
}

fn unary_gpr(c: &mut Compiler<'_>, f: impl FnOnce(&mut Asm)) {
    c.pop_into_rax();
    f(c.asm());
    c.push_rax();
}

fn binary_gpr(c: &mut Compiler<'_>, f: impl FnOnce(&mut Asm)) {
    c.pop2_into_rax_rcx();
    f(c.asm());
    c.push_rax();
}

#[derive(Clone, Copy)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

fn compare(c: &mut Compiler<'_>, f64: bool, cmp: Cmp) {
    c.pop2_into_xmm0_xmm1();
    let a = c.asm();
    // Lt and Le compare the other way round so that "unordered" (CF = ZF = PF = 1) reads
    // as false through `seta`/`setae`.
    let swap = matches!(cmp, Cmp::Lt | Cmp::Le);
    match (f64, swap) {
        (false, false) => dynasm!(a ; .arch x64 ; ucomiss xmm0, xmm1),
        (false, true) => dynasm!(a ; .arch x64 ; ucomiss xmm1, xmm0),
        (true, false) => dynasm!(a ; .arch x64 ; ucomisd xmm0, xmm1),
        (true, true) => dynasm!(a ; .arch x64 ; ucomisd xmm1, xmm0),
    }
    match cmp {
        Cmp::Eq => dynasm!(a ; .arch x64 ; sete al ; setnp cl ; and al, cl),
        Cmp::Ne => dynasm!(a ; .arch x64 ; setne al ; setp cl ; or al, cl),
        // The result stays in the flags for a `br_if` or `if` to jump on ("above" is false
        // when unordered).
        Cmp::Lt | Cmp::Gt => return c.push_flags(Cond::A),
        Cmp::Le | Cmp::Ge => return c.push_flags(Cond::Ae),
    }
    dynasm!(a ; .arch x64 ; movzx eax, al);
    c.push_rax();
}

/// Wasm `min`/`max`: NaN if either is NaN; between equal operands (±0), the sign bits are
/// or-ed (min) or and-ed (max).
fn min_max(c: &mut Compiler<'_>, f64: bool, max: bool) {
    binary_sse(c, |a| {
        let nan = a.new_dynamic_label();
        let normal = a.new_dynamic_label();
        let done = a.new_dynamic_label();
        if f64 {
            dynasm!(a ; .arch x64 ; ucomisd xmm0, xmm1);
        } else {
            dynasm!(a ; .arch x64 ; ucomiss xmm0, xmm1);
        }
        dynasm!(a ; .arch x64 ; jp =>nan ; jne =>normal);
        if max {
            dynasm!(a ; .arch x64 ; andps xmm0, xmm1 ; jmp =>done);
        } else {
            dynasm!(a ; .arch x64 ; orps xmm0, xmm1 ; jmp =>done);
        }
        dynasm!(a ; .arch x64 ; =>nan);
        if f64 {
            dynasm!(a ; .arch x64 ; addsd xmm0, xmm1 ; jmp =>done ; =>normal);
        } else {
            dynasm!(a ; .arch x64 ; addss xmm0, xmm1 ; jmp =>done ; =>normal);
        }
        match (f64, max) {
            (false, false) => dynasm!(a ; .arch x64 ; minss xmm0, xmm1),
            (false, true) => dynasm!(a ; .arch x64 ; maxss xmm0, xmm1),
            (true, false) => dynasm!(a ; .arch x64 ; minsd xmm0, xmm1),
            (true, true) => dynasm!(a ; .arch x64 ; maxsd xmm0, xmm1),
        }
        dynasm!(a ; .arch x64 ; =>done);
    });
}

fn round(c: &mut Compiler<'_>, f64: bool, mode: i8) {
    unary_sse(c, |a| {
        if f64 {
            dynasm!(a ; .arch x64 ; roundsd xmm0, xmm0, mode);
        } else {
            dynasm!(a ; .arch x64 ; roundss xmm0, xmm0, mode);
        }
    });
}

/// Integer to float; the source is in `rax` (an i32 zero-extended).
fn convert(c: &mut Compiler<'_>, to_f64: bool, from_i64: bool, signed: bool) {
    c.pop_into_rax();
    let a = c.asm();
    if from_i64 && !signed {
        // u64: halve (keeping the low bit for rounding) when the top bit is set, convert,
        // double.
        let big = a.new_dynamic_label();
        let done = a.new_dynamic_label();
        dynasm!(a ; .arch x64 ; test rax, rax ; js =>big);
        cvt_from_rax(a, to_f64);
        dynasm!(a ; .arch x64
            ; jmp =>done
            ; =>big
            ; mov rcx, rax
            ; shr rcx, 1
            ; and eax, 1
            ; or rcx, rax
            ; mov rax, rcx
        );
        cvt_from_rax(a, to_f64);
        if to_f64 {
            dynasm!(a ; .arch x64 ; addsd xmm0, xmm0);
        } else {
            dynasm!(a ; .arch x64 ; addss xmm0, xmm0);
        }
        dynasm!(a ; .arch x64 ; =>done);
    } else {
        if !from_i64 && signed {
            dynasm!(a ; .arch x64 ; movsxd rax, eax);
        }
        // i32 (sign- or zero-extended) and i64 are exact as signed 64-bit sources.
        cvt_from_rax(a, to_f64);
    }
    result_to_rax(a, to_f64);
    c.push_rax();
}

fn cvt_from_rax(a: &mut Asm, to_f64: bool) {
    if to_f64 {
        dynasm!(a ; .arch x64 ; cvtsi2sd xmm0, rax);
    } else {
        dynasm!(a ; .arch x64 ; cvtsi2ss xmm0, rax);
    }
}

/// Float to integer, trapping (or saturating) outside the target range.
fn truncate(c: &mut Compiler<'_>, from_f64: bool, to_i64: bool, signed: bool, saturating: bool) {
    // Valid sources x satisfy lo < x (or lo <= x) and x < hi.
    let (lo, lo_inclusive, hi): (f64, bool, f64) = match (to_i64, signed) {
        (false, true) if from_f64 => (-2147483649.0, false, 2147483648.0),
        (false, true) => (-2147483648.0, true, 2147483648.0),
        (false, false) => (-1.0, false, 4294967296.0),
        (true, true) => (-9223372036854775808.0, true, 9223372036854775808.0),
        (true, false) => (-1.0, false, 18446744073709551616.0),
    };
    let (min, max): (u64, u64) = match (to_i64, signed) {
        (false, true) => (i32::MIN as u32 as u64, i32::MAX as u64),
        (false, false) => (0, u32::MAX as u64),
        (true, true) => (i64::MIN as u64, i64::MAX as u64),
        (true, false) => (0, u64::MAX),
    };
    let bits = |v: f64| -> u64 {
        if from_f64 {
            v.to_bits()
        } else {
            (v as f32).to_bits() as u64
        }
    };
    c.pop_into_rax();
    let nan_trap = c.trap_to(TrapCode::BadConversionToInteger);
    let overflow_trap = c.trap_to(TrapCode::IntegerOverflow);
    let a = c.asm();
    let (nan, below, above, done) = if saturating {
        (
            a.new_dynamic_label(),
            a.new_dynamic_label(),
            a.new_dynamic_label(),
            a.new_dynamic_label(),
        )
    } else {
        let d = a.new_dynamic_label();
        (nan_trap, overflow_trap, overflow_trap, d)
    };
    let ucomi = |a: &mut Asm| {
        if from_f64 {
            dynasm!(a ; .arch x64 ; ucomisd xmm0, xmm1);
        } else {
            dynasm!(a ; .arch x64 ; ucomiss xmm0, xmm1);
        }
    };
    dynasm!(a ; .arch x64 ; movq xmm0, rax);
    if from_f64 {
        dynasm!(a ; .arch x64 ; ucomisd xmm0, xmm0);
    } else {
        dynasm!(a ; .arch x64 ; ucomiss xmm0, xmm0);
    }
    dynasm!(a ; .arch x64 ; jp =>nan ; mov rax, QWORD bits(lo) as i64 ; movq xmm1, rax);
    ucomi(a);
    if lo_inclusive {
        dynasm!(a ; .arch x64 ; jb =>below);
    } else {
        dynasm!(a ; .arch x64 ; jbe =>below);
    }
    dynasm!(a ; .arch x64 ; mov rax, QWORD bits(hi) as i64 ; movq xmm1, rax);
    ucomi(a);
    dynasm!(a ; .arch x64 ; jae =>above);
    let cvtt = |a: &mut Asm| {
        if from_f64 {
            dynasm!(a ; .arch x64 ; cvttsd2si rax, xmm0);
        } else {
            dynasm!(a ; .arch x64 ; cvttss2si rax, xmm0);
        }
    };
    if to_i64 && !signed {
        // Above 2^63 the signed conversion overflows: subtract 2^63 first, add it back.
        let small = a.new_dynamic_label();
        let joined = a.new_dynamic_label();
        dynasm!(a ; .arch x64 ; mov rax, QWORD bits(9223372036854775808.0) as i64 ; movq xmm1, rax);
        ucomi(a);
        dynasm!(a ; .arch x64 ; jb =>small);
        if from_f64 {
            dynasm!(a ; .arch x64 ; subsd xmm0, xmm1);
        } else {
            dynasm!(a ; .arch x64 ; subss xmm0, xmm1);
        }
        cvtt(a);
        dynasm!(a ; .arch x64 ; btc rax, 63 ; jmp =>joined ; =>small);
        cvtt(a);
        dynasm!(a ; .arch x64 ; =>joined);
    } else {
        cvtt(a);
    }
    if !to_i64 {
        dynasm!(a ; .arch x64 ; mov eax, eax);
    }
    if saturating {
        dynasm!(a ; .arch x64
            ; jmp =>done
            ; =>nan
            ; xor eax, eax
            ; jmp =>done
            ; =>below
            ; mov rax, QWORD min as i64
            ; jmp =>done
            ; =>above
            ; mov rax, QWORD max as i64
        );
    }
    dynasm!(a ; .arch x64 ; =>done);
    c.push_rax();
}

/// Emits a floating-point operator; `false` if `op` is not one.
pub(crate) fn float(c: &mut Compiler<'_>, op: &Operator<'_>) -> bool {
    use Operator as O;
    match op {
        O::F32Add => binary_in_place(c, |a, d, s| dynasm!(a ; .arch x64 ; addss Rx(d), Rx(s))),
        O::F32Sub => binary_in_place(c, |a, d, s| dynasm!(a ; .arch x64 ; subss Rx(d), Rx(s))),
        O::F32Mul => binary_in_place(c, |a, d, s| dynasm!(a ; .arch x64 ; mulss Rx(d), Rx(s))),
        O::F32Div => binary_in_place(c, |a, d, s| dynasm!(a ; .arch x64 ; divss Rx(d), Rx(s))),
        O::F64Add => binary_in_place(c, |a, d, s| dynasm!(a ; .arch x64 ; addsd Rx(d), Rx(s))),
        O::F64Sub => binary_in_place(c, |a, d, s| dynasm!(a ; .arch x64 ; subsd Rx(d), Rx(s))),
        O::F64Mul => binary_in_place(c, |a, d, s| dynasm!(a ; .arch x64 ; mulsd Rx(d), Rx(s))),
        O::F64Div => binary_in_place(c, |a, d, s| dynasm!(a ; .arch x64 ; divsd Rx(d), Rx(s))),
        O::F32Sqrt => unary_in_place(c, |a, x| dynasm!(a ; .arch x64 ; sqrtss Rx(x), Rx(x))),
        O::F64Sqrt => unary_in_place(c, |a, x| dynasm!(a ; .arch x64 ; sqrtsd Rx(x), Rx(x))),
        O::F32Min => min_max(c, false, false),
        O::F32Max => min_max(c, false, true),
        O::F64Min => min_max(c, true, false),
        O::F64Max => min_max(c, true, true),
        O::F32Nearest => round(c, false, 0),
        O::F32Floor => round(c, false, 1),
        O::F32Ceil => round(c, false, 2),
        O::F32Trunc => round(c, false, 3),
        O::F64Nearest => round(c, true, 0),
        O::F64Floor => round(c, true, 1),
        O::F64Ceil => round(c, true, 2),
        O::F64Trunc => round(c, true, 3),
        O::F32Abs => unary_gpr(c, |a| dynasm!(a ; .arch x64 ; and eax, 0x7fff_ffff)),
        O::F32Neg => unary_gpr(c, |a| dynasm!(a ; .arch x64 ; xor eax, i32::MIN)),
        O::F64Abs => unary_gpr(c, |a| dynasm!(a ; .arch x64 ; btr rax, 63)),
        O::F64Neg => unary_gpr(c, |a| dynasm!(a ; .arch x64 ; btc rax, 63)),
        O::F32Copysign => binary_gpr(
            c,
            |a| dynasm!(a ; .arch x64 ; and eax, 0x7fff_ffff ; and ecx, i32::MIN ; or eax, ecx),
        ),
        O::F64Copysign => binary_gpr(
            c,
            |a| dynasm!(a ; .arch x64 ; btr rax, 63 ; shr rcx, 63 ; shl rcx, 63 ; or rax, rcx),
        ),
        O::F32Eq => compare(c, false, Cmp::Eq),
        O::F32Ne => compare(c, false, Cmp::Ne),
        O::F32Lt => compare(c, false, Cmp::Lt),
        O::F32Gt => compare(c, false, Cmp::Gt),
        O::F32Le => compare(c, false, Cmp::Le),
        O::F32Ge => compare(c, false, Cmp::Ge),
        O::F64Eq => compare(c, true, Cmp::Eq),
        O::F64Ne => compare(c, true, Cmp::Ne),
        O::F64Lt => compare(c, true, Cmp::Lt),
        O::F64Gt => compare(c, true, Cmp::Gt),
        O::F64Le => compare(c, true, Cmp::Le),
        O::F64Ge => compare(c, true, Cmp::Ge),
        O::F32ConvertI32S => convert(c, false, false, true),
        O::F32ConvertI32U => convert(c, false, false, false),
        O::F32ConvertI64S => convert(c, false, true, true),
        O::F32ConvertI64U => convert(c, false, true, false),
        O::F64ConvertI32S => convert(c, true, false, true),
        O::F64ConvertI32U => convert(c, true, false, false),
        O::F64ConvertI64S => convert(c, true, true, true),
        O::F64ConvertI64U => convert(c, true, true, false),
        // Into a cleared register: `cvtsd2ss` keeps its destination's other bits, and an f32
        // must have zero high bits (it is stored and compared as 64-bit bits).
        O::F32DemoteF64 => unary_sse(
            c,
            |a| dynasm!(a ; .arch x64 ; xorps xmm1, xmm1 ; cvtsd2ss xmm1, xmm0 ; movaps xmm0, xmm1),
        ),
        O::F64PromoteF32 => unary_sse(c, |a| dynasm!(a ; .arch x64 ; cvtss2sd xmm0, xmm0)),
        O::I32TruncF32S => truncate(c, false, false, true, false),
        O::I32TruncF32U => truncate(c, false, false, false, false),
        O::I32TruncF64S => truncate(c, true, false, true, false),
        O::I32TruncF64U => truncate(c, true, false, false, false),
        O::I64TruncF32S => truncate(c, false, true, true, false),
        O::I64TruncF32U => truncate(c, false, true, false, false),
        O::I64TruncF64S => truncate(c, true, true, true, false),
        O::I64TruncF64U => truncate(c, true, true, false, false),
        O::I32TruncSatF32S => truncate(c, false, false, true, true),
        O::I32TruncSatF32U => truncate(c, false, false, false, true),
        O::I32TruncSatF64S => truncate(c, true, false, true, true),
        O::I32TruncSatF64U => truncate(c, true, false, false, true),
        O::I64TruncSatF32S => truncate(c, false, true, true, true),
        O::I64TruncSatF32U => truncate(c, false, true, false, true),
        O::I64TruncSatF64S => truncate(c, true, true, true, true),
        O::I64TruncSatF64U => truncate(c, true, true, false, true),
        _ => return false,
    }
    true
}
