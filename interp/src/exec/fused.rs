//! Superinstructions: two adjacent instructions run by one handler.
//!
//! Lowering makes one at the position of the first instruction and keeps the second where
//! it was, so a branch to the second still finds it; the fused handler continues past both.
//! One dispatch less, and the second instruction reads the first one's result from a
//! register instead of the frame slot just written.
//!
//! Two kinds:
//! - a counted loop's back edge: `l = l + step` followed by a compare-and-branch on `l`
//!   (`i++; if (i != n) continue`), with `step` and the bound each a slot or a constant;
//! - pairs of numeric instructions ([`pair`]), from a table of the pairs that run most
//!   often in the benchmark programs' loops ([`numeric_pair`]). The handler runs the two
//!   [`Step`]s one after the other, each reading its operands from the `Op` at its own
//!   position, so a pair needs no operand layout of its own and any two numeric
//!   instructions can make one.

use super::compare::{compare_branch, with_compare, Compare};
use super::numeric::{step, Kind, Lowered, Step};
use super::{next, trap, Consts, Executor, Handler, Op};
use crate::instr::Instr;
use crate::vm::{Ip, Memory, Regs};

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

fn add_branch_handler<C: Compare>(step_imm: bool, bound_imm: bool) -> Handler {
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
    let (cond, left, right, target) = compare_branch(second)?;
    let (bound, cond) = match (left == dst, right == dst) {
        (true, _) => (right, cond),
        (_, true) => (left, cond.mirrored()),
        _ => return None,
    };
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

/// Two numeric instructions in one handler: `A` (accumulator bits `AA`) at `ip`, then `B`
/// (bits `AB`, which may name `A`'s result) at the next position.
fn pair<A: Step, const AA: u8, B: Step, const AB: u8>(
    ip: Ip,
    regs: Regs,
    mem: Memory,
    ex: &mut Executor<'_>,
    acc: u64,
    facc: f64,
) -> Ip {
    let (acc, facc) = match A::run::<AA>(ip.op(), regs, mem, acc, facc) {
        Ok(ran) => ran,
        Err(code) => return trap(ex, code),
    };
    match B::run::<AB>(ip.skip(1).op(), regs, mem, acc, facc) {
        Ok((acc, facc)) => next!(ip.skip(2), regs, mem, ex, acc, facc),
        Err(code) => trap(ex, code),
    }
}

/// The step type of a pair table entry: `imm X` is the constant-operand form of `X`.
macro_rules! step_type {
    (imm $x:ident) => {
        step::imm::$x
    };
    ($x:ident) => {
        step::$x
    };
}

/// The [`Kind`] and constant-operand flag of a pair table entry.
macro_rules! step_key {
    (imm $x:ident) => {
        (Kind::$x, true)
    };
    ($x:ident) => {
        (Kind::$x, false)
    };
}

/// The handler of pair `$a`, `$b` for accumulator bits `$aa`, `$ab` (each below 4).
macro_rules! pair_variant {
    ($a:ty, $b:ty, $aa:expr, $ab:expr) => {
        match ($aa, $ab) {
            (0, 0) => pair::<$a, 0, $b, 0> as Handler,
            (0, 1) => pair::<$a, 0, $b, 1>,
            (0, 2) => pair::<$a, 0, $b, 2>,
            (0, _) => pair::<$a, 0, $b, 3>,
            (1, 0) => pair::<$a, 1, $b, 0>,
            (1, 1) => pair::<$a, 1, $b, 1>,
            (1, 2) => pair::<$a, 1, $b, 2>,
            (1, _) => pair::<$a, 1, $b, 3>,
            (2, 0) => pair::<$a, 2, $b, 0>,
            (2, 1) => pair::<$a, 2, $b, 1>,
            (2, 2) => pair::<$a, 2, $b, 2>,
            (2, _) => pair::<$a, 2, $b, 3>,
            (_, 0) => pair::<$a, 3, $b, 0>,
            (_, 1) => pair::<$a, 3, $b, 1>,
            (_, 2) => pair::<$a, 3, $b, 2>,
            (_, _) => pair::<$a, 3, $b, 3>,
        }
    };
}

/// The pairs of numeric instructions that run as one handler: the most frequent adjacent
/// pairs in the benchmark programs' loops (counted per executed instruction), among them
/// shift-and-mix chains of hashes and random generators, loads feeding arithmetic, address
/// arithmetic, and `f64` expressions with their loads and stores.
macro_rules! pair_table {
    ($( [$($a:tt)+] [$($b:tt)+], )*) => {
        /// The superinstruction of `first` and `second` (lowered for arriving right after
        /// `first`), if the pair is in the table.
        pub(super) fn numeric_pair(first: &Lowered, second: &Lowered) -> Option<Handler> {
            if first.bits > 3 || second.bits > 3 {
                return None;
            }
            let (aa, ab) = (first.bits, second.bits);
            Some(match ((first.kind, first.imm), (second.kind, second.imm)) {
                $(
                    (step_key!($($a)+), step_key!($($b)+)) => {
                        pair_variant!(step_type!($($a)+), step_type!($($b)+), aa, ab)
                    }
                )*
                _ => return None,
            })
        }
    };
}

pair_table! {
    [imm I32Shl] [I32Xor],
    [I32Xor] [imm I32ShrU],
    [imm I32ShrU] [I32Xor],
    [I32Xor] [imm I32Shl],
    [imm I32ShrU] [imm I32And],
    [imm I32And] [imm I32ShrU],
    [imm I32And] [imm I32And],
    [imm I32ShrU] [imm I32ShrU],
    [I32Xor] [imm I32Mul],
    [imm I32Shl] [I32LoadIndexed],
    [imm I32Shl] [I32Add],
    [I32Add] [imm I32Shl],
    [imm I32Add] [imm I32Shl],
    [imm I32Add] [imm I32Add],
    [I32Add] [I32Add],
    [I32Add] [I32Load],
    [I32Load] [I32Load],
    [I32LoadIndexed] [imm I32ShrU],
    [imm I32ShrU] [I32Store8],
    [I32Store8] [imm I32Add],
    [I32Add] [imm I32Sub],
    [F64Load] [F64Add],
    [F64Load] [F64Sub],
    [F64Load] [F64Mul],
    [F64LoadIndexed] [F64Mul],
    [F64Mul] [F64Add],
    [F64Mul] [F64Sub],
    [F64Mul] [F64Mul],
    [F64Add] [F64Mul],
    [F64Sub] [F64Add],
    [F64Sub] [F64Mul],
    [F64Mul] [F64Load],
    [F64Add] [F64Store],
    [F64Sub] [F64Store],
    [F64Store] [imm I32Add],
}
