//! Entering JIT code, and leaving it on a trap (x86-64 Linux).
//!
//! Every entry into native code goes through `strata_enter_native`, a small assembly stub
//! that saves the callee-saved registers and records its stack and frame pointers and a
//! resume address in an [`EntryRecord`] on the Rust stack, linked into a per-thread list.
//! A trap anywhere in JIT code below it resumes there:
//! - a fault (`ud2` at a trap site, a guard-page access, ...) reaches the process-wide
//!   signal handler, which finds the faulting pc in the code registry, records the trap in
//!   the innermost entry and rewrites the signal context to continue at the resume address;
//! - a trap reported by a callee through the array convention, or by a builtin, makes the
//!   JIT code call the `raise_trap` builtin, which jumps to the same resume address.
//!
//! Either way only JIT frames and the stub's own frame are skipped, never Rust frames: Rust
//! code called from JIT code (host functions, builtins, the interpreter) returns normally
//! and reports traps by value. Faults outside JIT code go to the handler installed before
//! ours, or to the default action.

use super::code;
use std::cell::{Cell, UnsafeCell};
use std::sync::Once;
use strata_environ::vmcontext::{VMBacktrace, VMContext, VMFrame};
use strata_environ::{TrapCode, ValRaw};

/// Where a trap resumes, and what the trap was. Field offsets are used by the stubs below.
#[repr(C)]
pub(crate) struct EntryRecord {
    rsp: usize,
    rbp: usize,
    resume: usize,
    prev: *mut EntryRecord,
    /// Raw `TrapCode` raised below this entry (0: a callee already reported it).
    pub(crate) trap_code: u32,
}

impl EntryRecord {
    /// Records the JIT frames from the one at (`pc`, `fp`) outwards, up to the trampoline
    /// that entered JIT code, in this thread's `TRAP_FRAMES`. Every JIT frame keeps its frame
    /// pointer, so the chain is `[fp] = caller's fp, [fp + 8] = return address`; functions
    /// and their modules come from the code registry.
    ///
    /// # Safety
    /// `fp` must be the frame pointer of the JIT frame containing `pc`, on this thread's
    /// stack below this record's entry.
    unsafe fn walk(&mut self, mut pc: usize, mut fp: usize) {
        // SAFETY: only this thread touches its buffer, and nothing else holds a reference
        // to it now (see `TRAP_FRAMES`).
        let frames = unsafe { &mut *TRAP_FRAMES.with(UnsafeCell::get) };
        frames.clear();
        while let Some(info) = code::lookup(pc) {
            let Some((func_index, module)) = info.func else {
                break; // a trampoline: the end of this run of JIT frames
            };
            frames.push(VMFrame {
                vmctx: std::ptr::null_mut(),
                module,
                func_index,
            });
            // SAFETY: JIT frames link through frame pointers (contract), and the caller of a
            // JIT frame is JIT code or a trampoline, which keeps its frame pointer too.
            unsafe {
                pc = *((fp + 8) as *const usize) - 1;
                fp = *(fp as *const usize);
            }
        }
    }
}

/// An array-to-native trampoline (see `strata_baseline::trampoline`).
pub(crate) type TrampolineFn = unsafe extern "C" fn(
    entry: *const u8,
    callee_vmctx: *mut VMContext,
    caller_vmctx: *mut VMContext,
    values: *mut ValRaw,
);

std::arch::global_asm!(
    ".text",
    ".p2align 4",
    ".globl strata_enter_native",
    ".type strata_enter_native,@function",
    // rdi = record, rsi = trampoline, rdx, rcx, r8, r9 = the trampoline's arguments.
    "strata_enter_native:",
    "push rbp",
    "mov rbp, rsp",
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "push rdi",
    "mov [rdi], rsp",
    "mov [rdi + 8], rbp",
    "lea rax, [rip + .Lstrata_resume_point]",
    "mov [rdi + 16], rax",
    "mov rax, rsi",
    "mov rdi, rdx",
    "mov rsi, rcx",
    "mov rdx, r8",
    "mov rcx, r9",
    "call rax",
    "mov eax, 1",
    "jmp .Lstrata_enter_done",
    ".Lstrata_resume_point:",
    "xor eax, eax",
    ".Lstrata_enter_done:",
    "add rsp, 8",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
    ".size strata_enter_native, .-strata_enter_native",
    "",
    ".p2align 4",
    ".globl strata_resume_entry",
    ".type strata_resume_entry,@function",
    // rdi = record: continue at its resume point with its stack.
    "strata_resume_entry:",
    "mov rsp, [rdi]",
    "mov rbp, [rdi + 8]",
    "jmp qword ptr [rdi + 16]",
    ".size strata_resume_entry, .-strata_resume_entry",
    "",
    ".p2align 4",
    ".globl strata_raise_trap",
    ".type strata_raise_trap,@function",
    // Called by JIT code: rdi = vmctx, esi = code. The return address is in the JIT caller,
    // rbp is its frame pointer; hand both to the Rust side, which never returns.
    "strata_raise_trap:",
    "mov rdx, rbp",
    "mov rcx, [rsp]",
    "sub rsp, 8",
    "call {raise}",
    "ud2",
    ".size strata_raise_trap, .-strata_raise_trap",
    raise = sym raise_trap_from,
);

extern "C" {
    /// `record` is an `*mut EntryRecord` (opaque to the stub, which writes its first three
    /// fields).
    fn strata_enter_native(
        record: *mut std::ffi::c_void,
        trampoline: TrampolineFn,
        entry: *const u8,
        callee_vmctx: *mut VMContext,
        caller_vmctx: *mut VMContext,
        values: *mut ValRaw,
    ) -> bool;
    /// `record` is an `*const EntryRecord`.
    fn strata_resume_entry(record: *const std::ffi::c_void) -> !;
    /// The `raise_trap` builtin (see `VMBuiltins::raise_trap`).
    pub(crate) fn strata_raise_trap(vmctx: *mut VMContext, code: u32) -> !;
}

thread_local! {
    /// The innermost active entry on this thread (constant-initialized and without a
    /// destructor, so the signal handler may read it).
    static INNERMOST: Cell<*mut EntryRecord> = const { Cell::new(std::ptr::null_mut()) };
    /// Memory faults (SIGSEGV, SIGBUS) in JIT code turned into traps on this thread.
    static MEMORY_FAULTS: Cell<u64> = const { Cell::new(0) };
    /// The JIT frames of the trap being unwound on this thread, written by the walk (in
    /// `raise_trap_from` or the signal handler) and copied out by `enter` as it returns.
    /// One buffer per thread suffices: nothing runs between a trap's walk and that copy.
    /// Kept out of the entry record, which every entry would otherwise have to initialize.
    static TRAP_FRAMES: UnsafeCell<VMBacktrace> = const { UnsafeCell::new(VMBacktrace::new()) };
}

/// How many traps on this thread came from a memory fault in JIT code (a guard-page access)
/// rather than an explicit check.
pub(crate) fn memory_faults_on_this_thread() -> u64 {
    MEMORY_FAULTS.get()
}

/// Calls native code `entry` through `trampoline`. On a trap, returns the raw trap code
/// (zero when a callee already reported the trap) and the JIT frames it unwound.
///
/// # Safety
/// `trampoline` must match `entry`'s signature, `callee_vmctx` must be the live instance
/// `entry` belongs to, and `values` must be sized for the signature.
pub(crate) unsafe fn enter(
    trampoline: TrampolineFn,
    entry: *const u8,
    callee_vmctx: *mut VMContext,
    caller_vmctx: *mut VMContext,
    values: *mut ValRaw,
) -> Result<(), (u32, Box<VMBacktrace>)> {
    install_signal_handlers();
    let mut record = EntryRecord {
        rsp: 0,
        rbp: 0,
        resume: 0,
        prev: INNERMOST.get(),
        trap_code: 0,
    };
    INNERMOST.set(&mut record);
    // SAFETY: per the contract; the stub returns here either normally or through the resume
    // point, with callee-saved registers restored either way.
    let ok = unsafe {
        strata_enter_native(
            (&raw mut record).cast(),
            trampoline,
            entry,
            callee_vmctx,
            caller_vmctx,
            values,
        )
    };
    INNERMOST.set(record.prev);
    if ok {
        Ok(())
    } else {
        // SAFETY: the walk that filled the buffer (if this entry's trap had one) is over,
        // and no other reference to it exists (see `TRAP_FRAMES`).
        let frames = unsafe { &mut *TRAP_FRAMES.with(UnsafeCell::get) };
        let trace = Box::new(frames.clone());
        frames.clear();
        Err((record.trap_code, trace))
    }
}

/// The Rust side of `strata_raise_trap`: leaves JIT code for the innermost entry. `fp` and
/// `pc` are the calling JIT frame's frame pointer and return address.
unsafe extern "C" fn raise_trap_from(_vmctx: *mut VMContext, code: u32, fp: usize, pc: usize) -> ! {
    let record = INNERMOST.get();
    if record.is_null() {
        // Only JIT code calls this, always below an entry.
        std::process::abort();
    }
    // SAFETY: the record belongs to an entry frame that is live (it is on the list) and
    // below which only JIT frames and this builtin's frames are on the stack; `fp` and `pc`
    // describe the calling JIT frame; nothing here needs dropping.
    unsafe {
        (*record).trap_code = code;
        (*record).walk(pc - 1, fp);
        strata_resume_entry(record.cast())
    }
}

static INSTALL: Once = Once::new();
const SIGNALS: [libc::c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];

/// The handlers installed before ours, in `SIGNALS` order; set before ours is installed.
struct Previous([libc::sigaction; 4]);
// SAFETY: plain data (handler addresses, flags and masks), only read after being set.
unsafe impl Sync for Previous {}
// SAFETY: as above.
unsafe impl Send for Previous {}
static PREVIOUS: std::sync::OnceLock<Previous> = std::sync::OnceLock::new();

fn install_signal_handlers() {
    INSTALL.call_once(|| {
        // SAFETY: querying the current actions into zeroed structs.
        let previous = SIGNALS.map(|signal| unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, std::ptr::null(), &mut old);
            old
        });
        if PREVIOUS.set(Previous(previous)).is_err() {
            return;
        }
        for &signal in &SIGNALS {
            // SAFETY: a plain sigaction call with a zeroed, then filled, struct.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = handler as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
                libc::sigemptyset(&mut action.sa_mask);
                if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                    panic!("failed to install the handler of signal {signal}");
                }
            }
        }
    });
}

unsafe extern "C" fn handler(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    let ucontext = context.cast::<libc::ucontext_t>();
    // SAFETY: the kernel passes a valid ucontext to SA_SIGINFO handlers.
    let gregs = unsafe { &mut (*ucontext).uc_mcontext.gregs };
    let pc = gregs[libc::REG_RIP as usize] as usize;
    let record = INNERMOST.get();
    if !record.is_null() {
        if let Some(info) = code::lookup(pc) {
            let trap = info.trap.unwrap_or(match signal {
                libc::SIGFPE => TrapCode::IntegerDivisionByZero,
                _ => TrapCode::MemoryOutOfBounds,
            });
            if signal == libc::SIGSEGV || signal == libc::SIGBUS {
                MEMORY_FAULTS.set(MEMORY_FAULTS.get() + 1);
            }
            // SAFETY: the record is live (see `raise_trap`); the registers are those of the
            // faulting JIT frame; resuming at its resume point with its stack skips only JIT
            // frames.
            unsafe {
                (*record).trap_code = trap.as_raw().get().into();
                (*record).walk(pc, gregs[libc::REG_RBP as usize] as usize);
                gregs[libc::REG_RIP as usize] = (*record).resume as i64;
                gregs[libc::REG_RSP as usize] = (*record).rsp as i64;
                gregs[libc::REG_RBP as usize] = (*record).rbp as i64;
            }
            return;
        }
    }
    // Not ours: chain to the previous handler.
    let index = SIGNALS.iter().position(|&s| s == signal).unwrap_or(0);
    let Some(previous) = PREVIOUS.get().map(|p| &p.0[index]) else {
        return;
    };
    let action = previous.sa_sigaction;
    if action == libc::SIG_DFL || action == libc::SIG_IGN {
        // Restore it and return: the faulting instruction runs again and gets the default
        // behaviour (a crash, as without us).
        // SAFETY: reinstalling the saved action.
        unsafe { libc::sigaction(signal, previous, std::ptr::null_mut()) };
    } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with this signature.
        unsafe {
            let f: unsafe extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(action);
            f(signal, info, context)
        }
    } else {
        // SAFETY: as above, without SA_SIGINFO.
        unsafe {
            let f: unsafe extern "C" fn(libc::c_int) = std::mem::transmute(action);
            f(signal)
        }
    }
}

/// Whether this machine can run JIT code.
pub(crate) fn supported() -> bool {
    strata_baseline::host_supported()
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_entry_means_no_record() {
        assert!(super::INNERMOST.get().is_null());
    }
}
