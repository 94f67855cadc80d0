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

use super::acc::{gives_f64, operand, takes_f64, typed_operand, with_acc1, with_acc2, with_acc3};
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
                facc: f64,
            ) -> Ip {
                const IN: bool = takes_f64(stringify!($unf));
                const OUT: bool = gives_f64(stringify!($unf));
                let op = ip.op();
                let v = sem::$unf(typed_operand::<ACC, 1, IN>(regs, op.b, acc, facc));
                regs.set(op.a, v);
                let facc = if OUT { f64::from_bits(v) } else { facc };
                next!(ip.skip(1), regs, mem, ex, v, facc)
            }
        )*
        $(
            /// `a = op(b)`, or a trap.
            fn $unt<const ACC: u8>(
                ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>, acc: u64,
                facc: f64,
            ) -> Ip {
                const IN: bool = takes_f64(stringify!($untf));
                let op = ip.op();
                let v = match sem::$untf(typed_operand::<ACC, 1, IN>(regs, op.b, acc, facc)) {
                    Ok(v) => v,
                    Err(code) => return trap(ex, code),
                };
                regs.set(op.a, v);
                next!(ip.skip(1), regs, mem, ex, v, facc)
            }
        )*
        $(
            /// `a = b op c`.
            fn $bin<const ACC: u8>(
                ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>, acc: u64,
                facc: f64,
            ) -> Ip {
                const IN: bool = takes_f64(stringify!($binf));
                const OUT: bool = gives_f64(stringify!($binf));
                let op = ip.op();
                let v = sem::$binf(
                    typed_operand::<ACC, 1, IN>(regs, op.b, acc, facc),
                    typed_operand::<ACC, 2, IN>(regs, op.c, acc, facc),
                );
                regs.set(op.a, v);
                let facc = if OUT { f64::from_bits(v) } else { facc };
                next!(ip.skip(1), regs, mem, ex, v, facc)
            }
        )*
        /// Binary instructions whose second operand is a constant: `a = b op imm`, the
        /// constant in `c` (low half) and `d` (high half), read without a frame load.
        mod imm {
            use super::*;
            $(
                pub(super) fn $bin<const ACC: u8>(
                    ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>, acc: u64,
                    facc: f64,
                ) -> Ip {
                    const IN: bool = takes_f64(stringify!($binf));
                    const OUT: bool = gives_f64(stringify!($binf));
                    let op = ip.op();
                    let v = sem::$binf(typed_operand::<ACC, 1, IN>(regs, op.b, acc, facc), op.imm());
                    regs.set(op.a, v);
                    let facc = if OUT { f64::from_bits(v) } else { facc };
                    next!(ip.skip(1), regs, mem, ex, v, facc)
                }
            )*
            $(
                pub(super) fn $bint<const ACC: u8>(
                    ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>, acc: u64,
                    facc: f64,
                ) -> Ip {
                    let op = ip.op();
                    let v = match sem::$bintf(operand::<ACC, 1>(regs, op.b, acc), op.imm()) {
                        Ok(v) => v,
                        Err(code) => return trap(ex, code),
                    };
                    regs.set(op.a, v);
                    next!(ip.skip(1), regs, mem, ex, v, facc)
                }
            )*
        }
        $(
            /// `a = b op c`, or a trap.
            fn $bint<const ACC: u8>(
                ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>, acc: u64,
                facc: f64,
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
                next!(ip.skip(1), regs, mem, ex, v, facc)
            }
        )*
        $(
            /// `a = memory[b + c]`.
            fn $load<const ACC: u8>(
                ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>, acc: u64,
                facc: f64,
            ) -> Ip {
                const OUT: bool = load_gives_f64(stringify!($load));
                let op = ip.op();
                let ea = operand::<ACC, 1>(regs, op.b, acc) as u32 as u64 + op.c as u64;
                let v = match mem.load::<$lw>(ea) {
                    Some(bytes) => ($lconv)(bytes),
                    None => return trap(ex, TrapCode::MemoryOutOfBounds),
                };
                regs.set(op.a, v);
                let facc = if OUT { f64::from_bits(v) } else { facc };
                next!(ip.skip(1), regs, mem, ex, v, facc)
            }
        )*
        $(
            /// `memory[a + c] = b`.
            fn $store<const ACC: u8>(
                ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>, acc: u64,
                facc: f64,
            ) -> Ip {
                const VALUE: bool = store_takes_f64(stringify!($store));
                let op = ip.op();
                let ea = operand::<ACC, 1>(regs, op.a, acc) as u32 as u64 + op.c as u64;
                let bytes: [u8; $sw] =
                    ($sconv)(typed_operand::<ACC, 2, VALUE>(regs, op.b, acc, facc));
                if mem.store(ea, bytes).is_none() {
                    return trap(ex, TrapCode::MemoryOutOfBounds);
                }
                next!(ip.skip(1), regs, mem, ex, acc, facc)
            }
        )*
        $(
            /// `a = memory[b + c + d]`: a load whose address is a sum.
            fn $loadi<const ACC: u8>(
                ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>, acc: u64,
                facc: f64,
            ) -> Ip {
                const OUT: bool = load_gives_f64(stringify!($load));
                let op = ip.op();
                let addr = operand::<ACC, 1>(regs, op.b, acc)
                    .wrapping_add(operand::<ACC, 2>(regs, op.c, acc)) as u32 as u64;
                let v = match mem.load::<$lw>(addr + op.d as u64) {
                    Some(bytes) => ($lconv)(bytes),
                    None => return trap(ex, TrapCode::MemoryOutOfBounds),
                };
                regs.set(op.a, v);
                let facc = if OUT { f64::from_bits(v) } else { facc };
                next!(ip.skip(1), regs, mem, ex, v, facc)
            }
        )*
        $(
            /// `memory[a + b + d] = c`: a store whose address is a sum.
            fn $storei<const ACC: u8>(
                ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>, acc: u64,
                facc: f64,
            ) -> Ip {
                let op = ip.op();
                let addr = operand::<ACC, 1>(regs, op.a, acc)
                    .wrapping_add(operand::<ACC, 2>(regs, op.b, acc)) as u32 as u64;
                const VALUE: bool = store_takes_f64(stringify!($store));
                let bytes: [u8; $sw] =
                    ($sconv)(typed_operand::<ACC, 4, VALUE>(regs, op.c, acc, facc));
                if mem.store(addr + op.d as u64, bytes).is_none() {
                    return trap(ex, TrapCode::MemoryOutOfBounds);
                }
                next!(ip.skip(1), regs, mem, ex, acc, facc)
            }
        )*

        /// The slot a numeric instruction writes, whose handler passes the value on as the
        /// accumulator, and whether it passes it in the float accumulator too (an `f64`);
        /// `None` for stores and every other instruction.
        pub(super) fn result(instr: Instr) -> Option<(Slot, bool)> {
            match instr {
                $( Instr::$un { dst, .. } => Some((dst, gives_f64(stringify!($unf)))), )*
                $( Instr::$unt { dst, .. } => Some((dst, false)), )*
                $( Instr::$bin { dst, .. } => Some((dst, gives_f64(stringify!($binf)))), )*
                $( Instr::$bint { dst, .. } => Some((dst, false)), )*
                $( Instr::$load { dst, .. } => Some((dst, load_gives_f64(stringify!($load)))), )*
                $( Instr::$loadi { dst, .. } => {
                    Some((dst, load_gives_f64(stringify!($load))))
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
        ) -> Option<Op> {
            // The accumulator bit for an operand in `slot`, of type `f64` if `f64` (which
            // reads the float accumulator, so only after an `f64` result).
            let typed_bit = |slot: Slot, bit: u8, f64: bool| match prev {
                Some((held, in_float)) if held == slot && (in_float || !f64) => bit,
                _ => 0,
            };
            let bit = |slot: Slot, bit: u8| typed_bit(slot, bit, false);
            Some(match instr {
                $( Instr::$un { dst, src } => {
                    let f = takes_f64(stringify!($unf));
                    Op::new(with_acc1!($un, typed_bit(src, 1, f)), dst, src, 0)
                } )*
                $( Instr::$unt { dst, src } => {
                    let f = takes_f64(stringify!($untf));
                    Op::new(with_acc1!($unt, typed_bit(src, 1, f)), dst, src, 0)
                } )*
                $( Instr::$bin { dst, a, b } => {
                    let f = takes_f64(stringify!($binf));
                    match consts.value(b) {
                        Some(v) => {
                            let handler = with_acc1!(imm::$bin, typed_bit(a, 1, f));
                            Op::with_imm(handler, dst, a, v)
                        }
                        None => {
                            let bits = typed_bit(a, 1, f) | typed_bit(b, 2, f);
                            Op::new(with_acc2!($bin, bits), dst, a, b)
                        }
                    }
                } )*
                $( Instr::$bint { dst, a, b } => match consts.value(b) {
                    Some(v) => Op::with_imm(with_acc1!(imm::$bint, bit(a, 1)), dst, a, v),
                    None => Op::new(with_acc2!($bint, bit(a, 1) | bit(b, 2)), dst, a, b),
                }, )*
                $( Instr::$load { dst, addr, offset } => {
                    Op::new(with_acc1!($load, bit(addr, 1)), dst, addr, offset)
                } )*
                $( Instr::$store { addr, value, offset } => {
                    let f = store_takes_f64(stringify!($store));
                    let handler = with_acc2!($store, bit(addr, 1) | typed_bit(value, 2, f));
                    Op::new(handler, addr, value, offset)
                } )*
                $( Instr::$loadi { dst, a, b, offset } => {
                    Op::new(with_acc2!($loadi, bit(a, 1) | bit(b, 2)), dst, a, b).with_d(offset)
                } )*
                $( Instr::$storei { a, b, value, offset } => {
                    let f = store_takes_f64(stringify!($store));
                    let bits = bit(a, 1) | bit(b, 2) | typed_bit(value, 4, f);
                    Op::new(with_acc3!($storei, bits), a, b, value).with_d(offset)
                } )*
                _ => return None,
            })
        }
    };
}
for_each_numeric_op!(define_numeric);

/// Whether the load instruction named `name` loads an `f64`.
const fn load_gives_f64(name: &str) -> bool {
    name.len() == 7 && name.as_bytes()[0] == b'F' && name.as_bytes()[1] == b'6'
}

/// Whether the store instruction named `name` stores an `f64`.
const fn store_takes_f64(name: &str) -> bool {
    name.len() == 8 && name.as_bytes()[0] == b'F' && name.as_bytes()[1] == b'6'
}
