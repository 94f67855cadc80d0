//! Calls: the handlers of `call`, `call_indirect` and `call_ref`, and entering a callee's
//! frame.
//!
//! A call between an instance's own functions stays in the executor: it records the caller
//! in the callee's frame header, copies the callee's entry values in and jumps to its first
//! handler, all on a fast path that calls nothing ([`enter_interpreted`]), so that the
//! handlers save no registers. Every other case (native code, a first translation, a frame
//! stack to grow, another instance or a host function, a trap) is a cold handler reached by
//! tail call. A mispredicted call waits for every load between the value that names its
//! callee and the jump: `call_indirect` finds its callee from the table element's address
//! ([`vm::OwnFuncRefs`]) and its index in the accumulator when it can
//! ([`INDEX_IN_ACC`]).

use super::acc::operand;
use super::{next, trap, Executor, Handler, Op};
use crate::instr::Slot;
use crate::translate::CompiledFunc;
use crate::vm::{self, Ip, Memory, Regs};
use strata_environ::vmcontext::VMFuncRef;
use strata_environ::TrapCode;

/// What lowering needs to know of the function for its calls: its defined index (a call
/// of it is a [`call_self`]) and whether calls spend tier-up budgets (the module's
/// setting): the call handlers come in both kinds, so that those of a module that does not
/// tier test nothing for it, and their fast path needs a register fewer.
///
/// And how it is entered: every entry (a call, the first frame of an activation) starts it
/// with its first argument, slot 0, in the accumulator ([`first_argument`]); with
/// `param_in_acc` (that argument is an `i32` or an `i64`) its first instructions read it
/// from there (see `acc::arrivals`).
#[derive(Clone, Copy)]
pub(crate) struct Caller<'a> {
    pub(crate) defined: u32,
    pub(crate) tiering: bool,
    pub(crate) param_in_acc: bool,
    /// Whether a callee's first instructions read its first argument from the accumulator
    /// (its `param_in_acc`): a call of one that does not passes on whatever it holds.
    pub(crate) callee_param_in_acc: &'a dyn Fn(Signature) -> bool,
}

/// The signature of a call's callee, as lowering knows it.
#[derive(Clone, Copy)]
pub(crate) enum Signature {
    /// That of defined function.
    OfDefined(u32),
    /// Module type (a `call_indirect`).
    Type(u32),
}

impl Caller<'_> {
    /// The [`call_bits`] of a call of `callee` with its first argument at `base`, the
    /// accumulator holding `arrival`.
    pub(super) fn call_bits(
        &self,
        callee: Signature,
        base: Slot,
        arrival: Option<(Slot, bool)>,
    ) -> u8 {
        let in_acc = matches!(arrival, Some((held, _)) if held == base);
        call_bits(
            self.tiering,
            u8::from(in_acc || !(self.callee_param_in_acc)(callee)),
        )
    }
}

/// The accumulator a function starts with: its first argument (any slot 0 when it has
/// none, which no instruction then reads from the accumulator).
#[inline(always)]
pub(super) fn first_argument(callee_regs: Regs) -> u64 {
    callee_regs.get(0)
}

/// [`first_argument`] for a call whose handler has [`call_bits`] `ARG` (bit 1: it arrives
/// in the accumulator `acc`).
#[inline(always)]
fn passed_argument<const ARG: u8>(acc: u64, callee_regs: Regs) -> u64 {
    if ARG & 1 != 0 {
        acc
    } else {
        first_argument(callee_regs)
    }
}

/// The call handler `$handler` for [`call_bits`] `$bits`.
macro_rules! call_handler {
    ($handler:ident, $bits:expr) => {
        match $bits {
            0 => $handler::<false, 0> as Handler,
            1 => $handler::<false, 1>,
            2 => $handler::<true, 0>,
            _ => $handler::<true, 1>,
        }
    };
}
pub(super) use call_handler;

/// Which call handler a call takes: bit 1 when the accumulator is passed on as the callee's
/// (its first argument arrives there, or the callee does not read it), else the handler
/// reads the first argument from the callee's frame; bit 2 when it spends tier-up budgets.
fn call_bits(tiering: bool, arg: u8) -> u8 {
    u8::from(tiering) << 1 | u8::from(arg != 0)
}

/// The common case of a call of defined function `defined` with its frame at slot `base`
/// of the current one: the callee stays interpreted (no native code, its call budget does
/// not run out), is translated, and its frame fits. Enters it and returns where it starts;
/// `None` (having changed nothing) otherwise. Calls nothing, so the call handlers' fast
/// path saves no registers.
#[inline(always)]
fn enter_interpreted<const TIERING: bool>(
    ex: &mut Executor<'_>,
    regs: Regs,
    defined: u32,
    base: u32,
    after: Ip,
) -> Option<Entered> {
    let callee = ex.module.translated(defined)?;
    enter::<TIERING>(ex, regs, callee, defined, base, after)
}

/// [`enter_interpreted`] for a callee whose bytecode is at hand.
#[inline(always)]
fn enter<'m, const TIERING: bool>(
    ex: &mut Executor<'m>,
    regs: Regs,
    callee: &'m CompiledFunc,
    defined: u32,
    base: u32,
    after: Ip,
) -> Option<Entered> {
    let fit = vm::fit::<true>(regs.at(base), ex.stack_end, callee)?;
    if TIERING && !ex.vmctx.spend_call_budget_in_place(defined) {
        return None;
    }
    Some(ex.push_frame(fit, regs, after))
}

/// A callee just entered: where it starts, that instruction's handler (the callee's
/// [`CompiledFunc::entry`]) and its frame.
pub(super) struct Entered {
    pub(super) start: Ip,
    pub(super) handler: Handler,
    pub(super) regs: Regs,
}

/// A call of defined function `defined` whose frame starts at slot `base` of the caller's.
struct Callee {
    defined: u32,
    base: u32,
}

/// Every other case of a call of defined function `defined` (see [`enter_interpreted`]):
/// through its native code once it has some, a first translation, a frame stack to grow,
/// or a trap; the caller continues at `after`.
#[inline(always)]
fn call_defined_slow(
    after: Ip,
    regs: Regs,
    mem: Memory,
    ex: &mut Executor<'_>,
    (acc, facc): (u64, f64),
    Callee { defined, base }: Callee,
) -> Ip {
    let vmctx = ex.vmctx;
    if ex.tiering && (vmctx.native_entry(defined) || vmctx.spend_call_budget(defined)) {
        if let Err(exit) = ex.call_native(defined, regs, base) {
            return ex.stop(regs, exit);
        }
        // The first result is the accumulator after a call (see `ret`).
        let _ = acc;
        next!(after, regs, ex, regs.get(base), vmctx.memory(), facc)
    }
    let Some(callee) = ex.module.compiled(defined) else {
        ex.invalid_callee = Some(ex.module.info.func_index(defined));
        return trap(ex, regs, TrapCode::InvalidFunction);
    };
    let Some(fit) = vm::fit::<false>(regs.at(base), ex.stack_end, callee) else {
        return trap(ex, regs, TrapCode::StackOverflow);
    };
    let callee = ex.push_frame(fit, regs, after);
    next!(
        @at callee.handler;
        callee.start,
        callee.regs,
        ex,
        first_argument(callee.regs),
        mem,
        facc
    )
}

/// `call` of defined function `a` with the arguments at `b`, spending the callee's call
/// budget when `TIERING`.
pub(super) fn call<const TIERING: bool, const ARG: u8>(
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
    facc: f64,
) -> Ip {
    let op = ip.op();
    // The callee starts with its first argument in the accumulator (see `Caller`), and the
    // instruction after the call finds the call's first result there (see `ret`): the
    // caller's is not passed on otherwise.
    let entered = enter_interpreted::<TIERING>(ex, regs, op.a, op.b, ip.skip(1));
    enter_or_call_slow::<ARG>(entered, ip, regs, ex, acc, mem, facc)
}

/// Continues a `call` or `call_self` at `ip` in the callee `entered` (where it starts and
/// its frame), with its first argument per `ARG` (see [`passed_argument`]), or in
/// [`call_slow`] when the fast path did not enter it.
#[inline(always)]
fn enter_or_call_slow<const ARG: u8>(
    entered: Option<Entered>,
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
    facc: f64,
) -> Ip {
    match entered {
        Some(callee) => {
            let first = passed_argument::<ARG>(acc, callee.regs);
            next!(@at callee.handler; callee.start, callee.regs, ex, first, mem, facc)
        }
        None => call_slow(ip, regs, ex, 0, mem, facc),
    }
}

/// A call of the running function itself (`call`'s operands): its bytecode is the
/// executor's `func`, so the call looks nothing up.
pub(super) fn call_self<const TIERING: bool, const ARG: u8>(
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
    facc: f64,
) -> Ip {
    let op = ip.op();
    let callee = ex.func;
    let entered = enter::<TIERING>(ex, regs, callee, op.a, op.b, ip.skip(1));
    enter_or_call_slow::<ARG>(entered, ip, regs, ex, acc, mem, facc)
}

#[cold]
#[inline(never)]
fn call_slow(ip: Ip, regs: Regs, ex: &mut Executor<'_>, acc: u64, mem: Memory, facc: f64) -> Ip {
    let op = ip.op();
    call_defined_slow(
        ip.skip(1),
        regs,
        mem,
        ex,
        (acc, facc),
        Callee {
            defined: op.a,
            base: op.b,
        },
    )
}

/// Calls the function whose `*const VMFuncRef` is at `vmctx + a` (module type `c`) through
/// the array convention, with the arguments at `b`.
pub(super) fn call_ref(
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    _: Memory,
    facc: f64,
) -> Ip {
    let op = ip.op();
    if let Err(exit) = ex.call_array(ex.vmctx.func_ref(op.a), op.c, regs, op.b) {
        return ex.stop(regs, exit);
    }
    let mem = ex.vmctx.memory();
    // The first result is the accumulator after a call (see `ret`).
    let _ = acc;
    next!(ip.skip(1), regs, ex, regs.get(op.b), mem, facc)
}

/// The target of `call_indirect` through table `c` at index `a`, type `b`: the callee and
/// whether it is a function of this instance (then also its defined index), or a trap.
#[inline(always)]
fn indirect_target(
    op: &Op,
    regs: Regs,
    ex: &Executor<'_>,
) -> Result<(*const VMFuncRef, Option<u32>), TrapCode> {
    let vmctx = ex.vmctx;
    let elements = vm::table_elements(vmctx.table(op.c));
    let Some(&raw) = elements.get(regs.get(op.a) as u32 as usize) else {
        return Err(TrapCode::TableOutOfBounds);
    };
    if raw == 0 {
        return Err(TrapCode::IndirectCallToNull);
    }
    let callee = raw as *const VMFuncRef;
    if vm::func_ref_type(callee) != vmctx.type_id(op.b) {
        return Err(TrapCode::BadSignature);
    }
    Ok((callee, ex.own_funcrefs.defined(raw)))
}

/// [`indirect_target`]'s common case: the defined index of the callee when it is one of
/// this instance's functions of the right type; `None` for anything else (other callees,
/// traps), which the slow path sorts out.
///
/// Which function it is follows from the element's address (see [`vm::OwnFuncRefs`]), not from
/// a load of the `VMFuncRef`'s fields: when the jump to the callee is mispredicted (the
/// common case of a call through a table), the processor waits for every load between
/// the table element and the callee's first handler.
#[inline(always)]
fn own_indirect_target(op: &Op, index: u64, ex: &Executor<'_>) -> Option<u32> {
    let vmctx = ex.vmctx;
    let elements = vm::table_elements(vmctx.table(op.c));
    let &raw = elements.get(index as u32 as usize)?;
    let defined = ex.own_funcrefs.defined(raw)?;
    (vm::func_ref_type(raw as *const VMFuncRef) == vmctx.type_id(op.b)).then_some(defined)
}

/// `call_indirect` through table `c` at index `a`, type `b`, arguments at `d`; an `Arg`
/// word follows.
pub(super) fn call_indirect<const TIERING: bool, const ARG: u8>(
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
    facc: f64,
) -> Ip {
    call_indirect_from::<TIERING, ARG, 0>(ip, regs, ex, acc, mem, facc)
}

/// [`call_indirect`], its index read from the accumulator when `INDEX` is [`INDEX_IN_ACC`].
#[inline(always)]
fn call_indirect_from<const TIERING: bool, const ARG: u8, const INDEX: u8>(
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
    facc: f64,
) -> Ip {
    let op = ip.op();
    let index = operand::<INDEX, INDEX_IN_ACC>(regs, op.a, acc);
    if let Some(defined) = own_indirect_target(op, index, ex) {
        if let Some(callee) = enter_interpreted::<TIERING>(ex, regs, defined, op.d, ip.skip(2)) {
            let first = passed_argument::<ARG>(acc, callee.regs);
            next!(@at callee.handler; callee.start, callee.regs, ex, first, mem, facc)
        }
    }
    call_indirect_slow(ip, regs, ex, 0, mem, facc)
}

/// The accumulator bit of a `call_indirect` whose table index arrives in the accumulator:
/// computed by the instruction before (`table[picks[i & 3]](x)`), it is read from there,
/// not from the slot that instruction just wrote, which a mispredicted call waits for.
const INDEX_IN_ACC: u8 = 1;

/// [`call_indirect`] with its table index in the accumulator ([`INDEX_IN_ACC`]).
pub(super) fn call_indirect_by_acc<const TIERING: bool, const ARG: u8>(
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
    facc: f64,
) -> Ip {
    call_indirect_from::<TIERING, ARG, INDEX_IN_ACC>(ip, regs, ex, acc, mem, facc)
}

#[cold]
#[inline(never)]
fn call_indirect_slow(
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
    facc: f64,
) -> Ip {
    let op = ip.op();
    match indirect_target(op, regs, ex) {
        Err(code) => trap(ex, regs, code),
        Ok((_, Some(defined))) => call_defined_slow(
            ip.skip(2),
            regs,
            mem,
            ex,
            (acc, facc),
            Callee {
                defined,
                base: op.d,
            },
        ),
        Ok((callee, None)) => {
            if let Err(exit) = ex.call_array(callee, op.b, regs, op.d) {
                return ex.stop(regs, exit);
            }
            // The first result is the accumulator after a call (see `ret`).
            next!(
                ip.skip(2),
                regs,
                ex,
                regs.get(op.d),
                ex.vmctx.memory(),
                facc
            )
        }
    }
}
