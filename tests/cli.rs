//! The `strata` binary: outputs and exit statuses (0 success, 1 trap or failed script,
//! 2 bad input), run on the shipped examples.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run the strata binary")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts the exit status, showing the output when it differs.
fn assert_status(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

/// A scratch file under Cargo's per-test temporary directory.
fn scratch(name: &str, contents: &[u8]) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, contents).expect("write a scratch file");
    path
}

#[test]
fn run_invokes_with_arguments() {
    let out = strata(&["run", "examples/fib.wat", "--invoke", "fib", "20"]);
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "6765\n");

    let out = strata(&["run", "examples/fib.wat", "--invoke", "fib_iter", "90"]);
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "2880067194370816120\n");
}

#[test]
fn run_prints_floats_like_wasmtime() {
    let out = strata(&["run", "examples/math.wat", "--invoke", "hypot", "3", "4"]);
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "5\n");

    let out = strata(&["run", "examples/math.wat", "--invoke", "average", "1", "2"]);
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "1.5\n");

    let out = strata(&["run", "examples/math.wat", "--invoke", "hypot", "-inf", "0"]);
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "inf\n");
}

#[test]
fn run_prints_each_result_on_its_own_line() {
    let out = strata(&["run", "examples/math.wat", "--invoke", "divmod", "17", "5"]);
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "3\n2\n");

    // Negative arguments are values, not options.
    let out = strata(&["run", "examples/math.wat", "--invoke", "divmod", "-17", "5"]);
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "-3\n-2\n");
}

#[test]
fn run_without_invoke_calls_start() {
    let out = strata(&["run", "examples/sieve.wat"]);
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "1229\n");

    let out = strata(&["run", "--tier", "interp", "examples/sieve.wat"]);
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "1229\n");
}

#[test]
fn run_accepts_binary_modules() {
    let binary = wat::parse_file("examples/fib.wat").expect("the example parses");
    let path = scratch("fib.wasm", &binary);
    let out = strata(&["run", path.to_str().unwrap(), "--invoke", "fib", "10"]);
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "55\n");
}

#[test]
fn trap_prints_message_and_exits_1() {
    let out = strata(&["run", "examples/math.wat", "--invoke", "divmod", "1", "0"]);
    assert_status(&out, 1);
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("wasm trap: integer divide by zero"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn optimizing_tier_runs_the_examples() {
    let out = strata(&[
        "run",
        "--tier",
        "optimizing",
        "examples/fib.wat",
        "--invoke",
        "fib",
        "20",
    ]);
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "6765\n");
    let out = strata(&["run", "--tier", "optimizing", "examples/sieve.wat"]);
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "1229\n");
    let out = strata(&[
        "run",
        "--tier",
        "optimizing",
        "examples/math.wat",
        "--invoke",
        "divmod",
        "1",
        "0",
    ]);
    assert_status(&out, 1);
    assert!(
        stderr(&out).contains("integer divide by zero"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn baseline_tier_runs_the_examples() {
    let out = strata(&[
        "run",
        "--tier",
        "baseline",
        "examples/fib.wat",
        "--invoke",
        "fib",
        "20",
    ]);
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "6765\n");
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let garbage = scratch("garbage.wasm", b"\0asm\x01\0\0\0\x01\x05");
    let invalid = scratch(
        "invalid.wat",
        b"(module (func (export \"f\") (result i32) (i64.const 1)))",
    );
    let unparsable = scratch("unparsable.wat", b"(module (func (export \"f\") (bogus)))");
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "no/such/file.wasm"],
            "cannot read no/such/file.wasm",
        ),
        (&["run", garbage.to_str().unwrap()], "offset"),
        (&["run", invalid.to_str().unwrap()], "type mismatch"),
        (&["run", unparsable.to_str().unwrap()], "unparsable.wat:1:"),
        (
            &["run", "examples/fib.wat", "--invoke", "nope"],
            "unknown export `nope`",
        ),
        (
            &["run", "examples/fib.wat", "--invoke", "fib"],
            "takes 1 argument(s) (i32), got 0",
        ),
        (
            &["run", "examples/fib.wat", "--invoke", "fib", "1", "2"],
            "takes 1 argument(s) (i32), got 2",
        ),
        (
            &["run", "examples/fib.wat", "--invoke", "fib", "ten"],
            "argument 1 of `fib` is not a valid i32: `ten`",
        ),
        (
            &["run", "examples/fib.wat", "--invoke", "fib", "4294967296"],
            "not a valid i32",
        ),
        (&["wast", "no/such/script.wast"], "cannot read"),
    ];
    for (args, expected) in cases {
        let out = strata(args);
        assert_status(&out, 2);
        let err = stderr(&out);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn wast_reports_totals() {
    let script = scratch(
        "pass.wast",
        br#"
        (module (func (export "add") (param i32 i32) (result i32)
            local.get 0 local.get 1 i32.add))
        (assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 3))
        (assert_trap (module (func $f unreachable) (start $f)) "unreachable")
        "#,
    );
    let out = strata(&["wast", "--tier", "interp", script.to_str().unwrap()]);
    assert_status(&out, 0);
    assert_eq!(stdout(&out).lines().last(), Some("3 passed, 0 failed"));
}

#[test]
fn wast_failures_name_their_line_and_exit_1() {
    let script = scratch(
        "fail.wast",
        br#"(module (func (export "one") (result i32) i32.const 1))
(assert_return (invoke "one") (i32.const 2))
(assert_return (invoke "one") (i32.const 1))
"#,
    );
    let path = script.to_str().unwrap();
    let out = strata(&["wast", path]);
    assert_status(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("{path}:2:2: assert_return:")),
        "{text}"
    );
    assert!(text.contains("expected i32 2"), "{text}");
    assert_eq!(text.lines().last(), Some("2 passed, 1 failed"));
}

#[test]
fn readme_shows_the_embedding_example_verbatim() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let example = std::fs::read_to_string(root.join("examples/embed.rs")).expect("embed.rs");
    assert!(
        readme.contains(&format!("```rust\n{example}```")),
        "README.md's API example differs from examples/embed.rs (which cargo builds)"
    );
    // The quick start's first command runs a shipped example.
    assert!(readme
        .contains("cargo run -- run examples/fib.wat --invoke fib 20\ncargo test --workspace\n"));
}

#[test]
fn bench_compares_tiers_and_checks_their_results() {
    let out = strata(&[
        "bench",
        "--tiers",
        "interp,baseline,optimizing,tiered",
        "--runs",
        "3",
        "--invoke",
        "fib",
        "examples/fib.wat",
        "15",
    ]);
    assert_status(&out, 0);
    let text = stdout(&out);
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 4, "{text}");
    for (row, tier) in rows
        .iter()
        .zip(["interp", "baseline", "optimizing", "tiered"])
    {
        assert!(row.starts_with(tier), "{text}");
        assert!(row.ends_with(" 610"), "{text}");
    }

    let out = strata(&[
        "bench",
        "--json",
        "--tiers",
        "interp",
        "--runs",
        "2",
        "--invoke",
        "fib",
        "examples/fib.wat",
        "10",
    ]);
    assert_status(&out, 0);
    let json = stdout(&out);
    assert!(
        json.starts_with("{\"agree\":true,\"tiers\":[{\"tier\":\"interp\""),
        "{json}"
    );
    assert!(json.contains("\"result\":[\"55\"]"), "{json}");

    let out = strata(&["bench", "--invoke", "nope", "examples/fib.wat"]);
    assert_status(&out, 2);
    assert!(
        stderr(&out).contains("unknown export `nope`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn run_logs_tier_changes() {
    let out = strata(&[
        "run",
        "--log-tiering",
        "examples/fib.wat",
        "--invoke",
        "fib",
        "25",
    ]);
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "75025\n");
    let log = stderr(&out);
    assert!(
        log.contains("[strata tiering] func 0 fib: interp -> baseline in"),
        "{log}"
    );
}

#[test]
fn lazy_validation_defers_an_invalid_body_to_its_first_call() {
    let wat = br#"(module
      (func (export "good") (result i32) i32.const 7)
      (func (export "bad") (result i32) i64.const 7))"#;
    let file = scratch("lazy.wat", wat);
    let file = file.to_str().unwrap();
    // Eagerly, the module is refused: bad input, exit 2.
    let out = strata(&["run", file, "--invoke", "good"]);
    assert_status(&out, 2);
    assert!(stderr(&out).contains("type mismatch"), "{}", stderr(&out));
    // Lazily, the valid function runs and the invalid one fails when called.
    let out = strata(&["run", "--lazy-validation", file, "--invoke", "good"]);
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "7\n");
    let out = strata(&["run", "--lazy-validation", file, "--invoke", "bad"]);
    assert_status(&out, 1);
    assert!(
        stderr(&out).contains("function 1 failed validation: type mismatch"),
        "{}",
        stderr(&out)
    );
}
