//! Translation of one function body from wasm operators to register bytecode.
//!
//! One pass over the operators keeps a static model of the wasm operand stack whose entries
//! name where each value already lives: a local, a constant slot, or a temporary. A stack
//! position `p` has one canonical temporary slot, `temp_base + p`, so producing a value
//! never needs a register allocator, and `local.get` or a constant costs no instruction.
//!
//! Invariants that keep this sound:
//! - A stack entry naming a local is copied into its temporary before that local is written
//!   (`local.set`, `local.tee`), and before every `block`, `loop` and `if`, so no such entry
//!   lives across control flow where the copy could happen on one path only.
//! - At every label the label's values are in the canonical slots of their stack positions;
//!   branches copy into them, in ascending order, which is safe because a value's position is
//!   never below its destination's.
//! - `local.set` right after an instruction that produced the top of stack retargets that
//!   instruction's result to the local instead of copying (unless a label intervened); so
//!   does returning a single result, to slot 0.

use crate::exec::{indexed_end_fits, Op};
use crate::instr::{for_each_numeric_op, Instr, Slot, SlotUse};
use crate::Effort;
use anyhow::{bail, Result};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use strata_environ::{ModuleInfo, VMOffsets};
use wasmparser::{BlockType, Operator};

/// Most constants one function keeps in frame slots; later ones are materialized with
/// `Instr::Const` where used. Frames copy their constants in on every call.
const MAX_CONST_SLOTS: usize = 128;

/// A function ready for the executor.
#[derive(Debug)]
pub(crate) struct CompiledFunc {
    /// Threaded code, lowered from the translated instructions.
    pub(crate) code: Box<[Op]>,
    /// The handler of `code`'s first instruction, kept beside it: a call jumps to it
    /// without waiting for the load of `code` (see `exec::calls`).
    pub(crate) entry: crate::exec::Handler,
    /// Index in the module's function space (for trap reports).
    pub(crate) func_index: u32,
    /// Index among the module's defined functions (for tier-up budgets).
    pub(crate) defined: u32,
    pub(crate) num_params: u32,
    /// Declared locals after the parameters (zeroed on entry).
    pub(crate) num_locals: u32,
    /// The slots after the parameters on entry: zero for each declared local, then the
    /// values of the constant slots read from the frame (the first ones, see
    /// [`read_constants_first`]), then a zero if that made an odd count.
    pub(crate) entry_values: Box<[u64]>,
    /// The first of the frame's [`crate::vm::HEADER_SLOTS`] header slots (see
    /// [`crate::vm::FrameHeader`]): after the parameters, the entry values and the result
    /// slots, and right below the temporaries.
    pub(crate) header: u32,
    /// Bytes of the slots the frame needs (at least max(params, results) slots, and the
    /// parameters and entry values).
    pub(crate) frame_bytes: usize,
    /// `frame_bytes` if the function has at most [`crate::vm::FEW_ENTRY_VALUES`] entry
    /// values, else more than any value stack holds: so the call handlers' fast path, which
    /// takes only the former (see [`crate::vm::fit`]), tells both apart with the one room
    /// check it makes anyway.
    pub(crate) few_frame_bytes: usize,
    /// The loop headers where the activation may move to native code (on-stack
    /// replacement), indexed by their `LoopBudget` instructions.
    pub(crate) osr_points: Box<[OsrPoint]>,
}

/// A loop header's state, as an on-stack-replacement entry takes it: the loop (by module
/// byte offset, which names it in every tier) and the slot of each operand stack entry
/// there, bottom first. The locals precede them in the state, from slots `0..`.
#[derive(Debug)]
pub(crate) struct OsrPoint {
    pub(crate) loop_offset: u32,
    pub(crate) stack: Box<[Slot]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operand {
    Local(u32),
    Const(Slot),
    Temp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ControlKind {
    Function,
    Block,
    Loop {
        start: u32,
    },
    /// `else_jump`: the `BrIfZero` to patch to the `else` (or end, without one).
    If {
        else_jump: usize,
    },
    Else,
}

#[derive(Debug)]
struct Control {
    kind: ControlKind,
    /// Operand stack height below the block's parameters.
    height: u32,
    params: u32,
    results: u32,
    /// Forward branches to patch with the end's position.
    patches: Vec<usize>,
    /// Whether the end is reached by a branch.
    branched: bool,
}

impl Control {
    fn label_arity(&self) -> u32 {
        match self.kind {
            ControlKind::Loop { .. } => self.params,
            _ => self.results,
        }
    }
}

struct Translator<'m> {
    module: &'m ModuleInfo,
    offsets: VMOffsets,
    /// Whether loop headers count iterations for tier-up.
    tiering: bool,
    code: Vec<Instr>,
    stack: Vec<Operand>,
    control: Vec<Control>,
    const_slots: ConstantSlots,
    temp_base: u32,
    max_height: u32,
    reachable: bool,
    /// Blocks opened inside unreachable code, skipped up to their `end`.
    unreachable_depth: u32,
    /// The instruction whose result is the top of stack, if nothing intervened.
    last_result: Option<usize>,
    /// Per instruction, the operand stack's height once it has run (see
    /// [`crate::exec::FrameSlots`]).
    heights: Vec<u32>,
    /// Module byte offset of the operator being translated.
    offset: u32,
    osr_points: Vec<OsrPoint>,
    /// Where the last label was bound (an instruction index).
    label_at: usize,
}

/// Whether a function of type `ty` starts reading its first argument from the accumulator
/// (see [`crate::exec::Caller`]): an `i32` or `i64` one.
fn param_in_acc(ty: &strata_environ::WasmFuncType) -> bool {
    use strata_environ::WasmValType;
    matches!(ty.params.first(), Some(WasmValType::I32 | WasmValType::I64))
}

/// Translates defined function `defined` of `module`.
pub(crate) fn translate(
    module: &ModuleInfo,
    offsets: VMOffsets,
    defined: u32,
    tiering: bool,
    effort: Effort,
) -> Result<CompiledFunc> {
    let func_index = module.func_index(defined);
    let ty = module.func_type(func_index);
    let num_params = ty.params.len() as u32;
    let num_results = ty.results.len() as u32;
    let body = module.function_body(defined);
    let mut num_locals = 0u32;
    for local in body.get_locals_reader()? {
        let (count, _) = local?;
        num_locals = match num_locals.checked_add(count) {
            Some(n) => n,
            None => bail!("too many locals"),
        };
    }

    // Constants get frame slots after the locals, so they must be known before temporaries
    // are numbered: a quick first pass collects them.
    let first_const = num_params + num_locals;
    let mut consts = Vec::new();
    let mut const_slots = ConstantSlots::default();
    let mut reader = body.get_operators_reader()?;
    while !reader.eof() && consts.len() < MAX_CONST_SLOTS {
        // An operator the visitor cannot read (a SIMD one) ends the search: the translation
        // below reports it.
        let Ok(constant) = reader.visit_operator(&mut ConstantVisitor) else {
            break;
        };
        if let Some(value) = constant {
            const_slots.entry(value).or_insert_with(|| {
                consts.push(value);
                first_const + consts.len() as u32 - 1
            });
        }
    }

    // The frame header goes after the constants (where the entry values end, or past
    // that, as constants only read as immediates leave their slots unused) and the zero
    // that pads them when all are read as slots (a call writes the header before them),
    // and after the result slots, which a return writes before it reads the header.
    let entry_end = first_const + consts.len() as u32 + (num_locals + consts.len() as u32) % 2;
    let header = entry_end.max(num_results);
    let mut t = Translator {
        module,
        offsets,
        tiering,
        code: Vec::new(),
        stack: Vec::new(),
        control: vec![Control {
            kind: ControlKind::Function,
            height: 0,
            params: 0,
            results: num_results,
            patches: Vec::new(),
            branched: false,
        }],
        const_slots,
        temp_base: header + crate::vm::HEADER_SLOTS,
        max_height: 0,
        reachable: true,
        unreachable_depth: 0,
        last_result: None,
        heights: Vec::new(),
        offset: 0,
        osr_points: Vec::new(),
        label_at: 0,
    };
    let mut reader = body.get_operators_reader()?;
    while !reader.eof() {
        t.offset = reader.original_position() as u32;
        let op = reader.read()?;
        t.operator(op)?;
    }
    if !t.control.is_empty() {
        bail!("function body ends inside a block");
    }
    let read_consts = match effort {
        Effort::Full => {
            let read =
                read_constants_first(&mut t.code, &mut t.osr_points, first_const, &mut consts);
            crate::tail_copy::copy_tails(&mut t.code, &mut t.heights);
            crate::loop_entry::carry_counters(&mut t.code, &mut t.heights);
            read
        }
        // Frames copy in every constant.
        Effort::Quick => consts.len(),
    };
    // Frames take the constants read as slots; the others are only ever immediates. An odd
    // count gets a zero after it: frames copy their entry values in pairs.
    let entry_values: Box<[u64]> = std::iter::repeat_n(0, num_locals as usize)
        .chain(consts.iter().copied().take(read_consts))
        .chain(std::iter::repeat_n(
            0,
            (num_locals as usize + read_consts) % 2,
        ))
        .collect();
    let frame_size = (t.temp_base + t.max_height)
        .max(num_params + entry_values.len() as u32)
        .max(num_results)
        // Slot 0 is read on return (see `exec::ret`), results or not.
        .max(1);
    let frame_bytes = frame_size as usize * std::mem::size_of::<u64>();
    let code = crate::exec::lower(
        &t.code,
        &crate::exec::Consts {
            first: first_const,
            values: &consts,
        },
        &crate::exec::FrameSlots {
            temps: t.temp_base,
            header,
            heights: &t.heights,
        },
        crate::exec::Caller {
            defined,
            tiering,
            param_in_acc: param_in_acc(ty),
            callee_param_in_acc: &|callee| {
                param_in_acc(match callee {
                    crate::exec::Signature::OfDefined(defined) => {
                        module.func_type(module.func_index(defined))
                    }
                    crate::exec::Signature::Type(ty) => &module.types[ty as usize],
                })
            },
        },
        effort,
    );
    Ok(CompiledFunc {
        entry: code[0].handler(),
        code,
        func_index,
        defined,
        num_params,
        num_locals,
        frame_bytes,
        few_frame_bytes: if entry_values.len() <= crate::vm::FEW_ENTRY_VALUES {
            frame_bytes
        } else {
            usize::MAX
        },
        entry_values,
        header,
        osr_points: t.osr_points.into(),
    })
}

/// Renumbers the constant slots (`values`, from slot `first`) so that those some
/// instruction reads from the frame come first, and returns how many these are: a frame
/// copies in only them on every call, while constants the threaded code only ever takes as
/// immediates need no value there. Translation numbers constants by first appearance, so
/// without this one float constant or table address late in a function would make every
/// call copy all of them.
fn read_constants_first(
    code: &mut [Instr],
    osr_points: &mut [OsrPoint],
    first: Slot,
    values: &mut Vec<u64>,
) -> usize {
    let index = |slot: Slot| {
        slot.checked_sub(first)
            .map(|k| k as usize)
            .filter(|&k| k < values.len())
    };
    let mut read = vec![false; values.len()];
    let mut prev = None;
    for instr in code.iter_mut() {
        instr.for_each_slot(prev, |slot, how| {
            if let (Some(k), SlotUse::Read) = (index(*slot), how) {
                read[k] = true;
            }
        });
        prev = Some(*instr);
    }
    // On-stack replacement reads every stack entry of a loop header from the frame.
    for point in osr_points.iter() {
        for &slot in point.stack.iter() {
            if let Some(k) = index(slot) {
                read[k] = true;
            }
        }
    }
    // The new position of each constant: the read ones in order, then the others.
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by_key(|&k| !read[k]);
    let mut new_index = vec![0; values.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new as u32;
    }
    let renumber = |slot: &mut Slot| {
        if let Some(k) = index(*slot) {
            *slot = first + new_index[k];
        }
    };
    let mut prev = None;
    for instr in code.iter_mut() {
        let before = *instr;
        instr.for_each_slot(prev, |slot, how| {
            // A written slot among the constants' is a result's (slots `0..n` on return),
            // which names no constant.
            if how != SlotUse::Write {
                renumber(slot);
            }
        });
        prev = Some(before);
    }
    for point in osr_points.iter_mut() {
        point.stack.iter_mut().for_each(renumber);
    }
    *values = order.iter().map(|&k| values[k]).collect();
    read.iter().filter(|&&r| r).count()
}

/// The slot of each distinct constant of a function, by its raw value.
type ConstantSlots = HashMap<u64, Slot, BuildHasherDefault<ConstantHasher>>;

/// Hashes a constant's raw value with one multiplication. The default hasher (SipHash) cost
/// more than the rest of looking a constant up (4% of translating `medium`); a module that
/// makes its constants collide on purpose slows only its own translation, and at most by
/// the length of a chain of [`MAX_CONST_SLOTS`] entries.
#[derive(Default)]
struct ConstantHasher(u64);

impl Hasher for ConstantHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(29) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Reads the raw value of a constant operator, and `None` of every other one, without
/// building the operator (this pass over a body only looks for constants: building each
/// operator and dropping it cost more than decoding it).
struct ConstantVisitor;

/// The [`ConstantVisitor`] method of each operator: the constant's value, or `None`.
macro_rules! visit_constants {
    ($(@$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
        $(
            #[allow(unused_variables)]
            fn $visit(&mut self $($(, $arg: $argty)*)?) -> Option<u64> {
                visit_constants!(@value $op $($($arg)*)?)
            }
        )*
    };
    (@value I32Const $value:ident) => { Some($value as u32 as u64) };
    (@value I64Const $value:ident) => { Some($value as u64) };
    (@value F32Const $value:ident) => { Some($value.bits() as u64) };
    (@value F64Const $value:ident) => { Some($value.bits()) };
    (@value RefNull $hty:ident) => { Some(0) };
    (@value $op:ident $($arg:ident)*) => { None };
}

impl<'a> wasmparser::VisitOperator<'a> for ConstantVisitor {
    type Output = Option<u64>;
    wasmparser::for_each_visit_operator!(visit_constants);
}

/// The raw value of a constant operator.
fn const_value(op: &Operator<'_>) -> Option<u64> {
    Some(match *op {
        Operator::I32Const { value } => value as u32 as u64,
        Operator::I64Const { value } => value as u64,
        Operator::F32Const { value } => value.bits() as u64,
        Operator::F64Const { value } => value.bits(),
        Operator::RefNull { .. } => 0,
        _ => return None,
    })
}

macro_rules! define_numeric_translation {
    (
        unary { $($un:ident $unf:ident,)* }
        unary_trapping { $($unt:ident $untf:ident,)* }
        binary { $($bin:ident $binf:ident,)* }
        binary_trapping { $($bint:ident $bintf:ident,)* }
        load { $($load:ident $loadi:ident $lw:literal $lconv:expr,)* }
        store { $($store:ident $storei:ident $sw:literal $sconv:expr,)* }
    ) => {
        impl Translator<'_> {
            /// Translates a numeric, load or store operator; `false` if `op` is none of those.
            fn numeric(&mut self, op: &Operator<'_>) -> bool {
                match *op {
                    $( Operator::$un => {
                        let src = self.pop_slot();
                        let dst = self.push_temp();
                        self.emit_result(Instr::$un { dst, src });
                    } )*
                    $( Operator::$unt => {
                        let src = self.pop_slot();
                        let dst = self.push_temp();
                        self.emit_result(Instr::$unt { dst, src });
                    } )*
                    $( Operator::$bin => {
                        let b = self.pop_slot();
                        let a = self.pop_slot();
                        let dst = self.push_temp();
                        self.emit_result(Instr::$bin { dst, a, b });
                    } )*
                    $( Operator::$bint => {
                        let b = self.pop_slot();
                        let a = self.pop_slot();
                        let dst = self.push_temp();
                        self.emit_result(Instr::$bint { dst, a, b });
                    } )*
                    $( Operator::$load { memarg } => {
                        let addr = self.pop_slot();
                        let dst = self.push_temp();
                        let offset = memarg.offset as u32;
                        match self.take_address_sum(addr, offset, $lw) {
                            Some((a, b, scaled)) => {
                                self.emit_result(Instr::$loadi { dst, a, b, offset, scaled })
                            }
                            None => self.emit_result(Instr::$load { dst, addr, offset }),
                        }
                    } )*
                    $( Operator::$store { memarg } => {
                        let value = self.pop_slot();
                        let addr = self.pop_slot();
                        let offset = memarg.offset as u32;
                        match self.take_address_sum(addr, offset, $sw) {
                            Some((a, b, scaled)) => {
                                self.emit(Instr::$storei { a, b, value, offset, scaled });
                            }
                            None => {
                                self.emit(Instr::$store { addr, value, offset });
                            }
                        }
                    } )*
                    _ => return false,
                }
                if matches!(op, Operator::I32Add) {
                    self.fuse_shifted_add();
                }
                true
            }
        }
    };
}
for_each_numeric_op!(define_numeric_translation);

impl Translator<'_> {
    // ---- operand stack ----

    /// The slot of the entry at `pos`.
    fn slot_at(&self, pos: usize) -> Slot {
        match self.stack[pos] {
            Operand::Local(i) => i,
            Operand::Const(s) => s,
            Operand::Temp => self.temp_base + pos as u32,
        }
    }

    fn pop_slot(&mut self) -> Slot {
        let pos = self.stack.len() - 1;
        let slot = self.slot_at(pos);
        self.stack.pop();
        slot
    }

    /// Pushes an entry. Every stack position may be materialized into its canonical slot,
    /// so the frame covers the highest position of any entry, not only of temporaries.
    fn push(&mut self, operand: Operand) {
        self.stack.push(operand);
        self.max_height = self.max_height.max(self.stack.len() as u32);
    }

    /// Pushes a temporary and returns its slot.
    fn push_temp(&mut self) -> Slot {
        self.push(Operand::Temp);
        self.temp_base + self.stack.len() as u32 - 1
    }

    fn push_const(&mut self, value: u64) {
        match self.const_slots.get(&value) {
            Some(&slot) => self.push(Operand::Const(slot)),
            None => {
                let dst = self.push_temp();
                self.emit_result(Instr::Const {
                    dst,
                    lo: value as u32,
                    hi: (value >> 32) as u32,
                });
            }
        }
    }

    /// Copies the entry at `pos` into its canonical slot if it lives elsewhere.
    fn materialize(&mut self, pos: usize) {
        if self.stack[pos] != Operand::Temp {
            let src = self.slot_at(pos);
            self.stack[pos] = Operand::Temp;
            self.emit(Instr::Copy {
                dst: self.temp_base + pos as u32,
                src,
            });
        }
    }

    fn materialize_top(&mut self, n: u32) {
        let len = self.stack.len();
        for pos in len - n as usize..len {
            self.materialize(pos);
        }
    }

    /// Copies every entry naming a local (or `only` that local) into its temporary.
    fn materialize_locals(&mut self, only: Option<u32>) {
        for pos in 0..self.stack.len() {
            if let Operand::Local(i) = self.stack[pos] {
                if only.is_none_or(|l| l == i) {
                    self.materialize(pos);
                }
            }
        }
    }

    // ---- emission ----

    fn emit(&mut self, instr: Instr) -> usize {
        self.last_result = None;
        self.code.push(instr);
        self.heights.push(self.stack.len() as u32);
        self.code.len() - 1
    }

    /// Emits an instruction followed by the `Arg` word carrying its extra operands.
    fn emit_with_arg(&mut self, instr: Instr, a: u32, b: u32) {
        self.emit(instr);
        self.emit(Instr::Arg { a, b, c: 0 });
    }

    /// Emits an instruction whose result is the new top of stack.
    fn emit_result(&mut self, instr: Instr) {
        self.code.push(instr);
        self.heights.push(self.stack.len() as u32);
        self.last_result = Some(self.code.len() - 1);
    }

    fn pc(&self) -> u32 {
        self.code.len() as u32
    }

    /// Binds a label here: instructions before it can no longer be retargeted.
    fn bind_here(&mut self) -> u32 {
        self.last_result = None;
        self.label_at = self.code.len();
        self.pc()
    }

    fn patch(&mut self, at: usize, target: u32) {
        match self.code[at].branch_target_mut() {
            Some(t) => *t = target,
            None => unreachable!("patching a non-branch {:?}", self.code[at]),
        }
    }

    /// When the address `addr` just popped is the temporary the last instruction computed
    /// with `i32.add a b` (and nothing else reads it), removes that instruction and returns
    /// `(a, b, false)` for a load or store that adds them itself; when it computed
    /// `a + (b << log2(width))` (an array element's address, see [`Self::fuse_shifted_add`]),
    /// returns `(a, b, true)`: the access scales `b` itself. The operands of a store's value
    /// may follow the address on the stack without instructions (locals, constants) only.
    /// An access at `offset` of `width` bytes whose end does not fit 32 bits takes no sum
    /// (the indexed forms keep the end, see `exec::indexed_end_fits`).
    fn take_address_sum(
        &mut self,
        addr: Slot,
        offset: u32,
        width: u32,
    ) -> Option<(Slot, Slot, bool)> {
        let last = self.code.len().checked_sub(1)?;
        if self.last_result != Some(last) || addr < self.temp_base {
            return None;
        }
        if !indexed_end_fits(offset, width) {
            return None;
        }
        let (a, b, scaled) = match self.code[last] {
            Instr::I32Add { dst, a, b } if dst == addr => (a, b, false),
            Instr::I32AddShifted { dst, a, b, shift }
                if dst == addr && u32::from(shift) == width.trailing_zeros() =>
            {
                (a, b, true)
            }
            _ => return None,
        };
        self.code.pop();
        self.heights.pop();
        self.last_result = None;
        Some((a, b, scaled))
    }

    /// When the `i32.add` just emitted adds to a base the temporary that the instruction
    /// before computed as `x << k` (`k` from 1 to 3: an index scaled to an element's
    /// offset), and no label lies between the two, makes them one `I32AddShifted`.
    fn fuse_shifted_add(&mut self) {
        let n = self.code.len();
        if n < 2 || self.last_result != Some(n - 1) || self.label_at == n - 1 {
            return;
        }
        let (
            Instr::I32Add { dst, a, b },
            Instr::I32Shl {
                dst: t,
                a: x,
                b: count,
            },
        ) = (self.code[n - 1], self.code[n - 2])
        else {
            return;
        };
        if t < self.temp_base {
            return;
        }
        let base = match (a == t, b == t) {
            (false, true) => a,
            (true, false) => b,
            _ => return,
        };
        let Some(shift) = (1..=3u8).find(|&k| self.const_slots.get(&u64::from(k)) == Some(&count))
        else {
            return;
        };
        self.code.truncate(n - 2);
        self.heights.truncate(n - 2);
        self.emit_result(Instr::I32AddShifted {
            dst,
            a: base,
            b: x,
            shift,
        });
    }

    /// Emits a jump (target patched later) taken when `cond` is non-zero (`when`) or zero
    /// (`!when`). When the instruction just emitted computed `cond` with an `i32`
    /// comparison, the two fuse into one compare-and-branch instruction.
    fn conditional_jump(&mut self, cond: Slot, when: bool) -> usize {
        let last = self.code.len().wrapping_sub(1);
        if self.last_result == Some(last) && cond >= self.temp_base {
            if let Some(fused) = fuse_compare_branch(self.code[last], cond, when) {
                self.code[last] = fused;
                // The comparison's result, popped as the condition, is gone too.
                self.heights[last] = self.stack.len() as u32;
                self.last_result = None;
                return last;
            }
        }
        let target = u32::MAX;
        self.emit(if when {
            Instr::BrIfNonZero { cond, target }
        } else {
            Instr::BrIfZero { cond, target }
        })
    }

    // ---- control ----

    fn block_type(&self, ty: BlockType) -> (u32, u32) {
        match ty {
            BlockType::Empty => (0, 0),
            BlockType::Type(_) => (0, 1),
            BlockType::FuncType(i) => {
                let ty = &self.module.types[i as usize];
                (ty.params.len() as u32, ty.results.len() as u32)
            }
        }
    }

    fn push_control(&mut self, kind: ControlKind, ty: BlockType) {
        let (params, results) = self.block_type(ty);
        self.control.push(Control {
            kind,
            height: self.stack.len() as u32 - params,
            params,
            results,
            patches: Vec::new(),
            branched: false,
        });
    }

    /// Copies of the top values into the slots of the label `depth` levels out.
    fn branch_copies(&self, depth: u32) -> Vec<(Slot, Slot)> {
        let frame = &self.control[self.control.len() - 1 - depth as usize];
        let arity = frame.label_arity() as usize;
        let first = self.stack.len() - arity;
        (0..arity)
            .filter_map(|k| {
                let dst = self.temp_base + frame.height + k as u32;
                let src = self.slot_at(first + k);
                (src != dst).then_some((dst, src))
            })
            .collect()
    }

    /// Emits the jump (after any copies) of a branch to label `depth`.
    fn emit_branch(&mut self, depth: u32) {
        let idx = self.control.len() - 1 - depth as usize;
        if self.control[idx].kind == ControlKind::Function {
            self.emit_return();
            return;
        }
        for (dst, src) in self.branch_copies(depth) {
            self.emit(Instr::Copy { dst, src });
        }
        match self.control[idx].kind {
            ControlKind::Loop { start } => {
                self.emit(Instr::Br { target: start });
            }
            _ => {
                let at = self.emit(Instr::Br { target: u32::MAX });
                let frame = &mut self.control[idx];
                frame.patches.push(at);
                frame.branched = true;
            }
        }
    }

    /// [`Self::emit_return`] where nothing runs after it on any path (`return`, the end of
    /// the function): a single result that the instruction just before produced into a
    /// temporary is retargeted to slot 0 instead of copied (slot 0 is a parameter, but the
    /// instruction reads its operands before it writes, and nothing reads the frame after).
    fn emit_final_return(&mut self) {
        if self.control[0].results == 1 && self.stack.last() == Some(&Operand::Temp) {
            let slot = self.temp_base + self.stack.len() as u32 - 1;
            if let Some(at) = self.last_result {
                if let Some(dst) = self.code[at].dst_mut().filter(|dst| **dst == slot) {
                    *dst = 0;
                    self.last_result = None;
                    self.emit(Instr::Return);
                    return;
                }
            }
        }
        self.emit_return();
    }

    /// Moves the function's results into slots `0..n` and returns.
    fn emit_return(&mut self) {
        let n = self.control[0].results;
        if n == 1 {
            let top = self.stack.len() - 1;
            let src = self.slot_at(top);
            // `Return` reads slot 0 without naming it: a constant there is copied even into
            // its own slot, which is then no longer the constant's once constants are
            // renumbered (see `read_constants_first`).
            if src != 0 || matches!(self.stack[top], Operand::Const(_)) {
                self.emit(Instr::Copy { dst: 0, src });
            }
        } else if n > 1 {
            // Two phases so no result overwrites another before it is read: into the
            // canonical temporaries (above every local), then down in ascending order. The
            // stack model is left alone: on a conditional return these copies run only on
            // the returning path.
            let first = self.stack.len() - n as usize;
            for pos in first..self.stack.len() {
                if self.stack[pos] != Operand::Temp {
                    let src = self.slot_at(pos);
                    self.emit(Instr::Copy {
                        dst: self.temp_base + pos as u32,
                        src,
                    });
                }
            }
            let first = first as u32;
            for k in 0..n {
                let src = self.temp_base + first + k;
                if src != k {
                    self.emit(Instr::Copy { dst: k, src });
                }
            }
        }
        self.emit(Instr::Return);
    }

    fn set_unreachable(&mut self) {
        self.reachable = false;
        let height = self.control.last().map_or(0, |c| c.height) as usize;
        self.stack.truncate(height);
    }

    fn end(&mut self) {
        let frame = self.control.last().expect("end inside a function");
        if frame.kind == ControlKind::Function {
            if self.reachable {
                self.emit_final_return();
            }
            self.control.pop();
            return;
        }
        if self.reachable {
            let (height, results) = (frame.height as usize, frame.results);
            for k in 0..results as usize {
                let pos = self.stack.len() - results as usize + k;
                let dst = self.temp_base + (height + k) as u32;
                let src = self.slot_at(pos);
                if src != dst {
                    self.emit(Instr::Copy { dst, src });
                }
            }
        }
        let frame = self.control.pop().expect("checked above");
        let here = self.bind_here();
        let mut reachable = self.reachable || frame.branched;
        if let ControlKind::If { else_jump } = frame.kind {
            // No `else`: the false path reaches the end with the parameters as results.
            self.patch(else_jump, here);
            reachable = true;
        }
        if !matches!(frame.kind, ControlKind::Loop { .. }) {
            for at in frame.patches {
                self.patch(at, here);
            }
        }
        self.stack.truncate(frame.height as usize);
        for _ in 0..frame.results {
            self.push_temp();
        }
        self.reachable = reachable;
    }

    fn else_(&mut self) {
        if self.reachable {
            self.emit_branch(0);
        }
        let here = self.bind_here();
        let frame = self.control.last_mut().expect("else inside a function");
        let ControlKind::If { else_jump } = frame.kind else {
            unreachable!("validated: else follows if");
        };
        frame.kind = ControlKind::Else;
        let (height, params) = (frame.height, frame.params);
        self.patch(else_jump, here);
        self.stack.truncate(height as usize);
        for _ in 0..params {
            self.push_temp();
        }
        self.reachable = true;
    }

    // ---- locals ----

    fn local_set(&mut self, local: u32) {
        let top = self.stack.len() - 1;
        if self.stack[top] == Operand::Local(local) {
            self.stack.pop();
            return;
        }
        let aliased = self.stack[..top].contains(&Operand::Local(local));
        if !aliased && self.stack[top] == Operand::Temp {
            if let Some(at) = self.last_result {
                let slot = self.temp_base + top as u32;
                if let Some(dst) = self.code[at].dst_mut() {
                    if *dst == slot {
                        *dst = local;
                        self.last_result = None;
                        self.stack.pop();
                        return;
                    }
                }
            }
        }
        if aliased {
            self.materialize_locals(Some(local));
        }
        let src = self.pop_slot();
        self.emit(Instr::Copy { dst: local, src });
    }

    // ---- operators ----

    fn operator(&mut self, op: Operator<'_>) -> Result<()> {
        if !self.reachable {
            match op {
                Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                    self.unreachable_depth += 1;
                }
                Operator::Else if self.unreachable_depth == 0 => self.else_(),
                Operator::End if self.unreachable_depth == 0 => self.end(),
                Operator::End => self.unreachable_depth -= 1,
                _ => {}
            }
            return Ok(());
        }
        if self.numeric(&op) {
            return Ok(());
        }
        if let Some(value) = const_value(&op) {
            self.push_const(value);
            return Ok(());
        }
        match op {
            Operator::Nop => {}
            Operator::Unreachable => {
                self.emit(Instr::Unreachable);
                self.set_unreachable();
            }
            Operator::Block { blockty } => {
                self.materialize_locals(None);
                self.push_control(ControlKind::Block, blockty);
            }
            Operator::Loop { blockty } => {
                // Back-edges deliver the parameters in their canonical slots, so the first
                // entry must too.
                self.materialize_locals(None);
                self.materialize_top(self.block_type(blockty).0);
                let start = self.bind_here();
                if self.tiering {
                    let point = self.osr_points.len() as u32;
                    self.osr_points.push(OsrPoint {
                        loop_offset: self.offset,
                        stack: (0..self.stack.len()).map(|pos| self.slot_at(pos)).collect(),
                    });
                    self.emit(Instr::LoopBudget { point });
                }
                self.push_control(ControlKind::Loop { start }, blockty);
            }
            Operator::If { blockty } => {
                let cond = self.pop_slot();
                // Both arms start from the parameters in their canonical slots (copies that
                // come after the condition's instruction prevent fusing with it).
                self.materialize_locals(None);
                self.materialize_top(self.block_type(blockty).0);
                let else_jump = self.conditional_jump(cond, false);
                self.push_control(ControlKind::If { else_jump }, blockty);
            }
            Operator::Else => self.else_(),
            Operator::End => self.end(),
            Operator::Br { relative_depth } => {
                self.emit_branch(relative_depth);
                self.set_unreachable();
            }
            Operator::BrIf { relative_depth } => self.br_if(relative_depth),
            Operator::BrTable { targets } => {
                let mut depths = Vec::with_capacity(targets.len() as usize + 1);
                for depth in targets.targets() {
                    depths.push(depth?);
                }
                depths.push(targets.default());
                self.br_table(&depths);
            }
            Operator::Return => {
                self.emit_final_return();
                self.set_unreachable();
            }
            Operator::Call { function_index } => self.call(function_index),
            Operator::CallIndirect {
                type_index,
                table_index,
            } => {
                let index = self.pop_slot();
                let base = self.call_args(type_index);
                self.emit_with_arg(
                    Instr::CallIndirect {
                        index,
                        ty: type_index,
                        table: table_index,
                    },
                    base,
                    0,
                );
                self.call_results(type_index);
            }
            Operator::Drop => {
                self.stack.pop();
            }
            Operator::Select | Operator::TypedSelect { .. } => {
                let cond = self.pop_slot();
                let b = self.pop_slot();
                let a = self.pop_slot();
                let dst = self.push_temp();
                self.emit_with_arg(Instr::Select { dst, a, b }, cond, 0);
                // Its result may be retargeted like any other (its `Arg` word follows).
                self.last_result = Some(self.code.len() - 2);
            }
            Operator::LocalGet { local_index } => self.push(Operand::Local(local_index)),
            Operator::LocalSet { local_index } => self.local_set(local_index),
            Operator::LocalTee { local_index } => {
                self.local_set(local_index);
                self.push(Operand::Local(local_index));
            }
            Operator::GlobalGet { global_index } => {
                let dst = self.push_temp();
                let offset = self.offsets.global(global_index);
                self.emit_result(Instr::GlobalGet { dst, offset });
            }
            Operator::GlobalSet { global_index } => {
                let src = self.pop_slot();
                let offset = self.offsets.global(global_index);
                self.emit(Instr::GlobalSet { src, offset });
            }
            // Reinterpretations change only the static type: slots hold bits.
            Operator::I32ReinterpretF32
            | Operator::I64ReinterpretF64
            | Operator::F32ReinterpretI32
            | Operator::F64ReinterpretI64 => {}
            Operator::RefIsNull => {
                let src = self.pop_slot();
                let dst = self.push_temp();
                self.emit_result(Instr::I64Eqz { dst, src });
            }
            Operator::RefFunc { function_index } => {
                let dst = self.push_temp();
                let offset = self.offsets.func(function_index);
                self.emit_result(Instr::RefFunc { dst, offset });
            }
            Operator::MemorySize { .. } => {
                let dst = self.push_temp();
                self.emit_result(Instr::MemorySize { dst });
            }
            Operator::MemoryGrow { .. } => {
                let delta = self.pop_slot();
                let dst = self.push_temp();
                self.emit(Instr::MemoryGrow { dst, delta });
            }
            Operator::MemoryFill { .. } => {
                let [dst, value, len] = self.pop3();
                self.emit(Instr::MemoryFill { dst, value, len });
            }
            Operator::MemoryCopy { .. } => {
                let [dst, src, len] = self.pop3();
                self.emit(Instr::MemoryCopy { dst, src, len });
            }
            Operator::MemoryInit { data_index, .. } => {
                let [dst, src, len] = self.pop3();
                self.emit_with_arg(Instr::MemoryInit { dst, src, len }, data_index, 0);
            }
            Operator::DataDrop { data_index } => {
                self.emit(Instr::DataDrop { data: data_index });
            }
            Operator::TableGet { table } => {
                let index = self.pop_slot();
                let dst = self.push_temp();
                self.emit_result(Instr::TableGet { dst, index, table });
            }
            Operator::TableSet { table } => {
                let value = self.pop_slot();
                let index = self.pop_slot();
                self.emit(Instr::TableSet {
                    index,
                    value,
                    table,
                });
            }
            Operator::TableSize { table } => {
                let dst = self.push_temp();
                self.emit_result(Instr::TableSize { dst, table });
            }
            Operator::TableGrow { table } => {
                let delta = self.pop_slot();
                let init = self.pop_slot();
                let dst = self.push_temp();
                self.emit_with_arg(Instr::TableGrow { dst, init, delta }, table, 0);
            }
            Operator::TableFill { table } => {
                let [dst, value, len] = self.pop3();
                self.emit_with_arg(Instr::TableFill { dst, value, len }, table, 0);
            }
            Operator::TableCopy {
                dst_table,
                src_table,
            } => {
                let [dst, src, len] = self.pop3();
                self.emit_with_arg(Instr::TableCopy { dst, src, len }, dst_table, src_table);
            }
            Operator::TableInit { elem_index, table } => {
                let [dst, src, len] = self.pop3();
                self.emit_with_arg(Instr::TableInit { dst, src, len }, table, elem_index);
            }
            Operator::ElemDrop { elem_index } => {
                self.emit(Instr::ElemDrop { elem: elem_index });
            }
            other => bail!("unsupported operator {other:?}"),
        }
        Ok(())
    }

    /// Pops three operands, returned in push order.
    fn pop3(&mut self) -> [Slot; 3] {
        let c = self.pop_slot();
        let b = self.pop_slot();
        let a = self.pop_slot();
        [a, b, c]
    }

    fn br_if(&mut self, depth: u32) {
        let cond = self.pop_slot();
        let idx = self.control.len() - 1 - depth as usize;
        let is_function = self.control[idx].kind == ControlKind::Function;
        let copies = self.branch_copies(depth);
        if copies.is_empty() && !is_function {
            let at = self.conditional_jump(cond, true);
            match self.control[idx].kind {
                ControlKind::Loop { start } => self.patch(at, start),
                _ => {
                    self.control[idx].patches.push(at);
                    self.control[idx].branched = true;
                }
            }
        } else {
            let skip = self.conditional_jump(cond, false);
            self.emit_branch(depth);
            let here = self.bind_here();
            self.patch(skip, here);
        }
    }

    fn br_table(&mut self, depths: &[u32]) {
        let index = self.pop_slot();
        self.emit(Instr::BrTable {
            index,
            len: depths.len() as u32 - 1,
        });
        let first = self.code.len();
        let mut stubs = Vec::new();
        for (k, &depth) in depths.iter().enumerate() {
            let at = self.emit(Instr::Br { target: u32::MAX });
            let idx = self.control.len() - 1 - depth as usize;
            let direct = self.control[idx].kind != ControlKind::Function
                && self.branch_copies(depth).is_empty();
            if direct {
                match self.control[idx].kind {
                    ControlKind::Loop { start } => self.patch(at, start),
                    _ => {
                        self.control[idx].patches.push(at);
                        self.control[idx].branched = true;
                    }
                }
            } else {
                stubs.push((first + k, depth));
            }
        }
        for (at, depth) in stubs {
            let here = self.bind_here();
            self.patch(at, here);
            self.emit_branch(depth);
        }
        self.set_unreachable();
    }

    /// Places the arguments of a call of type `ty` in their canonical slots, pops them and
    /// returns the slot of the first, where the callee's frame will start.
    fn call_args(&mut self, ty: u32) -> Slot {
        let params = self.module.types[ty as usize].params.len() as u32;
        self.materialize_top(params);
        let first = self.stack.len() as u32 - params;
        self.stack.truncate(first as usize);
        self.last_result = None;
        // The first result's slot is in the frame even without results or arguments: the
        // executor reads it on the way back (see `exec::ret`).
        self.max_height = self.max_height.max(first + 1);
        self.temp_base + first
    }

    fn call_results(&mut self, ty: u32) {
        for _ in 0..self.module.types[ty as usize].results.len() {
            self.push_temp();
        }
    }

    fn call(&mut self, func: u32) {
        let ty = self.module.functions[func as usize];
        let base = self.call_args(ty);
        match self.module.defined_func_index(func) {
            Some(defined) => self.emit(Instr::Call {
                func: defined,
                base,
            }),
            None => self.emit(Instr::CallRef {
                offset: self.offsets.func(func),
                base,
                ty,
            }),
        };
        self.call_results(ty);
    }
}

/// The fused compare-and-branch for `compare` (the instruction computing `cond`), jumping
/// when the comparison is `when`; `None` if `compare` is not a fusable `i32` comparison.
fn fuse_compare_branch(compare: Instr, cond: Slot, when: bool) -> Option<Instr> {
    /// Branch variants by relation, each with its negation.
    type Make = fn(Slot, Slot, u32) -> Instr;
    const EQ: Make = |a, b, target| Instr::BrI32Eq { a, b, target };
    const NE: Make = |a, b, target| Instr::BrI32Ne { a, b, target };
    const LT_S: Make = |a, b, target| Instr::BrI32LtS { a, b, target };
    const LT_U: Make = |a, b, target| Instr::BrI32LtU { a, b, target };
    const GT_S: Make = |a, b, target| Instr::BrI32GtS { a, b, target };
    const GT_U: Make = |a, b, target| Instr::BrI32GtU { a, b, target };
    const LE_S: Make = |a, b, target| Instr::BrI32LeS { a, b, target };
    const LE_U: Make = |a, b, target| Instr::BrI32LeU { a, b, target };
    const GE_S: Make = |a, b, target| Instr::BrI32GeS { a, b, target };
    const GE_U: Make = |a, b, target| Instr::BrI32GeU { a, b, target };
    let target = u32::MAX;
    let (dst, a, b, (taken, not_taken)) = match compare {
        Instr::I32Eqz { dst, src } if dst == cond => {
            return Some(if when {
                Instr::BrIfZero { cond: src, target }
            } else {
                Instr::BrIfNonZero { cond: src, target }
            });
        }
        Instr::I32Eq { dst, a, b } => (dst, a, b, (EQ, NE)),
        Instr::I32Ne { dst, a, b } => (dst, a, b, (NE, EQ)),
        Instr::I32LtS { dst, a, b } => (dst, a, b, (LT_S, GE_S)),
        Instr::I32LtU { dst, a, b } => (dst, a, b, (LT_U, GE_U)),
        Instr::I32GtS { dst, a, b } => (dst, a, b, (GT_S, LE_S)),
        Instr::I32GtU { dst, a, b } => (dst, a, b, (GT_U, LE_U)),
        Instr::I32LeS { dst, a, b } => (dst, a, b, (LE_S, GT_S)),
        Instr::I32LeU { dst, a, b } => (dst, a, b, (LE_U, GT_U)),
        Instr::I32GeS { dst, a, b } => (dst, a, b, (GE_S, LT_S)),
        Instr::I32GeU { dst, a, b } => (dst, a, b, (GE_U, LT_U)),
        _ => return None,
    };
    (dst == cond).then(|| if when { taken } else { not_taken }(a, b, target))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translated(wat: &str) -> CompiledFunc {
        let module = strata_environ::translate_module(&wat::parse_str(wat).unwrap()).unwrap();
        translate(&module, VMOffsets::new(&module), 0, false, Effort::Full).unwrap()
    }

    /// Only constants some instruction reads from the frame are copied in on a call: here
    /// the `f64` one, which appears after nine constants that are immediates everywhere
    /// (the last one the addend of a load's address).
    #[test]
    fn frames_copy_only_constants_read_as_slots() {
        let func = translated(
            r#"(module (memory 1) (func (param i32) (result f64)
                (local i32 i64)
                local.get 0 i32.const 1024 i32.add i32.load drop
                local.get 0 i32.const 11 i32.add i32.const 12 i32.mul
                i32.const 13 i32.xor i32.const 14 i32.sub i32.const 15 i32.and
                i32.const 16 i32.or i32.const 17 i32.shl i32.const 18 i32.rotl
                local.set 1
                f64.const 2.5))"#,
        );
        // The locals' zeros, the float's bits, and a zero that makes the count even.
        assert_eq!(*func.entry_values, [0, 0, 2.5f64.to_bits(), 0]);
    }
}
