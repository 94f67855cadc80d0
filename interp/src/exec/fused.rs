//! Superinstructions: two adjacent instructions run by one handler.
//!
//! Lowering makes one at the position of the first instruction and keeps the second where
//! it was, so a branch to the second still finds it; the fused handler continues past both.
//! One dispatch less, and the second instruction reads the first one's result from a
//! register instead of the frame slot just written.
//!
//! The one fusion so far is a counted loop's back edge: `l = l + step` followed by a
//! compare-and-branch on `l` (`i++; if (i != n) continue`), with `step` and the bound each a
//! slot or a constant.

use super::{next, Consts, Executor, Handler, Op};
use crate::instr::Instr;
use crate::vm::{Ip, Memory, Regs};

/// An `i32` comparison, as a type so each handler is compiled for one.
trait Compare {
    fn holds(a: u32, b: u32) -> bool;
}

macro_rules! comparisons {
    ($($name:ident $ty:ty, $cmp:tt;)*) => {$(
        struct $name;
        impl Compare for $name {
            #[inline(always)]
            fn holds(a: u32, b: u32) -> bool {
                (a as $ty) $cmp (b as $ty)
            }
        }
    )*};
}
comparisons! {
    Eq u32, ==;
    Ne u32, !=;
    LtS i32, <;
    LtU u32, <;
    GtS i32, >;
    GtU u32, >;
    LeS i32, <=;
    LeU u32, <=;
    GeS i32, >=;
    GeU u32, >=;
}

/// `a = a + b` (`b` a slot, or the constant itself with `STEP_IMM`), then jump to `d` when
/// `a <C> c` (`c` a slot, or the constant with `BOUND_IMM`); else continue past the
/// compare-and-branch that follows.
fn add_branch<C: Compare, const STEP_IMM: bool, const BOUND_IMM: bool>(
    ip: Ip,
    regs: Regs,
    mem: Memory,
    ex: &mut Executor<'_>,
    acc: u64,
    facc: f64,
) -> Ip {
    let op = ip.op();
    let step = if STEP_IMM {
        op.b
    } else {
        regs.get(op.b) as u32
    };
    let value = (regs.get(op.a) as u32).wrapping_add(step);
    regs.set(op.a, value as u64);
    let bound = if BOUND_IMM {
        op.c
    } else {
        regs.get(op.c) as u32
    };
    if C::holds(value, bound) {
        next!(ip.jump(op.d), regs, mem, ex, acc, facc)
    }
    next!(ip.skip(2), regs, mem, ex, acc, facc)
}

fn add_branch_handler<C: Compare + 'static>(step_imm: bool, bound_imm: bool) -> Handler {
    match (step_imm, bound_imm) {
        (false, false) => add_branch::<C, false, false>,
        (false, true) => add_branch::<C, false, true>,
        (true, false) => add_branch::<C, true, false>,
        (true, true) => add_branch::<C, true, true>,
    }
}

/// The fused form of `first` and `second` (at positions `at` and `at + 1`), if they make
/// one.
pub(super) fn lower_pair(
    first: Instr,
    second: Instr,
    at: usize,
    consts: &Consts<'_>,
) -> Option<Op> {
    let Instr::I32Add { dst, a, b } = first else {
        return None;
    };
    // In place: `dst = dst + step`.
    let step = match (a == dst, b == dst) {
        (true, _) => b,
        (_, true) => a,
        _ => return None,
    };
    // Which comparison, with `dst` on the left: `x < dst` is `dst > x`.
    let (left, right, target) = match second {
        Instr::BrI32Eq { a, b, target }
        | Instr::BrI32Ne { a, b, target }
        | Instr::BrI32LtS { a, b, target }
        | Instr::BrI32LtU { a, b, target }
        | Instr::BrI32GtS { a, b, target }
        | Instr::BrI32GtU { a, b, target }
        | Instr::BrI32LeS { a, b, target }
        | Instr::BrI32LeU { a, b, target }
        | Instr::BrI32GeS { a, b, target }
        | Instr::BrI32GeU { a, b, target } => (a, b, target),
        _ => return None,
    };
    let (bound, swapped) = match (left == dst, right == dst) {
        (true, _) => (right, false),
        (_, true) => (left, true),
        _ => return None,
    };
    let step_imm = consts.value(step);
    let bound_imm = consts.value(bound);
    let (s, c) = (step_imm.is_some(), bound_imm.is_some());
    let handler = match (second, swapped) {
        (Instr::BrI32Eq { .. }, _) => add_branch_handler::<Eq>(s, c),
        (Instr::BrI32Ne { .. }, _) => add_branch_handler::<Ne>(s, c),
        (Instr::BrI32LtS { .. }, false) | (Instr::BrI32GtS { .. }, true) => {
            add_branch_handler::<LtS>(s, c)
        }
        (Instr::BrI32LtU { .. }, false) | (Instr::BrI32GtU { .. }, true) => {
            add_branch_handler::<LtU>(s, c)
        }
        (Instr::BrI32GtS { .. }, false) | (Instr::BrI32LtS { .. }, true) => {
            add_branch_handler::<GtS>(s, c)
        }
        (Instr::BrI32GtU { .. }, false) | (Instr::BrI32LtU { .. }, true) => {
            add_branch_handler::<GtU>(s, c)
        }
        (Instr::BrI32LeS { .. }, false) | (Instr::BrI32GeS { .. }, true) => {
            add_branch_handler::<LeS>(s, c)
        }
        (Instr::BrI32LeU { .. }, false) | (Instr::BrI32GeU { .. }, true) => {
            add_branch_handler::<LeU>(s, c)
        }
        (Instr::BrI32GeS { .. }, false) | (Instr::BrI32LeS { .. }, true) => {
            add_branch_handler::<GeS>(s, c)
        }
        (Instr::BrI32GeU { .. }, false) | (Instr::BrI32LeU { .. }, true) => {
            add_branch_handler::<GeU>(s, c)
        }
        _ => return None,
    };
    Some(
        Op::new(
            handler,
            dst,
            step_imm.map_or(step, |v| v as u32),
            bound_imm.map_or(bound, |v| v as u32),
        )
        // The branch's target, as a distance from the fused instruction.
        .with_d(target.wrapping_sub(at as u32)),
    )
}
