//! Linear memory, references, tables and the bulk operations.
//!
//! Loads and stores address `base + zext(index) + offset`. With a 4 GiB reservation and
//! `guard_size` bytes of guard after it, an access whose static offset and size fit in the
//! guard needs no check: anything out of bounds faults, and the access is a trap site
//! (Cranelift records it through the `HEAP_OUT_OF_BOUNDS` trap code of its memory flags).
//! Otherwise, or with explicit checks configured, the end of the access is compared with the
//! memory's current length first.
//!
//! Table accesses and `memory.fill`/`memory.copy`/`table.copy` are inline (the copies through
//! libc's `memmove`/`memset`, called at their absolute address so the code stays free of
//! relocations, after explicit bounds checks); operations on segments and growth call the
//! runtime's builtins, raising the trap code the segment builtins return.

use crate::translate::Translator;
use crate::{user_trap, CompileError};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I16, I32, I64, I8};
use cranelift_codegen::ir::{self, InstBuilder, Type, Value};
use strata_environ::vmcontext::offsets as off;
use strata_environ::TrapCode;
use wasmparser::{MemArg, Operator};

/// How a load reads memory.
#[derive(Clone, Copy)]
enum LoadKind {
    /// A whole value of the type.
    Plain(Type),
    /// `bytes` extended (signed or not) to the type.
    Extend { ty: Type, bytes: u8, signed: bool },
}

impl Translator<'_, '_> {
    /// The `VMMemoryDefinition` of memory `index`.
    fn memory_def(&mut self, index: u32) -> Value {
        self.vmctx_load(self.offsets.memory(index))
    }

    fn memory_base(&mut self, def: Value) -> Value {
        let flags = self.flags.memory_base;
        self.b
            .ins()
            .load(I64, flags, def, i32::from(off::MEMORY_BASE))
    }

    fn memory_length(&mut self, def: Value) -> Value {
        let flags = self.flags.vm;
        self.b
            .ins()
            .load(I64, flags, def, i32::from(off::MEMORY_CURRENT_LENGTH))
    }

    /// The address (and static offset to add) of a `size`-byte access at the popped index.
    fn heap_address(&mut self, memarg: &MemArg, size: u32) -> (Value, i32) {
        let index = self.pop();
        let index = self.b.ins().uextend(I64, index);
        let memory = match memarg.target {
            wasmparser::MemArgTarget::Memory(m) => m,
            wasmparser::MemArgTarget::Array(_) => 0,
        };
        let def = self.memory_def(memory);
        let offset = memarg.offset;
        let end = offset + u64::from(size);
        let unchecked = !self.options.explicit_bounds_checks
            && end <= self.options.guard_size
            && offset <= i32::MAX as u64;
        if !unchecked {
            let length = self.memory_length(def);
            let last = self.b.ins().iadd_imm_u(index, end as i64);
            let oob = self.b.ins().icmp(IntCC::UnsignedGreaterThan, last, length);
            self.b.ins().trapnz(oob, ir::TrapCode::HEAP_OUT_OF_BOUNDS);
        }
        let base = self.memory_base(def);
        let addr = self.b.ins().iadd(base, index);
        if offset <= i32::MAX as u64 {
            (addr, offset as i32)
        } else {
            (self.b.ins().iadd_imm_u(addr, offset as i64), 0)
        }
    }

    fn load(&mut self, memarg: &MemArg, kind: LoadKind) {
        let size = match kind {
            LoadKind::Plain(ty) => ty.bytes(),
            LoadKind::Extend { bytes, .. } => u32::from(bytes),
        };
        let (addr, offset) = self.heap_address(memarg, size);
        let flags = self.flags.heap;
        let ins = self.b.ins();
        let v = match kind {
            LoadKind::Plain(ty) => ins.load(ty, flags, addr, offset),
            LoadKind::Extend {
                ty,
                bytes,
                signed: true,
            } => match bytes {
                1 => ins.sload8(ty, flags, addr, offset),
                2 => ins.sload16(ty, flags, addr, offset),
                _ => ins.sload32(flags, addr, offset),
            },
            LoadKind::Extend {
                ty,
                bytes,
                signed: false,
            } => match bytes {
                1 => ins.uload8(ty, flags, addr, offset),
                2 => ins.uload16(ty, flags, addr, offset),
                _ => ins.uload32(flags, addr, offset),
            },
        };
        self.push(v);
    }

    /// A store of the popped value's low `bytes` bytes (all of it with `None`).
    fn store(&mut self, memarg: &MemArg, ty: Type, bytes: Option<u8>) {
        let value = self.pop();
        let size = bytes.map_or(ty.bytes(), u32::from);
        let (addr, offset) = self.heap_address(memarg, size);
        let flags = self.flags.heap;
        let ins = self.b.ins();
        match bytes {
            None => ins.store(flags, value, addr, offset),
            Some(1) => ins.istore8(flags, value, addr, offset),
            Some(2) => ins.istore16(flags, value, addr, offset),
            Some(_) => ins.istore32(flags, value, addr, offset),
        };
    }

    /// Raises the trap code a segment builtin returned, unless it is zero.
    fn raise_if_nonzero(&mut self, code: Value) {
        let raise = self.b.create_block();
        let ok = self.b.create_block();
        self.b.ins().brif(code, raise, &[], ok, &[]);
        self.b.seal_block(raise);
        self.b.seal_block(ok);
        self.b.set_cold_block(raise);
        self.b.switch_to_block(raise);
        self.raise_trap(code);
        self.b.switch_to_block(ok);
    }

    /// Traps with `code` unless `start + len <= limit` (all zero-extended, so no overflow).
    fn check_range(&mut self, start: Value, len: Value, limit: Value, code: ir::TrapCode) {
        let end = self.b.ins().iadd(start, len);
        let oob = self.b.ins().icmp(IntCC::UnsignedGreaterThan, end, limit);
        self.b.ins().trapnz(oob, code);
    }

    /// Calls a libc function at its absolute address (no relocation).
    fn call_libc(&mut self, address: usize, params: &[Type], args: &[Value]) {
        let sig = self.signature(params, &[I64]);
        let f = self.b.ins().iconst(I64, address as i64);
        self.b.ins().call_indirect(sig, f, args);
    }

    fn table_def(&mut self, table: u32) -> Value {
        self.vmctx_load(self.offsets.table(table))
    }

    fn table_length(&mut self, def: Value) -> Value {
        let flags = self.flags.vm;
        self.b
            .ins()
            .load(I64, flags, def, i32::from(off::TABLE_CURRENT_ELEMENTS))
    }

    /// The address of element `index` (zero-extended) of the table, after a bounds check.
    fn table_element(&mut self, table: u32, index: Value) -> Value {
        let def = self.table_def(table);
        let len = self.table_length(def);
        let oob = self
            .b
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, index, len);
        self.b
            .ins()
            .trapnz(oob, user_trap(TrapCode::TableOutOfBounds));
        let flags = self.flags.vm;
        let base = self
            .b
            .ins()
            .load(I64, flags, def, i32::from(off::TABLE_BASE));
        let offset = self.b.ins().ishl_imm_u(index, 3);
        self.b.ins().iadd(base, offset)
    }

    /// Pops an `i32` and zero-extends it.
    fn pop_u64(&mut self) -> Value {
        let v = self.pop();
        self.b.ins().uextend(I64, v)
    }

    /// Emits a memory, reference, table or bulk operator; `Ok(false)` if `op` is none.
    pub(crate) fn memory_or_table(&mut self, op: &Operator<'_>) -> Result<bool, CompileError> {
        use LoadKind::*;
        use Operator as O;
        let ext = |ty, bytes, signed| Extend { ty, bytes, signed };
        match op {
            O::I32Load { memarg } => self.load(memarg, Plain(I32)),
            O::I64Load { memarg } => self.load(memarg, Plain(I64)),
            O::F32Load { memarg } => self.load(memarg, Plain(ir::types::F32)),
            O::F64Load { memarg } => self.load(memarg, Plain(ir::types::F64)),
            O::I32Load8S { memarg } => self.load(memarg, ext(I32, 1, true)),
            O::I32Load8U { memarg } => self.load(memarg, ext(I32, 1, false)),
            O::I32Load16S { memarg } => self.load(memarg, ext(I32, 2, true)),
            O::I32Load16U { memarg } => self.load(memarg, ext(I32, 2, false)),
            O::I64Load8S { memarg } => self.load(memarg, ext(I64, 1, true)),
            O::I64Load8U { memarg } => self.load(memarg, ext(I64, 1, false)),
            O::I64Load16S { memarg } => self.load(memarg, ext(I64, 2, true)),
            O::I64Load16U { memarg } => self.load(memarg, ext(I64, 2, false)),
            O::I64Load32S { memarg } => self.load(memarg, ext(I64, 4, true)),
            O::I64Load32U { memarg } => self.load(memarg, ext(I64, 4, false)),
            O::I32Store { memarg } => self.store(memarg, I32, None),
            O::I64Store { memarg } => self.store(memarg, I64, None),
            O::F32Store { memarg } => self.store(memarg, ir::types::F32, None),
            O::F64Store { memarg } => self.store(memarg, ir::types::F64, None),
            O::I32Store8 { memarg } | O::I64Store8 { memarg } => self.store(memarg, I8, Some(1)),
            O::I32Store16 { memarg } | O::I64Store16 { memarg } => self.store(memarg, I16, Some(2)),
            O::I64Store32 { memarg } => self.store(memarg, I32, Some(4)),
            O::MemorySize { mem } => {
                let def = self.memory_def(*mem);
                let len = self.memory_length(def);
                let pages = self.b.ins().ushr_imm_u(len, 16);
                let v = self.b.ins().ireduce(I32, pages);
                self.push(v);
            }
            O::MemoryGrow { mem } => {
                let delta = self.pop_u64();
                let vmctx = self.vmctx;
                let mem = self.b.ins().iconst(I32, i64::from(*mem));
                let old = self
                    .call_builtin(
                        off::BUILTIN_MEMORY_GROW,
                        &[I64, I32, I64],
                        &[I64],
                        &[vmctx, mem, delta],
                    )
                    .expect("memory_grow returns");
                let v = self.b.ins().ireduce(I32, old);
                self.push(v);
            }
            O::MemoryInit { data_index, mem } => {
                let (dst, src, len) = self.pop3();
                let dst = self.b.ins().uextend(I64, dst);
                let vmctx = self.vmctx;
                let mem = self.b.ins().iconst(I32, i64::from(*mem));
                let data = self.b.ins().iconst(I32, i64::from(*data_index));
                let code = self
                    .call_builtin(
                        off::BUILTIN_MEMORY_INIT,
                        &[I64, I32, I32, I64, I32, I32],
                        &[I32],
                        &[vmctx, mem, data, dst, src, len],
                    )
                    .expect("memory_init returns");
                self.raise_if_nonzero(code);
            }
            O::DataDrop { data_index } => {
                let vmctx = self.vmctx;
                let data = self.b.ins().iconst(I32, i64::from(*data_index));
                self.call_builtin(off::BUILTIN_DATA_DROP, &[I64, I32], &[], &[vmctx, data]);
            }
            O::MemoryCopy { dst_mem, src_mem } => {
                let len = self.pop_u64();
                let src = self.pop_u64();
                let dst = self.pop_u64();
                let src_def = self.memory_def(*src_mem);
                let dst_def = self.memory_def(*dst_mem);
                let src_len = self.memory_length(src_def);
                let dst_len = self.memory_length(dst_def);
                self.check_range(src, len, src_len, ir::TrapCode::HEAP_OUT_OF_BOUNDS);
                self.check_range(dst, len, dst_len, ir::TrapCode::HEAP_OUT_OF_BOUNDS);
                let src_base = self.memory_base(src_def);
                let dst_base = self.memory_base(dst_def);
                let src = self.b.ins().iadd(src_base, src);
                let dst = self.b.ins().iadd(dst_base, dst);
                let memmove = libc::memmove as *const () as usize;
                self.call_libc(memmove, &[I64, I64, I64], &[dst, src, len]);
            }
            O::MemoryFill { mem } => {
                let len = self.pop_u64();
                let value = self.pop();
                let dst = self.pop_u64();
                let def = self.memory_def(*mem);
                let length = self.memory_length(def);
                self.check_range(dst, len, length, ir::TrapCode::HEAP_OUT_OF_BOUNDS);
                let base = self.memory_base(def);
                let dst = self.b.ins().iadd(base, dst);
                let memset = libc::memset as *const () as usize;
                self.call_libc(memset, &[I64, I32, I64], &[dst, value, len]);
            }
            O::RefNull { .. } => {
                let v = self.b.ins().iconst(I64, 0);
                self.push(v);
            }
            O::RefFunc { function_index } => {
                let v = self.vmctx_load(self.offsets.func(*function_index));
                self.push(v);
            }
            O::TableGet { table } => {
                let index = self.pop_u64();
                let addr = self.table_element(*table, index);
                let flags = self.flags.table;
                let v = self.b.ins().load(I64, flags, addr, 0);
                self.push(v);
            }
            O::TableSet { table } => {
                let value = self.pop();
                let index = self.pop_u64();
                let addr = self.table_element(*table, index);
                let flags = self.flags.table;
                self.b.ins().store(flags, value, addr, 0);
            }
            O::TableSize { table } => {
                let def = self.table_def(*table);
                let len = self.table_length(def);
                let v = self.b.ins().ireduce(I32, len);
                self.push(v);
            }
            O::TableGrow { table } => {
                let delta = self.pop_u64();
                let init = self.pop();
                let vmctx = self.vmctx;
                let table = self.b.ins().iconst(I32, i64::from(*table));
                let old = self
                    .call_builtin(
                        off::BUILTIN_TABLE_GROW,
                        &[I64, I32, I64, I64],
                        &[I64],
                        &[vmctx, table, delta, init],
                    )
                    .expect("table_grow returns");
                let v = self.b.ins().ireduce(I32, old);
                self.push(v);
            }
            O::TableFill { table } => self.table_fill(*table),
            O::TableCopy {
                dst_table,
                src_table,
            } => {
                let len = self.pop_u64();
                let src = self.pop_u64();
                let dst = self.pop_u64();
                let src_def = self.table_def(*src_table);
                let dst_def = self.table_def(*dst_table);
                let src_len = self.table_length(src_def);
                let dst_len = self.table_length(dst_def);
                let oob = user_trap(TrapCode::TableOutOfBounds);
                self.check_range(src, len, src_len, oob);
                self.check_range(dst, len, dst_len, oob);
                let flags = self.flags.vm;
                let src_base = self
                    .b
                    .ins()
                    .load(I64, flags, src_def, i32::from(off::TABLE_BASE));
                let dst_base = self
                    .b
                    .ins()
                    .load(I64, flags, dst_def, i32::from(off::TABLE_BASE));
                let src = self.b.ins().ishl_imm_u(src, 3);
                let src = self.b.ins().iadd(src_base, src);
                let dst = self.b.ins().ishl_imm_u(dst, 3);
                let dst = self.b.ins().iadd(dst_base, dst);
                let bytes = self.b.ins().ishl_imm_u(len, 3);
                let memmove = libc::memmove as *const () as usize;
                self.call_libc(memmove, &[I64, I64, I64], &[dst, src, bytes]);
            }
            O::TableInit { elem_index, table } => {
                let (dst, src, len) = self.pop3();
                let dst = self.b.ins().uextend(I64, dst);
                let vmctx = self.vmctx;
                let table = self.b.ins().iconst(I32, i64::from(*table));
                let elem = self.b.ins().iconst(I32, i64::from(*elem_index));
                let code = self
                    .call_builtin(
                        off::BUILTIN_TABLE_INIT,
                        &[I64, I32, I32, I64, I32, I32],
                        &[I32],
                        &[vmctx, table, elem, dst, src, len],
                    )
                    .expect("table_init returns");
                self.raise_if_nonzero(code);
            }
            O::ElemDrop { elem_index } => {
                let vmctx = self.vmctx;
                let elem = self.b.ins().iconst(I32, i64::from(*elem_index));
                self.call_builtin(off::BUILTIN_ELEM_DROP, &[I64, I32], &[], &[vmctx, elem]);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `table.fill`: a bounds check, then a loop storing the value.
    fn table_fill(&mut self, table: u32) {
        let len = self.pop_u64();
        let value = self.pop();
        let start = self.pop_u64();
        let def = self.table_def(table);
        let size = self.table_length(def);
        self.check_range(start, len, size, user_trap(TrapCode::TableOutOfBounds));
        let flags = self.flags.vm;
        let base = self
            .b
            .ins()
            .load(I64, flags, def, i32::from(off::TABLE_BASE));
        let first = self.b.ins().ishl_imm_u(start, 3);
        let first = self.b.ins().iadd(base, first);
        let bytes = self.b.ins().ishl_imm_u(len, 3);
        let end = self.b.ins().iadd(first, bytes);
        let header = self.b.create_block();
        let body = self.b.create_block();
        let done = self.b.create_block();
        let ptr = self.b.append_block_param(header, I64);
        self.b.ins().jump(header, &[ir::BlockArg::Value(first)]);
        self.b.switch_to_block(header);
        let more = self.b.ins().icmp(IntCC::UnsignedLessThan, ptr, end);
        self.b.ins().brif(more, body, &[], done, &[]);
        self.b.seal_block(body);
        self.b.switch_to_block(body);
        let table_flags = self.flags.table;
        self.b.ins().store(table_flags, value, ptr, 0);
        let next = self.b.ins().iadd_imm_u(ptr, 8);
        self.b.ins().jump(header, &[ir::BlockArg::Value(next)]);
        self.b.seal_block(header);
        self.b.seal_block(done);
        self.b.switch_to_block(done);
    }
}
