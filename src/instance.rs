//! `Instance`: instantiation of a module in a store, and access to its exports.
//!
//! Instantiation follows the WebAssembly 2.0 order: check imports, create the defined
//! memories, tables and globals, evaluate global and table initializers, apply active element
//! segments then active data segments in order (a failing one traps, leaving earlier writes in
//! place, as the spec requires), then run the start function.

use crate::store::{AsContextMut, StoreContextMut, StoreId, StoreInner, StoreOpaque};
use crate::types::ExternType;
use crate::vm::{self, InstanceData};
use crate::{Extern, Func, Global, Memory, Module, Table, TypedFunc, WasmParams, WasmResults};
use anyhow::{anyhow, bail, Context, Result};
use strata_environ::{
    ConstExpr, ConstOp, EntityType, ExportKind, ModuleInfo, SegmentMode, TrapCode, ValRaw,
};

/// An instantiated module. A handle: the instance lives in its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Instance {
    pub(crate) store: StoreId,
    pub(crate) index: usize,
}

/// An export of an instance.
#[derive(Debug, Clone)]
pub struct Export<'instance> {
    name: &'instance str,
    definition: Extern,
}

impl<'instance> Export<'instance> {
    pub fn name(&self) -> &'instance str {
        self.name
    }
    pub fn into_extern(self) -> Extern {
        self.definition
    }
    pub fn into_func(self) -> Option<Func> {
        self.definition.into_func()
    }
    pub fn into_table(self) -> Option<Table> {
        self.definition.into_table()
    }
    pub fn into_memory(self) -> Option<Memory> {
        self.definition.into_memory()
    }
    pub fn into_global(self) -> Option<Global> {
        self.definition.into_global()
    }
}

impl Instance {
    /// Instantiates `module` with `imports`, given in the order of `Module::imports`.
    ///
    /// Fails when the number of imports differs, when an import has the wrong type (the
    /// error names it), when a resource limit is exceeded, or when initialization or the
    /// start function traps (the error then downcasts to [`crate::Trap`]).
    pub fn new(
        mut store: impl AsContextMut,
        module: &Module,
        imports: &[Extern],
    ) -> Result<Instance> {
        Instance::instantiate(store.as_context_mut().0, module, imports)
    }

    pub(crate) fn instantiate<T>(
        store: &mut StoreInner<T>,
        module: &Module,
        imports: &[Extern],
    ) -> Result<Instance> {
        let info = module.info();
        if !crate::Engine::same(store.opaque().engine(), module.engine()) {
            bail!("cross-`Engine` instantiation is not currently supported");
        }
        if imports.len() != info.imports.len() {
            bail!(
                "expected {} imports, found {}",
                info.imports.len(),
                imports.len()
            );
        }
        for (import, ext) in info.imports.iter().zip(imports) {
            store.opaque().check_owns(ext.store_id()).with_context(|| {
                format!(
                    "import `{}::{}` belongs to another store",
                    import.module, import.field
                )
            })?;
            check_import(store.opaque(), module, &import.ty, ext).with_context(|| {
                format!(
                    "incompatible import type for `{}::{}`",
                    import.module, import.field
                )
            })?;
        }
        {
            let (opaque, limiter) = store.opaque_and_limiter();
            let limit = limiter.map_or(crate::limits::DEFAULT_INSTANCE_LIMIT, |l| l.instances());
            if opaque.instances.len() >= limit {
                bail!("resource limit exceeded: instance count too high at {limit}");
            }
        }

        let mut parts = vm::InstanceParts::default();
        for ext in imports {
            match *ext {
                Extern::Func(f) => parts.imported_funcs.push(f.ptr()),
                Extern::Memory(m) => {
                    let def = store.opaque_mut().memory_mut(m).definition();
                    parts.memories.push((m, def));
                }
                Extern::Table(t) => {
                    let def = store.opaque_mut().table_mut(t).definition();
                    parts.tables.push((t, def));
                }
                Extern::Global(g) => {
                    let value = &mut store.opaque_mut().global_mut(g).value as *mut ValRaw;
                    parts.globals.push((g, value));
                }
            }
        }
        for ty in &info.memories[info.num_imported_memories as usize..] {
            let m = Memory::create(store, *ty)?;
            let def = store.opaque_mut().memory_mut(m).definition();
            parts.memories.push((m, def));
        }
        for ty in &info.tables[info.num_imported_tables as usize..] {
            let t = Table::create(store, *ty, 0)?;
            let def = store.opaque_mut().table_mut(t).definition();
            parts.tables.push((t, def));
        }
        for ty in &info.globals[info.num_imported_globals as usize..] {
            let g = Global::create(store.opaque_mut(), *ty, ValRaw::default());
            let value = &mut store.opaque_mut().global_mut(g).value as *mut ValRaw;
            parts.globals.push((g, value));
        }

        let opaque = store.opaque_mut();
        let handle = Instance {
            store: opaque.id(),
            index: opaque.instances.len(),
        };
        let vmstore = opaque.vmstore.expect("set when the store was created");
        let store_context = &mut *opaque.vm_store_context as *mut _;
        let data = InstanceData::new(module, handle, vmstore, store_context, parts);
        opaque.instances.push(data);

        initialize(opaque, handle, info)?;

        if let Some(start) = info.start {
            let func = Func::from_ptr(opaque, opaque.instances[handle.index].funcs[start as usize]);
            func.call(StoreContextMut(store), &[], &mut [])?;
        }
        Ok(handle)
    }

    fn data<'a>(&self, store: &'a StoreOpaque) -> &'a InstanceData {
        store.assert_owns(self.store);
        &store.instances[self.index]
    }

    /// The module this instance was instantiated from.
    pub fn module<'a, T: 'a>(
        &self,
        store: impl Into<crate::store::StoreContext<'a, T>>,
    ) -> &'a Module {
        &self.data(store.into().0.opaque()).module
    }

    /// The export called `name`, if any. Panics if `store` does not own the instance.
    pub fn get_export(&self, mut store: impl AsContextMut, name: &str) -> Option<Extern> {
        let store = store.as_context_mut();
        let opaque = store.0.opaque_mut();
        let data = self.data(opaque);
        let info = data.module.info();
        let index = info.exports.iter().position(|e| e.name == name)?;
        Some(self.export_at(opaque, index))
    }

    /// The export at position `index`, resolved on first use and cached.
    fn export_at(&self, store: &mut StoreOpaque, index: usize) -> Extern {
        if let Some(ext) = store.instances[self.index].exports[index] {
            return ext;
        }
        let data = &store.instances[self.index];
        let ext = match data.module.info().exports[index].kind {
            ExportKind::Func(i) => Extern::Func(Func::from_ptr(store, data.funcs[i as usize])),
            ExportKind::Table(i) => Extern::Table(data.tables[i as usize]),
            ExportKind::Memory(i) => Extern::Memory(data.memories[i as usize]),
            ExportKind::Global(i) => Extern::Global(data.globals[i as usize]),
        };
        store.instances[self.index].exports[index] = Some(ext);
        ext
    }

    /// All exports, in module order. Panics if `store` does not own the instance.
    pub fn exports<'a, T: 'a>(
        &'a self,
        store: impl Into<StoreContextMut<'a, T>>,
    ) -> impl ExactSizeIterator<Item = Export<'a>> + 'a {
        let store = store.into().0.opaque_mut();
        self.data(store);
        let count = store.instances[self.index].exports.len();
        for i in 0..count {
            self.export_at(store, i);
        }
        let data = &store.instances[self.index];
        let info = data.module.info();
        info.exports
            .iter()
            .zip(data.exports.iter())
            .map(|(e, ext)| Export {
                name: e.name.as_str(),
                definition: ext.expect("resolved above"),
            })
            .collect::<Vec<_>>()
            .into_iter()
    }

    pub fn get_func(&self, store: impl AsContextMut, name: &str) -> Option<Func> {
        self.get_export(store, name)?.into_func()
    }

    /// The exported function `name` with a checked signature; an error if it is missing,
    /// not a function, or of another type.
    pub fn get_typed_func<Params: WasmParams, Results: WasmResults>(
        &self,
        mut store: impl AsContextMut,
        name: &str,
    ) -> Result<TypedFunc<Params, Results>> {
        let func = self
            .get_func(&mut store, name)
            .ok_or_else(|| anyhow!("failed to find function export `{name}`"))?;
        func.typed(&store)
            .with_context(|| format!("failed to convert function `{name}` to given type"))
    }

    pub fn get_table(&self, store: impl AsContextMut, name: &str) -> Option<Table> {
        self.get_export(store, name)?.into_table()
    }

    pub fn get_memory(&self, store: impl AsContextMut, name: &str) -> Option<Memory> {
        self.get_export(store, name)?.into_memory()
    }

    pub fn get_global(&self, store: impl AsContextMut, name: &str) -> Option<Global> {
        self.get_export(store, name)?.into_global()
    }
}

/// Checks an import against the module's expectation (Wasm 2.0 import matching).
fn check_import(
    store: &StoreOpaque,
    module: &Module,
    expected: &EntityType,
    ext: &Extern,
) -> Result<()> {
    let actual = ext.load_ty(store);
    let ok = match (expected, &actual) {
        (EntityType::Function(t), ExternType::Func(_)) => {
            let Extern::Func(f) = ext else {
                unreachable!("matched a function type")
            };
            vm::funcref_type_id(f.ptr()) == module.inner().type_ids[*t as usize]
        }
        (EntityType::Global(g), ExternType::Global(a)) => g == &a.to_env(),
        (EntityType::Table(t), ExternType::Table(a)) => {
            let a = a.to_env();
            t.element == a.element && limits_match(t.minimum, t.maximum, a.minimum, a.maximum)
        }
        (EntityType::Memory(m), ExternType::Memory(a)) => {
            let a = a.to_env();
            m.shared == a.shared
                && m.memory64 == a.memory64
                && limits_match(m.minimum, m.maximum, a.minimum, a.maximum)
        }
        _ => false,
    };
    if !ok {
        bail!(
            "expected {}, found {}",
            describe(module, expected),
            describe_actual(&actual)
        );
    }
    Ok(())
}

fn limits_match(min: u64, max: Option<u64>, actual_min: u64, actual_max: Option<u64>) -> bool {
    actual_min >= min
        && match max {
            None => true,
            Some(max) => actual_max.is_some_and(|a| a <= max),
        }
}

fn describe(module: &Module, ty: &EntityType) -> String {
    match ty {
        EntityType::Function(t) => format!("function {}", module.info().types[*t as usize]),
        EntityType::Global(g) => {
            format!(
                "global {}{}",
                if g.mutable { "mut " } else { "" },
                g.content
            )
        }
        EntityType::Table(t) => format!("table of {} {:?}..{:?}", t.element, t.minimum, t.maximum),
        EntityType::Memory(m) => format!("memory {:?}..{:?} pages", m.minimum, m.maximum),
    }
}

fn describe_actual(ty: &ExternType) -> String {
    match ty {
        ExternType::Func(f) => format!("function {f}"),
        other => format!("{} {other:?}", other.desc()),
    }
}

/// Evaluates initializers and applies segments (see the module docs for the order).
fn initialize(store: &mut StoreOpaque, handle: Instance, info: &ModuleInfo) -> Result<()> {
    let idx = handle.index;
    for (i, init) in info.global_inits.iter().enumerate() {
        let value = eval_const(store, idx, init);
        let g = store.instances[idx].globals[info.num_imported_globals as usize + i];
        store.global_mut(g).value = value;
    }
    for (i, init) in info.table_inits.iter().enumerate() {
        if let Some(init) = init {
            let value = eval_const(store, idx, init).get_ref();
            let t = store.instances[idx].tables[info.num_imported_tables as usize + i];
            store.table_mut(t).elements_mut().fill(value);
        }
    }
    let mut elements = Vec::with_capacity(info.elements.len());
    for seg in &info.elements {
        let items: Box<[u64]> = seg
            .items
            .iter()
            .map(|e| eval_const(store, idx, e).get_ref())
            .collect();
        elements.push(Some(items));
    }
    store.instances[idx].elements = elements;
    for (i, seg) in info.elements.iter().enumerate() {
        match &seg.mode {
            SegmentMode::Passive => {}
            SegmentMode::Declared => store.instances[idx].elements[i] = None,
            SegmentMode::Active { index, offset } => {
                let dst = eval_const(store, idx, offset).get_u64() & offset_mask(false);
                let items = store.instances[idx].elements[i].take().unwrap_or_default();
                let t = store.instances[idx].tables[*index as usize];
                init_table(
                    store.table_mut(t).elements_mut(),
                    dst,
                    &items,
                    0,
                    items.len() as u32,
                )
                .map_err(anyhow::Error::new)?;
            }
        }
    }
    for (i, seg) in info.data.iter().enumerate() {
        if let SegmentMode::Active { index, offset } = &seg.mode {
            let dst = eval_const(store, idx, offset).get_u64()
                & offset_mask(info.memories[*index as usize].memory64);
            let m = store.instances[idx].memories[*index as usize];
            init_memory(
                store.memory_mut(m).data_mut(),
                dst,
                &seg.bytes,
                0,
                seg.bytes.len() as u32,
            )
            .map_err(anyhow::Error::new)?;
            store.instances[idx].dropped_data[i] = true;
        }
    }
    Ok(())
}

/// Offsets of 32-bit memories and tables (all tables in Wasm 2.0) are i32 values,
/// zero-extended.
fn offset_mask(is_64: bool) -> u64 {
    if is_64 {
        u64::MAX
    } else {
        u64::from(u32::MAX)
    }
}

/// Evaluates a (validated) constant expression in the context of instance `idx`.
fn eval_const(store: &StoreOpaque, idx: usize, expr: &ConstExpr) -> ValRaw {
    let data = &store.instances[idx];
    let operand = |op: &ConstOp| match *op {
        ConstOp::I32Const(v) => Some(ValRaw::i32(v)),
        ConstOp::I64Const(v) => Some(ValRaw::i64(v)),
        ConstOp::F32Const(v) => Some(ValRaw::f32(v)),
        ConstOp::F64Const(v) => Some(ValRaw::f64(v)),
        ConstOp::V128Const(v) => Some(ValRaw::v128(v)),
        ConstOp::RefNull(_) => Some(ValRaw::reference(0)),
        ConstOp::RefFunc(f) => Some(ValRaw::reference(data.funcs[f as usize].to_raw())),
        ConstOp::GlobalGet(g) => Some(store.global(data.globals[g as usize]).value),
        _ => None,
    };
    // Almost every initializer is one operand (element items are one `ref.func` each).
    if let [op] = &*expr.ops {
        if let Some(v) = operand(op) {
            return v;
        }
    }
    let mut stack: Vec<ValRaw> = Vec::with_capacity(2);
    for op in expr.ops.iter() {
        let v = match *op {
            ConstOp::I32Const(_)
            | ConstOp::I64Const(_)
            | ConstOp::F32Const(_)
            | ConstOp::F64Const(_)
            | ConstOp::V128Const(_)
            | ConstOp::RefNull(_)
            | ConstOp::RefFunc(_)
            | ConstOp::GlobalGet(_) => operand(op).unwrap_or_default(),
            ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul => {
                let b = stack.pop().unwrap_or_default().get_i32();
                let a = stack.pop().unwrap_or_default().get_i32();
                ValRaw::i32(match *op {
                    ConstOp::I32Add => a.wrapping_add(b),
                    ConstOp::I32Sub => a.wrapping_sub(b),
                    _ => a.wrapping_mul(b),
                })
            }
            ConstOp::I64Add | ConstOp::I64Sub | ConstOp::I64Mul => {
                let b = stack.pop().unwrap_or_default().get_i64();
                let a = stack.pop().unwrap_or_default().get_i64();
                ValRaw::i64(match *op {
                    ConstOp::I64Add => a.wrapping_add(b),
                    ConstOp::I64Sub => a.wrapping_sub(b),
                    _ => a.wrapping_mul(b),
                })
            }
        };
        stack.push(v);
    }
    stack.pop().unwrap_or_default()
}

/// `memory.init` semantics: bounds-check both ranges, then copy.
pub(crate) fn init_memory(
    memory: &mut [u8],
    dst: u64,
    segment: &[u8],
    src: u32,
    len: u32,
) -> Result<(), TrapCode> {
    let src_end = u64::from(src) + u64::from(len);
    let dst_end = dst
        .checked_add(u64::from(len))
        .ok_or(TrapCode::MemoryOutOfBounds)?;
    if src_end > segment.len() as u64 || dst_end > memory.len() as u64 {
        return Err(TrapCode::MemoryOutOfBounds);
    }
    memory[dst as usize..dst_end as usize]
        .copy_from_slice(&segment[src as usize..src_end as usize]);
    Ok(())
}

/// `table.init` semantics: bounds-check both ranges, then copy.
pub(crate) fn init_table(
    table: &mut [u64],
    dst: u64,
    items: &[u64],
    src: u32,
    len: u32,
) -> Result<(), TrapCode> {
    let src_end = u64::from(src) + u64::from(len);
    let dst_end = dst
        .checked_add(u64::from(len))
        .ok_or(TrapCode::TableOutOfBounds)?;
    if src_end > items.len() as u64 || dst_end > table.len() as u64 {
        return Err(TrapCode::TableOutOfBounds);
    }
    table[dst as usize..dst_end as usize].copy_from_slice(&items[src as usize..src_end as usize]);
    Ok(())
}
