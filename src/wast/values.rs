//! Script values: turning `(i32.const 1)`-style arguments into [`Val`]s and checking results
//! against expected patterns (exact bits, `nan:canonical`, `nan:arithmetic`, references).

use crate::{ExternRef, Result, Store, Val, V128};
use anyhow::{anyhow, bail};
use std::fmt::Write as _;
use wast::core::{AbstractHeapType, HeapType, NanPattern, V128Pattern, WastArgCore, WastRetCore};
use wast::{WastArg, WastRet};

/// Converts a script argument to a value of `store`. `ref.extern N` becomes an [`ExternRef`]
/// holding the `u32` N, which is what [`check`] compares against.
pub(crate) fn arg<T>(store: &mut Store<T>, arg: &WastArg<'_>) -> Result<Val> {
    let WastArg::Core(arg) = arg else {
        bail!("component-model arguments are not supported");
    };
    Ok(match arg {
        WastArgCore::I32(v) => Val::I32(*v),
        WastArgCore::I64(v) => Val::I64(*v),
        WastArgCore::F32(v) => Val::F32(v.bits),
        WastArgCore::F64(v) => Val::F64(v.bits),
        WastArgCore::V128(v) => Val::V128(V128::from(u128::from_le_bytes(v.to_le_bytes()))),
        WastArgCore::RefNull(heap) => match abstract_heap(heap)? {
            AbstractHeapType::Func => Val::FuncRef(None),
            AbstractHeapType::Extern => Val::ExternRef(None),
            other => bail!("unsupported null reference type `{other:?}`"),
        },
        WastArgCore::RefExtern(n) => Val::ExternRef(Some(ExternRef::new(&mut *store, *n)?)),
        WastArgCore::RefHost(_) => bail!("`ref.host` arguments (GC proposal) are not supported"),
    })
}

fn abstract_heap(heap: &HeapType<'_>) -> Result<AbstractHeapType> {
    match heap {
        HeapType::Abstract { shared: false, ty } => Ok(*ty),
        other => bail!("unsupported reference type `{other:?}`"),
    }
}

/// Checks `actual` against `expected`; the error says what differed.
pub(crate) fn check<T>(store: &Store<T>, actual: &Val, expected: &WastRet<'_>) -> Result<()> {
    let WastRet::Core(expected) = expected else {
        bail!("component-model results are not supported");
    };
    if matches(store, actual, expected)? {
        Ok(())
    } else {
        Err(anyhow!(
            "expected {}, got {}",
            describe_expected(expected),
            describe(store, actual)
        ))
    }
}

fn matches<T>(store: &Store<T>, actual: &Val, expected: &WastRetCore<'_>) -> Result<bool> {
    Ok(match (expected, actual) {
        (WastRetCore::I32(e), Val::I32(a)) => e == a,
        (WastRetCore::I64(e), Val::I64(a)) => e == a,
        (WastRetCore::F32(e), Val::F32(a)) => f32_matches(e, *a),
        (WastRetCore::F64(e), Val::F64(a)) => f64_matches(e, *a),
        (WastRetCore::V128(e), Val::V128(a)) => v128_matches(e, a.as_u128()),
        (WastRetCore::RefNull(heap), Val::FuncRef(f)) => {
            f.is_none() && heap_allows(heap.as_ref(), AbstractHeapType::Func)?
        }
        (WastRetCore::RefNull(heap), Val::ExternRef(e)) => {
            e.is_none() && heap_allows(heap.as_ref(), AbstractHeapType::Extern)?
        }
        (WastRetCore::RefFunc(_), Val::FuncRef(f)) => f.is_some(),
        (WastRetCore::RefExtern(n), Val::ExternRef(e)) => match (n, e) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(n), Some(e)) => extern_payload(store, e)? == Some(*n),
        },
        (WastRetCore::Either(options), _) => {
            for option in options {
                if matches(store, actual, option)? {
                    return Ok(true);
                }
            }
            false
        }
        (
            WastRetCore::RefHost(_)
            | WastRetCore::RefAny
            | WastRetCore::RefEq
            | WastRetCore::RefArray
            | WastRetCore::RefStruct
            | WastRetCore::RefI31
            | WastRetCore::RefI31Shared,
            _,
        ) => bail!("GC reference results are not supported"),
        _ => false,
    })
}

fn heap_allows(expected: Option<&HeapType<'_>>, actual: AbstractHeapType) -> Result<bool> {
    match expected {
        None => Ok(true),
        Some(heap) => Ok(abstract_heap(heap)? == actual),
    }
}

/// The `u32` a script-created externref holds (`None` for any other host value).
fn extern_payload<T>(store: &Store<T>, e: &ExternRef) -> Result<Option<u32>> {
    Ok(e.data(store)?
        .and_then(|d| d.downcast_ref::<u32>())
        .copied())
}

fn f32_matches(expected: &NanPattern<wast::token::F32>, bits: u32) -> bool {
    match expected {
        // Canonical: only the quiet bit of the payload is set; sign is free.
        NanPattern::CanonicalNan => bits & 0x7fff_ffff == 0x7fc0_0000,
        // Arithmetic: any NaN with the quiet bit set.
        NanPattern::ArithmeticNan => bits & 0x7fc0_0000 == 0x7fc0_0000,
        NanPattern::Value(v) => v.bits == bits,
    }
}

fn f64_matches(expected: &NanPattern<wast::token::F64>, bits: u64) -> bool {
    match expected {
        NanPattern::CanonicalNan => bits & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000,
        NanPattern::ArithmeticNan => bits & 0x7ff8_0000_0000_0000 == 0x7ff8_0000_0000_0000,
        NanPattern::Value(v) => v.bits == bits,
    }
}

fn v128_matches(expected: &V128Pattern, actual: u128) -> bool {
    let bytes = actual.to_le_bytes();
    let lane = |i: usize, width: usize| -> u64 {
        let mut buf = [0u8; 8];
        buf[..width].copy_from_slice(&bytes[i * width..(i + 1) * width]);
        u64::from_le_bytes(buf)
    };
    match expected {
        V128Pattern::I8x16(e) => (0..16).all(|i| lane(i, 1) as u8 == e[i] as u8),
        V128Pattern::I16x8(e) => (0..8).all(|i| lane(i, 2) as u16 == e[i] as u16),
        V128Pattern::I32x4(e) => (0..4).all(|i| lane(i, 4) as u32 == e[i] as u32),
        V128Pattern::I64x2(e) => (0..2).all(|i| lane(i, 8) == e[i] as u64),
        V128Pattern::F32x4(e) => (0..4).all(|i| f32_matches(&e[i], lane(i, 4) as u32)),
        V128Pattern::F64x2(e) => (0..2).all(|i| f64_matches(&e[i], lane(i, 8))),
    }
}

/// A value as failure messages show it: type, value and, for floats, the bits.
pub(crate) fn describe<T>(store: &Store<T>, val: &Val) -> String {
    match val {
        Val::I32(v) => format!("i32 {v} ({:#x})", *v as u32),
        Val::I64(v) => format!("i64 {v} ({:#x})", *v as u64),
        Val::F32(b) => format!("f32 {} ({b:#010x})", f32::from_bits(*b)),
        Val::F64(b) => format!("f64 {} ({b:#018x})", f64::from_bits(*b)),
        Val::V128(v) => format!("v128 {:#034x}", v.as_u128()),
        Val::FuncRef(None) => "ref.null func".to_string(),
        Val::FuncRef(Some(_)) => "ref.func".to_string(),
        Val::ExternRef(None) => "ref.null extern".to_string(),
        Val::ExternRef(Some(e)) => match extern_payload(store, e) {
            Ok(Some(n)) => format!("ref.extern {n}"),
            _ => "ref.extern (host value)".to_string(),
        },
    }
}

fn describe_expected(expected: &WastRetCore<'_>) -> String {
    fn nan<F>(p: &NanPattern<F>, ty: &str, show: impl Fn(&F) -> String) -> String {
        match p {
            NanPattern::CanonicalNan => format!("{ty} nan:canonical"),
            NanPattern::ArithmeticNan => format!("{ty} nan:arithmetic"),
            NanPattern::Value(v) => format!("{ty} {}", show(v)),
        }
    }
    match expected {
        WastRetCore::I32(v) => format!("i32 {v} ({:#x})", *v as u32),
        WastRetCore::I64(v) => format!("i64 {v} ({:#x})", *v as u64),
        WastRetCore::F32(p) => nan(p, "f32", |v| {
            format!("{} ({:#010x})", f32::from_bits(v.bits), v.bits)
        }),
        WastRetCore::F64(p) => nan(p, "f64", |v| {
            format!("{} ({:#018x})", f64::from_bits(v.bits), v.bits)
        }),
        WastRetCore::V128(p) => format!("v128 {p:?}"),
        WastRetCore::RefNull(None) => "ref.null".to_string(),
        WastRetCore::RefNull(Some(h)) => match abstract_heap(h) {
            Ok(AbstractHeapType::Func) => "ref.null func".to_string(),
            Ok(AbstractHeapType::Extern) => "ref.null extern".to_string(),
            _ => format!("ref.null {h:?}"),
        },
        WastRetCore::RefExtern(None) => "ref.extern (any)".to_string(),
        WastRetCore::RefExtern(Some(n)) => format!("ref.extern {n}"),
        WastRetCore::RefFunc(_) => "ref.func".to_string(),
        WastRetCore::Either(options) => {
            let mut s = "one of [".to_string();
            for (i, o) in options.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                let _ = write!(s, "{}", describe_expected(o));
            }
            s.push(']');
            s
        }
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat32(p: NanPattern<wast::token::F32>, bits: u32) -> bool {
        f32_matches(&p, bits)
    }

    #[test]
    fn nan_patterns() {
        // Canonical NaN of either sign matches both patterns.
        for bits in [0x7fc0_0000u32, 0xffc0_0000] {
            assert!(pat32(NanPattern::CanonicalNan, bits));
            assert!(pat32(NanPattern::ArithmeticNan, bits));
        }
        // A quiet NaN with payload is arithmetic but not canonical.
        assert!(!pat32(NanPattern::CanonicalNan, 0x7fc0_0001));
        assert!(pat32(NanPattern::ArithmeticNan, 0x7fc0_0001));
        // A signalling NaN is neither; nor is infinity.
        assert!(!pat32(NanPattern::ArithmeticNan, 0x7fa0_0000));
        assert!(!pat32(NanPattern::ArithmeticNan, 0x7f80_0000));
        assert!(f64_matches(
            &NanPattern::CanonicalNan,
            0xfff8_0000_0000_0000
        ));
        assert!(!f64_matches(
            &NanPattern::CanonicalNan,
            0x7ff8_0000_0000_0001
        ));
        assert!(f64_matches(
            &NanPattern::ArithmeticNan,
            0x7ff8_0000_0000_0001
        ));
        assert!(!f64_matches(
            &NanPattern::ArithmeticNan,
            0x7ff4_0000_0000_0000
        ));
    }

    #[test]
    fn exact_float_bits() {
        let one = wast::token::F32 { bits: 0x3f80_0000 };
        assert!(pat32(NanPattern::Value(one), 0x3f80_0000));
        // Negative zero is not zero.
        let zero = wast::token::F32 { bits: 0 };
        assert!(!pat32(NanPattern::Value(zero), 0x8000_0000));
    }

    #[test]
    fn v128_lanes() {
        let v = u128::from_le_bytes([1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert!(v128_matches(&V128Pattern::I32x4([1, 2, 3, -1]), v));
        assert!(!v128_matches(&V128Pattern::I32x4([1, 2, 3, 4]), v));
    }
}
