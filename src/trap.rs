//! Traps as errors: a trapping call returns an `anyhow::Error` whose root is a [`Trap`] and
//! whose context is the [`WasmBacktrace`].

use std::fmt;

/// Why wasm execution trapped; errors of trapping calls downcast to it.
pub use strata_environ::TrapCode as Trap;

/// The wasm frames active when a trap was raised, innermost first, whichever tier ran them.
#[derive(Debug, Clone)]
pub struct WasmBacktrace {
    frames: Vec<FrameInfo>,
    /// Frames left out in the middle of a long backtrace (after the 48 innermost, before
    /// the 16 outermost).
    omitted: usize,
}

/// One wasm frame of a backtrace.
#[derive(Debug, Clone)]
pub struct FrameInfo {
    func_index: u32,
    func_name: Option<String>,
    module_name: Option<String>,
}

impl FrameInfo {
    /// Index of the function in its module's function space.
    pub fn func_index(&self) -> u32 {
        self.func_index
    }

    /// The function's name from the name section, if any.
    pub fn func_name(&self) -> Option<&str> {
        self.func_name.as_deref()
    }

    /// The module's name from the name section, if any.
    pub fn module_name(&self) -> Option<&str> {
        self.module_name.as_deref()
    }
}

impl WasmBacktrace {
    /// A backtrace of `frames`: (function index, function name, module name), innermost
    /// first.
    pub(crate) fn new(
        frames: impl IntoIterator<Item = (u32, Option<String>, Option<String>)>,
        omitted: usize,
    ) -> Self {
        let frames = frames
            .into_iter()
            .map(|(func_index, func_name, module_name)| FrameInfo {
                func_index,
                func_name,
                module_name,
            })
            .collect();
        WasmBacktrace { frames, omitted }
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
        let head = strata_environ::vmcontext::MAX_BACKTRACE_FRAMES
            - strata_environ::vmcontext::BACKTRACE_TAIL;
        for (i, frame) in self.frames.iter().enumerate() {
            if i == head && self.omitted > 0 {
                write!(f, "\n    ... {} frames omitted", self.omitted)?;
            }
            let i = if i >= head { i + self.omitted } else { i };
            write!(f, "\n    {i}: ")?;
            if let Some(module) = &frame.module_name {
                write!(f, "{module}!")?;
            }
            match &frame.func_name {
                Some(name) => write!(f, "{name}")?,
                None => write!(f, "<wasm function {}>", frame.func_index)?,
            }
        }
        Ok(())
    }
}
