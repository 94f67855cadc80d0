//! Superinstructions from a table of pairs: an instruction that computes a value (a numeric
//! instruction or a copy, each a [`Step`]) and the instruction after it, run by one handler.
//!
//! The handler runs the first instruction's step and continues straight into the second
//! instruction's handler, which it names statically ([`Then`]): the compiler inlines it or
//! jumps to it directly, so the pair costs one dispatch instead of two, and the jump into the
//! second is never mispredicted (a dispatch jump is shared by every instruction of its kind
//! and predicted from the history of them all). The second reads the first's result from
//! the accumulator.
//!
//! Both instructions keep their own `Op` (the second where it was, so a branch to it still
//! finds it), each read at its own position: a pair needs no operand layout of its own, and
//! the second may be any instruction that has a [`Then`] type, control flow included.
//!
//! The table holds the pairs that run most often in the benchmark programs' loops, counted
//! per executed instruction: the mixing steps of hashes and random generators, address
//! arithmetic, loads feeding arithmetic or branches, `f64` expressions with their loads and
//! stores, results copied to locals or returned, comparisons feeding `select`.

use std::marker::PhantomData;

use super::acc::{ARRIVED_A, ARRIVED_B, DISCARD};
use super::compare::{branch, compare_branch, AnyCond};
use super::numeric::{self, single, step, ArrivalStep, Kind, Step};
use super::{next, trap, Caller, Consts, Executor, Handler, Signature};
use crate::instr::{Instr, Slot};
use crate::vm::{Ip, Memory, Regs};

/// A pair: `A`'s step (accumulator bits `AA`) at `ip`, then the handler `B` at the next
/// position.
fn pair<A: Step, const AA: u8, B: Then>(
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
    facc: f64,
) -> Ip {
    match A::run::<AA>(ip.op(), regs, mem, acc, facc) {
        Ok((acc, facc)) => B::then(ip.skip(1), regs, ex, acc, mem, facc),
        Err(code) => trap(ex, regs, code),
    }
}

/// A pair whose second, binary step `B` (accumulator bits `BB`), reads the value the pair
/// arrived with as an operand ([`ARRIVED_A`], [`ARRIVED_B`]): `x ^= x << 13` arrives with
/// `x`, shifts it, and takes it again from the register it arrived in, where a load of its
/// slot would wait for the store of the instruction before the pair.
fn pair_arrived<A: Step, const AA: u8, B: ArrivalStep, const BB: u8>(
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
    facc: f64,
) -> Ip {
    let arrived = acc;
    let (acc, facc) = match A::run::<AA>(ip.op(), regs, mem, acc, facc) {
        Ok(accs) => accs,
        Err(code) => return trap(ex, regs, code),
    };
    let ip = ip.skip(1);
    match B::run_arrived::<BB>(ip.op(), regs, acc, arrived, facc) {
        Ok((acc, facc)) => next!(ip.skip(1), regs, ex, acc, mem, facc),
        Err(code) => trap(ex, regs, code),
    }
}

/// A handler as a type: what a pair continues with, at its second instruction.
trait Then {
    fn then(ip: Ip, regs: Regs, ex: &mut Executor<'_>, acc: u64, mem: Memory, facc: f64) -> Ip;
}

/// The handler of numeric step `S` with accumulator bits `ACC`.
struct Numeric<S, const ACC: u8>(PhantomData<S>);

impl<S: Step, const ACC: u8> Then for Numeric<S, ACC> {
    #[inline(always)]
    fn then(ip: Ip, regs: Regs, ex: &mut Executor<'_>, acc: u64, mem: Memory, facc: f64) -> Ip {
        single::<S, ACC>(ip, regs, ex, acc, mem, facc)
    }
}

/// [`Then`] types of the control handlers, named after them: each runs the handler on the
/// right, generic over the type's accumulator bits.
macro_rules! then_types {
    ($($name:ident $(<$acc:ident: $t:ty>)? => $handler:expr,)*) => {$(
        struct $name$(<const $acc: $t>)?;
        impl$(<const $acc: $t>)? Then for $name$(<$acc>)? {
            #[inline(always)]
            fn then(
                ip: Ip, regs: Regs, ex: &mut Executor<'_>, acc: u64, mem: Memory, facc: f64,
            ) -> Ip {
                ($handler)(ip, regs, ex, acc, mem, facc)
            }
        }
    )*};
}
then_types! {
    BrIfZero<ACC: u8> => super::br_if::<false, ACC>,
    BrIfNonZero<ACC: u8> => super::br_if::<true, ACC>,
    Select<ACC: u8> => super::select::<ACC>,
    BrTable<ACC: u8> => super::br_table::<ACC>,
    // Compare-and-branches for any comparison, read from the `Op`.
    Branch<ACC: u8> => branch::<AnyCond, ACC, false>,
    BranchImm<ACC: u8> => branch::<AnyCond, ACC, true>,
    Ret<ACC: u8> => super::ret::<ACC>,
}

/// [`Then`] types of the call handlers, named after them: calls spending tier-up budgets
/// when `TIERING` (see `super::Caller`), their first argument the accumulator when `ARG` is
/// 1.
macro_rules! call_then_types {
    ($($name:ident => $handler:ident,)*) => {$(
        struct $name<const TIERING: bool, const ARG: u8>;
        impl<const TIERING: bool, const ARG: u8> Then for $name<TIERING, ARG> {
            #[inline(always)]
            fn then(
                ip: Ip, regs: Regs, ex: &mut Executor<'_>, acc: u64, mem: Memory, facc: f64,
            ) -> Ip {
                super::$handler::<TIERING, ARG>(ip, regs, ex, acc, mem, facc)
            }
        }
    )*};
}
call_then_types! {
    Call => call,
    CallSelf => call_self,
    CallIndirect => call_indirect,
}

/// A pair's first instruction: a step, with its accumulator bits.
#[derive(Clone, Copy, Debug)]
pub(super) struct First {
    pub(super) kind: Kind,
    /// Whether it is the form of [`step::imm`].
    pub(super) imm: bool,
    /// Whether it is an indexed access with a constant second addend.
    pub(super) constant: bool,
    pub(super) bits: u8,
}

/// A pair's second instruction, lowered for arriving right after the first: its accumulator
/// bits name the first's result.
#[derive(Clone, Copy, Debug)]
enum Second {
    Numeric {
        kind: Kind,
        imm: bool,
        constant: bool,
        bits: u8,
    },
    /// A binary step that reads the value the pair arrived with ([`pair_arrived`]).
    Arrived {
        kind: Kind,
        bits: u8,
    },
    BrIfZero(u8),
    BrIfNonZero(u8),
    Select(u8),
    BrTable(u8),
    Branch(u8),
    BranchImm(u8),
    Ret(u8),
    /// The calls, with their [`super::call_bits`].
    Call(u8),
    CallSelf(u8),
    CallIndirect(u8),
}

/// The [`Second`] form of the instruction at `at`, when it runs right after one whose result
/// (the slot, and whether it is an `f64`) is `prev`.
fn second(
    code: &[Instr],
    at: usize,
    consts: &Consts<'_>,
    prev: Option<(Slot, bool)>,
    caller: Caller<'_>,
) -> Option<Second> {
    let bit = |slot: Slot, bit: u8| match prev {
        Some((held, _)) if held == slot => bit,
        _ => 0,
    };
    let instr = code[at];
    if let Some((_, a, b, _)) = compare_branch(instr) {
        return Some(match consts.value(b) {
            Some(_) => Second::BranchImm(bit(a, 1)),
            None => Second::Branch(bit(a, 1) | bit(b, 2)),
        });
    }
    Some(match instr {
        Instr::BrIfZero { cond, .. } => Second::BrIfZero(bit(cond, 1)),
        Instr::BrIfNonZero { cond, .. } => Second::BrIfNonZero(bit(cond, 1)),
        Instr::BrTable { index, .. } => Second::BrTable(bit(index, 1)),
        Instr::Select { a, b, .. } => match code.get(at + 1) {
            Some(&Instr::Arg { a: cond, .. }) => {
                Second::Select(bit(a, 1) | bit(b, 2) | bit(cond, 4))
            }
            _ => return None,
        },
        Instr::Return => Second::Ret(bit(0, 1)),
        Instr::Call { func, base } if func == caller.defined => {
            Second::CallSelf(caller.call_bits(Signature::OfDefined(func), base, prev))
        }
        Instr::Call { func, base } => {
            Second::Call(caller.call_bits(Signature::OfDefined(func), base, prev))
        }
        Instr::CallIndirect { ty, .. } => match code.get(at + 1) {
            Some(&Instr::Arg { a: base, .. }) => {
                Second::CallIndirect(caller.call_bits(Signature::Type(ty), base, prev))
            }
            _ => return None,
        },
        _ => {
            let lowered = numeric::lower(instr, consts, prev)?;
            // The table's numeric seconds have variants for their first two operands only
            // (a store's value from the accumulator, bit 4, has none).
            if lowered.bits > 3 {
                return None;
            }
            Second::Numeric {
                kind: lowered.kind,
                imm: lowered.imm,
                constant: lowered.constant,
                bits: lowered.bits,
            }
        }
    })
}

/// The [`Second::Arrived`] form of the binary instruction at `at`, if an operand of it is
/// the slot `arrived` that the first instruction arrived with in the accumulator, and the
/// first (whose result, the slot and whether it is an `f64`, is `result`) leaves it alone.
fn arrived_second(
    code: &[Instr],
    at: usize,
    consts: &Consts<'_>,
    result: Option<(Slot, bool)>,
    arrived: Option<(Slot, bool)>,
) -> Option<Second> {
    let Some((slot, false)) = arrived else {
        return None;
    };
    if result.is_some_and(|(written, _)| written == slot) {
        return None;
    }
    let lowered = numeric::lower(code[at], consts, result)?;
    if lowered.imm || lowered.constant || lowered.bits > 3 {
        return None;
    }
    // A binary step's operands are `b` and `c` of its `Op`. Other kinds read other words
    // there, but the table's `arrived` seconds are binary steps (only they implement
    // `ArrivalStep`), so no other kind finds an entry.
    let (a, b) = (lowered.op.b, lowered.op.c);
    let bits = match (a == slot, b == slot) {
        (false, false) => return None,
        (true, false) => lowered.bits & !1 | ARRIVED_A,
        (false, true) => lowered.bits & !2 | ARRIVED_B,
        (true, true) => ARRIVED_A | ARRIVED_B,
    };
    Some(Second::Arrived {
        kind: lowered.kind,
        bits,
    })
}

/// A superinstruction's handler.
#[derive(Clone, Copy)]
pub(super) struct Pair {
    pub(super) handler: Handler,
    /// Whether its second reads the value the pair arrived with ([`pair_arrived`]).
    pub(super) arrived: bool,
}

/// The superinstruction of `first` and the instruction at `at` after it (which `result`,
/// the first's result slot, reaches; the first arrived with slot `arrived` in the
/// accumulator), if the table has the pair.
pub(super) fn handler(
    first: First,
    code: &[Instr],
    at: usize,
    consts: &Consts<'_>,
    result: Option<(Slot, bool)>,
    arrived: Option<(Slot, bool)>,
    caller: Caller<'_>,
) -> Option<Pair> {
    if first.bits & !DISCARD > 3 {
        return None;
    }
    if let Some(second) = arrived_second(code, at, consts, result, arrived) {
        if let Some(handler) = table(first, second) {
            return Some(Pair {
                handler,
                arrived: true,
            });
        }
    }
    let handler = table(first, second(code, at, consts, result, caller)?)?;
    Some(Pair {
        handler,
        arrived: false,
    })
}

/// The step type of a table entry's first instruction: `imm X` is the constant-operand form
/// of `X`.
macro_rules! step_type {
    (imm $x:ident) => {
        step::imm::$x
    };
    (const $x:ident) => {
        step::$x<false, true>
    };
    ($x:ident) => {
        step::$x
    };
}

/// The `(kind, imm, constant)` of a table entry's first instruction.
macro_rules! first_key {
    (imm $x:ident) => {
        (Kind::$x, true, false)
    };
    (const $x:ident) => {
        (Kind::$x, false, true)
    };
    ($x:ident) => {
        (Kind::$x, false, false)
    };
}

/// The [`Second`] pattern of a table entry's second instruction, binding its bits to `$ab`.
macro_rules! second_pattern {
    ($ab:ident; br_if_zero) => {
        Second::BrIfZero($ab)
    };
    ($ab:ident; br_if_non_zero) => {
        Second::BrIfNonZero($ab)
    };
    ($ab:ident; select) => {
        Second::Select($ab)
    };
    ($ab:ident; br_table) => {
        Second::BrTable($ab)
    };
    ($ab:ident; branch) => {
        Second::Branch($ab)
    };
    ($ab:ident; branch_imm) => {
        Second::BranchImm($ab)
    };
    ($ab:ident; ret) => {
        Second::Ret($ab)
    };
    ($ab:ident; call) => {
        Second::Call($ab)
    };
    ($ab:ident; call_self) => {
        Second::CallSelf($ab)
    };
    ($ab:ident; call_indirect) => {
        Second::CallIndirect($ab)
    };
    ($ab:ident; arrived $x:ident) => {
        Second::Arrived {
            kind: Kind::$x,
            bits: $ab,
        }
    };
    ($ab:ident; imm $x:ident) => {
        Second::Numeric {
            kind: Kind::$x,
            imm: true,
            constant: false,
            bits: $ab,
        }
    };
    ($ab:ident; const $x:ident) => {
        Second::Numeric {
            kind: Kind::$x,
            imm: false,
            constant: true,
            bits: $ab,
        }
    };
    ($ab:ident; $x:ident) => {
        Second::Numeric {
            kind: Kind::$x,
            imm: false,
            constant: false,
            bits: $ab,
        }
    };
}

/// The pair handler for first step `$a` with bits `$aa`, and the second instruction's
/// handler for bits `$ab`.
macro_rules! pair_handler {
    ($a:ty, $aa:literal, $ab:ident; br_if_zero) => { pair_handler!(@2 $a, $aa, $ab, BrIfZero) };
    ($a:ty, $aa:literal, $ab:ident; br_if_non_zero) => {
        pair_handler!(@2 $a, $aa, $ab, BrIfNonZero)
    };
    ($a:ty, $aa:literal, $ab:ident; branch_imm) => { pair_handler!(@2 $a, $aa, $ab, BranchImm) };
    ($a:ty, $aa:literal, $ab:ident; br_table) => { pair_handler!(@2 $a, $aa, $ab, BrTable) };
    ($a:ty, $aa:literal, $ab:ident; branch) => { pair_handler!(@4 $a, $aa, $ab, Branch) };
    ($a:ty, $aa:literal, $ab:ident; select) => {
        match $ab {
            0 => pair::<$a, $aa, Select<0>> as Handler,
            1 => pair::<$a, $aa, Select<1>>,
            2 => pair::<$a, $aa, Select<2>>,
            3 => pair::<$a, $aa, Select<3>>,
            4 => pair::<$a, $aa, Select<4>>,
            5 => pair::<$a, $aa, Select<5>>,
            6 => pair::<$a, $aa, Select<6>>,
            _ => pair::<$a, $aa, Select<7>>,
        }
    };
    ($a:ty, $aa:literal, $ab:ident; ret) => { pair_handler!(@2 $a, $aa, $ab, Ret) };
    ($a:ty, $aa:literal, $ab:ident; call) => { pair_handler!(@calls $a, $aa, $ab, Call) };
    ($a:ty, $aa:literal, $ab:ident; call_self) => { pair_handler!(@calls $a, $aa, $ab, CallSelf) };
    ($a:ty, $aa:literal, $ab:ident; call_indirect) => {
        pair_handler!(@calls $a, $aa, $ab, CallIndirect)
    };
    (@calls $a:ty, $aa:literal, $ab:ident, $b:ident) => {
        match $ab {
            0 => pair::<$a, $aa, $b<false, 0>> as Handler,
            1 => pair::<$a, $aa, $b<false, 1>>,
            2 => pair::<$a, $aa, $b<true, 0>>,
            _ => pair::<$a, $aa, $b<true, 1>>,
        }
    };
    ($a:ty, $aa:literal, $ab:ident; arrived $x:ident) => {
        match $ab {
            ARRIVED_A => pair_arrived::<$a, $aa, step::$x, ARRIVED_A> as Handler,
            0x12 => pair_arrived::<$a, $aa, step::$x, 0x12>,
            ARRIVED_B => pair_arrived::<$a, $aa, step::$x, ARRIVED_B>,
            0x21 => pair_arrived::<$a, $aa, step::$x, 0x21>,
            _ => pair_arrived::<$a, $aa, step::$x, 0x30>,
        }
    };
    ($a:ty, $aa:literal, $ab:ident; imm $x:ident) => {
        pair_handler!(@numeric $a, $aa, $ab, step::imm::$x)
    };
    ($a:ty, $aa:literal, $ab:ident; const $x:ident) => {
        pair_handler!(@numeric $a, $aa, $ab, step::$x<false, true>)
    };
    ($a:ty, $aa:literal, $ab:ident; $x:ident) => {
        pair_handler!(@numeric $a, $aa, $ab, step::$x)
    };
    (@numeric $a:ty, $aa:literal, $ab:ident, $b:ty) => {
        match $ab {
            0 => pair::<$a, $aa, Numeric<$b, 0>> as Handler,
            1 => pair::<$a, $aa, Numeric<$b, 1>>,
            2 => pair::<$a, $aa, Numeric<$b, 2>>,
            _ => pair::<$a, $aa, Numeric<$b, 3>>,
        }
    };
    (@2 $a:ty, $aa:literal, $ab:ident, $b:ident) => {
        match $ab {
            0 => pair::<$a, $aa, $b<0>> as Handler,
            _ => pair::<$a, $aa, $b<1>>,
        }
    };
    (@4 $a:ty, $aa:literal, $ab:ident, $b:ident) => {
        match $ab {
            0 => pair::<$a, $aa, $b<0>> as Handler,
            1 => pair::<$a, $aa, $b<1>>,
            2 => pair::<$a, $aa, $b<2>>,
            _ => pair::<$a, $aa, $b<3>>,
        }
    };
}

/// The table: each entry `[first] [second]`, the first a step's kind (`imm X` for its
/// constant-operand form), the second a step's kind or a control handler's name.
macro_rules! pair_table {
    ($( [$($a:tt)+] [$($b:tt)+], )*) => {
        fn table(first: First, second: Second) -> Option<Handler> {
            let aa = first.bits;
            Some(match ((first.kind, first.imm, first.constant), second) {
                $(
                    (first_key!($($a)+), second_pattern!(ab; $($b)+)) => match aa {
                        0 => pair_handler!(step_type!($($a)+), 0, ab; $($b)+),
                        1 => pair_handler!(step_type!($($a)+), 1, ab; $($b)+),
                        2 => pair_handler!(step_type!($($a)+), 2, ab; $($b)+),
                        3 => pair_handler!(step_type!($($a)+), 3, ab; $($b)+),
                        8 => pair_handler!(step_type!($($a)+), 8, ab; $($b)+),
                        9 => pair_handler!(step_type!($($a)+), 9, ab; $($b)+),
                        10 => pair_handler!(step_type!($($a)+), 10, ab; $($b)+),
                        _ => pair_handler!(step_type!($($a)+), 11, ab; $($b)+),
                    },
                )*
                _ => return None,
            })
        }
    };
}

pair_table! {
    // Shift-and-mix steps; `x ^= x << k` takes `x` again from where it arrived.
    [imm I32Shl] [arrived I32Xor],
    [imm I32ShrU] [arrived I32Xor],
    [imm I32Shl] [I32Xor],
    [I32Xor] [imm I32ShrU],
    [imm I32ShrU] [I32Xor],
    [I32Xor] [imm I32Shl],
    [imm I32ShrU] [imm I32And],
    [imm I32And] [imm I32ShrU],
    [imm I32And] [imm I32And],
    [imm I32ShrU] [imm I32ShrU],
    [I32Xor] [imm I32Mul],
    // Address arithmetic and loads.
    [imm I32Shl] [I32LoadIndexed],
    [imm I32Shl] [I32Add],
    [I32Add] [imm I32Shl],
    [imm I32Add] [imm I32Shl],
    [imm I32Add] [imm I32Add],
    [I32Add] [I32Add],
    [I32Add] [I32Load],
    [I32Load] [I32Load],
    [I32LoadIndexed] [imm I32ShrU],
    [imm I32LoadIndexed] [imm I32ShrU],
    [imm I32LoadIndexed] [imm I32LoadIndexed],
    [imm I32LoadIndexed] [I32Add],
    [imm I32LoadIndexed] [I32Sub],
    [I32Add] [imm I32StoreIndexed],
    [I32Sub] [imm I32StoreIndexed],
    [imm I32ShrU] [I32Store8],
    [imm I32Add] [I32Store],
    [imm I32Sub] [I32Store],
    [I32Store8] [imm I32Add],
    [I32AddShifted2] [I32Load],
    [I32AddShifted2] [branch],
    [I32AddShifted2] [Copy],
    // Loads feeding branches, results copied or returned, comparisons feeding `select`,
    // counting down to a branch or a call.
    [I32Load] [branch],
    [I32Load] [br_if_zero],
    [I32Load] [br_if_non_zero],
    [I32LoadIndexed] [br_if_non_zero],
    [imm I32LoadIndexed] [br_if_non_zero],
    [imm I32LoadIndexed] [branch],
    [I32Add] [Copy],
    [I32Store] [Copy],
    [Copy] [Copy],
    [Copy] [I32Load],
    [Copy] [ret],
    [I32LtU] [select],
    [I32LtS] [select],
    [I32Load8UIndexed] [select],
    [const I32Load8UIndexed] [select],
    [const I32LoadIndexed] [I32Add],
    [imm I32Sub] [branch_imm],
    [imm I32Sub] [call],
    [imm I32Sub] [call_self],
    // A switch's index computed into its br_table.
    [imm I32And] [br_table],
    [imm I32ShrU] [br_table],
    [imm I32Sub] [br_table],
    [Copy] [call],
    [Copy] [call_self],
    [Copy] [call_indirect],
    // Results returned.
    [I32Add] [ret],
    [I32Sub] [ret],
    [I32Mul] [ret],
    [I32Xor] [ret],
    [imm I32Add] [ret],
    [imm I32Mul] [ret],
    [I32Load] [ret],
    // f64 expressions.
    [F64Load] [F64Add],
    [F64Load] [F64Sub],
    [F64Load] [F64Mul],
    [F64LoadIndexed] [F64Mul],
    [const F64LoadIndexed] [F64Mul],
    [imm F64LoadIndexed] [F64Mul],
    [F64Mul] [F64Add],
    [F64Mul] [F64Sub],
    [F64Mul] [F64Mul],
    [F64Add] [F64Mul],
    [F64Sub] [F64Add],
    [F64Sub] [F64Mul],
    [F64Mul] [F64Load],
    [F64Add] [F64Store],
    [F64Sub] [F64Store],
    [F64Store] [imm I32Add],
    [F64Store] [imm I32Sub],
    [imm I32Sub] [F64Load],
    [F64Load] [imm F64Mul],
    [imm F64Mul] [F64Add],
    [F64Add] [F64Sqrt],
    [F64Mul] [F64Div],
    [F64Add] [Copy],
    [F64LoadIndexed] [F64LoadIndexed],
    [imm F64LoadIndexed] [imm F64LoadIndexed],
    // f64 comparisons into the branch on their outcome (integer comparisons branch in one
    // instruction already).
    [F64Lt] [br_if_zero],
    [F64Lt] [br_if_non_zero],
    [F64Gt] [br_if_zero],
    [F64Gt] [br_if_non_zero],
    [F64Le] [br_if_zero],
    [F64Le] [br_if_non_zero],
    [F64Ge] [br_if_zero],
    [F64Ge] [br_if_non_zero],
    [imm F64Lt] [br_if_zero],
    [imm F64Lt] [br_if_non_zero],
    [imm F64Gt] [br_if_zero],
    [imm F64Gt] [br_if_non_zero],
    [imm F64Le] [br_if_zero],
    [imm F64Le] [br_if_non_zero],
    [imm F64Ge] [br_if_zero],
    [imm F64Ge] [br_if_non_zero],
}
