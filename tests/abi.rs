//! Every signature shape crosses every tier boundary intact: host -> interpreter ->
//! optimizing -> baseline -> baseline -> optimizing -> interpreter -> host and back, with
//! every value checked bit for bit (NaN payloads included).
//!
//! Four instances share one store: `leaf` (interpreted) calls the host's echo; `mid_b` and
//! `mid_a` each export a function that makes a native call within the instance to a function
//! compiled by the other JIT tier (`mid_a`: optimizing code calls baseline code, `mid_b`:
//! baseline code calls optimizing code), which calls on through an import; `top`
//! (interpreted) calls `mid_a`, and the host calls `top`. Each function passes its
//! parameters on and returns what it gets back, so a value corrupted at any boundary shows
//! up in the results.

use strata::*;

const TYPES: [ValType; 6] = [
    ValType::I32,
    ValType::I64,
    ValType::F32,
    ValType::F64,
    ValType::FUNCREF,
    ValType::EXTERNREF,
];

fn wat_type(t: &ValType) -> &'static str {
    match t {
        ValType::I32 => "i32",
        ValType::I64 => "i64",
        ValType::F32 => "f32",
        ValType::F64 => "f64",
        t if *t == ValType::FUNCREF => "funcref",
        _ => "externref",
    }
}

/// Every shape: 0 to 8 parameters of each type with 0, 1 or 3 results of that type, plus
/// mixed signatures long enough to pass arguments on the stack.
fn signatures() -> Vec<(Vec<ValType>, Vec<ValType>)> {
    let mut sigs = Vec::new();
    for t in TYPES {
        for params in 0..=8 {
            for results in [0, 1, 3] {
                sigs.push((vec![t; params], vec![t; results]));
            }
        }
    }
    for len in [5, 9, 13, 17] {
        let mixed: Vec<ValType> = (0..len).map(|i| TYPES[i % TYPES.len()]).collect();
        let results: Vec<ValType> = mixed.iter().rev().take(4).copied().collect();
        sigs.push((mixed.clone(), results));
        sigs.push((mixed, vec![ValType::F64]));
    }
    sigs
}

fn func_type_wat(params: &[ValType], results: &[ValType]) -> String {
    let mut s = String::new();
    if !params.is_empty() {
        s += "(param";
        for p in params {
            s += " ";
            s += wat_type(p);
        }
        s += ")";
    }
    if !results.is_empty() {
        s += " (result";
        for r in results {
            s += " ";
            s += wat_type(r);
        }
        s += ")";
    }
    s
}

/// A module importing `f{i}` from `from` for every signature and exporting `f{i}`, which
/// calls the import with its own parameters and returns its results. With `hop`, the export
/// goes through an internal function first (a call within the instance).
fn forwarding_module(from: &str, sigs: &[(Vec<ValType>, Vec<ValType>)], hop: bool) -> String {
    let mut wat = String::from("(module\n");
    for (i, (params, results)) in sigs.iter().enumerate() {
        let ty = func_type_wat(params, results);
        wat += &format!("  (import \"{from}\" \"f{i}\" (func $import{i} {ty}))\n");
    }
    let forward = |wat: &mut String, head: String, params: usize, callee: String| {
        *wat += &head;
        for p in 0..params {
            *wat += &format!("    local.get {p}\n");
        }
        *wat += &format!("    call {callee})\n");
    };
    for (i, (params, results)) in sigs.iter().enumerate() {
        let ty = func_type_wat(params, results);
        let export = format!("  (func (export \"f{i}\") {ty}\n");
        if hop {
            forward(&mut wat, export, params.len(), format!("$hop{i}"));
            let internal = format!("  (func $hop{i} {ty}\n");
            forward(&mut wat, internal, params.len(), format!("$import{i}"));
        } else {
            forward(&mut wat, export, params.len(), format!("$import{i}"));
        }
    }
    wat += ")\n";
    wat
}

/// What the host echo returns for `params`: result k is parameter `k mod n` when the types
/// match, else a fixed value of the result type.
fn echo(params: &[Val], results: &mut [Val], result_types: &[ValType]) {
    for (k, (r, ty)) in results.iter_mut().zip(result_types).enumerate() {
        let candidate = params.get(k % params.len().max(1)).copied();
        *r = match candidate {
            Some(v) if same_type(&v, ty) => v,
            _ => fixed_value(ty),
        };
    }
}

fn same_type(v: &Val, ty: &ValType) -> bool {
    matches!(
        (v, ty),
        (Val::I32(_), ValType::I32)
            | (Val::I64(_), ValType::I64)
            | (Val::F32(_), ValType::F32)
            | (Val::F64(_), ValType::F64)
    ) || matches!(v, Val::FuncRef(_)) && *ty == ValType::FUNCREF
        || matches!(v, Val::ExternRef(_)) && *ty == ValType::EXTERNREF
}

fn fixed_value(ty: &ValType) -> Val {
    match ty {
        ValType::I32 => Val::I32(-7),
        ValType::I64 => Val::I64(-7),
        ValType::F32 => Val::F32(0x7fa0_0007),
        ValType::F64 => Val::F64(0x7ff4_0000_0000_0007),
        t if *t == ValType::FUNCREF => Val::FuncRef(None),
        _ => Val::ExternRef(None),
    }
}

fn same_value(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::I32(x), Val::I32(y)) => x == y,
        (Val::I64(x), Val::I64(y)) => x == y,
        (Val::F32(x), Val::F32(y)) => x == y,
        (Val::F64(x), Val::F64(y)) => x == y,
        (Val::FuncRef(x), Val::FuncRef(y)) => x == y,
        (Val::ExternRef(x), Val::ExternRef(y)) => x == y,
        _ => false,
    }
}

#[test]
fn every_signature_crosses_every_tier_boundary() {
    let mut config = Config::new();
    config.strategy(Strategy::Tiered);
    // The interpreted instances must stay interpreted.
    config.baseline_call_threshold(u32::MAX);
    config.baseline_loop_threshold(u32::MAX);
    let engine = Engine::new(&config).unwrap();
    let mut store = Store::new(&engine, ());
    let sigs = signatures();
    let mut linker = Linker::new(&engine);
    for (i, (params, results)) in sigs.iter().enumerate() {
        let ty = FuncType::new(&engine, params.iter().copied(), results.iter().copied());
        let result_types = results.clone();
        linker
            .func_new("host", &format!("f{i}"), ty, move |_, p, r| {
                echo(p, r, &result_types);
                Ok(())
            })
            .unwrap();
    }
    let leaf = Module::new(&engine, forwarding_module("host", &sigs, false)).unwrap();
    let leaf = linker.instantiate(&mut store, &leaf).unwrap();
    linker.instance(&mut store, "leaf", leaf).unwrap();
    // Defined function 2i is the export f{i}, 2i + 1 the internal $hop{i} it calls natively.
    let imports = sigs.len() as u32;
    let tiers = [
        ("leaf", "mid_b", Strategy::Baseline, Strategy::Optimizing),
        ("mid_b", "mid_a", Strategy::Optimizing, Strategy::Baseline),
    ];
    for (from, name, export_tier, hop_tier) in tiers {
        let mid = Module::new(&engine, forwarding_module(from, &sigs, true)).unwrap();
        for i in 0..imports {
            mid.compile_function_eagerly(imports + 2 * i, export_tier)
                .unwrap();
            mid.compile_function_eagerly(imports + 2 * i + 1, hop_tier)
                .unwrap();
        }
        let mid = linker.instantiate(&mut store, &mid).unwrap();
        linker.instance(&mut store, name, mid).unwrap();
    }
    let top = Module::new(&engine, forwarding_module("mid_a", &sigs, false)).unwrap();
    let top = linker.instantiate(&mut store, &top).unwrap();

    let some_func = Func::wrap(&mut store, |x: i32| x);
    let some_extern = ExternRef::new(&mut store, "payload").unwrap();
    for (i, (params, results)) in sigs.iter().enumerate() {
        let args: Vec<Val> = params
            .iter()
            .enumerate()
            .map(|(k, t)| {
                let k = k as u64 + 1;
                match t {
                    ValType::I32 => Val::I32((0x8000_0001u32 as i32).wrapping_mul(k as i32)),
                    ValType::I64 => Val::I64((k as i64) << 40 | -1i64 << 60),
                    // Signalling and quiet NaNs with payloads, alternating with numbers.
                    ValType::F32 if k % 2 == 1 => Val::F32(0x7f80_0000 | k as u32),
                    ValType::F32 => Val::F32((k as f32 * -1.5).to_bits()),
                    ValType::F64 if k % 2 == 1 => Val::F64(0xfff0_0000_0000_0000 | k),
                    ValType::F64 => Val::F64((k as f64 * 2.25).to_bits()),
                    t if *t == ValType::FUNCREF && k.is_multiple_of(2) => Val::FuncRef(None),
                    t if *t == ValType::FUNCREF => Val::FuncRef(Some(some_func)),
                    _ if k.is_multiple_of(2) => Val::ExternRef(None),
                    _ => Val::ExternRef(Some(some_extern)),
                }
            })
            .collect();
        let mut expected: Vec<Val> = results.iter().map(fixed_value).collect();
        echo(&args, &mut expected, results);
        let mut got: Vec<Val> = results.iter().map(|_| Val::I32(0)).collect();
        let f = top.get_func(&mut store, &format!("f{i}")).unwrap();
        f.call(&mut store, &args, &mut got)
            .unwrap_or_else(|e| panic!("signature {i} {params:?} -> {results:?}: {e:?}"));
        for (k, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert!(
                same_value(g, e),
                "signature {i} {params:?} -> {results:?}, result {k}: got {g:?}, expected {e:?}"
            );
        }
    }
}

/// Arguments computed just before a call live in the baseline's register pool and move
/// from there to their parameter registers. With six computed `i32`s (and six `f64`s) the
/// pool registers of later arguments are the parameter registers of earlier ones, which the
/// baseline must notice (it spills such arguments first); every argument must still arrive.
const COMPUTED_ARGS: &str = r#"
(module
  (func $weigh (param i32 i32 i32 i32 i32 i32) (result i32)
    (i32.add
      (i32.add (i32.add (local.get 0) (i32.mul (local.get 1) (i32.const 10)))
               (i32.add (i32.mul (local.get 2) (i32.const 100)) (i32.mul (local.get 3) (i32.const 1000))))
      (i32.add (i32.mul (local.get 4) (i32.const 10000)) (i32.mul (local.get 5) (i32.const 100000)))))
  (func $weigh_f (param f64 f64 f64 f64 f64 f64 f64 f64 f64) (result f64)
    (f64.add (f64.add (f64.add (local.get 0) (f64.mul (local.get 1) (f64.const 10)))
                      (f64.add (f64.mul (local.get 2) (f64.const 100)) (f64.mul (local.get 3) (f64.const 1000))))
             (f64.add (f64.add (f64.mul (local.get 4) (f64.const 1e4)) (f64.mul (local.get 5) (f64.const 1e5)))
                      (f64.add (f64.add (f64.mul (local.get 6) (f64.const 1e6)) (f64.mul (local.get 7) (f64.const 1e7)))
                               (f64.mul (local.get 8) (f64.const 1e8))))))
  (func (export "ints") (param $x i32) (result i32)
    (call $weigh
      (i32.add (local.get $x) (i32.const 1)) (i32.add (local.get $x) (i32.const 2))
      (i32.add (local.get $x) (i32.const 3)) (i32.add (local.get $x) (i32.const 4))
      (i32.add (local.get $x) (i32.const 5)) (i32.add (local.get $x) (i32.const 6))))
  (func (export "floats") (param $x f64) (result f64)
    (call $weigh_f
      (f64.add (local.get $x) (f64.const 1)) (f64.add (local.get $x) (f64.const 2))
      (f64.add (local.get $x) (f64.const 3)) (f64.add (local.get $x) (f64.const 4))
      (f64.add (local.get $x) (f64.const 5)) (f64.add (local.get $x) (f64.const 6))
      (f64.add (local.get $x) (f64.const 7)) (f64.add (local.get $x) (f64.const 8))
      (f64.add (local.get $x) (f64.const 9)))))
"#;

#[test]
fn computed_arguments_reach_their_parameters() {
    for strategy in [
        Strategy::Baseline,
        Strategy::Optimizing,
        Strategy::Interpreter,
    ] {
        let mut config = Config::new();
        config.strategy(strategy);
        let engine = Engine::new(&config).unwrap();
        let module = Module::new(&engine, COMPUTED_ARGS).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let ints = instance
            .get_typed_func::<i32, i32>(&mut store, "ints")
            .unwrap();
        let floats = instance
            .get_typed_func::<f64, f64>(&mut store, "floats")
            .unwrap();
        // The first calls compile the callees (through the array convention); the next
        // ones call their native code.
        for _ in 0..2 {
            assert_eq!(ints.call(&mut store, 0).unwrap(), 654321, "{strategy:?}");
            let sum = floats.call(&mut store, 0.0).unwrap();
            assert_eq!(sum, 987654321.0, "{strategy:?}");
        }
    }
}

/// Functions that use few registers and no memory save and restore only what they use (the
/// baseline patches the other saves away): a caller keeping the memory base and values in
/// callee-saved registers across calls of such functions, and of functions that use them
/// all, finds them intact.
const SAVED_REGISTERS: &str = r#"
(module
  (memory 1)
  (func $pure (param i32) (result i32)
    (i32.add (i32.mul (local.get 0) (i32.const 3)) (i32.const 1)))
  ;; Seven values live at once: every pool register.
  (func $busy (param $x i32) (result i32)
    (i32.add (i32.mul (local.get $x) (i32.const 3))
    (i32.add (i32.mul (local.get $x) (i32.const 5))
    (i32.add (i32.xor (local.get $x) (i32.const 7))
    (i32.add (i32.sub (local.get $x) (i32.const 9))
    (i32.add (i32.load (i32.const 32))
    (i32.add (i32.shl (local.get $x) (i32.const 2))
    (i32.add (i32.mul (local.get $x) (i32.const 11)) (i32.rotl (local.get $x) (i32.const 3))))))))))
  (func (export "caller") (param $n i32) (result i32)
    (local $i i32) (local $s i32)
    (i32.store (i32.const 32) (i32.const 1000))
    (loop $l
      (i32.store (i32.const 64) (local.get $i))
      (local.set $s (i32.add (local.get $s) (call $pure (local.get $i))))
      (local.set $s (i32.add (local.get $s) (i32.load (i32.const 64))))
      (local.set $s (i32.add (local.get $s) (call $busy (local.get $i))))
      (local.set $s (i32.add (local.get $s) (i32.load (i32.const 64))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $s)))
"#;

#[test]
fn callee_saved_registers_survive_every_callee() {
    let run = |strategy: Strategy| -> Vec<i32> {
        let mut config = Config::new();
        config.strategy(strategy);
        let engine = Engine::new(&config).unwrap();
        let module = Module::new(&engine, SAVED_REGISTERS).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let caller = instance
            .get_typed_func::<i32, i32>(&mut store, "caller")
            .unwrap();
        (0..20)
            .map(|n| caller.call(&mut store, n * 7).unwrap())
            .collect()
    };
    let expected = run(Strategy::Interpreter);
    assert!(expected.iter().any(|&s| s > 100_000));
    for strategy in [Strategy::Baseline, Strategy::Optimizing, Strategy::Tiered] {
        assert_eq!(run(strategy), expected, "{strategy:?}");
    }
}

/// `local.tee` results the baseline keeps in a register (integer and float): the local
/// written again, or read, while the result is still on the stack, within and across
/// blocks, and the result used twice.
const TEES: &str = r#"
(module
  (func (export "ints") (param $a i32) (param $b i32) (result i32)
    (local $x i32)
    (i32.add
      (i32.add (local.tee $x (i32.mul (local.get $a) (local.get $b)))
               (block (result i32) (local.set $x (i32.const 5)) (local.get $x)))
      (i32.add
        (i32.mul (local.tee $x (i32.sub (local.get $x) (local.get $a))) (local.get $x))
        ;; The local's old value, on the stack below the `local.tee` that writes it.
        (i32.sub (local.get $x) (local.tee $x (i32.add (local.get $x) (i32.const 100)))))))
  (func (export "floats") (param $a f64) (param $b f64) (result f64)
    (local $t f64)
    (f64.div
      (f64.sqrt (local.tee $t (f64.add (f64.mul (local.get $a) (local.get $a))
                                       (f64.mul (local.get $b) (local.get $b)))))
      (f64.add (local.get $t)
               (block (result f64) (local.set $t (f64.const 0.5)) (local.get $t))))))
"#;

#[test]
fn tee_results_keep_their_values() {
    let run = |strategy: Strategy| -> (Vec<i32>, Vec<u64>) {
        let mut config = Config::new();
        config.strategy(strategy);
        let engine = Engine::new(&config).unwrap();
        let module = Module::new(&engine, TEES).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let ints = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, "ints")
            .unwrap();
        let floats = instance
            .get_typed_func::<(f64, f64), f64>(&mut store, "floats")
            .unwrap();
        let pairs = [(3, 4), (-7, 11), (0, 9), (i32::MAX, 2)];
        let i = pairs
            .iter()
            .map(|&p| ints.call(&mut store, p).unwrap())
            .collect();
        let f = pairs
            .iter()
            .map(|&(a, b)| {
                floats
                    .call(&mut store, (a as f64, b as f64))
                    .unwrap()
                    .to_bits()
            })
            .collect();
        (i, f)
    };
    let expected = run(Strategy::Interpreter);
    // (3 * 4) + 5 + (5 - 3) * (5 - 3) - 100
    assert_eq!(expected.0[0], 12 + 5 + 4 - 100);
    assert_eq!(f64::from_bits(expected.1[0]), 5.0 / 25.5);
    for strategy in [Strategy::Baseline, Strategy::Optimizing, Strategy::Tiered] {
        assert_eq!(run(strategy), expected, "{strategy:?}");
    }
}

/// `f64` operands that the baseline holds in general registers (integers converted to
/// `f64`) feeding float arithmetic computed in place (binary and unary), twice as many
/// times as the general register pool has registers: each operation must give its
/// operands' general registers back (keeping them failed `medium.wasm`'s compilation once
/// the pool ran out).
fn floats_from_general_registers() -> String {
    let mut body = String::new();
    for k in 0..16 {
        let (op, convert) = match k % 4 {
            0 => ("f64.mul", "f64.convert_i32_u"),
            1 => ("f64.add", "f64.convert_i32_s"),
            2 => ("f64.sub", "f64.convert_i64_u"),
            _ => ("f64.div", "f64.convert_i64_s"),
        };
        let operand = if k % 4 < 2 {
            format!("(i32.and (local.get $c) (i32.const {}))", 0xfffff >> k)
        } else {
            format!("(i64.extend_i32_u (i32.add (local.get $c) (i32.const {k})))")
        };
        body += &format!(
            "(local.set $f (f64.add (local.get $f) ({op} ({convert} {operand}) (f64.const {k}.5))))\n\
             (local.set $f (f64.add (local.get $f) (f64.abs ({convert} {operand}))))\n"
        );
    }
    format!(
        "(module (func (export \"sum\") (param $c i32) (result f64) (local $f f64)\n\
         {body} (local.get $f)))"
    )
}

#[test]
fn float_operands_in_general_registers_are_freed() {
    let run = |strategy: Strategy| -> Vec<u64> {
        let mut config = Config::new();
        config.strategy(strategy);
        let engine = Engine::new(&config).unwrap();
        let module = Module::new(&engine, floats_from_general_registers()).unwrap();
        if strategy == Strategy::Baseline {
            // A function the baseline cannot compile would silently stay interpreted.
            module.compile_baseline_eagerly().unwrap();
        }
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let sum = instance
            .get_typed_func::<i32, f64>(&mut store, "sum")
            .unwrap();
        [0, 1, 12345, -7]
            .into_iter()
            .map(|p| sum.call(&mut store, p).unwrap().to_bits())
            .collect()
    };
    let expected = run(Strategy::Interpreter);
    for strategy in [Strategy::Baseline, Strategy::Optimizing, Strategy::Tiered] {
        assert_eq!(run(strategy), expected, "{strategy:?}");
    }
}
