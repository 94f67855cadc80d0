//! The handlers of the numeric instructions, generated from [`for_each_numeric_op!`] with
//! the function of [`crate::semantics`] each one computes, and their lowering from
//! [`Instr`].
//!
//! Every one reads its operands from the frame, writes its result and continues with the
//! next instruction ([`next!`]); only a trap (a division by zero, an out-of-bounds access)
//! leaves the chain.

// The handlers are named after the instructions they run.
#![allow(non_snake_case)]

use super::{next, trap, Consts, Executor, Op};
use crate::instr::{for_each_numeric_op, Instr};
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
            fn $un(ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>) -> Ip {
                let op = ip.op();
                regs.set(op.a, sem::$unf(regs.get(op.b)));
                next!(ip.skip(1), regs, mem, ex)
            }
        )*
        $(
            /// `a = op(b)`, or a trap.
            fn $unt(ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>) -> Ip {
                let op = ip.op();
                match sem::$untf(regs.get(op.b)) {
                    Ok(v) => regs.set(op.a, v),
                    Err(code) => return trap(ex, code),
                }
                next!(ip.skip(1), regs, mem, ex)
            }
        )*
        $(
            /// `a = b op c`.
            fn $bin(ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>) -> Ip {
                let op = ip.op();
                regs.set(op.a, sem::$binf(regs.get(op.b), regs.get(op.c)));
                next!(ip.skip(1), regs, mem, ex)
            }
        )*
        /// Binary instructions whose second operand is a constant: `a = b op imm`, the
        /// constant in `c` (low half) and `d` (high half), read without a frame load.
        mod imm {
            use super::*;
            $(
                pub(super) fn $bin(ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>) -> Ip {
                    let op = ip.op();
                    regs.set(op.a, sem::$binf(regs.get(op.b), op.imm()));
                    next!(ip.skip(1), regs, mem, ex)
                }
            )*
            $(
                pub(super) fn $bint(ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>) -> Ip {
                    let op = ip.op();
                    match sem::$bintf(regs.get(op.b), op.imm()) {
                        Ok(v) => regs.set(op.a, v),
                        Err(code) => return trap(ex, code),
                    }
                    next!(ip.skip(1), regs, mem, ex)
                }
            )*
        }
        $(
            /// `a = b op c`, or a trap.
            fn $bint(ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>) -> Ip {
                let op = ip.op();
                match sem::$bintf(regs.get(op.b), regs.get(op.c)) {
                    Ok(v) => regs.set(op.a, v),
                    Err(code) => return trap(ex, code),
                }
                next!(ip.skip(1), regs, mem, ex)
            }
        )*
        $(
            /// `a = memory[b + c]`.
            fn $load(ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>) -> Ip {
                let op = ip.op();
                let ea = regs.get(op.b) as u32 as u64 + op.c as u64;
                match mem.load::<$lw>(ea) {
                    Some(bytes) => regs.set(op.a, ($lconv)(bytes)),
                    None => return trap(ex, TrapCode::MemoryOutOfBounds),
                }
                next!(ip.skip(1), regs, mem, ex)
            }
        )*
        $(
            /// `memory[a + c] = b`.
            fn $store(ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>) -> Ip {
                let op = ip.op();
                let ea = regs.get(op.a) as u32 as u64 + op.c as u64;
                let bytes: [u8; $sw] = ($sconv)(regs.get(op.b));
                if mem.store(ea, bytes).is_none() {
                    return trap(ex, TrapCode::MemoryOutOfBounds);
                }
                next!(ip.skip(1), regs, mem, ex)
            }
        )*
        $(
            /// `a = memory[b + c + d]`: a load whose address is a sum.
            fn $loadi(ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>) -> Ip {
                let op = ip.op();
                let addr = regs.get(op.b).wrapping_add(regs.get(op.c)) as u32 as u64;
                match mem.load::<$lw>(addr + op.d as u64) {
                    Some(bytes) => regs.set(op.a, ($lconv)(bytes)),
                    None => return trap(ex, TrapCode::MemoryOutOfBounds),
                }
                next!(ip.skip(1), regs, mem, ex)
            }
        )*
        $(
            /// `memory[a + b + d] = c`: a store whose address is a sum.
            fn $storei(ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>) -> Ip {
                let op = ip.op();
                let addr = regs.get(op.a).wrapping_add(regs.get(op.b)) as u32 as u64;
                let bytes: [u8; $sw] = ($sconv)(regs.get(op.c));
                if mem.store(addr + op.d as u64, bytes).is_none() {
                    return trap(ex, TrapCode::MemoryOutOfBounds);
                }
                next!(ip.skip(1), regs, mem, ex)
            }
        )*

        /// The threaded form of a numeric instruction; `None` for every other one.
        pub(super) fn lower(instr: Instr, consts: &Consts<'_>) -> Option<Op> {
            Some(match instr {
                $( Instr::$un { dst, src } => Op::new($un, dst, src, 0), )*
                $( Instr::$unt { dst, src } => Op::new($unt, dst, src, 0), )*
                $( Instr::$bin { dst, a, b } => match consts.value(b) {
                    Some(v) => Op::with_imm(imm::$bin, dst, a, v),
                    None => Op::new($bin, dst, a, b),
                }, )*
                $( Instr::$bint { dst, a, b } => match consts.value(b) {
                    Some(v) => Op::with_imm(imm::$bint, dst, a, v),
                    None => Op::new($bint, dst, a, b),
                }, )*
                $( Instr::$load { dst, addr, offset } => Op::new($load, dst, addr, offset), )*
                $( Instr::$store { addr, value, offset } => Op::new($store, addr, value, offset), )*
                $( Instr::$loadi { dst, a, b, offset } => Op::new($loadi, dst, a, b).with_d(offset), )*
                $( Instr::$storei { a, b, value, offset } => {
                    Op::new($storei, a, b, value).with_d(offset)
                } )*
                _ => return None,
            })
        }
    };
}
for_each_numeric_op!(define_numeric);
