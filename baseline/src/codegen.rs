//! One pass from wasm operators to x86-64, in the manner of V8's Liftoff.
//!
//! The operand stack is modelled statically: an entry is a constant (emitted as an
//! immediate where it is used), a local (read from its frame slot where it is used), or a
//! temporary in the canonical frame slot of its stack position. Operators load their
//! operands into scratch registers and store their result in the canonical slot, so at every
//! label the values are where the label expects them with no register state to reconcile.
//! (Keeping temporaries in registers between operators is the next step; the model makes
//! room for it.) The same invariants as the interpreter's translator keep locals sound: an
//! entry naming a local is copied out before the local is written and at every block entry.
//!
//! Registers: `r15` holds the callee `VMContext`, `r14` the base of memory 0 (reloaded after
//! calls and `memory.grow`); `rax`, `rcx`, `rdx` are scratch. Frame, from `rbp` down: saved
//! `r15`, the save slots of `r14` and of the pool's `rbx`, `r12` and `r13` (each stored and
//! reloaded only when the function uses it: otherwise the moves, and the loads of the memory
//! base, are patched into no-ops),
//! then 8-byte slots (params, locals, temporaries); at the bottom, from `rsp` up, outgoing
//! stack arguments and the values area of array calls.

use crate::ops::Cond;
use crate::Unsupported;
use dynasmrt::x64::X64Relocation;
use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler};
use strata_environ::abi::{is_float, ArgLoc, NativeSignature};
use strata_environ::vmcontext::offsets as off;
use strata_environ::{
    CompiledFunction, ModuleInfo, OsrEntry, TrapCode, TrapSite, VMOffsets, WasmFuncType,
};
use wasmparser::{BlockType, Operator};

mod bulk;
mod call;
mod osr;

use osr::OsrLoop;

type Asm = VecAssembler<X64Relocation>;

/// Options the runtime's configuration decides.
#[derive(Debug, Clone, Copy)]
pub struct CompileOptions {
    /// Check every memory access against the memory's current length, instead of relying
    /// on a 4 GiB reservation plus guard pages.
    pub explicit_bounds_checks: bool,
    /// Bytes of inaccessible guard after a 4 GiB reservation (static offsets below it need no
    /// check).
    pub guard_size: u64,
    /// Spend the instance's tier-up budgets (calls at entry, iterations at loop headers) and
    /// call the `tier_up` builtin when one runs out, as the interpreter does.
    pub count_for_tier_up: bool,
    /// Give every loop an on-stack-replacement entry (see [`strata_environ::OsrEntry`]), so
    /// an interpreter activation running the loop can continue in this code.
    pub osr_entries: bool,
}

const RAX: u8 = 0;
const RCX: u8 = 1;
const RDX: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operand {
    Local(u32),
    Const(u64),
    /// In the canonical slot of its stack position.
    Temp,
    /// In a register of [`POOL`] (its canonical slot is reserved but stale).
    Reg(u8),
    /// A float in a register of [`XMM_POOL`] (its canonical slot is reserved but stale).
    Xmm(u8),
    /// A comparison's result, still in the flags: only ever the top entry, consumed by the
    /// operator right after it (a `br_if` or `if` jumps on it) or materialized before any
    /// other (see [`Compiler::operator`]).
    Flags(Cond),
}

/// Where the value a store writes is.
enum Stored {
    Gpr(u8),
    Xmm(u8),
}

/// The second operand of a two-operand instruction.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Src {
    Reg(u8),
    Imm(i32),
}

/// Registers that hold float temporaries: xmm2-xmm15 (xmm0 and xmm1 are scratch). All are
/// caller-saved, so, like the integer pool, they are spilled at joins and before calls;
/// between those, chains of float operations stay in them (no round trips through integer
/// registers, which cost latency in every dependent step).
const XMM_POOL: [u8; 14] = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/// Registers that hold temporaries: rsi, rdi, r8, r9, then rbx, r12, r13 (which the frame
/// saves only when a function uses them, so they come last). Values in them are spilled to
/// their canonical slots at every control-flow join and before every call; rax, rcx, rdx,
/// r10 and r11 stay free as scratch.
const POOL: [u8; 7] = [6, 7, 8, 9, 3, 12, 13];

/// The memory base register.
const R14: u8 = 14;

/// The callee-saved registers a function saves only when it uses them, each with its save
/// slot below the frame pointer: the memory base and the pool's rbx, r12 and r13.
const SAVED_ON_USE: [(u8, i32); 4] = [(R14, -16), (3, -24), (12, -32), (13, -40)];

/// The recommended multi-byte no-ops, 1 to 9 bytes long.
const NOPS: [&[u8]; 9] = [
    &[0x90],
    &[0x66, 0x90],
    &[0x0f, 0x1f, 0x00],
    &[0x0f, 0x1f, 0x40, 0x00],
    &[0x0f, 0x1f, 0x44, 0x00, 0x00],
    &[0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00],
    &[0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00],
    &[0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
    &[0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
];

/// Overwrites `code` with no-ops.
fn fill_with_nops(mut code: &mut [u8]) {
    while !code.is_empty() {
        let nop = NOPS[code.len().min(NOPS.len()) - 1];
        let (head, rest) = code.split_at_mut(nop.len());
        head.copy_from_slice(nop);
        code = rest;
    }
}

/// Alignment of loop headers in the code (see [`Compiler::align_loop_header`]).
const LOOP_ALIGNMENT: usize = 32;

/// Targets (besides the default) from which `br_table` jumps through a table instead of
/// comparing the index with each in turn.
const JUMP_TABLE_MIN_TARGETS: usize = 4;

/// Bytes of a jump table entry: `jmp rel32`.
const JUMP_TABLE_ENTRY: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Function,
    Block,
    Loop,
    If { else_label: DynamicLabel },
    Else,
}

struct Control {
    kind: Kind,
    /// Operand stack height below the block's parameters.
    height: u32,
    params: u32,
    results: u32,
    /// The branch target: the loop head for loops, the end otherwise.
    label: DynamicLabel,
    branched: bool,
}

pub(crate) struct Compiler<'m> {
    module: &'m ModuleInfo,
    offsets: VMOffsets,
    options: CompileOptions,
    asm: Asm,
    stack: Vec<Operand>,
    control: Vec<Control>,
    temp_base: u32,
    /// Slot holding the caller's results-area pointer (functions with several results).
    results_area_slot: Option<u32>,
    max_height: u32,
    reachable: bool,
    unreachable_depth: u32,
    func_type: &'m WasmFuncType,
    /// Bit `r` set: register `r` of [`POOL`] is free.
    free_regs: u16,
    /// Bit `x` set: register `xmm{x}` of [`XMM_POOL`] is free.
    free_xmm: u16,
    trap_sites: Vec<TrapSite>,
    trap_labels: Vec<(TrapCode, DynamicLabel)>,
    /// Bytes of outgoing stack arguments of the function's calls (from a pre-scan).
    out_args: u32,
    /// Most values any array call of this function passes (sizes its values area).
    max_array_values: u32,
    /// This function's index among the module's defined functions.
    defined: u32,
    /// Out-of-line tier-up calls.
    tier_up_stubs: Vec<TierUpStub>,
    /// Module byte offset of the operator being compiled.
    offset: u32,
    /// Loops that get an on-stack-replacement entry, emitted after the body.
    osr_loops: Vec<OsrLoop>,
    /// Where each prologue's frame size immediate must be patched.
    frame_patches: Vec<usize>,
    /// Code that only a function using a register of [`SAVED_ON_USE`] needs: the saves and
    /// restores of each, and the loads of the memory base.
    saved_on_use: Vec<(u8, std::ops::Range<usize>)>,
    /// Bit `r` set: the function uses register `r` (pool registers when taken, r14 when it
    /// accesses memory).
    used_regs: u16,
    /// The function's entry (its first instruction), for self-calls.
    entry: DynamicLabel,
}

/// An out-of-line call of `tier_up` where a budget ran out: the stub, where it returns to,
/// and, at loop headers of code with on-stack replacement, the loop whose activation may
/// continue in optimized code from there.
struct TierUpStub {
    stub: DynamicLabel,
    back: DynamicLabel,
    osr_exit: Option<OsrLoop>,
}

/// Compiles defined function `defined`.
pub fn compile(
    module: &ModuleInfo,
    offsets: VMOffsets,
    options: CompileOptions,
    defined: u32,
) -> Result<CompiledFunction, Unsupported> {
    let func_index = module.func_index(defined);
    let func_type = module.func_type(func_index);
    let body = module.function_body(defined);
    let mut num_locals = 0u32;
    for local in body.get_locals_reader()? {
        let (count, _) = local?;
        num_locals = num_locals
            .checked_add(count)
            .ok_or_else(|| Unsupported::new("too many locals"))?;
    }
    let (out_args, max_array_values) = scan_calls(module, &body)?;
    let num_params = func_type.params.len() as u32;
    // With several results, the results-area pointer gets a slot after the locals.
    let results_area_slot = (func_type.results.len() > 1).then_some(num_params + num_locals);
    let mut asm = Asm::new(0);
    let entry = asm.new_dynamic_label();
    let mut c = Compiler {
        module,
        offsets,
        options,
        asm,
        stack: Vec::new(),
        control: Vec::new(),
        temp_base: num_params + num_locals + results_area_slot.is_some() as u32,
        results_area_slot,
        max_height: 0,
        reachable: true,
        unreachable_depth: 0,
        func_type,
        free_regs: POOL.iter().fold(0, |m, &r| m | 1 << r),
        free_xmm: XMM_POOL.iter().fold(0, |m, &x| m | 1 << x),
        trap_sites: Vec::new(),
        trap_labels: Vec::new(),
        out_args,
        max_array_values,
        defined,
        tier_up_stubs: Vec::new(),
        offset: 0,
        osr_loops: Vec::new(),
        frame_patches: Vec::new(),
        saved_on_use: Vec::new(),
        used_regs: 0,
        entry,
    };
    let end = c.asm.new_dynamic_label();
    c.control.push(Control {
        kind: Kind::Function,
        height: 0,
        params: 0,
        results: func_type.results.len() as u32,
        label: end,
        branched: false,
    });
    c.prologue(num_params, num_locals);
    let mut reader = body.get_operators_reader()?;
    while !reader.eof() {
        c.offset = reader.original_position() as u32;
        c.operator(reader.read()?)?;
    }
    let osr_entries = c.osr_entries(num_params + num_locals);
    c.epilogue_and_stubs();
    c.finish(osr_entries)
}

/// The frame's call areas, sized before code generation: bytes of outgoing stack arguments
/// (the most any call passes) and the most values any array call passes.
fn scan_calls(
    module: &ModuleInfo,
    body: &wasmparser::FunctionBody<'_>,
) -> Result<(u32, u32), Unsupported> {
    let (mut out_args, mut values) = (0, 0);
    let mut reader = body.get_operators_reader()?;
    while !reader.eof() {
        let ty = match reader.read()? {
            Operator::Call { function_index } => module.func_type(function_index),
            Operator::CallIndirect { type_index, .. } => &module.types[type_index as usize],
            _ => continue,
        };
        out_args = out_args.max(NativeSignature::new(ty).stack_args_size);
        values = values.max(ty.params.len().max(ty.results.len()).max(1) as u32);
    }
    Ok((out_args, values))
}

/// Bytes below the frame pointer that hold saved registers: r15 (pushed), then r14, rbx, r12
/// and r13 (stored, see [`SAVED_ON_USE`]).
const SAVED_REGS: i32 = 40;

fn slot_offset(slot: u32) -> i32 {
    -SAVED_REGS - 8 - 8 * slot as i32
}

impl Compiler<'_> {
    // ---- frame ----

    /// Emits the frame setup every entry shares: saves registers, allocates the frame (its
    /// size patched in by `finish`), takes the `VMContext` and checks the stack limit.
    fn enter_frame(&mut self) {
        dynasm!(self.asm
            ; .arch x64
            ; push rbp
            ; mov rbp, rsp
            ; push r15
            ; sub rsp, 0x7fff_fff0
        );
        self.frame_patches.push(self.asm.offset().0 - 4);
        for (r, at) in SAVED_ON_USE {
            let start = self.asm.offset().0;
            dynasm!(self.asm ; .arch x64 ; mov QWORD [rbp + at], Rq(r));
            self.saved_on_use.push((r, start..self.asm.offset().0));
        }
        let store_context = self.offsets.store_context() as i32;
        dynasm!(self.asm
            ; .arch x64
            ; mov r15, rdi
            ; mov rax, QWORD [r15 + store_context]
            ; cmp rsp, QWORD [rax + off::STORE_STACK_LIMIT as i32]
        );
        let overflow = self.trap_label(TrapCode::StackOverflow);
        dynasm!(self.asm ; .arch x64 ; jb =>overflow);
    }

    /// Stores the results-area pointer, passed at `loc`, in its slot.
    fn store_results_area(&mut self, slot: u32, loc: ArgLoc) {
        let dst = slot_offset(slot);
        match loc {
            ArgLoc::Gpr(r) => dynasm!(self.asm ; .arch x64 ; mov QWORD [rbp + dst], Rq(r)),
            ArgLoc::Stack(o) => dynasm!(self.asm
                ; .arch x64
                ; mov rax, QWORD [rbp + 16 + o as i32]
                ; mov QWORD [rbp + dst], rax
            ),
            ArgLoc::Xmm(_) => unreachable!("pointers travel in integer registers"),
        }
    }

    /// Emits the prologue.
    fn prologue(&mut self, num_params: u32, num_locals: u32) {
        dynasm!(self.asm ; .arch x64 ; =>self.entry);
        self.enter_frame();
        let sig = NativeSignature::new(self.func_type);
        for (i, loc) in sig.params.iter().enumerate() {
            let dst = slot_offset(i as u32);
            match *loc {
                ArgLoc::Gpr(r) => dynasm!(self.asm ; .arch x64 ; mov QWORD [rbp + dst], Rq(r)),
                ArgLoc::Xmm(x) => dynasm!(self.asm ; .arch x64 ; movq QWORD [rbp + dst], Rx(x)),
                ArgLoc::Stack(o) => dynasm!(self.asm
                    ; .arch x64
                    ; mov rax, QWORD [rbp + 16 + o as i32]
                    ; mov QWORD [rbp + dst], rax
                ),
            }
        }
        if let (Some(slot), Some(loc)) = (self.results_area_slot, sig.results_area) {
            self.store_results_area(slot, loc);
        }
        if num_locals > 0 {
            dynasm!(self.asm ; .arch x64 ; xor eax, eax);
            for l in num_params..num_params + num_locals {
                dynasm!(self.asm ; .arch x64 ; mov QWORD [rbp + slot_offset(l)], rax);
            }
        }
        self.reload_memory_base();
        // Function entry spends a call budget (two i32 budgets per function: calls, loops).
        self.spend_budget(8 * self.defined as i32, None);
    }

    /// Spends one unit of the budget at byte `offset` of the instance's budgets; when it
    /// runs out, calls `tier_up` out of line. Only used where no pool register is live.
    fn spend_budget(&mut self, offset: i32, osr_exit: Option<OsrLoop>) {
        if !self.options.count_for_tier_up {
            return;
        }
        let stub = self.asm.new_dynamic_label();
        let back = self.asm.new_dynamic_label();
        let budgets = self.offsets.budgets() as i32;
        dynasm!(self.asm
            ; .arch x64
            ; mov rax, QWORD [r15 + budgets]
            ; sub DWORD [rax + offset], 1
            ; jl =>stub
            ; =>back
        );
        self.tier_up_stubs.push(TierUpStub {
            stub,
            back,
            osr_exit,
        });
    }

    /// Loads the memory base into r14 (patched into no-ops if the function never accesses
    /// memory).
    fn reload_memory_base(&mut self) {
        if self.offsets.num_memories > 0 {
            let mem = self.offsets.memory(0) as i32;
            let start = self.asm.offset().0;
            dynasm!(self.asm
                ; .arch x64
                ; mov rax, QWORD [r15 + mem]
                ; mov r14, QWORD [rax + off::MEMORY_BASE as i32]
            );
            self.saved_on_use.push((R14, start..self.asm.offset().0));
        }
    }

    fn epilogue_and_stubs(&mut self) {
        let builtins = self.offsets.builtins() as i32;
        for TierUpStub {
            stub,
            back,
            osr_exit,
        } in std::mem::take(&mut self.tier_up_stubs)
        {
            dynasm!(self.asm
                ; .arch x64
                ; =>stub
                ; mov rdi, r15
                ; mov esi, self.defined as i32
                ; mov rax, QWORD [r15 + builtins]
                ; call QWORD [rax + off::BUILTIN_TIER_UP as i32]
            );
            if let Some(osr) = osr_exit {
                self.osr_exit(&osr);
            }
            dynasm!(self.asm ; .arch x64 ; jmp =>back);
        }
        for (code, label) in std::mem::take(&mut self.trap_labels) {
            dynasm!(self.asm ; .arch x64 ; =>label);
            self.trap_sites.push(TrapSite {
                offset: self.asm.offset().0 as u32,
                code,
            });
            dynasm!(self.asm ; .arch x64 ; ud2);
        }
    }

    fn finish(self, osr_entries: Vec<OsrEntry>) -> Result<CompiledFunction, Unsupported> {
        let slots = self.temp_base + self.max_height;
        let bottom = self.out_args + 16 * self.max_array_values;
        // The return address and two pushes leave rsp 8 below a 16-byte boundary; the frame,
        // with the 32 bytes of the save slots of `SAVED_ON_USE`, is an odd multiple of 8 to
        // align it at calls.
        let frame = (8 * slots + bottom).next_multiple_of(16) + 8;
        let mut code = self
            .asm
            .finalize()
            .map_err(|e| Unsupported::new(format!("assembler: {e}")))?;
        let frame = frame + (SAVED_REGS - 8) as u32;
        for &patch in &self.frame_patches {
            code[patch..patch + 4].copy_from_slice(&frame.to_le_bytes());
        }
        // A register the function never uses keeps the caller's value: its saves and
        // restores (and the memory base's loads) become no-ops.
        for (r, range) in &self.saved_on_use {
            if self.used_regs & 1 << r == 0 {
                fill_with_nops(&mut code[range.clone()]);
            }
        }
        let mut trap_sites = self.trap_sites;
        trap_sites.sort_by_key(|s| s.offset);
        Ok(CompiledFunction {
            code,
            trap_sites,
            osr_entries,
        })
    }

    /// The shared `ud2` stub raising `code`.
    fn trap_label(&mut self, code: TrapCode) -> DynamicLabel {
        if let Some(&(_, l)) = self.trap_labels.iter().find(|(c, _)| *c == code) {
            return l;
        }
        let l = self.asm.new_dynamic_label();
        self.trap_labels.push((code, l));
        l
    }

    /// Records that the next instruction may fault with `code`.
    fn trap_site_here(&mut self, code: TrapCode) {
        self.trap_sites.push(TrapSite {
            offset: self.asm.offset().0 as u32,
            code,
        });
    }

    // ---- operand stack ----

    fn push(&mut self, op: Operand) {
        self.stack.push(op);
        self.max_height = self.max_height.max(self.stack.len() as u32);
    }

    /// Pushes a temporary; returns its slot's frame offset.
    fn push_temp(&mut self) -> i32 {
        self.push(Operand::Temp);
        slot_offset(self.temp_base + self.stack.len() as u32 - 1)
    }

    /// Pops the top entry; a register it held is free again (the caller reads it before
    /// allocating anything).
    fn pop(&mut self) -> (Operand, u32) {
        let pos = self.stack.len() as u32 - 1;
        let op = self.stack.pop().expect("validated stack");
        match op {
            Operand::Reg(r) => self.free_regs |= 1 << r,
            Operand::Xmm(x) => self.free_xmm |= 1 << x,
            _ => {}
        }
        (op, pos)
    }

    /// Drops entries above `len`, freeing their registers.
    fn truncate(&mut self, len: usize) {
        while self.stack.len() > len {
            self.pop();
        }
    }

    /// A free register of the pool, spilling the deepest register entry if none is free.
    fn alloc_reg(&mut self) -> u8 {
        if let Some(&r) = POOL.iter().find(|&&r| self.free_regs & 1 << r != 0) {
            self.free_regs &= !(1 << r);
            self.used_regs |= 1 << r;
            return r;
        }
        let pos = self
            .stack
            .iter()
            .position(|op| matches!(op, Operand::Reg(_)))
            .expect("all pool registers hold stack entries");
        let Operand::Reg(r) = self.stack[pos] else {
            unreachable!()
        };
        self.materialize(pos);
        self.free_regs &= !(1 << r);
        r
    }

    /// A free register of the float pool, spilling the deepest float entry if none is free.
    fn alloc_xmm(&mut self) -> u8 {
        if let Some(&x) = XMM_POOL.iter().find(|&&x| self.free_xmm & 1 << x != 0) {
            self.free_xmm &= !(1 << x);
            return x;
        }
        let pos = self
            .stack
            .iter()
            .position(|op| matches!(op, Operand::Xmm(_)))
            .expect("all float pool registers hold stack entries");
        let Operand::Xmm(x) = self.stack[pos] else {
            unreachable!()
        };
        self.materialize(pos);
        self.free_xmm &= !(1 << x);
        x
    }

    /// Pushes a comparison's result, left in the flags.
    pub(crate) fn push_flags(&mut self, cond: Cond) {
        self.push(Operand::Flags(cond));
    }

    /// Pushes the value in `rax` as a new entry, kept in a register.
    fn push_rax_in_reg(&mut self) {
        let r = self.alloc_reg();
        dynasm!(self.asm ; .arch x64 ; mov Rq(r), rax);
        self.push(Operand::Reg(r));
    }

    /// Spills every register entry to its canonical slot (before joins and calls).
    fn spill_all(&mut self) {
        self.spill_below(self.stack.len());
    }

    /// Spills the register entries of stack positions `0..end` to their slots.
    fn spill_below(&mut self, end: usize) {
        for pos in 0..end {
            if let Operand::Reg(_) | Operand::Xmm(_) = self.stack[pos] {
                self.materialize(pos);
            }
        }
    }

    /// Loads an operand (at stack position `pos`) into register `r`.
    fn load(&mut self, op: Operand, pos: u32, r: u8) {
        match op {
            Operand::Local(i) => {
                dynasm!(self.asm ; .arch x64 ; mov Rq(r), QWORD [rbp + slot_offset(i)])
            }
            Operand::Temp => {
                let o = slot_offset(self.temp_base + pos);
                dynasm!(self.asm ; .arch x64 ; mov Rq(r), QWORD [rbp + o])
            }
            Operand::Const(v) => self.load_const(v, r),
            Operand::Reg(x) if x == r => {}
            Operand::Reg(x) => dynasm!(self.asm ; .arch x64 ; mov Rq(r), Rq(x)),
            Operand::Xmm(x) => dynasm!(self.asm ; .arch x64 ; movq Rq(r), Rx(x)),
            Operand::Flags(_) => unreachable!("flags are materialized before other operators"),
        }
    }

    fn load_const(&mut self, v: u64, r: u8) {
        if v <= u32::MAX as u64 {
            dynasm!(self.asm ; .arch x64 ; mov Rd(r), v as i32)
        } else {
            dynasm!(self.asm ; .arch x64 ; mov Rq(r), QWORD v as i64)
        }
    }

    fn store(&mut self, r: u8, offset: i32) {
        dynasm!(self.asm ; .arch x64 ; mov QWORD [rbp + offset], Rq(r));
    }

    fn materialize(&mut self, pos: usize) {
        let slot = slot_offset(self.temp_base + pos as u32);
        match self.stack[pos] {
            Operand::Temp => return,
            Operand::Reg(r) => {
                self.store(r, slot);
                self.free_regs |= 1 << r;
            }
            Operand::Xmm(x) => {
                dynasm!(self.asm ; .arch x64 ; movq QWORD [rbp + slot], Rx(x));
                self.free_xmm |= 1 << x;
            }
            op => {
                self.load(op, pos as u32, RAX);
                self.store(RAX, slot);
            }
        }
        self.stack[pos] = Operand::Temp;
    }

    fn materialize_locals(&mut self, only: Option<u32>) {
        for pos in 0..self.stack.len() {
            if let Operand::Local(i) = self.stack[pos] {
                if only.is_none_or(|l| l == i) {
                    self.materialize(pos);
                }
            }
        }
    }

    // ---- control ----

    fn block_type(&self, ty: BlockType) -> (u32, u32) {
        match ty {
            BlockType::Empty => (0, 0),
            BlockType::Type(_) => (0, 1),
            BlockType::FuncType(i) => {
                let t = &self.module.types[i as usize];
                (t.params.len() as u32, t.results.len() as u32)
            }
        }
    }

    fn push_control(&mut self, kind: Kind, (params, results): (u32, u32), label: DynamicLabel) {
        self.control.push(Control {
            kind,
            height: self.stack.len() as u32 - params,
            params,
            results,
            label,
            branched: false,
        });
    }

    fn materialize_top(&mut self, n: u32) {
        let len = self.stack.len();
        for pos in len - n as usize..len {
            self.materialize(pos);
        }
    }

    /// Copies the top `arity` values into the canonical slots of positions `height..`, in
    /// ascending order (a value's position is never below its destination's).
    fn copy_to(&mut self, arity: u32, height: u32) {
        for k in 0..arity {
            let pos = self.stack.len() as u32 - arity + k;
            let dst = height + k;
            if !(self.stack[pos as usize] == Operand::Temp && pos == dst) {
                self.load(self.stack[pos as usize], pos, RAX);
                self.store(RAX, slot_offset(self.temp_base + dst));
            }
        }
    }

    /// The label of a branch to `depth` that needs nothing but the jump: not the function's
    /// return, and the label's values already in their canonical slots. Marks the label
    /// as branched to; `None` (marking nothing) when the branch needs more (see
    /// [`Compiler::branch`]).
    fn plain_branch(&mut self, depth: u32) -> Option<DynamicLabel> {
        let idx = self.control.len() - 1 - depth as usize;
        let frame = &self.control[idx];
        let arity = match frame.kind {
            Kind::Function => return None,
            Kind::Loop => frame.params,
            _ => frame.results,
        };
        let (height, label) = (frame.height, frame.label);
        let len = self.stack.len() as u32;
        let in_place = (0..arity).all(|k| {
            let pos = len - arity + k;
            self.stack[pos as usize] == Operand::Temp && pos == height + k
        });
        if !in_place {
            return None;
        }
        self.control[idx].branched = true;
        Some(label)
    }

    /// Pads the code with no-ops to the next [`LOOP_ALIGNMENT`] boundary, for a loop header
    /// (functions start on 64-byte lines, so offsets in the code are addresses' alignment).
    /// Where a hot loop falls relative to fetch blocks swung its speed by 10% between
    /// otherwise equal builds.
    fn align_loop_header(&mut self) {
        let mut pad = self.asm.offset().0.wrapping_neg() % LOOP_ALIGNMENT;
        while pad > 0 {
            let nop = NOPS[pad.min(NOPS.len()) - 1];
            self.asm.extend(nop.iter().copied());
            pad -= nop.len();
        }
    }

    /// `br_table` with the index in `ecx`, through a jump table: an indirect jump to entry
    /// `min(index, n)` of a table of `jmp rel32` instructions, each to its target's label,
    /// or to a stub after the table that copies the label's values first (or returns).
    fn jump_table(&mut self, depths: &[u32], default: u32) -> Result<(), Unsupported> {
        let table = self.asm.new_dynamic_label();
        let n = depths.len() as i32;
        dynasm!(self.asm
            ; .arch x64
            ; mov ecx, ecx
            ; mov eax, n
            ; cmp ecx, eax
            ; cmova ecx, eax
            ; lea rax, [=>table]
            ; lea rcx, [rcx + rcx * 4]
            ; add rax, rcx
            ; jmp rax
            ; =>table
        );
        let mut stubs = Vec::new();
        for &depth in depths.iter().chain(std::iter::once(&default)) {
            let target = match self.plain_branch(depth) {
                Some(label) => label,
                None => {
                    let stub = self.asm.new_dynamic_label();
                    stubs.push((stub, depth));
                    stub
                }
            };
            let start = self.asm.offset().0;
            dynasm!(self.asm ; .arch x64 ; jmp =>target);
            if self.asm.offset().0 - start != JUMP_TABLE_ENTRY {
                return Err(Unsupported::new(
                    "br_table: a jump table entry is not 5 bytes",
                ));
            }
        }
        for (stub, depth) in stubs {
            dynasm!(self.asm ; .arch x64 ; =>stub);
            self.branch(depth);
        }
        Ok(())
    }

    /// Copies the label's values into its slots and jumps (or returns, for the function).
    fn branch(&mut self, depth: u32) {
        let idx = self.control.len() - 1 - depth as usize;
        if self.control[idx].kind == Kind::Function {
            self.emit_return();
            return;
        }
        let frame = &self.control[idx];
        let arity = if frame.kind == Kind::Loop {
            frame.params
        } else {
            frame.results
        };
        let (height, label) = (frame.height, frame.label);
        self.copy_to(arity, height);
        self.control[idx].branched = true;
        dynasm!(self.asm ; .arch x64 ; jmp =>label);
    }

    /// Returns the top entries of the stack as the function's results.
    fn emit_return(&mut self) {
        let n = self.func_type.results.len();
        self.return_results(|c, k| {
            let pos = (c.stack.len() - n + k) as u32;
            c.load(c.stack[pos as usize], pos, RAX);
        });
    }

    /// Returns the function's results, `load_result(k)` putting result `k` in `rax`: into
    /// the caller's results area when there are several, else in rax or xmm0.
    fn return_results(&mut self, mut load_result: impl FnMut(&mut Self, usize)) {
        let n = self.func_type.results.len();
        if let Some(slot) = self.results_area_slot {
            for k in 0..n {
                load_result(self, k);
                dynasm!(self.asm
                    ; .arch x64
                    ; mov rdx, QWORD [rbp + slot_offset(slot)]
                    ; mov QWORD [rdx + 16 * k as i32], rax
                );
            }
        } else if let Some(&ty) = self.func_type.results.first() {
            load_result(self, 0);
            if is_float(ty) {
                dynasm!(self.asm ; .arch x64 ; movq xmm0, rax);
            }
        }
        self.leave_frame();
    }

    /// Restores the saved registers and returns (the results are in place).
    fn leave_frame(&mut self) {
        for (r, at) in SAVED_ON_USE {
            let start = self.asm.offset().0;
            dynasm!(self.asm ; .arch x64 ; mov Rq(r), QWORD [rbp + at]);
            self.saved_on_use.push((r, start..self.asm.offset().0));
        }
        dynasm!(self.asm
            ; .arch x64
            ; lea rsp, [rbp - 8]
            ; pop r15
            ; pop rbp
            ; ret
        );
    }

    fn set_unreachable(&mut self) {
        self.reachable = false;
        let height = self.control.last().map_or(0, |c| c.height) as usize;
        self.truncate(height);
    }

    fn end(&mut self) {
        let frame = self.control.last().expect("validated nesting");
        if frame.kind == Kind::Function {
            if self.reachable {
                self.emit_return();
            }
            self.control.pop();
            return;
        }
        if self.reachable {
            let (results, height) = (frame.results, frame.height);
            self.copy_to(results, height);
        }
        let frame = self.control.pop().expect("checked above");
        let mut reachable = self.reachable || frame.branched;
        match frame.kind {
            Kind::If { else_label } => {
                dynasm!(self.asm ; .arch x64 ; =>else_label);
                reachable = true;
            }
            Kind::Loop => reachable = self.reachable,
            _ => {}
        }
        if frame.kind != Kind::Loop {
            dynasm!(self.asm ; .arch x64 ; =>frame.label);
        }
        self.truncate(frame.height as usize);
        for _ in 0..frame.results {
            self.push_temp();
        }
        self.reachable = reachable;
    }

    fn else_(&mut self) {
        if self.reachable {
            self.branch(0);
        }
        let frame = self.control.last_mut().expect("validated nesting");
        let Kind::If { else_label } = frame.kind else {
            unreachable!("validated: else follows if")
        };
        frame.kind = Kind::Else;
        let (height, params) = (frame.height as usize, frame.params);
        dynasm!(self.asm ; .arch x64 ; =>else_label);
        self.truncate(height);
        for _ in 0..params {
            self.push_temp();
        }
        self.reachable = true;
    }

    // ---- operators ----

    fn operator(&mut self, op: Operator<'_>) -> Result<(), Unsupported> {
        if !self.reachable {
            match op {
                Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                    self.unreachable_depth += 1
                }
                Operator::Else if self.unreachable_depth == 0 => self.else_(),
                Operator::End if self.unreachable_depth == 0 => self.end(),
                Operator::End => self.unreachable_depth -= 1,
                _ => {}
            }
            return Ok(());
        }
        if let Some(&Operand::Flags(cond)) = self.stack.last() {
            if !matches!(op, Operator::BrIf { .. } | Operator::If { .. }) {
                self.stack.pop();
                crate::ops::setcc(&mut self.asm, cond);
                self.push_rax_in_reg();
            }
        }
        if crate::ops::integer(self, &op) || crate::float::float(self, &op) {
            return Ok(());
        }
        match op {
            Operator::Nop => {}
            Operator::Unreachable => {
                let l = self.trap_label(TrapCode::UnreachableCodeReached);
                dynasm!(self.asm ; .arch x64 ; jmp =>l);
                self.set_unreachable();
            }
            Operator::Block { blockty } => {
                let ty = self.block_type(blockty);
                self.spill_all();
                self.materialize_locals(None);
                let label = self.asm.new_dynamic_label();
                self.push_control(Kind::Block, ty, label);
            }
            Operator::Loop { blockty } => {
                // Back-edges bring the parameters in their canonical slots; so must entry.
                let ty = self.block_type(blockty);
                self.spill_all();
                self.materialize_locals(None);
                self.materialize_top(ty.0);
                let label = self.asm.new_dynamic_label();
                self.align_loop_header();
                dynasm!(self.asm ; .arch x64 ; =>label);
                let osr = self.options.osr_entries.then(|| OsrLoop {
                    loop_offset: self.offset,
                    label,
                    stack: self.stack.clone(),
                });
                if let Some(osr) = &osr {
                    self.osr_loops.push(osr.clone());
                }
                // Every iteration spends a loop budget; nothing is in registers here. Where
                // the loop has an entry, the activation may leave for optimized code here too.
                self.spend_budget(8 * self.defined as i32 + 4, osr);
                self.push_control(Kind::Loop, ty, label);
            }
            Operator::If { blockty } => {
                let ty = self.block_type(blockty);
                // A comparison right before stays in the flags: what follows only moves.
                let flags = match self.stack.last() {
                    Some(&Operand::Flags(cond)) => self.stack.pop().map(|_| cond),
                    _ => None,
                };
                self.spill_all();
                let cond = flags.is_none().then(|| self.pop());
                self.materialize_locals(None);
                self.materialize_top(ty.0);
                let else_label = self.asm.new_dynamic_label();
                match (flags, cond) {
                    (Some(flags), _) => crate::ops::jump_unless(&mut self.asm, flags, else_label),
                    (None, Some((cond, pos))) => {
                        self.load(cond, pos, RAX);
                        dynasm!(self.asm ; .arch x64 ; test eax, eax ; jz =>else_label);
                    }
                    (None, None) => unreachable!("one of the two"),
                }
                let label = self.asm.new_dynamic_label();
                self.push_control(Kind::If { else_label }, ty, label);
            }
            Operator::Else => self.else_(),
            Operator::End => self.end(),
            Operator::Br { relative_depth } => {
                self.branch(relative_depth);
                self.set_unreachable();
            }
            Operator::BrIf { relative_depth } => {
                let (cond, pos) = self.pop();
                if let Some(label) = self.plain_branch(relative_depth) {
                    match cond {
                        Operand::Flags(flags) => crate::ops::jump_if(&mut self.asm, flags, label),
                        _ => {
                            self.load(cond, pos, RAX);
                            dynasm!(self.asm ; .arch x64 ; test eax, eax ; jnz =>label);
                        }
                    }
                    return Ok(());
                }
                let skip = self.asm.new_dynamic_label();
                match cond {
                    // The branch's copies are moves, which keep the flags.
                    Operand::Flags(flags) => crate::ops::jump_unless(&mut self.asm, flags, skip),
                    _ => {
                        self.load(cond, pos, RAX);
                        dynasm!(self.asm ; .arch x64 ; test eax, eax ; jz =>skip);
                    }
                }
                self.branch(relative_depth);
                dynasm!(self.asm ; .arch x64 ; =>skip);
            }
            Operator::BrTable { targets } => {
                let (index, pos) = self.pop();
                self.load(index, pos, RCX);
                let mut depths = Vec::new();
                for t in targets.targets() {
                    depths.push(t?);
                }
                if depths.len() >= JUMP_TABLE_MIN_TARGETS {
                    self.jump_table(&depths, targets.default())?;
                    self.set_unreachable();
                    return Ok(());
                }
                for (k, depth) in depths.into_iter().enumerate() {
                    let next = self.asm.new_dynamic_label();
                    dynasm!(self.asm ; .arch x64 ; cmp ecx, k as i32 ; jne =>next);
                    self.branch(depth);
                    dynasm!(self.asm ; .arch x64 ; =>next);
                }
                self.branch(targets.default());
                self.set_unreachable();
            }
            Operator::Return => {
                self.emit_return();
                self.set_unreachable();
            }
            Operator::Call { function_index } => self.call(call::Callee::Direct(function_index))?,
            Operator::CallIndirect {
                type_index,
                table_index,
            } => self.call(call::Callee::Indirect {
                ty: type_index,
                table: table_index,
            })?,
            Operator::Drop => {
                self.pop();
            }
            Operator::Select | Operator::TypedSelect { .. } => {
                let (cond, cpos) = self.pop();
                let (b, bpos) = self.pop();
                let (a, apos) = self.pop();
                self.load(cond, cpos, RDX);
                self.load(b, bpos, RCX);
                self.load(a, apos, RAX);
                let dst = self.push_temp();
                dynasm!(self.asm ; .arch x64 ; test edx, edx ; cmovz rax, rcx);
                self.store(RAX, dst);
            }
            Operator::LocalGet { local_index } => self.push(Operand::Local(local_index)),
            Operator::LocalSet { local_index } => self.local_set(local_index),
            Operator::LocalTee { local_index } => self.local_tee(local_index),
            Operator::GlobalGet { global_index } => {
                let g = self.offsets.global(global_index) as i32;
                dynasm!(self.asm
                    ; .arch x64
                    ; mov rax, QWORD [r15 + g]
                    ; mov rax, QWORD [rax]
                );
                self.push_rax_in_reg();
            }
            Operator::GlobalSet { global_index } => {
                let g = self.offsets.global(global_index) as i32;
                let (v, pos) = self.pop();
                self.load(v, pos, RCX);
                dynasm!(self.asm
                    ; .arch x64
                    ; mov rax, QWORD [r15 + g]
                    ; mov QWORD [rax], rcx
                );
            }
            Operator::I32Const { value } => self.push(Operand::Const(value as u32 as u64)),
            Operator::I64Const { value } => self.push(Operand::Const(value as u64)),
            Operator::F32Const { value } => self.push(Operand::Const(value.bits() as u64)),
            Operator::F64Const { value } => self.push(Operand::Const(value.bits())),
            Operator::I32ReinterpretF32
            | Operator::I64ReinterpretF64
            | Operator::F32ReinterpretI32
            | Operator::F64ReinterpretI64 => {}
            Operator::MemorySize { .. } => {
                let mem = self.offsets.memory(0) as i32;
                let dst = self.push_temp();
                dynasm!(self.asm
                    ; .arch x64
                    ; mov rax, QWORD [r15 + mem]
                    ; mov rax, QWORD [rax + off::MEMORY_CURRENT_LENGTH as i32]
                    ; shr rax, 16
                );
                self.store(RAX, dst);
            }
            Operator::MemoryGrow { .. } => {
                self.spill_all();
                let (delta, pos) = self.pop();
                self.load(delta, pos, RDX);
                let builtins = self.offsets.builtins() as i32;
                dynasm!(self.asm
                    ; .arch x64
                    ; mov edx, edx
                    ; mov rdi, r15
                    ; xor esi, esi
                    ; mov rax, QWORD [r15 + builtins]
                    ; call QWORD [rax + off::BUILTIN_MEMORY_GROW as i32]
                    ; mov eax, eax
                );
                let dst = self.push_temp();
                self.store(RAX, dst);
                self.reload_memory_base();
            }
            other => {
                if let Some(access) = crate::ops::memory_access(&other) {
                    return self.memory(access);
                }
                if self.bulk(&other) {
                    return Ok(());
                }
                return Err(Unsupported::new(format!("operator {other:?}")));
            }
        }
        Ok(())
    }

    fn local_set(&mut self, local: u32) {
        let (v, pos) = self.pop();
        if v == Operand::Local(local) {
            return;
        }
        // Copying the local's other entries out uses only rax, so a register value stays.
        self.materialize_locals(Some(local));
        match v {
            Operand::Reg(r) => self.store(r, slot_offset(local)),
            Operand::Xmm(x) => {
                dynasm!(self.asm ; .arch x64 ; movq QWORD [rbp + slot_offset(local)], Rx(x))
            }
            _ => {
                self.load(v, pos, RAX);
                self.store(RAX, slot_offset(local));
            }
        }
    }

    /// `local.tee`: a value in a register stays there as the result (its next use reads no
    /// memory: a chain through a `local.tee`, as `d = sqrt(t = x*x + y*y) * t`, waited for
    /// the store to the local to forward to the load from it); any other becomes the local.
    fn local_tee(&mut self, local: u32) {
        match self.stack.last() {
            Some(&Operand::Reg(r)) => {
                self.materialize_locals(Some(local));
                self.store(r, slot_offset(local));
            }
            Some(&Operand::Xmm(x)) => {
                self.materialize_locals(Some(local));
                dynasm!(self.asm ; .arch x64 ; movq QWORD [rbp + slot_offset(local)], Rx(x));
            }
            _ => {
                self.local_set(local);
                self.push(Operand::Local(local));
            }
        }
    }

    // ---- memory ----

    fn memory(&mut self, access: crate::ops::MemoryAccess) -> Result<(), Unsupported> {
        self.used_regs |= 1 << R14;
        // The value to store: in its pool register if it has one (loading the address below
        // uses only rax), else in rcx.
        let value = if access.store {
            let (v, pos) = self.pop();
            match v {
                Operand::Reg(r) => Some(Stored::Gpr(r)),
                Operand::Xmm(x) if access.float => Some(Stored::Xmm(x)),
                _ => {
                    self.load(v, pos, RCX);
                    Some(Stored::Gpr(RCX))
                }
            }
        } else {
            None
        };
        let (addr, pos) = self.pop();
        self.load(addr, pos, RAX);
        dynasm!(self.asm ; .arch x64 ; mov eax, eax);
        let offset = access.offset;
        let static_ok = !self.options.explicit_bounds_checks
            && offset + access.size as u64 <= self.options.guard_size
            && offset <= i32::MAX as u64;
        let disp = if static_ok {
            offset as i32
        } else {
            // rax = addr + offset; check addr + offset + size <= current length.
            let mem = self.offsets.memory(0) as i32;
            let oob = self.trap_label(TrapCode::MemoryOutOfBounds);
            let end = offset + access.size as u64;
            dynasm!(self.asm
                ; .arch x64
                ; mov rdx, QWORD end as i64
                ; add rdx, rax
                ; mov r10, QWORD [r15 + mem]
                ; cmp rdx, QWORD [r10 + off::MEMORY_CURRENT_LENGTH as i32]
                ; ja =>oob
                ; mov rdx, QWORD offset as i64
                ; add rax, rdx
            );
            0
        };
        match value {
            Some(Stored::Gpr(src)) => {
                self.trap_site_here(TrapCode::MemoryOutOfBounds);
                crate::ops::emit_store(&mut self.asm, access.size, disp, src);
            }
            Some(Stored::Xmm(src)) => {
                self.trap_site_here(TrapCode::MemoryOutOfBounds);
                crate::ops::emit_float_store(&mut self.asm, access.size, disp, src);
            }
            None if access.float => {
                // Allocating spills only through stores, which leave rax alone.
                let dst = self.alloc_xmm();
                self.trap_site_here(TrapCode::MemoryOutOfBounds);
                crate::ops::emit_float_load(&mut self.asm, access.size, disp, dst);
                self.push(Operand::Xmm(dst));
            }
            None => {
                // Into a pool register directly (allocating spills only registers, through
                // stores, so the address in rax stays).
                let dst = self.alloc_reg();
                self.trap_site_here(TrapCode::MemoryOutOfBounds);
                crate::ops::emit_load(&mut self.asm, access.kind, disp, dst);
                self.push_reg(dst);
            }
        }
        Ok(())
    }
}

impl Compiler<'_> {
    pub(crate) fn asm(&mut self) -> &mut Asm {
        &mut self.asm
    }

    /// Pops the two operands of `a = a op b` for an instruction that takes `b` from a
    /// register or an immediate: returns the register holding `a` (a pool register, `a`'s
    /// own when it is in one, so the caller pushes it as the result), and `b`. A pool
    /// register holding `b` stays reserved until [`Compiler::release`]; a `b` in the frame
    /// is loaded into `rcx` (whole: **learned**, a 32-bit memory operand reading a slot
    /// that a 64-bit store just wrote made `hash` run twice as long, despite 24% fewer
    /// instructions).
    pub(crate) fn pop2_for_alu(&mut self, wide: bool) -> (u8, Src) {
        let bpos = self.stack.len() as u32 - 1;
        let b = self.stack.pop().expect("validated stack");
        let apos = bpos - 1;
        let a = self.stack.pop().expect("validated stack");
        let src = match b {
            Operand::Reg(r) => Src::Reg(r),
            Operand::Local(_) | Operand::Temp => {
                self.load(b, bpos, RCX);
                Src::Reg(RCX)
            }
            Operand::Const(v) if !wide || i32::try_from(v as i64).is_ok() => Src::Imm(v as i32),
            Operand::Const(v) => {
                self.load_const(v, RCX);
                Src::Reg(RCX)
            }
            // Only reinterpretations give integer operators a float, and they go through
            // `rax`; kept for completeness.
            Operand::Xmm(_) => {
                self.load(b, bpos, RCX);
                Src::Reg(RCX)
            }
            Operand::Flags(_) => unreachable!("flags are materialized before other operators"),
        };
        let dst = match a {
            Operand::Reg(r) => r,
            _ => {
                let r = self.alloc_reg();
                self.load(a, apos, r);
                r
            }
        };
        // An operand in a float register is in a general one now.
        self.free_xmm_of(a);
        self.free_xmm_of(b);
        (dst, src)
    }

    /// The value of the top entry if it is a constant.
    pub(crate) fn top_const(&self) -> Option<u64> {
        match self.stack.last() {
            Some(&Operand::Const(v)) => Some(v),
            _ => None,
        }
    }

    /// Frees the pool register of a `Src` from [`Compiler::pop2_for_alu`], if it has one.
    pub(crate) fn release(&mut self, src: Src) {
        if let Src::Reg(r) = src {
            if POOL.contains(&r) {
                self.free_regs |= 1 << r;
            }
        }
    }

    /// Pushes pool register `r`, which holds a result.
    pub(crate) fn push_reg(&mut self, r: u8) {
        self.push(Operand::Reg(r));
    }

    /// Frees pool register `r` without pushing it.
    pub(crate) fn free_reg(&mut self, r: u8) {
        self.free_regs |= 1 << r;
    }

    /// Loads operand `op` (at stack position `pos`) into `xmm{x}`, as bits.
    fn load_xmm(&mut self, op: Operand, pos: u32, x: u8) {
        match op {
            Operand::Local(i) => {
                dynasm!(self.asm ; .arch x64 ; movq Rx(x), QWORD [rbp + slot_offset(i)])
            }
            Operand::Temp => {
                let o = slot_offset(self.temp_base + pos);
                dynasm!(self.asm ; .arch x64 ; movq Rx(x), QWORD [rbp + o])
            }
            Operand::Reg(r) => dynasm!(self.asm ; .arch x64 ; movq Rx(x), Rq(r)),
            Operand::Xmm(y) if y == x => {}
            Operand::Xmm(y) => dynasm!(self.asm ; .arch x64 ; movaps Rx(x), Rx(y)),
            Operand::Const(v) => {
                self.load_const(v, RAX);
                dynasm!(self.asm ; .arch x64 ; movq Rx(x), rax);
            }
            Operand::Flags(_) => unreachable!("flags are materialized before other operators"),
        }
    }

    /// Pops the top entry into `xmm{x}`.
    pub(crate) fn pop_into_xmm(&mut self, x: u8) {
        let (op, pos) = self.pop();
        self.load_xmm(op, pos, x);
    }

    /// Pops two operands into `xmm0` (first) and `xmm1` (second).
    pub(crate) fn pop2_into_xmm0_xmm1(&mut self) {
        let (b, bpos) = self.pop();
        let (a, apos) = self.pop();
        self.load_xmm(a, apos, 0);
        self.load_xmm(b, bpos, 1);
    }

    /// Pushes the float in `xmm0` as the result, in a float pool register. (An `f32` result
    /// has zero high bits: SSE scalar operations leave them as they were, and the slot holds
    /// the register's low 64 bits, so readers take the low 32.)
    pub(crate) fn push_xmm0(&mut self) {
        // Allocating may spill a float register to its slot, which leaves xmm0 alone.
        let x = self.alloc_xmm();
        dynasm!(self.asm ; .arch x64 ; movaps Rx(x), xmm0);
        self.push(Operand::Xmm(x));
    }

    /// Pops two float operands for an SSE operation computed in place: `(dst, src)`, `dst` a
    /// float pool register holding the first operand (its own, or a new one) and `src` the
    /// register holding the second (its own, or xmm1). The caller releases `src`
    /// ([`Compiler::release_xmm`]) and pushes `dst` ([`Compiler::push_xmm`]).
    pub(crate) fn pop2_for_sse(&mut self) -> (u8, u8) {
        let bpos = self.stack.len() as u32 - 1;
        let b = self.stack.pop().expect("validated stack");
        let apos = bpos - 1;
        let a = self.stack.pop().expect("validated stack");
        // Popped without freeing: neither register is handed out below.
        let src = match b {
            Operand::Xmm(y) => y,
            _ => {
                self.load_xmm(b, bpos, 1);
                1
            }
        };
        let dst = self.xmm_for(a, apos);
        // An operand in a general register (an `f64` a reinterpretation or a `select` left
        // there) is in its float register now: its general one is free again.
        self.free_gpr_of(a);
        self.free_gpr_of(b);
        (dst, src)
    }

    /// Frees the general pool register of popped (not freed) entry `op`, if it has one.
    fn free_gpr_of(&mut self, op: Operand) {
        if let Operand::Reg(r) = op {
            self.free_regs |= 1 << r;
        }
    }

    /// Frees the float pool register of popped (not freed) entry `op`, if it has one.
    fn free_xmm_of(&mut self, op: Operand) {
        if let Operand::Xmm(x) = op {
            self.free_xmm |= 1 << x;
        }
    }

    /// Pops one float operand for an SSE operation computed in place: the float pool
    /// register holding it (its own, or a new one), to push with [`Compiler::push_xmm`].
    pub(crate) fn pop_for_sse(&mut self) -> u8 {
        let pos = self.stack.len() as u32 - 1;
        let a = self.stack.pop().expect("validated stack");
        let x = self.xmm_for(a, pos);
        self.free_gpr_of(a);
        x
    }

    /// The float pool register of popped (not freed) entry `op` at `pos`: its own, or a new
    /// one it is loaded into (allocating spills only through stores, leaving xmm0-1).
    fn xmm_for(&mut self, op: Operand, pos: u32) -> u8 {
        match op {
            Operand::Xmm(x) => x,
            _ => {
                let x = self.alloc_xmm();
                self.load_xmm(op, pos, x);
                x
            }
        }
    }

    /// Frees `xmm{x}` if it is a pool register (a popped operand's).
    pub(crate) fn release_xmm(&mut self, x: u8) {
        if XMM_POOL.contains(&x) {
            self.free_xmm |= 1 << x;
        }
    }

    /// Pushes float pool register `x`, which holds a result.
    pub(crate) fn push_xmm(&mut self, x: u8) {
        self.push(Operand::Xmm(x));
    }

    /// Pops two operands into `rax` (first) and `rcx` (second).
    pub(crate) fn pop2_into_rax_rcx(&mut self) {
        let (b, bpos) = self.pop();
        let (a, apos) = self.pop();
        self.load(a, apos, RAX);
        self.load(b, bpos, RCX);
    }

    pub(crate) fn pop_into_rax(&mut self) {
        let (a, apos) = self.pop();
        self.load(a, apos, RAX);
    }

    /// Pushes `rax` as the result.
    pub(crate) fn push_rax(&mut self) {
        self.push_rax_in_reg();
    }

    pub(crate) fn trap_to(&mut self, code: TrapCode) -> DynamicLabel {
        self.trap_label(code)
    }
}
