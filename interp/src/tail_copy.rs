//! Tail duplication: a `Br` to a short block that ends in a jump of its own (another
//! `Br`, a `br_table`, a return) is replaced by a copy of that block.
//!
//! Why: such a `Br` is a dispatch that does no work. The typical case is a `switch` inside
//! a loop, which compilers emit as a `br_table` at the loop header with every case
//! branching back to it: with a copy of the header at the end of every case, each case
//! runs one dispatch fewer, and the header's first instruction, now reached from the
//! case's last alone, can take its operand from the accumulator. (The copies share their
//! handlers, so they add no dispatch jumps of their own: the branch predictor sees the same
//! jumps as before, less one.) The copy's instructions keep their branch targets (into the
//! original code), so any block that ends in an unconditional jump can be copied.

use crate::instr::Instr;

/// Most instructions of a block copied in place of a `Br`, not counting a `br_table`'s
/// entries.
const MAX_BLOCK: usize = 12;

/// Most entries of a `br_table` that ends a copied block.
const MAX_TABLE: u32 = 64;

/// Replaces every `Br` whose target block qualifies (see the module docs) by a copy of the
/// block, and renumbers all branch targets. `heights` holds one entry per instruction and
/// is copied along.
pub(crate) fn copy_tails(code: &mut Vec<Instr>, heights: &mut Vec<u32>) {
    debug_assert_eq!(code.len(), heights.len());
    // A `br_table`'s entries are its own, not jumps to replace.
    let mut table_entry = vec![false; code.len()];
    for (at, instr) in code.iter().enumerate() {
        if let Instr::BrTable { len, .. } = *instr {
            let entries = at + 1..=at + 1 + len as usize;
            table_entry[entries].iter_mut().for_each(|e| *e = true);
        }
    }
    // The end (exclusive) of the short block starting at `start`, if it ends in a jump.
    let block_end = |start: usize| -> Option<usize> {
        let (at, last) = code
            .iter()
            .enumerate()
            .skip(start)
            .take(MAX_BLOCK)
            .find(|(_, instr)| !instr.falls_through())?;
        match *last {
            // The block takes the table's entries along.
            Instr::BrTable { len, .. } => (len <= MAX_TABLE).then(|| at + 2 + len as usize),
            _ => Some(at + 1),
        }
    };
    // At most four times as many instructions added as the function has (a `switch` loop
    // of twenty cases adds three times its length), so that no body of many jumps to one
    // block with a long table grows without bound.
    let mut budget = 4 * code.len();
    let mut copies: Vec<Option<(usize, usize)>> = vec![None; code.len()];
    for (at, instr) in code.iter().enumerate() {
        let Instr::Br { target } = *instr else {
            continue;
        };
        let start = target as usize;
        let Some(end) = block_end(start) else {
            continue;
        };
        if !table_entry[at] && !(start..end).contains(&at) && end - start - 1 <= budget {
            budget -= end - start - 1;
            copies[at] = Some((start, end));
        }
    }
    if copies.iter().all(Option::is_none) {
        return;
    }
    // Where each original instruction ends up (one past the end for a target there).
    let mut new_at = Vec::with_capacity(code.len() + 1);
    let mut len = 0u32;
    for copy in &copies {
        new_at.push(len);
        len += copy.map_or(1, |(start, end)| (end - start) as u32);
    }
    new_at.push(len);
    let mut new_code = Vec::with_capacity(len as usize);
    let mut new_heights = Vec::with_capacity(len as usize);
    for (at, copy) in copies.iter().enumerate() {
        let (start, end) = copy.unwrap_or((at, at + 1));
        new_code.extend_from_slice(&code[start..end]);
        new_heights.extend_from_slice(&heights[start..end]);
    }
    for instr in &mut new_code {
        if let Some(target) = instr.branch_target_mut() {
            *target = new_at[*target as usize];
        }
    }
    *code = new_code;
    *heights = new_heights;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(dst: u32) -> Instr {
        Instr::I32Add { dst, a: dst, b: 9 }
    }

    /// A `switch` in a loop: the header (0..3) ends in a two-entry `br_table`, each case
    /// branches back to it, and one case branches to the exit (a `Return`).
    #[test]
    fn cases_get_their_own_dispatch() {
        let mut code = vec![
            add(1),                                 // 0: header
            Instr::BrTable { index: 1, len: 1 },    // 1
            Instr::Br { target: 4 },                // 2: entry 0
            Instr::Br { target: 6 },                // 3: entry 1 (default)
            add(2),                                 // 4: case 0
            Instr::Br { target: 0 },                // 5
            add(3),                                 // 6: case 1
            Instr::BrIfZero { cond: 3, target: 0 }, // 7
            Instr::Br { target: 9 },                // 8
            Instr::Return,                          // 9
        ];
        let mut heights: Vec<u32> = (0..code.len() as u32).collect();
        copy_tails(&mut code, &mut heights);
        // Case 0 ends in a copy of the header, case 1 in a copy of the exit; the copies'
        // targets are the original code's, renumbered.
        let header = [
            add(1),
            Instr::BrTable { index: 1, len: 1 },
            Instr::Br { target: 4 },
            Instr::Br { target: 9 },
        ];
        let mut expected = header.to_vec();
        expected.push(add(2));
        expected.extend(header);
        expected.extend([
            add(3),
            Instr::BrIfZero { cond: 3, target: 0 },
            Instr::Return,
            Instr::Return,
        ]);
        assert_eq!(code, expected);
        // Each copied instruction keeps its stack height.
        assert_eq!(heights, [0, 1, 2, 3, 4, 0, 1, 2, 3, 6, 7, 9, 9]);
    }

    /// A block is not copied over the jump that ends it (a loop of one block), nor when
    /// it is longer than `MAX_BLOCK`, nor when it falls through to what follows.
    #[test]
    fn only_short_blocks_ending_elsewhere_are_copied() {
        let mut code = vec![add(1), Instr::Br { target: 0 }];
        let mut heights = vec![0; 2];
        copy_tails(&mut code, &mut heights);
        assert_eq!(code, [add(1), Instr::Br { target: 0 }]);

        let mut code: Vec<Instr> = (0..MAX_BLOCK as u32).map(add).collect();
        code.push(Instr::Return);
        code.push(Instr::Br { target: 0 });
        let before = code.clone();
        let mut heights = vec![0; code.len()];
        copy_tails(&mut code, &mut heights);
        assert_eq!(code, before);

        // Many jumps to one block with a long table: copies add at most four times the
        // function's own length.
        let table = [Instr::BrTable {
            index: 1,
            len: MAX_TABLE,
        }]
        .into_iter()
        .chain((0..=MAX_TABLE).map(|_| Instr::Return));
        let mut code: Vec<Instr> = table
            .chain((0..100).map(|_| Instr::Br { target: 0 }))
            .collect();
        let before = code.len();
        let mut heights = vec![0; code.len()];
        copy_tails(&mut code, &mut heights);
        assert!(code.len() > before && code.len() <= 5 * before);

        let mut code = vec![
            Instr::Br { target: 2 },
            Instr::Return,
            add(1),
            Instr::BrIfZero { cond: 1, target: 1 },
            add(2),
            add(3),
        ];
        let before = code.clone();
        let mut heights = vec![0; code.len()];
        copy_tails(&mut code, &mut heights);
        assert_eq!(code, before);
    }
}
