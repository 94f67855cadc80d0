//! `Engine`: the shared, thread-safe context of compiled code and registered types.

use crate::Config;
use anyhow::Result;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use strata_environ::WasmFuncType;

/// A compilation and type context shared by modules and stores. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    config: Config,
    signatures: SignatureRegistry,
    trampolines: crate::vm::Trampolines,
    background: crate::vm::BackgroundCompiler,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.config)
            .finish()
    }
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(&Config::default()).expect("the default config is valid")
    }
}

impl Engine {
    /// Creates an engine; fails when the configuration asks for something unavailable.
    pub fn new(config: &Config) -> Result<Engine> {
        config.validate()?;
        Ok(Engine {
            inner: Arc::new(EngineInner {
                config: config.clone(),
                signatures: SignatureRegistry::default(),
                trampolines: Default::default(),
                background: crate::vm::BackgroundCompiler::new(config.compile_threads),
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Whether two handles refer to the same engine.
    pub fn same(a: &Engine, b: &Engine) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }

    pub(crate) fn signatures(&self) -> &SignatureRegistry {
        &self.inner.signatures
    }

    pub(crate) fn trampolines(&self) -> &crate::vm::Trampolines {
        &self.inner.trampolines
    }

    pub(crate) fn background(&self) -> &crate::vm::BackgroundCompiler {
        &self.inner.background
    }
}

/// Engine-wide interning of function signatures: equal signatures get equal ids, which is
/// what `call_indirect` compares (`VMFuncRef::type_id`).
#[derive(Default)]
pub(crate) struct SignatureRegistry {
    inner: RwLock<Signatures>,
}

#[derive(Default)]
struct Signatures {
    ids: HashMap<WasmFuncType, u32>,
    types: Vec<WasmFuncType>,
}

impl SignatureRegistry {
    /// The id of `ty`, registering it on first use.
    pub(crate) fn register(&self, ty: &WasmFuncType) -> u32 {
        if let Some(&id) = self
            .inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .ids
            .get(ty)
        {
            return id;
        }
        let mut sigs = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(&id) = sigs.ids.get(ty) {
            return id;
        }
        let id = sigs.types.len() as u32;
        sigs.types.push(ty.clone());
        sigs.ids.insert(ty.clone(), id);
        id
    }

    /// The signature of a registered id.
    pub(crate) fn lookup(&self, id: u32) -> WasmFuncType {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).types[id as usize].clone()
    }
}
