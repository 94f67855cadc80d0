//! The `i32` comparisons of the fused compare-and-branch instructions: as types, so that
//! each handler is compiled for one, and as values ([`Cond`]), so that lowering picks the
//! handler ([`with_compare!`]).
//!
//! The compare-and-branch handlers are here; the fused loop back edge
//! ([`super::fused`]) uses the same comparisons, and superinstructions ending in a
//! compare-and-branch ([`super::pairs`]) use one handler for all of them.

use super::acc::operand;
use super::{next, Consts, Executor, Handler, Op};
use crate::instr::{Instr, Slot};
use crate::vm::{Ip, Memory, Regs};

/// An `i32` comparison, as a type.
pub(super) trait Compare: 'static {
    fn holds(a: u32, b: u32) -> bool;
}

/// An `i32` comparison, as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cond {
    Eq,
    Ne,
    LtS,
    LtU,
    GtS,
    GtU,
    LeS,
    LeU,
    GeS,
    GeU,
}

macro_rules! comparisons {
    ($($name:ident $ty:ty, $cmp:tt;)*) => {
        /// The comparison types, named as [`Cond`]'s variants.
        pub(super) mod types {
            $(
                pub(in super::super) struct $name;
                impl super::Compare for $name {
                    #[inline(always)]
                    fn holds(a: u32, b: u32) -> bool {
                        (a as $ty) $cmp (b as $ty)
                    }
                }
            )*
        }
    };
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

/// `$f::<C>(args)` for the comparison type `C` of `$cond` (a [`Cond`]).
macro_rules! with_compare {
    ($cond:expr, $f:ident::<_>($($arg:expr),*)) => {{
        use $crate::exec::compare::{types, Cond};
        match $cond {
            Cond::Eq => $f::<types::Eq>($($arg),*),
            Cond::Ne => $f::<types::Ne>($($arg),*),
            Cond::LtS => $f::<types::LtS>($($arg),*),
            Cond::LtU => $f::<types::LtU>($($arg),*),
            Cond::GtS => $f::<types::GtS>($($arg),*),
            Cond::GtU => $f::<types::GtU>($($arg),*),
            Cond::LeS => $f::<types::LeS>($($arg),*),
            Cond::LeU => $f::<types::LeU>($($arg),*),
            Cond::GeS => $f::<types::GeS>($($arg),*),
            Cond::GeU => $f::<types::GeU>($($arg),*),
        }
    }};
}
pub(super) use with_compare;

impl Cond {
    /// The comparison with its operands swapped: `a < b` is `b > a`.
    pub(super) fn mirrored(self) -> Cond {
        match self {
            Cond::Eq | Cond::Ne => self,
            Cond::LtS => Cond::GtS,
            Cond::LtU => Cond::GtU,
            Cond::GtS => Cond::LtS,
            Cond::GtU => Cond::LtU,
            Cond::LeS => Cond::GeS,
            Cond::LeU => Cond::GeU,
            Cond::GeS => Cond::LeS,
            Cond::GeU => Cond::LeU,
        }
    }
}

impl Cond {
    /// The comparison as a word [`holds`] reads: bit 31 set for a signed one, bits 0-2 set
    /// for the outcomes it holds for (less, equal, greater).
    fn word(self) -> u32 {
        const SIGNED: u32 = 1 << 31;
        const LT: u32 = 1;
        const EQ: u32 = 2;
        const GT: u32 = 4;
        match self {
            Cond::Eq => EQ,
            Cond::Ne => LT | GT,
            Cond::LtS => SIGNED | LT,
            Cond::LtU => LT,
            Cond::GtS => SIGNED | GT,
            Cond::GtU => GT,
            Cond::LeS => SIGNED | LT | EQ,
            Cond::LeU => LT | EQ,
            Cond::GeS => SIGNED | GT | EQ,
            Cond::GeU => GT | EQ,
        }
    }
}

/// Whether `a <cond> b` for the comparison of [`Cond::word`] `word`, without branching on
/// which comparison it is: for the handlers that run any of them ([`AnyCond`]).
#[inline(always)]
fn holds(word: u32, a: u32, b: u32) -> bool {
    // Flipping the sign bits orders signed values as unsigned ones; one comparison then
    // gives the outcome (-1, 0 or 1), whose bit of the word says whether the comparison
    // holds.
    let flip = word & 1 << 31;
    let outcome = (a ^ flip).cmp(&(b ^ flip)) as i32;
    word >> (outcome + 1) & 1 != 0
}

/// The comparison, operands and target of a compare-and-branch instruction.
pub(super) fn compare_branch(instr: Instr) -> Option<(Cond, Slot, Slot, u32)> {
    Some(match instr {
        Instr::BrI32Eq { a, b, target } => (Cond::Eq, a, b, target),
        Instr::BrI32Ne { a, b, target } => (Cond::Ne, a, b, target),
        Instr::BrI32LtS { a, b, target } => (Cond::LtS, a, b, target),
        Instr::BrI32LtU { a, b, target } => (Cond::LtU, a, b, target),
        Instr::BrI32GtS { a, b, target } => (Cond::GtS, a, b, target),
        Instr::BrI32GtU { a, b, target } => (Cond::GtU, a, b, target),
        Instr::BrI32LeS { a, b, target } => (Cond::LeS, a, b, target),
        Instr::BrI32LeU { a, b, target } => (Cond::LeU, a, b, target),
        Instr::BrI32GeS { a, b, target } => (Cond::GeS, a, b, target),
        Instr::BrI32GeU { a, b, target } => (Cond::GeU, a, b, target),
        _ => return None,
    })
}

/// How a compare-and-branch handler decides: by its comparison type (every [`Compare`]),
/// or by the comparison word its `Op` carries in `d` ([`AnyCond`]).
pub(super) trait Decide {
    fn decides(op: &Op, a: u32, b: u32) -> bool;
}

impl<C: Compare> Decide for C {
    #[inline(always)]
    fn decides(_: &Op, a: u32, b: u32) -> bool {
        C::holds(a, b)
    }
}

/// Any comparison, the one of the `Op`'s [`Cond::word`]: for superinstructions
/// ([`super::pairs`]), which then need one variant per accumulator bits, not also one per
/// comparison.
pub(super) struct AnyCond;

impl Decide for AnyCond {
    #[inline(always)]
    fn decides(op: &Op, a: u32, b: u32) -> bool {
        holds(op.d, a, b)
    }
}

/// Jump to `c` when `a` and `b` compare as `D` decides: `a` a slot, `b` a slot or, with
/// `IMM`, the constant itself (either slot from the accumulator, per `ACC`).
pub(super) fn branch<D: Decide, const ACC: u8, const IMM: bool>(
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
    facc: f64,
) -> Ip {
    let op = ip.op();
    let a = operand::<ACC, 1>(regs, op.a, acc) as u32;
    let b = if IMM {
        op.b
    } else {
        operand::<ACC, 2>(regs, op.b, acc) as u32
    };
    if D::decides(op, a, b) {
        next!(ip.jump(op.c), regs, ex, acc, mem, facc)
    }
    next!(ip.skip(1), regs, ex, acc, mem, facc)
}

/// The threaded form of a compare-and-branch `a <C> b` with its target `rel` places away;
/// `bit(slot, n)` is accumulator bit `n` for an operand in `slot`.
fn lower_branch<C: Compare>(
    a: Slot,
    b: Slot,
    rel: u32,
    consts: &Consts<'_>,
    bit: impl Fn(Slot, u8) -> u8,
) -> Op {
    match consts.value(b) {
        Some(v) => {
            let handler: Handler = match bit(a, 1) {
                0 => branch::<C, 0, true>,
                _ => branch::<C, 1, true>,
            };
            Op::new(handler, a, v as u32, rel)
        }
        None => {
            let handler: Handler = match bit(a, 1) | bit(b, 2) {
                0 => branch::<C, 0, false>,
                1 => branch::<C, 1, false>,
                2 => branch::<C, 2, false>,
                _ => branch::<C, 3, false>,
            };
            Op::new(handler, a, b, rel)
        }
    }
}

/// The threaded form of compare-and-branch instruction `instr` at position `at`, if it is
/// one (see [`lower_branch`]).
pub(super) fn lower(
    instr: Instr,
    at: usize,
    consts: &Consts<'_>,
    bit: impl Fn(Slot, u8) -> u8,
) -> Option<Op> {
    let (cond, a, b, target) = compare_branch(instr)?;
    // Branch targets are distances from the branch.
    let rel = super::distance(at, target);
    let op = with_compare!(cond, lower_branch::<_>(a, b, rel, consts, bit));
    // For the handlers that run any comparison.
    Some(op.with_d(cond.word()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_comparison_holds_as_its_type_does() {
        let values = [
            0,
            1,
            2,
            u32::MAX,
            u32::MAX - 1,
            1 << 31,
            (1 << 31) - 1,
            0x1234,
        ];
        for cond in [
            Cond::Eq,
            Cond::Ne,
            Cond::LtS,
            Cond::LtU,
            Cond::GtS,
            Cond::GtU,
            Cond::LeS,
            Cond::LeU,
            Cond::GeS,
            Cond::GeU,
        ] {
            for a in values {
                for b in values {
                    fn typed<C: Compare>(a: u32, b: u32) -> bool {
                        C::holds(a, b)
                    }
                    let expected = with_compare!(cond, typed::<_>(a, b));
                    assert_eq!(holds(cond.word(), a, b), expected, "{cond:?} {a} {b}");
                }
            }
        }
    }
}
