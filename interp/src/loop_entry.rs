//! Loop entries that bring a counted loop's counter in the accumulator.
//!
//! Why: in a loop such as `for (m = start; m < n; m += step) flags[m] = 1`, the counter is
//! the one value carried from each iteration to the next, and it lives in its slot: each
//! iteration's `m += step` loads it, which waits for the previous iteration's store of it to
//! forward (some five cycles), so a loop of two dispatches ran at the pace of that chain.
//! The fused back edge (`exec::fused`) leaves the counter in the accumulator when the loop
//! header reads it, but the header reads it from there only when every way in agrees,
//! and the way in from before the loop usually holds another value (the test that skips
//! an empty loop). So the loop is entered through a `Copy` of the counter to itself: it
//! costs one dispatch per entry, and then the header, the body's instructions that pass
//! the accumulator on and the back edge's add all take the counter from the register.
//!
//! The `Copy` goes before the header, the fall-through from before the loop reaches it,
//! and every branch to the header (the back edges) skips it.

use crate::exec::back_edge_carry;
use crate::instr::{Instr, Slot};

/// Inserts a `Copy` of the counter to itself before the header of every loop whose fused
/// back edge leaves its counter in the accumulator (the header reads it) and which is
/// entered by falling through from an instruction that leaves something else there.
/// Renumbers all branch targets; `heights` (one entry per instruction) gets the header's
/// height for each `Copy`.
pub(crate) fn carry_counters(code: &mut Vec<Instr>, heights: &mut Vec<u32>) {
    debug_assert_eq!(code.len(), heights.len());
    // Per position: the counter to copy in before it.
    let mut entries: Vec<Option<Slot>> = vec![None; code.len()];
    for at in 0..code.len() {
        let Some((counter, true)) = back_edge_carry(code, at) else {
            continue;
        };
        let Some(&mut header) = code[at].clone().branch_target_mut() else {
            continue;
        };
        let header = header as usize;
        let Some(before) = header.checked_sub(1) else {
            continue;
        };
        // Only a loop (a branch back), entered by falling through from an instruction that
        // does not leave the counter already (its result: `m = p * p`).
        if header >= at || !code[before].falls_through() || writes(code[before], counter) {
            continue;
        }
        entries[header] = Some(counter);
    }
    if entries.iter().all(Option::is_none) {
        return;
    }
    // Where each original instruction ends up; a branch to a header goes past its `Copy`.
    let mut new_at = Vec::with_capacity(code.len() + 1);
    let mut len = 0u32;
    for entry in &entries {
        len += u32::from(entry.is_some());
        new_at.push(len);
        len += 1;
    }
    new_at.push(len);
    let mut new_code = Vec::with_capacity(len as usize);
    let mut new_heights = Vec::with_capacity(len as usize);
    for (at, entry) in entries.iter().enumerate() {
        if let Some(counter) = *entry {
            new_code.push(Instr::Copy {
                dst: counter,
                src: counter,
            });
            new_heights.push(heights[at]);
        }
        new_code.push(code[at]);
        new_heights.push(heights[at]);
    }
    for instr in &mut new_code {
        if let Some(target) = instr.branch_target_mut() {
            *target = new_at[*target as usize];
        }
    }
    *code = new_code;
    *heights = new_heights;
}

/// Whether `instr` writes `slot` as its result.
fn writes(mut instr: Instr, slot: Slot) -> bool {
    instr.dst_mut().is_some_and(|dst| *dst == slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `for (m = start; m < n; m += step) store m`, after a test that skips it.
    fn strided_loop() -> Vec<Instr> {
        vec![
            Instr::BrI32LeU {
                a: 0,
                b: 1,
                target: 4,
            }, // 0: n <= m: skip
            Instr::I32Store {
                addr: 1,
                value: 9,
                offset: 0,
            }, // 1: header
            Instr::I32Add { dst: 1, a: 1, b: 2 }, // 2: m += step
            Instr::BrI32LtU {
                a: 1,
                b: 0,
                target: 1,
            }, // 3: m < n: again
            Instr::Return,                        // 4
        ]
    }

    #[test]
    fn a_copy_of_the_counter_enters_the_loop() {
        let mut code = strided_loop();
        let mut heights = vec![0, 1, 2, 3, 4];
        carry_counters(&mut code, &mut heights);
        let mut expected = strided_loop();
        expected.insert(1, Instr::Copy { dst: 1, src: 1 });
        // The skip goes past the loop, the back edge to the header past the copy.
        expected[1 + 3] = Instr::BrI32LtU {
            a: 1,
            b: 0,
            target: 2,
        };
        expected[0] = Instr::BrI32LeU {
            a: 0,
            b: 1,
            target: 5,
        };
        assert_eq!(code, expected);
        assert_eq!(heights, [0, 1, 1, 2, 3, 4]);
    }

    #[test]
    fn loops_entered_with_their_counter_or_not_reading_it_stay() {
        // Entered right after the counter's own computation.
        let mut code = strided_loop();
        code[0] = Instr::I32Mul { dst: 1, a: 2, b: 2 };
        let before = code.clone();
        carry_counters(&mut code, &mut vec![0; 5]);
        assert_eq!(code, before);
        // A header that does not read the counter.
        let mut code = strided_loop();
        code[1] = Instr::I32Store {
            addr: 7,
            value: 9,
            offset: 0,
        };
        let before = code.clone();
        carry_counters(&mut code, &mut vec![0; 5]);
        assert_eq!(code, before);
    }
}
