//! Resource limits: how much memory, how many tables and instances a store may create.

use anyhow::Result;

/// Consulted by a store before it creates or grows memories and tables, and before it
/// creates instances (see `Store::limiter`).
pub trait ResourceLimiter {
    /// A memory wants to grow from `current` to `desired` bytes (`maximum` from its type).
    /// Returning `Ok(false)` makes the growth fail (`memory.grow` returns -1, instantiation
    /// fails).
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool>;

    /// A table wants to grow from `current` to `desired` elements.
    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool>;

    /// Maximum number of instances in the store.
    fn instances(&self) -> usize {
        DEFAULT_INSTANCE_LIMIT
    }
    /// Maximum number of tables in the store.
    fn tables(&self) -> usize {
        DEFAULT_TABLE_LIMIT
    }
    /// Maximum number of linear memories in the store.
    fn memories(&self) -> usize {
        DEFAULT_MEMORY_LIMIT
    }
}

pub const DEFAULT_INSTANCE_LIMIT: usize = 10_000;
pub const DEFAULT_TABLE_LIMIT: usize = 10_000;
pub const DEFAULT_MEMORY_LIMIT: usize = 10_000;

/// A [`ResourceLimiter`] with fixed limits, built by [`StoreLimitsBuilder`].
#[derive(Debug, Clone)]
pub struct StoreLimits {
    memory_size: Option<usize>,
    table_elements: Option<usize>,
    instances: usize,
    tables: usize,
    memories: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            memory_size: None,
            table_elements: None,
            instances: DEFAULT_INSTANCE_LIMIT,
            tables: DEFAULT_TABLE_LIMIT,
            memories: DEFAULT_MEMORY_LIMIT,
        }
    }
}

impl ResourceLimiter for StoreLimits {
    fn memory_growing(&mut self, _: usize, desired: usize, _: Option<usize>) -> Result<bool> {
        Ok(self.memory_size.is_none_or(|limit| desired <= limit))
    }
    fn table_growing(&mut self, _: usize, desired: usize, _: Option<usize>) -> Result<bool> {
        Ok(self.table_elements.is_none_or(|limit| desired <= limit))
    }
    fn instances(&self) -> usize {
        self.instances
    }
    fn tables(&self) -> usize {
        self.tables
    }
    fn memories(&self) -> usize {
        self.memories
    }
}

/// Builds [`StoreLimits`].
#[derive(Debug, Clone, Default)]
pub struct StoreLimitsBuilder(StoreLimits);

impl StoreLimitsBuilder {
    pub fn new() -> Self {
        Self::default()
    }
    /// Maximum size in bytes of each linear memory.
    pub fn memory_size(mut self, limit: usize) -> Self {
        self.0.memory_size = Some(limit);
        self
    }
    /// Maximum number of elements of each table.
    pub fn table_elements(mut self, limit: usize) -> Self {
        self.0.table_elements = Some(limit);
        self
    }
    pub fn instances(mut self, limit: usize) -> Self {
        self.0.instances = limit;
        self
    }
    pub fn tables(mut self, limit: usize) -> Self {
        self.0.tables = limit;
        self
    }
    pub fn memories(mut self, limit: usize) -> Self {
        self.0.memories = limit;
        self
    }
    pub fn build(self) -> StoreLimits {
        self.0
    }
}
