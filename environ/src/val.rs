//! `ValRaw`: the untyped 16-byte value slot used wherever values cross a tier boundary.

/// One wasm value without its type: the array-call convention passes arguments and results
/// as a slice of these, and globals are stored as one.
///
/// Integers are stored zero-extended little-endian in the low bytes, floats as their bit
/// patterns (so NaN payloads survive), references as their raw pointer-sized word
/// (0 is null). The upper 8 bytes are only used by `v128`.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
#[repr(C, align(16))]
pub struct ValRaw {
    lo: u64,
    hi: u64,
}

impl std::fmt::Debug for ValRaw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ValRaw({:#x}, {:#x})", self.lo, self.hi)
    }
}

impl ValRaw {
    #[inline]
    pub const fn i32(v: i32) -> ValRaw {
        ValRaw {
            lo: v as u32 as u64,
            hi: 0,
        }
    }
    #[inline]
    pub const fn i64(v: i64) -> ValRaw {
        ValRaw {
            lo: v as u64,
            hi: 0,
        }
    }
    /// An f32 given by its bits.
    #[inline]
    pub const fn f32(bits: u32) -> ValRaw {
        ValRaw {
            lo: bits as u64,
            hi: 0,
        }
    }
    /// An f64 given by its bits.
    #[inline]
    pub const fn f64(bits: u64) -> ValRaw {
        ValRaw { lo: bits, hi: 0 }
    }
    #[inline]
    pub const fn v128(v: u128) -> ValRaw {
        ValRaw {
            lo: v as u64,
            hi: (v >> 64) as u64,
        }
    }
    /// A reference (funcref pointer or externref handle); 0 is null.
    #[inline]
    pub const fn reference(raw: u64) -> ValRaw {
        ValRaw { lo: raw, hi: 0 }
    }
    /// The low 8 bytes: what an interpreter slot or a general-purpose register holds.
    #[inline]
    pub const fn from_u64(bits: u64) -> ValRaw {
        ValRaw { lo: bits, hi: 0 }
    }

    #[inline]
    pub const fn get_i32(self) -> i32 {
        self.lo as u32 as i32
    }
    #[inline]
    pub const fn get_i64(self) -> i64 {
        self.lo as i64
    }
    #[inline]
    pub const fn get_f32(self) -> u32 {
        self.lo as u32
    }
    #[inline]
    pub const fn get_f64(self) -> u64 {
        self.lo
    }
    #[inline]
    pub const fn get_v128(self) -> u128 {
        (self.hi as u128) << 64 | self.lo as u128
    }
    #[inline]
    pub const fn get_ref(self) -> u64 {
        self.lo
    }
    #[inline]
    pub const fn get_u64(self) -> u64 {
        self.lo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_round_trips() {
        assert_eq!(std::mem::size_of::<ValRaw>(), 16);
        assert_eq!(std::mem::align_of::<ValRaw>(), 16);
        assert_eq!(ValRaw::i32(-1).get_i32(), -1);
        assert_eq!(ValRaw::i32(-1).get_u64(), 0xffff_ffff);
        assert_eq!(ValRaw::i64(i64::MIN).get_i64(), i64::MIN);
        assert_eq!(ValRaw::f32(0x7fc0_0001).get_f32(), 0x7fc0_0001);
        assert_eq!(ValRaw::v128(u128::MAX - 5).get_v128(), u128::MAX - 5);
    }
}
