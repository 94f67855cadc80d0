//! Superinstructions: two adjacent instructions run by one handler.
//!
//! Lowering makes one at the position of the first instruction and keeps the second where
//! it was, so a branch to the second still finds it; the fused handler continues past both.
//! One dispatch less, and the second instruction reads the first one's result from a
//! register instead of the frame slot just written.
//!
//! This one is a counted loop's back edge: `l = l + step` followed by a compare-and-branch
//! on `l` (`i++; if (i != n) continue`), with `step` and the bound each a slot or a
//! constant. It has an operand layout of its own; the general pairs are in
//! [`super::pairs`].

use super::compare::Cond;
use super::compare::{compare_branch, with_compare, Compare};
use super::{next, Consts, Executor, Handler, Op};
use crate::instr::{Instr, Slot};
use crate::vm::{Ip, Memory, Regs};

/// `a = a + b` (`b` a slot, or the constant itself with `STEP_IMM`), then jump to `d` when
/// `a <C> c` (`c` a slot, or the constant with `BOUND_IMM`); else continue past the
/// compare-and-branch that follows.
fn add_branch<C: Compare, const STEP_IMM: bool, const BOUND_IMM: bool>(
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
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
        next!(ip.jump(op.d), regs, ex, acc, mem, facc)
    }
    next!(ip.skip(2), regs, ex, acc, mem, facc)
}

fn add_branch_handler<C: Compare>(step_imm: bool, bound_imm: bool) -> Handler {
    match (step_imm, bound_imm) {
        (false, false) => add_branch::<C, false, false>,
        (false, true) => add_branch::<C, false, true>,
        (true, false) => add_branch::<C, true, false>,
        (true, true) => add_branch::<C, true, true>,
    }
}

/// The slot `first` writes when it makes a fused back edge with `second`.
pub(super) fn back_edge_slot(first: Instr, second: Instr) -> Option<Slot> {
    back_edge(first, second).map(|(dst, ..)| dst)
}

/// The parts of a fused back edge `first`, `second`: the counter `dst`, its step, the
/// comparison with `dst` on its left, the bound and the target.
fn back_edge(first: Instr, second: Instr) -> Option<(Slot, Slot, Cond, Slot, u32)> {
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
    let (cond, left, right, target) = compare_branch(second)?;
    let (bound, cond) = match (left == dst, right == dst) {
        (true, _) => (right, cond),
        (_, true) => (left, cond.mirrored()),
        _ => return None,
    };
    Some((dst, step, cond, bound, target))
}

/// The fused form of `first` and `second` (at positions `at` and `at + 1`), if they make
/// one.
pub(super) fn lower_pair(
    first: Instr,
    second: Instr,
    at: usize,
    consts: &Consts<'_>,
) -> Option<Op> {
    let (dst, step, cond, bound, target) = back_edge(first, second)?;
    let step_imm = consts.value(step);
    let bound_imm = consts.value(bound);
    let (s, c) = (step_imm.is_some(), bound_imm.is_some());
    let handler = with_compare!(cond, add_branch_handler::<_>(s, c));
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
