//! What one call into a component may use: the limits, and the memory limiter that enforces the cap on
//! the total of all the component's linear memories (not per memory).

use std::time::Duration;
use wasmtime::{StoreLimits, StoreLimitsBuilder};

/// Limits for one call into a component.
#[derive(Debug, Clone)]
pub struct SandboxLimits {
    /// Cap on all of the component's linear memories together, bytes.
    pub memory_bytes: usize,
    /// Wall-clock limit of one tick.
    pub call_timeout: Duration,
    /// Wall-clock limit of one check (at most `call_timeout`): a check reads one small page.
    pub check_timeout: Duration,
    /// Wall-clock limit of `describe`, which only returns constants.
    pub describe_timeout: Duration,
    /// Most events in one committed page.
    pub max_events_per_page: usize,
    /// Largest single event, bytes.
    pub max_event_bytes: usize,
    /// Largest cursor state, bytes.
    pub max_state_bytes: usize,
}

impl Default for SandboxLimits {
    /// 512 MiB of memory, 15 minutes a tick, 30 s for a check, 10 s for `describe`, pages of up to
    /// 10,000 events of up to 8 MiB each, cursors of up to 4 MiB.
    fn default() -> Self {
        SandboxLimits {
            memory_bytes: 512 << 20,
            call_timeout: Duration::from_secs(15 * 60),
            check_timeout: Duration::from_secs(30),
            describe_timeout: Duration::from_secs(10),
            max_events_per_page: 10_000,
            max_event_bytes: 8 << 20,
            max_state_bytes: 4 << 20,
        }
    }
}

/// The memory cap (`StoreLimits`), remembering a refused growth so the error can name the limit.
pub(super) struct Limiter {
    inner: StoreLimits,
    pub(super) memory_bytes: usize,
    pub(super) refused_growth: Option<usize>,
    total: usize,
}

impl Limiter {
    pub(super) fn new(memory_bytes: usize) -> Limiter {
        Limiter {
            inner: StoreLimitsBuilder::new()
                .memory_size(memory_bytes)
                .instances(4)
                .tables(20)
                .memories(4)
                .trap_on_grow_failure(true)
                .build(),
            memory_bytes,
            refused_growth: None,
            total: 0,
        }
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total_after = self.total.saturating_sub(current).saturating_add(desired);
        if total_after > self.memory_bytes {
            self.refused_growth = Some(total_after);
            wasmtime::bail!(
                "memory limit of {} bytes exceeded (wanted {total_after})",
                self.memory_bytes
            );
        }
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        if allowed {
            self.total = total_after;
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}
