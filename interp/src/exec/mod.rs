//! The executor: runs a function's threaded code for one activation (one entry from the
//! array convention), with calls between the instance's own functions handled inside it.
//!
//! Why threaded code: a `loop { match }` over the instructions ends every instruction in
//! one shared indirect jump, which the branch predictor cannot learn (a third of the time
//! of memory-bound loops went there). Here every instruction is an [`Op`] carrying its
//! handler, and every handler ends by calling the next instruction's handler ([`next!`]) in
//! tail position: the compiler turns that call into a jump, so each handler has its own
//! dispatch jump, predicted from its own history, and the executor state (instruction
//! pointer, frame, memory, the last result) stays in registers from handler to handler.
//!
//! Rust does not guarantee tail calls; LLVM makes them from opt-level 2 up, as long as a
//! handler takes no local's address (slow paths live in `#[inline(never)]` functions, and
//! what handlers use from other crates is `#[inline]`). The build script enables
//! `strata_tail_calls` when the crate is built so, without debug assertions (whose checks
//! take such addresses); otherwise each handler returns the next instruction to a loop
//! ([`trampoline`]), so the native stack never grows with the instructions run. The
//! workspace builds this crate that way in every profile, and `tests/interp/` runs
//! every handler in long loops on a small native stack, which a handler that calls instead
//! of jumping would overflow.
//!
//! Calls to other instances, host functions and imports go through the array convention
//! and so recurse natively; the entry checks the native stack against the store's limit.

mod acc;
mod calls;
mod compare;
mod fused;
mod numeric;
pub(crate) use numeric::indexed_end_fits;
mod discard;
mod pairs;
use calls::{
    call, call_handler, call_indirect, call_indirect_by_acc, call_ref, call_self, first_argument,
    Entered,
};
pub(crate) use calls::{Caller, Signature};
pub(crate) use discard::FrameSlots;
pub(crate) use fused::back_edge_carry;

use crate::instr::{Instr, Slot};
use crate::opaque::opaque;
use crate::translate::CompiledFunc;
use crate::vm::{self, Ip, Memory, Regs, ValueStack, Vmctx};
use crate::{Effort, InterpModule};
use acc::{operand, with_acc1, with_acc3};
use std::cell::Cell;
use strata_environ::vmcontext::{VMFuncRef, OSR_RETURNED, OSR_UNAVAILABLE};
use strata_environ::{TrapCode, ValRaw, WASM_PAGE_SIZE};

/// Executes the instruction at `ip` and, in optimized builds, everything after it; returns
/// the instruction to continue with ([`Ip::stop`] once the activation is over). The `u64`
/// and the `f64` are the accumulators: the value the instruction before wrote to its result
/// slot, when that instruction computes one, and the same value as an `f64` when it is one
/// (see [`acc`]).
///
/// The integer accumulator is the fourth integer argument, so on x86-64 it travels in `rcx`:
/// a shift, which needs its count in `cl`, then only moves a value that it replaces anyway,
/// where with the memory length there it saved and restored it around every shift
/// (callgrind: `vm` 907M -> 882M, `sort` 932M -> 908M instructions).
pub(crate) type Handler = fn(Ip, Regs, &mut Executor<'_>, u64, Memory, f64) -> Ip;

/// One instruction of threaded code: its handler and up to four operands, in the order of
/// the [`Instr`] it comes from (branch targets relative to the branch, in bytes: see
/// [`distance`]).
#[derive(Clone, Copy)]
pub(crate) struct Op {
    handler: Handler,
    a: u32,
    b: u32,
    c: u32,
    d: u32,
}

impl Op {
    fn new(handler: Handler, a: u32, b: u32, c: u32) -> Op {
        Op {
            handler,
            a,
            b,
            c,
            d: 0,
        }
    }

    fn with_d(self, d: u32) -> Op {
        Op { d, ..self }
    }

    /// An instruction `a = b op imm` with a 64-bit immediate in `c` and `d`.
    fn with_imm(handler: Handler, a: u32, b: u32, imm: u64) -> Op {
        Op::new(handler, a, b, imm as u32).with_d((imm >> 32) as u32)
    }

    /// The 64-bit immediate of [`Op::with_imm`].
    #[inline(always)]
    fn imm(&self) -> u64 {
        self.c as u64 | (self.d as u64) << 32
    }

    pub(crate) fn handler(&self) -> Handler {
        self.handler
    }
}

/// A function's constant slots, so lowering can put a constant operand in the instruction.
pub(crate) struct Consts<'a> {
    /// The first constant slot.
    pub(crate) first: u32,
    pub(crate) values: &'a [u64],
}

impl Consts<'_> {
    /// The value of `slot`, if it is a constant slot (which nothing writes).
    fn value(&self, slot: u32) -> Option<u64> {
        let index = slot.checked_sub(self.first)?;
        self.values.get(index as usize).copied()
    }
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Op({:p}; {}, {}, {}, {})",
            self.handler as *const (), self.a, self.b, self.c, self.d
        )
    }
}

/// Continues with the instruction at `$ip`: a tail call of its handler in optimized builds,
/// a return to the [`trampoline`] otherwise.
macro_rules! next {
    // Continues at `ip`, whose handler is `$handler` (known without loading it from `ip`).
    (@at $handler:expr; $ip:expr, $regs:expr, $ex:expr, $acc:expr, $mem:expr, $facc:expr) => {{
        let (handler, ip, regs, mem, acc, facc): (Handler, Ip, Regs, Memory, u64, f64) =
            ($handler, $ip, $regs, $mem, $acc, $facc);
        let ex: &mut Executor<'_> = $ex;
        #[cfg(strata_tail_calls)]
        {
            return handler(ip, regs, ex, acc, mem, facc);
        }
        #[cfg(not(strata_tail_calls))]
        {
            debug_assert!(handler == ip.op().handler);
            ex.regs = regs;
            ex.mem = mem;
            ex.acc = acc;
            ex.facc = facc;
            return ip;
        }
    }};
    ($ip:expr, $regs:expr, $ex:expr, $acc:expr, $mem:expr, $facc:expr) => {{
        let (ip, regs, mem, acc, facc): (Ip, Regs, Memory, u64, f64) =
            ($ip, $regs, $mem, $acc, $facc);
        let ex: &mut Executor<'_> = $ex;
        #[cfg(strata_tail_calls)]
        {
            return (ip.op().handler)(ip, regs, ex, acc, mem, facc);
        }
        #[cfg(not(strata_tail_calls))]
        {
            ex.regs = regs;
            ex.mem = mem;
            ex.acc = acc;
            ex.facc = facc;
            return ip;
        }
    }};
}
use next;

/// Why an activation stopped early.
#[derive(Debug)]
pub(crate) enum Exit {
    /// Trap raised here.
    Trap(TrapCode),
    /// A callee reached through the array convention trapped and already reported it.
    Propagated,
}

/// How an activation stopped early, with its frames (function indices, innermost first).
pub(crate) type Unwind = (Exit, Vec<u32>);

/// What an activation needs besides its stack.
pub(crate) struct Context<'m> {
    pub(crate) vmctx: Vmctx,
    pub(crate) module: &'m InterpModule,
}

/// The state of a running activation that handlers do not carry in registers.
pub(crate) struct Executor<'m> {
    vmctx: Vmctx,
    module: &'m InterpModule,
    /// Whether calls spend tier-up budgets (the module's setting).
    tiering: bool,
    /// The running function (its callers are in the frame headers, see
    /// [`vm::FrameHeader`]).
    func: &'m CompiledFunc,
    /// Where the instance keeps its defined functions' `VMFuncRef`s.
    own_funcrefs: vm::OwnFuncRefs,
    /// The end of the value stack.
    stack_end: *mut u64,
    /// Why the activation stopped early, once it has, and the running function's frame
    /// then (where its backtrace starts).
    exit: Option<(Exit, Regs)>,
    /// A function to report as the innermost frame: a callee whose body is invalid.
    invalid_callee: Option<u32>,
    /// The counted loop's back edge taken last and its target (see [`fused`]'s
    /// `take_back_edge`).
    back_edge: (Ip, Ip),
    /// The frame and memory between two instructions under the [`trampoline`].
    #[cfg_attr(strata_tail_calls, allow(dead_code))]
    regs: Regs,
    #[cfg_attr(strata_tail_calls, allow(dead_code))]
    mem: Memory,
    #[cfg_attr(strata_tail_calls, allow(dead_code))]
    acc: u64,
    #[cfg_attr(strata_tail_calls, allow(dead_code))]
    facc: f64,
}

impl<'m> Executor<'m> {
    /// Stops the activation with `exit`, in the running function's frame `regs`.
    #[cold]
    fn stop(&mut self, regs: Regs, exit: Exit) -> Ip {
        // The backtrace is taken once the activation is over: a call here would make the
        // handlers that may trap save registers on their fast paths too.
        self.exit = Some((exit, regs));
        Ip::stop()
    }

    /// Enters the callee whose frame fits as `fit`, the caller (frame `regs`) continuing at
    /// `after` when it returns.
    #[inline(always)]
    fn push_frame<const FEW: bool>(
        &mut self,
        fit: vm::FrameFit<'m, FEW>,
        regs: Regs,
        after: Ip,
    ) -> Entered {
        let callee = fit.func;
        let callee_regs = fit.enter(vm::FrameHeader {
            func: self.func,
            ret: after,
            regs,
        });
        self.func = callee;
        Entered {
            start: Ip::start(&callee.code),
            handler: callee.entry,
            regs: callee_regs,
        }
    }

    /// The frames of the activation, innermost first, the running function's being
    /// `regs`: followed from header to header up to the activation's first frame.
    fn backtrace(&self, regs: Regs) -> Vec<u32> {
        let mut frames: Vec<u32> = self.invalid_callee.into_iter().collect();
        let (mut func, mut regs) = (self.func, regs);
        loop {
            frames.push(func.func_index);
            let caller = regs.header(func.header);
            if caller.ret.is_finish() {
                return frames;
            }
            (func, regs) = (caller.func, caller.regs);
        }
    }

    /// Calls `callee` (signature: module type `ty`) through the array convention with the
    /// arguments at `base`; its results land at `base`.
    #[inline(never)]
    fn call_array(
        &self,
        callee: *const VMFuncRef,
        ty: u32,
        regs: Regs,
        base: u32,
    ) -> Result<(), Exit> {
        let ty = &self.module.info.types[ty as usize];
        let (params, results) = (ty.params.len(), ty.results.len());
        let len = params.max(results);
        let mut inline = [ValRaw::default(); 8];
        let mut heap = Vec::new();
        let values: &mut [ValRaw] = if len <= inline.len() {
            &mut inline[..len]
        } else {
            heap.resize(len, ValRaw::default());
            &mut heap
        };
        for (k, v) in values.iter_mut().enumerate().take(params) {
            *v = ValRaw::from_u64(regs.get(base + k as u32));
        }
        if !vm::array_call(callee, self.vmctx, values) {
            return Err(Exit::Propagated);
        }
        for (k, v) in values.iter().enumerate().take(results) {
            regs.set(base + k as u32, v.get_u64());
        }
        Ok(())
    }

    /// Calls defined function `defined` through its native code (it has some, or just got
    /// it) with the arguments at `base`.
    #[inline(never)]
    fn call_native(&self, defined: u32, regs: Regs, base: u32) -> Result<(), Exit> {
        let index = self.module.info.func_index(defined);
        let ty = self.module.info.functions[index as usize];
        let funcref = self.vmctx.func_ref(self.module.offsets.func(index));
        self.call_array(funcref, ty, regs, base)
    }

    /// On-stack replacement at loop header `point` of the running function: hands the
    /// activation's state to the function's native code, if it has an entry for the loop.
    /// `Ok(true)`: the call ran to its end there, its results are in slots `0..n`;
    /// `Ok(false)`: nothing ran.
    #[cold]
    #[inline(never)]
    fn osr(&self, point: u32, regs: Regs) -> Result<bool, Exit> {
        let func = self.func;
        let point = &func.osr_points[point as usize];
        let locals = func.num_params + func.num_locals;
        let values = (0..locals).chain(point.stack.iter().copied());
        let state: Vec<u64> = std::iter::once(u64::from(point.loop_offset))
            .chain(values.map(|slot| regs.get(slot)))
            .collect();
        let results = self.module.info.func_type(func.func_index).results.len();
        let mut values = vec![ValRaw::default(); results.max(1)];
        values[0] = ValRaw::from_u64(state.as_ptr() as u64);
        match self.vmctx.osr(func.defined, point.loop_offset, &mut values) {
            OSR_UNAVAILABLE => Ok(false),
            OSR_RETURNED => {
                for (k, v) in values.iter().enumerate().take(results) {
                    regs.set(k as u32, v.get_u64());
                }
                Ok(true)
            }
            _ => Err(Exit::Propagated),
        }
    }
}

/// Stops the activation with a trap in the running function's frame `regs`. Kept out of
/// line: inlined, its few instructions sat between a handler's check and its work, which
/// then began with a taken jump over them (every memory access's bounds check).
#[cold]
#[inline(never)]
fn trap(ex: &mut Executor<'_>, regs: Regs, code: TrapCode) -> Ip {
    ex.stop(regs, Exit::Trap(code))
}

/// Where an activation's first frame returns to (see [`vm::FrameHeader`]): the one
/// instruction of [`finish`].
pub(crate) static FINISH: Op = Op {
    handler: finish,
    a: 0,
    b: 0,
    c: 0,
    d: 0,
};

/// Ends the activation: its first frame returned, its results are in slots `0..n`.
fn finish(_: Ip, _: Regs, _: &mut Executor<'_>, _: u64, _: Memory, _: f64) -> Ip {
    Ip::stop()
}

/// Runs `entry`, whose frame starts at slot 0 of `stack` with the arguments in place;
/// its results are left in slots `0..n`.
pub(crate) fn run<'m>(
    cx: &Context<'m>,
    stack: &mut ValueStack,
    entry: &'m CompiledFunc,
) -> Result<(), Unwind> {
    let (start, stack_end) = stack.bounds();
    let Some(fit) = vm::fit::<false>(start, stack_end, entry) else {
        return Err((Exit::Trap(TrapCode::StackOverflow), vec![entry.func_index]));
    };
    // The first frame's caller is the end of the activation; it has no frame of its own.
    let regs = fit.regs();
    let regs = fit.enter(vm::FrameHeader {
        func: entry,
        ret: Ip::finish(),
        regs,
    });
    let mem = cx.vmctx.memory();
    let mut ex = Executor {
        vmctx: cx.vmctx,
        module: cx.module,
        tiering: cx.module.tiering,
        func: entry,
        own_funcrefs: vm::OwnFuncRefs::of(cx.vmctx, cx.module),
        stack_end,
        exit: None,
        invalid_callee: None,
        back_edge: (Ip::stop(), Ip::stop()),
        regs,
        mem,
        acc: 0,
        facc: 0.0,
    };
    trampoline(Ip::start(&entry.code), regs, mem, &mut ex);
    match ex.exit.take() {
        None => Ok(()),
        Some((exit, regs)) => Err((exit, ex.backtrace(regs))),
    }
}

/// Runs threaded code from `ip` until the activation is over. Optimized builds run it all
/// in one chain of tail calls; otherwise each handler returns the next instruction here.
fn trampoline(ip: Ip, regs: Regs, mem: Memory, ex: &mut Executor<'_>) {
    let mut ip = (ip.op().handler)(ip, regs, ex, first_argument(regs), mem, 0.0);
    while !ip.is_stop() {
        let (regs, mem, acc, facc) = (ex.regs, ex.mem, ex.acc, ex.facc);
        ip = (ip.op().handler)(ip, regs, ex, acc, mem, facc);
    }
}

/// The slot an instruction writes and passes on as the accumulator, and whether it passes
/// it in the float accumulator too (see [`acc`]).
fn result(instr: Instr) -> Option<(Slot, bool)> {
    match instr {
        Instr::Const { dst, .. } | Instr::GlobalGet { dst, .. } | Instr::Select { dst, .. } => {
            Some((dst, false))
        }
        other => numeric::result(other),
    }
}

/// The result slot of a call at `at`, which every way back from a call leaves in the
/// accumulator (see [`ret`]; an `f64` result not in the float accumulator).
fn call_result(code: &[Instr], at: usize) -> Option<(Slot, bool)> {
    match code[at] {
        Instr::Call { base, .. } | Instr::CallRef { base, .. } => Some((base, false)),
        Instr::CallIndirect { .. } => Some((arg_of(code, at).0, false)),
        _ => None,
    }
}

/// Lowers translated code to threaded code, one [`Op`] per instruction (so positions, and
/// the `Arg` words that follow some instructions, stay where they were); an instruction
/// that fuses with the next one ([`fused`], [`pairs`]) becomes the superinstruction of
/// both.
pub(crate) fn lower(
    code: &[Instr],
    consts: &Consts<'_>,
    frame: &FrameSlots<'_>,
    caller: Caller<'_>,
    effort: Effort,
) -> Box<[Op]> {
    let Caller { defined, .. } = caller;
    let quick = effort == Effort::Quick;
    let acc::Arrivals {
        arrivals,
        passes_on,
    } = if quick {
        acc::Arrivals::none(code.len())
    } else {
        acc::arrivals(
            code,
            caller.param_in_acc.then_some((0, false)),
            |at| call_result(code, at).or_else(|| result(code[at])),
            |at| fused::back_edge_carry(code, at),
            // After a store, which passes on what it arrived with, a counter's step is left to
            // pair with the store instead.
            |at| match at > 0 && numeric::is_store(code[at - 1]) {
                true => None,
                false => numeric::passing_candidate(code, at, consts),
            },
            |at| numeric::is_store(code[at]),
        )
    };
    // Per position: whether the `Op` has the instruction's own operand layout (not that of a
    // fused back edge), and the step it runs, if it runs one.
    let mut plain = vec![true; code.len()];
    let mut steps: Vec<Option<pairs::First>> = vec![None; code.len()];
    // Per position: the accumulator bits of the operands it takes from there.
    let reads = vec![Cell::new(0u8); code.len()];
    let mut ops: Vec<Op> = code
        .iter()
        .enumerate()
        .map(|(at, &instr)| {
            let prev = arrivals[at];
            // The accumulator bit for an operand in `slot` (none of these is an `f64`).
            let bit = |slot: Slot, bit: u8| {
                let bit = match prev {
                    Some((held, _)) if held == slot => bit,
                    _ => 0,
                };
                reads[at].set(reads[at].get() | bit);
                bit
            };
            // Branch targets become distances in bytes from the branch.
            let rel = |target: u32| distance(at, target);
            let fused = code.get(at + 1).and_then(|&second| {
                fused::lower_pair(instr, second, at, consts, |counter| fused::Carry {
                    arrives: matches!(prev, Some((held, false)) if held == counter),
                    leaves: fused::back_edge_carry(code, at + 1).is_some_and(|(_, leaves)| leaves),
                })
            });
            if let Some(op) = fused {
                plain[at] = false;
                return op;
            }
            if let Some(op) = compare::lower(instr, at, consts, bit) {
                return op;
            }
            if let Some(lowered) = numeric::lower(instr, consts, prev) {
                reads[at].set(lowered.bits);
                if passes_on[at] {
                    // Not paired: a pair's first passes its result on.
                    return numeric::passing(lowered);
                }
                steps[at] = Some(pairs::First {
                    kind: lowered.kind,
                    imm: lowered.imm,
                    constant: lowered.constant,
                    bits: lowered.bits,
                });
                return lowered.op;
            }
            match instr {
                Instr::Arg { a, b, c } => Op::new(arg, a, b, c),
                Instr::Const { dst, lo, hi } => Op::new(constant, dst, lo, hi),
                Instr::Br { target } => Op::new(br, rel(target), 0, 0),
                Instr::BrIfZero { cond, target } => {
                    Op::new(br_if_handler::<false>(bit(cond, 1)), cond, rel(target), 0)
                }
                Instr::BrIfNonZero { cond, target } => {
                    Op::new(br_if_handler::<true>(bit(cond, 1)), cond, rel(target), 0)
                }
                Instr::BrTable { index, len } => {
                    Op::new(with_acc1!(br_table, bit(index, 1)), index, len, 0)
                }
                Instr::LoopBudget { point } => Op::new(loop_budget, point, 0, 0),
                Instr::Return => Op::new(ret_handler(bit(0, 1), frame.header), frame.header, 0, 0),
                Instr::Unreachable => Op::new(unreachable, 0, 0, 0),
                Instr::Select { dst, a, b } => {
                    let (cond, _, _) = arg_of(code, at);
                    let handler = with_acc3!(select, bit(a, 1) | bit(b, 2) | bit(cond, 4));
                    Op::new(handler, dst, a, b).with_d(cond)
                }
                // A call's first argument taken from the accumulator is written to the
                // callee's frame all the same: no read of `reads`, which would let the
                // instruction before skip that write.
                Instr::Call { func, base } if func == defined => {
                    let bits = caller.call_bits(Signature::OfDefined(func), base, prev);
                    Op::new(call_handler!(call_self, bits), func, base, 0)
                }
                Instr::Call { func, base } => {
                    let bits = caller.call_bits(Signature::OfDefined(func), base, prev);
                    Op::new(call_handler!(call, bits), func, base, 0)
                }
                Instr::CallRef { offset, base, ty } => Op::new(call_ref, offset, base, ty),
                Instr::CallIndirect { index, ty, table } => {
                    let (base, _, _) = arg_of(code, at);
                    let bits = caller.call_bits(Signature::Type(ty), base, prev);
                    // Read from the accumulator, the index is still written to its slot
                    // (no read of `reads`): the slow path reads it there.
                    let handler = match prev {
                        Some((held, _)) if held == index => {
                            call_handler!(call_indirect_by_acc, bits)
                        }
                        _ => call_handler!(call_indirect, bits),
                    };
                    Op::new(handler, index, ty, table).with_d(base)
                }
                Instr::GlobalGet { dst, offset } => Op::new(global_get, dst, offset, 0),
                Instr::GlobalSet { src, offset } => {
                    Op::new(with_acc1!(global_set, bit(src, 1)), src, offset, 0)
                }
                Instr::RefFunc { dst, offset } => Op::new(ref_func, dst, offset, 0),
                Instr::MemorySize { dst } => Op::new(memory_size, dst, 0, 0),
                Instr::MemoryGrow { dst, delta } => Op::new(memory_grow, dst, delta, 0),
                Instr::MemoryFill { dst, value, len } => Op::new(memory_fill, dst, value, len),
                Instr::MemoryCopy { dst, src, len } => Op::new(memory_copy, dst, src, len),
                Instr::MemoryInit { dst, src, len } => {
                    let (data, _, _) = arg_of(code, at);
                    Op::new(memory_init, dst, src, len).with_d(data)
                }
                Instr::DataDrop { data } => Op::new(data_drop, data, 0, 0),
                Instr::TableGet { dst, index, table } => Op::new(table_get, dst, index, table),
                Instr::TableSet {
                    index,
                    value,
                    table,
                } => Op::new(table_set, index, value, table),
                Instr::TableSize { dst, table } => Op::new(table_size, dst, table, 0),
                Instr::TableGrow { dst, init, delta } => {
                    let (table, _, _) = arg_of(code, at);
                    Op::new(table_grow, dst, init, delta).with_d(table)
                }
                Instr::TableFill { dst, value, len } => {
                    let (table, _, _) = arg_of(code, at);
                    Op::new(table_fill, dst, value, len).with_d(table)
                }
                Instr::TableCopy { dst, src, len } => Op::new(table_copy, dst, src, len),
                Instr::TableInit { dst, src, len } => Op::new(table_init, dst, src, len),
                Instr::ElemDrop { elem } => Op::new(elem_drop, elem, 0, 0),
                other => unreachable!("numeric instruction {other:?} not lowered"),
            }
        })
        .collect();
    if quick {
        return ops.into_boxed_slice();
    }
    // A step and the instruction after it that make a superinstruction: its handler
    // replaces the step's, and both keep their operands in their own `Op`s. A step whose
    // result only the next instruction needs, from the accumulator, does not write it,
    // paired or alone.
    let mut pairs = vec![None; code.len()];
    let mut discards = vec![false; code.len()];
    for at in 0..code.len() {
        let Some(first) = steps[at] else { continue };
        let discard = discard::discards_result(code, at, &arrivals, &reads, frame);
        discards[at] = discard;
        let first = match discard {
            true => pairs::First {
                bits: first.bits | acc::DISCARD,
                ..first
            },
            false => first,
        };
        // What the first leaves the second: its result, or what a store arrived with.
        let leaves = match numeric::is_store(code[at]) {
            true => arrivals[at],
            false => result(code[at]),
        };
        // A second that passes on what it arrived with would pass the pair's result.
        // A return with its header's slot in its handler stays alone.
        let ret_at =
            matches!(code.get(at + 1), Some(Instr::Return)) && frame.header < RET_AT_HEADERS;
        pairs[at] = (at + 1 < code.len() && plain[at + 1] && !passes_on[at + 1] && !ret_at)
            .then(|| pairs::handler(first, code, at + 1, consts, leaves, arrivals[at], caller))
            .flatten();
    }
    for at in 0..code.len() {
        // A pair that would run the first instruction of a pair reading what it arrived
        // with ([`pairs::Pair::arrived`]) is not made: the arrival's pair then runs where
        // execution continues.
        let arrival_next = pairs
            .get(at + 1)
            .copied()
            .flatten()
            .is_some_and(|p: pairs::Pair| p.arrived);
        match pairs[at] {
            Some(pair) if pair.arrived || !arrival_next => ops[at].handler = pair.handler,
            _ if discards[at] => {
                if let Some(lowered) =
                    numeric::lower_discarding(code[at], consts, arrivals[at], true)
                {
                    ops[at].handler = lowered.op.handler;
                }
            }
            _ => {}
        }
    }
    ops.into_boxed_slice()
}

/// How a branch at `at` names its target `target` in its `Op`: the distance in bytes,
/// wrapping like the `i32` it is read as, so that taking the branch adds it to the
/// instruction pointer ([`Ip::jump`]). Counted in instructions, the jump multiplied it by
/// the instruction's size first (two `lea`s between the load of the distance and the load
/// of the target's handler): interpreter geomean -4.1% to -5.0% under three code
/// placements, `sieve` -14%, `mandelbrot` -12%, `vm` -5%.
fn distance(at: usize, target: u32) -> u32 {
    let ops = target.wrapping_sub(at as u32);
    ops.wrapping_mul(std::mem::size_of::<Op>() as u32)
}

/// The operands of the `Arg` word after instruction `at`.
fn arg_of(code: &[Instr], at: usize) -> (u32, u32, u32) {
    match code.get(at + 1) {
        Some(&Instr::Arg { a, b, c }) => (a, b, c),
        other => unreachable!("expected an Arg word, found {other:?}"),
    }
}

/// `i32` result of a grow builtin: the old size, or -1.
fn grow_result(old: u64) -> u64 {
    if old == u64::MAX {
        u32::MAX as u64
    } else {
        old as u32 as u64
    }
}

// Control.

fn arg(_: Ip, _: Regs, _: &mut Executor<'_>, _: u64, _: Memory, _: f64) -> Ip {
    unreachable!("Arg words are skipped by their instruction")
}

fn constant(ip: Ip, regs: Regs, ex: &mut Executor<'_>, _: u64, mem: Memory, facc: f64) -> Ip {
    let op = ip.op();
    let v = op.b as u64 | (op.c as u64) << 32;
    regs.set(op.a, v);
    next!(ip.skip(1), regs, ex, v, mem, facc)
}

fn br(ip: Ip, regs: Regs, ex: &mut Executor<'_>, acc: u64, mem: Memory, facc: f64) -> Ip {
    next!(ip.jump(ip.op().a), regs, ex, acc, mem, facc)
}

/// `br_if` on a zero condition (`NON_ZERO` false) or a non-zero one.
fn br_if<const NON_ZERO: bool, const ACC: u8>(
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
    facc: f64,
) -> Ip {
    let op = ip.op();
    if (operand::<ACC, 1>(regs, op.a, acc) as u32 != 0) == NON_ZERO {
        next!(ip.jump(op.b), regs, ex, acc, mem, facc)
    }
    next!(ip.skip(1), regs, ex, acc, mem, facc)
}

/// The [`br_if`] variant for a condition of `NON_ZERO` and accumulator bits `bits`.
fn br_if_handler<const NON_ZERO: bool>(bits: u8) -> Handler {
    match bits {
        0 => br_if::<NON_ZERO, 0>,
        _ => br_if::<NON_ZERO, 1>,
    }
}

/// Continues where the `min(index, len)`-th of the `Br`s that follow jumps (the translator
/// makes every entry a `Br`, so this skips its dispatch).
fn br_table<const ACC: u8>(
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
    facc: f64,
) -> Ip {
    let op = ip.op();
    let index = operand::<ACC, 1>(regs, op.a, acc) as u32;
    if index >= op.b {
        return br_table_default(ip, regs, ex, acc, mem, facc);
    }
    let entry = ip.skip(1 + index as usize);
    next!(entry.jump(entry.op().a), regs, ex, acc, mem, facc)
}

/// [`br_table`]'s last entry, out of line: the jump to an entry then waits for a compared
/// branch, not for a conditional move between the index and the entry's address.
#[inline(never)]
fn br_table_default(
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
    facc: f64,
) -> Ip {
    let entry = ip.skip(1 + ip.op().b as usize);
    next!(entry.jump(entry.op().a), regs, ex, acc, mem, facc)
}

fn loop_budget(ip: Ip, regs: Regs, ex: &mut Executor<'_>, acc: u64, mem: Memory, facc: f64) -> Ip {
    if ex.vmctx.spend_loop_budget(ex.func.defined) {
        // Compiled just now: continue this very call in the native code.
        match ex.osr(ip.op().a, regs) {
            Ok(false) => {}
            Ok(true) => {
                let first = regs.get(0);
                return leave(ex.func.header, regs, ex, first, mem, facc);
            }
            Err(exit) => return ex.stop(regs, exit),
        }
    }
    next!(ip.skip(1), regs, ex, acc, mem, facc)
}

/// Leaves the current frame (its results in slots `0..n`, its header at slot `a`) for its
/// caller's, or finishes. The caller continues with the first result (slot 0, the call's
/// result slot in the caller's frame, which every frame has) as the accumulator: from the
/// accumulator when it arrived there (`ACC` bit 1), else read.
fn ret<const ACC: u8>(
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
    facc: f64,
) -> Ip {
    let first = operand::<ACC, 1>(regs, 0, acc);
    leave(ip.op().a, regs, ex, first, mem, facc)
}

/// [`ret`] for a frame whose header is at slot `HEADER`: the caller's instruction pointer
/// and frame are then loaded from an address known from the frame alone, so they need not
/// wait for the load of the header's slot from the instruction (which waits for the
/// instruction pointer: the chain of loads that ran through every return). Such a return
/// is not paired with the instruction before it (a pair's second reads its operands from
/// its `Op`): `fib` -3% to -6.5% under four code placements, the other workloads level.
fn ret_at<const ACC: u8, const HEADER: u32>(
    _: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
    facc: f64,
) -> Ip {
    let first = operand::<ACC, 1>(regs, 0, acc);
    leave(HEADER, regs, ex, first, mem, facc)
}

/// Frames whose header is below this slot return through [`ret_at`].
const RET_AT_HEADERS: u32 = 32;

/// The return handler for accumulator bits `bits` in a frame whose header is at slot
/// `header`: [`ret_at`] below [`RET_AT_HEADERS`], else [`ret`].
fn ret_handler(bits: u8, header: u32) -> Handler {
    macro_rules! at {
        ($acc:literal; $($h:literal)*) => {
            match header {
                $($h => ret_at::<$acc, $h> as Handler,)*
                _ => ret::<$acc>,
            }
        };
    }
    match bits {
        0 => {
            at!(0; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31)
        }
        _ => {
            at!(1; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31)
        }
    }
}

/// Continues the caller recorded in the header at slot `header` of frame `regs`, with
/// `first` as the accumulator; the first frame's caller is [`FINISH`].
#[inline(always)]
fn leave(header: u32, regs: Regs, ex: &mut Executor<'_>, first: u64, mem: Memory, facc: f64) -> Ip {
    let caller = regs.header(header);
    ex.func = caller.func;
    next!(caller.ret, caller.regs, ex, first, mem, facc)
}

fn unreachable(_: Ip, regs: Regs, ex: &mut Executor<'_>, _: u64, _: Memory, _: f64) -> Ip {
    trap(ex, regs, TrapCode::UnreachableCodeReached)
}

/// `a = d != 0 ? b : c`; an `Arg` word follows.
fn select<const ACC: u8>(
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
    facc: f64,
) -> Ip {
    let op = ip.op();
    // Both operands are read before the condition is known (see `opaque`): a value chosen
    // by comparing what a pointer-chasing loop loaded (`node = key < node->key ?
    // node->left : node->right`) is ready a cycle after the comparison, not two loads
    // after it. bintree -23..-28% under three code placements, sort -6..-9%, vm -2..-5%.
    let a = opaque(operand::<ACC, 1>(regs, op.b, acc));
    let b = opaque(operand::<ACC, 2>(regs, op.c, acc));
    let v = if operand::<ACC, 4>(regs, op.d, acc) as u32 != 0 {
        a
    } else {
        b
    };
    regs.set(op.a, v);
    // The result is the accumulator from here on (see `result`).
    next!(ip.skip(2), regs, ex, v, mem, facc)
}

// Globals, memory and tables.

fn global_get(ip: Ip, regs: Regs, ex: &mut Executor<'_>, _: u64, mem: Memory, facc: f64) -> Ip {
    let op = ip.op();
    let v = ex.vmctx.global_get(op.b);
    regs.set(op.a, v);
    next!(ip.skip(1), regs, ex, v, mem, facc)
}

fn global_set<const ACC: u8>(
    ip: Ip,
    regs: Regs,
    ex: &mut Executor<'_>,
    acc: u64,
    mem: Memory,
    facc: f64,
) -> Ip {
    let op = ip.op();
    ex.vmctx
        .global_set(op.b, operand::<ACC, 1>(regs, op.a, acc));
    next!(ip.skip(1), regs, ex, acc, mem, facc)
}

fn ref_func(ip: Ip, regs: Regs, ex: &mut Executor<'_>, acc: u64, mem: Memory, facc: f64) -> Ip {
    let op = ip.op();
    regs.set(op.a, ex.vmctx.func_ref(op.b) as u64);
    next!(ip.skip(1), regs, ex, acc, mem, facc)
}

fn memory_size(ip: Ip, regs: Regs, ex: &mut Executor<'_>, acc: u64, mem: Memory, facc: f64) -> Ip {
    regs.set(ip.op().a, (mem.size_in_bytes() as u64) / WASM_PAGE_SIZE);
    next!(ip.skip(1), regs, ex, acc, mem, facc)
}

fn memory_grow(ip: Ip, regs: Regs, ex: &mut Executor<'_>, acc: u64, _: Memory, facc: f64) -> Ip {
    let op = ip.op();
    let delta = regs.get(op.b) as u32 as u64;
    regs.set(op.a, grow_result(ex.vmctx.memory_grow(delta)));
    next!(ip.skip(1), regs, ex, acc, ex.vmctx.memory(), facc)
}

fn memory_fill(ip: Ip, regs: Regs, ex: &mut Executor<'_>, acc: u64, mem: Memory, facc: f64) -> Ip {
    let op = ip.op();
    let (d, v, n) = (
        regs.get(op.a) as u32,
        regs.get(op.b) as u8,
        regs.get(op.c) as u32,
    );
    if mem.fill(d.into(), v, n.into()).is_none() {
        return trap(ex, regs, TrapCode::MemoryOutOfBounds);
    }
    next!(ip.skip(1), regs, ex, acc, mem, facc)
}

fn memory_copy(ip: Ip, regs: Regs, ex: &mut Executor<'_>, acc: u64, mem: Memory, facc: f64) -> Ip {
    let op = ip.op();
    let (d, s, n) = (
        regs.get(op.a) as u32,
        regs.get(op.b) as u32,
        regs.get(op.c) as u32,
    );
    if mem.copy(d.into(), s.into(), n.into()).is_none() {
        return trap(ex, regs, TrapCode::MemoryOutOfBounds);
    }
    next!(ip.skip(1), regs, ex, acc, mem, facc)
}

/// `memory.init` of data segment `d`; an `Arg` word follows.
fn memory_init(ip: Ip, regs: Regs, ex: &mut Executor<'_>, acc: u64, mem: Memory, facc: f64) -> Ip {
    let op = ip.op();
    let (d, s, n) = (
        regs.get(op.a) as u32,
        regs.get(op.b) as u32,
        regs.get(op.c) as u32,
    );
    if let Some(code) = ex.vmctx.memory_init(op.d, d, s, n) {
        return trap(ex, regs, code);
    }
    next!(ip.skip(2), regs, ex, acc, mem, facc)
}

fn data_drop(ip: Ip, regs: Regs, ex: &mut Executor<'_>, acc: u64, mem: Memory, facc: f64) -> Ip {
    ex.vmctx.data_drop(ip.op().a);
    next!(ip.skip(1), regs, ex, acc, mem, facc)
}

fn table_get(ip: Ip, regs: Regs, ex: &mut Executor<'_>, acc: u64, mem: Memory, facc: f64) -> Ip {
    let op = ip.op();
    let elements = vm::table_elements(ex.vmctx.table(op.c));
    let Some(&raw) = elements.get(regs.get(op.b) as u32 as usize) else {
        return trap(ex, regs, TrapCode::TableOutOfBounds);
    };
    regs.set(op.a, raw);
    next!(ip.skip(1), regs, ex, acc, mem, facc)
}

fn table_set(ip: Ip, regs: Regs, ex: &mut Executor<'_>, acc: u64, mem: Memory, facc: f64) -> Ip {
    let op = ip.op();
    let elements = vm::table_elements(ex.vmctx.table(op.c));
    let Some(slot) = elements.get_mut(regs.get(op.a) as u32 as usize) else {
        return trap(ex, regs, TrapCode::TableOutOfBounds);
    };
    *slot = regs.get(op.b);
    next!(ip.skip(1), regs, ex, acc, mem, facc)
}

fn table_size(ip: Ip, regs: Regs, ex: &mut Executor<'_>, acc: u64, mem: Memory, facc: f64) -> Ip {
    let op = ip.op();
    regs.set(op.a, ex.vmctx.table(op.b).current_elements as u64);
    next!(ip.skip(1), regs, ex, acc, mem, facc)
}

/// `table.grow` of table `d`; an `Arg` word follows.
fn table_grow(ip: Ip, regs: Regs, ex: &mut Executor<'_>, acc: u64, mem: Memory, facc: f64) -> Ip {
    let op = ip.op();
    let (init, delta) = (regs.get(op.b), regs.get(op.c) as u32 as u64);
    regs.set(op.a, grow_result(ex.vmctx.table_grow(op.d, delta, init)));
    next!(ip.skip(2), regs, ex, acc, mem, facc)
}

/// `table.fill` of table `d`; an `Arg` word follows.
fn table_fill(ip: Ip, regs: Regs, ex: &mut Executor<'_>, acc: u64, mem: Memory, facc: f64) -> Ip {
    let op = ip.op();
    let elements = vm::table_elements(ex.vmctx.table(op.d));
    let (d, n) = (
        regs.get(op.a) as u32 as usize,
        regs.get(op.c) as u32 as usize,
    );
    let Some(range) = elements.get_mut(d..d + n) else {
        return trap(ex, regs, TrapCode::TableOutOfBounds);
    };
    range.fill(regs.get(op.b));
    next!(ip.skip(2), regs, ex, acc, mem, facc)
}

/// `table.copy`; the `Arg` word after it names the destination and source tables.
fn table_copy(ip: Ip, regs: Regs, ex: &mut Executor<'_>, acc: u64, mem: Memory, facc: f64) -> Ip {
    let op = ip.op();
    let (dst_table, src_table) = (ip.skip(1).op().a, ip.skip(1).op().b);
    let (d, s, n) = (
        regs.get(op.a) as u32 as usize,
        regs.get(op.b) as u32 as usize,
        regs.get(op.c) as u32 as usize,
    );
    let vmctx = ex.vmctx;
    let src_len = vmctx.table(src_table).current_elements;
    let dst_len = vmctx.table(dst_table).current_elements;
    if s + n > src_len || d + n > dst_len {
        return trap(ex, regs, TrapCode::TableOutOfBounds);
    }
    if dst_table == src_table {
        vm::table_elements(vmctx.table(dst_table)).copy_within(s..s + n, d);
    } else {
        let from = vm::table_elements(vmctx.table(src_table))[s..s + n].to_vec();
        vm::table_elements(vmctx.table(dst_table))[d..d + n].copy_from_slice(&from);
    }
    next!(ip.skip(2), regs, ex, acc, mem, facc)
}

/// `table.init`; the `Arg` word after it names the table and the element segment.
fn table_init(ip: Ip, regs: Regs, ex: &mut Executor<'_>, acc: u64, mem: Memory, facc: f64) -> Ip {
    let op = ip.op();
    let (table, elem) = (ip.skip(1).op().a, ip.skip(1).op().b);
    let (d, s, n) = (
        regs.get(op.a) as u32,
        regs.get(op.b) as u32,
        regs.get(op.c) as u32,
    );
    if let Some(code) = ex.vmctx.table_init(table, elem, d, s, n) {
        return trap(ex, regs, code);
    }
    next!(ip.skip(2), regs, ex, acc, mem, facc)
}

fn elem_drop(ip: Ip, regs: Regs, ex: &mut Executor<'_>, acc: u64, mem: Memory, facc: f64) -> Ip {
    ex.vmctx.elem_drop(ip.op().a);
    next!(ip.skip(1), regs, ex, acc, mem, facc)
}
