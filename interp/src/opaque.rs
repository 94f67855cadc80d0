//! Values the optimizer must take as they are.
//!
//! A handler sometimes needs the machine code to keep a shape the optimizer would trade for
//! one with fewer instructions but a longer chain of dependent ones: `select` loads both
//! operands and picks one with a conditional move, where the optimizer would pick the
//! operand's slot first and load only that one, putting two loads (the slot number from the
//! instruction, then the slot) after the condition. Passing a value through [`opaque`]
//! hides where it came from, so it cannot be loaded later than written.

/// `x`, which the optimizer cannot trace back to its computation (and does not move into a
/// branch of code that uses it).
#[inline(always)]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(unused_mut)
)]
pub(crate) fn opaque(mut x: u64) -> u64 {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    // SAFETY: the assembly is empty: it names `x`'s register and executes nothing, so it
    // reads and writes no memory, stack or flags.
    unsafe {
        std::arch::asm!("/* {0} */", inout(reg) x, options(nomem, nostack, preserves_flags));
    }
    x
}
