//! The handlers of the numeric instructions, generated from [`for_each_numeric_op!`] with
//! the function of [`crate::semantics`] each one computes, and their lowering from
//! [`Instr`].
//!
//! Every one reads its operands from the frame (or, per its `ACC` bits, from the
//! accumulator: see [`super::acc`]), writes its result, and continues with the next
//! instruction ([`next!`]) with the result as the accumulator; only a trap (a division by
//! zero, an out-of-bounds access) leaves the chain.

// The handlers are named after the instructions they run.
#![allow(non_snake_case)]

use super::acc::{operand, with_acc1, with_acc2, with_acc3};
use super::{next, trap, Consts, Executor, Op};
use crate::instr::{for_each_numeric_op, Instr, Slot};
use crate::semantics as sem;
use crate::vm::{Ip, Memory, Regs};
use strata_environ::TrapCode;

macro_rules! define_numeric {
    (
        unary { $($un:ident $unf:ident,)* }
        unary_trapping { $($unt:ident $untf:ident,)* }
        binary { $($bin:ident $binf:ident,)* }
        binary_trapping { $($bint:ident $bintf:ident,)* }
        load { $($load:ident $loadi:ident $lw:literal $lconv:expr,)* }
        store { $($store:ident $storei:ident $sw:literal $sconv:expr,)* }
    ) => {
        $(
            /// `a = op(b)`.
            fn $un<const ACC: u8>(
                ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>, acc: u64,
            ) -> Ip {
                let op = ip.op();
                let v = sem::$unf(operand::<ACC, 1>(regs, op.b, acc));
                regs.set(op.a, v);
                next!(ip.skip(1), regs, mem, ex, v)
            }
        )*
        $(
            /// `a = op(b)`, or a trap.
            fn $unt<const ACC: u8>(
                ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>, acc: u64,
            ) -> Ip {
                let op = ip.op();
                let v = match sem::$untf(operand::<ACC, 1>(regs, op.b, acc)) {
                    Ok(v) => v,
                    Err(code) => return trap(ex, code),
                };
                regs.set(op.a, v);
                next!(ip.skip(1), regs, mem, ex, v)
            }
        )*
        $(
            /// `a = b op c`.
            fn $bin<const ACC: u8>(
                ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>, acc: u64,
            ) -> Ip {
                let op = ip.op();
                let v = sem::$binf(
                    operand::<ACC, 1>(regs, op.b, acc),
                    operand::<ACC, 2>(regs, op.c, acc),
                );
                regs.set(op.a, v);
                next!(ip.skip(1), regs, mem, ex, v)
            }
        )*
        /// Binary instructions whose second operand is a constant: `a = b op imm`, the
        /// constant in `c` (low half) and `d` (high half), read without a frame load.
        mod imm {
            use super::*;
            $(
                pub(super) fn $bin<const ACC: u8>(
                    ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>, acc: u64,
                ) -> Ip {
                    let op = ip.op();
                    let v = sem::$binf(operand::<ACC, 1>(regs, op.b, acc), op.imm());
                    regs.set(op.a, v);
                    next!(ip.skip(1), regs, mem, ex, v)
                }
            )*
            $(
                pub(super) fn $bint<const ACC: u8>(
                    ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>, acc: u64,
                ) -> Ip {
                    let op = ip.op();
                    let v = match sem::$bintf(operand::<ACC, 1>(regs, op.b, acc), op.imm()) {
                        Ok(v) => v,
                        Err(code) => return trap(ex, code),
                    };
                    regs.set(op.a, v);
                    next!(ip.skip(1), regs, mem, ex, v)
                }
            )*
        }
        $(
            /// `a = b op c`, or a trap.
            fn $bint<const ACC: u8>(
                ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>, acc: u64,
            ) -> Ip {
                let op = ip.op();
                let v = match sem::$bintf(
                    operand::<ACC, 1>(regs, op.b, acc),
                    operand::<ACC, 2>(regs, op.c, acc),
                ) {
                    Ok(v) => v,
                    Err(code) => return trap(ex, code),
                };
                regs.set(op.a, v);
                next!(ip.skip(1), regs, mem, ex, v)
            }
        )*
        $(
            /// `a = memory[b + c]`.
            fn $load<const ACC: u8>(
                ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>, acc: u64,
            ) -> Ip {
                let op = ip.op();
                let ea = operand::<ACC, 1>(regs, op.b, acc) as u32 as u64 + op.c as u64;
                let v = match mem.load::<$lw>(ea) {
                    Some(bytes) => ($lconv)(bytes),
                    None => return trap(ex, TrapCode::MemoryOutOfBounds),
                };
                regs.set(op.a, v);
                next!(ip.skip(1), regs, mem, ex, v)
            }
        )*
        $(
            /// `memory[a + c] = b`.
            fn $store<const ACC: u8>(
                ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>, acc: u64,
            ) -> Ip {
                let op = ip.op();
                let ea = operand::<ACC, 1>(regs, op.a, acc) as u32 as u64 + op.c as u64;
                let bytes: [u8; $sw] = ($sconv)(operand::<ACC, 2>(regs, op.b, acc));
                if mem.store(ea, bytes).is_none() {
                    return trap(ex, TrapCode::MemoryOutOfBounds);
                }
                next!(ip.skip(1), regs, mem, ex, acc)
            }
        )*
        $(
            /// `a = memory[b + c + d]`: a load whose address is a sum.
            fn $loadi<const ACC: u8>(
                ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>, acc: u64,
            ) -> Ip {
                let op = ip.op();
                let addr = operand::<ACC, 1>(regs, op.b, acc)
                    .wrapping_add(operand::<ACC, 2>(regs, op.c, acc)) as u32 as u64;
                let v = match mem.load::<$lw>(addr + op.d as u64) {
                    Some(bytes) => ($lconv)(bytes),
                    None => return trap(ex, TrapCode::MemoryOutOfBounds),
                };
                regs.set(op.a, v);
                next!(ip.skip(1), regs, mem, ex, v)
            }
        )*
        $(
            /// `memory[a + b + d] = c`: a store whose address is a sum.
            fn $storei<const ACC: u8>(
                ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>, acc: u64,
            ) -> Ip {
                let op = ip.op();
                let addr = operand::<ACC, 1>(regs, op.a, acc)
                    .wrapping_add(operand::<ACC, 2>(regs, op.b, acc)) as u32 as u64;
                let bytes: [u8; $sw] = ($sconv)(operand::<ACC, 4>(regs, op.c, acc));
                if mem.store(addr + op.d as u64, bytes).is_none() {
                    return trap(ex, TrapCode::MemoryOutOfBounds);
                }
                next!(ip.skip(1), regs, mem, ex, acc)
            }
        )*

        /// The slot a numeric instruction writes, whose handler passes the value on as the
        /// accumulator; `None` for stores and every other instruction.
        pub(super) fn result(instr: Instr) -> Option<Slot> {
            match instr {
                $( Instr::$un { dst, .. } )|*
                | $( Instr::$unt { dst, .. } )|*
                | $( Instr::$bin { dst, .. } )|*
                | $( Instr::$bint { dst, .. } )|*
                | $( Instr::$load { dst, .. } )|*
                | $( Instr::$loadi { dst, .. } )|* => Some(dst),
                _ => None,
            }
        }

        /// The threaded form of a numeric instruction; `None` for every other one. `prev`
        /// is the slot whose value the accumulator holds on arrival, if any.
        pub(super) fn lower(instr: Instr, consts: &Consts<'_>, prev: Option<Slot>) -> Option<Op> {
            // The accumulator bit for an operand in `slot`.
            let bit = |slot: Slot, bit: u8| if Some(slot) == prev { bit } else { 0 };
            Some(match instr {
                $( Instr::$un { dst, src } => {
                    Op::new(with_acc1!($un, bit(src, 1)), dst, src, 0)
                } )*
                $( Instr::$unt { dst, src } => {
                    Op::new(with_acc1!($unt, bit(src, 1)), dst, src, 0)
                } )*
                $( Instr::$bin { dst, a, b } => match consts.value(b) {
                    Some(v) => Op::with_imm(with_acc1!(imm::$bin, bit(a, 1)), dst, a, v),
                    None => Op::new(with_acc2!($bin, bit(a, 1) | bit(b, 2)), dst, a, b),
                }, )*
                $( Instr::$bint { dst, a, b } => match consts.value(b) {
                    Some(v) => Op::with_imm(with_acc1!(imm::$bint, bit(a, 1)), dst, a, v),
                    None => Op::new(with_acc2!($bint, bit(a, 1) | bit(b, 2)), dst, a, b),
                }, )*
                $( Instr::$load { dst, addr, offset } => {
                    Op::new(with_acc1!($load, bit(addr, 1)), dst, addr, offset)
                } )*
                $( Instr::$store { addr, value, offset } => {
                    let handler = with_acc2!($store, bit(addr, 1) | bit(value, 2));
                    Op::new(handler, addr, value, offset)
                } )*
                $( Instr::$loadi { dst, a, b, offset } => {
                    Op::new(with_acc2!($loadi, bit(a, 1) | bit(b, 2)), dst, a, b).with_d(offset)
                } )*
                $( Instr::$storei { a, b, value, offset } => {
                    let handler = with_acc3!($storei, bit(a, 1) | bit(b, 2) | bit(value, 4));
                    Op::new(handler, a, b, value).with_d(offset)
                } )*
                _ => return None,
            })
        }
    };
}
for_each_numeric_op!(define_numeric);
