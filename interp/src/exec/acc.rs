//! The accumulator: the last result, carried in a register from handler to handler.
//!
//! Every instruction that computes a value writes it to its result slot and passes it to the
//! next handler as the accumulator argument. An instruction whose operand is that slot,
//! and which can only be reached from the instruction that wrote it (it falls through from
//! it and is no branch target), reads the operand from the accumulator instead: the
//! dependency no longer waits for the store to the slot to forward to the load from it,
//! which was the latency of every chain of dependent instructions (a pointer chase, an
//! arithmetic expression).
//!
//! Which operands come from the accumulator is a handler's `const ACC: u8` parameter: bit 1
//! for its first operand, 2 for the second, 4 for the third. Lowering picks the variant
//! ([`with_acc1!`] and kin) from [`arrivals`].

use crate::instr::{Instr, Slot};
use crate::vm::Regs;

/// An instruction's operand `BIT` (1, 2 or 4): the accumulator when its `ACC` bits say so,
/// else its slot.
#[inline(always)]
pub(super) fn operand<const ACC: u8, const BIT: u8>(regs: Regs, slot: Slot, acc: u64) -> u64 {
    if ACC & BIT != 0 {
        acc
    } else {
        regs.get(slot)
    }
}

/// The variant of handler `$f` (generic over `const ACC: u8`) for accumulator bits `$bits`,
/// of a handler with one operand that may come from the accumulator.
macro_rules! with_acc1 {
    ($($f:ident)::+, $bits:expr) => {
        match $bits {
            0 => $($f)::+::<0> as $crate::exec::Handler,
            _ => $($f)::+::<1>,
        }
    };
}

/// [`with_acc1!`] for two operands.
macro_rules! with_acc2 {
    ($($f:ident)::+, $bits:expr) => {
        match $bits {
            0 => $($f)::+::<0> as $crate::exec::Handler,
            1 => $($f)::+::<1>,
            2 => $($f)::+::<2>,
            _ => $($f)::+::<3>,
        }
    };
}

/// [`with_acc1!`] for three operands.
macro_rules! with_acc3 {
    ($($f:ident)::+, $bits:expr) => {
        match $bits {
            0 => $($f)::+::<0> as $crate::exec::Handler,
            1 => $($f)::+::<1>,
            2 => $($f)::+::<2>,
            3 => $($f)::+::<3>,
            4 => $($f)::+::<4>,
            5 => $($f)::+::<5>,
            6 => $($f)::+::<6>,
            _ => $($f)::+::<7>,
        }
    };
}
pub(super) use {with_acc1, with_acc2, with_acc3};

/// For each instruction of `code`, the slot whose value the accumulator holds whenever the
/// instruction runs, if any: the result of the instruction before it, when that one passes
/// its result on (`result`) and this one is reached from it alone (no branch targets it).
pub(super) fn arrivals(
    code: &[Instr],
    result: impl Fn(Instr) -> Option<Slot>,
) -> Vec<Option<Slot>> {
    let mut targeted = vec![false; code.len()];
    for instr in code {
        match *instr {
            Instr::Br { target }
            | Instr::BrIfZero { target, .. }
            | Instr::BrIfNonZero { target, .. }
            | Instr::BrI32Eq { target, .. }
            | Instr::BrI32Ne { target, .. }
            | Instr::BrI32LtS { target, .. }
            | Instr::BrI32LtU { target, .. }
            | Instr::BrI32GtS { target, .. }
            | Instr::BrI32GtU { target, .. }
            | Instr::BrI32LeS { target, .. }
            | Instr::BrI32LeU { target, .. }
            | Instr::BrI32GeS { target, .. }
            | Instr::BrI32GeU { target, .. } => {
                if let Some(t) = targeted.get_mut(target as usize) {
                    *t = true;
                }
            }
            _ => {}
        }
    }
    (0..code.len())
        .map(|at| {
            let before = at.checked_sub(1)?;
            if targeted[at] {
                return None;
            }
            result(code[before])
        })
        .collect()
}
