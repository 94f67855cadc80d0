//! Matching our error messages against the ones spec scripts expect.
//!
//! The rule is "our message contains the expected text". Where the spec suite spells a
//! message differently from us, the difference is listed here, explicitly, one line each,
//! as wasmtime's harness does; nothing else is accepted.

use crate::Trap;

/// Traps whose spec spelling our [`Trap`] display does not contain.
///
/// `(expected text starts with, trap accepted)`.
const TRAP_SPELLINGS: &[(&str, Trap)] = &[
    // `bulk.wast` and others name the element index ("uninitialized element 2"); our trap
    // carries no index.
    ("uninitialized element", Trap::IndirectCallToNull),
    // Spec 1.0 reported table accesses past the end as "undefined element"; 2.0 scripts use
    // both spellings for the same trap.
    ("undefined element", Trap::TableOutOfBounds),
    ("out of bounds table access", Trap::TableOutOfBounds),
];

/// Whether `trap` is the trap a script expects when it says `expected`.
pub(crate) fn trap_matches(expected: &str, trap: Trap) -> bool {
    trap.to_string().contains(expected)
        || TRAP_SPELLINGS
            .iter()
            .any(|(prefix, t)| *t == trap && expected.starts_with(prefix))
}

/// Validation messages where wasmparser's wording differs from the spec's.
///
/// `(spec message, wasmparser message fragment)`.
const ERROR_SPELLINGS: &[(&str, &str)] = &[
    // memory.wast: wasmparser states the limit as "0x10000 65536-byte pages".
    (
        "memory size must be at most 65536 pages (4GiB)",
        "memory size must be at most 0x10000",
    ),
];

/// Whether the error text `actual` (the whole context chain) says what `expected` says.
pub(crate) fn error_matches(expected: &str, actual: &str) -> bool {
    actual.contains(expected)
        || ERROR_SPELLINGS
            .iter()
            .any(|(spec, ours)| expected.contains(spec) && actual.contains(ours))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trap_spellings() {
        assert!(trap_matches("unreachable", Trap::UnreachableCodeReached));
        assert!(trap_matches(
            "uninitialized element 2",
            Trap::IndirectCallToNull
        ));
        assert!(trap_matches("undefined element", Trap::TableOutOfBounds));
        assert!(trap_matches(
            "out of bounds table access",
            Trap::TableOutOfBounds
        ));
        assert!(!trap_matches("undefined element", Trap::MemoryOutOfBounds));
        assert!(!trap_matches(
            "integer overflow",
            Trap::IntegerDivisionByZero
        ));
    }

    #[test]
    fn error_spellings() {
        assert!(error_matches(
            "type mismatch",
            "func 0 failed: type mismatch: expected i32"
        ));
        assert!(!error_matches("unknown memory", "type mismatch"));
    }
}
