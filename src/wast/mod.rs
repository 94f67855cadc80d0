//! A runner for spec scripts (`.wast`), like `wasmtime-wast`.
//!
//! [`WastContext`] executes every directive of a script against one [`Strategy`] and reports
//! each directive's outcome with its `line:column`. A failing directive never stops the
//! script; a module that failed to compile or instantiate makes the directives that use it
//! fail with a message naming it. Directives of proposals Strata does not implement
//! (threads, exceptions, stack switching, custom-section annotations, components) are
//! counted as skipped, never silently.
//!
//! ```
//! use strata::{wast::WastContext, Strategy};
//!
//! let mut cx = WastContext::new(Strategy::Interpreter)?;
//! let report = cx.run_script("add.wast", r#"
//!     (module (func (export "add") (param i32 i32) (result i32)
//!         local.get 0 local.get 1 i32.add))
//!     (assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 3))
//! "#);
//! assert_eq!((report.passed, report.failed()), (2, 0));
//! # Ok::<(), strata::Error>(())
//! ```

mod messages;
mod spectest;
mod values;

use crate::{Config, Engine, Instance, Linker, Module, Result, Store, Strategy, Trap, Val};
use anyhow::{anyhow, bail, Context as _};
use std::collections::HashMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use wast::parser::{self, ParseBuffer};
use wast::{QuoteWat, Wast, WastDirective, WastExecute, WastInvoke, Wat};

/// Runs spec scripts against one engine; modules registered by one script stay visible to
/// the next script run in the same context.
pub struct WastContext {
    engine: Engine,
    store: Store<()>,
    linker: Linker<()>,
    /// The instance unnamed `invoke`/`get`/`register` refer to.
    current: Option<Slot>,
    /// Instances by `$id`.
    instances: HashMap<String, Slot>,
    /// `module definition`s by `$id`, and the latest one.
    definitions: HashMap<String, Module>,
    last_definition: Option<Module>,
    /// Set when a directive panicked: the store may be inconsistent, so nothing more runs.
    poisoned: Option<String>,
    spectest_print: Arc<AtomicBool>,
}

/// An instance, or why there is none (the module defining it failed).
type Slot = std::result::Result<Instance, String>;

/// What running a script did.
#[derive(Debug, Default)]
pub struct WastReport {
    /// Directives that did what the script asserts.
    pub passed: usize,
    /// Directives that did not, in script order.
    pub failures: Vec<DirectiveFailure>,
    /// Directives of unsupported proposals, in script order.
    pub skipped: Vec<SkippedDirective>,
    /// Directives never run because an earlier one panicked (they count as failed).
    pub not_run: usize,
}

impl WastReport {
    /// Directives that failed, including those not run after a panic.
    pub fn failed(&self) -> usize {
        self.failures.len() + self.not_run
    }
}

/// A directive whose assertion did not hold.
#[derive(Debug, Clone)]
pub struct DirectiveFailure {
    /// 1-based position of the directive in the script.
    pub line: usize,
    pub column: usize,
    /// The directive kind (`assert_return`, `module`, ...).
    pub directive: &'static str,
    pub message: String,
}

impl fmt::Display for DirectiveFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.line, self.column, self.directive, self.message
        )
    }
}

/// A directive of a proposal Strata does not support.
#[derive(Debug, Clone)]
pub struct SkippedDirective {
    pub line: usize,
    pub column: usize,
    pub directive: &'static str,
    pub reason: &'static str,
}

enum Outcome {
    Passed,
    Skipped(&'static str),
}

/// The result of executing an action: the values, or the runtime's error (a trap, a failed
/// instantiation). Errors of the harness itself (unknown module, missing export) are the
/// outer `Err` of the functions returning this.
type Executed = std::result::Result<Vec<Val>, anyhow::Error>;

impl WastContext {
    /// A context whose engine uses `strategy`, with the `spectest` module defined. Fails if
    /// the strategy's tier is not available.
    pub fn new(strategy: Strategy) -> Result<WastContext> {
        let mut config = Config::new();
        config.strategy(strategy);
        WastContext::with_config(&config)
    }

    /// A context whose engine uses `config` (tier thresholds, memory settings, ...).
    pub fn with_config(config: &Config) -> Result<WastContext> {
        let engine = Engine::new(config)?;
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new(&engine);
        // Scripts register several modules under one name (e.g. `register "M"` twice).
        linker.allow_shadowing(true);
        let spectest_print = Arc::new(AtomicBool::new(false));
        spectest::define(&mut linker, &mut store, spectest_print.clone())?;
        Ok(WastContext {
            engine,
            store,
            linker,
            current: None,
            instances: HashMap::new(),
            definitions: HashMap::new(),
            last_definition: None,
            poisoned: None,
            spectest_print,
        })
    }

    /// Makes the `spectest` print functions write to stdout (off by default).
    pub fn set_spectest_print(&mut self, print: bool) {
        self.spectest_print.store(print, Ordering::Relaxed);
    }

    /// Runs every directive of `text`; `name` is only used in messages. Never panics on bad
    /// input: a script that does not parse gives one failure at the parse error, and a panic
    /// of the runtime is caught, reported at its directive, and ends the script (the
    /// remaining directives count as not run).
    pub fn run_script(&mut self, name: &str, text: &str) -> WastReport {
        let mut report = WastReport::default();
        let mut lexer = wast::lexer::Lexer::new(text);
        lexer.allow_confusing_unicode(true);
        let buffer = match ParseBuffer::new_with_lexer(lexer) {
            Ok(buffer) => buffer,
            Err(e) => {
                report.failures.push(parse_failure(name, text, e));
                return report;
            }
        };
        let directives = match parser::parse::<Wast<'_>>(&buffer) {
            Ok(wast) => wast.directives,
            Err(e) => {
                report.failures.push(parse_failure(name, text, e));
                return report;
            }
        };
        let total = directives.len();
        for (index, directive) in directives.into_iter().enumerate() {
            let (line, column) = directive.span().linecol_in(text);
            let (line, column) = (line + 1, column + 1);
            let kind = directive_name(&directive);
            let outcome = match &self.poisoned {
                Some(why) => Err(anyhow!("not run: {why}")),
                None => {
                    match catch_unwind(AssertUnwindSafe(|| self.run_directive(directive, line))) {
                        Ok(outcome) => outcome,
                        Err(payload) => {
                            let msg = format!(
                                "the runtime panicked at {name}:{line}: {}",
                                panic_message(&*payload)
                            );
                            report.failures.push(DirectiveFailure {
                                line,
                                column,
                                directive: kind,
                                message: msg.clone(),
                            });
                            report.not_run = total - index - 1;
                            self.poisoned = Some(msg);
                            break;
                        }
                    }
                }
            };
            match outcome {
                Ok(Outcome::Passed) => report.passed += 1,
                Ok(Outcome::Skipped(reason)) => report.skipped.push(SkippedDirective {
                    line,
                    column,
                    directive: kind,
                    reason,
                }),
                Err(e) => report.failures.push(DirectiveFailure {
                    line,
                    column,
                    directive: kind,
                    message: one_line(&e),
                }),
            }
        }
        report
    }

    fn run_directive(&mut self, directive: WastDirective<'_>, line: usize) -> Result<Outcome> {
        use WastDirective as D;
        match directive {
            D::Module(mut module) => {
                let name = module.name().map(|id| id.name().to_string());
                let result = self.compile(&mut module).and_then(|m| self.instantiate(&m));
                self.set_current(name, result.as_ref().ok().copied(), line);
                result?;
            }
            D::ModuleDefinition(mut module) => {
                let name = module.name().map(|id| id.name().to_string());
                let compiled = self.compile(&mut module)?;
                if let Some(name) = name {
                    self.definitions.insert(name, compiled.clone());
                }
                self.last_definition = Some(compiled);
            }
            D::ModuleInstance {
                instance, module, ..
            } => {
                let definition =
                    match module {
                        Some(id) => self.definitions.get(id.name()).cloned().ok_or_else(|| {
                            anyhow!("no module definition named `${}`", id.name())
                        })?,
                        None => self
                            .last_definition
                            .clone()
                            .ok_or_else(|| anyhow!("no module definition to instantiate"))?,
                    };
                let name = instance.map(|id| id.name().to_string());
                let result = self.instantiate(&definition);
                self.set_current(name, result.as_ref().ok().copied(), line);
                result?;
            }
            D::Register { name, module, .. } => {
                let instance = self.instance(module.map(|m| m.name()))?;
                self.linker
                    .instance(&mut self.store, name, instance)
                    .with_context(|| format!("failed to register `{name}`"))?;
            }
            D::Invoke(invoke) => {
                self.invoke(&invoke)??;
            }
            D::AssertReturn { exec, results, .. } => {
                let values = self
                    .execute(exec)?
                    .map_err(|e| anyhow!("expected values, got error: {}", one_line(&e)))?;
                if values.len() != results.len() {
                    bail!("expected {} result(s), got {}", results.len(), values.len());
                }
                for (i, (actual, expected)) in values.iter().zip(&results).enumerate() {
                    values::check(&self.store, actual, expected)
                        .with_context(|| format!("result {i}"))?;
                }
            }
            D::AssertTrap { exec, message, .. } => {
                let result = self.execute(exec)?;
                self.expect_trap(result, message)?;
            }
            D::AssertExhaustion { call, message, .. } => {
                let result = self.invoke(&call)?;
                self.expect_trap(result, message)?;
            }
            D::AssertInvalid {
                mut module,
                message,
                ..
            } => {
                let error = match self.compile(&mut module) {
                    Ok(_) => bail!("expected an invalid module (\"{message}\"), but it compiled"),
                    Err(e) => e,
                };
                expect_error_message(&error, message)?;
            }
            D::AssertMalformed {
                mut module,
                message,
                ..
            } => {
                // Only the rejection is checked, not the message (as wasmtime's harness does
                // for this suite): text modules carry the reference text parser's messages
                // ("unknown operator"), and binary decoding is wasmparser's, whose wording and
                // order of checks differ from the reference decoder's in dozens of places
                // ("section out of order" for "unexpected content after last section").
                if self.compile(&mut module).is_ok() {
                    bail!("expected a malformed module (\"{message}\"), but it compiled");
                }
            }
            D::AssertUnlinkable {
                module, message, ..
            } => {
                let module = self.compile(&mut QuoteWat::Wat(module))?;
                match self.instantiate(&module) {
                    Ok(_) => bail!("expected a link error (\"{message}\"), but it instantiated"),
                    Err(error) => {
                        if error.downcast_ref::<Trap>().is_some() {
                            bail!(
                                "expected a link error (\"{message}\"), got a trap: {}",
                                one_line(&error)
                            );
                        }
                        expect_error_message(&error, message)?;
                    }
                }
            }
            D::AssertException { .. } => {
                return Ok(Outcome::Skipped("exception handling is not supported"))
            }
            D::AssertSuspension { .. } => {
                return Ok(Outcome::Skipped("stack switching is not supported"))
            }
            D::Thread(_) | D::Wait { .. } => {
                return Ok(Outcome::Skipped("threads are not supported"))
            }
            D::AssertInvalidCustom { .. } | D::AssertMalformedCustom { .. } => {
                return Ok(Outcome::Skipped(
                    "custom-section annotations are not supported",
                ))
            }
        }
        Ok(Outcome::Passed)
    }

    /// Records the instance a module directive produced (or that it failed).
    fn set_current(&mut self, name: Option<String>, instance: Option<Instance>, line: usize) {
        let slot: Slot = instance.ok_or_else(|| format!("the module at line {line} failed"));
        if let Some(name) = name {
            self.instances.insert(name, slot.clone());
        }
        self.current = Some(slot);
    }

    /// The instance called `$name`, or the current one.
    fn instance(&self, name: Option<&str>) -> Result<Instance> {
        let slot = match name {
            Some(name) => self
                .instances
                .get(name)
                .ok_or_else(|| anyhow!("no module named `${name}`"))?,
            None => self
                .current
                .as_ref()
                .ok_or_else(|| anyhow!("no module has been defined"))?,
        };
        slot.clone().map_err(|why| anyhow!("{why}"))
    }

    /// Compiles a script module: a binary as written, text after encoding (for `module
    /// quote`, after parsing the quoted text).
    fn compile(&self, module: &mut QuoteWat<'_>) -> Result<Module> {
        if let QuoteWat::Wat(Wat::Component(_)) | QuoteWat::QuoteComponent(..) = module {
            bail!("components are not supported");
        }
        let binary = module
            .encode()
            .map_err(|e| anyhow!("text format: {}", e.message()))?;
        let module = Module::from_binary(&self.engine, &binary)?;
        // Every function must compile: no silent fallback to the interpreter.
        match self.engine.config().strategy {
            Strategy::Baseline => module.compile_baseline_eagerly()?,
            Strategy::Optimizing => module.compile_optimizing_eagerly()?,
            Strategy::Tiered | Strategy::Interpreter => {}
        }
        Ok(module)
    }

    fn instantiate(&mut self, module: &Module) -> Result<Instance> {
        self.linker.instantiate(&mut self.store, module)
    }

    /// Calls the export `invoke` names.
    fn invoke(&mut self, invoke: &WastInvoke<'_>) -> Result<Executed> {
        let instance = self.instance(invoke.module.map(|m| m.name()))?;
        let func = instance
            .get_func(&mut self.store, invoke.name)
            .ok_or_else(|| anyhow!("no function export `{}`", invoke.name))?;
        let args = invoke
            .args
            .iter()
            .map(|arg| values::arg(&mut self.store, arg))
            .collect::<Result<Vec<_>>>()?;
        let ty = func.ty(&self.store);
        let mut results: Vec<Val> = ty
            .results()
            .map(|t| Val::default_for_ty(&t).unwrap_or(Val::I32(0)))
            .collect();
        Ok(func
            .call(&mut self.store, &args, &mut results)
            .map(|()| results))
    }

    fn execute(&mut self, exec: WastExecute<'_>) -> Result<Executed> {
        match exec {
            WastExecute::Invoke(invoke) => self.invoke(&invoke),
            WastExecute::Get { module, global, .. } => {
                let instance = self.instance(module.map(|m| m.name()))?;
                let global = instance
                    .get_global(&mut self.store, global)
                    .ok_or_else(|| anyhow!("no global export `{global}`"))?;
                Ok(Ok(vec![global.get(&mut self.store)]))
            }
            WastExecute::Wat(module) => {
                let module = self.compile(&mut QuoteWat::Wat(module))?;
                Ok(self.instantiate(&module).map(|_| Vec::new()))
            }
        }
    }

    fn expect_trap(&self, result: Executed, message: &str) -> Result<()> {
        let error = match result {
            Ok(values) => {
                let got: Vec<String> = values
                    .iter()
                    .map(|v| values::describe(&self.store, v))
                    .collect();
                bail!("expected trap \"{message}\", got [{}]", got.join(", "))
            }
            Err(error) => error,
        };
        match error.downcast_ref::<Trap>() {
            Some(trap) if messages::trap_matches(message, *trap) => Ok(()),
            Some(trap) => bail!("expected trap \"{message}\", got trap \"{trap}\""),
            None => bail!(
                "expected trap \"{message}\", got a non-trap error: {}",
                one_line(&error)
            ),
        }
    }
}

fn expect_error_message(error: &anyhow::Error, expected: &str) -> Result<()> {
    let actual = one_line(error);
    if messages::error_matches(expected, &actual) {
        Ok(())
    } else {
        bail!("expected error \"{expected}\", got \"{actual}\"")
    }
}

/// An error with its whole context chain, on one line.
fn one_line(error: &anyhow::Error) -> String {
    format!("{error:#}").replace('\n', " ")
}

fn parse_failure(name: &str, text: &str, mut error: wast::Error) -> DirectiveFailure {
    let (line, column) = error.span().linecol_in(text);
    error.set_text(text);
    DirectiveFailure {
        line: line + 1,
        column: column + 1,
        directive: "script",
        message: format!("{name} does not parse: {}", error.message()),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}

fn directive_name(directive: &WastDirective<'_>) -> &'static str {
    use WastDirective as D;
    match directive {
        D::Module(_) => "module",
        D::ModuleDefinition(_) => "module definition",
        D::ModuleInstance { .. } => "module instance",
        D::AssertMalformed { .. } => "assert_malformed",
        D::AssertInvalid { .. } => "assert_invalid",
        D::AssertInvalidCustom { .. } => "assert_invalid_custom",
        D::Register { .. } => "register",
        D::Invoke(_) => "invoke",
        D::AssertTrap { .. } => "assert_trap",
        D::AssertReturn { .. } => "assert_return",
        D::AssertExhaustion { .. } => "assert_exhaustion",
        D::AssertUnlinkable { .. } => "assert_unlinkable",
        D::AssertException { .. } => "assert_exception",
        D::AssertSuspension { .. } => "assert_suspension",
        D::Thread(_) => "thread",
        D::Wait { .. } => "wait",
        D::AssertMalformedCustom { .. } => "assert_malformed_custom",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(script: &str) -> WastReport {
        let mut cx = WastContext::new(Strategy::Interpreter).expect("the interpreter exists");
        cx.run_script("test.wast", script)
    }

    fn messages(report: &WastReport) -> Vec<String> {
        report.failures.iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn unparsable_script_is_one_failure_at_its_position() {
        let report = run("(module)\n  (assert_return (invoke \"f\")");
        assert_eq!(report.passed, 0);
        assert_eq!(report.failed(), 1);
        assert_eq!(report.failures[0].line, 2, "{:?}", messages(&report));
        assert_eq!(report.failures[0].directive, "script");
    }

    #[test]
    fn module_assertions() {
        let report = run(r#"
            (assert_invalid (module (func (result i32) (i64.const 0))) "type mismatch")
            (assert_malformed (module quote "(func (bogus))") "unknown operator")
            (assert_malformed (module binary "\00asm\02\00\00\00") "unknown binary version")
            (assert_unlinkable (module (import "nowhere" "f" (func))) "unknown import")
            (assert_unlinkable
              (module (import "spectest" "global_i32" (global i64))) "incompatible import type")
        "#);
        assert_eq!(
            (report.passed, report.failed()),
            (5, 0),
            "{:?}",
            messages(&report)
        );
    }

    #[test]
    fn wrong_module_assertions_fail() {
        let report = run(r#"
            (assert_invalid (module (func (result i32) (i32.const 0))) "type mismatch")
            (assert_invalid (module (func (result i32) (i64.const 0))) "unknown memory")
            (assert_malformed (module (func)) "anything")
            (assert_unlinkable (module (import "spectest" "print" (func))) "unknown import")
        "#);
        assert_eq!(
            (report.passed, report.failed()),
            (0, 4),
            "{:?}",
            messages(&report)
        );
        assert!(report.failures[0].message.contains("but it compiled"));
        assert!(report.failures[1]
            .message
            .contains("expected error \"unknown memory\""));
        assert_eq!(report.failures[3].line, 5);
    }

    #[test]
    fn values_traps_and_their_mismatches() {
        let report = run(r#"(module $m
  (global (export "g") i32 (i32.const 7))
  (func (export "nan") (result f32) (f32.div (f32.const 0) (f32.const 0)))
  (func (export "id") (param externref) (result externref) (local.get 0))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1))))
(assert_return (get "g") (i32.const 7))
(assert_return (invoke "nan") (f32.const nan:canonical))
(assert_return (invoke "id" (ref.extern 3)) (ref.extern 3))
(assert_return (invoke "id" (ref.null extern)) (ref.null extern))
(assert_trap (invoke "div" (i32.const 1) (i32.const 0)) "integer divide by zero")
(assert_return (invoke $m "div" (i32.const 7) (i32.const 2)) (i32.const 3))
(assert_return (get "g") (i32.const 8))
(assert_return (invoke "id" (ref.extern 3)) (ref.extern 4))
(assert_trap (invoke "div" (i32.const 1) (i32.const 0)) "integer overflow")
(assert_trap (invoke "div" (i32.const 1) (i32.const 1)) "integer divide by zero")
"#);
        let failures = messages(&report);
        assert_eq!((report.passed, report.failed()), (7, 4), "{failures:?}");
        assert!(
            failures[0].starts_with("12:2: assert_return: "),
            "{failures:?}"
        );
        assert!(failures[0].contains("expected i32 8"), "{failures:?}");
        assert!(failures[1].contains("expected ref.extern 4, got ref.extern 3"));
        assert!(failures[2].contains("got trap \"integer divide by zero\""));
        assert!(failures[3].contains("got [i32 1"), "{failures:?}");
    }

    #[test]
    fn failed_module_fails_the_directives_using_it() {
        let report = run(r#"(module (func (export "f")))
(module $bad (func (export "f") (result i32) (i64.const 0)))
(invoke "f")
(register "m" $bad)
"#);
        let failures = messages(&report);
        assert_eq!((report.passed, report.failed()), (1, 3), "{failures:?}");
        assert!(
            failures[1].contains("the module at line 2 failed"),
            "{failures:?}"
        );
        assert!(
            failures[2].contains("the module at line 2 failed"),
            "{failures:?}"
        );
    }

    #[test]
    fn registered_modules_link_and_unsupported_directives_are_counted() {
        let report = run(
            r#"(module $a (func (export "seven") (result i32) (i32.const 7)))
(register "a" $a)
(module (import "a" "seven" (func $s (result i32))) (func (export "s") (result i32) (call $s)))
(assert_return (invoke "s") (i32.const 7))
(assert_exception (invoke "s"))
"#,
        );
        assert_eq!(
            (report.passed, report.failed()),
            (4, 0),
            "{:?}",
            messages(&report)
        );
        assert_eq!(report.skipped.len(), 1);
        assert_eq!(report.skipped[0].line, 5);
    }

    #[test]
    fn trap_spellings_cover_start_traps() {
        let report =
            run(r#"(assert_trap (module (func $s unreachable) (start $s)) "unreachable")"#);
        assert_eq!(
            (report.passed, report.failed()),
            (1, 0),
            "{:?}",
            messages(&report)
        );
    }
}
