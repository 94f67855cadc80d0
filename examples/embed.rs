//! Embedding Strata: compile a module, give it a host function, call its exports.
//! Run with `cargo run --example embed`.

use strata::{Caller, Config, Engine, Linker, Module, Store, Strategy, Trap};

fn main() -> strata::Result<()> {
    // `Strategy::Tiered` is the default; here the interpreter is forced.
    let mut config = Config::new();
    config.strategy(Strategy::Interpreter);
    let engine = Engine::new(&config)?;

    let module = Module::new(
        &engine,
        r#"(module
             (import "host" "log" (func $log (param i32)))
             (func (export "sum_to") (param $n i32) (result i32)
               (local $acc i32)
               (block $done
                 (loop $next
                   (br_if $done (i32.eqz (local.get $n)))
                   (local.set $acc (i32.add (local.get $acc) (local.get $n)))
                   (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                   (br $next)))
               (call $log (local.get $acc))
               (local.get $acc))
             (func (export "crash") unreachable))"#,
    )?;

    // Host state lives in the store; host functions reach it through `Caller`.
    let mut store = Store::new(&engine, Vec::<i32>::new());
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "log", |mut caller: Caller<'_, Vec<i32>>, x: i32| {
        caller.data_mut().push(x);
    })?;
    let instance = linker.instantiate(&mut store, &module)?;

    let sum_to = instance.get_typed_func::<i32, i32>(&mut store, "sum_to")?;
    assert_eq!(sum_to.call(&mut store, 100)?, 5050);
    println!("sum_to(100) = 5050; the host saw {:?}", store.data());

    // A trap is an error that downcasts to `Trap`.
    let crash = instance.get_typed_func::<(), ()>(&mut store, "crash")?;
    let error = crash.call(&mut store, ()).unwrap_err();
    assert_eq!(
        error.downcast_ref::<Trap>(),
        Some(&Trap::UnreachableCodeReached)
    );
    println!("crash() trapped: {}", Trap::UnreachableCodeReached);
    Ok(())
}
