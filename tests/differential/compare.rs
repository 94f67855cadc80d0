//! Differential comparison of Strata's tiers on one module, shared by
//! `tests/differential.rs` (seeded modules, part of `cargo test`) and
//! `fuzz/fuzz_targets/differential.rs` (long cargo-fuzz runs).
//!
//! A module from [`generate`] is instantiated once per tier in [`tiers`], each in its own
//! store, and the instances are driven in lockstep: every exported function is called
//! [`ROUNDS`] times with the same deterministic arguments in every tier, and after
//! instantiation and after every call the observable state must agree:
//!
//! - the call's outcome: its results, or that it trapped and with which [`Trap`] (errors
//!   are downcast to `Trap`; any other error is compared by its message), the same for
//!   instantiation (active segments and the start function may trap);
//! - the values of every exported global, the size and full contents of every exported
//!   memory, the size and every element of every exported table.
//!
//! Values are compared exactly: integers by value, floats by bit pattern (the sign and
//! payload of NaNs included), function references by which exported function they are
//! (or null), extern references by null-ness. There are two exceptions, both counted in
//! [`Stats`] and never applied silently:
//!
//! - **NaN payloads from conversions.** The generator runs with wasm-smith's
//!   `canonicalize_nans`, which follows every float `add`, `sub`, `mul`, `div`, `min`,
//!   `max`, `sqrt`, `ceil`, `floor`, `trunc` and `nearest` with a `select` that replaces a
//!   NaN result by one fixed pattern, so the NaNs those produce are deterministic and
//!   compared bit for bit like everything else. The only arithmetic left that may produce
//!   a NaN is `f32.demote_f64` / `f64.promote_f32` of a NaN operand, whose result the spec
//!   lets be any *arithmetic* NaN (quiet bit set; sign and payload free, except that a
//!   canonical operand gives a canonical NaN of either sign). So a result or global value
//!   where the tiers disagree is accepted if, and only if, the module contains one of
//!   those two instructions and both values are arithmetic NaNs of the same type
//!   ([`Stats::nan_payload_differences`] counts them; none has been seen so far). Memory
//!   is always compared byte for byte: a NaN stored there from a conversion would show as
//!   a difference, and none is expected because every tier converts with the same
//!   instructions (`cvtss2sd`/`cvtsd2ss`: Rust's `as` in the interpreter, emitted by the
//!   baseline, Cranelift's `fpromote`/`fdemote`).
//! - **Stack overflow.** Each tier has its own stack discipline (interpreter value stack
//!   and frame count, native frames of different sizes), so where the limit hits differs.
//!   If any tier reports [`Trap::StackOverflow`], that call is not compared and, since the
//!   instances' states may have diverged from then on, neither is anything after it in
//!   that module ([`Stats::stack_overflow_skips`] counts them). Recursion is bounded by
//!   the fuel of `ensure_termination`, so this is rare.
//!
//! Every generated module terminates: `ensure_termination` adds a fuel global, spent at
//! every function entry and loop iteration, and traps with `unreachable` when it is out.
//! [`generate`] exports it and [`compare`] fills it with [`FUEL`] before each call, so
//! every call gets the same budget; since it is compared like every exported global, the
//! tiers must also agree on how many calls and loop iterations each call made.

// Each user compiles this file as its own module and uses a part of it.
#![allow(dead_code)]

use arbitrary::Unstructured;
use std::fmt::{self, Write as _};
use strata::{
    Config, Engine, Extern, Func, Global, Instance, Memory, Module, Ref, Store, StoreLimits,
    StoreLimitsBuilder, Strategy, Table, Trap, Val, ValType,
};

/// Fuel of each instance for instantiation (the start function) and again for each
/// call: function entries plus loop iterations.
pub const FUEL: u32 = 1_000;

/// The name under which [`generate`] exports the fuel global, so that [`compare`] can
/// refill it before each call. (wasm-smith's export names are random strings; a module
/// that already used this one would fail to compile and be reported.)
pub const FUEL_EXPORT: &str = "\0strata-fuel";

/// How many times every exported function is called (in export order, round after round).
pub const ROUNDS: usize = 3;

/// The native stack each tier may use (`Config::max_wasm_stack`): large, so that the
/// deepest recursion the fuel allows rarely overflows. The thread running [`compare`]
/// needs a stack a few times larger.
pub const MAX_WASM_STACK: usize = 8 << 20;

/// Memory and table growth beyond these fails (`memory.grow` returns -1), in every tier.
const MEMORY_LIMIT: usize = 4 << 20;
const TABLE_LIMIT: usize = 1_000;

/// wasm-smith's configuration: Wasm 2.0 without SIMD (MVP, mutable globals, sign
/// extension, non-trapping conversions, multi-value, bulk memory, reference types), no
/// imports, everything exported, small modules and memories, NaNs canonicalized. With
/// `disallow_traps`, wasm-smith avoids `unreachable` and guards the instructions that may
/// trap (so calls run to their end and compute more); without it, code traps often, which
/// compares the tiers' trap codes.
pub fn smith_config(disallow_traps: bool) -> wasm_smith::Config {
    wasm_smith::Config {
        // Wasm 2.0 (what Strata supports) ...
        multi_value_enabled: true,
        reference_types_enabled: true,
        bulk_memory_enabled: true,
        saturating_float_to_int_enabled: true,
        sign_extension_ops_enabled: true,
        // ... without SIMD and without any later proposal.
        simd_enabled: false,
        relaxed_simd_enabled: false,
        threads_enabled: false,
        shared_everything_threads_enabled: false,
        exceptions_enabled: false,
        gc_enabled: false,
        tail_call_enabled: false,
        memory64_enabled: false,
        custom_page_sizes_enabled: false,
        wide_arithmetic_enabled: false,
        extended_const_enabled: false,
        acquire_release_atomics_enabled: false,
        multibyte_array_access_enabled: false,
        custom_descriptors_enabled: false,
        compact_imports_enabled: false,
        max_memories: 1, // no multi-memory
        // Shape: no imports, everything exported, a start function allowed, small.
        max_imports: 0,
        export_everything: true,
        allow_start_export: true,
        min_types: 2, // else there may be no function type, hence no function
        max_types: 20,
        max_type_size: 40,
        min_funcs: 3,
        max_funcs: 16,
        max_instructions: 1000,
        max_globals: 12,
        max_tables: 2,
        max_table_elements: 200,
        max_elements: 40,
        max_element_segments: 8,
        max_data_segments: 8,
        max_memory32_bytes: 1 << 20,
        canonicalize_nans: true,
        disallow_traps,
        ..wasm_smith::Config::default()
    }
}

/// A module from wasm-smith with [`smith_config`] (traps allowed or not, as the first
/// byte says), made to terminate: `ensure_termination` adds a fuel global, spent at each
/// function entry and loop iteration (`unreachable` when out), which is exported as
/// [`FUEL_EXPORT`].
pub fn generate(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<u8>> {
    let disallow_traps = u.arbitrary()?;
    let mut module = wasm_smith::Module::new(smith_config(disallow_traps), u)?;
    let fuel = module
        .ensure_termination(FUEL)
        .expect("wasm-smith generated every function body itself");
    Ok(export_global(&module.to_bytes(), fuel, FUEL_EXPORT))
}

fn leb128(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// `wasm` with one more export: global `index` as `name`. Sections are copied as they
/// are; the export section gets the entry at its end, or is created in its place.
fn export_global(wasm: &[u8], index: u32, name: &str) -> Vec<u8> {
    const EXPORT_SECTION: u8 = 7;
    let mut entry = Vec::new();
    leb128(&mut entry, name.len() as u64);
    entry.extend_from_slice(name.as_bytes());
    entry.push(0x03); // global
    leb128(&mut entry, index.into());
    let section = |out: &mut Vec<u8>, id: u8, contents: &[u8]| {
        out.push(id);
        leb128(out, contents.len() as u64);
        out.extend_from_slice(contents);
    };
    let exports = |count: u64, entries: &[u8], entry: &[u8]| {
        let mut contents = Vec::new();
        leb128(&mut contents, count);
        contents.extend_from_slice(entries);
        contents.extend_from_slice(entry);
        contents
    };
    let mut out = wasm[..8].to_vec(); // magic and version
    let mut pending = Some(entry);
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let payload = payload.expect("wasm-smith's output parses");
        let Some((id, range)) = payload.as_section() else {
            continue;
        };
        let contents = &wasm[range.start as usize..range.end as usize];
        if id == EXPORT_SECTION {
            let entry = pending.take().expect("one export section");
            // The entry count, then the entries.
            let (mut count, mut shift, mut at) = (0u64, 0, 0);
            loop {
                let byte = contents[at];
                count |= u64::from(byte & 0x7f) << shift;
                shift += 7;
                at += 1;
                if byte & 0x80 == 0 {
                    break;
                }
            }
            section(&mut out, id, &exports(count + 1, &contents[at..], &entry));
            continue;
        }
        // Sections after the export section's place: start, element, data count, code,
        // data.
        if matches!(id, 8..=12) {
            if let Some(entry) = pending.take() {
                section(&mut out, EXPORT_SECTION, &exports(1, &[], &entry));
            }
        }
        section(&mut out, id, contents);
    }
    if let Some(entry) = pending.take() {
        section(&mut out, EXPORT_SECTION, &exports(1, &[], &entry));
    }
    out
}

/// One configuration under comparison.
pub struct Tier {
    pub name: &'static str,
    pub strategy: Strategy,
    pub engine: Engine,
}

/// The tiers compared, the first being the reference: the interpreter, the baseline JIT,
/// the optimizing JIT, both JITs again with explicit bounds checks (memories reserve
/// 1 MiB and move when they grow past it, as in the spec suite's `*-bounds-checked`
/// tiers), and tiered with every threshold at 1, so functions change tier in the middle
/// of a run: a function's first call runs in the interpreter and sends it to the baseline
/// (so does a loop's first iteration; the running call finishes interpreted), and its
/// baseline code soon queues it for Cranelift on a background thread, whose code is
/// installed whenever it is ready (so which tier runs which call varies from run to run,
/// and every mix must give the same results). The tiered engine also validates function
/// bodies lazily, so the lazy path sees every module too. Then tiered with budgets that never
/// run out: everything runs in the interpreter's quick translation, which tiering gives
/// functions until they are warm. Last, tiered with every compile
/// on the spot: loops move interpreter -> baseline -> Cranelift on stack in their first
/// iterations, at the same points every run.
pub fn tiers() -> Vec<Tier> {
    let tier = |name, strategy, tune: fn(&mut Config)| {
        let mut config = Config::new();
        config.strategy(strategy).max_wasm_stack(MAX_WASM_STACK);
        tune(&mut config);
        Tier {
            name,
            strategy,
            engine: Engine::new(&config).expect("every tier is available on x86-64 Linux"),
        }
    };
    let bounds_checked = |config: &mut Config| {
        config
            .memory_reservation(1 << 20)
            .memory_guard_size(64 << 10);
    };
    vec![
        tier("interp", Strategy::Interpreter, |_| {}),
        tier("baseline", Strategy::Baseline, |_| {}),
        tier("optimizing", Strategy::Optimizing, |_| {}),
        tier(
            "baseline-bounds-checked",
            Strategy::Baseline,
            bounds_checked,
        ),
        tier(
            "optimizing-bounds-checked",
            Strategy::Optimizing,
            bounds_checked,
        ),
        tier("tiered", Strategy::Tiered, |config| {
            config
                .baseline_call_threshold(1)
                .baseline_loop_threshold(1)
                .optimizing_call_threshold(1)
                .optimizing_loop_threshold(1)
                .compile_threads(1)
                .lazy_validation(true);
        }),
        tier("tiered-cold", Strategy::Tiered, |config| {
            config
                .baseline_call_threshold(u32::MAX)
                .baseline_loop_threshold(u32::MAX);
        }),
        tier("tiered-osr", Strategy::Tiered, |config| {
            config
                .baseline_call_threshold(1)
                .baseline_loop_threshold(1)
                .optimizing_call_threshold(1)
                .optimizing_loop_threshold(1)
                .synchronous_tier_up(true);
        }),
    ]
}

/// What the comparisons saw, summed over modules.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub modules: usize,
    /// Modules whose instantiation succeeded in every tier.
    pub instantiated: usize,
    /// Calls compared across all tiers (a call counts once, not once per tier).
    pub calls: usize,
    /// Compared calls that trapped (in every tier, with the same trap).
    pub traps: usize,
    /// Calls (or instantiations) not compared because some tier overflowed its stack;
    /// the rest of that module is not compared either.
    pub stack_overflow_skips: usize,
    /// Values accepted although their NaN payloads differ (see the module docs).
    pub nan_payload_differences: usize,
    /// Interpreter activations that continued in native code at a loop header (the tiered
    /// tier's on-stack replacements), in modules compared to the end.
    pub osr_transfers: u64,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} modules ({} instantiated), {} calls compared ({} trapped), \
             {} stack-overflow skips, {} NaN payload differences accepted, \
             {} on-stack replacements",
            self.modules,
            self.instantiated,
            self.calls,
            self.traps,
            self.stack_overflow_skips,
            self.nan_payload_differences,
            self.osr_transfers
        )
    }
}

/// A value as the comparison sees it.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    /// A function reference: null, the function exported at this position among the
    /// instance's exported functions, or some other function.
    FuncRef(Option<Option<usize>>),
    /// An extern reference: whether it is null.
    ExternRef(bool),
    V128(u128),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::I32(x) => write!(f, "i32:{x}"),
            Value::I64(x) => write!(f, "i64:{x}"),
            Value::F32(x) => write!(f, "f32:{:?}({x:#010x})", f32::from_bits(*x)),
            Value::F64(x) => write!(f, "f64:{:?}({x:#018x})", f64::from_bits(*x)),
            Value::FuncRef(None) => write!(f, "funcref:null"),
            Value::FuncRef(Some(Some(i))) => write!(f, "funcref:export#{i}"),
            Value::FuncRef(Some(None)) => write!(f, "funcref:unexported"),
            Value::ExternRef(null) => {
                write!(f, "externref:{}", if *null { "null" } else { "some" })
            }
            Value::V128(x) => write!(f, "v128:{x:#x}"),
        }
    }
}

/// An argument, made from the same random draws for every tier.
#[derive(Debug, Clone, Copy)]
enum Arg {
    Val(u64),
    /// The exported function at this position (a funcref argument).
    Func(usize),
    Null,
}

/// How instantiation or a call ended.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Returned(Vec<Value>),
    Trapped(Trap),
    Failed(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Returned(values) => {
                write!(f, "returned [")?;
                for (i, v) in values.iter().enumerate() {
                    write!(f, "{}{v}", if i > 0 { ", " } else { "" })?;
                }
                write!(f, "]")
            }
            Outcome::Trapped(trap) => write!(f, "trapped: {trap} ({trap:?})"),
            Outcome::Failed(message) => write!(f, "failed: {message}"),
        }
    }
}

fn outcome_of_error(error: &strata::Error) -> Outcome {
    match error.downcast_ref::<Trap>() {
        Some(trap) => Outcome::Trapped(*trap),
        None => Outcome::Failed(format!("{error:#}")),
    }
}

/// One tier's instance of the module and its exports, in export order.
struct Run {
    store: Store<StoreLimits>,
    funcs: Vec<(String, Func)>,
    globals: Vec<(String, Global)>,
    memories: Vec<(String, Memory)>,
    tables: Vec<(String, Table)>,
    /// The fuel global, exported as [`FUEL_EXPORT`] (also in `globals`).
    fuel: Option<Global>,
}

impl Run {
    fn value(&self, val: &Val) -> Value {
        match val {
            Val::I32(x) => Value::I32(*x),
            Val::I64(x) => Value::I64(*x),
            Val::F32(x) => Value::F32(*x),
            Val::F64(x) => Value::F64(*x),
            Val::V128(x) => Value::V128(x.as_u128()),
            Val::FuncRef(f) => Value::FuncRef(f.map(|f| self.func_position(&f))),
            Val::ExternRef(e) => Value::ExternRef(e.is_none()),
        }
    }

    fn func_position(&self, func: &Func) -> Option<usize> {
        self.funcs.iter().position(|(_, f)| f == func)
    }

    fn reference(&self, r: &Ref) -> Value {
        match r {
            Ref::Func(f) => Value::FuncRef(f.map(|f| self.func_position(&f))),
            Ref::Extern(e) => Value::ExternRef(e.is_none()),
        }
    }

    fn arg(&self, arg: Arg, ty: &ValType) -> Val {
        match (arg, ty) {
            (Arg::Val(bits), ValType::I32) => Val::I32(bits as i32),
            (Arg::Val(bits), ValType::I64) => Val::I64(bits as i64),
            (Arg::Val(bits), ValType::F32) => Val::F32(bits as u32),
            (Arg::Val(bits), ValType::F64) => Val::F64(bits),
            (Arg::Func(i), _) if *ty == ValType::FUNCREF => Val::FuncRef(Some(self.funcs[i].1)),
            _ if *ty == ValType::FUNCREF => Val::FuncRef(None),
            _ => Val::ExternRef(None),
        }
    }
}

/// SplitMix64: the arguments' random source, seeded from the module's bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const I32_VALUES: &[u64] = &[
    0,
    1,
    2,
    3,
    7,
    8,
    16,
    31,
    32,
    64,
    100,
    255,
    256,
    0xffff,
    0x1_0000,
    0x1234_5678,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fff0,
    0xffff_ffff,
];

const I64_VALUES: &[u64] = &[
    0,
    1,
    2,
    7,
    63,
    64,
    0xffff_ffff,
    0x1_0000_0000,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    0xffff_ffff_ffff_ffff,
    0xfedc_ba98_7654_3210,
];

/// f32 bit patterns: zeros, ordinary numbers, limits of the integer conversions,
/// infinities, the smallest subnormal, and NaNs (canonical, negative, with a payload,
/// signalling).
const F32_VALUES: &[u64] = &[
    0x0000_0000,
    0x8000_0000,
    0x3f80_0000,
    0xbfc0_0000,
    0x4049_0fdb,
    0x4f00_0000,
    0xcf00_0000,
    0x5f00_0000,
    0x7f7f_ffff,
    0x7f80_0000,
    0xff80_0000,
    0x0000_0001,
    0x7fc0_0000,
    0xffc0_0000,
    0x7fc0_1234,
    0x7fa0_0001,
];

const F64_VALUES: &[u64] = &[
    0x0000_0000_0000_0000,
    0x8000_0000_0000_0000,
    0x3ff0_0000_0000_0000,
    0xc002_0000_0000_0000,
    0x4009_21fb_5444_2d18,
    0x41e0_0000_0000_0000,
    0xc1e0_0000_0000_0000,
    0x43e0_0000_0000_0000,
    0x7fef_ffff_ffff_ffff,
    0x7ff0_0000_0000_0000,
    0xfff0_0000_0000_0000,
    0x0000_0000_0000_0001,
    0x7ff8_0000_0000_0000,
    0xfff8_0000_0000_0000,
    0x7ff8_0000_0000_1234,
    0x7ff4_0000_0000_0001,
];

fn draw_arg(rng: &mut Rng, ty: &ValType, funcs: usize) -> Arg {
    let random = rng.next() & 3 == 0; // a random value one time in four
    match ty {
        ValType::I32 if random => Arg::Val(rng.next() & 0xffff_ffff),
        ValType::I32 => Arg::Val(rng.pick(I32_VALUES)),
        ValType::I64 if random => Arg::Val(rng.next()),
        ValType::I64 => Arg::Val(rng.pick(I64_VALUES)),
        ValType::F32 if random => Arg::Val(rng.next() & 0xffff_ffff),
        ValType::F32 => Arg::Val(rng.pick(F32_VALUES)),
        ValType::F64 if random => Arg::Val(rng.next()),
        ValType::F64 => Arg::Val(rng.pick(F64_VALUES)),
        _ if *ty == ValType::FUNCREF && funcs > 0 && rng.next() & 1 == 0 => {
            Arg::Func((rng.next() % funcs as u64) as usize)
        }
        _ => Arg::Null,
    }
}

fn describe_arg(arg: Arg, ty: &ValType) -> String {
    match (arg, ty) {
        (Arg::Val(bits), ValType::I32) => format!("i32:{}", bits as i32),
        (Arg::Val(bits), ValType::I64) => format!("i64:{}", bits as i64),
        (Arg::Val(bits), ValType::F32) => format!("f32:{:#010x}", bits as u32),
        (Arg::Val(bits), ValType::F64) => format!("f64:{bits:#018x}"),
        (Arg::Func(i), _) => format!("funcref:export#{i}"),
        _ => format!("null {ty:?}"),
    }
}

/// `STRATA_DIFF_VERBOSE` set: print every instantiation and call to stderr.
fn verbose() -> bool {
    std::env::var_os("STRATA_DIFF_VERBOSE").is_some()
}

/// FNV-1a of the module: the argument source's seed.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x1000_0000_01b3)
    })
}

/// Whether the module contains `f32.demote_f64` or `f64.promote_f32`: the only arithmetic
/// whose NaN results wasm-smith leaves alone (see the module docs).
fn has_uncanonicalized_nan_ops(wasm: &[u8]) -> bool {
    use wasmparser::{Operator, Parser, Payload};
    for payload in Parser::new(0).parse_all(wasm) {
        let Ok(Payload::CodeSectionEntry(body)) = payload else {
            continue;
        };
        let Ok(mut reader) = body.get_operators_reader() else {
            continue;
        };
        while let Ok(op) = reader.read() {
            if matches!(op, Operator::F32DemoteF64 | Operator::F64PromoteF32) {
                return true;
            }
        }
    }
    false
}

/// How two values compare: the same, accepted NaN payload difference, or different.
#[derive(PartialEq)]
enum Agreement {
    Same,
    NanPayload,
    Different,
}

fn agree(a: &Value, b: &Value, nan_ops: bool) -> Agreement {
    let arithmetic_nan_32 = |x: u32| (x & 0x7fc0_0000) == 0x7fc0_0000;
    let arithmetic_nan_64 = |x: u64| (x & 0x7ff8_0000_0000_0000) == 0x7ff8_0000_0000_0000;
    match (a, b) {
        _ if a == b => Agreement::Same,
        (Value::F32(x), Value::F32(y))
            if nan_ops && arithmetic_nan_32(*x) && arithmetic_nan_32(*y) =>
        {
            Agreement::NanPayload
        }
        (Value::F64(x), Value::F64(y))
            if nan_ops && arithmetic_nan_64(*x) && arithmetic_nan_64(*y) =>
        {
            Agreement::NanPayload
        }
        _ => Agreement::Different,
    }
}

/// Compares two outcomes (see `agree` for values).
fn agree_outcomes(a: &Outcome, b: &Outcome, nan_ops: bool, stats: &mut Stats) -> bool {
    match (a, b) {
        (Outcome::Returned(x), Outcome::Returned(y)) => {
            x.len() == y.len() && agree_values(x, y, nan_ops, stats)
        }
        _ => a == b,
    }
}

fn agree_values(x: &[Value], y: &[Value], nan_ops: bool, stats: &mut Stats) -> bool {
    let mut nan = 0;
    for (a, b) in x.iter().zip(y) {
        match agree(a, b, nan_ops) {
            Agreement::Same => {}
            Agreement::NanPayload => nan += 1,
            Agreement::Different => return false,
        }
    }
    stats.nan_payload_differences += nan;
    true
}

/// Compares `wasm` across `tiers` (see the module docs). `Err` describes the first
/// difference: where (instantiation, or export, round and arguments), and what each tier
/// saw. A module that some tier fails to compile is a difference too, and one that every
/// tier rejects is an error (the generator is meant to produce valid Wasm 2.0 only).
pub fn compare(tiers: &[Tier], wasm: &[u8], stats: &mut Stats) -> Result<(), String> {
    stats.modules += 1;
    let nan_ops = has_uncanonicalized_nan_ops(wasm);

    // Compile and instantiate everywhere.
    let mut runs = Vec::new();
    let mut instantiations = Vec::new();
    let mut modules = Vec::new();
    for tier in tiers {
        let module = Module::from_binary(&tier.engine, wasm)
            .map_err(|e| format!("{}: the module does not compile: {e:#}", tier.name))?;
        // A function a forced JIT tier cannot compile would stay interpreted, and compare
        // equal: every one must compile.
        let eager = match tier.strategy {
            Strategy::Baseline => module.compile_baseline_eagerly(),
            Strategy::Optimizing => module.compile_optimizing_eagerly(),
            _ => Ok(()),
        };
        eager.map_err(|e| format!("{}: a function does not compile: {e:#}", tier.name))?;
        modules.push(module.clone());
        let limits = StoreLimitsBuilder::new()
            .memory_size(MEMORY_LIMIT)
            .table_elements(TABLE_LIMIT)
            .build();
        let mut store = Store::new(&tier.engine, limits);
        store.limiter(|limits| limits);
        match Instance::new(&mut store, &module, &[]) {
            Ok(instance) => {
                instantiations.push(Outcome::Returned(Vec::new()));
                runs.push(Some(Run::new(store, instance)));
            }
            Err(error) => {
                instantiations.push(outcome_of_error(&error));
                runs.push(None);
            }
        }
    }
    if verbose() {
        eprintln!(
            "module of {} bytes: instantiation {:?}",
            wasm.len(),
            instantiations
        );
    }
    if instantiations.contains(&Outcome::Trapped(Trap::StackOverflow)) {
        stats.stack_overflow_skips += 1;
        return Ok(());
    }
    for (tier, outcome) in tiers.iter().zip(&instantiations).skip(1) {
        if *outcome != instantiations[0] {
            return Err(format!(
                "instantiation differs:\n  {}: {}\n  {}: {outcome}",
                tiers[0].name, instantiations[0], tier.name
            ));
        }
    }
    let Some(mut runs) = runs.into_iter().collect::<Option<Vec<Run>>>() else {
        return Ok(()); // Every tier failed instantiation in the same way.
    };
    stats.instantiated += 1;
    compare_state(tiers, &mut runs, nan_ops, stats)
        .map_err(|e| format!("after instantiation: {e}"))?;

    // Call every export, round after round, with the same arguments in every tier.
    let mut rng = Rng(fnv(wasm));
    let exported_funcs = runs[0].funcs.len();
    for round in 0..ROUNDS {
        for index in 0..exported_funcs {
            for run in runs.iter_mut() {
                if let Some(fuel) = run.fuel {
                    fuel.set(&mut run.store, Val::I32(FUEL as i32))
                        .expect("the fuel global is a mutable i32");
                }
            }
            let (name, func) = runs[0].funcs[index].clone();
            let ty = func.ty(&runs[0].store);
            let params: Vec<ValType> = ty.params().collect();
            let args: Vec<Arg> = params
                .iter()
                .map(|ty| draw_arg(&mut rng, ty, exported_funcs))
                .collect();
            let mut outcomes = Vec::new();
            for run in runs.iter_mut() {
                let func = run.funcs[index].1;
                let vals: Vec<Val> = args
                    .iter()
                    .zip(&params)
                    .map(|(a, t)| run.arg(*a, t))
                    .collect();
                let mut results: Vec<Val> = ty.results().map(|_| Val::I32(0)).collect();
                let outcome = match func.call(&mut run.store, &vals, &mut results) {
                    Ok(()) => Outcome::Returned(results.iter().map(|v| run.value(v)).collect()),
                    Err(error) => outcome_of_error(&error),
                };
                outcomes.push(outcome);
            }
            let call = || {
                let args: Vec<String> = args
                    .iter()
                    .zip(&params)
                    .map(|(a, t)| describe_arg(*a, t))
                    .collect();
                format!("round {round}, export {name:?}({})", args.join(", "))
            };
            if outcomes.contains(&Outcome::Trapped(Trap::StackOverflow)) {
                stats.stack_overflow_skips += 1;
                return Ok(());
            }
            for (tier, outcome) in tiers.iter().zip(&outcomes).skip(1) {
                if !agree_outcomes(&outcomes[0], outcome, nan_ops, stats) {
                    return Err(format!(
                        "{}: results differ:\n  {}: {}\n  {}: {outcome}",
                        call(),
                        tiers[0].name,
                        outcomes[0],
                        tier.name
                    ));
                }
            }
            if verbose() {
                eprintln!("  {}: {}", call(), outcomes[0]);
            }
            stats.calls += 1;
            if matches!(outcomes[0], Outcome::Trapped(_)) {
                stats.traps += 1;
            }
            compare_state(tiers, &mut runs, nan_ops, stats)
                .map_err(|e| format!("after {} ({}): {e}", call(), outcomes[0]))?;
        }
    }
    stats.osr_transfers += modules.iter().map(Module::osr_transfers).sum::<u64>();
    Ok(())
}

impl Run {
    fn new(mut store: Store<StoreLimits>, instance: Instance) -> Run {
        let exports: Vec<(String, Extern)> = instance
            .exports(&mut store)
            .map(|e| (e.name().to_string(), e.into_extern()))
            .collect();
        let mut run = Run {
            store,
            funcs: Vec::new(),
            globals: Vec::new(),
            memories: Vec::new(),
            tables: Vec::new(),
            fuel: None,
        };
        for (name, ext) in exports {
            match ext {
                Extern::Func(f) => run.funcs.push((name, f)),
                Extern::Global(g) => {
                    if name == FUEL_EXPORT {
                        run.fuel = Some(g);
                    }
                    run.globals.push((name, g));
                }
                Extern::Memory(m) => run.memories.push((name, m)),
                Extern::Table(t) => run.tables.push((name, t)),
            }
        }
        run
    }
}

/// Compares the exported globals, memories and tables of every tier with the first's.
fn compare_state(
    tiers: &[Tier],
    runs: &mut [Run],
    nan_ops: bool,
    stats: &mut Stats,
) -> Result<(), String> {
    let (first, rest) = runs.split_first_mut().expect("at least one tier");
    for (tier, run) in tiers.iter().skip(1).zip(rest.iter_mut()) {
        for ((name, a), (_, b)) in first.globals.iter().zip(&run.globals) {
            let (x, y) = (a.get(&mut first.store), b.get(&mut run.store));
            let (x, y) = (first.value(&x), run.value(&y));
            if !agree_values(
                std::slice::from_ref(&x),
                std::slice::from_ref(&y),
                nan_ops,
                stats,
            ) {
                return Err(format!(
                    "global {name:?} differs: {}: {x}, {}: {y}",
                    tiers[0].name, tier.name
                ));
            }
        }
        for ((name, a), (_, b)) in first.memories.iter().zip(&run.memories) {
            let x = a.data(&first.store);
            let y = b.data(&run.store);
            if x != y {
                let mut message = format!(
                    "memory {name:?} differs: {} has {} bytes, {} has {}",
                    tiers[0].name,
                    x.len(),
                    tier.name,
                    y.len()
                );
                if let Some(at) = x.iter().zip(y).position(|(p, q)| p != q) {
                    let end = (at + 16).min(x.len()).min(y.len());
                    let _ = write!(
                        message,
                        "; first difference at {at:#x}: {:02x?} vs {:02x?}",
                        &x[at..end],
                        &y[at..end]
                    );
                }
                return Err(message);
            }
        }
        for ((name, a), (_, b)) in first.tables.iter().zip(&run.tables) {
            let (m, n) = (a.size(&first.store), b.size(&run.store));
            if m != n {
                return Err(format!(
                    "table {name:?} differs: {} has {m} elements, {} has {n}",
                    tiers[0].name, tier.name
                ));
            }
            for i in 0..m {
                let x = a.get(&mut first.store, i).map(|r| first.reference(&r));
                let y = b.get(&mut run.store, i).map(|r| run.reference(&r));
                if x != y {
                    let show =
                        |v: &Option<Value>| v.as_ref().map_or("none".into(), |v| v.to_string());
                    return Err(format!(
                        "table {name:?} element {i} differs: {}: {}, {}: {}",
                        tiers[0].name,
                        show(&x),
                        tier.name,
                        show(&y)
                    ));
                }
            }
        }
    }
    Ok(())
}
