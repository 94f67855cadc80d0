//! The executor: runs register bytecode for one activation (one entry from the array
//! convention), with calls between the instance's own functions handled in the loop.
//!
//! Calls to other instances, host functions and imports go through the array convention
//! and so recurse natively; the entry checks the native stack against the store's limit.

use crate::instr::{for_each_numeric_op, Instr, Slot};
use crate::semantics as sem;
use crate::translate::CompiledFunc;
use crate::vm::{self, Regs, ValueStack, Vmctx};
use crate::InterpModule;
use strata_environ::vmcontext::{VMFuncRef, OSR_RETURNED, OSR_UNAVAILABLE};
use strata_environ::{TrapCode, ValRaw, WASM_PAGE_SIZE};

/// Most frames of one activation (frames may be tiny, so the value stack alone does not
/// bound the depth).
const MAX_FRAMES: usize = 1 << 17;

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

fn backtrace(func: &CompiledFunc, frames: &[Frame<'_>]) -> Vec<u32> {
    std::iter::once(func.func_index)
        .chain(frames.iter().rev().map(|f| f.func.func_index))
        .collect()
}

/// The unwind of a call to defined function `defined`, whose body is invalid: it is the
/// innermost frame, so the runtime can name it and its validation error.
#[cold]
fn invalid_callee(
    cx: &Context<'_>,
    defined: u32,
    func: &CompiledFunc,
    frames: &[Frame<'_>],
) -> Unwind {
    let mut trace = vec![cx.module.info.func_index(defined)];
    trace.extend(backtrace(func, frames));
    (Exit::Trap(TrapCode::InvalidFunction), trace)
}

struct Frame<'m> {
    func: &'m CompiledFunc,
    pc: usize,
    fp: usize,
}

/// What an activation needs besides its stack.
pub(crate) struct Context<'m> {
    pub(crate) vmctx: Vmctx,
    pub(crate) module: &'m InterpModule,
}

impl Context<'_> {
    /// Calls `callee` (signature: module type `ty`) through the array convention with the
    /// arguments at `base`; its results land at `base`.
    fn call_array(
        &self,
        callee: *const VMFuncRef,
        ty: u32,
        regs: Regs,
        base: Slot,
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
}

impl Context<'_> {
    /// On-stack replacement at loop header `point` of `func`: hands the activation's state
    /// to the function's native code, if it has an entry for the loop. `Ok(true)`: the call
    /// ran to its end there, its results are in slots `0..n`; `Ok(false)`: nothing ran.
    #[cold]
    #[inline(never)]
    fn osr(&self, func: &CompiledFunc, point: u32, regs: Regs) -> Result<bool, Exit> {
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
                    regs.set(k as Slot, v.get_u64());
                }
                Ok(true)
            }
            _ => Err(Exit::Propagated),
        }
    }
}

/// Reads the `Arg` word after the current instruction.
fn arg(code: &[Instr], pc: usize) -> (u32, u32, u32) {
    match code[pc] {
        Instr::Arg { a, b, c } => (a, b, c),
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

macro_rules! define_run {
    (
        unary { $($un:ident $unf:ident,)* }
        unary_trapping { $($unt:ident $untf:ident,)* }
        binary { $($bin:ident $binf:ident,)* }
        binary_trapping { $($bint:ident $bintf:ident,)* }
        load { $($load:ident $lw:literal $lconv:expr,)* }
        store { $($store:ident $sw:literal $sconv:expr,)* }
    ) => {
/// Runs `entry`, whose frame starts at slot 0 of `stack` with the arguments in place;
/// its results are left in slots `0..n`.
pub(crate) fn run<'m>(
    cx: &Context<'m>,
    stack: &mut ValueStack,
    entry: &'m CompiledFunc,
) -> Result<(), Unwind> {
    let mut frames: Vec<Frame<'m>> = Vec::new();
    let mut func = entry;
    let mut fp = 0usize;
    let mut regs = match stack.enter(0, func) {
        Some(regs) => regs,
        None => return Err((Exit::Trap(TrapCode::StackOverflow), vec![func.func_index])),
    };
    let mut code: &'m [Instr] = &func.code;
    let mut pc = 0usize;
    let mut mem = cx.vmctx.memory();
    let vmctx = cx.vmctx;

    macro_rules! trap {
        ($code:expr) => {
            return Err((Exit::Trap($code), backtrace(func, &frames)))
        };
    }
    // The `Arg` word after the current instruction, which is then skipped.
    macro_rules! take_arg {
        () => {{
            let operands = arg(code, pc);
            pc += 1;
            operands
        }};
    }
    // Calls through the array convention; a trap there unwinds this activation too.
    macro_rules! call_array {
        ($callee:expr, $ty:expr, $base:expr) => {
            if let Err(exit) = cx.call_array($callee, $ty, regs, $base) {
                return Err((exit, backtrace(func, &frames)));
            }
        };
    }
    macro_rules! check {
        ($e:expr, $code:expr) => {
            match $e {
                Some(v) => v,
                None => trap!($code),
            }
        };
    }
    // Calls defined function `defined` with its frame at slot `base` of the current one:
    // in this loop, or through its native code once it has some.
    macro_rules! call_defined {
        ($defined:expr, $base:expr) => {{
            let defined = $defined;
            let native = cx.module.tiering
                && (vmctx.native_entry(defined) || vmctx.spend_call_budget(defined));
            if native {
                let index = cx.module.info.func_index(defined);
                let ty = cx.module.info.functions[index as usize];
                let funcref = vmctx.func_ref(cx.module.offsets.func(index));
                call_array!(funcref, ty, $base);
                mem = vmctx.memory();
                continue;
            }
            let Some(callee) = cx.module.compiled(defined) else {
                return Err(invalid_callee(cx, defined, func, &frames));
            };
            let callee_fp = fp + $base as usize;
            if frames.len() >= MAX_FRAMES {
                trap!(TrapCode::StackOverflow);
            }
            regs = check!(stack.enter(callee_fp, callee), TrapCode::StackOverflow);
            frames.push(Frame { func, pc, fp });
            func = callee;
            code = &callee.code;
            fp = callee_fp;
            pc = 0;
        }};
    }

    // Leaves the current frame (its results in slots `0..n`) for its caller's, or finishes.
    macro_rules! return_from_frame {
        () => {
            match frames.pop() {
                None => return Ok(()),
                Some(caller) => {
                    func = caller.func;
                    code = &func.code;
                    pc = caller.pc;
                    fp = caller.fp;
                    regs = stack.frame(fp, func);
                    mem = vmctx.memory();
                }
            }
        };
    }

    loop {
        let instr = code[pc];
        pc += 1;
        match instr {
            $( Instr::$un { dst, src } => regs.set(dst, sem::$unf(regs.get(src))), )*
            $( Instr::$unt { dst, src } => match sem::$untf(regs.get(src)) {
                Ok(v) => regs.set(dst, v),
                Err(e) => trap!(e),
            }, )*
            $( Instr::$bin { dst, a, b } => regs.set(dst, sem::$binf(regs.get(a), regs.get(b))), )*
            $( Instr::$bint { dst, a, b } => match sem::$bintf(regs.get(a), regs.get(b)) {
                Ok(v) => regs.set(dst, v),
                Err(e) => trap!(e),
            }, )*
            $( Instr::$load { dst, addr, offset } => {
                let ea = regs.get(addr) as u32 as u64 + offset as u64;
                let bytes = check!(mem.load::<$lw>(ea), TrapCode::MemoryOutOfBounds);
                regs.set(dst, ($lconv)(bytes));
            } )*
            $( Instr::$store { addr, value, offset } => {
                let ea = regs.get(addr) as u32 as u64 + offset as u64;
                let bytes: [u8; $sw] = ($sconv)(regs.get(value));
                check!(mem.store(ea, bytes), TrapCode::MemoryOutOfBounds);
            } )*

            Instr::Arg { .. } => unreachable!("Arg words are skipped by their instruction"),
            Instr::LoopBudget { point } => {
                if vmctx.spend_loop_budget(func.defined) {
                    // Compiled just now: continue this very call in the native code.
                    match cx.osr(func, point, regs) {
                        Ok(false) => {}
                        Ok(true) => return_from_frame!(),
                        Err(exit) => return Err((exit, backtrace(func, &frames))),
                    }
                }
            }
            Instr::Copy { dst, src } => regs.set(dst, regs.get(src)),
            Instr::Const { dst, lo, hi } => regs.set(dst, lo as u64 | (hi as u64) << 32),
            Instr::Br { target } => pc = target as usize,
            Instr::BrIfZero { cond, target } => {
                if regs.get(cond) as u32 == 0 {
                    pc = target as usize;
                }
            }
            Instr::BrIfNonZero { cond, target } => {
                if regs.get(cond) as u32 != 0 {
                    pc = target as usize;
                }
            }
            Instr::BrI32Eq { a, b, target } => {
                if regs.get(a) as u32 == regs.get(b) as u32 {
                    pc = target as usize;
                }
            }
            Instr::BrI32Ne { a, b, target } => {
                if regs.get(a) as u32 != regs.get(b) as u32 {
                    pc = target as usize;
                }
            }
            Instr::BrI32LtS { a, b, target } => {
                if (regs.get(a) as i32) < (regs.get(b) as i32) {
                    pc = target as usize;
                }
            }
            Instr::BrI32LtU { a, b, target } => {
                if (regs.get(a) as u32) < (regs.get(b) as u32) {
                    pc = target as usize;
                }
            }
            Instr::BrI32GtS { a, b, target } => {
                if (regs.get(a) as i32) > (regs.get(b) as i32) {
                    pc = target as usize;
                }
            }
            Instr::BrI32GtU { a, b, target } => {
                if (regs.get(a) as u32) > (regs.get(b) as u32) {
                    pc = target as usize;
                }
            }
            Instr::BrI32LeS { a, b, target } => {
                if (regs.get(a) as i32) <= (regs.get(b) as i32) {
                    pc = target as usize;
                }
            }
            Instr::BrI32LeU { a, b, target } => {
                if (regs.get(a) as u32) <= (regs.get(b) as u32) {
                    pc = target as usize;
                }
            }
            Instr::BrI32GeS { a, b, target } => {
                if (regs.get(a) as i32) >= (regs.get(b) as i32) {
                    pc = target as usize;
                }
            }
            Instr::BrI32GeU { a, b, target } => {
                if (regs.get(a) as u32) >= (regs.get(b) as u32) {
                    pc = target as usize;
                }
            }
            Instr::BrTable { index, len } => pc += (regs.get(index) as u32).min(len) as usize,
            Instr::Return => return_from_frame!(),
            Instr::Unreachable => trap!(TrapCode::UnreachableCodeReached),
            Instr::Select { dst, a, b } => {
                let (cond, _, _) = take_arg!();
                let v = if regs.get(cond) as u32 != 0 { regs.get(a) } else { regs.get(b) };
                regs.set(dst, v);
            }
            Instr::Call { func: defined, base } => call_defined!(defined, base),
            Instr::CallRef { offset, base, ty } => {
                call_array!(vmctx.func_ref(offset), ty, base);
                mem = vmctx.memory();
            }
            Instr::CallIndirect { index, ty, table } => {
                let (base, _, _) = take_arg!();
                let elements = vm::table_elements(vmctx.table(table));
                let raw = *check!(
                    elements.get(regs.get(index) as u32 as usize),
                    TrapCode::TableOutOfBounds
                );
                if raw == 0 {
                    trap!(TrapCode::IndirectCallToNull);
                }
                let callee = raw as *const VMFuncRef;
                let (type_id, callee_vmctx, func_index) = vm::func_ref_target(callee);
                if type_id != vmctx.type_id(ty) {
                    trap!(TrapCode::BadSignature);
                }
                if callee_vmctx == vmctx.as_ptr() {
                    let defined = func_index - cx.module.info.num_imported_funcs;
                    call_defined!(defined, base);
                } else {
                    call_array!(callee, ty, base);
                    mem = vmctx.memory();
                }
            }
            Instr::GlobalGet { dst, offset } => regs.set(dst, vmctx.global_get(offset)),
            Instr::GlobalSet { src, offset } => vmctx.global_set(offset, regs.get(src)),
            Instr::RefFunc { dst, offset } => regs.set(dst, vmctx.func_ref(offset) as u64),
            Instr::MemorySize { dst } => {
                regs.set(dst, (mem.size_in_bytes() as u64) / WASM_PAGE_SIZE)
            }
            Instr::MemoryGrow { dst, delta } => {
                let delta = regs.get(delta) as u32 as u64;
                regs.set(dst, grow_result(vmctx.memory_grow(delta)));
                mem = vmctx.memory();
            }
            Instr::MemoryFill { dst, value, len } => {
                let (d, v, n) = (regs.get(dst) as u32, regs.get(value) as u8, regs.get(len) as u32);
                check!(mem.fill(d.into(), v, n.into()), TrapCode::MemoryOutOfBounds);
            }
            Instr::MemoryCopy { dst, src, len } => {
                let (d, s, n) = (regs.get(dst) as u32, regs.get(src) as u32, regs.get(len) as u32);
                check!(mem.copy(d.into(), s.into(), n.into()), TrapCode::MemoryOutOfBounds);
            }
            Instr::MemoryInit { dst, src, len } => {
                let (data, _, _) = take_arg!();
                let (d, s, n) = (regs.get(dst) as u32, regs.get(src) as u32, regs.get(len) as u32);
                if let Some(e) = vmctx.memory_init(data, d, s, n) {
                    trap!(e);
                }
            }
            Instr::DataDrop { data } => vmctx.data_drop(data),
            Instr::TableGet { dst, index, table } => {
                let elements = vm::table_elements(vmctx.table(table));
                let raw = *check!(
                    elements.get(regs.get(index) as u32 as usize),
                    TrapCode::TableOutOfBounds
                );
                regs.set(dst, raw);
            }
            Instr::TableSet { index, value, table } => {
                let elements = vm::table_elements(vmctx.table(table));
                let slot = check!(
                    elements.get_mut(regs.get(index) as u32 as usize),
                    TrapCode::TableOutOfBounds
                );
                *slot = regs.get(value);
            }
            Instr::TableSize { dst, table } => {
                regs.set(dst, vmctx.table(table).current_elements as u64);
            }
            Instr::TableGrow { dst, init, delta } => {
                let (table, _, _) = take_arg!();
                let (init, delta) = (regs.get(init), regs.get(delta) as u32 as u64);
                regs.set(dst, grow_result(vmctx.table_grow(table, delta, init)));
            }
            Instr::TableFill { dst, value, len } => {
                let (table, _, _) = take_arg!();
                let elements = vm::table_elements(vmctx.table(table));
                let (d, n) = (regs.get(dst) as u32 as usize, regs.get(len) as u32 as usize);
                let range = check!(elements.get_mut(d..d + n), TrapCode::TableOutOfBounds);
                range.fill(regs.get(value));
            }
            Instr::TableCopy { dst, src, len } => {
                let (dst_table, src_table, _) = take_arg!();
                let (d, s, n) = (
                    regs.get(dst) as u32 as usize,
                    regs.get(src) as u32 as usize,
                    regs.get(len) as u32 as usize,
                );
                let src_len = vmctx.table(src_table).current_elements;
                let dst_len = vmctx.table(dst_table).current_elements;
                if s + n > src_len || d + n > dst_len {
                    trap!(TrapCode::TableOutOfBounds);
                }
                if dst_table == src_table {
                    vm::table_elements(vmctx.table(dst_table)).copy_within(s..s + n, d);
                } else {
                    let from = vm::table_elements(vmctx.table(src_table))[s..s + n].to_vec();
                    vm::table_elements(vmctx.table(dst_table))[d..d + n].copy_from_slice(&from);
                }
            }
            Instr::TableInit { dst, src, len } => {
                let (table, elem, _) = take_arg!();
                let (d, s, n) = (regs.get(dst) as u32, regs.get(src) as u32, regs.get(len) as u32);
                if let Some(e) = vmctx.table_init(table, elem, d, s, n) {
                    trap!(e);
                }
            }
            Instr::ElemDrop { elem } => vmctx.elem_drop(elem),
        }
    }
}
    };
}
for_each_numeric_op!(define_run);
