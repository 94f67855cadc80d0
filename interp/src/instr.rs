//! The register bytecode: what the translator emits, and the executor lowers to threaded
//! code.
//!
//! Every operand is a [`Slot`]: an index into the current frame (params, locals, the
//! function's constants, then temporaries). An instruction is 20 bytes; the few that need
//! a fifth operand are followed by an [`Instr::Arg`] word the executor reads and skips.
//!
//! The numeric instructions (the bulk of the instruction set) are listed once, in
//! [`for_each_numeric_op!`], together with the function of [`crate::semantics`] that
//! computes them; the enum, the translator's operator mapping and the executor's handlers
//! are all generated from that one list.

/// Index of a value slot in the current frame.
pub(crate) type Slot = u32;

/// How an instruction uses a slot it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotUse {
    /// Written: a local, a temporary or, before a return, a result's slot (which may lie
    /// among the constants' slots when results outnumber parameters and locals).
    Write,
    /// Read from the frame.
    Read,
    /// The second operand of a binary operator or of a compare-and-branch, or the second
    /// addend of an unscaled indexed access: the threaded code takes a constant there as
    /// an immediate (`exec::lower`), reading no slot.
    ImmediateIfConstant,
}

/// Calls `$m!` with every numeric instruction, by family. Names are wasmparser's operator
/// names; each is paired with its function in `crate::semantics` (loads and stores with
/// their access width and conversion instead).
macro_rules! for_each_numeric_op {
    ($m:ident) => {
        $m! {
            unary {
                I32Eqz i32_eqz, I32Clz i32_clz, I32Ctz i32_ctz, I32Popcnt i32_popcnt,
                I32Extend8S i32_extend8_s, I32Extend16S i32_extend16_s, I32WrapI64 i32_wrap_i64,
                I64Eqz i64_eqz, I64Clz i64_clz, I64Ctz i64_ctz, I64Popcnt i64_popcnt,
                I64Extend8S i64_extend8_s, I64Extend16S i64_extend16_s,
                I64Extend32S i64_extend32_s, I64ExtendI32S i64_extend_i32_s,
                I64ExtendI32U i64_extend_i32_u,
                F32Abs f32_abs, F32Neg f32_neg, F32Ceil f32_ceil, F32Floor f32_floor,
                F32Trunc f32_trunc, F32Nearest f32_nearest, F32Sqrt f32_sqrt,
                F64Abs f64_abs, F64Neg f64_neg, F64Ceil f64_ceil, F64Floor f64_floor,
                F64Trunc f64_trunc, F64Nearest f64_nearest, F64Sqrt f64_sqrt,
                F32ConvertI32S f32_convert_i32_s, F32ConvertI32U f32_convert_i32_u,
                F32ConvertI64S f32_convert_i64_s, F32ConvertI64U f32_convert_i64_u,
                F32DemoteF64 f32_demote_f64,
                F64ConvertI32S f64_convert_i32_s, F64ConvertI32U f64_convert_i32_u,
                F64ConvertI64S f64_convert_i64_s, F64ConvertI64U f64_convert_i64_u,
                F64PromoteF32 f64_promote_f32,
                I32TruncSatF32S i32_trunc_sat_f32_s, I32TruncSatF32U i32_trunc_sat_f32_u,
                I32TruncSatF64S i32_trunc_sat_f64_s, I32TruncSatF64U i32_trunc_sat_f64_u,
                I64TruncSatF32S i64_trunc_sat_f32_s, I64TruncSatF32U i64_trunc_sat_f32_u,
                I64TruncSatF64S i64_trunc_sat_f64_s, I64TruncSatF64U i64_trunc_sat_f64_u,
            }
            unary_trapping {
                I32TruncF32S i32_trunc_f32_s, I32TruncF32U i32_trunc_f32_u,
                I32TruncF64S i32_trunc_f64_s, I32TruncF64U i32_trunc_f64_u,
                I64TruncF32S i64_trunc_f32_s, I64TruncF32U i64_trunc_f32_u,
                I64TruncF64S i64_trunc_f64_s, I64TruncF64U i64_trunc_f64_u,
            }
            binary {
                I32Eq i32_eq, I32Ne i32_ne, I32LtS i32_lt_s, I32LtU i32_lt_u,
                I32GtS i32_gt_s, I32GtU i32_gt_u, I32LeS i32_le_s, I32LeU i32_le_u,
                I32GeS i32_ge_s, I32GeU i32_ge_u,
                I32Add i32_add, I32Sub i32_sub, I32Mul i32_mul, I32And i32_and, I32Or i32_or,
                I32Xor i32_xor, I32Shl i32_shl, I32ShrS i32_shr_s, I32ShrU i32_shr_u,
                I32Rotl i32_rotl, I32Rotr i32_rotr,
                I64Eq i64_eq, I64Ne i64_ne, I64LtS i64_lt_s, I64LtU i64_lt_u,
                I64GtS i64_gt_s, I64GtU i64_gt_u, I64LeS i64_le_s, I64LeU i64_le_u,
                I64GeS i64_ge_s, I64GeU i64_ge_u,
                I64Add i64_add, I64Sub i64_sub, I64Mul i64_mul, I64And i64_and, I64Or i64_or,
                I64Xor i64_xor, I64Shl i64_shl, I64ShrS i64_shr_s, I64ShrU i64_shr_u,
                I64Rotl i64_rotl, I64Rotr i64_rotr,
                F32Eq f32_eq, F32Ne f32_ne, F32Lt f32_lt, F32Gt f32_gt, F32Le f32_le,
                F32Ge f32_ge,
                F32Add f32_add, F32Sub f32_sub, F32Mul f32_mul, F32Div f32_div,
                F32Min f32_min, F32Max f32_max, F32Copysign f32_copysign,
                F64Eq f64_eq, F64Ne f64_ne, F64Lt f64_lt, F64Gt f64_gt, F64Le f64_le,
                F64Ge f64_ge,
                F64Add f64_add, F64Sub f64_sub, F64Mul f64_mul, F64Div f64_div,
                F64Min f64_min, F64Max f64_max, F64Copysign f64_copysign,
            }
            binary_trapping {
                I32DivS i32_div_s, I32DivU i32_div_u, I32RemS i32_rem_s, I32RemU i32_rem_u,
                I64DivS i64_div_s, I64DivU i64_div_u, I64RemS i64_rem_s, I64RemU i64_rem_u,
            }
            load {
                I32Load I32LoadIndexed 4 |b: [u8; 4]| u32::from_le_bytes(b) as u64,
                I64Load I64LoadIndexed 8 |b: [u8; 8]| u64::from_le_bytes(b),
                F32Load F32LoadIndexed 4 |b: [u8; 4]| u32::from_le_bytes(b) as u64,
                F64Load F64LoadIndexed 8 |b: [u8; 8]| u64::from_le_bytes(b),
                I32Load8S I32Load8SIndexed 1 |b: [u8; 1]| i8::from_le_bytes(b) as i32 as u32 as u64,
                I32Load8U I32Load8UIndexed 1 |b: [u8; 1]| u8::from_le_bytes(b) as u64,
                I32Load16S I32Load16SIndexed 2 |b: [u8; 2]| i16::from_le_bytes(b) as i32 as u32 as u64,
                I32Load16U I32Load16UIndexed 2 |b: [u8; 2]| u16::from_le_bytes(b) as u64,
                I64Load8S I64Load8SIndexed 1 |b: [u8; 1]| i8::from_le_bytes(b) as i64 as u64,
                I64Load8U I64Load8UIndexed 1 |b: [u8; 1]| u8::from_le_bytes(b) as u64,
                I64Load16S I64Load16SIndexed 2 |b: [u8; 2]| i16::from_le_bytes(b) as i64 as u64,
                I64Load16U I64Load16UIndexed 2 |b: [u8; 2]| u16::from_le_bytes(b) as u64,
                I64Load32S I64Load32SIndexed 4 |b: [u8; 4]| i32::from_le_bytes(b) as i64 as u64,
                I64Load32U I64Load32UIndexed 4 |b: [u8; 4]| u32::from_le_bytes(b) as u64,
            }
            store {
                I32Store I32StoreIndexed 4 |v: u64| (v as u32).to_le_bytes(),
                I64Store I64StoreIndexed 8 |v: u64| v.to_le_bytes(),
                F32Store F32StoreIndexed 4 |v: u64| (v as u32).to_le_bytes(),
                F64Store F64StoreIndexed 8 |v: u64| v.to_le_bytes(),
                I32Store8 I32Store8Indexed 1 |v: u64| (v as u8).to_le_bytes(),
                I32Store16 I32Store16Indexed 2 |v: u64| (v as u16).to_le_bytes(),
                I64Store8 I64Store8Indexed 1 |v: u64| (v as u8).to_le_bytes(),
                I64Store16 I64Store16Indexed 2 |v: u64| (v as u16).to_le_bytes(),
                I64Store32 I64Store32Indexed 4 |v: u64| (v as u32).to_le_bytes(),
            }
        }
    };
}
pub(crate) use for_each_numeric_op;

macro_rules! define_instr {
    (
        unary { $($un:ident $unf:ident,)* }
        unary_trapping { $($unt:ident $untf:ident,)* }
        binary { $($bin:ident $binf:ident,)* }
        binary_trapping { $($bint:ident $bintf:ident,)* }
        load { $($load:ident $loadi:ident $lw:literal $lconv:expr,)* }
        store { $($store:ident $storei:ident $sw:literal $sconv:expr,)* }
    ) => {
        /// One register-bytecode instruction.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Instr {
            $( $un { dst: Slot, src: Slot }, )*
            $( $unt { dst: Slot, src: Slot }, )*
            $( $bin { dst: Slot, a: Slot, b: Slot }, )*
            $( $bint { dst: Slot, a: Slot, b: Slot }, )*
            $( $load { dst: Slot, addr: Slot, offset: u32 }, )*
            $( $store { addr: Slot, value: Slot, offset: u32 }, )*
            /// Loads whose address is `a + b` (an `i32.add` fused into the load), or when
            /// `scaled`, `a + (b << log2(width))` (an `i32.shl` by the width fused too).
            $( $loadi { dst: Slot, a: Slot, b: Slot, offset: u32, scaled: bool }, )*
            /// Stores whose address is `a + b`, or `a + (b << log2(width))` when `scaled`.
            $( $storei { a: Slot, b: Slot, value: Slot, offset: u32, scaled: bool }, )*

            /// Extra operands of the instruction before it; never executed.
            Arg { a: u32, b: u32, c: u32 },
            /// `dst = src`.
            Copy { dst: Slot, src: Slot },
            /// `dst = a + (b << shift)` (`i32`, `shift` from 1 to 3): an `i32.shl` by a
            /// constant fused into the `i32.add` after it (an array element's address).
            I32AddShifted { dst: Slot, a: Slot, b: Slot, shift: u8 },
            /// `dst = lo | hi << 32`: a constant that did not get a constant slot.
            Const { dst: Slot, lo: u32, hi: u32 },
            /// Jump to `target` (an instruction index).
            Br { target: u32 },
            BrIfZero { cond: Slot, target: u32 },
            BrIfNonZero { cond: Slot, target: u32 },
            /// Fused `i32` compare and branch: jump when `a <op> b`.
            BrI32Eq { a: Slot, b: Slot, target: u32 },
            BrI32Ne { a: Slot, b: Slot, target: u32 },
            BrI32LtS { a: Slot, b: Slot, target: u32 },
            BrI32LtU { a: Slot, b: Slot, target: u32 },
            BrI32GtS { a: Slot, b: Slot, target: u32 },
            BrI32GtU { a: Slot, b: Slot, target: u32 },
            BrI32LeS { a: Slot, b: Slot, target: u32 },
            BrI32LeU { a: Slot, b: Slot, target: u32 },
            BrI32GeS { a: Slot, b: Slot, target: u32 },
            BrI32GeU { a: Slot, b: Slot, target: u32 },
            /// Jump to the `min(index, len)`-th of the `len + 1` `Br`s that follow.
            BrTable { index: Slot, len: u32 },
            /// A loop header: spends one unit of the function's loop budget (tiering only);
            /// `point` indexes the function's `osr_points`.
            LoopBudget { point: u32 },
            /// Results are in slots `0..n` of the frame.
            Return,
            Unreachable,
            /// `dst = cond != 0 ? a : b`; followed by `Arg { a: cond }`.
            Select { dst: Slot, a: Slot, b: Slot },
            /// Call defined function `func` (index among defined functions); the arguments
            /// are at `base`, which becomes the callee's frame start.
            Call { func: u32, base: Slot },
            /// Call the function whose `*const VMFuncRef` is at `vmctx + offset` through the
            /// array convention; `ty` is its module type index.
            CallRef { offset: u32, base: Slot, ty: u32 },
            /// `call_indirect`; followed by `Arg { a: base }`.
            CallIndirect { index: Slot, ty: u32, table: u32 },
            /// Read the global whose `*mut ValRaw` is at `vmctx + offset`.
            GlobalGet { dst: Slot, offset: u32 },
            GlobalSet { src: Slot, offset: u32 },
            /// `dst = *(vmctx + offset)`: a function's `*const VMFuncRef`.
            RefFunc { dst: Slot, offset: u32 },
            MemorySize { dst: Slot },
            MemoryGrow { dst: Slot, delta: Slot },
            MemoryFill { dst: Slot, value: Slot, len: Slot },
            MemoryCopy { dst: Slot, src: Slot, len: Slot },
            /// Followed by `Arg { a: data segment }`.
            MemoryInit { dst: Slot, src: Slot, len: Slot },
            DataDrop { data: u32 },
            TableGet { dst: Slot, index: Slot, table: u32 },
            TableSet { index: Slot, value: Slot, table: u32 },
            TableSize { dst: Slot, table: u32 },
            /// Followed by `Arg { a: table }`.
            TableGrow { dst: Slot, init: Slot, delta: Slot },
            /// Followed by `Arg { a: table }`.
            TableFill { dst: Slot, value: Slot, len: Slot },
            /// Followed by `Arg { a: dst table, b: src table }`.
            TableCopy { dst: Slot, src: Slot, len: Slot },
            /// Followed by `Arg { a: table, b: element segment }`.
            TableInit { dst: Slot, src: Slot, len: Slot },
            ElemDrop { elem: u32 },
        }

        impl Instr {
            /// The result slot of an instruction whose result may be retargeted to a local
            /// (written after every operand is read, in the first instruction word).
            pub(crate) fn dst_mut(&mut self) -> Option<&mut Slot> {
                match self {
                    $( Instr::$un { dst, .. } )|*
                    | $( Instr::$unt { dst, .. } )|*
                    | $( Instr::$bin { dst, .. } )|*
                    | $( Instr::$bint { dst, .. } )|*
                    | $( Instr::$load { dst, .. } )|*
                    | $( Instr::$loadi { dst, .. } )|*
                    | Instr::Copy { dst, .. }
                    | Instr::I32AddShifted { dst, .. }
                    | Instr::Select { dst, .. }
                    | Instr::Const { dst, .. }
                    | Instr::GlobalGet { dst, .. }
                    | Instr::RefFunc { dst, .. }
                    | Instr::MemorySize { dst }
                    | Instr::TableGet { dst, .. }
                    | Instr::TableSize { dst, .. } => Some(dst),
                    _ => None,
                }
            }

            /// Whether the instruction after this one can be reached by falling through it
            /// (it is no unconditional jump, return or trap).
            pub(crate) fn falls_through(&self) -> bool {
                !matches!(
                    self,
                    Instr::Br { .. } | Instr::BrTable { .. } | Instr::Return | Instr::Unreachable
                )
            }

            /// The target of a branch instruction (an instruction index), to read or change.
            pub(crate) fn branch_target_mut(&mut self) -> Option<&mut u32> {
                match self {
                    Instr::Br { target }
                    | Instr::BrIfZero { target, .. }
                    | Instr::BrIfNonZero { target, .. }
                    | Instr::BrI32Eq { target, .. }
                    | Instr::BrI32Ne { target, .. }
                    | Instr::BrI32LtS { target, .. }
                    | Instr::BrI32LtU { target, .. }
                    | Instr::BrI32GtS { target, .. }
                    | Instr::BrI32GtU { target, .. }
                    | Instr::BrI32LeS { target, .. }
                    | Instr::BrI32LeU { target, .. }
                    | Instr::BrI32GeS { target, .. }
                    | Instr::BrI32GeU { target, .. } => Some(target),
                    _ => None,
                }
            }

            /// Calls `f` with every slot the instruction names and how it uses it. An
            /// `Arg` names a slot only after a `Select` (its condition) or a
            /// `CallIndirect` (the arguments' base); the others hold indices, so `prev` is
            /// the instruction before this one.
            pub(crate) fn for_each_slot(
                &mut self,
                prev: Option<Instr>,
                mut f: impl FnMut(&mut Slot, SlotUse),
            ) {
                use SlotUse::{ImmediateIfConstant as Imm, Read, Write};
                // Exhaustive, so that a new instruction must say how it uses its slots.
                match self {
                    $( Instr::$un { dst, src } )|*
                    | $( Instr::$unt { dst, src } )|*
                    | Instr::Copy { dst, src } => {
                        f(src, Read);
                        f(dst, Write);
                    }
                    $( Instr::$bin { dst, a, b } )|*
                    | $( Instr::$bint { dst, a, b } )|* => {
                        f(a, Read);
                        f(b, Imm);
                        f(dst, Write);
                    }
                    $( Instr::$load { dst, addr, .. } )|* => {
                        f(addr, Read);
                        f(dst, Write);
                    }
                    $( Instr::$store { addr, value, .. } )|* => {
                        f(addr, Read);
                        f(value, Read);
                    }
                    // An unscaled indexed access takes a constant second addend as an
                    // immediate (`exec::numeric::constant_addend`).
                    $( Instr::$loadi { dst, a, b, scaled, .. } )|* => {
                        f(a, Read);
                        f(b, if *scaled { Read } else { Imm });
                        f(dst, Write);
                    }
                    Instr::I32AddShifted { dst, a, b, .. } | Instr::Select { dst, a, b } => {
                        f(a, Read);
                        f(b, Read);
                        f(dst, Write);
                    }
                    $( Instr::$storei { a, b, value, scaled, .. } )|* => {
                        f(a, Read);
                        f(b, if *scaled { Read } else { Imm });
                        f(value, Read);
                    }
                    Instr::Arg { a, .. } => {
                        if matches!(
                            prev,
                            Some(Instr::Select { .. } | Instr::CallIndirect { .. })
                        ) {
                            f(a, Read);
                        }
                    }
                    Instr::Const { dst, .. }
                    | Instr::GlobalGet { dst, .. }
                    | Instr::RefFunc { dst, .. }
                    | Instr::MemorySize { dst }
                    | Instr::TableSize { dst, .. } => f(dst, Write),
                    Instr::BrIfZero { cond, .. } | Instr::BrIfNonZero { cond, .. } => {
                        f(cond, Read)
                    }
                    Instr::BrI32Eq { a, b, .. }
                    | Instr::BrI32Ne { a, b, .. }
                    | Instr::BrI32LtS { a, b, .. }
                    | Instr::BrI32LtU { a, b, .. }
                    | Instr::BrI32GtS { a, b, .. }
                    | Instr::BrI32GtU { a, b, .. }
                    | Instr::BrI32LeS { a, b, .. }
                    | Instr::BrI32LeU { a, b, .. }
                    | Instr::BrI32GeS { a, b, .. }
                    | Instr::BrI32GeU { a, b, .. } => {
                        f(a, Read);
                        f(b, Imm);
                    }
                    Instr::BrTable { index: slot, .. }
                    | Instr::CallIndirect { index: slot, .. }
                    | Instr::GlobalSet { src: slot, .. } => f(slot, Read),
                    // The arguments are read from, and the results written to, the slots
                    // from `base` (temporaries).
                    Instr::Call { base, .. } | Instr::CallRef { base, .. } => f(base, Read),
                    Instr::MemoryGrow { dst, delta } => {
                        f(delta, Read);
                        f(dst, Write);
                    }
                    Instr::TableGet { dst, index, .. } => {
                        f(index, Read);
                        f(dst, Write);
                    }
                    Instr::TableSet { index, value, .. } => {
                        f(index, Read);
                        f(value, Read);
                    }
                    Instr::TableGrow { dst, init, delta } => {
                        f(init, Read);
                        f(delta, Read);
                        f(dst, Write);
                    }
                    // `dst` is a destination address here, read like the others.
                    Instr::MemoryFill { dst, value: b, len }
                    | Instr::MemoryCopy { dst, src: b, len }
                    | Instr::MemoryInit { dst, src: b, len }
                    | Instr::TableFill { dst, value: b, len }
                    | Instr::TableCopy { dst, src: b, len }
                    | Instr::TableInit { dst, src: b, len } => {
                        f(dst, Read);
                        f(b, Read);
                        f(len, Read);
                    }
                    Instr::Br { .. }
                    | Instr::LoopBudget { .. }
                    | Instr::Return
                    | Instr::Unreachable
                    | Instr::DataDrop { .. }
                    | Instr::ElemDrop { .. } => {}
                }
            }
        }
    };
}
for_each_numeric_op!(define_instr);

/// How often instruction `at` (with its `Arg` word) names `slot` as an operand, and whether
/// it writes it.
pub(crate) fn slot_uses(code: &[Instr], at: usize, slot: Slot) -> (u32, bool) {
    let (mut reads, mut writes) = (0, false);
    let mut count = |named: &mut Slot, how: SlotUse| {
        if *named == slot {
            match how {
                SlotUse::Write => writes = true,
                SlotUse::Read | SlotUse::ImmediateIfConstant => reads += 1,
            }
        }
    };
    let mut instr = code[at];
    instr.for_each_slot(at.checked_sub(1).map(|before| code[before]), &mut count);
    if let Some(mut arg @ Instr::Arg { .. }) = code.get(at + 1).copied() {
        arg.for_each_slot(Some(code[at]), &mut count);
    }
    (reads, writes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_are_twenty_bytes() {
        assert_eq!(std::mem::size_of::<Instr>(), 20);
    }
}
