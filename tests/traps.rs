//! Traps come back as values, whatever raised them, and leave the store usable.

use strata::*;

/// Every strategy available in this build; each test runs under all of them.
const STRATEGIES: [Strategy; 2] = [Strategy::Interpreter, Strategy::Baseline];

fn engine(strategy: Strategy) -> Engine {
    let mut config = Config::new();
    config.strategy(strategy);
    Engine::new(&config).unwrap()
}

fn trap_of(error: &Error) -> Trap {
    *error
        .downcast_ref::<Trap>()
        .unwrap_or_else(|| panic!("not a trap: {error:?}"))
}

const TRAPS_WAT: &str = r#"
(module
  (memory 1)
  (table 2 funcref)
  (type $v (func))
  (func $f (result i32) i32.const 7)
  (elem (i32.const 0) $f)
  (func (export "unreachable") unreachable)
  (func (export "oob") (result i32) i32.const 65535 i32.load)
  (func (export "div0") (result i32) i32.const 1 i32.const 0 i32.div_s)
  (func (export "overflow") (result i32) i32.const 0x80000000 i32.const -1 i32.div_s)
  (func (export "conv") (result i32) f32.const nan i32.trunc_f32_s)
  (func (export "null") (call_indirect (type $v) (i32.const 1)))
  (func (export "sig") (call_indirect (type $v) (i32.const 0)))
  (func (export "table") (call_indirect (type $v) (i32.const 2)))
  (func $rec (export "recurse") (param i32) (result i32)
    local.get 0 i32.const 1 i32.add call $rec)
  (func (export "store") (param i32) i32.const 0 local.get 0 i32.store)
  (func (export "load") (result i32) i32.const 0 i32.load)
)"#;

#[test]
fn every_trap_kind_is_a_value_and_the_store_survives() {
    for strategy in STRATEGIES {
        let engine = engine(strategy);
        let module = Module::new(&engine, TRAPS_WAT).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let store_fn = instance
            .get_typed_func::<i32, ()>(&mut store, "store")
            .unwrap();
        let load = instance
            .get_typed_func::<(), i32>(&mut store, "load")
            .unwrap();
        store_fn.call(&mut store, 42).unwrap();
        let cases = [
            ("unreachable", Trap::UnreachableCodeReached),
            ("oob", Trap::MemoryOutOfBounds),
            ("div0", Trap::IntegerDivisionByZero),
            ("overflow", Trap::IntegerOverflow),
            ("conv", Trap::BadConversionToInteger),
            ("null", Trap::IndirectCallToNull),
            ("sig", Trap::BadSignature),
            ("table", Trap::TableOutOfBounds),
        ];
        for (name, expected) in cases {
            let func = instance.get_func(&mut store, name).unwrap();
            let mut results = vec![Val::I32(0); func.ty(&store).results().len()];
            let error = func.call(&mut store, &[], &mut results).unwrap_err();
            assert_eq!(trap_of(&error), expected, "{name} under {strategy:?}");
            // Memory contents survive the trap and the store keeps working.
            assert_eq!(load.call(&mut store, ()).unwrap(), 42, "after {name}");
        }
    }
}

#[test]
fn runaway_recursion_is_stack_overflow() {
    for strategy in STRATEGIES {
        let engine = engine(strategy);
        let module = Module::new(&engine, TRAPS_WAT).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let recurse = instance
            .get_typed_func::<i32, i32>(&mut store, "recurse")
            .unwrap();
        let error = recurse.call(&mut store, 0).unwrap_err();
        assert_eq!(trap_of(&error), Trap::StackOverflow);
        let load = instance
            .get_typed_func::<(), i32>(&mut store, "load")
            .unwrap();
        assert_eq!(load.call(&mut store, ()).unwrap(), 0);
    }
}

#[test]
fn recursion_through_the_host_is_stack_overflow() {
    for strategy in STRATEGIES {
        let engine = engine(strategy);
        let module = Module::new(
            &engine,
            r#"(module
              (import "host" "reenter" (func $reenter (param i32) (result i32)))
              (func (export "down") (param i32) (result i32)
                local.get 0 i32.const 1 i32.add call $reenter))"#,
        )
        .unwrap();
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap(
                "host",
                "reenter",
                |mut caller: Caller<'_, ()>, depth: i32| -> Result<i32> {
                    let down = caller
                        .get_export("down")
                        .and_then(|e| e.into_func())
                        .expect("down is exported");
                    let down = down.typed::<i32, i32>(&caller)?;
                    down.call(&mut caller, depth)
                },
            )
            .unwrap();
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let down = instance
            .get_typed_func::<i32, i32>(&mut store, "down")
            .unwrap();
        let error = down.call(&mut store, 0).unwrap_err();
        assert_eq!(trap_of(&error), Trap::StackOverflow);
        // The store is usable afterwards, with its stack limit restored.
        let error = down.call(&mut store, 0).unwrap_err();
        assert_eq!(trap_of(&error), Trap::StackOverflow);
    }
}
