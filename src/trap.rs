//! Traps as errors: a trapping call returns an `anyhow::Error` whose root is a [`Trap`] and
//! whose context is the [`WasmBacktrace`].

use crate::store::StoreOpaque;
use crate::vm::FuncRefPtr;
use std::fmt;

/// Why wasm execution trapped; errors of trapping calls downcast to it.
pub use strata_environ::TrapCode as Trap;

/// The wasm frames active when a trap was raised, innermost first.
#[derive(Debug, Clone)]
pub struct WasmBacktrace {
    frames: Vec<FrameInfo>,
}

/// One wasm frame of a backtrace.
#[derive(Debug, Clone)]
pub struct FrameInfo {
    func_index: u32,
}

impl FrameInfo {
    /// Index of the function in its module's function space.
    pub fn func_index(&self) -> u32 {
        self.func_index
    }
}

impl WasmBacktrace {
    /// The innermost frame as reported by the tier that trapped.
    pub(crate) fn innermost(_store: &StoreOpaque, _entry: FuncRefPtr, trap_func: u32) -> Self {
        let frames = if trap_func == u32::MAX {
            Vec::new()
        } else {
            vec![FrameInfo {
                func_index: trap_func,
            }]
        };
        WasmBacktrace { frames }
    }

    pub fn frames(&self) -> &[FrameInfo] {
        &self.frames
    }
}

impl fmt::Display for WasmBacktrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.frames.is_empty() {
            return write!(f, "error while executing wasm");
        }
        write!(f, "error while executing at wasm backtrace:")?;
        for (i, frame) in self.frames.iter().enumerate() {
            write!(f, "\n    {i}: func[{}]", frame.func_index)?;
        }
        Ok(())
    }
}
