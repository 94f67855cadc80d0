//! Results that need no slot: which instructions may run the handler variant that leaves
//! its result in the accumulator only (the [`DISCARD`](super::acc::DISCARD) bit).
//!
//! An instruction's result is always passed on as the accumulator; writing it to its slot
//! as well is needed only when something reads the slot. When the next instruction takes
//! the value from the accumulator, reads the slot in no other way, and the slot is dead
//! after it, the write is dead too. For a temporary that follows from the operand stack:
//! a stack entry is read once, by the instruction that pops it, and the translator records
//! the stack's height after each instruction, so a temporary above that height is dead.
//!
//! The writes dropped this way were a tenth of `matmul`'s instructions and a twentieth of
//! most others'. Locals are left out: the benchmark programs' loops had no local that the
//! next instruction reads and every way on writes before reading it again (a look-ahead
//! search for those found none), so the search would only cost translation time.

use std::cell::Cell;

use super::result;
use crate::instr::{slot_uses, Instr, Slot};

/// What lowering knows of a translated function's operand stack: its entry at position `p`
/// is in slot `temps + p` (a temporary); `heights` has its height after each instruction
/// (at least: an instruction that copies values a branch carries counts them). The frame
/// header is at `header` (see [`crate::vm::FrameHeader`]), which `Return`s read.
pub(crate) struct FrameSlots<'a> {
    pub(crate) temps: Slot,
    pub(crate) header: Slot,
    pub(crate) heights: &'a [u32],
}

/// Whether instruction `at` need not write its result: the next instruction takes it from
/// the accumulator (`arrivals`, `reads`: per instruction, the slot the accumulator holds
/// and the accumulator bits of its operands) and reads the slot in no other way, and the
/// slot is dead after that: it is a temporary, and the next instruction writes it or leaves
/// the stack below it. A `Return` is no such reader: the frame's result slots are read
/// after it.
pub(super) fn discards_result(
    code: &[Instr],
    at: usize,
    arrivals: &[Option<(Slot, bool)>],
    reads: &[Cell<u8>],
    frame: &FrameSlots<'_>,
) -> bool {
    let Some((dst, _)) = result(code[at]) else {
        return false;
    };
    let next = at + 1;
    let Some(&instr) = code.get(next) else {
        return false;
    };
    if matches!(instr, Instr::Arg { .. } | Instr::Return)
        || arrivals[next].map(|(slot, _)| slot) != Some(dst)
        || reads[next].get() == 0
    {
        return false;
    }
    let Some(position) = dst.checked_sub(frame.temps) else {
        return false;
    };
    let (uses, writes) = slot_uses(code, next, dst);
    uses == 1 && (writes || frame.heights[next] <= position)
}
