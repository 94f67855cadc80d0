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
/// compare-and-branch that follows. [`Carry`] bits `CARRY`: with [`COUNTER_ARRIVES`] the
/// counter `a` is read from the accumulator, with [`COUNTER_LEAVES`] the new counter is
/// the accumulator on both ways on (else the one it arrived with is).
fn add_branch<C: Compare, const STEP_IMM: bool, const BOUND_IMM: bool, const CARRY: u8>(
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
    let counter = if CARRY & COUNTER_ARRIVES != 0 {
        acc
    } else {
        regs.get(op.a)
    };
    let value = (counter as u32).wrapping_add(step);
    regs.set(op.a, value as u64);
    let acc = if CARRY & COUNTER_LEAVES != 0 {
        value as u64
    } else {
        acc
    };
    let bound = if BOUND_IMM {
        op.c
    } else {
        regs.get(op.c) as u32
    };
    if C::holds(value, bound) {
        let (from, to) = ex.back_edge;
        if from.is(ip) {
            next!(to, regs, ex, acc, mem, facc)
        }
        return take_back_edge(ip, regs, ex, acc, mem, facc);
    }
    next!(ip.skip(2), regs, ex, acc, mem, facc)
}

/// Takes the fused back edge at `ip` (its distance in `d`) and remembers it as the
/// executor's last, so the next iteration's [`add_branch`] finds its target there.
///
/// Every instruction's address waits for the one before: one cycle for an addition, but a
/// load and an addition for a taken branch, whose distance is read from its instruction. In
/// a short loop that chain was the loop's speed: `sieve`'s inner loop (a store and the back
/// edge) took the load's latency plus two cycles per iteration. The executor's address is
/// known from the start, so its remembered target is loaded ahead of time and the jump only
/// compares its own address with the one remembered, a branch the predictor takes care of.
/// `strata bench --tiers interp` minima: `sieve` -14% (-11% to -16% under four code
/// placements), `matmul` -12% in the default placement only; geomean -1.4% and -1.6% in
/// the default placement, -1.5%, +1.5% and -1.0% in three others. A loop entered anew
/// misses once (another loop's back edge is remembered), so `medium`'s 8-iteration loops
/// run up to 3% slower. Extended to every backward compare-and-branch, `br` and `br_if` (a
/// test of the distance's sign on every taken branch), it measured level.
#[cold]
#[inline(never)]
fn take_back_edge(
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
    facc: f64,
) -> Ip {
    let target = ip.jump(ip.op().d);
    ex.back_edge = (ip, target);
    next!(target, regs, ex, acc, mem, facc)
}

/// The [`add_branch`] bit for a counter that arrives in the accumulator.
const COUNTER_ARRIVES: u8 = 1;
/// The [`add_branch`] bit for a counter that leaves in the accumulator.
const COUNTER_LEAVES: u8 = 2;

/// How a fused back edge carries its counter in the accumulator: in (it arrives there) and
/// out (it leaves there, for a loop header that reads it; see [`back_edge_carry`]).
#[derive(Clone, Copy)]
pub(super) struct Carry {
    pub(super) arrives: bool,
    pub(super) leaves: bool,
}

fn add_branch_handler<C: Compare>(step_imm: bool, bound_imm: bool, carry: Carry) -> Handler {
    macro_rules! by_carry {
        ($s:literal, $b:literal) => {
            match (carry.arrives, carry.leaves) {
                (false, false) => add_branch::<C, $s, $b, 0> as Handler,
                (true, false) => add_branch::<C, $s, $b, 1>,
                (false, true) => add_branch::<C, $s, $b, 2>,
                (true, true) => add_branch::<C, $s, $b, 3>,
            }
        };
    }
    match (step_imm, bound_imm) {
        (false, false) => by_carry!(false, false),
        (false, true) => by_carry!(false, true),
        (true, false) => by_carry!(true, false),
        (true, true) => by_carry!(true, true),
    }
}

/// The counter of the fused back edge `code[at - 1]`, `code[at]`, if they make one, and
/// whether it leaves the counter in the accumulator: when the instruction it branches to
/// reads the counter (a loop header that `crate::loop_entry` may have made reachable with
/// the counter in the accumulator from before the loop too).
pub(crate) fn back_edge_carry(code: &[Instr], at: usize) -> Option<(Slot, bool)> {
    let first = *code.get(at.checked_sub(1)?)?;
    let (counter, .., target) = back_edge(first, code[at])?;
    let leaves = code
        .get(target as usize)
        .is_some_and(|_| crate::instr::slot_uses(code, target as usize, counter).0 > 0);
    Some((counter, leaves))
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
    carry: impl Fn(Slot) -> Carry,
) -> Option<Op> {
    let (dst, step, cond, bound, target) = back_edge(first, second)?;
    let step_imm = consts.value(step);
    let bound_imm = consts.value(bound);
    let (s, c) = (step_imm.is_some(), bound_imm.is_some());
    let handler = with_compare!(cond, add_branch_handler::<_>(s, c, carry(dst)));
    Some(
        Op::new(
            handler,
            dst,
            step_imm.map_or(step, |v| v as u32),
            bound_imm.map_or(bound, |v| v as u32),
        )
        // The branch's target, as a distance from the fused instruction.
        .with_d(super::distance(at, target)),
    )
}
