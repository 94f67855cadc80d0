//! Eager validation of function bodies, on several threads when there is enough code.
//!
//! Why: validating the bodies is most of loading a module (`medium`, 287 KB: 18.8M of the
//! 20.4M instructions from bytes to the first result under the baseline), and bodies are
//! independent of each other once the sections before the code section are known. The
//! module's parse collects them, then they are validated in contiguous runs, one per CPU,
//! each on its own thread with its own allocations. Smaller modules stay on the loading
//! thread: a thread costs tens of microseconds to start.
//!
//! Errors are the same as one pass in order would give: the first invalid body in module
//! order (runs are contiguous and joined in order), and an invalid body before a malformed
//! later section is reported rather than that section.

use std::sync::{Mutex, OnceLock};
use wasmparser::{
    BinaryReaderError, FuncToValidate, FuncValidatorAllocations, FunctionBody, ValidatorResources,
};

/// A body to validate: what wasmparser's module validator handed out for it, and its bytes.
pub(crate) type PendingBody<'a> = (FuncToValidate<ValidatorResources>, FunctionBody<'a>);

/// Bytes of function bodies from which validation is split across threads.
const PARALLEL_BYTES: usize = 64 << 10;

/// Validates `bodies` (in module order), returning the first error in that order.
pub(crate) fn validate<'a>(bodies: Vec<PendingBody<'a>>) -> Result<(), BinaryReaderError> {
    let total: usize = bodies.iter().map(|(_, body)| body_len(body)).sum();
    let threads = match total >= PARALLEL_BYTES {
        true => parallelism().min(bodies.len()),
        false => 1,
    };
    if threads <= 1 {
        return validate_run(bodies);
    }
    // Each run in a slot its thread takes it from; a run whose thread could not be started
    // stays there and is validated here.
    let runs: Vec<Mutex<Option<Vec<PendingBody<'a>>>>> = split(bodies, total, threads)
        .into_iter()
        .map(|run| Mutex::new(Some(run)))
        .collect();
    let take = |slot: &Mutex<Option<Vec<PendingBody<'a>>>>| {
        slot.lock().unwrap_or_else(|e| e.into_inner()).take()
    };
    std::thread::scope(|scope| {
        let others: Vec<_> = runs[1..]
            .iter()
            .map(|slot| {
                std::thread::Builder::new()
                    .name("strata-validate".into())
                    .spawn_scoped(scope, move || take(slot).map_or(Ok(()), validate_run))
                    .ok()
            })
            .collect();
        take(&runs[0]).map_or(Ok(()), validate_run)?;
        for (slot, thread) in runs[1..].iter().zip(others) {
            if let Some(thread) = thread {
                thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            }
            if let Some(run) = take(slot) {
                validate_run(run)?;
            }
        }
        Ok(())
    })
}

/// Validates one run of bodies in order, reusing one set of allocations.
fn validate_run(bodies: Vec<PendingBody<'_>>) -> Result<(), BinaryReaderError> {
    let mut allocations = FuncValidatorAllocations::default();
    for (func, body) in bodies {
        let mut validator = func.into_validator(allocations);
        validator.validate(&body)?;
        allocations = validator.into_allocations();
    }
    Ok(())
}

/// `bodies` in `threads` contiguous runs of about `total / threads` bytes each.
fn split<'a>(
    bodies: Vec<PendingBody<'a>>,
    total: usize,
    threads: usize,
) -> Vec<Vec<PendingBody<'a>>> {
    let share = total.div_ceil(threads);
    let mut runs = vec![Vec::new()];
    let mut bytes = 0;
    for pending in bodies {
        if bytes >= share && runs.len() < threads {
            runs.push(Vec::new());
            bytes = 0;
        }
        bytes += body_len(&pending.1);
        runs.last_mut().expect("runs start with one").push(pending);
    }
    runs
}

/// Bytes of a body.
fn body_len(body: &FunctionBody<'_>) -> usize {
    let range = body.range();
    (range.end - range.start) as usize
}

/// How many threads validation uses: one per CPU, counted once (a few syscalls).
fn parallelism() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

#[cfg(test)]
mod tests {
    use crate::translate_module;

    /// A module of `count` functions `() -> i32` of about 300 bytes each (120 KB of code for
    /// 400: validated on several threads where there are several CPUs); those in `invalid`
    /// end without their result. `trailer` is appended after the code section.
    fn module(count: usize, invalid: &[usize], trailer: &[u8]) -> Vec<u8> {
        let mut wat = String::from("(module");
        for i in 0..count {
            wat.push_str("\n  (func (result i32)");
            wat.push_str(&" i32.const 1 drop".repeat(100));
            if !invalid.contains(&i) {
                wat.push_str(" i32.const 7");
            }
            wat.push(')');
        }
        wat.push(')');
        let mut wasm = wat::parse_str(&wat).expect("the test's text is well formed");
        wasm.extend_from_slice(trailer);
        wasm
    }

    #[test]
    fn valid_bodies_validate_in_parallel_and_alone() {
        assert!(translate_module(&module(400, &[], &[])).is_ok());
        assert!(translate_module(&module(3, &[], &[])).is_ok());
    }

    /// Whichever thread finds which invalid body, the error is the first one in module order,
    /// as one pass would report it.
    #[test]
    fn the_first_invalid_body_is_reported() {
        let first_only = translate_module(&module(400, &[150], &[]))
            .unwrap_err()
            .to_string();
        assert!(first_only.contains("type mismatch"), "{first_only}");
        for invalid in [
            &[150, 350][..],
            &[150, 151, 399],
            &[150, 200, 250, 300, 350],
        ] {
            let err = translate_module(&module(400, invalid, &[]))
                .unwrap_err()
                .to_string();
            assert_eq!(err, first_only, "invalid bodies {invalid:?}");
        }
        // In a small module too.
        let small = translate_module(&module(4, &[1, 3], &[]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            small,
            translate_module(&module(4, &[1], &[]))
                .unwrap_err()
                .to_string()
        );
    }

    /// An invalid body is reported before a malformed section after the code section, as a
    /// pass in order would.
    #[test]
    fn an_invalid_body_comes_before_a_later_malformed_section() {
        // A data section whose count runs past the end.
        let malformed = [11, 1, 0xff];
        let body = translate_module(&module(400, &[7], &[]))
            .unwrap_err()
            .to_string();
        let both = translate_module(&module(400, &[7], &malformed))
            .unwrap_err()
            .to_string();
        assert_eq!(both, body);
        // With every body valid, the malformed section is what is reported.
        let section = translate_module(&module(400, &[], &malformed))
            .unwrap_err()
            .to_string();
        assert_ne!(section, body);
    }
}
