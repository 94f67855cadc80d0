//! Calls: direct (`call`) and through a table (`call_indirect`), as the baseline makes them.
//!
//! A callee with native code is called under the native convention with this instance's
//! `VMContext` as both callee and caller: for `call`, when the module's code table has an
//! entry for a defined callee; for `call_indirect`, when the table element is a function of
//! this same instance with an entry. Everything else (imports, other instances, functions
//! without native code yet) is called through its `VMFuncRef`'s array entry with the values
//! area in the frame; a `false` return leaves for the host-to-wasm entry through the
//! `raise_trap` builtin. Both paths meet in a block whose parameters are the results.
//! Whether a table element is this instance's function follows from its address (see
//! `own_code_table_offset`).
//!
//! A direct call of the function being compiled (recursion) needs none of this: it is a
//! pc-relative `call` of the function's own entry. This tier is the last one, so nothing
//! ever replaces this code and the callee is always this very code, with this instance.
//! Cranelift records the call as a relocation against the function's own name, which
//! [`crate::compile`] resolves in place (the code stays position independent).

use crate::translate::{block_args, Translator};
use crate::{user_trap, CompileError};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I32, I64, I8};
use cranelift_codegen::ir::{
    Block, ExtFuncData, ExternalName, FuncRef, InstBuilder, UserExternalName, Value,
};
use strata_environ::vmcontext::{offsets as off, VMFuncRef};
use strata_environ::TrapCode;

/// What a native call calls.
#[derive(Debug, Clone, Copy)]
enum NativeTarget {
    /// The entry loaded from the code table.
    Entry(Value),
    /// The function being compiled.
    Own,
}

/// What a call instruction calls.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Callee {
    Direct(u32),
    Indirect { ty: u32, table: u32 },
}

impl Translator<'_, '_> {
    pub(crate) fn call(&mut self, callee: Callee) -> Result<(), CompileError> {
        if let Callee::Direct(f) = callee {
            if f == self.func_index && !self.osr_variant {
                return self.self_call();
            }
        }
        let type_index = match callee {
            Callee::Direct(f) => self.module.functions[f as usize],
            Callee::Indirect { ty, .. } => ty,
        };
        let ty = self.module.types[type_index as usize].clone();
        let nparams = ty.params.len();
        let nresults = ty.results.len();
        let callee_index = match callee {
            Callee::Indirect { .. } => Some(self.pop()),
            Callee::Direct(_) => None,
        };
        let args = self.stack.split_off(self.stack.len() - nparams);
        let mut result_types = Vec::with_capacity(nresults);
        for &r in ty.results.iter() {
            result_types.push(crate::translate::clif_type(r)?);
        }
        let merge = self.b.create_block();
        for &t in &result_types {
            self.b.append_block_param(merge, t);
        }
        let array_block = self.b.create_block();

        // Find the funcref and, when a native call is possible, the native entry; branch to
        // `native_block` with it or to `array_block`.
        let mut native: Option<(Block, Value)> = None;
        let funcref = match (callee, callee_index) {
            (Callee::Direct(f), _) => {
                if let Some(defined) = self.module.defined_func_index(f) {
                    let table = self.vmctx_load(self.offsets.code_table());
                    let flags = self.flags.vm;
                    let entry = self.b.ins().load(I64, flags, table, 8 * defined as i32);
                    native = Some(self.branch_on_entry(entry, array_block));
                } else {
                    self.b.ins().jump(array_block, &[]);
                }
                None
            }
            (Callee::Indirect { ty, table }, Some(index)) => {
                let funcref = self.indirect_funcref(ty, table, index);
                let offset = self.own_code_table_offset(funcref, array_block);
                let table = self.vmctx_load(self.offsets.code_table());
                let addr = self.b.ins().iadd(table, offset);
                let flags = self.flags.vm;
                let entry = self.b.ins().load(I64, flags, addr, 0);
                native = Some(self.branch_on_entry(entry, array_block));
                Some(funcref)
            }
            (Callee::Indirect { .. }, None) => unreachable!("popped above"),
        };
        self.b.seal_block(array_block);

        if let Some((native_block, entry)) = native {
            self.b.switch_to_block(native_block);
            let results = self.native_call(type_index, NativeTarget::Entry(entry), &args)?;
            let results = block_args(&results);
            self.b.ins().jump(merge, &results);
        }

        // Through the callee's `VMFuncRef` and the array convention.
        self.b.switch_to_block(array_block);
        let funcref = match (funcref, callee) {
            (Some(f), _) => f,
            (None, Callee::Direct(f)) => self.vmctx_load(self.offsets.func(f)),
            (None, Callee::Indirect { .. }) => unreachable!("indirect calls load the funcref"),
        };
        let len = nparams.max(nresults);
        let area = self.call_area(len as u32);
        for (k, (&v, &t)) in args.iter().zip(ty.params.iter()).enumerate() {
            self.store_valraw(t, v, area, 16 * k as i32);
        }
        let flags = self.flags.record;
        let array_call = self
            .b
            .ins()
            .load(I64, flags, funcref, i32::from(off::FUNCREF_ARRAY_CALL));
        let sig = self.signature(&[I64, I64, I64, I64], &[I8]);
        let len = self.b.ins().iconst(I64, len as i64);
        let call = self
            .b
            .ins()
            .call_indirect(sig, array_call, &[funcref, self.vmctx, area, len]);
        let ok = self.b.inst_results(call)[0];
        let cont = self.b.create_block();
        let raise = self.b.create_block();
        self.b.ins().brif(ok, cont, &[], raise, &[]);
        self.b.seal_block(cont);
        self.b.seal_block(raise);
        self.b.set_cold_block(raise);
        self.b.switch_to_block(raise);
        let zero = self.b.ins().iconst(I32, 0);
        self.raise_trap(zero);
        self.b.switch_to_block(cont);
        let mut results = Vec::with_capacity(nresults);
        for (k, &t) in ty.results.iter().enumerate() {
            results.push(self.load_valraw(t, area, 16 * k as i32)?);
        }
        let results = block_args(&results);
        self.b.ins().jump(merge, &results);

        self.b.seal_block(merge);
        self.b.switch_to_block(merge);
        let results = self.b.block_params(merge).to_vec();
        self.stack.extend(results);
        Ok(())
    }

    /// A direct call of the function being compiled: a native call of its own entry.
    fn self_call(&mut self) -> Result<(), CompileError> {
        let type_index = self.module.functions[self.func_index as usize];
        let nparams = self.module.types[type_index as usize].params.len();
        let args = self.stack.split_off(self.stack.len() - nparams);
        let results = self.native_call(type_index, NativeTarget::Own, &args)?;
        self.stack.extend(results);
        Ok(())
    }

    /// The function's own entry as a callee (its name is the function's, see
    /// [`crate::compile`]); colocated, so Cranelift calls it pc-relative.
    fn own_entry(&mut self, type_index: u32) -> Result<FuncRef, CompileError> {
        if let Some(f) = self.own_entry {
            return Ok(f);
        }
        let signature = self.native_sig_ref(type_index)?;
        let name = self
            .b
            .func
            .declare_imported_user_function(UserExternalName::new(0, self.func_index));
        let f = self.b.import_function(ExtFuncData {
            name: ExternalName::user(name),
            signature,
            colocated: true,
            patchable: false,
        });
        self.own_entry = Some(f);
        Ok(f)
    }

    /// Continues in a new block with the byte offset (`i64`) of `funcref`'s code-table entry
    /// if it is one of this instance's defined functions, else branches to `array_block`.
    ///
    /// The runtime keeps an instance's defined functions' `VMFuncRef`s in one array, in
    /// defined-index order (`src/vm/instance.rs`), so the index follows from the address:
    /// no load of the funcref's owner or function index lies between the table element and
    /// the code-table entry, which matters when the call's target is mispredicted and the
    /// loads that compute it are what the processor waits for.
    fn own_code_table_offset(&mut self, funcref: Value, array_block: Block) -> Value {
        let size = std::mem::size_of::<VMFuncRef>() as u64;
        // The distance in the array is `index * size`, the entry's offset `index * 8`.
        const { assert!(std::mem::size_of::<VMFuncRef>().is_power_of_two()) };
        const { assert!(std::mem::size_of::<VMFuncRef>() >= 8) };
        let first = self.offsets.func(self.module.num_imported_funcs);
        let first = self.vmctx_load(first);
        let distance = self.b.ins().isub(funcref, first);
        let bytes = u64::from(self.module.num_defined_funcs()) * size;
        let ours = self
            .b
            .ins()
            .icmp_imm_u(IntCC::UnsignedLessThan, distance, bytes as i64);
        let same_instance = self.b.create_block();
        self.b
            .ins()
            .brif(ours, same_instance, &[], array_block, &[]);
        self.b.seal_block(same_instance);
        self.b.switch_to_block(same_instance);
        let shift = size.trailing_zeros() - 3;
        self.b.ins().ushr_imm_u(distance, i64::from(shift))
    }

    /// Branches to a new native-call block if `entry` is non-null, else to `array_block`.
    fn branch_on_entry(&mut self, entry: Value, array_block: Block) -> (Block, Value) {
        let native_block = self.b.create_block();
        self.b
            .ins()
            .brif(entry, native_block, &[], array_block, &[]);
        self.b.seal_block(native_block);
        (native_block, entry)
    }

    /// `call_indirect`'s checks: the index within the table (else `TableOutOfBounds`), the
    /// element non-null (`IndirectCallToNull`), its signature the expected one
    /// (`BadSignature`). Returns the element's `VMFuncRef`.
    ///
    /// A table whose type says its maximum is its minimum never grows: its length is a
    /// constant and its elements never move (an import of it matches only a table that
    /// cannot grow either), so neither is reloaded after every call.
    fn indirect_funcref(&mut self, ty: u32, table: u32, index: Value) -> Value {
        let def = self.vmctx_load(self.offsets.table(table));
        let table_type = self.module.tables[table as usize];
        let fixed = Some(table_type.minimum).filter(|&m| table_type.maximum == Some(m));
        let flags = match fixed {
            Some(_) => self.flags.constant,
            None => self.flags.vm,
        };
        let len = match fixed {
            Some(len) => self.b.ins().iconst(I64, len as i64),
            None => self
                .b
                .ins()
                .load(I64, flags, def, i32::from(off::TABLE_CURRENT_ELEMENTS)),
        };
        let index = self.b.ins().uextend(I64, index);
        let oob = self
            .b
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, index, len);
        self.b
            .ins()
            .trapnz(oob, user_trap(TrapCode::TableOutOfBounds));
        let base = self
            .b
            .ins()
            .load(I64, flags, def, i32::from(off::TABLE_BASE));
        let offset = self.b.ins().ishl_imm_u(index, 3);
        let addr = self.b.ins().iadd(base, offset);
        let table_flags = self.flags.table;
        let funcref = self.b.ins().load(I64, table_flags, addr, 0);
        self.b
            .ins()
            .trapz(funcref, user_trap(TrapCode::IndirectCallToNull));
        let type_ids = self.vmctx_load(self.offsets.type_ids());
        let constant = self.flags.constant;
        let expected = self.b.ins().load(I32, constant, type_ids, 4 * ty as i32);
        let record = self.flags.record;
        let actual = self
            .b
            .ins()
            .load(I32, record, funcref, i32::from(off::FUNCREF_TYPE_ID));
        let bad = self.b.ins().icmp(IntCC::NotEqual, expected, actual);
        self.b.ins().trapnz(bad, user_trap(TrapCode::BadSignature));
        funcref
    }

    /// A native call of `target` (a function of this instance of module type `type_index`);
    /// returns the results.
    fn native_call(
        &mut self,
        type_index: u32,
        target: NativeTarget,
        args: &[Value],
    ) -> Result<Vec<Value>, CompileError> {
        let ty = self.module.types[type_index as usize].clone();
        let sig = self.native_sig_ref(type_index)?;
        let mut call_args = Vec::with_capacity(args.len() + 3);
        call_args.push(self.vmctx);
        call_args.push(self.vmctx);
        call_args.extend_from_slice(args);
        let area = (ty.results.len() > 1).then(|| self.call_area(ty.results.len() as u32));
        if let Some(area) = area {
            call_args.push(area);
        }
        let call = match target {
            NativeTarget::Entry(entry) => self.b.ins().call_indirect(sig, entry, &call_args),
            NativeTarget::Own => {
                let f = self.own_entry(type_index)?;
                self.b.ins().call(f, &call_args)
            }
        };
        match area {
            None => Ok(self.b.inst_results(call).to_vec()),
            Some(area) => {
                let mut results = Vec::with_capacity(ty.results.len());
                for (k, &t) in ty.results.iter().enumerate() {
                    results.push(self.load_valraw(t, area, 16 * k as i32)?);
                }
                Ok(results)
            }
        }
    }
}
