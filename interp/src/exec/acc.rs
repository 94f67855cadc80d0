//! The accumulator: the last result, carried in a register from handler to handler.
//!
//! Every instruction that computes a value writes it to its result slot and passes it to the
//! next handler as the accumulator argument, and branches pass on the accumulator they
//! arrived with. A call continues with its first result there, whichever way it went (an
//! interpreted callee's return, native code, the array convention). An instruction whose operand is that slot on every way in (it falls
//! through from the instruction that wrote it and is no branch target, or every branch to
//! it and the fall-through agree) reads the operand from the accumulator instead: the
//! dependency no longer waits for the store to the slot to forward to the load from it,
//! which was the latency of every chain of dependent instructions (a pointer chase, an
//! arithmetic expression).
//!
//! Which operands come from the accumulator is a handler's `const ACC: u8` parameter: bit 1
//! for its first operand, 2 for the second, 4 for the third. Lowering picks the variant
//! ([`with_acc1!`] and kin) from [`arrivals`].
//!
//! An `f64` result also travels in a float argument register (the float accumulator), and
//! an `f64` operand whose value arrives there reads it from it: a chain of `f64`
//! operations then stays in float registers instead of moving each value to a general
//! register and back. Which operations take and give `f64`s is read off the names of their
//! [`crate::semantics`] functions ([`takes_f64`], [`gives_f64`]) when the handlers are
//! compiled.

use crate::instr::{Instr, Slot};
use crate::vm::Regs;

/// The `ACC` bit of a handler whose result only the accumulator carries on: the next
/// instruction takes it from there and the slot is dead after it (see
/// [`super::discard`]), so the handler does not write it.
pub(super) const DISCARD: u8 = 8;

/// The `ACC` bits of a pair's second ([`super::pairs`]) whose first (bit 16) or second (bit
/// 32) operand is the slot the pair's first instruction arrived with in the accumulator (and
/// does not write): the pair still has that value in a register when the second runs.
pub(super) const ARRIVED_A: u8 = 16;
pub(super) const ARRIVED_B: u8 = 32;

/// Writes result `v` to `slot`, unless the `ACC` bits say it is discarded.
#[inline(always)]
pub(super) fn write_result<const ACC: u8>(regs: Regs, slot: Slot, v: u64) {
    if ACC & DISCARD == 0 {
        regs.set(slot, v);
    }
}

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

/// [`operand`] for an operand of type `f64` when `F64`: from the float accumulator.
#[inline(always)]
pub(super) fn typed_operand<const ACC: u8, const BIT: u8, const F64: bool>(
    regs: Regs,
    slot: Slot,
    acc: u64,
    facc: f64,
) -> u64 {
    match (ACC & BIT != 0, F64) {
        (false, _) => regs.get(slot),
        (true, false) => acc,
        (true, true) => facc.to_bits(),
    }
}

const fn starts_with(s: &str, prefix: &str) -> bool {
    let (s, prefix) = (s.as_bytes(), prefix.as_bytes());
    if s.len() < prefix.len() {
        return false;
    }
    let mut i = 0;
    while i < prefix.len() {
        if s[i] != prefix[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn ends_with(s: &str, suffix: &str) -> bool {
    let (s, suffix) = (s.as_bytes(), suffix.as_bytes());
    if s.len() < suffix.len() {
        return false;
    }
    let mut i = 0;
    while i < suffix.len() {
        if s[s.len() - suffix.len() + i] != suffix[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether the numeric operation computed by the [`crate::semantics`] function named `op`
/// takes `f64` operands: the `f64_` arithmetic, comparisons and rounding, truncations of an
/// `f64` to an integer, and `f32.demote_f64`.
pub(super) const fn takes_f64(op: &str) -> bool {
    (starts_with(op, "f64_")
        && !starts_with(op, "f64_convert_")
        && !starts_with(op, "f64_promote_"))
        || ends_with(op, "_f64_s")
        || ends_with(op, "_f64_u")
        || ends_with(op, "_demote_f64")
}

/// Whether the numeric operation computed by the [`crate::semantics`] function named `op`
/// gives an `f64`: every `f64_` one but the comparisons.
pub(super) const fn gives_f64(op: &str) -> bool {
    const COMPARISONS: [&str; 6] = ["f64_eq", "f64_ne", "f64_lt", "f64_gt", "f64_le", "f64_ge"];
    if !starts_with(op, "f64_") {
        return false;
    }
    let mut i = 0;
    while i < COMPARISONS.len() {
        if starts_with(op, COMPARISONS[i]) && op.len() == COMPARISONS[i].len() {
            return false;
        }
        i += 1;
    }
    true
}

/// The variant of handler `$f` (generic over `const ACC: u8`) for accumulator bits `$bits`:
/// one of the variants listed (the last one is matched by whatever is not listed before it,
/// which debug builds check is the last).
macro_rules! acc_variant {
    (@one [$($f:tt)*] $bit:literal) => {
        $($f)*::<$bit> as $crate::exec::Handler
    };
    (@match $f:tt, $bits:expr; $($bit:literal)*; $last:literal) => {
        match $bits {
            $( $bit => $crate::exec::acc::acc_variant!(@one $f $bit), )*
            other => {
                debug_assert_eq!(other, $last, "no handler variant for accumulator bits {other}");
                $crate::exec::acc::acc_variant!(@one $f $last)
            }
        }
    };
    ($($f:ident)::+, $bits:expr; $($bit:literal)*; $last:literal) => {
        $crate::exec::acc::acc_variant!(@match [$($f)::+], $bits; $($bit)*; $last)
    };
}

/// [`acc_variant!`] of a handler with one operand that may come from the accumulator.
macro_rules! with_acc1 {
    ($($f:ident)::+, $bits:expr) => {
        $crate::exec::acc::acc_variant!($($f)::+, $bits; 0; 1)
    };
}

/// [`with_acc1!`] for two operands.
macro_rules! with_acc2 {
    ($($f:ident)::+, $bits:expr) => {
        $crate::exec::acc::acc_variant!($($f)::+, $bits; 0 1 2; 3)
    };
}

/// [`with_acc1!`] for three operands.
macro_rules! with_acc3 {
    ($($f:ident)::+, $bits:expr) => {
        $crate::exec::acc::acc_variant!($($f)::+, $bits; 0 1 2 3 4 5 6; 7)
    };
}

/// [`with_acc1!`] for a handler with a result, which may be discarded ([`DISCARD`]).
macro_rules! result_acc1 {
    ($($f:ident)::+, $bits:expr) => {
        $crate::exec::acc::acc_variant!($($f)::+, $bits; 0 1 8; 9)
    };
}

/// [`with_acc2!`] for a handler with a result, which may be discarded ([`DISCARD`]).
macro_rules! result_acc2 {
    ($($f:ident)::+, $bits:expr) => {
        $crate::exec::acc::acc_variant!($($f)::+, $bits; 0 1 2 3 8 9 10; 11)
    };
}
pub(super) use {acc_variant, result_acc1, result_acc2, with_acc1, with_acc2, with_acc3};

/// The target of a branch instruction.
fn branch_target(instr: &Instr) -> Option<u32> {
    instr.clone().branch_target_mut().copied()
}

/// Whether `instr` is a conditional branch, which falls through with the accumulators it
/// arrived with.
fn is_conditional_branch(instr: &Instr) -> bool {
    branch_target(instr).is_some() && !matches!(instr, Instr::Br { .. })
}

/// For each instruction of `code`, the slot whose value the accumulator holds whenever the
/// instruction runs, if any, and whether the float accumulator holds it too. The first
/// instruction is entered with `entry` there (a function's first argument).
///
/// An instruction no branch targets is reached from the instruction before it alone, and
/// finds that one's result there, when it passes its result on (`result`: the slot, and
/// whether it is an `f64` also passed in the float accumulator). A branch target finds it
/// when every way in agrees: the fall-through from the instruction before (if that one
/// falls through) and every branch to it, which passes on the accumulators it arrived with
/// (so a pointer-chasing loop whose back edge tests the pointer it loaded, entered after
/// computing the same pointer, gets it in the accumulator at its header). A branch that
/// `back_edge` says is fused with the `i32.add` before it leaves from the fused instruction
/// with what that one arrived with, unless it is the slot the add writes (the slot
/// `back_edge` returns), or with that counter when `back_edge` says it leaves there.
///
/// An instruction that `keeps` (a store) passes on what it arrived with.
///
/// An instruction for which `passing` gives the slot it writes may pass on what it arrived
/// with instead of its result (a counter's increment between a value and its use, as
/// `key = node->key; depth++; if (k < key)`): it does when it arrives with another slot's
/// value ([`Arrivals::passes_on`]) and, where `passing` says so, the next instruction reads
/// that slot; lowering gives it the handler that does.
pub(super) fn arrivals(
    code: &[Instr],
    entry: Option<(Slot, bool)>,
    result: impl Fn(usize) -> Option<(Slot, bool)>,
    back_edge: impl Fn(usize) -> Option<(Slot, bool)>,
    passing: impl Fn(usize) -> Option<(Slot, bool)>,
    keeps: impl Fn(usize) -> bool,
) -> Arrivals {
    let mut sources: Vec<Vec<usize>> = vec![Vec::new(); code.len()];
    for (at, instr) in code.iter().enumerate() {
        if let Some(t) = branch_target(instr).and_then(|t| sources.get_mut(t as usize)) {
            t.push(at);
        }
    }
    let targeted = |at: usize| !sources[at].is_empty();
    // What the solving rounds ask of each instruction, asked once.
    let result: Vec<Option<(Slot, bool)>> = (0..code.len()).map(result).collect();
    let back_edge: Vec<Option<(Slot, bool)>> = (0..code.len()).map(back_edge).collect();
    let passing: Vec<Option<(Slot, bool)>> = (0..code.len()).map(passing).collect();
    let keeps: Vec<bool> = (0..code.len()).map(keeps).collect();
    // What each instruction arrives with, given `assumed` for the branch targets: from the
    // instruction before it alone for the others. And whether it passes that on instead of
    // its result, and what each instruction arrives with from every way in.
    let solve = |assumed: &[Option<(Slot, bool)>]| {
        let mut straight: Vec<Option<(Slot, bool)>> = assumed.to_vec();
        if !code.is_empty() && !targeted(0) {
            straight[0] = entry;
        }
        let mut passes_on = vec![false; code.len()];
        // What the instruction at `at` leaves for the one after it when it falls through:
        // its result, or what it arrived with (a conditional branch, a store, or an
        // instruction that passes that on). The fused back edge that ends at a branch
        // continues past it with the counter when it says so, else with what its add
        // arrived with unless that is the counter; a branch also reached by a jump leaves
        // nothing known.
        let leaves = |at: usize, straight: &[Option<(Slot, bool)>], passes_on: &[bool]| {
            // An `Arg` word is never run: what follows it is reached from the instruction it
            // belongs to.
            let at = match code[at] {
                Instr::Arg { .. } if at > 0 => at - 1,
                _ => at,
            };
            if passes_on[at] || keeps[at] {
                return straight[at];
            }
            if !is_conditional_branch(&code[at]) {
                return result[at];
            }
            match back_edge[at] {
                Some(_) if targeted(at) => None,
                Some((counter, true)) => Some((counter, false)),
                Some((written, false)) => straight[at - 1].filter(|&(slot, _)| slot != written),
                None => straight[at],
            }
        };
        for at in 0..code.len() {
            if at > 0 && !targeted(at) {
                straight[at] = leaves(at - 1, &straight, &passes_on);
            }
            passes_on[at] = match (passing[at], straight[at]) {
                (Some((written, only_if_read)), Some((held, _))) => {
                    held != written
                        && (!only_if_read
                            || code
                                .get(at + 1)
                                .is_some_and(|_| crate::instr::slot_uses(code, at + 1, held).0 > 0))
                }
                _ => false,
            };
        }
        let arrivals: Vec<Option<(Slot, bool)>> = (0..code.len())
            .map(|at| {
                if !targeted(at) {
                    return straight[at];
                }
                let fall_in = match at.checked_sub(1) {
                    None => Some(entry),
                    Some(before) if code[before].falls_through() => {
                        Some(leaves(before, &straight, &passes_on))
                    }
                    Some(_) => None,
                };
                let jumps = sources[at].iter().map(|&q| match back_edge[q] {
                    Some((counter, true)) if !targeted(q) => Some((counter, false)),
                    Some((written, false)) if !targeted(q) => {
                        straight[q - 1].filter(|&(slot, _)| slot != written)
                    }
                    Some(_) => None,
                    None => straight[q],
                });
                let mut ways = fall_in.into_iter().chain(jumps);
                let first = ways.next()??;
                ways.all(|way| way == Some(first)).then_some(first)
            })
            .collect();
        (passes_on, arrivals)
    };
    // Assuming nothing at branch targets is sound: what an instruction there leaves is
    // then its result or nothing known, and every way in is taken into account. Assuming
    // what that found, and again, finds more (a loop header that passes on the counter
    // its back edge leaves there, to the counter's add); once the assumption is what it
    // finds, every way in to every target agrees with it, so by induction over a run the
    // accumulator holds what it says. Without that within a few rounds, nothing is
    // assumed.
    let nothing = vec![None; code.len()];
    let (mut passes_on, mut arrivals) = solve(&nothing);
    // Nothing found at any target: the first round's assumption was its finding.
    let found = (0..code.len()).any(|at| targeted(at) && arrivals[at].is_some());
    let mut assumed = arrivals.clone();
    for _ in 0..if found { 4 } else { 0 } {
        let (again_passes_on, again) = solve(&assumed);
        if again == assumed {
            (passes_on, arrivals) = (again_passes_on, again);
            break;
        }
        assumed = again;
    }
    Arrivals {
        arrivals,
        passes_on,
    }
}

/// What [`arrivals`] found.
pub(super) struct Arrivals {
    /// Per instruction, the slot whose value the accumulators hold when it runs, if any.
    pub(super) arrivals: Vec<Option<(Slot, bool)>>,
    /// Per instruction, whether it passes on the accumulators it arrived with instead of its
    /// result (see `passing` of [`arrivals`]).
    pub(super) passes_on: Vec<bool>,
}

impl Arrivals {
    /// Nothing known anywhere: every operand is read from its slot.
    pub(super) fn none(len: usize) -> Arrivals {
        Arrivals {
            arrivals: vec![None; len],
            passes_on: vec![false; len],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f64_operations_are_told_apart_by_name() {
        for op in [
            "f64_add",
            "f64_sqrt",
            "f64_lt",
            "i32_trunc_f64_s",
            "i64_trunc_sat_f64_u",
        ] {
            assert!(takes_f64(op), "{op}");
        }
        assert!(takes_f64("f32_demote_f64"));
        for op in [
            "f64_convert_i32_s",
            "f64_promote_f32",
            "i32_add",
            "f32_add",
            "i64_eq",
        ] {
            assert!(!takes_f64(op), "{op}");
        }
        for op in [
            "f64_add",
            "f64_neg",
            "f64_convert_i64_u",
            "f64_promote_f32",
            "f64_copysign",
        ] {
            assert!(gives_f64(op), "{op}");
        }
        for op in [
            "f64_eq",
            "f64_ge",
            "i32_trunc_f64_s",
            "f32_demote_f64",
            "i64_add",
        ] {
            assert!(!gives_f64(op), "{op}");
        }
    }
}
