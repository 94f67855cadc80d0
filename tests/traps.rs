//! Traps come back as values, whatever raised them, and leave the store usable.

use strata::*;

/// Every strategy available in this build; each test runs under all of them.
const STRATEGIES: [Strategy; 3] = [
    Strategy::Interpreter,
    Strategy::Baseline,
    Strategy::Optimizing,
];

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

/// The names of the frames in `error`'s backtrace, innermost first (frames of unnamed
/// functions left out).
fn frame_names(error: &Error) -> Vec<&str> {
    let backtrace = error
        .downcast_ref::<WasmBacktrace>()
        .unwrap_or_else(|| panic!("no backtrace: {error:?}"));
    backtrace
        .frames()
        .iter()
        .filter_map(|f| f.func_name())
        .collect()
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

/// An engine whose interpreted instances stay interpreted (tier-up never triggers), so
/// tests choose each instance's tier: interpreted, or compiled eagerly by a JIT tier.
fn mixed_engine() -> Engine {
    let mut config = Config::new();
    config.strategy(Strategy::Tiered);
    config.baseline_call_threshold(u32::MAX);
    config.baseline_loop_threshold(u32::MAX);
    Engine::new(&config).unwrap()
}

const LEAF_WAT: &str = r#"
(module $leaf
  (memory (export "mem") 1)
  (table 2 funcref)
  (type $v (func))
  (func $f)
  (elem (i32.const 0) $f)
  (func (export "t0") unreachable)
  (func (export "t1") (drop (i32.load (i32.const 65535))))
  (func (export "t2") (drop (i32.div_s (i32.const 1) (i32.const 0))))
  (func (export "t3") (drop (i32.div_s (i32.const 0x80000000) (i32.const -1))))
  (func (export "t4") (drop (i32.trunc_f32_s (f32.const nan))))
  (func (export "t5") (call_indirect (type $v) (i32.const 1)))
  (func (export "t6") (call_indirect (type $v) (i32.const 5)))
  (func $rec (export "t7") (call $rec))
)"#;

const TRAP_KINDS: [Trap; 8] = [
    Trap::UnreachableCodeReached,
    Trap::MemoryOutOfBounds,
    Trap::IntegerDivisionByZero,
    Trap::IntegerOverflow,
    Trap::BadConversionToInteger,
    Trap::IndirectCallToNull,
    Trap::TableOutOfBounds,
    Trap::StackOverflow,
];

/// `name` forwards each `t{i}` to the import of the same name from `from`.
fn forwarder(name: &str, from: &str) -> String {
    let mut wat = format!("(module ${name}\n");
    for i in 0..TRAP_KINDS.len() {
        wat += &format!("  (import \"{from}\" \"t{i}\" (func $t{i}))\n");
    }
    for i in 0..TRAP_KINDS.len() {
        wat += &format!("  (func ${name}_t{i} (export \"t{i}\") call $t{i})\n");
    }
    wat + ")"
}

#[test]
fn traps_three_tiers_deep_have_backtraces_and_leave_the_store_usable() {
    // host -> top (interpreter) -> mid (baseline or optimizing) -> leaf (interpreter,
    // baseline or optimizing).
    let leaf_tiers = [None, Some(Strategy::Baseline), Some(Strategy::Optimizing)];
    let mid_tiers = [Strategy::Baseline, Strategy::Optimizing];
    for (leaf_tier, mid_tier) in leaf_tiers
        .into_iter()
        .flat_map(|l| mid_tiers.map(|m| (l, m)))
    {
        let tiers = format!("leaf {leaf_tier:?}, mid {mid_tier:?}");
        let engine = mixed_engine();
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new(&engine);
        let leaf = Module::new(&engine, LEAF_WAT).unwrap();
        match leaf_tier {
            Some(Strategy::Baseline) => leaf.compile_baseline_eagerly().unwrap(),
            Some(_) => leaf.compile_optimizing_eagerly().unwrap(),
            None => {}
        }
        let leaf = linker.instantiate(&mut store, &leaf).unwrap();
        linker.instance(&mut store, "leaf", leaf).unwrap();
        let mid = Module::new(&engine, forwarder("mid", "leaf")).unwrap();
        match mid_tier {
            Strategy::Baseline => mid.compile_baseline_eagerly().unwrap(),
            _ => mid.compile_optimizing_eagerly().unwrap(),
        }
        let mid = linker.instantiate(&mut store, &mid).unwrap();
        linker.instance(&mut store, "mid", mid).unwrap();
        let top = Module::new(&engine, forwarder("top", "mid")).unwrap();
        let top = linker.instantiate(&mut store, &top).unwrap();
        let mem = leaf.get_memory(&mut store, "mem").unwrap();
        mem.write(&mut store, 100, b"kept").unwrap();

        for (i, expected) in TRAP_KINDS.into_iter().enumerate() {
            let t = top
                .get_typed_func::<(), ()>(&mut store, &format!("t{i}"))
                .unwrap();
            let error = t.call(&mut store, ()).unwrap_err();
            assert_eq!(trap_of(&error), expected, "t{i}, {tiers}");
            let names = frame_names(&error);
            let mid_frame = format!("mid_t{i}");
            let top_frame = format!("top_t{i}");
            assert!(
                names.ends_with(&[mid_frame.as_str(), top_frame.as_str()]),
                "t{i}, {tiers}: {names:?}"
            );
            let mut buf = [0u8; 4];
            mem.read(&store, 100, &mut buf).unwrap();
            assert_eq!(&buf, b"kept");
        }
    }
}

#[test]
fn traps_inside_host_calls_made_from_wasm() {
    for strategy in STRATEGIES {
        let engine = engine(strategy);
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap(
                "host",
                "call_back",
                |mut caller: Caller<'_, ()>, which: i32| -> Result<()> {
                    let name = format!("t{which}");
                    let f = caller
                        .get_export(&name)
                        .and_then(|e| e.into_func())
                        .expect("exported");
                    f.typed::<(), ()>(&caller)?.call(&mut caller, ())
                },
            )
            .unwrap();
        let module = Module::new(
            &engine,
            r#"(module
              (import "host" "call_back" (func $cb (param i32)))
              (memory 1)
              (func (export "t0") unreachable)
              (func (export "t1") (drop (i32.load (i32.const 70000))))
              (func (export "via_host") (param i32) (call $cb (local.get 0)))
              (func (export "ok") (result i32) (i32.const 5)))"#,
        )
        .unwrap();
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let via_host = instance
            .get_typed_func::<i32, ()>(&mut store, "via_host")
            .unwrap();
        let ok = instance
            .get_typed_func::<(), i32>(&mut store, "ok")
            .unwrap();
        for (which, expected) in [
            (0, Trap::UnreachableCodeReached),
            (1, Trap::MemoryOutOfBounds),
        ] {
            let error = via_host.call(&mut store, which).unwrap_err();
            assert_eq!(trap_of(&error), expected, "{strategy:?}");
            assert_eq!(ok.call(&mut store, ()).unwrap(), 5);
        }
    }
}

#[test]
fn small_reservations_check_bounds_explicitly() {
    let wat = r#"(module
      (memory 1)
      (func (export "load") (param i32) (result i32) (i32.load offset=16 (local.get 0)))
      (func (export "store") (param i32) (i32.store8 (local.get 0) (i32.const 7))))"#;
    // (reservation, whether out-of-bounds accesses may use guard-page faults)
    let cases = [(None, true), (Some(1u64 << 20), false)];
    for (strategy, (reservation, guard_pages)) in [Strategy::Baseline, Strategy::Optimizing]
        .into_iter()
        .flat_map(|s| cases.map(|c| (s, c)))
    {
        let mut config = Config::new();
        config.strategy(strategy);
        if let Some(bytes) = reservation {
            config.memory_reservation(bytes).memory_guard_size(64 << 10);
        }
        let engine = Engine::new(&config).unwrap();
        let mut store = Store::new(&engine, ());
        let module = Module::new(&engine, wat).unwrap();
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let load = instance
            .get_typed_func::<i32, i32>(&mut store, "load")
            .unwrap();
        let store_fn = instance
            .get_typed_func::<i32, ()>(&mut store, "store")
            .unwrap();
        let before = memory_faults_on_this_thread();
        for addr in [65536 - 19, 65536, 1 << 20, -1] {
            let error = load.call(&mut store, addr).unwrap_err();
            assert_eq!(
                trap_of(&error),
                Trap::MemoryOutOfBounds,
                "{strategy:?} load {addr}"
            );
        }
        for addr in [65536, 1 << 20, -1] {
            let error = store_fn.call(&mut store, addr).unwrap_err();
            assert_eq!(
                trap_of(&error),
                Trap::MemoryOutOfBounds,
                "{strategy:?} store {addr}"
            );
        }
        assert_eq!(load.call(&mut store, 65536 - 20).unwrap(), 0);
        let faults = memory_faults_on_this_thread() - before;
        if guard_pages {
            assert!(
                faults > 0,
                "{strategy:?}: the 4 GiB reservation relies on guard pages"
            );
        } else {
            assert_eq!(
                faults, 0,
                "{strategy:?}: small reservations must check bounds explicitly"
            );
        }
    }
}

/// A trap twelve calls deep: the backtrace names every frame (in the interpreter, it
/// follows the frame headers from the trapping frame to the activation's first).
const DEEP_TRAP_WAT: &str = r#"
(module
  (func $down (param $n i32) (result i32)
    (if (i32.eqz (local.get $n)) (then unreachable))
    (i32.add (call $down (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))
  (func $deep (export "deep") (param $n i32) (result i32)
    (call $down (local.get $n)))
  (func (export "ok") (result i32) i32.const 5))
"#;

#[test]
fn deep_traps_name_every_frame() {
    for strategy in STRATEGIES {
        let engine = engine(strategy);
        let module = Module::new(&engine, DEEP_TRAP_WAT).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let deep = instance
            .get_typed_func::<i32, i32>(&mut store, "deep")
            .unwrap();
        let error = deep.call(&mut store, 11).unwrap_err();
        assert_eq!(
            trap_of(&error),
            Trap::UnreachableCodeReached,
            "{strategy:?}"
        );
        let mut expected = vec!["down"; 12];
        expected.push("deep");
        assert_eq!(frame_names(&error), expected, "{strategy:?}");
        let ok = instance
            .get_typed_func::<(), i32>(&mut store, "ok")
            .unwrap();
        assert_eq!(ok.call(&mut store, ()).unwrap(), 5, "{strategy:?}");
    }
}
