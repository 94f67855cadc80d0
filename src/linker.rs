//! `Linker`: resolves a module's imports by name and instantiates it.

use crate::func::{dynamic_host_fn, IntoFunc};
use crate::store::{AsContext, AsContextMut, StoreInner};
use crate::types::FuncType;
use crate::vm::HostFn;
use crate::{Caller, Engine, Extern, Func, Instance, Module, Val};
use anyhow::{bail, Result};
use std::collections::HashMap;
use std::sync::Arc;

/// Named definitions (`module::name`) used to satisfy imports.
///
/// Host functions defined with `func_wrap`/`func_new` belong to no store: each store gets
/// its own instance of them on first use by `instantiate`.
pub struct Linker<T> {
    engine: Engine,
    map: HashMap<(String, String), Definition<T>>,
    allow_shadowing: bool,
}

enum Definition<T> {
    Extern(Extern),
    HostFunc(FuncType, Arc<HostFn<T>>),
}

impl<T> Clone for Definition<T> {
    fn clone(&self) -> Self {
        match self {
            Definition::Extern(e) => Definition::Extern(*e),
            Definition::HostFunc(ty, f) => Definition::HostFunc(ty.clone(), f.clone()),
        }
    }
}

impl<T> Clone for Linker<T> {
    fn clone(&self) -> Self {
        Linker {
            engine: self.engine.clone(),
            map: self.map.clone(),
            allow_shadowing: self.allow_shadowing,
        }
    }
}

impl<T> std::fmt::Debug for Linker<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Linker")
            .field("definitions", &self.map.len())
            .finish()
    }
}

impl<T: 'static> Linker<T> {
    pub fn new(engine: &Engine) -> Linker<T> {
        Linker {
            engine: engine.clone(),
            map: HashMap::new(),
            allow_shadowing: false,
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Whether a later definition of the same name replaces an earlier one (default: error).
    pub fn allow_shadowing(&mut self, allow: bool) -> &mut Self {
        self.allow_shadowing = allow;
        self
    }

    fn insert(&mut self, module: &str, name: &str, def: Definition<T>) -> Result<&mut Self> {
        let key = (module.to_string(), name.to_string());
        if !self.allow_shadowing && self.map.contains_key(&key) {
            bail!("import of `{module}::{name}` defined twice");
        }
        self.map.insert(key, def);
        Ok(self)
    }

    /// Defines `module::name` as `item`, an object of `store`.
    pub fn define(
        &mut self,
        store: impl AsContext<Data = T>,
        module: &str,
        name: &str,
        item: impl Into<Extern>,
    ) -> Result<&mut Self> {
        let item = item.into();
        store.as_context().0.opaque().check_owns(item.store_id())?;
        self.insert(module, name, Definition::Extern(item))
    }

    /// Defines a host function from a Rust closure (the signature comes from its types).
    pub fn func_wrap<Params, Results>(
        &mut self,
        module: &str,
        name: &str,
        func: impl IntoFunc<T, Params, Results>,
    ) -> Result<&mut Self> {
        let def = func.into_host_fn(&self.engine);
        self.insert(module, name, Definition::HostFunc(def.ty, def.func))
    }

    /// Defines a host function with a dynamic signature.
    pub fn func_new(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
        func: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static,
    ) -> Result<&mut Self> {
        let host = dynamic_host_fn(ty.clone(), func);
        self.insert(module, name, Definition::HostFunc(ty, host))
    }

    /// Defines every export of `instance` under `module_name`.
    pub fn instance(
        &mut self,
        mut store: impl AsContextMut<Data = T>,
        module_name: &str,
        instance: Instance,
    ) -> Result<&mut Self> {
        let exports: Vec<(String, Extern)> = instance
            .exports(&mut store)
            .map(|e| (e.name().to_string(), e.into_extern()))
            .collect();
        for (name, ext) in exports {
            self.insert(module_name, &name, Definition::Extern(ext))?;
        }
        Ok(self)
    }

    /// Instantiates `module` and defines its exports under `module_name`.
    pub fn module(
        &mut self,
        mut store: impl AsContextMut<Data = T>,
        module_name: &str,
        module: &Module,
    ) -> Result<&mut Self> {
        let instance = self.instantiate(&mut store, module)?;
        self.instance(store, module_name, instance)
    }

    /// The definition of `module::name` as an object of `store`.
    pub fn get(
        &self,
        mut store: impl AsContextMut<Data = T>,
        module: &str,
        name: &str,
    ) -> Option<Extern> {
        let def = self.map.get(&(module.to_string(), name.to_string()))?;
        Some(self.materialize(store.as_context_mut().0, def))
    }

    fn materialize(&self, store: &mut StoreInner<T>, def: &Definition<T>) -> Extern {
        match def {
            Definition::Extern(e) => *e,
            Definition::HostFunc(ty, host) => Extern::Func(Func::new_host(store, ty, host.clone())),
        }
    }

    /// Instantiates `module`, resolving each import by name; an undefined import is an error
    /// that names it.
    pub fn instantiate(
        &self,
        mut store: impl AsContextMut<Data = T>,
        module: &Module,
    ) -> Result<Instance> {
        let store = store.as_context_mut().0;
        let mut imports = Vec::with_capacity(module.info().imports.len());
        for import in module.imports() {
            let key = (import.module().to_string(), import.name().to_string());
            let Some(def) = self.map.get(&key) else {
                bail!(
                    "unknown import: `{}::{}` has not been defined",
                    import.module(),
                    import.name()
                );
            };
            imports.push(self.materialize(store, def));
        }
        Instance::instantiate(store, module, &imports)
    }
}
