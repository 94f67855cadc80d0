//! The `spectest` host module every spec script may import from.
//!
//! Its contents are fixed by the spec interpreter (`interpreter/host/spectest.ml`): print
//! functions, four constant globals holding 666 / 666.6, a funcref table of 10..20 elements
//! and a memory of 1..2 pages.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::{
    Global, GlobalType, Linker, Memory, MemoryType, Mutability, Ref, RefType, Result, Store, Table,
    TableType, Val, ValType,
};

/// Defines the `spectest` module in `linker`, with its globals, table and memory created in
/// `store`. While `print` is set, the print functions write their arguments to stdout the
/// way the reference interpreter does (`42 : i32`); otherwise they only type-check calls.
pub(crate) fn define<T: 'static>(
    linker: &mut Linker<T>,
    store: &mut Store<T>,
    print: Arc<AtomicBool>,
) -> Result<()> {
    linker.func_wrap("spectest", "print", || {})?;
    let on = move || print.load(Ordering::Relaxed);
    let p = on.clone();
    linker.func_wrap("spectest", "print_i32", move |x: i32| {
        if p() {
            println!("{x} : i32");
        }
    })?;
    let p = on.clone();
    linker.func_wrap("spectest", "print_i64", move |x: i64| {
        if p() {
            println!("{x} : i64");
        }
    })?;
    let p = on.clone();
    linker.func_wrap("spectest", "print_f32", move |x: f32| {
        if p() {
            println!("{x} : f32");
        }
    })?;
    let p = on.clone();
    linker.func_wrap("spectest", "print_f64", move |x: f64| {
        if p() {
            println!("{x} : f64");
        }
    })?;
    let p = on.clone();
    linker.func_wrap("spectest", "print_i32_f32", move |x: i32, y: f32| {
        if p() {
            println!("{x} : i32");
            println!("{y} : f32");
        }
    })?;
    let p = on;
    linker.func_wrap("spectest", "print_f64_f64", move |x: f64, y: f64| {
        if p() {
            println!("{x} : f64");
            println!("{y} : f64");
        }
    })?;

    let globals = [
        ("global_i32", ValType::I32, Val::I32(666)),
        ("global_i64", ValType::I64, Val::I64(666)),
        ("global_f32", ValType::F32, Val::F32(666.6f32.to_bits())),
        ("global_f64", ValType::F64, Val::F64(666.6f64.to_bits())),
    ];
    for (name, ty, value) in globals {
        let global = Global::new(&mut *store, GlobalType::new(ty, Mutability::Const), value)?;
        linker.define(&*store, "spectest", name, global)?;
    }

    let table = Table::new(
        &mut *store,
        TableType::new(RefType::FUNCREF, 10, Some(20)),
        Ref::Func(None),
    )?;
    linker.define(&*store, "spectest", "table", table)?;

    let memory = Memory::new(&mut *store, MemoryType::new(1, Some(2)))?;
    linker.define(&*store, "spectest", "memory", memory)?;
    Ok(())
}
