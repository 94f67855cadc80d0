//! The one list of trap kinds, shared by every tier.

use std::fmt;
use std::num::NonZeroU8;

/// Why wasm execution stopped abnormally.
///
/// Encoded as one non-zero byte (see [`TrapCode::as_raw`]) so JIT trap tables and the
/// interpreter's `Result<_, TrapCode>` stay small; zero means "no trap" wherever a raw code
/// is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TrapCode {
    /// The call stack (native or the interpreter's) was exhausted.
    StackOverflow = 1,
    /// A load or store was out of bounds of its linear memory.
    MemoryOutOfBounds,
    /// A table access was out of bounds.
    TableOutOfBounds,
    /// `call_indirect` reached an element that is not initialized (null).
    IndirectCallToNull,
    /// `call_indirect` reached a function of the wrong signature.
    BadSignature,
    /// An integer arithmetic operation overflowed (`i32.div_s` of MIN by -1).
    IntegerOverflow,
    /// Integer division or remainder by zero.
    IntegerDivisionByZero,
    /// A float-to-int conversion of NaN or an out-of-range value.
    BadConversionToInteger,
    /// `unreachable` was executed.
    UnreachableCodeReached,
    /// A null reference was used where a non-null one was required.
    NullReference,
    /// Misaligned atomic access (reserved for threads).
    HeapMisaligned,
    /// Execution ran out of fuel (reserved).
    OutOfFuel,
    /// A host function returned an error; the error itself travels beside the code.
    HostError,
    /// A call reached a function whose body failed validation on first use (with
    /// `Config::lazy_validation`); the error's chain carries the validation message.
    InvalidFunction,
}

impl TrapCode {
    const ALL: [TrapCode; 14] = [
        TrapCode::StackOverflow,
        TrapCode::MemoryOutOfBounds,
        TrapCode::TableOutOfBounds,
        TrapCode::IndirectCallToNull,
        TrapCode::BadSignature,
        TrapCode::IntegerOverflow,
        TrapCode::IntegerDivisionByZero,
        TrapCode::BadConversionToInteger,
        TrapCode::UnreachableCodeReached,
        TrapCode::NullReference,
        TrapCode::HeapMisaligned,
        TrapCode::OutOfFuel,
        TrapCode::HostError,
        TrapCode::InvalidFunction,
    ];

    /// The one-byte encoding (never zero).
    pub fn as_raw(self) -> NonZeroU8 {
        NonZeroU8::new(self as u8).expect("trap codes start at 1")
    }

    /// Decodes [`TrapCode::as_raw`]; `None` for zero or an unknown byte.
    pub fn from_raw(raw: u8) -> Option<TrapCode> {
        TrapCode::ALL.get(usize::from(raw).checked_sub(1)?).copied()
    }

    /// The message the spec test suite expects for this trap.
    pub fn message(self) -> &'static str {
        match self {
            TrapCode::StackOverflow => "call stack exhausted",
            TrapCode::MemoryOutOfBounds => "out of bounds memory access",
            TrapCode::TableOutOfBounds => "undefined element: out of bounds table access",
            TrapCode::IndirectCallToNull => "uninitialized element",
            TrapCode::BadSignature => "indirect call type mismatch",
            TrapCode::IntegerOverflow => "integer overflow",
            TrapCode::IntegerDivisionByZero => "integer divide by zero",
            TrapCode::BadConversionToInteger => "invalid conversion to integer",
            TrapCode::UnreachableCodeReached => "unreachable",
            TrapCode::NullReference => "null reference",
            TrapCode::HeapMisaligned => "misaligned memory access",
            TrapCode::OutOfFuel => "all fuel consumed",
            TrapCode::HostError => "host function error",
            TrapCode::InvalidFunction => "invalid function body",
        }
    }
}

impl fmt::Display for TrapCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for TrapCode {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_round_trips() {
        for code in TrapCode::ALL {
            assert_eq!(TrapCode::from_raw(code.as_raw().get()), Some(code));
        }
        assert_eq!(TrapCode::from_raw(0), None);
        assert_eq!(TrapCode::from_raw(200), None);
    }
}
