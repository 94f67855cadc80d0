//! The `strata` command line: run a module, run spec scripts, or benchmark tiers.
//!
//! Exit status: 0 on success; 1 when wasm trapped (or a script assertion failed); 2 for bad
//! input (unreadable file, malformed or invalid module, unknown export, bad arguments, a
//! tier that is not available), with a one-line error on stderr.

mod bench;

use anyhow::anyhow;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use strata::wast::WastContext;
use strata::{
    Config, Engine, Func, Linker, Module, Store, Strategy, Trap, Val, ValType, WasmBacktrace,
};

#[derive(Parser)]
#[command(
    name = "strata",
    version,
    about = "Strata, a tiered WebAssembly runtime"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Instantiate a module (.wasm or .wat) and call one of its functions.
    ///
    /// Without --invoke, instantiation runs the start function, then `_start` (or the ""
    /// export) is called if the module has one. Each result is printed on its own line.
    Run {
        #[arg(long, value_enum, default_value_t = Tier::Tiered)]
        tier: Tier,
        /// Print every tier change (function, from and to tier, compile time) to stderr.
        #[arg(long)]
        log_tiering: bool,
        /// Validate function bodies on first use instead of before running.
        #[arg(long)]
        lazy_validation: bool,
        /// The exported function to call with ARGS.
        #[arg(long, value_name = "NAME")]
        invoke: Option<String>,
        /// The module, binary (.wasm) or text (.wat).
        file: PathBuf,
        /// Arguments of the function, parsed by its parameter types.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Benchmark one exported function on several tiers, side by side: load, compile
    /// (MB/s), time to first result, steady-state median; all tiers must agree.
    Bench {
        /// Comma-separated tiers (default: every tier available on this machine).
        #[arg(long, value_enum, value_delimiter = ',')]
        tiers: Vec<Tier>,
        /// The exported function to call with ARGS.
        #[arg(long, value_name = "NAME")]
        invoke: String,
        /// Repeated calls per tier (default: as many as fit in about two seconds, 5 to 1000).
        #[arg(long)]
        runs: Option<usize>,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Validate function bodies on first use instead of when loading.
        #[arg(long)]
        lazy_validation: bool,
        /// The module, binary (.wasm) or text (.wat).
        file: PathBuf,
        /// Arguments of the function, parsed by its parameter types.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run spec test scripts (.wast) and report `N passed, N failed`.
    Wast {
        #[arg(long, value_enum, default_value_t = Tier::Tiered)]
        tier: Tier,
        /// Let the `spectest` print functions write to stdout.
        #[arg(long)]
        print: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Tier {
    /// The register interpreter only.
    Interp,
    /// The baseline JIT only.
    Baseline,
    /// The optimizing JIT (Cranelift) only.
    Optimizing,
    /// Start in the interpreter and tier up hot code.
    Tiered,
}

impl Tier {
    fn strategy(self) -> Strategy {
        match self {
            Tier::Interp => Strategy::Interpreter,
            Tier::Baseline => Strategy::Baseline,
            Tier::Optimizing => Strategy::Optimizing,
            Tier::Tiered => Strategy::Tiered,
        }
    }
}

/// Why a command failed, which decides the exit status.
pub(crate) enum Failure {
    /// Bad input: exit 2 with a one-line message.
    Usage(String),
    /// Wasm trapped or the runtime failed while running: exit 1.
    Runtime(anyhow::Error),
    /// A script reported failures (already printed): exit 1.
    Failed,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            tier,
            log_tiering,
            lazy_validation,
            invoke,
            file,
            args,
        } => {
            let settings = Settings {
                log_tiering,
                lazy_validation,
            };
            run(tier, settings, invoke.as_deref(), &file, &args)
        }
        Command::Wast { tier, print, files } => wast(tier, print, &files),
        Command::Bench {
            tiers,
            invoke,
            runs,
            json,
            lazy_validation,
            file,
            args,
        } => {
            let tiers = if tiers.is_empty() {
                Tier::available()
            } else {
                tiers
            };
            bench::bench(&bench::Options {
                tiers,
                invoke: &invoke,
                file: &file,
                args: &args,
                runs,
                json,
                lazy_validation,
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(error)) => {
            report_runtime_error(&error);
            ExitCode::from(1)
        }
        Err(Failure::Failed) => ExitCode::from(1),
    }
}

/// Engine settings the commands take besides the tier.
#[derive(Default, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) log_tiering: bool,
    pub(crate) lazy_validation: bool,
}

fn engine(tier: Tier) -> Result<Engine, Failure> {
    engine_with(tier, Settings::default())
}

fn engine_with(tier: Tier, settings: Settings) -> Result<Engine, Failure> {
    let mut config = Config::new();
    config
        .strategy(tier.strategy())
        .lazy_validation(settings.lazy_validation);
    if settings.log_tiering {
        // Otherwise STRATA_LOG decides.
        config.tiering_log(true);
    }
    Engine::new(&config).map_err(|e| Failure::Usage(format!("--tier {}: {e:#}", tier.name())))
}

impl Tier {
    fn name(self) -> &'static str {
        self.strategy().name()
    }

    /// The tiers this machine can run.
    fn available() -> Vec<Tier> {
        [Tier::Interp, Tier::Baseline, Tier::Optimizing, Tier::Tiered]
            .into_iter()
            .filter(|t| {
                let mut config = Config::new();
                config.strategy(t.strategy());
                Engine::new(&config).is_ok()
            })
            .collect()
    }
}

/// Reads and compiles FILE; every failure is bad input.
fn load_module(engine: &Engine, file: &Path) -> Result<Module, Failure> {
    let shown = file.display();
    let bytes =
        std::fs::read(file).map_err(|e| Failure::Usage(format!("cannot read {shown}: {e}")))?;
    let binary = if bytes.starts_with(b"\0asm") {
        bytes
    } else {
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            Failure::Usage(format!("{shown}: neither a wasm binary nor UTF-8 text"))
        })?;
        wat_to_binary(text).map_err(|e| {
            let (line, col) = e.span().linecol_in(text);
            Failure::Usage(format!("{shown}:{}:{}: {}", line + 1, col + 1, e.message()))
        })?
    };
    Module::from_binary(engine, &binary)
        .map_err(|e| Failure::Usage(format!("{shown}: invalid module: {}", one_line(&e))))
}

fn wat_to_binary(text: &str) -> Result<Vec<u8>, wast::Error> {
    let buffer = wast::parser::ParseBuffer::new(text)?;
    let mut wat = wast::parser::parse::<wast::Wat<'_>>(&buffer)?;
    wat.encode()
}

fn run(
    tier: Tier,
    settings: Settings,
    invoke: Option<&str>,
    file: &Path,
    args: &[String],
) -> Result<(), Failure> {
    let engine = engine_with(tier, settings)?;
    let module = load_module(&engine, file)?;
    let mut store = Store::new(&engine, ());
    let linker = Linker::new(&engine);
    let instance = linker.instantiate(&mut store, &module).map_err(|e| {
        if e.downcast_ref::<Trap>().is_some() {
            Failure::Runtime(e)
        } else {
            Failure::Usage(format!("{}: {}", file.display(), one_line(&e)))
        }
    })?;

    let name = match invoke {
        Some(name) => name,
        None => match ["_start", ""]
            .into_iter()
            .find(|n| module.get_export(n).is_some())
        {
            Some(name) => name,
            None if args.is_empty() => return Ok(()),
            None => {
                return Err(Failure::Usage(
                    "arguments given but no function to call (use --invoke NAME)".to_string(),
                ))
            }
        },
    };
    let func = match instance.get_export(&mut store, name) {
        Some(ext) => ext
            .into_func()
            .ok_or_else(|| Failure::Usage(format!("export `{name}` is not a function")))?,
        None => return Err(Failure::Usage(format!("unknown export `{name}`"))),
    };
    let params = parse_args(&store, &func, name, args)?;
    let mut results: Vec<Val> = func
        .ty(&store)
        .results()
        .map(|t| Val::default_for_ty(&t).unwrap_or(Val::I32(0)))
        .collect();
    func.call(&mut store, &params, &mut results)
        .map_err(Failure::Runtime)?;
    for result in &results {
        println!("{}", format_val(result));
    }
    Ok(())
}

fn parse_args(
    store: &Store<()>,
    func: &Func,
    name: &str,
    args: &[String],
) -> Result<Vec<Val>, Failure> {
    let ty = func.ty(store);
    let types: Vec<ValType> = ty.params().collect();
    if types.len() != args.len() {
        let list: Vec<String> = types.iter().map(|t| t.to_string()).collect();
        return Err(Failure::Usage(format!(
            "`{name}` takes {} argument(s) ({}), got {}",
            types.len(),
            list.join(", "),
            args.len()
        )));
    }
    types
        .iter()
        .zip(args)
        .enumerate()
        .map(|(i, (ty, arg))| {
            parse_val(ty, arg).ok_or_else(|| {
                Failure::Usage(format!(
                    "argument {} of `{name}` is not a valid {ty}: `{arg}`",
                    i + 1
                ))
            })
        })
        .collect()
}

/// Parses a command-line argument as a value of `ty`. Integers are decimal (or `0x` hex) in
/// the signed or unsigned range; floats use Rust's syntax (`1.5`, `-inf`, `NaN`);
/// references can only be `null`.
fn parse_val(ty: &ValType, arg: &str) -> Option<Val> {
    fn int(arg: &str) -> Option<i128> {
        let (neg, digits) = match arg.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, arg),
        };
        let magnitude = match digits.strip_prefix("0x") {
            Some(hex) => i128::from_str_radix(hex, 16).ok()?,
            None if digits.starts_with('+') => return None,
            None => digits.parse::<i128>().ok()?,
        };
        Some(if neg { -magnitude } else { magnitude })
    }
    Some(match ty {
        ValType::I32 => {
            let v = int(arg)?;
            if v < i128::from(i32::MIN) || v > i128::from(u32::MAX) {
                return None;
            }
            Val::I32(v as i32)
        }
        ValType::I64 => {
            let v = int(arg)?;
            if v < i128::from(i64::MIN) || v > i128::from(u64::MAX) {
                return None;
            }
            Val::I64(v as i64)
        }
        ValType::F32 => Val::F32(arg.parse::<f32>().ok()?.to_bits()),
        ValType::F64 => Val::F64(arg.parse::<f64>().ok()?.to_bits()),
        ValType::V128 => {
            let v = int(arg)?;
            if v < 0 {
                return None;
            }
            Val::V128(u128::try_from(v).ok()?.into())
        }
        ValType::Ref(r) if arg == "null" => {
            Val::default_for_ty(&ValType::Ref(*r)).unwrap_or(Val::FuncRef(None))
        }
        ValType::Ref(_) => return None,
    })
}

/// A result as wasmtime's CLI prints it.
fn format_val(val: &Val) -> String {
    match val {
        Val::I32(v) => v.to_string(),
        Val::I64(v) => v.to_string(),
        Val::F32(bits) => f32::from_bits(*bits).to_string(),
        Val::F64(bits) => f64::from_bits(*bits).to_string(),
        Val::V128(v) => v.as_u128().to_string(),
        Val::FuncRef(None) => "<null funcref>".to_string(),
        Val::FuncRef(Some(_)) => "<funcref>".to_string(),
        Val::ExternRef(None) => "<null externref>".to_string(),
        Val::ExternRef(Some(_)) => "<externref>".to_string(),
    }
}

fn report_runtime_error(error: &anyhow::Error) {
    match error.downcast_ref::<Trap>() {
        Some(trap) => {
            eprintln!("error: wasm trap: {trap}");
            if *trap == Trap::InvalidFunction {
                // Which function, and why: the context under the backtrace.
                if let Some(why) = error.chain().nth(1) {
                    eprintln!("{why}");
                }
            }
            if let Some(backtrace) = error.downcast_ref::<WasmBacktrace>() {
                if !backtrace.frames().is_empty() {
                    eprintln!("{backtrace}");
                }
            }
        }
        None => eprintln!("error: {}", one_line(error)),
    }
}

fn wast(tier: Tier, print: bool, files: &[PathBuf]) -> Result<(), Failure> {
    // Check every file first: a typo in the last path should not cost a whole run.
    let mut scripts = Vec::with_capacity(files.len());
    for file in files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", file.display())))?;
        scripts.push((file.display().to_string(), text));
    }
    // Fail on an unavailable tier before running anything.
    engine(tier)?;
    let (mut passed, mut failed) = (0, 0);
    for (name, text) in &scripts {
        let mut cx = WastContext::new(tier.strategy()).map_err(|e| Failure::Runtime(anyhow!(e)))?;
        cx.set_spectest_print(print);
        let report = cx.run_script(name, text);
        for failure in &report.failures {
            println!("{name}:{failure}");
        }
        if report.not_run > 0 {
            println!(
                "{name}: {} directive(s) not run after a panic",
                report.not_run
            );
        }
        if !report.skipped.is_empty() {
            let mut reasons: Vec<&str> = report.skipped.iter().map(|s| s.reason).collect();
            reasons.dedup();
            println!(
                "{name}: {} directive(s) skipped ({})",
                report.skipped.len(),
                reasons.join("; ")
            );
        }
        if scripts.len() > 1 {
            println!(
                "{name}: {} passed, {} failed",
                report.passed,
                report.failed()
            );
        }
        passed += report.passed;
        failed += report.failed();
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        Err(Failure::Failed)
    } else {
        Ok(())
    }
}

/// An error with its context chain, on one line.
fn one_line(error: &anyhow::Error) -> String {
    format!("{error:#}").replace('\n', " ")
}
