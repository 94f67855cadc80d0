//! The handlers of the numeric instructions, generated from [`for_each_numeric_op!`] with
//! the function of [`crate::semantics`] each one computes, and their lowering from
//! [`Instr`].
//!
//! Every one reads its operands from the frame (or, per its `ACC` bits, from the
//! accumulator: see [`super::acc`]), writes its result, and continues with the next
//! instruction ([`next!`]) with the result as the accumulator; only a trap (a division by
//! zero, an out-of-bounds access) leaves the chain. The work before continuing is each
//! instruction's [`Step`], so that a superinstruction ([`super::fused`]) can run two.

// The handlers are named after the instructions they run.
#![allow(non_snake_case)]

use super::acc::{
    gives_f64, operand, result_acc1, result_acc2, takes_f64, typed_operand, with_acc1, with_acc2,
    with_acc3, write_result, ARRIVED_A, ARRIVED_B, DISCARD,
};
use super::{next, trap, Consts, Executor, Op};
use crate::instr::{for_each_numeric_op, Instr, Slot};
use crate::semantics as sem;
use crate::vm::{Ip, Memory, Regs};
use strata_environ::TrapCode;

/// The function computing binary operation `$f` with a constant second operand: `$f`
/// itself, or for right shifts by a constant, a multiplication by the constant
/// [`constant!`] stores instead of the count (see [`shift_by_multiply`]).
macro_rules! by_constant {
    (i32_shr_u) => {
        shift_by_multiply::i32_shr_u
    };
    (i32_shr_s) => {
        shift_by_multiply::i32_shr_s
    };
    ($f:ident) => {
        sem::$f
    };
}

/// The immediate [`by_constant!`]`($f)` takes for the constant second operand `$v`.
macro_rules! constant {
    (i32_shr_u, $v:expr) => {
        1u64 << (32 - ($v & 31))
    };
    (i32_shr_s, $v:expr) => {
        1u64 << (32 - ($v & 31))
    };
    ($f:ident, $v:expr) => {
        $v
    };
}

/// 32-bit right shifts by a constant as multiplications by a constant power of two.
///
/// A shift by a count read from the instruction needs the count in `cl` (without BMI2),
/// which costs moves of `rcx` (the accumulator's register, see [`super::Handler`]) and a
/// load of the count besides the shift. A multiplication takes its constant
/// straight from the instruction: the right shift of a 32-bit `x` by `k` is the high half of
/// the 64-bit product `x * 2^(32 - k)` (which cannot overflow: `x` has 32 bits, the factor
/// at most 2^32), sign-extended first for the arithmetic shift. Under callgrind `vm` (which
/// decodes fields with `(x >> k) & mask`) runs 1003M -> 951M instructions; medians of
/// `strata bench --tiers interp`: `hash` 37.8 -> 32.0 ms, `base64` 80.6 -> 78.3 ms.
/// Left shifts keep their shift: as multiplications (three cycles instead of one) they
/// lengthened the address computations of `sort` by 3%.
mod shift_by_multiply {
    pub(super) fn i32_shr_u(a: u64, factor: u64) -> u64 {
        ((a as u32 as u64) * factor) >> 32
    }
    pub(super) fn i32_shr_s(a: u64, factor: u64) -> u64 {
        (((a as u32 as i32 as i64) * factor as i64) >> 32) as u32 as u64
    }
}

/// The end offset (offset plus width) an indexed access stores in `d`; the translator
/// fuses an address sum into an access only when it fits ([`indexed_end_fits`]).
fn indexed_end(offset: u32, width: u32) -> u32 {
    debug_assert!(indexed_end_fits(offset, width));
    offset.wrapping_add(width)
}

/// Whether an access at `offset` of `width` bytes can take the indexed form.
pub(crate) fn indexed_end_fits(offset: u32, width: u32) -> bool {
    offset.checked_add(width).is_some()
}

/// What a [`Step`] leaves: the accumulators for the next instruction, or a trap.
pub(super) type Ran = Result<(u64, f64), TrapCode>;

/// The work of one numeric instruction, apart from continuing: reads the operands of `op`
/// (from the accumulators per its `ACC` bits), writes its result, and returns the
/// accumulators the next instruction receives. A handler is one step ([`single`]); a
/// superinstruction runs two ([`super::fused`]).
pub(super) trait Step {
    fn run<const ACC: u8>(op: &Op, regs: Regs, mem: Memory, acc: u64, facc: f64) -> Ran;
}

/// A binary step whose operands may also be the value the pair it ends arrived with
/// ([`ARRIVED_A`], [`ARRIVED_B`] in its `ACC` bits, see [`super::pairs`]): `x ^= x << 13`
/// then reads `x` from a register rather than from the slot written two instructions
/// before, whose store the load would wait for.
pub(super) trait ArrivalStep {
    fn run_arrived<const ACC: u8>(op: &Op, regs: Regs, acc: u64, arrived: u64, facc: f64) -> Ran;
}

/// A handler named after its instruction (so profiles name it), running `$step` with
/// [`single`].
macro_rules! step_handler {
    ($vis:vis $name:ident, $($step:tt)+) => {
        $vis fn $name<const ACC: u8>(
            ip: Ip,
            regs: Regs,
            ex: &mut Executor<'_>,
            acc: u64,
            mem: Memory,
            facc: f64,
        ) -> Ip {
            single::<$($step)+, ACC>(ip, regs, ex, acc, mem, facc)
        }
    };
}

/// The handler of one step.
#[inline(always)]
pub(super) fn single<S: Step, const ACC: u8>(
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
    facc: f64,
) -> Ip {
    match S::run::<ACC>(ip.op(), regs, mem, acc, facc) {
        Ok((acc, facc)) => next!(ip.skip(1), regs, ex, acc, mem, facc),
        Err(code) => trap(ex, regs, code),
    }
}

/// The handler of a step that passes on the accumulators it arrived with instead of its
/// result (see [`passing_candidate`]).
#[inline(always)]
fn passing_single<S: Step, const ACC: u8>(
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
    facc: f64,
) -> Ip {
    match S::run::<ACC>(ip.op(), regs, mem, acc, facc) {
        Ok(_) => next!(ip.skip(1), regs, ex, acc, mem, facc),
        Err(code) => trap(ex, regs, code),
    }
}

/// The handler of step `S` (an `imm` form) passing on what it arrived with.
fn imm_passing<S: Step, const ACC: u8>(
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
    facc: f64,
) -> Ip {
    passing_single::<S, ACC>(ip, regs, ex, acc, mem, facc)
}

/// The slot instruction `at` writes if it may pass on the accumulators it arrived with
/// instead of its result, and whether only when the next instruction reads what it passes
/// on: an `i32` operation with a constant (an add, subtraction, mask, shift, `or`, `xor`
/// or multiplication) whose result the next instruction does not take from the
/// accumulator. Such an instruction between a value and its use would otherwise cut the
/// value's way through the accumulator: a local counted up or down (`i = i + 1`), a value
/// stepped from a copy of itself (`pc = old + 1`, then a load at `old`), or one field of a
/// word taken out before the next (`a = w >> 8; b = w & 255`). All but the counted local
/// pass on only to a next instruction that reads what they arrived with (else they would
/// keep that instruction from pairing with them for nothing). And a copy of a call's
/// argument between a `call_indirect` and its table index ([`copies_index_past`]).
pub(super) fn passing_candidate(
    code: &[Instr],
    at: usize,
    consts: &Consts<'_>,
) -> Option<(Slot, bool)> {
    if let Instr::Copy { dst, .. } = code[at] {
        return copies_index_past(code, at).then_some((dst, false));
    }
    let (dst, a, b, stepped) = match code[at] {
        Instr::I32Add { dst, a, b } | Instr::I32Sub { dst, a, b } => (dst, a, b, true),
        Instr::I32And { dst, a, b }
        | Instr::I32Or { dst, a, b }
        | Instr::I32Xor { dst, a, b }
        | Instr::I32Shl { dst, a, b }
        | Instr::I32ShrU { dst, a, b }
        | Instr::I32Mul { dst, a, b } => (dst, a, b, false),
        _ => return None,
    };
    // By a constant only.
    consts.value(b)?;
    let next = *code.get(at + 1)?;
    // Whether the next instruction would read the counter from the accumulator: only the
    // instructions lowering knows are considered; any other keeps the counter's result.
    let reads = match lower(next, consts, Some((dst, false))) {
        Some(lowered) => lowered.bits != 0,
        None => match (next, super::compare::compare_branch(next)) {
            (_, Some((_, x, y, _))) => x == dst || y == dst,
            (Instr::BrIfZero { cond, .. } | Instr::BrIfNonZero { cond, .. }, _) => cond == dst,
            _ => true,
        },
    };
    (!reads).then_some((dst, !stepped || a != dst))
}

/// Whether the copy at `at` is one of the copies of a call's arguments that lie between a
/// `call_indirect` and the instruction computing its table index (`ops[r >> 28](acc, r)`
/// puts its arguments in place after the index): passing the index on through them, the
/// call reads it from the accumulator (see `super::calls`). At most
/// [`INDEX_COPIES`] copies, so that asking it of every copy stays linear.
fn copies_index_past(code: &[Instr], at: usize) -> bool {
    let is_copy = |k: &usize| matches!(code[*k], Instr::Copy { .. });
    let Some(end) = (at..code.len())
        .take(INDEX_COPIES + 1)
        .find(|k| !is_copy(k))
    else {
        return false;
    };
    let Instr::CallIndirect { index, .. } = code[end] else {
        return false;
    };
    let Some(start) = (0..at).rev().take(INDEX_COPIES + 1).find(|k| !is_copy(k)) else {
        return false;
    };
    if end - start - 1 > INDEX_COPIES {
        return false;
    }
    let writes_index = |instr: &Instr| matches!(*instr, Instr::Copy { dst, .. } if dst == index);
    result(code[start]) == Some((index, false)) && !code[start + 1..end].iter().any(writes_index)
}

/// The most argument copies [`copies_index_past`] passes a table index through.
const INDEX_COPIES: usize = 16;

/// `lowered` (a [`passing_candidate`]) with the handler that passes on what it arrived with.
pub(super) fn passing(lowered: Lowered) -> Op {
    // The handler of step `imm::$s` for the accumulator bits.
    macro_rules! by_bits {
        ($s:ident) => {
            match lowered.bits {
                0 => imm_passing::<step::imm::$s, 0> as super::Handler,
                _ => imm_passing::<step::imm::$s, 1>,
            }
        };
    }
    let handler = match lowered.kind {
        Kind::I32Add => by_bits!(I32Add),
        Kind::I32Sub => by_bits!(I32Sub),
        Kind::I32And => by_bits!(I32And),
        Kind::I32Or => by_bits!(I32Or),
        Kind::I32Xor => by_bits!(I32Xor),
        Kind::I32Shl => by_bits!(I32Shl),
        Kind::I32ShrU => by_bits!(I32ShrU),
        Kind::I32Mul => by_bits!(I32Mul),
        Kind::Copy => match lowered.bits {
            0 => copy_passing::<0> as super::Handler,
            _ => copy_passing::<1>,
        },
        kind => unreachable!("{kind:?} is no passing candidate"),
    };
    Op {
        handler,
        ..lowered.op
    }
}

/// A lowered numeric instruction, with what [`super::fused`] needs to pair it.
pub(super) struct Lowered {
    pub(super) op: Op,
    pub(super) kind: Kind,
    /// Whether it is the form of [`step::imm`].
    pub(super) imm: bool,
    /// Its accumulator bits.
    pub(super) bits: u8,
    /// Whether it is a `CONSTANT` form: an indexed access with a constant second addend (see
    /// [`step`]), or a division by a constant (whose layout no pair step reads; the table
    /// has no `const` entry for divisions).
    pub(super) constant: bool,
}

/// `a = b + (c << SHIFT)` (`i32`): an index scaled to an element's offset, added to a base.
pub(super) struct I32AddShifted<const SHIFT: u32>;

impl<const SHIFT: u32> Step for I32AddShifted<SHIFT> {
    #[inline(always)]
    fn run<const ACC: u8>(op: &Op, regs: Regs, _: Memory, acc: u64, facc: f64) -> Ran {
        let index = operand::<ACC, 2>(regs, op.c, acc) as u32;
        let v = (operand::<ACC, 1>(regs, op.b, acc) as u32).wrapping_add(index << SHIFT) as u64;
        write_result::<ACC>(regs, op.a, v);
        Ok((v, facc))
    }
}

step_handler!(i32_add_shifted_1, I32AddShifted<1>);
step_handler!(i32_add_shifted_2, I32AddShifted<2>);
step_handler!(i32_add_shifted_3, I32AddShifted<3>);

macro_rules! define_numeric {
    (
        unary { $($un:ident $unf:ident,)* }
        unary_trapping { $($unt:ident $untf:ident,)* }
        binary { $($bin:ident $binf:ident,)* }
        binary_trapping { $($bint:ident $bintf:ident,)* }
        load { $($load:ident $loadi:ident $lw:literal $lconv:expr,)* }
        store { $($store:ident $storei:ident $sw:literal $sconv:expr,)* }
    ) => {
        /// The work of each numeric instruction, one type per instruction (and per constant
        /// operand form, in [`step::imm`]).
        pub(super) mod step {
            /// `a = b`.
            pub(in super::super) struct Copy;
            /// `a = b + (c << 2)`.
            pub(in super::super) type I32AddShifted2 = super::I32AddShifted<2>;
            $( pub(in super::super) struct $un; )*
            $( pub(in super::super) struct $unt; )*
            $( pub(in super::super) struct $bin; )*
            $( pub(in super::super) struct $bint; )*
            $( pub(in super::super) struct $load; )*
            $( pub(in super::super) struct $store; )*
            /// Indexed accesses; `SCALED` shifts the second addend left by the log2 of the
            /// access's width, and with `CONSTANT` the second addend is a constant in the
            /// `Op` instead of a slot (`in[i + 1]`, a table's base).
            $( pub(in super::super) struct $loadi<const SCALED: bool = false, const CONSTANT: bool = false>; )*
            $( pub(in super::super) struct $storei<const SCALED: bool = false, const CONSTANT: bool = false>; )*
            /// The forms with a constant operand: binary instructions whose second operand is
            /// a constant, in `c` (low half) and `d` (high half) of the
            /// [`Op`](super::super::Op), and indexed accesses whose second addend is scaled
            /// by the constant width (an array element's index).
            pub(in super::super) mod imm {
                $( pub(in super::super::super) struct $bin; )*
                $( pub(in super::super::super) struct $bint; )*
                $( pub(in super::super::super) type $loadi = super::$loadi<true>; )*
                $( pub(in super::super::super) type $storei = super::$storei<true>; )*
            }
        }

        /// Which numeric instruction an [`Op`] runs, so [`super::fused`] can tell pairs.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(super) enum Kind {
            Copy,
            /// [`I32AddShifted`] by 1, 2 and 3.
            I32AddShifted1,
            I32AddShifted2,
            I32AddShifted3,
            $( $un, )* $( $unt, )* $( $bin, )* $( $bint, )*
            $( $load, )* $( $store, )* $( $loadi, )* $( $storei, )*
        }

        $(
            /// `a = op(b)`.
            impl Step for step::$un {
                #[inline(always)]
                fn run<const ACC: u8>(op: &Op, regs: Regs, _: Memory, acc: u64, facc: f64) -> Ran {
                    const IN: bool = takes_f64(stringify!($unf));
                    const OUT: bool = gives_f64(stringify!($unf));
                    let v = sem::$unf(typed_operand::<ACC, 1, IN>(regs, op.b, acc, facc));
                    write_result::<ACC>(regs, op.a, v);
                    Ok((v, if OUT { f64::from_bits(v) } else { facc }))
                }
            }
            step_handler!($un, step::$un);
        )*
        $(
            /// `a = op(b)`, or a trap.
            impl Step for step::$unt {
                #[inline(always)]
                fn run<const ACC: u8>(op: &Op, regs: Regs, _: Memory, acc: u64, facc: f64) -> Ran {
                    const IN: bool = takes_f64(stringify!($untf));
                    let v = sem::$untf(typed_operand::<ACC, 1, IN>(regs, op.b, acc, facc))?;
                    write_result::<ACC>(regs, op.a, v);
                    Ok((v, facc))
                }
            }
            step_handler!($unt, step::$unt);
        )*
        $(
            /// `a = b op c`.
            impl Step for step::$bin {
                #[inline(always)]
                fn run<const ACC: u8>(op: &Op, regs: Regs, _: Memory, acc: u64, facc: f64) -> Ran {
                    const IN: bool = takes_f64(stringify!($binf));
                    const OUT: bool = gives_f64(stringify!($binf));
                    let v = sem::$binf(
                        typed_operand::<ACC, 1, IN>(regs, op.b, acc, facc),
                        typed_operand::<ACC, 2, IN>(regs, op.c, acc, facc),
                    );
                    write_result::<ACC>(regs, op.a, v);
                    Ok((v, if OUT { f64::from_bits(v) } else { facc }))
                }
            }
            impl ArrivalStep for step::$bin {
                #[inline(always)]
                fn run_arrived<const ACC: u8>(
                    op: &Op, regs: Regs, acc: u64, arrived: u64, facc: f64,
                ) -> Ran {
                    const IN: bool = takes_f64(stringify!($binf));
                    const OUT: bool = gives_f64(stringify!($binf));
                    let a = match ACC & ARRIVED_A {
                        0 => typed_operand::<ACC, 1, IN>(regs, op.b, acc, facc),
                        _ => arrived,
                    };
                    let b = match ACC & ARRIVED_B {
                        0 => typed_operand::<ACC, 2, IN>(regs, op.c, acc, facc),
                        _ => arrived,
                    };
                    let v = sem::$binf(a, b);
                    write_result::<ACC>(regs, op.a, v);
                    Ok((v, if OUT { f64::from_bits(v) } else { facc }))
                }
            }
            /// `a = b op imm`.
            impl Step for step::imm::$bin {
                #[inline(always)]
                fn run<const ACC: u8>(op: &Op, regs: Regs, _: Memory, acc: u64, facc: f64) -> Ran {
                    const IN: bool = takes_f64(stringify!($binf));
                    const OUT: bool = gives_f64(stringify!($binf));
                    let v = by_constant!($binf)(
                        typed_operand::<ACC, 1, IN>(regs, op.b, acc, facc),
                        op.imm(),
                    );
                    write_result::<ACC>(regs, op.a, v);
                    Ok((v, if OUT { f64::from_bits(v) } else { facc }))
                }
            }
            step_handler!($bin, step::$bin);
        )*
        $(
            /// `a = b op c`, or a trap.
            impl Step for step::$bint {
                #[inline(always)]
                fn run<const ACC: u8>(op: &Op, regs: Regs, _: Memory, acc: u64, facc: f64) -> Ran {
                    let v = sem::$bintf(
                        operand::<ACC, 1>(regs, op.b, acc),
                        operand::<ACC, 2>(regs, op.c, acc),
                    )?;
                    write_result::<ACC>(regs, op.a, v);
                    Ok((v, facc))
                }
            }
            /// `a = b op imm`, or a trap.
            impl Step for step::imm::$bint {
                #[inline(always)]
                fn run<const ACC: u8>(op: &Op, regs: Regs, _: Memory, acc: u64, facc: f64) -> Ran {
                    let v = sem::$bintf(operand::<ACC, 1>(regs, op.b, acc), op.imm())?;
                    write_result::<ACC>(regs, op.a, v);
                    Ok((v, facc))
                }
            }
            step_handler!($bint, step::$bint);
        )*
        /// The handlers of [`step::imm`].
        mod imm {
            use super::*;
            $(
                step_handler!(pub(super) $bin, step::imm::$bin);
            )*
            $(
                step_handler!(pub(super) $bint, step::imm::$bint);
            )*
            $(
                step_handler!(pub(super) $loadi, step::imm::$loadi);
            )*
            $(
                step_handler!(pub(super) $storei, step::imm::$storei);
            )*
        }
        /// The handlers of the indexed accesses with a constant second addend.
        mod constant_addend {
            use super::*;
            $(
                step_handler!(pub(super) $loadi, step::$loadi<false, true>);
            )*
            $(
                step_handler!(pub(super) $storei, step::$storei<false, true>);
            )*
        }
        $(
            /// `a = memory[b + c]`.
            impl Step for step::$load {
                #[inline(always)]
                fn run<const ACC: u8>(op: &Op, regs: Regs, mem: Memory, acc: u64, facc: f64) -> Ran {
                    const OUT: bool = load_gives_f64(stringify!($load));
                    let end = operand::<ACC, 1>(regs, op.b, acc) as u32 as u64 + op.imm();
                    // SAFETY: lowering stores the offset plus the width in `c` and `d`.
                    let bytes = unsafe { mem.load_ending_at::<$lw>(end) }
                        .ok_or(TrapCode::MemoryOutOfBounds)?;
                    let v = ($lconv)(bytes);
                    write_result::<ACC>(regs, op.a, v);
                    Ok((v, if OUT { f64::from_bits(v) } else { facc }))
                }
            }
            step_handler!($load, step::$load);
        )*
        $(
            /// `memory[a + c] = b`; passes the accumulators on unchanged.
            impl Step for step::$store {
                #[inline(always)]
                fn run<const ACC: u8>(op: &Op, regs: Regs, mem: Memory, acc: u64, facc: f64) -> Ran {
                    const VALUE: bool = store_takes_f64(stringify!($store));
                    let end = operand::<ACC, 1>(regs, op.a, acc) as u32 as u64 + op.imm();
                    let bytes: [u8; $sw] =
                        ($sconv)(typed_operand::<ACC, 2, VALUE>(regs, op.b, acc, facc));
                    // SAFETY: lowering stores the offset plus the width in `c` and `d`.
                    unsafe { mem.store_ending_at(end, bytes) }
                        .ok_or(TrapCode::MemoryOutOfBounds)?;
                    Ok((acc, facc))
                }
            }
            step_handler!($store, step::$store);
        )*
        $(
            /// `a = memory[b + c + d]`: a load whose address is a sum (of `b` and `c` scaled
            /// by the width when `SCALED`; `c` itself when `CONSTANT`).
            impl<const SCALED: bool, const CONSTANT: bool> Step for step::$loadi<SCALED, CONSTANT> {
                #[inline(always)]
                fn run<const ACC: u8>(op: &Op, regs: Regs, mem: Memory, acc: u64, facc: f64) -> Ran {
                    const OUT: bool = load_gives_f64(stringify!($load));
                    let addr = indexed_address::<ACC, SCALED, CONSTANT, $lw>(regs, acc, op.b, op.c);
                    // SAFETY: lowering stores the offset plus the width in `d`.
                    let bytes = unsafe { mem.load_ending_at::<$lw>(addr + op.d as u64) }
                        .ok_or(TrapCode::MemoryOutOfBounds)?;
                    let v = ($lconv)(bytes);
                    write_result::<ACC>(regs, op.a, v);
                    Ok((v, if OUT { f64::from_bits(v) } else { facc }))
                }
            }
            step_handler!($loadi, step::$loadi);
        )*
        $(
            /// `memory[a + b + d] = c`: a store whose address is a sum (of `a` and `b` scaled
            /// by the width when `SCALED`; `b` itself when `CONSTANT`).
            impl<const SCALED: bool, const CONSTANT: bool> Step for step::$storei<SCALED, CONSTANT> {
                #[inline(always)]
                fn run<const ACC: u8>(op: &Op, regs: Regs, mem: Memory, acc: u64, facc: f64) -> Ran {
                    const VALUE: bool = store_takes_f64(stringify!($store));
                    let addr = indexed_address::<ACC, SCALED, CONSTANT, $sw>(regs, acc, op.a, op.b);
                    let bytes: [u8; $sw] =
                        ($sconv)(typed_operand::<ACC, 4, VALUE>(regs, op.c, acc, facc));
                    // SAFETY: lowering stores the offset plus the width in `d`.
                    unsafe { mem.store_ending_at(addr + op.d as u64, bytes) }
                        .ok_or(TrapCode::MemoryOutOfBounds)?;
                    Ok((acc, facc))
                }
            }
            step_handler!($storei, step::$storei);
        )*

        /// Whether `instr` is a store, whose handler passes on the accumulators it arrived
        /// with.
        pub(super) fn is_store(instr: Instr) -> bool {
            matches!(instr, $( Instr::$store { .. } )|* | $( Instr::$storei { .. } )|*)
        }

        /// The slot a numeric instruction (or a copy) writes, whose handler passes the value
        /// on as the accumulator, and whether it passes it in the float accumulator too (an
        /// `f64`); `None` for stores and every other instruction.
        pub(super) fn result(instr: Instr) -> Option<(Slot, bool)> {
            match instr {
                Instr::Copy { dst, .. } => Some((dst, false)),
                Instr::I32AddShifted { dst, .. } => Some((dst, false)),
                $( Instr::$un { dst, .. } => Some((dst, const { gives_f64(stringify!($unf)) })), )*
                $( Instr::$unt { dst, .. } => Some((dst, false)), )*
                $( Instr::$bin { dst, .. } => Some((dst, const { gives_f64(stringify!($binf)) })), )*
                $( Instr::$bint { dst, .. } => Some((dst, false)), )*
                $( Instr::$load { dst, .. } => Some((dst, const { load_gives_f64(stringify!($load)) })), )*
                $( Instr::$loadi { dst, .. } => {
                    Some((dst, const { load_gives_f64(stringify!($load)) }))
                } )*
                _ => None,
            }
        }

        /// The threaded form of a numeric instruction; `None` for every other one. `prev`
        /// is the slot whose value the accumulator holds on arrival, if any.
        pub(super) fn lower(
            instr: Instr,
            consts: &Consts<'_>,
            prev: Option<(Slot, bool)>,
        ) -> Option<Lowered> {
            lower_discarding(instr, consts, prev, false)
        }

        /// [`lower`]; with `discard`, a handler that does not write its result to its slot
        /// (see [`super::discard`]; divisions by a constant always write it).
        pub(super) fn lower_discarding(
            instr: Instr,
            consts: &Consts<'_>,
            prev: Option<(Slot, bool)>,
            discard: bool,
        ) -> Option<Lowered> {
            let d = if discard { DISCARD } else { 0 };
            // The accumulator bit for an operand in `slot`, of type `f64` if `f64` (which
            // reads the float accumulator, so only after an `f64` result).
            let typed_bit = |slot: Slot, bit: u8, f64: bool| match prev {
                Some((held, in_float)) if held == slot && (in_float || !f64) => bit,
                _ => 0,
            };
            let bit = |slot: Slot, bit: u8| typed_bit(slot, bit, false);
            let plain = |kind, bits, op| Lowered { op, kind, imm: false, bits, constant: false };
            if let Some(lowered) = lower_division_by_constant(instr, consts, bit) {
                return Some(lowered);
            }
            Some(match instr {
                Instr::I32AddShifted { dst, a, b, shift } => {
                    let bits = bit(a, 1) | bit(b, 2);
                    let (handler, kind) = match shift {
                        1 => (result_acc2!(i32_add_shifted_1, bits | d), Kind::I32AddShifted1),
                        2 => (result_acc2!(i32_add_shifted_2, bits | d), Kind::I32AddShifted2),
                        _ => (result_acc2!(i32_add_shifted_3, bits | d), Kind::I32AddShifted3),
                    };
                    plain(kind, bits, Op::new(handler, dst, a, b))
                }
                Instr::Copy { dst, src } => {
                    let bits = bit(src, 1);
                    plain(Kind::Copy, bits, Op::new(result_acc1!(copy, bits | d), dst, src, 0))
                }
                $( Instr::$un { dst, src } => {
                    let bits = typed_bit(src, 1, const { takes_f64(stringify!($unf)) });
                    plain(Kind::$un, bits, Op::new(result_acc1!($un, bits | d), dst, src, 0))
                } )*
                $( Instr::$unt { dst, src } => {
                    let bits = typed_bit(src, 1, const { takes_f64(stringify!($untf)) });
                    plain(Kind::$unt, bits, Op::new(result_acc1!($unt, bits | d), dst, src, 0))
                } )*
                $( Instr::$bin { dst, a, b } => {
                    let f = const { takes_f64(stringify!($binf)) };
                    match consts.value(b) {
                        Some(v) => {
                            let bits = typed_bit(a, 1, f);
                            let handler = result_acc1!(imm::$bin, bits | d);
                            Lowered {
                                op: Op::with_imm(handler, dst, a, constant!($binf, v)),
                                kind: Kind::$bin,
                                imm: true,
                                bits,
                                constant: false,
                            }
                        }
                        None => {
                            let bits = typed_bit(a, 1, f) | typed_bit(b, 2, f);
                            plain(Kind::$bin, bits, Op::new(result_acc2!($bin, bits | d), dst, a, b))
                        }
                    }
                } )*
                $( Instr::$bint { dst, a, b } => match consts.value(b) {
                    Some(v) => {
                        let bits = bit(a, 1);
                        Lowered {
                            op: Op::with_imm(result_acc1!(imm::$bint, bits | d), dst, a, v),
                            kind: Kind::$bint,
                            imm: true,
                            bits,
                            constant: false,
                        }
                    }
                    None => {
                        let bits = bit(a, 1) | bit(b, 2);
                        plain(Kind::$bint, bits, Op::new(result_acc2!($bint, bits | d), dst, a, b))
                    }
                }, )*
                $( Instr::$load { dst, addr, offset } => {
                    let bits = bit(addr, 1);
                    let end = offset as u64 + $lw;
                    plain(Kind::$load, bits, Op::with_imm(result_acc1!($load, bits | d), dst, addr, end))
                } )*
                $( Instr::$store { addr, value, offset } => {
                    let f = const { store_takes_f64(stringify!($store)) };
                    let bits = bit(addr, 1) | typed_bit(value, 2, f);
                    let handler = with_acc2!($store, bits);
                    let end = offset as u64 + $sw;
                    plain(Kind::$store, bits, Op::with_imm(handler, addr, value, end))
                } )*
                $( Instr::$loadi { dst, a, b, offset, scaled } => {
                    if let Some((base, c)) = constant_addend(consts, a, b, scaled) {
                        let bits = bit(base, 1);
                        let handler = result_acc1!(constant_addend::$loadi, bits | d);
                        let op = Op::new(handler, dst, base, c).with_d(indexed_end(offset, $lw));
                        return Some(Lowered { op, kind: Kind::$loadi, imm: false, bits, constant: true });
                    }
                    let bits = bit(a, 1) | bit(b, 2);
                    let handler = if scaled {
                        result_acc2!(imm::$loadi, bits | d)
                    } else {
                        result_acc2!($loadi, bits | d)
                    };
                    let op = Op::new(handler, dst, a, b).with_d(indexed_end(offset, $lw));
                    Lowered { op, kind: Kind::$loadi, imm: scaled, bits, constant: false }
                } )*
                $( Instr::$storei { a, b, value, offset, scaled } => {
                    let f = const { store_takes_f64(stringify!($store)) };
                    if let Some((base, c)) = constant_addend(consts, a, b, scaled) {
                        let bits = bit(base, 1) | typed_bit(value, 4, f);
                        let handler = with_acc3!(constant_addend::$storei, bits);
                        let op = Op::new(handler, base, c, value).with_d(indexed_end(offset, $sw));
                        return Some(Lowered { op, kind: Kind::$storei, imm: false, bits, constant: true });
                    }
                    let bits = bit(a, 1) | bit(b, 2) | typed_bit(value, 4, f);
                    let handler = if scaled {
                        with_acc3!(imm::$storei, bits)
                    } else {
                        with_acc3!($storei, bits)
                    };
                    let op = Op::new(handler, a, b, value).with_d(indexed_end(offset, $sw));
                    Lowered { op, kind: Kind::$storei, imm: scaled, bits, constant: false }
                } )*
                _ => return None,
            })
        }
    };
}
for_each_numeric_op!(define_numeric);

/// The address (before the offset) of an indexed access of `WIDTH` bytes: the `i32` sum of
/// the value in slot `base` (operand 1) and the second addend `second`, which is a slot
/// (operand 2) shifted left by the log2 of the width when `SCALED`, or the constant itself
/// when `CONSTANT`.
#[inline(always)]
fn indexed_address<const ACC: u8, const SCALED: bool, const CONSTANT: bool, const WIDTH: u32>(
    regs: Regs,
    acc: u64,
    base: Slot,
    second: u32,
) -> u64 {
    let second = if CONSTANT {
        u64::from(second)
    } else if SCALED {
        operand::<ACC, 2>(regs, second, acc) << WIDTH.trailing_zeros()
    } else {
        operand::<ACC, 2>(regs, second, acc)
    };
    operand::<ACC, 1>(regs, base, acc).wrapping_add(second) as u32 as u64
}

/// Unsigned 32-bit divisions and remainders by a constant as multiplications.
///
/// A `div` takes twelve cycles or more; a constant divisor `d` (2 or more) makes the
/// quotient of a 32-bit `n` the high half of `m * n` with the 64-bit `m = ceil(2^64 / d)`,
/// and the remainder the high half of `(m * n mod 2^64) * d` (Lemire, Kaser and Kurz,
/// "Faster Remainder by Direct Computation", 2019). The `Op` holds `m` as its immediate and
/// `d` in `b`, so the result and operand slots share `a` (each below 2^16; larger slots
/// keep the division).
mod divide_by_multiply {
    use super::*;

    /// Packs the operands of `dst = a / d` or `a % d` into an `Op` with `handler`, when
    /// they fit.
    pub(super) fn op(handler: super::super::Handler, dst: Slot, a: Slot, d: u64) -> Option<Op> {
        let d = u32::try_from(d).ok().filter(|&d| d >= 2)?;
        if dst > 0xffff || a > 0xffff {
            return None;
        }
        Some(Op::with_imm(handler, dst | a << 16, d, magic(d)))
    }

    /// `ceil(2^64 / d)` for `d` from 2.
    pub(super) fn magic(d: u32) -> u64 {
        u64::MAX / u64::from(d) + 1
    }

    /// `n / d` for a 32-bit `n`, with `m` the [`magic`] of `d`.
    #[inline(always)]
    pub(super) fn quotient(m: u64, n: u64) -> u64 {
        ((u128::from(m) * u128::from(n)) >> 64) as u64
    }

    /// `n % d` for a 32-bit `n`, with `m` the [`magic`] of `d`.
    #[inline(always)]
    pub(super) fn remainder(m: u64, d: u32, n: u64) -> u64 {
        ((u128::from(m.wrapping_mul(n)) * u128::from(d)) >> 64) as u64
    }

    /// The dividend (the operand slot in the high half of `a`) and the result slot.
    #[inline(always)]
    fn operands<const ACC: u8>(op: &Op, regs: Regs, acc: u64) -> (u64, Slot) {
        let n = operand::<ACC, 1>(regs, op.a >> 16, acc) as u32 as u64;
        (n, op.a & 0xffff)
    }

    /// `i32.div_u` by the constant of `op`.
    pub(in super::super) struct Quotient;

    impl Step for Quotient {
        #[inline(always)]
        fn run<const ACC: u8>(op: &Op, regs: Regs, _: Memory, acc: u64, facc: f64) -> Ran {
            let (n, dst) = operands::<ACC>(op, regs, acc);
            let q = quotient(op.imm(), n);
            regs.set(dst, q);
            Ok((q, facc))
        }
    }

    /// `i32.rem_u` by the constant of `op`.
    pub(in super::super) struct Remainder;

    impl Step for Remainder {
        #[inline(always)]
        fn run<const ACC: u8>(op: &Op, regs: Regs, _: Memory, acc: u64, facc: f64) -> Ran {
            let (n, dst) = operands::<ACC>(op, regs, acc);
            let r = remainder(op.imm(), op.b, n);
            regs.set(dst, r);
            Ok((r, facc))
        }
    }

    step_handler!(pub(super) i32_div_u_by_constant, Quotient);
    step_handler!(pub(super) i32_rem_u_by_constant, Remainder);
}

/// `instr` as an unsigned division or remainder by a constant (see [`divide_by_multiply`]),
/// if it is one whose operands fit.
fn lower_division_by_constant(
    instr: Instr,
    consts: &Consts<'_>,
    bit: impl Fn(Slot, u8) -> u8,
) -> Option<Lowered> {
    let (kind, dst, a, b) = match instr {
        Instr::I32DivU { dst, a, b } => (Kind::I32DivU, dst, a, b),
        Instr::I32RemU { dst, a, b } => (Kind::I32RemU, dst, a, b),
        _ => return None,
    };
    let bits = bit(a, 1);
    let handler = if kind == Kind::I32DivU {
        with_acc1!(divide_by_multiply::i32_div_u_by_constant, bits)
    } else {
        with_acc1!(divide_by_multiply::i32_rem_u_by_constant, bits)
    };
    let op = divide_by_multiply::op(handler, dst, a, consts.value(b)?)?;
    // No pair step reads this layout.
    Some(Lowered {
        op,
        kind,
        imm: true,
        bits,
        constant: true,
    })
}

/// The slot and the constant of an unscaled indexed access's address `a + b` when one
/// addend is a constant (the second, or else the first: the sum is the same).
fn constant_addend(consts: &Consts<'_>, a: Slot, b: Slot, scaled: bool) -> Option<(Slot, u32)> {
    if scaled {
        return None;
    }
    match (consts.value(a), consts.value(b)) {
        (_, Some(c)) => Some((a, c as u32)),
        (Some(c), None) => Some((b, c as u32)),
        (None, None) => None,
    }
}

/// `a = b`: the value passes on in the accumulator, and the float accumulator keeps what it
/// held (a copy does not know its value's type).
impl Step for step::Copy {
    #[inline(always)]
    fn run<const ACC: u8>(op: &Op, regs: Regs, _: Memory, acc: u64, facc: f64) -> Ran {
        let v = operand::<ACC, 1>(regs, op.b, acc);
        write_result::<ACC>(regs, op.a, v);
        Ok((v, facc))
    }
}

step_handler!(pub(super) copy, step::Copy);

/// A copy passing on what it arrived with (see [`copies_index_past`]).
fn copy_passing<const ACC: u8>(
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
    facc: f64,
) -> Ip {
    passing_single::<step::Copy, ACC>(ip, regs, ex, acc, mem, facc)
}

/// Whether the load instruction named `name` loads an `f64`.
const fn load_gives_f64(name: &str) -> bool {
    name.len() == 7 && name.as_bytes()[0] == b'F' && name.as_bytes()[1] == b'6'
}

/// Whether the store instruction named `name` stores an `f64`.
const fn store_takes_f64(name: &str) -> bool {
    name.len() == 8 && name.as_bytes()[0] == b'F' && name.as_bytes()[1] == b'6'
}

#[cfg(test)]
mod tests {
    use super::divide_by_multiply::{magic, quotient, remainder};
    use super::shift_by_multiply;
    use crate::semantics as sem;

    /// Divisors and dividends at the edges (powers of two and their neighbours, the largest
    /// values, divisors whose magic needs all 64 bits) and a pseudo-random spread.
    #[test]
    fn divisions_by_multiply_agree_with_division() {
        let mut divisors: Vec<u32> = vec![2, 3, 5, 6, 7, 10, 11, 25, 100, 641, 1000, 6700417];
        for k in 1..32 {
            divisors.extend([
                (1u32 << k).wrapping_sub(1),
                1 << k,
                (1u32 << k).wrapping_add(1),
            ]);
        }
        divisors.extend([u32::MAX, u32::MAX - 1, 0x8000_0001, 0x7fff_ffff]);
        let mut x = 0x2545_f491_u32;
        for _ in 0..200 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            divisors.push(x | 2);
        }
        for &d in divisors.iter().filter(|&&d| d >= 2) {
            let m = magic(d);
            let mut dividends = vec![0u32, 1, d - 1, d, d.wrapping_add(1), u32::MAX, u32::MAX - 1];
            dividends.extend([
                d.wrapping_mul(2),
                d.wrapping_mul(3).wrapping_sub(1),
                0x8000_0000,
            ]);
            for _ in 0..50 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                dividends.push(x);
            }
            for n in dividends {
                let n64 = u64::from(n);
                assert_eq!(quotient(m, n64), u64::from(n / d), "{n} / {d}");
                assert_eq!(remainder(m, d, n64), u64::from(n % d), "{n} % {d}");
            }
        }
    }

    /// Every count, with values at the edges of signedness and width.
    #[test]
    fn right_shifts_by_multiply_agree_with_shifts() {
        let values = [
            0u64,
            1,
            2,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            0x1234_5678,
            0x9abc_def0,
            0xffff_ffff_ffff_ffff,
            0x8000_0000_0000_0000,
            0x0123_4567_89ab_cdef,
        ];
        for count in 0..=130u64 {
            for &v in &values {
                let i32_v = v as u32 as u64;
                assert_eq!(
                    by_constant!(i32_shr_u)(i32_v, constant!(i32_shr_u, count)),
                    sem::i32_shr_u(i32_v, count),
                    "i32.shr_u {v:#x} {count}"
                );
                assert_eq!(
                    by_constant!(i32_shr_s)(i32_v, constant!(i32_shr_s, count)),
                    sem::i32_shr_s(i32_v, count),
                    "i32.shr_s {v:#x} {count}"
                );
            }
        }
    }
}
