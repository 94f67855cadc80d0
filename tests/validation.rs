//! Invalid modules: rejected by `Module::new`, or, with `Config::lazy_validation`, loaded
//! with their function bodies validated on first use, an invalid body failing the calls that
//! reach it with its validation error, in every tier.

use strata::*;

const STRATEGIES: [Strategy; 4] = [
    Strategy::Interpreter,
    Strategy::Baseline,
    Strategy::Optimizing,
    Strategy::Tiered,
];

/// Function 1 (`$bad`) returns an i64 where its type says i32; the text parser accepts it,
/// validation does not.
const ONE_BAD_BODY: &str = r#"
(module
  (func $good (export "good") (param i32) (result i32)
    local.get 0 i32.const 1 i32.add)
  (func $bad (export "bad") (result i32)
    i64.const 7)
  (func (export "calls_bad") (param i32) (result i32)
    local.get 0
    if (result i32) call $bad else i32.const -1 end)
  (table 1 funcref)
  (elem (i32.const 0) $bad)
  (type $r (func (result i32)))
  (func (export "calls_bad_indirectly") (result i32)
    i32.const 0 call_indirect (type $r)))
"#;

fn engine(strategy: Strategy, lazy: bool) -> Engine {
    let mut config = Config::new();
    config.strategy(strategy).lazy_validation(lazy);
    if strategy == Strategy::Tiered {
        config.baseline_call_threshold(1).baseline_loop_threshold(1);
    }
    Engine::new(&config).unwrap()
}

/// Checks that `error` is the invalid-function failure of function 1 (`$bad`).
fn assert_invalid_bad(error: &Error) {
    assert_eq!(
        error.downcast_ref::<Trap>(),
        Some(&Trap::InvalidFunction),
        "{error:?}"
    );
    let message = format!("{error:#}");
    assert!(
        message.contains("function 1 (bad) failed validation: type mismatch"),
        "{message}"
    );
}

#[test]
fn eager_validation_rejects_an_invalid_body_at_load() {
    for strategy in STRATEGIES {
        let error = Module::new(&engine(strategy, false), ONE_BAD_BODY).unwrap_err();
        assert!(format!("{error:#}").contains("type mismatch"), "{error:#}");
    }
}

#[test]
fn lazy_validation_loads_and_fails_only_calls_reaching_the_invalid_body() {
    for strategy in STRATEGIES {
        let engine = engine(strategy, true);
        let module = Module::new(&engine, ONE_BAD_BODY).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let good = instance
            .get_typed_func::<i32, i32>(&mut store, "good")
            .unwrap();
        let calls_bad = instance
            .get_typed_func::<i32, i32>(&mut store, "calls_bad")
            .unwrap();
        for _ in 0..3 {
            assert_eq!(good.call(&mut store, 41).unwrap(), 42, "{strategy:?}");
            // The path not reaching `$bad` runs; the one reaching it fails.
            assert_eq!(calls_bad.call(&mut store, 0).unwrap(), -1, "{strategy:?}");
            assert_invalid_bad(&calls_bad.call(&mut store, 1).unwrap_err());
            let bad = instance
                .get_typed_func::<(), i32>(&mut store, "bad")
                .unwrap();
            assert_invalid_bad(&bad.call(&mut store, ()).unwrap_err());
            let indirect = instance
                .get_typed_func::<(), i32>(&mut store, "calls_bad_indirectly")
                .unwrap();
            assert_invalid_bad(&indirect.call(&mut store, ()).unwrap_err());
        }
        // The store stays usable.
        assert_eq!(good.call(&mut store, 1).unwrap(), 2, "{strategy:?}");
    }
}

#[test]
fn lazy_validation_still_checks_everything_outside_bodies() {
    let engine = engine(Strategy::Interpreter, true);
    // An export of a function that does not exist.
    let error = Module::new(&engine, r#"(module (export "f" (func 3)))"#).unwrap_err();
    assert!(
        format!("{error:#}").contains("unknown function"),
        "{error:#}"
    );
    // Truncated bytes.
    let error = Module::new(&engine, b"\0asm\x01\0\0\0\x01\x05").unwrap_err();
    assert!(format!("{error:#}").contains("unexpected end"), "{error:#}");
    // A module without any function bodies.
    Module::new(&engine, "(module (memory 1))").unwrap();
}

#[test]
fn eager_compiles_of_a_lazily_validated_module_name_the_invalid_function() {
    let module = Module::new(&engine(Strategy::Baseline, true), ONE_BAD_BODY).unwrap();
    let error = module.compile_baseline_eagerly().unwrap_err();
    assert!(
        format!("{error:#}").contains("function 1 bad: invalid body: type mismatch"),
        "{error:#}"
    );
    let module = Module::new(&engine(Strategy::Optimizing, true), ONE_BAD_BODY).unwrap();
    let error = module.compile_optimizing_eagerly().unwrap_err();
    assert!(format!("{error:#}").contains("invalid body"), "{error:#}");
    let module = Module::new(&engine(Strategy::Interpreter, true), ONE_BAD_BODY).unwrap();
    let error = module.translate_interp_eagerly().unwrap_err();
    assert!(format!("{error:#}").contains("type mismatch"), "{error:#}");
}

#[test]
fn lazily_validated_valid_modules_run_like_eager_ones() {
    let wat = r#"
      (module
        (func $fib (export "fib") (param i32) (result i32)
          local.get 0 i32.const 2 i32.lt_u
          if (result i32) local.get 0
          else
            local.get 0 i32.const 1 i32.sub call $fib
            local.get 0 i32.const 2 i32.sub call $fib
            i32.add
          end))
    "#;
    for strategy in STRATEGIES {
        let engine = engine(strategy, true);
        let module = Module::new(&engine, wat).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let fib = instance
            .get_typed_func::<i32, i32>(&mut store, "fib")
            .unwrap();
        assert_eq!(fib.call(&mut store, 20).unwrap(), 6765, "{strategy:?}");
    }
}

/// A module of more than a megabyte keeps its copy of the bytes made on a second thread
/// while the first validates them (`strata_environ::module`): the same module as
/// `ONE_BAD_BODY`, with a data segment that makes it that large, loads and fails alike.
#[test]
fn modules_over_a_megabyte_load_alike() {
    let padding = "ab".repeat(700 << 10);
    let wat = ONE_BAD_BODY.replace(
        "(table 1 funcref)",
        &format!(
            "(memory (export \"memory\") 32) (data (i32.const 16) \"{padding}\") (table 1 funcref)"
        ),
    );
    let bytes = wat::parse_str(&wat).unwrap();
    assert!(bytes.len() > 1 << 20);
    for strategy in STRATEGIES {
        let error = Module::new(&engine(strategy, false), &bytes).unwrap_err();
        assert!(format!("{error:#}").contains("type mismatch"), "{error:#}");

        let engine = engine(strategy, true);
        let module = Module::new(&engine, &bytes).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let good = instance
            .get_typed_func::<i32, i32>(&mut store, "good")
            .unwrap();
        assert_eq!(good.call(&mut store, 41).unwrap(), 42, "{strategy:?}");
        let bad = instance
            .get_typed_func::<(), i32>(&mut store, "bad")
            .unwrap();
        assert_invalid_bad(&bad.call(&mut store, ()).unwrap_err());
        let memory = instance.get_memory(&mut store, "memory").unwrap();
        let data = &memory.data(&store)[16..16 + padding.len()];
        assert!(data == padding.as_bytes(), "{strategy:?}");
    }
}
