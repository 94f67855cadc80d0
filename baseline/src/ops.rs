//! Instruction selection for the integer operators and memory accesses.
//!
//! Operands arrive in `rax` (first) and `rcx` (second); the result leaves in `rax`. 32-bit
//! operations write 32-bit registers, which zero the upper half, so an `i32` in a slot is
//! always zero-extended.

use crate::codegen::{Compiler, Src};
use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};
use strata_environ::TrapCode;
use wasmparser::Operator;

type Asm = dynasmrt::VecAssembler<dynasmrt::x64::X64Relocation>;

fn unary(c: &mut Compiler<'_>, f: impl FnOnce(&mut Asm)) {
    c.pop_into_rax();
    f(c.asm());
    c.push_rax();
}

fn binary(c: &mut Compiler<'_>, f: impl FnOnce(&mut Asm)) {
    c.pop2_into_rax_rcx();
    f(c.asm());
    c.push_rax();
}

/// Condition codes of integer comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cond {
    E,
    Ne,
    L,
    B,
    G,
    A,
    Le,
    Be,
    Ge,
    Ae,
}

/// Sets `eax` to 1 if `cond` holds in the flags, else 0.
pub(crate) fn setcc(a: &mut Asm, cond: Cond) {
    match cond {
        Cond::E => dynasm!(a ; .arch x64 ; sete al),
        Cond::Ne => dynasm!(a ; .arch x64 ; setne al),
        Cond::L => dynasm!(a ; .arch x64 ; setl al),
        Cond::B => dynasm!(a ; .arch x64 ; setb al),
        Cond::G => dynasm!(a ; .arch x64 ; setg al),
        Cond::A => dynasm!(a ; .arch x64 ; seta al),
        Cond::Le => dynasm!(a ; .arch x64 ; setle al),
        Cond::Be => dynasm!(a ; .arch x64 ; setbe al),
        Cond::Ge => dynasm!(a ; .arch x64 ; setge al),
        Cond::Ae => dynasm!(a ; .arch x64 ; setae al),
    }
    dynasm!(a ; .arch x64 ; movzx eax, al);
}

/// Jumps to `target` unless `cond` holds in the flags.
pub(crate) fn jump_unless(a: &mut Asm, cond: Cond, target: DynamicLabel) {
    match cond {
        Cond::E => dynasm!(a ; .arch x64 ; jne =>target),
        Cond::Ne => dynasm!(a ; .arch x64 ; je =>target),
        Cond::L => dynasm!(a ; .arch x64 ; jge =>target),
        Cond::B => dynasm!(a ; .arch x64 ; jae =>target),
        Cond::G => dynasm!(a ; .arch x64 ; jle =>target),
        Cond::A => dynasm!(a ; .arch x64 ; jbe =>target),
        Cond::Le => dynasm!(a ; .arch x64 ; jg =>target),
        Cond::Be => dynasm!(a ; .arch x64 ; ja =>target),
        Cond::Ge => dynasm!(a ; .arch x64 ; jl =>target),
        Cond::Ae => dynasm!(a ; .arch x64 ; jb =>target),
    }
}

/// Jumps to `target` when `cond` holds in the flags.
pub(crate) fn jump_if(a: &mut Asm, cond: Cond, target: DynamicLabel) {
    match cond {
        Cond::E => dynasm!(a ; .arch x64 ; je =>target),
        Cond::Ne => dynasm!(a ; .arch x64 ; jne =>target),
        Cond::L => dynasm!(a ; .arch x64 ; jl =>target),
        Cond::B => dynasm!(a ; .arch x64 ; jb =>target),
        Cond::G => dynasm!(a ; .arch x64 ; jg =>target),
        Cond::A => dynasm!(a ; .arch x64 ; ja =>target),
        Cond::Le => dynasm!(a ; .arch x64 ; jle =>target),
        Cond::Be => dynasm!(a ; .arch x64 ; jbe =>target),
        Cond::Ge => dynasm!(a ; .arch x64 ; jge =>target),
        Cond::Ae => dynasm!(a ; .arch x64 ; jae =>target),
    }
}

/// Emits `$op dst, src` at the width `wide` says, `src` a register or an immediate.
macro_rules! alu {
    ($a:expr, $op:ident, $wide:expr, $dst:expr, $src:expr) => {
        match ($wide, $src) {
            (false, Src::Reg(s)) => dynasm!($a ; .arch x64 ; $op Rd($dst), Rd(s)),
            (true, Src::Reg(s)) => dynasm!($a ; .arch x64 ; $op Rq($dst), Rq(s)),
            (false, Src::Imm(i)) => dynasm!($a ; .arch x64 ; $op Rd($dst), i),
            (true, Src::Imm(i)) => dynasm!($a ; .arch x64 ; $op Rq($dst), i),
        }
    };
}

/// The two-operand arithmetic and logic instructions that take a register or an immediate
/// as their second operand.
#[derive(Clone, Copy)]
enum Alu {
    Add,
    Sub,
    And,
    Or,
    Xor,
}

/// `a op b` computed in place in `a`'s pool register (no moves through `rax` and `rcx`).
fn alu(c: &mut Compiler<'_>, wide: bool, op: Alu) {
    let (dst, src) = c.pop2_for_alu(wide);
    let a = c.asm();
    match op {
        Alu::Add => alu!(a, add, wide, dst, src),
        Alu::Sub => alu!(a, sub, wide, dst, src),
        Alu::And => alu!(a, and, wide, dst, src),
        Alu::Or => alu!(a, or, wide, dst, src),
        Alu::Xor => alu!(a, xor, wide, dst, src),
    }
    c.release(src);
    c.push_reg(dst);
}

/// Shifts and rotations by a constant count, in place; `false` (nothing emitted) when the
/// count is not a constant.
fn shift_by_const(c: &mut Compiler<'_>, wide: bool, op: &Operator<'_>) -> bool {
    let Some(count) = c.top_const() else {
        return false;
    };
    let count = (count & if wide { 63 } else { 31 }) as i8;
    let (dst, src) = c.pop2_for_alu(wide);
    let a = c.asm();
    use Operator as O;
    match (op, wide) {
        (O::I32Shl, false) => dynasm!(a ; .arch x64 ; shl Rd(dst), count),
        (O::I32ShrS, false) => dynasm!(a ; .arch x64 ; sar Rd(dst), count),
        (O::I32ShrU, false) => dynasm!(a ; .arch x64 ; shr Rd(dst), count),
        (O::I32Rotl, false) => dynasm!(a ; .arch x64 ; rol Rd(dst), count),
        (O::I32Rotr, false) => dynasm!(a ; .arch x64 ; ror Rd(dst), count),
        (O::I64Shl, true) => dynasm!(a ; .arch x64 ; shl Rq(dst), count),
        (O::I64ShrS, true) => dynasm!(a ; .arch x64 ; sar Rq(dst), count),
        (O::I64ShrU, true) => dynasm!(a ; .arch x64 ; shr Rq(dst), count),
        (O::I64Rotl, true) => dynasm!(a ; .arch x64 ; rol Rq(dst), count),
        (O::I64Rotr, true) => dynasm!(a ; .arch x64 ; ror Rq(dst), count),
        _ => unreachable!("only shifts and rotations come here"),
    }
    c.release(src);
    c.push_reg(dst);
    true
}

/// `a * b` in place in `a`'s pool register.
fn multiply(c: &mut Compiler<'_>, wide: bool) {
    let (dst, src) = c.pop2_for_alu(wide);
    let a = c.asm();
    match (wide, src) {
        (false, Src::Reg(s)) => dynasm!(a ; .arch x64 ; imul Rd(dst), Rd(s)),
        (true, Src::Reg(s)) => dynasm!(a ; .arch x64 ; imul Rq(dst), Rq(s)),
        (false, Src::Imm(i)) => dynasm!(a ; .arch x64 ; imul Rd(dst), Rd(dst), i),
        (true, Src::Imm(i)) => dynasm!(a ; .arch x64 ; imul Rq(dst), Rq(dst), i),
    }
    c.release(src);
    c.push_reg(dst);
}

/// A comparison: its result stays in the flags for a `br_if` or `if` right after it (the
/// compiler materializes it before any other operator).
fn compare(c: &mut Compiler<'_>, wide: bool, cond: Cond) {
    let (dst, src) = c.pop2_for_alu(wide);
    alu!(c.asm(), cmp, wide, dst, src);
    c.release(src);
    c.free_reg(dst);
    c.push_flags(cond);
}

/// A test for zero, kept in the flags as `compare` does.
fn test_zero(c: &mut Compiler<'_>, wide: bool) {
    c.pop_into_rax();
    if wide {
        dynasm!(c.asm() ; .arch x64 ; test rax, rax);
    } else {
        dynasm!(c.asm() ; .arch x64 ; test eax, eax);
    }
    c.push_flags(Cond::E);
}

/// Division and remainder with wasm's traps (x86 `div` faults on both, indistinguishably).
fn divide(c: &mut Compiler<'_>, wide: bool, signed: bool, rem: bool) {
    c.pop2_into_rax_rcx();
    let div0 = c.trap_to(TrapCode::IntegerDivisionByZero);
    let overflow = c.trap_to(TrapCode::IntegerOverflow);
    let a = c.asm();
    let normal = a.new_dynamic_label();
    let done = a.new_dynamic_label();
    if wide {
        dynasm!(a ; .arch x64 ; test rcx, rcx ; jz =>div0);
    } else {
        dynasm!(a ; .arch x64 ; test ecx, ecx ; jz =>div0);
    }
    if signed {
        // MIN / -1 overflows; MIN % -1 is 0.
        if wide {
            dynasm!(a ; .arch x64 ; cmp rcx, -1 ; jne =>normal);
        } else {
            dynasm!(a ; .arch x64 ; cmp ecx, -1 ; jne =>normal);
        }
        if rem {
            dynasm!(a ; .arch x64 ; xor eax, eax ; jmp =>done);
        } else if wide {
            dynasm!(a
                ; .arch x64
                ; mov rdx, QWORD i64::MIN
                ; cmp rax, rdx
                ; je =>overflow
            );
        } else {
            dynasm!(a ; .arch x64 ; cmp eax, i32::MIN ; je =>overflow);
        }
        dynasm!(a ; .arch x64 ; =>normal);
        if wide {
            dynasm!(a ; .arch x64 ; cqo ; idiv rcx);
        } else {
            dynasm!(a ; .arch x64 ; cdq ; idiv ecx);
        }
    } else {
        dynasm!(a ; .arch x64 ; =>normal ; xor edx, edx);
        if wide {
            dynasm!(a ; .arch x64 ; div rcx);
        } else {
            dynasm!(a ; .arch x64 ; div ecx);
        }
    }
    if rem {
        if wide {
            dynasm!(a ; .arch x64 ; mov rax, rdx);
        } else {
            dynasm!(a ; .arch x64 ; mov eax, edx);
        }
    }
    dynasm!(a ; .arch x64 ; =>done);
    c.push_rax();
}

/// Emits an integer operator; `false` if `op` is not one.
pub(crate) fn integer(c: &mut Compiler<'_>, op: &Operator<'_>) -> bool {
    use Operator as O;
    let shift_wide = match op {
        O::I32Shl | O::I32ShrS | O::I32ShrU | O::I32Rotl | O::I32Rotr => Some(false),
        O::I64Shl | O::I64ShrS | O::I64ShrU | O::I64Rotl | O::I64Rotr => Some(true),
        _ => None,
    };
    if let Some(wide) = shift_wide {
        if shift_by_const(c, wide, op) {
            return true;
        }
    }
    match op {
        O::I32Eqz => test_zero(c, false),
        O::I64Eqz | O::RefIsNull => test_zero(c, true),
        O::I32Eq => compare(c, false, Cond::E),
        O::I32Ne => compare(c, false, Cond::Ne),
        O::I32LtS => compare(c, false, Cond::L),
        O::I32LtU => compare(c, false, Cond::B),
        O::I32GtS => compare(c, false, Cond::G),
        O::I32GtU => compare(c, false, Cond::A),
        O::I32LeS => compare(c, false, Cond::Le),
        O::I32LeU => compare(c, false, Cond::Be),
        O::I32GeS => compare(c, false, Cond::Ge),
        O::I32GeU => compare(c, false, Cond::Ae),
        O::I64Eq => compare(c, true, Cond::E),
        O::I64Ne => compare(c, true, Cond::Ne),
        O::I64LtS => compare(c, true, Cond::L),
        O::I64LtU => compare(c, true, Cond::B),
        O::I64GtS => compare(c, true, Cond::G),
        O::I64GtU => compare(c, true, Cond::A),
        O::I64LeS => compare(c, true, Cond::Le),
        O::I64LeU => compare(c, true, Cond::Be),
        O::I64GeS => compare(c, true, Cond::Ge),
        O::I64GeU => compare(c, true, Cond::Ae),
        O::I32Clz => unary(c, |a| {
            dynasm!(a ; .arch x64
                ; mov ecx, -1 ; bsr eax, eax ; cmovz eax, ecx ; neg eax ; add eax, 31)
        }),
        O::I64Clz => unary(c, |a| {
            dynasm!(a ; .arch x64
                ; mov rcx, -1 ; bsr rax, rax ; cmovz rax, rcx ; neg rax ; add rax, 63)
        }),
        O::I32Ctz => unary(
            c,
            |a| dynasm!(a ; .arch x64 ; mov ecx, 32 ; bsf eax, eax ; cmovz eax, ecx),
        ),
        O::I64Ctz => unary(
            c,
            |a| dynasm!(a ; .arch x64 ; mov ecx, 64 ; bsf rax, rax ; cmovz rax, rcx),
        ),
        O::I32Popcnt => unary(c, |a| dynasm!(a ; .arch x64 ; popcnt eax, eax)),
        O::I64Popcnt => unary(c, |a| dynasm!(a ; .arch x64 ; popcnt rax, rax)),
        O::I32Add => alu(c, false, Alu::Add),
        O::I32Sub => alu(c, false, Alu::Sub),
        O::I32Mul => multiply(c, false),
        O::I32And => alu(c, false, Alu::And),
        O::I32Or => alu(c, false, Alu::Or),
        O::I32Xor => alu(c, false, Alu::Xor),
        O::I32Shl => binary(c, |a| dynasm!(a ; .arch x64 ; shl eax, cl)),
        O::I32ShrS => binary(c, |a| dynasm!(a ; .arch x64 ; sar eax, cl)),
        O::I32ShrU => binary(c, |a| dynasm!(a ; .arch x64 ; shr eax, cl)),
        O::I32Rotl => binary(c, |a| dynasm!(a ; .arch x64 ; rol eax, cl)),
        O::I32Rotr => binary(c, |a| dynasm!(a ; .arch x64 ; ror eax, cl)),
        O::I64Add => alu(c, true, Alu::Add),
        O::I64Sub => alu(c, true, Alu::Sub),
        O::I64Mul => multiply(c, true),
        O::I64And => alu(c, true, Alu::And),
        O::I64Or => alu(c, true, Alu::Or),
        O::I64Xor => alu(c, true, Alu::Xor),
        O::I64Shl => binary(c, |a| dynasm!(a ; .arch x64 ; shl rax, cl)),
        O::I64ShrS => binary(c, |a| dynasm!(a ; .arch x64 ; sar rax, cl)),
        O::I64ShrU => binary(c, |a| dynasm!(a ; .arch x64 ; shr rax, cl)),
        O::I64Rotl => binary(c, |a| dynasm!(a ; .arch x64 ; rol rax, cl)),
        O::I64Rotr => binary(c, |a| dynasm!(a ; .arch x64 ; ror rax, cl)),
        O::I32DivS => divide(c, false, true, false),
        O::I32DivU => divide(c, false, false, false),
        O::I32RemS => divide(c, false, true, true),
        O::I32RemU => divide(c, false, false, true),
        O::I64DivS => divide(c, true, true, false),
        O::I64DivU => divide(c, true, false, false),
        O::I64RemS => divide(c, true, true, true),
        O::I64RemU => divide(c, true, false, true),
        O::I32WrapI64 | O::I64ExtendI32U => unary(c, |a| dynasm!(a ; .arch x64 ; mov eax, eax)),
        O::I64ExtendI32S | O::I64Extend32S => {
            unary(c, |a| dynasm!(a ; .arch x64 ; movsxd rax, eax))
        }
        O::I32Extend8S => unary(c, |a| dynasm!(a ; .arch x64 ; movsx eax, al)),
        O::I32Extend16S => unary(c, |a| dynasm!(a ; .arch x64 ; movsx eax, ax)),
        O::I64Extend8S => unary(c, |a| dynasm!(a ; .arch x64 ; movsx rax, al)),
        O::I64Extend16S => unary(c, |a| dynasm!(a ; .arch x64 ; movsx rax, ax)),
        _ => return false,
    }
    true
}

/// How a load widens its bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LoadKind {
    U32,
    U64,
    S8To32,
    U8,
    S16To32,
    U16,
    S8To64,
    S16To64,
    S32To64,
}

/// A load or store operator.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MemoryAccess {
    pub(crate) store: bool,
    pub(crate) kind: LoadKind,
    pub(crate) size: u32,
    pub(crate) offset: u64,
    /// An `f32` or `f64` access: loads land in a float register, stores may take one.
    pub(crate) float: bool,
}

pub(crate) fn memory_access(op: &Operator<'_>) -> Option<MemoryAccess> {
    use LoadKind as K;
    use Operator as O;
    let (store, kind, size, memarg) = match op {
        O::I32Load { memarg } | O::F32Load { memarg } => (false, K::U32, 4, memarg),
        O::I64Load { memarg } | O::F64Load { memarg } => (false, K::U64, 8, memarg),
        O::I32Load8S { memarg } => (false, K::S8To32, 1, memarg),
        O::I32Load8U { memarg } | O::I64Load8U { memarg } => (false, K::U8, 1, memarg),
        O::I32Load16S { memarg } => (false, K::S16To32, 2, memarg),
        O::I32Load16U { memarg } | O::I64Load16U { memarg } => (false, K::U16, 2, memarg),
        O::I64Load8S { memarg } => (false, K::S8To64, 1, memarg),
        O::I64Load16S { memarg } => (false, K::S16To64, 2, memarg),
        O::I64Load32S { memarg } => (false, K::S32To64, 4, memarg),
        O::I64Load32U { memarg } => (false, K::U32, 4, memarg),
        O::I32Store { memarg } | O::F32Store { memarg } | O::I64Store32 { memarg } => {
            (true, K::U32, 4, memarg)
        }
        O::I64Store { memarg } | O::F64Store { memarg } => (true, K::U64, 8, memarg),
        O::I32Store8 { memarg } | O::I64Store8 { memarg } => (true, K::U8, 1, memarg),
        O::I32Store16 { memarg } | O::I64Store16 { memarg } => (true, K::U16, 2, memarg),
        _ => return None,
    };
    let float = matches!(
        op,
        O::F32Load { .. } | O::F64Load { .. } | O::F32Store { .. } | O::F64Store { .. }
    );
    Some(MemoryAccess {
        store,
        kind,
        size,
        offset: memarg.offset,
        float,
    })
}

/// Loads the `f32` (`size` 4) or `f64` at `r14 + rax + disp` into `xmm{dst}`, zeroing the
/// bits above it.
pub(crate) fn emit_float_load(a: &mut Asm, size: u32, disp: i32, dst: u8) {
    if size == 4 {
        dynasm!(a ; .arch x64 ; movss Rx(dst), DWORD [r14 + rax + disp]);
    } else {
        dynasm!(a ; .arch x64 ; movsd Rx(dst), QWORD [r14 + rax + disp]);
    }
}

/// Stores the `f32` (`size` 4) or `f64` in `xmm{src}` to `r14 + rax + disp`.
pub(crate) fn emit_float_store(a: &mut Asm, size: u32, disp: i32, src: u8) {
    if size == 4 {
        dynasm!(a ; .arch x64 ; movss DWORD [r14 + rax + disp], Rx(src));
    } else {
        dynasm!(a ; .arch x64 ; movsd QWORD [r14 + rax + disp], Rx(src));
    }
}

/// Loads from `r14 + rax + disp` into register `dst`.
pub(crate) fn emit_load(a: &mut Asm, kind: LoadKind, disp: i32, dst: u8) {
    match kind {
        LoadKind::U32 => dynasm!(a ; .arch x64 ; mov Rd(dst), DWORD [r14 + rax + disp]),
        LoadKind::U64 => dynasm!(a ; .arch x64 ; mov Rq(dst), QWORD [r14 + rax + disp]),
        LoadKind::S8To32 => dynasm!(a ; .arch x64 ; movsx Rd(dst), BYTE [r14 + rax + disp]),
        LoadKind::U8 => dynasm!(a ; .arch x64 ; movzx Rd(dst), BYTE [r14 + rax + disp]),
        LoadKind::S16To32 => dynasm!(a ; .arch x64 ; movsx Rd(dst), WORD [r14 + rax + disp]),
        LoadKind::U16 => dynasm!(a ; .arch x64 ; movzx Rd(dst), WORD [r14 + rax + disp]),
        LoadKind::S8To64 => dynasm!(a ; .arch x64 ; movsx Rq(dst), BYTE [r14 + rax + disp]),
        LoadKind::S16To64 => dynasm!(a ; .arch x64 ; movsx Rq(dst), WORD [r14 + rax + disp]),
        LoadKind::S32To64 => dynasm!(a ; .arch x64 ; movsxd Rq(dst), DWORD [r14 + rax + disp]),
    }
}

/// Stores the low `size` bytes of register `src` to `r14 + rax + disp`.
pub(crate) fn emit_store(a: &mut Asm, size: u32, disp: i32, src: u8) {
    match size {
        1 => dynasm!(a ; .arch x64 ; mov BYTE [r14 + rax + disp], Rb(src)),
        2 => dynasm!(a ; .arch x64 ; mov WORD [r14 + rax + disp], Rw(src)),
        4 => dynasm!(a ; .arch x64 ; mov DWORD [r14 + rax + disp], Rd(src)),
        _ => dynasm!(a ; .arch x64 ; mov QWORD [r14 + rax + disp], Rq(src)),
    }
}
