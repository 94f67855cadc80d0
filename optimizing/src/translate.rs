//! Wasm operators to Cranelift IR, one function at a time.
//!
//! Locals are cranelift-frontend `Variable`s (the frontend builds SSA form from their
//! definitions and uses), the operand stack is a stack of SSA values, and structured control
//! flow becomes blocks: a `block` or `if` has an exit block whose parameters are its results,
//! a `loop` a header block whose parameters are its parameters, and branches pass the top of
//! the stack as block arguments (multi-value needs nothing more). An `if` without `else`
//! gets an else block all the same, passing its parameters through. Code after an
//! unconditional transfer is skipped until the `else` or `end` that makes it reachable
//! again.
//!
//! The function's `VMContext` is its first parameter; everything the code needs from the
//! instance is loaded through it at the offsets of [`VMOffsets`], with memory flags telling
//! Cranelift what may move: the pointers stored in the `VMContext` never change for an
//! instance (read-only, free to hoist), the records they point at change only during calls
//! (a separate alias region from linear memory, so loads of them are reused across stores to
//! memory).

use crate::{user_trap, CompileError, OptimizingOptions};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::immediates::Offset32;
use cranelift_codegen::ir::types::{F32, F64, I32, I64};
use cranelift_codegen::ir::{
    self, AbiParam, AliasRegion, AliasRegionData, ArgumentPurpose, Block, BlockArg, Function,
    GlobalValueData, InstBuilder, MemFlagsData, Signature, StackSlot, StackSlotData, StackSlotKind,
    Type, Value,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use std::collections::HashMap;
use strata_environ::vmcontext::offsets as off;
use strata_environ::{ModuleInfo, TrapCode, VMOffsets, WasmFuncType, WasmValType};
use wasmparser::{BlockType, Operator};

/// The Cranelift type of a wasm value (references are 64-bit integers, 0 = null).
pub(crate) fn clif_type(ty: WasmValType) -> Result<Type, CompileError> {
    Ok(match ty {
        WasmValType::I32 => I32,
        WasmValType::I64 | WasmValType::FuncRef | WasmValType::ExternRef => I64,
        WasmValType::F32 => F32,
        WasmValType::F64 => F64,
        WasmValType::V128 => return Err(CompileError::new("v128 values are not supported")),
    })
}

/// The native signature of wasm type `ty` (see `strata_environ::abi`): both `VMContext`s
/// first, one result returned, several written through a hidden last pointer parameter.
pub(crate) fn native_signature(
    ty: &WasmFuncType,
    call_conv: CallConv,
) -> Result<Signature, CompileError> {
    let mut sig = Signature::new(call_conv);
    sig.params
        .push(AbiParam::special(I64, ArgumentPurpose::VMContext));
    sig.params.push(AbiParam::new(I64));
    for &p in ty.params.iter() {
        sig.params.push(AbiParam::new(clif_type(p)?));
    }
    match ty.results.len() {
        0 => {}
        1 => sig.returns.push(AbiParam::new(clif_type(ty.results[0])?)),
        _ => sig.params.push(AbiParam::new(I64)),
    }
    Ok(sig)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Function,
    Block,
    Loop {
        header: Block,
        /// Stack entries below the loop's parameters that branches to the header carry too:
        /// all of them at the loop an on-stack-replacement variant enters at (its header
        /// merges them from the entry and from the function's own path), none elsewhere.
        carried: usize,
    },
    If {
        else_block: Block,
        /// The `if`'s parameters, for the else arm.
        params: Vec<Value>,
        else_seen: bool,
    },
}

struct Frame {
    kind: Kind,
    /// Where `end` continues, with the results as block parameters.
    exit: Block,
    /// Operand stack height below the frame's parameters.
    height: usize,
    /// Entries below the frame that its exit takes as block parameters before the results:
    /// all of them in an on-stack-replacement variant (where one stack position may have
    /// different values on paths from different entries, so joins need parameters), none
    /// elsewhere.
    carried: usize,
    num_params: usize,
    num_results: usize,
    /// Whether anything branches to `exit` (or reaches it by falling through).
    exit_reached: bool,
}

/// Memory flags of the loads and stores the translator emits.
#[derive(Clone, Copy)]
pub(crate) struct Flags {
    /// Fields of the `VMContext` and of records that never change for an instance.
    pub(crate) constant: MemFlagsData,
    /// Fields of records that never change but whose pointer is only valid where it is
    /// checked (a table element's `VMFuncRef`): read-only, never hoisted.
    pub(crate) record: MemFlagsData,
    /// Records that only calls change (memory length, table bounds, code table entries).
    pub(crate) vm: MemFlagsData,
    /// The memory base: constant with a 4 GiB reservation, moving with smaller ones.
    pub(crate) memory_base: MemFlagsData,
    /// Linear memory accesses (may fault: out of bounds).
    pub(crate) heap: MemFlagsData,
    /// Table elements.
    pub(crate) table: MemFlagsData,
    /// Global values.
    pub(crate) global: MemFlagsData,
    /// The frame's own values area.
    pub(crate) frame: MemFlagsData,
}

impl Flags {
    fn new(func: &mut Function, options: &OptimizingOptions) -> Flags {
        let mut region = |user_id: u32, description: &'static str| -> AliasRegion {
            func.dfg.alias_regions.insert(AliasRegionData {
                user_id,
                description: description.into(),
            })
        };
        let vmctx = region(1, "vmctx");
        let heap = region(2, "heap");
        let table = region(3, "table");
        let global = region(4, "globals");
        let constant = MemFlagsData::trusted()
            .with_readonly()
            .with_can_move()
            .with_alias_region(Some(vmctx));
        let vm = MemFlagsData::trusted().with_alias_region(Some(vmctx));
        Flags {
            constant,
            vm,
            record: MemFlagsData::trusted()
                .with_readonly()
                .with_alias_region(Some(vmctx)),
            memory_base: if options.explicit_bounds_checks {
                vm
            } else {
                constant
            },
            heap: MemFlagsData::new()
                .with_trap_code(Some(ir::TrapCode::HEAP_OUT_OF_BOUNDS))
                .with_alias_region(Some(heap)),
            table: MemFlagsData::trusted().with_alias_region(Some(table)),
            global: MemFlagsData::trusted().with_alias_region(Some(global)),
            frame: MemFlagsData::trusted(),
        }
    }
}

pub(crate) struct Translator<'a, 'f> {
    pub(crate) module: &'a ModuleInfo,
    pub(crate) offsets: VMOffsets,
    pub(crate) options: &'a OptimizingOptions,
    pub(crate) b: FunctionBuilder<'f>,
    pub(crate) vmctx: Value,
    pub(crate) flags: Flags,
    pub(crate) stack: Vec<Value>,
    /// The function being compiled (module function index).
    pub(crate) func_index: u32,
    func_type: &'a WasmFuncType,
    locals: Vec<Variable>,
    results_area: Option<Value>,
    control: Vec<Frame>,
    reachable: bool,
    unreachable_depth: u32,
    /// The values area of array calls and results area of native calls (16-byte slots),
    /// grown to the largest call of the function.
    call_area: Option<(StackSlot, u32)>,
    signatures: HashMap<(Vec<Type>, Vec<Type>), ir::SigRef>,
    native_signatures: HashMap<u32, ir::SigRef>,
    /// The function's own entry as a callee, once a self-call needs it.
    pub(crate) own_entry: Option<ir::FuncRef>,
    /// Module byte offset of the operator being translated.
    offset: u32,
    /// Whether this is an on-stack-replacement variant, whose code starts with the entry
    /// for its loop rather than the function's entry (self-calls then take the code table).
    pub(crate) osr_variant: bool,
    /// The entry's dispatch to the loops, in an on-stack-replacement variant.
    osr: Option<OsrDispatch>,
}

/// How an on-stack-replacement variant's entry reaches its loops: a chain of tests of the
/// state's loop offset, one per loop, grown as the loops are translated.
struct OsrDispatch {
    /// The next test goes here (an open block reached when no loop so far matched).
    tail: Block,
    /// The loop offset the state starts with.
    selector: Value,
    /// The state pointer (see `strata_environ::OsrEntry`).
    state: Value,
    local_types: Vec<Type>,
    /// Module offsets of the loops given an entry.
    loops: Vec<u32>,
}

/// What to translate: defined function `defined`, or (with `osr`) its on-stack-replacement
/// variant, entered at any of its loops.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Variant {
    pub(crate) defined: u32,
    pub(crate) osr: bool,
}

/// Translates defined function `defined` into `func` (whose signature is set).
///
/// With `osr`, translates its on-stack-replacement variant instead (see
/// `strata_environ::OsrEntry`; the signature takes the state pointer): the entry block
/// tests the state's loop offset against each loop, loads the state and jumps to that
/// loop's header, which takes the whole operand stack as block parameters (below the loop
/// too); the function's own start becomes a block nothing reaches, so Cranelift drops
/// whatever only it reaches. Returns the module offsets of the loops given an entry.
pub(crate) fn translate(
    module: &ModuleInfo,
    offsets: VMOffsets,
    options: &OptimizingOptions,
    Variant { defined, osr }: Variant,
    func: &mut Function,
    builder_ctx: &mut FunctionBuilderContext,
    frontend: cranelift_codegen::isa::TargetFrontendConfig,
) -> Result<Vec<u32>, CompileError> {
    let func_index = module.func_index(defined);
    let func_type = module.func_type(func_index);
    let flags = Flags::new(func, options);

    // The prologue compares the stack pointer with the store's limit before allocating the
    // frame: `*(*(vmctx + store_context) + stack_limit)`.
    let vmctx_gv = func.create_global_value(GlobalValueData::VMContext);
    let gv_flags = func
        .dfg
        .mem_flags
        .insert_unchecked(MemFlagsData::trusted().with_readonly());
    let store_gv = func.create_global_value(GlobalValueData::Load {
        base: vmctx_gv,
        offset: Offset32::new(offsets.store_context() as i32),
        global_type: I64,
        flags: gv_flags,
    });
    let limit_gv = func.create_global_value(GlobalValueData::Load {
        base: store_gv,
        offset: Offset32::new(off::STORE_STACK_LIMIT.into()),
        global_type: I64,
        flags: gv_flags,
    });
    func.stack_limit = Some(limit_gv);

    let mut b = FunctionBuilder::new(func, builder_ctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let params = b.block_params(entry).to_vec();
    let vmctx = params[0];
    let results_area = (func_type.results.len() > 1).then(|| *params.last().expect("area"));
    let osr = osr.then(|| {
        // The entry reads which loop to enter; the function's own start follows, unreached.
        let state = params[2];
        let selector = b.ins().load(I64, flags.frame, state, 0);
        let tail = b.create_block();
        b.ins().jump(tail, &[]);
        b.seal_block(tail);
        let start = b.create_block();
        b.seal_block(start);
        b.switch_to_block(start);
        OsrDispatch {
            tail,
            selector,
            state,
            local_types: Vec::new(),
            loops: Vec::new(),
        }
    });

    let mut locals = Vec::new();
    let mut local_types = Vec::new();
    for (i, &ty) in func_type.params.iter().enumerate() {
        let clif = clif_type(ty)?;
        let var = b.declare_var(clif);
        let value = match osr {
            Some(_) => zero_value(&mut b, clif),
            None => params[2 + i],
        };
        b.def_var(var, value);
        locals.push(var);
        local_types.push(clif);
    }
    let body = module.function_body(defined);
    for local in body.get_locals_reader()? {
        let (count, ty) = local?;
        let ty = WasmValType::from_wasmparser(ty);
        let clif = clif_type(ty)?;
        for _ in 0..count {
            let var = b.declare_var(clif);
            let zero = zero_value(&mut b, clif);
            b.def_var(var, zero);
            locals.push(var);
            local_types.push(clif);
        }
    }
    let osr = osr.map(|o| OsrDispatch { local_types, ..o });

    let exit = b.create_block();
    for &r in func_type.results.iter() {
        b.append_block_param(exit, clif_type(r)?);
    }
    let mut t = Translator {
        module,
        offsets,
        options,
        b,
        vmctx,
        flags,
        stack: Vec::new(),
        func_index,
        func_type,
        locals,
        results_area,
        control: vec![Frame {
            kind: Kind::Function,
            exit,
            height: 0,
            carried: 0,
            num_params: 0,
            num_results: func_type.results.len(),
            exit_reached: false,
        }],
        reachable: true,
        unreachable_depth: 0,
        call_area: None,
        signatures: HashMap::new(),
        native_signatures: HashMap::new(),
        own_entry: None,
        offset: 0,
        osr_variant: osr.is_some(),
        osr,
    };
    let mut reader = body.get_operators_reader()?;
    while !reader.eof() {
        t.offset = reader.original_position() as u32;
        t.operator(reader.read()?)?;
    }
    if !t.control.is_empty() {
        return Err(CompileError::new("the body ends inside a block"));
    }
    let mut loops = Vec::new();
    if let Some(osr) = t.osr.take() {
        if osr.loops.is_empty() {
            return Err(CompileError::new("no reachable loop to enter at"));
        }
        // A state naming no loop of this function cannot happen; trap all the same.
        t.b.switch_to_block(osr.tail);
        t.b.ins().trap(user_trap(TrapCode::UnreachableCodeReached));
        loops = osr.loops;
    }
    t.b.seal_all_blocks();
    t.b.finalize(frontend);
    Ok(loops)
}

fn zero_value(b: &mut FunctionBuilder<'_>, ty: Type) -> Value {
    match ty {
        F32 => b.ins().f32const(0.0),
        F64 => b.ins().f64const(0.0),
        _ => b.ins().iconst(ty, 0),
    }
}

/// Block arguments from values.
pub(crate) fn block_args(values: &[Value]) -> Vec<BlockArg> {
    values.iter().map(|&v| BlockArg::Value(v)).collect()
}

impl Translator<'_, '_> {
    // ---- helpers shared by the operator modules ----

    pub(crate) fn pop(&mut self) -> Value {
        self.stack.pop().expect("validated operand stack")
    }

    pub(crate) fn pop2(&mut self) -> (Value, Value) {
        let b = self.pop();
        let a = self.pop();
        (a, b)
    }

    pub(crate) fn pop3(&mut self) -> (Value, Value, Value) {
        let c = self.pop();
        let b = self.pop();
        let a = self.pop();
        (a, b, c)
    }

    pub(crate) fn push(&mut self, v: Value) {
        self.stack.push(v);
    }

    /// The top `n` values, left on the stack.
    fn peek(&self, n: usize) -> &[Value] {
        &self.stack[self.stack.len() - n..]
    }

    /// Loads a pointer-sized field at `offset` of the `VMContext` that never changes.
    pub(crate) fn vmctx_load(&mut self, offset: u32) -> Value {
        let flags = self.flags.constant;
        self.b.ins().load(I64, flags, self.vmctx, offset as i32)
    }

    /// Calls the builtin at byte `offset` of the builtins table.
    pub(crate) fn call_builtin(
        &mut self,
        offset: u8,
        params: &[Type],
        results: &[Type],
        args: &[Value],
    ) -> Option<Value> {
        let builtins = self.vmctx_load(self.offsets.builtins());
        let flags = self.flags.constant;
        let f = self.b.ins().load(I64, flags, builtins, i32::from(offset));
        let sig = self.signature(params, results);
        let call = self.b.ins().call_indirect(sig, f, args);
        self.b.inst_results(call).first().copied()
    }

    /// Calls the `raise_trap` builtin with `code` (0: a callee already reported the trap);
    /// it never returns.
    pub(crate) fn raise_trap(&mut self, code: Value) {
        let vmctx = self.vmctx;
        self.call_builtin(off::BUILTIN_RAISE_TRAP, &[I64, I32], &[], &[vmctx, code]);
        self.b
            .ins()
            .trap(user_trap(TrapCode::UnreachableCodeReached));
    }

    /// An imported signature (System V) with these parameter and result types.
    pub(crate) fn signature(&mut self, params: &[Type], results: &[Type]) -> ir::SigRef {
        let key = (params.to_vec(), results.to_vec());
        if let Some(&s) = self.signatures.get(&key) {
            return s;
        }
        let mut sig = Signature::new(CallConv::SystemV);
        sig.params.extend(params.iter().map(|&t| AbiParam::new(t)));
        sig.returns
            .extend(results.iter().map(|&t| AbiParam::new(t)));
        let s = self.b.import_signature(sig);
        self.signatures.insert(key, s);
        s
    }

    /// The native signature of module type `type_index`.
    pub(crate) fn native_sig_ref(&mut self, type_index: u32) -> Result<ir::SigRef, CompileError> {
        if let Some(&s) = self.native_signatures.get(&type_index) {
            return Ok(s);
        }
        let sig = native_signature(&self.module.types[type_index as usize], CallConv::SystemV)?;
        let s = self.b.import_signature(sig);
        self.native_signatures.insert(type_index, s);
        Ok(s)
    }

    /// The address of the call area, grown to at least `slots` 16-byte slots.
    pub(crate) fn call_area(&mut self, slots: u32) -> Value {
        let slots = slots.max(1);
        let slot = match self.call_area {
            Some((slot, size)) => {
                if size < slots {
                    self.b.func.sized_stack_slots[slot].size = 16 * slots;
                    self.call_area = Some((slot, slots));
                }
                slot
            }
            None => {
                let slot = self.b.create_sized_stack_slot(StackSlotData::new(
                    StackSlotKind::ExplicitSlot,
                    16 * slots,
                    4,
                ));
                self.call_area = Some((slot, slots));
                slot
            }
        };
        self.b.ins().stack_addr(I64, slot, 0)
    }

    /// Stores `v` (of wasm type `ty`) as a `ValRaw` at `addr + offset`: integers and float
    /// bits zero-extended to 64 bits.
    pub(crate) fn store_valraw(&mut self, ty: WasmValType, v: Value, addr: Value, offset: i32) {
        let flags = self.flags.frame;
        let v = match ty {
            WasmValType::I32 => self.b.ins().uextend(I64, v),
            WasmValType::F32 => {
                let bits = self.b.ins().bitcast(I32, MemFlagsData::new(), v);
                self.b.ins().uextend(I64, bits)
            }
            _ => v,
        };
        self.b.ins().store(flags, v, addr, offset);
    }

    /// Loads a value of wasm type `ty` from a `ValRaw` at `addr + offset`.
    pub(crate) fn load_valraw(
        &mut self,
        ty: WasmValType,
        addr: Value,
        offset: i32,
    ) -> Result<Value, CompileError> {
        let flags = self.flags.frame;
        Ok(self.b.ins().load(clif_type(ty)?, flags, addr, offset))
    }

    /// An `i32` 0 or 1 from a comparison's `i8` result.
    pub(crate) fn bool_to_i32(&mut self, v: Value) -> Value {
        self.b.ins().uextend(I32, v)
    }

    // ---- control flow ----

    fn block_type(&self, ty: BlockType) -> Result<(Vec<Type>, Vec<Type>), CompileError> {
        Ok(match ty {
            BlockType::Empty => (Vec::new(), Vec::new()),
            BlockType::Type(t) => (
                Vec::new(),
                vec![clif_type(WasmValType::from_wasmparser(t))?],
            ),
            BlockType::FuncType(index) => {
                let ty = &self.module.types[index as usize];
                (
                    ty.params
                        .iter()
                        .map(|&t| clif_type(t))
                        .collect::<Result<_, _>>()?,
                    ty.results
                        .iter()
                        .map(|&t| clif_type(t))
                        .collect::<Result<_, _>>()?,
                )
            }
        })
    }

    fn new_block_with(&mut self, types: &[Type]) -> Block {
        let block = self.b.create_block();
        for &t in types {
            self.b.append_block_param(block, t);
        }
        block
    }

    fn set_unreachable(&mut self) {
        self.reachable = false;
        let height = self.control.last().map_or(0, |f| f.height);
        self.stack.truncate(height);
    }

    /// The block a branch to `depth` jumps to and the values it passes; marks the frame's
    /// exit as reached when that is where it goes.
    fn branch_target(&mut self, depth: u32) -> (Block, Vec<BlockArg>) {
        let idx = self.control.len() - 1 - depth as usize;
        let frame = &mut self.control[idx];
        let (block, carried, arity) = match frame.kind {
            Kind::Loop { header, carried } => (header, carried, frame.num_params),
            _ => {
                frame.exit_reached = true;
                (frame.exit, frame.carried, frame.num_results)
            }
        };
        let mut args = block_args(&self.stack[..carried]);
        args.extend(block_args(self.peek(arity)));
        (block, args)
    }

    fn branch(&mut self, depth: u32) {
        let (block, args) = self.branch_target(depth);
        self.b.ins().jump(block, &args);
    }

    fn br_if(&mut self, depth: u32) {
        let cond = self.pop();
        let (block, args) = self.branch_target(depth);
        let next = self.b.create_block();
        self.b.ins().brif(cond, block, &args, next, &[]);
        self.b.seal_block(next);
        self.b.switch_to_block(next);
    }

    fn br_table(&mut self, targets: &wasmparser::BrTable<'_>) -> Result<(), CompileError> {
        let index = self.pop();
        let mut depths = Vec::new();
        for t in targets.targets() {
            depths.push(t?);
        }
        let mut calls = Vec::with_capacity(depths.len());
        for depth in depths {
            let (block, args) = self.branch_target(depth);
            calls.push(self.b.func.dfg.block_call(block, &args));
        }
        let (block, args) = self.branch_target(targets.default());
        let default = self.b.func.dfg.block_call(block, &args);
        let table = self
            .b
            .create_jump_table(ir::JumpTableData::new(default, &calls));
        self.b.ins().br_table(index, table);
        Ok(())
    }

    /// A loop of an on-stack-replacement variant: its header takes the whole operand
    /// stack, from the function's own path and from the entry's test for this loop, which
    /// loads the locals and the stack from the state and jumps here.
    fn enter_osr_loop(&mut self, blockty: BlockType) -> Result<(), CompileError> {
        let mut osr = self.osr.take().expect("an on-stack-replacement variant");
        let (params, results) = self.block_type(blockty)?;
        let types: Vec<Type> = self
            .stack
            .iter()
            .map(|&v| self.b.func.dfg.value_type(v))
            .collect();
        let header = self.new_block_with(&types);
        let exit = self.new_exit_block(self.stack.len() - params.len(), &results);
        let args = block_args(&self.stack);
        self.b.ins().jump(header, &args);

        // The entry's test for this loop, and the state's loads when it matches.
        self.b.switch_to_block(osr.tail);
        let here = self
            .b
            .ins()
            .icmp_imm_u(IntCC::Equal, osr.selector, i64::from(self.offset));
        let load = self.b.create_block();
        let next = self.b.create_block();
        self.b.ins().brif(here, load, &[], next, &[]);
        self.b.seal_block(load);
        self.b.seal_block(next);
        self.b.switch_to_block(load);
        let flags = self.flags.frame;
        for (i, (&var, &ty)) in self.locals.iter().zip(&osr.local_types).enumerate() {
            let value = self.b.ins().load(ty, flags, osr.state, 8 * (1 + i) as i32);
            self.b.def_var(var, value);
        }
        let base = 1 + osr.local_types.len();
        let loaded: Vec<Value> = types
            .iter()
            .enumerate()
            .map(|(j, &ty)| {
                self.b
                    .ins()
                    .load(ty, flags, osr.state, 8 * (base + j) as i32)
            })
            .collect();
        self.b.ins().jump(header, &block_args(&loaded));
        osr.tail = next;
        osr.loops.push(self.offset);
        self.osr = Some(osr);

        self.b.switch_to_block(header);
        self.stack = self.b.block_params(header).to_vec();
        let carried = self.stack.len() - params.len();
        let kind = Kind::Loop { header, carried };
        self.push_frame(kind, exit, params.len(), results.len());
        Ok(())
    }

    /// A frame's exit block, with parameters for the results and, in an on-stack-replacement
    /// variant, for the `below` entries under the frame first (see `Frame::carried`).
    fn new_exit_block(&mut self, below: usize, results: &[Type]) -> Block {
        let block = self.b.create_block();
        if self.osr_variant {
            for k in 0..below {
                let ty = self.b.func.dfg.value_type(self.stack[k]);
                self.b.append_block_param(block, ty);
            }
        }
        for &t in results {
            self.b.append_block_param(block, t);
        }
        block
    }

    fn push_frame(&mut self, kind: Kind, exit: Block, params: usize, results: usize) {
        let height = self.stack.len() - params;
        self.control.push(Frame {
            kind,
            exit,
            height,
            carried: if self.osr_variant { height } else { 0 },
            num_params: params,
            num_results: results,
            exit_reached: false,
        });
    }

    fn else_(&mut self) {
        if self.reachable {
            self.branch(0);
        }
        let frame = self.control.last_mut().expect("validated nesting");
        let Kind::If {
            else_block,
            params,
            else_seen,
        } = &mut frame.kind
        else {
            unreachable!("validated: else follows if")
        };
        *else_seen = true;
        let else_block = *else_block;
        let params = params.clone();
        let height = frame.height - frame.carried;
        self.stack.truncate(height);
        self.stack.extend(params);
        self.b.switch_to_block(else_block);
        self.reachable = true;
    }

    fn end(&mut self) {
        let mut frame = self.control.pop().expect("validated nesting");
        if self.reachable {
            // Falling through: to the exit, with the results (for a loop too).
            let mut args = block_args(&self.stack[..frame.carried]);
            args.extend(block_args(self.peek(frame.num_results)));
            self.b.ins().jump(frame.exit, &args);
            frame.exit_reached = true;
        }
        match &frame.kind {
            Kind::If {
                else_block,
                params,
                else_seen: false,
            } => {
                // No else arm: the parameters pass through as the results.
                self.b.switch_to_block(*else_block);
                let args = block_args(params);
                self.b.ins().jump(frame.exit, &args);
            }
            Kind::Loop { header, .. } => self.b.seal_block(*header),
            _ => {}
        }
        let exit_reached = frame.exit_reached
            || matches!(
                frame.kind,
                Kind::If {
                    else_seen: false,
                    ..
                }
            );
        if !exit_reached {
            self.stack.truncate(frame.height);
            self.reachable = false;
            return;
        }
        // The exit's parameters: the carried entries below, then the results.
        self.stack.truncate(frame.height - frame.carried);
        self.b.switch_to_block(frame.exit);
        self.b.seal_block(frame.exit);
        let results = self.b.block_params(frame.exit).to_vec();
        if frame.kind == Kind::Function {
            self.emit_return(&results);
            self.reachable = false;
        } else {
            self.stack.extend(results);
            self.reachable = true;
        }
    }

    fn emit_return(&mut self, results: &[Value]) {
        match self.results_area {
            Some(area) => {
                for (k, (&v, &ty)) in results
                    .iter()
                    .zip(self.func_type.results.iter())
                    .enumerate()
                {
                    self.store_valraw(ty, v, area, 16 * k as i32);
                }
                self.b.ins().return_(&[]);
            }
            None => {
                self.b.ins().return_(results);
            }
        }
    }

    // ---- operators ----

    fn operator(&mut self, op: Operator<'_>) -> Result<(), CompileError> {
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
        if self.numeric(&op) {
            return Ok(());
        }
        match op {
            Operator::Nop => {}
            Operator::Unreachable => {
                self.b
                    .ins()
                    .trap(user_trap(TrapCode::UnreachableCodeReached));
                self.set_unreachable();
            }
            Operator::Block { blockty } => {
                let (params, results) = self.block_type(blockty)?;
                let exit = self.new_exit_block(self.stack.len() - params.len(), &results);
                self.push_frame(Kind::Block, exit, params.len(), results.len());
            }
            Operator::Loop { blockty } if self.osr.is_some() => self.enter_osr_loop(blockty)?,
            Operator::Loop { blockty } => {
                let (params, results) = self.block_type(blockty)?;
                let header = self.new_block_with(&params);
                let exit = self.new_block_with(&results);
                let args = block_args(self.peek(params.len()));
                self.b.ins().jump(header, &args);
                self.stack.truncate(self.stack.len() - params.len());
                self.b.switch_to_block(header);
                let header_params = self.b.block_params(header).to_vec();
                self.stack.extend(header_params);
                let kind = Kind::Loop { header, carried: 0 };
                self.push_frame(kind, exit, params.len(), results.len());
            }
            Operator::If { blockty } => {
                let (params, results) = self.block_type(blockty)?;
                let cond = self.pop();
                let then_block = self.b.create_block();
                let else_block = self.b.create_block();
                self.b.ins().brif(cond, then_block, &[], else_block, &[]);
                self.b.seal_block(then_block);
                self.b.seal_block(else_block);
                self.b.switch_to_block(then_block);
                let exit = self.new_exit_block(self.stack.len() - params.len(), &results);
                // What the else arm starts from: the parameters, or in an on-stack-
                // replacement variant the whole stack (its entries may be renamed in the
                // then arm by loop headers).
                let saved = if self.osr_variant {
                    self.stack.clone()
                } else {
                    self.peek(params.len()).to_vec()
                };
                self.push_frame(
                    Kind::If {
                        else_block,
                        params: saved,
                        else_seen: false,
                    },
                    exit,
                    params.len(),
                    results.len(),
                );
            }
            Operator::Else => self.else_(),
            Operator::End => self.end(),
            Operator::Br { relative_depth } => {
                self.branch(relative_depth);
                self.set_unreachable();
            }
            Operator::BrIf { relative_depth } => self.br_if(relative_depth),
            Operator::BrTable { targets } => {
                self.br_table(&targets)?;
                self.set_unreachable();
            }
            Operator::Return => {
                let depth = self.control.len() as u32 - 1;
                self.branch(depth);
                self.set_unreachable();
            }
            Operator::Call { function_index } => {
                self.call(crate::calls::Callee::Direct(function_index))?
            }
            Operator::CallIndirect {
                type_index,
                table_index,
            } => self.call(crate::calls::Callee::Indirect {
                ty: type_index,
                table: table_index,
            })?,
            Operator::Drop => {
                self.pop();
            }
            Operator::Select | Operator::TypedSelect { .. } => {
                let (a, b, cond) = self.pop3();
                let v = self.b.ins().select(cond, a, b);
                self.push(v);
            }
            Operator::LocalGet { local_index } => {
                let v = self.b.use_var(self.locals[local_index as usize]);
                self.push(v);
            }
            Operator::LocalSet { local_index } => {
                let v = self.pop();
                self.b.def_var(self.locals[local_index as usize], v);
            }
            Operator::LocalTee { local_index } => {
                let v = *self.stack.last().expect("validated operand stack");
                self.b.def_var(self.locals[local_index as usize], v);
            }
            Operator::GlobalGet { global_index } => {
                let ty = self.module.globals[global_index as usize];
                let ptr = self.vmctx_load(self.offsets.global(global_index));
                let flags = if ty.mutable {
                    self.flags.global
                } else {
                    self.flags.global.with_readonly().with_can_move()
                };
                let v = self.b.ins().load(clif_type(ty.content)?, flags, ptr, 0);
                self.push(v);
            }
            Operator::GlobalSet { global_index } => {
                let v = self.pop();
                let ptr = self.vmctx_load(self.offsets.global(global_index));
                let flags = self.flags.global;
                self.b.ins().store(flags, v, ptr, 0);
            }
            Operator::I32Const { value } => {
                let v = self.b.ins().iconst(I32, i64::from(value));
                self.push(v);
            }
            Operator::I64Const { value } => {
                let v = self.b.ins().iconst(I64, value);
                self.push(v);
            }
            Operator::F32Const { value } => {
                let v = self
                    .b
                    .ins()
                    .f32const(ir::immediates::Ieee32::with_bits(value.bits()));
                self.push(v);
            }
            Operator::F64Const { value } => {
                let v = self
                    .b
                    .ins()
                    .f64const(ir::immediates::Ieee64::with_bits(value.bits()));
                self.push(v);
            }
            Operator::RefIsNull { .. } => {
                let r = self.pop();
                let v = self.b.ins().icmp_imm_u(IntCC::Equal, r, 0);
                let v = self.bool_to_i32(v);
                self.push(v);
            }
            other => {
                if self.memory_or_table(&other)? {
                    return Ok(());
                }
                return Err(CompileError::new(format!("operator {other:?}")));
            }
        }
        Ok(())
    }
}
