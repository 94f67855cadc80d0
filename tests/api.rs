//! The embedding API behaves as wasmtime documents it.

use strata::*;

fn engine() -> Engine {
    let mut config = Config::new();
    config.strategy(Strategy::Interpreter);
    Engine::new(&config).unwrap()
}

const IMPORTS_WAT: &str = r#"
(module
  (import "host" "double" (func $double (param i32) (result i32)))
  (import "host" "g" (global $g i32))
  (memory (export "mem") 1)
  (table (export "tab") 2 funcref)
  (global (export "counter") (mut i32) (i32.const 5))
  (func (export "run") (param i32) (result i32)
    local.get 0
    call $double
    global.get $g
    i32.add)
)"#;

fn host_imports(store: &mut Store<()>) -> Vec<Extern> {
    let double = Func::wrap(&mut *store, |x: i32| x * 2);
    let g = Global::new(
        &mut *store,
        GlobalType::new(ValType::I32, Mutability::Const),
        Val::I32(100),
    )
    .unwrap();
    vec![double.into(), g.into()]
}

#[test]
fn instantiates_with_imports_and_calls() {
    let engine = engine();
    let module = Module::new(&engine, IMPORTS_WAT).unwrap();
    let mut store = Store::new(&engine, ());
    let imports = host_imports(&mut store);
    let instance = Instance::new(&mut store, &module, &imports).unwrap();
    let run = instance
        .get_typed_func::<i32, i32>(&mut store, "run")
        .unwrap();
    assert_eq!(run.call(&mut store, 21).unwrap(), 142);
    let mut results = [Val::I32(0)];
    instance
        .get_func(&mut store, "run")
        .unwrap()
        .call(&mut store, &[Val::I32(1)], &mut results)
        .unwrap();
    assert_eq!(results[0].unwrap_i32(), 102);
    assert!(instance.get_memory(&mut store, "mem").is_some());
    assert!(instance.get_table(&mut store, "tab").is_some());
    let counter = instance.get_global(&mut store, "counter").unwrap();
    assert_eq!(counter.get(&mut store).unwrap_i32(), 5);
    counter.set(&mut store, Val::I32(6)).unwrap();
    assert_eq!(counter.get(&mut store).unwrap_i32(), 6);
    let names: Vec<String> = instance
        .exports(&mut store)
        .map(|e| e.name().to_string())
        .collect();
    assert_eq!(names, ["mem", "tab", "counter", "run"]);
    assert!(instance.get_export(&mut store, "missing").is_none());
}

#[test]
fn wrong_import_count_is_an_error() {
    let engine = engine();
    let module = Module::new(&engine, IMPORTS_WAT).unwrap();
    let mut store = Store::new(&engine, ());
    let imports = host_imports(&mut store);
    let err = Instance::new(&mut store, &module, &imports[..1]).unwrap_err();
    assert!(
        err.to_string().contains("expected 2 imports, found 1"),
        "{err}"
    );
}

#[test]
fn wrong_import_type_names_the_import() {
    let engine = engine();
    let module = Module::new(&engine, IMPORTS_WAT).unwrap();
    let mut store = Store::new(&engine, ());
    let wrong = Func::wrap(&mut store, |x: i64| x);
    let g = Global::new(
        &mut store,
        GlobalType::new(ValType::I32, Mutability::Const),
        Val::I32(1),
    )
    .unwrap();
    let err = Instance::new(&mut store, &module, &[wrong.into(), g.into()]).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("incompatible import type for `host::double`"),
        "{msg}"
    );
    // A global where a function is expected.
    let err = Instance::new(&mut store, &module, &[g.into(), g.into()]).unwrap_err();
    assert!(format!("{err:#}").contains("`host::double`"), "{err:#}");
}

#[test]
fn start_function_trap_fails_instantiation() {
    let engine = engine();
    let module = Module::new(&engine, r#"(module (func $s unreachable) (start $s))"#).unwrap();
    let mut store = Store::new(&engine, ());
    let err = Instance::new(&mut store, &module, &[]).unwrap_err();
    assert_eq!(
        err.downcast_ref::<Trap>(),
        Some(&Trap::UnreachableCodeReached)
    );
}

#[test]
fn start_function_runs() {
    let engine = engine();
    let module = Module::new(
        &engine,
        r#"(module (global (export "g") (mut i32) (i32.const 0))
             (func $s (global.set 0 (i32.const 42))) (start $s))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let g = instance.get_global(&mut store, "g").unwrap();
    assert_eq!(g.get(&mut store).unwrap_i32(), 42);
}

#[test]
fn typed_func_checks_types() {
    let engine = engine();
    let module = Module::new(
        &engine,
        r#"(module (func (export "f") (param i32) (result i64) i64.const 1))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    assert!(instance.get_typed_func::<i32, i64>(&mut store, "f").is_ok());
    assert!(instance
        .get_typed_func::<i64, i64>(&mut store, "f")
        .is_err());
    assert!(instance
        .get_typed_func::<i32, i32>(&mut store, "f")
        .is_err());
    let err = instance
        .get_typed_func::<(), ()>(&mut store, "nope")
        .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn call_checks_argument_count_and_types() {
    let engine = engine();
    let mut store = Store::new(&engine, ());
    let f = Func::wrap(&mut store, |a: i32, b: i32| a + b);
    let mut results = [Val::I32(0)];
    assert!(f.call(&mut store, &[Val::I32(1)], &mut results).is_err());
    assert!(f
        .call(&mut store, &[Val::I32(1), Val::I64(2)], &mut results)
        .is_err());
    f.call(&mut store, &[Val::I32(1), Val::I32(2)], &mut results)
        .unwrap();
    assert_eq!(results[0].unwrap_i32(), 3);
    assert_eq!(
        f.ty(&store).params().collect::<Vec<_>>(),
        [ValType::I32, ValType::I32]
    );
}

#[test]
fn host_errors_propagate_through_wasm() {
    let engine = engine();
    let module = Module::new(
        &engine,
        r#"(module (import "h" "fail" (func $f)) (func (export "run") call $f))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let fail = Func::wrap(&mut store, || -> Result<()> {
        Err(Error::msg("host said no"))
    });
    let instance = Instance::new(&mut store, &module, &[fail.into()]).unwrap();
    let run = instance
        .get_typed_func::<(), ()>(&mut store, "run")
        .unwrap();
    let err = run.call(&mut store, ()).unwrap_err();
    assert!(err.to_string().contains("host said no"), "{err}");
    // The store is usable afterwards.
    assert!(run.call(&mut store, ()).is_err());
}

#[test]
fn caller_sees_store_data_and_caller_exports() {
    let engine = engine();
    let module = Module::new(
        &engine,
        r#"(module (import "h" "peek" (func $p (result i32)))
             (memory (export "memory") 1) (data (i32.const 0) "\2a")
             (func (export "run") (result i32) call $p))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, 7i32);
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("h", "peek", |mut caller: Caller<'_, i32>| -> i32 {
            let mem = caller.get_export("memory").unwrap().into_memory().unwrap();
            let byte = mem.data(&caller)[0] as i32;
            *caller.data_mut() += 1;
            byte + *caller.data()
        })
        .unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let run = instance
        .get_typed_func::<(), i32>(&mut store, "run")
        .unwrap();
    assert_eq!(run.call(&mut store, ()).unwrap(), 42 + 8);
    assert_eq!(*store.data(), 8);
}

#[test]
fn linker_reports_unknown_imports() {
    let engine = engine();
    let module = Module::new(&engine, IMPORTS_WAT).unwrap();
    let mut store = Store::new(&engine, ());
    let linker = Linker::new(&engine);
    let err = linker.instantiate(&mut store, &module).unwrap_err();
    assert!(err.to_string().contains("host::double"), "{err}");
}

#[test]
fn resource_limits_are_enforced() {
    struct Data {
        limits: StoreLimits,
    }
    let engine = engine();
    let mut store = Store::new(
        &engine,
        Data {
            limits: StoreLimitsBuilder::new()
                .memory_size(1 << 16)
                .instances(2)
                .build(),
        },
    );
    store.limiter(|d| &mut d.limits);
    let big = Module::new(&engine, "(module (memory 2))").unwrap();
    let err = Instance::new(&mut store, &big, &[]).unwrap_err();
    assert!(err.to_string().contains("memory"), "{err}");
    let grows = Module::new(
        &engine,
        r#"(module (memory 1) (func (export "grow") (result i32) (memory.grow (i32.const 1))))"#,
    )
    .unwrap();
    let instance = Instance::new(&mut store, &grows, &[]).unwrap();
    let grow = instance
        .get_typed_func::<(), i32>(&mut store, "grow")
        .unwrap();
    assert_eq!(grow.call(&mut store, ()).unwrap(), -1);
    let empty = Module::new(&engine, "(module)").unwrap();
    // `big` counted as an instance attempt only if created; two live instances max.
    Instance::new(&mut store, &empty, &[]).unwrap();
    let err = Instance::new(&mut store, &empty, &[]).unwrap_err();
    assert!(err.to_string().contains("instance"), "{err}");
}

#[test]
#[should_panic(expected = "wrong store")]
fn get_export_panics_for_a_foreign_store() {
    let engine = engine();
    let module = Module::new(&engine, r#"(module (func (export "f")))"#).unwrap();
    let mut store1 = Store::new(&engine, ());
    let mut store2 = Store::new(&engine, ());
    let instance = Instance::new(&mut store1, &module, &[]).unwrap();
    instance.get_export(&mut store2, "f");
}

#[test]
#[should_panic(expected = "wrong store")]
fn get_func_panics_for_a_foreign_store() {
    let engine = engine();
    let module = Module::new(&engine, r#"(module (func (export "f")))"#).unwrap();
    let mut store1 = Store::new(&engine, ());
    let mut store2 = Store::new(&engine, ());
    let instance = Instance::new(&mut store1, &module, &[]).unwrap();
    instance.get_func(&mut store2, "f");
}

#[test]
#[should_panic(expected = "wrong store")]
fn get_memory_panics_for_a_foreign_store() {
    let engine = engine();
    let module = Module::new(&engine, r#"(module (memory (export "m") 1))"#).unwrap();
    let mut store1 = Store::new(&engine, ());
    let mut store2 = Store::new(&engine, ());
    let instance = Instance::new(&mut store1, &module, &[]).unwrap();
    instance.get_memory(&mut store2, "m");
}

#[test]
#[should_panic(expected = "wrong store")]
fn get_typed_func_panics_for_a_foreign_store() {
    let engine = engine();
    let module = Module::new(&engine, r#"(module (func (export "f")))"#).unwrap();
    let mut store1 = Store::new(&engine, ());
    let mut store2 = Store::new(&engine, ());
    let instance = Instance::new(&mut store1, &module, &[]).unwrap();
    let _ = instance.get_typed_func::<(), ()>(&mut store2, "f");
}

#[test]
#[should_panic(expected = "wrong store")]
fn get_table_and_global_panic_for_a_foreign_store() {
    let engine = engine();
    let module = Module::new(&engine, r#"(module (table (export "t") 1 funcref))"#).unwrap();
    let mut store1 = Store::new(&engine, ());
    let mut store2 = Store::new(&engine, ());
    let instance = Instance::new(&mut store1, &module, &[]).unwrap();
    instance.get_table(&mut store2, "t");
}

#[test]
fn invalid_and_malformed_modules_are_errors() {
    let engine = engine();
    let err = Module::new(&engine, b"\0asm\x01\0\0\0\x05").unwrap_err();
    assert!(format!("{err:#}").contains("offset"), "{err:#}");
    let err = Module::new(&engine, "(module (func (result i32)))").unwrap_err();
    assert!(format!("{err:#}").contains("type mismatch"), "{err:#}");
    assert!(Module::new(&engine, "(module (func").is_err());
    assert!(Module::from_file(&engine, "/definitely/not/here.wasm").is_err());
    assert!(Module::validate(&engine, b"\0asm\x01\0\0\0").is_ok());
}

#[test]
fn optimizing_tier_runs_under_every_cranelift_setting() {
    let wat = r#"(module
      (func $fib (export "fib") (param i32) (result i32)
        (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
          (then (local.get 0))
          (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                         (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
      (func (export "swap") (param i64 f64) (result f64 i64) (local.get 1) (local.get 0))
      (func (export "crash") unreachable))"#;
    for opt_level in [OptLevel::None, OptLevel::Speed, OptLevel::SpeedAndSize] {
        for regalloc in [
            RegallocAlgorithm::Backtracking,
            RegallocAlgorithm::SinglePass,
        ] {
            let mut config = Config::new();
            config
                .strategy(Strategy::Optimizing)
                .cranelift_opt_level(opt_level)
                .cranelift_regalloc_algorithm(regalloc)
                .cranelift_debug_verifier(regalloc == RegallocAlgorithm::SinglePass);
            let engine = Engine::new(&config).unwrap();
            let module = Module::new(&engine, wat).unwrap();
            module.compile_optimizing_eagerly().unwrap();
            let mut store = Store::new(&engine, ());
            let instance = Instance::new(&mut store, &module, &[]).unwrap();
            let fib = instance
                .get_typed_func::<i32, i32>(&mut store, "fib")
                .unwrap();
            assert_eq!(fib.call(&mut store, 20).unwrap(), 6765);
            let swap = instance
                .get_typed_func::<(i64, f64), (f64, i64)>(&mut store, "swap")
                .unwrap();
            assert_eq!(swap.call(&mut store, (-3, 0.5)).unwrap(), (0.5, -3));
            let crash = instance
                .get_typed_func::<(), ()>(&mut store, "crash")
                .unwrap();
            let err = crash.call(&mut store, ()).unwrap_err();
            assert_eq!(
                err.downcast_ref::<Trap>(),
                Some(&Trap::UnreachableCodeReached)
            );
        }
    }
}

#[test]
fn externrefs_round_trip() {
    let engine = engine();
    let module = Module::new(
        &engine,
        r#"(module (func (export "id") (param externref) (result externref) local.get 0))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let r = ExternRef::new(&mut store, 1234u32).unwrap();
    let id = instance.get_func(&mut store, "id").unwrap();
    let mut results = [Val::null_extern_ref()];
    id.call(&mut store, &[Val::ExternRef(Some(r))], &mut results)
        .unwrap();
    let back = results[0].externref().unwrap().unwrap();
    assert_eq!(
        back.data(&store).unwrap().unwrap().downcast_ref::<u32>(),
        Some(&1234)
    );
}
