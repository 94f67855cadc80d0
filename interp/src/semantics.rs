//! What each numeric instruction computes, on raw 64-bit slot values.
//!
//! Slot conventions: an `i32` is stored zero-extended, an `f32` as its bits zero-extended,
//! an `f64` as its bits; every function here keeps to them, so a slot's upper half never
//! carries garbage. Floats are handled through their bits so NaN payloads survive moves.

use strata_environ::TrapCode;

type Trap = Result<u64, TrapCode>;

fn i32(v: u64) -> i32 {
    v as u32 as i32
}
fn u32_(v: u64) -> u32 {
    v as u32
}
fn from_i32(v: i32) -> u64 {
    v as u32 as u64
}
fn from_bool(b: bool) -> u64 {
    b as u64
}
fn f32(v: u64) -> f32 {
    f32::from_bits(v as u32)
}
fn f64(v: u64) -> f64 {
    f64::from_bits(v)
}
fn from_f32(v: f32) -> u64 {
    v.to_bits() as u64
}
fn from_f64(v: f64) -> u64 {
    v.to_bits()
}

/// The rounding operations (`ceil`, `floor`, `trunc`, `nearest`) are computed here rather
/// than by `f32::floor` and kin, which are library calls on x86-64 without SSE4.1 (the
/// baseline target): a handler that calls saves registers on its fast path. From `2^23`
/// (`f32`) or `2^52` (`f64`) up every value is an integer already; below, a conversion to an
/// integer truncates exactly.
const F32_INTEGRAL: f32 = 8_388_608.0;
const F64_INTEGRAL: f64 = 4_503_599_627_370_496.0;

/// `x` rounded toward zero, the sign of a zero result kept (`-0.5` gives `-0.0`); NaN and
/// infinities unchanged.
fn f32_toward_zero(x: f32) -> f32 {
    if x.abs() < F32_INTEGRAL {
        (x as i32 as f32).copysign(x)
    } else {
        x
    }
}
fn f64_toward_zero(x: f64) -> f64 {
    if x.abs() < F64_INTEGRAL {
        (x as i64 as f64).copysign(x)
    } else {
        x
    }
}

/// Rounding functions may return a signalling NaN operand unchanged; wasm requires the
/// result NaN to be quiet (an "arithmetic" NaN).
fn quiet_f32(v: f32) -> u64 {
    if v.is_nan() {
        from_f32(v) | 0x0040_0000
    } else {
        from_f32(v)
    }
}
fn quiet_f64(v: f64) -> u64 {
    if v.is_nan() {
        from_f64(v) | 0x0008_0000_0000_0000
    } else {
        from_f64(v)
    }
}

// i32 unary
pub(crate) fn i32_eqz(a: u64) -> u64 {
    from_bool(u32_(a) == 0)
}
pub(crate) fn i32_clz(a: u64) -> u64 {
    u32_(a).leading_zeros() as u64
}
pub(crate) fn i32_ctz(a: u64) -> u64 {
    u32_(a).trailing_zeros() as u64
}
pub(crate) fn i32_popcnt(a: u64) -> u64 {
    u32_(a).count_ones() as u64
}
pub(crate) fn i32_extend8_s(a: u64) -> u64 {
    from_i32(a as i8 as i32)
}
pub(crate) fn i32_extend16_s(a: u64) -> u64 {
    from_i32(a as i16 as i32)
}
pub(crate) fn i32_wrap_i64(a: u64) -> u64 {
    a as u32 as u64
}

// i64 unary
pub(crate) fn i64_eqz(a: u64) -> u64 {
    from_bool(a == 0)
}
pub(crate) fn i64_clz(a: u64) -> u64 {
    a.leading_zeros() as u64
}
pub(crate) fn i64_ctz(a: u64) -> u64 {
    a.trailing_zeros() as u64
}
pub(crate) fn i64_popcnt(a: u64) -> u64 {
    a.count_ones() as u64
}
pub(crate) fn i64_extend8_s(a: u64) -> u64 {
    a as i8 as i64 as u64
}
pub(crate) fn i64_extend16_s(a: u64) -> u64 {
    a as i16 as i64 as u64
}
pub(crate) fn i64_extend32_s(a: u64) -> u64 {
    a as i32 as i64 as u64
}
pub(crate) fn i64_extend_i32_s(a: u64) -> u64 {
    i32(a) as i64 as u64
}
pub(crate) fn i64_extend_i32_u(a: u64) -> u64 {
    u32_(a) as u64
}

// Float unary. `abs`, `neg` and `copysign` are bit operations (they must not touch NaN
// payloads); the rest are IEEE operations.
pub(crate) fn f32_abs(a: u64) -> u64 {
    a & 0x7fff_ffff
}
pub(crate) fn f32_neg(a: u64) -> u64 {
    (a ^ 0x8000_0000) & 0xffff_ffff
}
pub(crate) fn f32_ceil(a: u64) -> u64 {
    let x = f32(a);
    let t = f32_toward_zero(x);
    quiet_f32(if t < x { t + 1.0 } else { t })
}
pub(crate) fn f32_floor(a: u64) -> u64 {
    let x = f32(a);
    let t = f32_toward_zero(x);
    quiet_f32(if t > x { t - 1.0 } else { t })
}
pub(crate) fn f32_trunc(a: u64) -> u64 {
    quiet_f32(f32_toward_zero(f32(a)))
}
pub(crate) fn f32_nearest(a: u64) -> u64 {
    let x = f32(a);
    if x.is_nan() || x.abs() >= F32_INTEGRAL {
        return quiet_f32(x);
    }
    // Adding 2^23 leaves no fraction bits: the addition rounds to nearest, ties to even.
    quiet_f32(((x.abs() + F32_INTEGRAL) - F32_INTEGRAL).copysign(x))
}
pub(crate) fn f32_sqrt(a: u64) -> u64 {
    from_f32(f32(a).sqrt())
}
pub(crate) fn f64_abs(a: u64) -> u64 {
    a & 0x7fff_ffff_ffff_ffff
}
pub(crate) fn f64_neg(a: u64) -> u64 {
    a ^ 0x8000_0000_0000_0000
}
pub(crate) fn f64_ceil(a: u64) -> u64 {
    let x = f64(a);
    let t = f64_toward_zero(x);
    quiet_f64(if t < x { t + 1.0 } else { t })
}
pub(crate) fn f64_floor(a: u64) -> u64 {
    let x = f64(a);
    let t = f64_toward_zero(x);
    quiet_f64(if t > x { t - 1.0 } else { t })
}
pub(crate) fn f64_trunc(a: u64) -> u64 {
    quiet_f64(f64_toward_zero(f64(a)))
}
pub(crate) fn f64_nearest(a: u64) -> u64 {
    let x = f64(a);
    if x.is_nan() || x.abs() >= F64_INTEGRAL {
        return quiet_f64(x);
    }
    // Adding 2^52 leaves no fraction bits: the addition rounds to nearest, ties to even.
    quiet_f64(((x.abs() + F64_INTEGRAL) - F64_INTEGRAL).copysign(x))
}
pub(crate) fn f64_sqrt(a: u64) -> u64 {
    from_f64(f64(a).sqrt())
}

// Conversions that cannot trap (Rust's `as` rounds to nearest and saturates, as wasm's
// `convert` and `trunc_sat` require).
pub(crate) fn f32_convert_i32_s(a: u64) -> u64 {
    from_f32(i32(a) as f32)
}
pub(crate) fn f32_convert_i32_u(a: u64) -> u64 {
    from_f32(u32_(a) as f32)
}
pub(crate) fn f32_convert_i64_s(a: u64) -> u64 {
    from_f32(a as i64 as f32)
}
pub(crate) fn f32_convert_i64_u(a: u64) -> u64 {
    from_f32(a as f32)
}
pub(crate) fn f32_demote_f64(a: u64) -> u64 {
    from_f32(f64(a) as f32)
}
pub(crate) fn f64_convert_i32_s(a: u64) -> u64 {
    from_f64(i32(a) as f64)
}
pub(crate) fn f64_convert_i32_u(a: u64) -> u64 {
    from_f64(u32_(a) as f64)
}
pub(crate) fn f64_convert_i64_s(a: u64) -> u64 {
    from_f64(a as i64 as f64)
}
pub(crate) fn f64_convert_i64_u(a: u64) -> u64 {
    from_f64(a as f64)
}
pub(crate) fn f64_promote_f32(a: u64) -> u64 {
    from_f64(f32(a) as f64)
}
pub(crate) fn i32_trunc_sat_f32_s(a: u64) -> u64 {
    from_i32(f32(a) as i32)
}
pub(crate) fn i32_trunc_sat_f32_u(a: u64) -> u64 {
    (f32(a) as u32) as u64
}
pub(crate) fn i32_trunc_sat_f64_s(a: u64) -> u64 {
    from_i32(f64(a) as i32)
}
pub(crate) fn i32_trunc_sat_f64_u(a: u64) -> u64 {
    (f64(a) as u32) as u64
}
pub(crate) fn i64_trunc_sat_f32_s(a: u64) -> u64 {
    f32(a) as i64 as u64
}
pub(crate) fn i64_trunc_sat_f32_u(a: u64) -> u64 {
    f32(a) as u64
}
pub(crate) fn i64_trunc_sat_f64_s(a: u64) -> u64 {
    f64(a) as i64 as u64
}
pub(crate) fn i64_trunc_sat_f64_u(a: u64) -> u64 {
    f64(a) as u64
}

/// Checks a float-to-int truncation: NaN is an invalid conversion; a value whose truncation
/// lies outside `(lower, upper)` (both exclusive) overflows.
///
/// `lower` is an integer at most -1 and `upper` a positive one, so the truncation lies
/// outside exactly when `x` itself does (`x` in `(lower, lower + 1)` truncates to
/// `lower + 1`): no `trunc`, which is a library call without SSE4.1.
#[inline(always)]
fn check_trunc(x: f64, lower: f64, upper: f64) -> Result<(), TrapCode> {
    debug_assert!(lower <= -1.0 && lower.fract() == 0.0 && upper > 0.0 && upper.fract() == 0.0);
    if x > lower && x < upper {
        return Ok(());
    }
    Err(if x.is_nan() {
        TrapCode::BadConversionToInteger
    } else {
        TrapCode::IntegerOverflow
    })
}

const I32_LOWER: f64 = -2147483649.0;
const I32_UPPER: f64 = 2147483648.0;
const U32_UPPER: f64 = 4294967296.0;
const I64_UPPER: f64 = 9223372036854775808.0;
const U64_UPPER: f64 = 18446744073709551616.0;

pub(crate) fn i32_trunc_f32_s(a: u64) -> Trap {
    check_trunc(f32(a) as f64, I32_LOWER, I32_UPPER)?;
    Ok(from_i32(f32(a) as i32))
}
pub(crate) fn i32_trunc_f32_u(a: u64) -> Trap {
    check_trunc(f32(a) as f64, -1.0, U32_UPPER)?;
    Ok((f32(a) as u32) as u64)
}
pub(crate) fn i32_trunc_f64_s(a: u64) -> Trap {
    check_trunc(f64(a), I32_LOWER, I32_UPPER)?;
    Ok(from_i32(f64(a) as i32))
}
pub(crate) fn i32_trunc_f64_u(a: u64) -> Trap {
    check_trunc(f64(a), -1.0, U32_UPPER)?;
    Ok((f64(a) as u32) as u64)
}
pub(crate) fn i64_trunc_f32_s(a: u64) -> Trap {
    // -2^63 is exactly representable and in range; anything below it is not.
    let x = f32(a) as f64;
    if x == -I64_UPPER {
        return Ok(i64::MIN as u64);
    }
    check_trunc(x, -I64_UPPER, I64_UPPER)?;
    Ok(x as i64 as u64)
}
pub(crate) fn i64_trunc_f32_u(a: u64) -> Trap {
    check_trunc(f32(a) as f64, -1.0, U64_UPPER)?;
    Ok(f32(a) as u64)
}
pub(crate) fn i64_trunc_f64_s(a: u64) -> Trap {
    let x = f64(a);
    if x == -I64_UPPER {
        return Ok(i64::MIN as u64);
    }
    check_trunc(x, -I64_UPPER, I64_UPPER)?;
    Ok(x as i64 as u64)
}
pub(crate) fn i64_trunc_f64_u(a: u64) -> Trap {
    check_trunc(f64(a), -1.0, U64_UPPER)?;
    Ok(f64(a) as u64)
}

// i32 binary
pub(crate) fn i32_eq(a: u64, b: u64) -> u64 {
    from_bool(u32_(a) == u32_(b))
}
pub(crate) fn i32_ne(a: u64, b: u64) -> u64 {
    from_bool(u32_(a) != u32_(b))
}
pub(crate) fn i32_lt_s(a: u64, b: u64) -> u64 {
    from_bool(i32(a) < i32(b))
}
pub(crate) fn i32_lt_u(a: u64, b: u64) -> u64 {
    from_bool(u32_(a) < u32_(b))
}
pub(crate) fn i32_gt_s(a: u64, b: u64) -> u64 {
    from_bool(i32(a) > i32(b))
}
pub(crate) fn i32_gt_u(a: u64, b: u64) -> u64 {
    from_bool(u32_(a) > u32_(b))
}
pub(crate) fn i32_le_s(a: u64, b: u64) -> u64 {
    from_bool(i32(a) <= i32(b))
}
pub(crate) fn i32_le_u(a: u64, b: u64) -> u64 {
    from_bool(u32_(a) <= u32_(b))
}
pub(crate) fn i32_ge_s(a: u64, b: u64) -> u64 {
    from_bool(i32(a) >= i32(b))
}
pub(crate) fn i32_ge_u(a: u64, b: u64) -> u64 {
    from_bool(u32_(a) >= u32_(b))
}
pub(crate) fn i32_add(a: u64, b: u64) -> u64 {
    u32_(a).wrapping_add(u32_(b)) as u64
}
pub(crate) fn i32_sub(a: u64, b: u64) -> u64 {
    u32_(a).wrapping_sub(u32_(b)) as u64
}
pub(crate) fn i32_mul(a: u64, b: u64) -> u64 {
    u32_(a).wrapping_mul(u32_(b)) as u64
}
pub(crate) fn i32_and(a: u64, b: u64) -> u64 {
    a & b
}
pub(crate) fn i32_or(a: u64, b: u64) -> u64 {
    a | b
}
pub(crate) fn i32_xor(a: u64, b: u64) -> u64 {
    a ^ b
}
pub(crate) fn i32_shl(a: u64, b: u64) -> u64 {
    u32_(a).wrapping_shl(u32_(b)) as u64
}
pub(crate) fn i32_shr_s(a: u64, b: u64) -> u64 {
    from_i32(i32(a).wrapping_shr(u32_(b)))
}
pub(crate) fn i32_shr_u(a: u64, b: u64) -> u64 {
    u32_(a).wrapping_shr(u32_(b)) as u64
}
pub(crate) fn i32_rotl(a: u64, b: u64) -> u64 {
    u32_(a).rotate_left(u32_(b) & 31) as u64
}
pub(crate) fn i32_rotr(a: u64, b: u64) -> u64 {
    u32_(a).rotate_right(u32_(b) & 31) as u64
}
pub(crate) fn i32_div_s(a: u64, b: u64) -> Trap {
    match (i32(a), i32(b)) {
        (_, 0) => Err(TrapCode::IntegerDivisionByZero),
        (i32::MIN, -1) => Err(TrapCode::IntegerOverflow),
        (a, b) => Ok(from_i32(a / b)),
    }
}
pub(crate) fn i32_div_u(a: u64, b: u64) -> Trap {
    match u32_(b) {
        0 => Err(TrapCode::IntegerDivisionByZero),
        b => Ok((u32_(a) / b) as u64),
    }
}
pub(crate) fn i32_rem_s(a: u64, b: u64) -> Trap {
    match i32(b) {
        0 => Err(TrapCode::IntegerDivisionByZero),
        b => Ok(from_i32(i32(a).wrapping_rem(b))),
    }
}
pub(crate) fn i32_rem_u(a: u64, b: u64) -> Trap {
    match u32_(b) {
        0 => Err(TrapCode::IntegerDivisionByZero),
        b => Ok((u32_(a) % b) as u64),
    }
}

// i64 binary
pub(crate) fn i64_eq(a: u64, b: u64) -> u64 {
    from_bool(a == b)
}
pub(crate) fn i64_ne(a: u64, b: u64) -> u64 {
    from_bool(a != b)
}
pub(crate) fn i64_lt_s(a: u64, b: u64) -> u64 {
    from_bool((a as i64) < (b as i64))
}
pub(crate) fn i64_lt_u(a: u64, b: u64) -> u64 {
    from_bool(a < b)
}
pub(crate) fn i64_gt_s(a: u64, b: u64) -> u64 {
    from_bool((a as i64) > (b as i64))
}
pub(crate) fn i64_gt_u(a: u64, b: u64) -> u64 {
    from_bool(a > b)
}
pub(crate) fn i64_le_s(a: u64, b: u64) -> u64 {
    from_bool((a as i64) <= (b as i64))
}
pub(crate) fn i64_le_u(a: u64, b: u64) -> u64 {
    from_bool(a <= b)
}
pub(crate) fn i64_ge_s(a: u64, b: u64) -> u64 {
    from_bool((a as i64) >= (b as i64))
}
pub(crate) fn i64_ge_u(a: u64, b: u64) -> u64 {
    from_bool(a >= b)
}
pub(crate) fn i64_add(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
}
pub(crate) fn i64_sub(a: u64, b: u64) -> u64 {
    a.wrapping_sub(b)
}
pub(crate) fn i64_mul(a: u64, b: u64) -> u64 {
    a.wrapping_mul(b)
}
pub(crate) fn i64_and(a: u64, b: u64) -> u64 {
    a & b
}
pub(crate) fn i64_or(a: u64, b: u64) -> u64 {
    a | b
}
pub(crate) fn i64_xor(a: u64, b: u64) -> u64 {
    a ^ b
}
pub(crate) fn i64_shl(a: u64, b: u64) -> u64 {
    a.wrapping_shl(b as u32)
}
pub(crate) fn i64_shr_s(a: u64, b: u64) -> u64 {
    (a as i64).wrapping_shr(b as u32) as u64
}
pub(crate) fn i64_shr_u(a: u64, b: u64) -> u64 {
    a.wrapping_shr(b as u32)
}
pub(crate) fn i64_rotl(a: u64, b: u64) -> u64 {
    a.rotate_left((b & 63) as u32)
}
pub(crate) fn i64_rotr(a: u64, b: u64) -> u64 {
    a.rotate_right((b & 63) as u32)
}
pub(crate) fn i64_div_s(a: u64, b: u64) -> Trap {
    match (a as i64, b as i64) {
        (_, 0) => Err(TrapCode::IntegerDivisionByZero),
        (i64::MIN, -1) => Err(TrapCode::IntegerOverflow),
        (a, b) => Ok((a / b) as u64),
    }
}
pub(crate) fn i64_div_u(a: u64, b: u64) -> Trap {
    match b {
        0 => Err(TrapCode::IntegerDivisionByZero),
        b => Ok(a / b),
    }
}
pub(crate) fn i64_rem_s(a: u64, b: u64) -> Trap {
    match b as i64 {
        0 => Err(TrapCode::IntegerDivisionByZero),
        b => Ok((a as i64).wrapping_rem(b) as u64),
    }
}
pub(crate) fn i64_rem_u(a: u64, b: u64) -> Trap {
    match b {
        0 => Err(TrapCode::IntegerDivisionByZero),
        b => Ok(a % b),
    }
}

// Float binary
pub(crate) fn f32_eq(a: u64, b: u64) -> u64 {
    from_bool(f32(a) == f32(b))
}
pub(crate) fn f32_ne(a: u64, b: u64) -> u64 {
    from_bool(f32(a) != f32(b))
}
pub(crate) fn f32_lt(a: u64, b: u64) -> u64 {
    from_bool(f32(a) < f32(b))
}
pub(crate) fn f32_gt(a: u64, b: u64) -> u64 {
    from_bool(f32(a) > f32(b))
}
pub(crate) fn f32_le(a: u64, b: u64) -> u64 {
    from_bool(f32(a) <= f32(b))
}
pub(crate) fn f32_ge(a: u64, b: u64) -> u64 {
    from_bool(f32(a) >= f32(b))
}
pub(crate) fn f32_add(a: u64, b: u64) -> u64 {
    from_f32(f32(a) + f32(b))
}
pub(crate) fn f32_sub(a: u64, b: u64) -> u64 {
    from_f32(f32(a) - f32(b))
}
pub(crate) fn f32_mul(a: u64, b: u64) -> u64 {
    from_f32(f32(a) * f32(b))
}
pub(crate) fn f32_div(a: u64, b: u64) -> u64 {
    from_f32(f32(a) / f32(b))
}
/// Wasm `min`: NaN if either operand is NaN, and -0 below +0 (unlike `f32::min`).
pub(crate) fn f32_min(a: u64, b: u64) -> u64 {
    let (x, y) = (f32(a), f32(b));
    if x.is_nan() || y.is_nan() {
        from_f32(x + y)
    } else if x == y {
        // Equal values differ at most in sign (±0): min prefers the negative one.
        a | b
    } else {
        from_f32(x.min(y))
    }
}
pub(crate) fn f32_max(a: u64, b: u64) -> u64 {
    let (x, y) = (f32(a), f32(b));
    if x.is_nan() || y.is_nan() {
        from_f32(x + y)
    } else if x == y {
        a & b
    } else {
        from_f32(x.max(y))
    }
}
pub(crate) fn f32_copysign(a: u64, b: u64) -> u64 {
    (a & 0x7fff_ffff) | (b & 0x8000_0000)
}
pub(crate) fn f64_eq(a: u64, b: u64) -> u64 {
    from_bool(f64(a) == f64(b))
}
pub(crate) fn f64_ne(a: u64, b: u64) -> u64 {
    from_bool(f64(a) != f64(b))
}
pub(crate) fn f64_lt(a: u64, b: u64) -> u64 {
    from_bool(f64(a) < f64(b))
}
pub(crate) fn f64_gt(a: u64, b: u64) -> u64 {
    from_bool(f64(a) > f64(b))
}
pub(crate) fn f64_le(a: u64, b: u64) -> u64 {
    from_bool(f64(a) <= f64(b))
}
pub(crate) fn f64_ge(a: u64, b: u64) -> u64 {
    from_bool(f64(a) >= f64(b))
}
pub(crate) fn f64_add(a: u64, b: u64) -> u64 {
    from_f64(f64(a) + f64(b))
}
pub(crate) fn f64_sub(a: u64, b: u64) -> u64 {
    from_f64(f64(a) - f64(b))
}
pub(crate) fn f64_mul(a: u64, b: u64) -> u64 {
    from_f64(f64(a) * f64(b))
}
pub(crate) fn f64_div(a: u64, b: u64) -> u64 {
    from_f64(f64(a) / f64(b))
}
pub(crate) fn f64_min(a: u64, b: u64) -> u64 {
    let (x, y) = (f64(a), f64(b));
    if x.is_nan() || y.is_nan() {
        from_f64(x + y)
    } else if x == y {
        a | b
    } else {
        from_f64(x.min(y))
    }
}
pub(crate) fn f64_max(a: u64, b: u64) -> u64 {
    let (x, y) = (f64(a), f64(b));
    if x.is_nan() || y.is_nan() {
        from_f64(x + y)
    } else if x == y {
        a & b
    } else {
        from_f64(x.max(y))
    }
}
pub(crate) fn f64_copysign(a: u64, b: u64) -> u64 {
    (a & 0x7fff_ffff_ffff_ffff) | (b & 0x8000_0000_0000_0000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_bounds() {
        let f = |x: f32| x.to_bits() as u64;
        assert_eq!(i32_trunc_f32_s(f(-2147483648.0)), Ok(0x8000_0000));
        assert_eq!(
            i32_trunc_f32_s(f(2147483648.0)),
            Err(TrapCode::IntegerOverflow)
        );
        assert_eq!(
            i32_trunc_f32_u(f(f32::NAN)),
            Err(TrapCode::BadConversionToInteger)
        );
        assert_eq!(i32_trunc_f32_u(f(-0.9)), Ok(0));
        assert_eq!(i64_trunc_f32_s(f(-9223372036854775808.0)), Ok(1 << 63));
        let d = |x: f64| x.to_bits();
        assert_eq!(i32_trunc_f64_s(d(-2147483648.9)), Ok(0x8000_0000));
        assert_eq!(
            i32_trunc_f64_s(d(-2147483649.0)),
            Err(TrapCode::IntegerOverflow)
        );
        assert_eq!(
            i64_trunc_f64_u(d(18446744073709549568.0)),
            Ok(u64::MAX - 2047)
        );
        // Just inside and just outside each bound, infinities and NaN.
        assert_eq!(i32_trunc_f64_s(d(2147483647.9)), Ok(0x7fff_ffff));
        assert_eq!(i32_trunc_f64_u(d(4294967295.9)), Ok(0xffff_ffff));
        assert_eq!(i32_trunc_f64_u(d(-0.9)), Ok(0));
        for x in [-1.0, 4294967296.0, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(i32_trunc_f64_u(d(x)), Err(TrapCode::IntegerOverflow));
        }
        assert_eq!(i64_trunc_f64_s(d(-0.5)), Ok(0));
        assert_eq!(i64_trunc_f64_u(d(-1.0)), Err(TrapCode::IntegerOverflow));
        assert_eq!(
            i32_trunc_f64_s(d(f64::NAN)),
            Err(TrapCode::BadConversionToInteger)
        );
    }

    #[test]
    fn min_max_signed_zero_and_nan() {
        let z = 0f32.to_bits() as u64;
        let nz = (-0f32).to_bits() as u64;
        assert_eq!(f32_min(z, nz), nz);
        assert_eq!(f32_max(nz, z), z);
        assert!(f32::from_bits(f32_min(z, f32::NAN.to_bits() as u64) as u32).is_nan());
    }

    #[test]
    fn i32_results_stay_zero_extended() {
        assert_eq!(i32_sub(0, 1), 0xffff_ffff);
        assert_eq!(i32_extend8_s(0x80), 0xffff_ff80);
        assert_eq!(f32_neg(0), 0x8000_0000);
    }
    /// The rounding operations agree bit for bit with the standard library's (whose NaNs
    /// are quieted the same way) on edge values and a million random bit patterns of each
    /// width: signed zeros, halves, the last fractional values below 2^23 and 2^52,
    /// infinities and NaNs.
    #[test]
    fn rounding_matches_the_standard_library() {
        fn check32(a: u32) {
            let x = f32::from_bits(a);
            let want = [x.ceil(), x.floor(), x.trunc(), x.round_ties_even()];
            let got = [f32_ceil(a as u64), f32_floor(a as u64), f32_trunc(a as u64)];
            let got = [got[0], got[1], got[2], f32_nearest(a as u64)];
            for (want, got) in want.into_iter().zip(got) {
                assert_eq!(quiet_f32(want), got, "{x:e} ({a:#x})");
            }
        }
        fn check64(a: u64) {
            let x = f64::from_bits(a);
            let want = [x.ceil(), x.floor(), x.trunc(), x.round_ties_even()];
            let got = [f64_ceil(a), f64_floor(a), f64_trunc(a), f64_nearest(a)];
            for (want, got) in want.into_iter().zip(got) {
                assert_eq!(quiet_f64(want), got, "{x:e} ({a:#x})");
            }
        }
        let edges32 = [
            0.0f32,
            0.5,
            1.5,
            2.5,
            0.49999997,
            1.0,
            8_388_607.5,
            8_388_608.0,
            16_777_215.0,
            1e30,
            f32::MIN_POSITIVE,
            f32::MAX,
            f32::INFINITY,
            f32::NAN,
        ];
        for x in edges32 {
            check32(x.to_bits());
            check32((-x).to_bits());
        }
        check32(0x7f80_0001); // a signalling NaN
        let edges64 = [
            0.0f64,
            0.5,
            1.5,
            2.5,
            0.49999999999999994,
            1.0,
            4_503_599_627_370_495.5,
            4_503_599_627_370_496.0,
            9_007_199_254_740_991.0,
            1e300,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::INFINITY,
            f64::NAN,
        ];
        for x in edges64 {
            check64(x.to_bits());
            check64((-x).to_bits());
        }
        check64(0x7ff0_0000_0000_0001);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..1_000_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            check64(seed);
            check32(seed as u32);
            // Values near the integers, where the rounding decides.
            let near = (seed % 2_000_000) as f64 / 16.0 - 62_500.0;
            check64(near.to_bits());
            check32((near as f32).to_bits());
        }
    }
}
