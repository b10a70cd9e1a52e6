//! Moving a single host's state (SQLite) into a fleet's (PostgreSQL): instances with their cursors,
//! the undelivered outbox, delivery progress, stored connector versions and their activation history,
//! and the DPoP nonces. Ingestion continues exactly where it stopped: the cursors move unchanged, and
//! every queued event moves once into its shard's stream.
//!
//! The source's runner lock is held for the whole move (a host running the source is refused, and
//! none can start meanwhile). Everything is written to the target in one transaction, into a target
//! that has no instances and no outbox yet, then counted back. Only then is the source retired: its
//! instances are paused and its queue acknowledged, so an accidental `run` on the old file neither
//! polls Okta nor delivers the moved events a second time.

use super::{
    ComponentRecord, Instance, InstanceChanges, InstanceStore, NonceStore, Outbox, OutboxEvent,
    PendingWrite, PostgresState, Scope, SqliteState, StateBackend, StateError, Stream, TickLog,
    VersionStore,
};

/// Events read from the source per batch.
const READ_BATCH: usize = 5000;

/// What moved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Instances copied (with their cursors).
    pub instances: usize,
    /// Undelivered events moved into the target's outbox.
    pub queued_events: usize,
    /// Stored connector versions copied (with their bytes).
    pub components: usize,
    /// Activation history entries copied.
    pub activations: usize,
    /// A sink write the source had recorded and not acknowledged: its events moved too and will be
    /// delivered again by the fleet (a webhook batch under a new `Idempotency-Key`, as the fleet's
    /// streams number their events afresh).
    pub pending_write: Option<PendingWrite>,
}

/// Everything the target receives, read from the source.
pub(crate) struct MigrationPlan {
    /// Instances, with their cursor and newest `published`.
    pub(crate) instances: Vec<(Instance, Option<Vec<u8>>, Option<String>)>,
    /// Undelivered events in commit order.
    pub(crate) queued: Vec<OutboxEvent>,
    /// Stored versions with their bytes.
    pub(crate) components: Vec<(ComponentRecord, Vec<u8>)>,
    /// Activations (scope, version, kind, reason, at_ms) in the order they happened.
    pub(crate) activations: Vec<super::Activation>,
    /// DPoP nonces per domain.
    pub(crate) nonces: Vec<(String, String, i64)>,
}

/// Moves `source` into `target` (see the module's description).
pub async fn sqlite_to_postgres(
    source: &SqliteState,
    target: &PostgresState,
) -> Result<MigrationReport, StateError> {
    let _source_lock = source.claim_runner().await?;
    let instances = source.list_instances().await?;
    let stats = source.instance_stats(0).await?;
    let mut with_cursors = Vec::with_capacity(instances.len());
    for i in &instances {
        let cursor = source.cursor(i.id).await?;
        let published = stats.get(&i.id).and_then(|s| s.last_published.clone());
        with_cursors.push((i.clone(), cursor, published));
    }
    let mut delivery = source.delivery().await?;
    let acked = delivery.acked_seq(Stream::Whole).await?;
    let pending_write = delivery.pending_write(Stream::Whole).await?;
    let mut queued = Vec::new();
    let mut after = acked;
    loop {
        let batch = delivery
            .read_batch(Stream::Whole, after, READ_BATCH)
            .await?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        queued.extend(batch);
    }
    let mut components = Vec::new();
    for c in source.components().await? {
        let bytes = std::fs::read(&c.path).map_err(|e| StateError::Io {
            action: "reading a stored connector version",
            source: std::io::Error::new(e.kind(), format!("{}: {e}", c.path.display())),
        })?;
        if super::ComponentHash::of(&bytes) != c.hash {
            return Err(StateError::Corrupt {
                path: c.path.display().to_string(),
                detail: format!(
                    "the stored connector version {} no longer matches its hash",
                    c.version
                ),
            });
        }
        components.push((c, bytes));
    }
    let mut activations = source.activations(Scope::Global).await?;
    for i in &instances {
        activations.extend(source.activations(Scope::Instance(i.id)).await?);
    }
    activations.sort_by_key(|a| a.seq);
    let mut nonces = Vec::new();
    for domain in instances
        .iter()
        .map(|i| i.domain.clone())
        .collect::<std::collections::BTreeSet<_>>()
    {
        if let Some((nonce, at)) = source.dpop_nonce(&domain).await? {
            nonces.push((domain, nonce, at));
        }
    }
    let plan = MigrationPlan {
        instances: with_cursors,
        queued,
        components,
        activations,
        nonces,
    };
    target.import(&plan).await?;

    // Counted back from the target before the source is retired.
    let report = MigrationReport {
        instances: plan.instances.len(),
        queued_events: plan.queued.len(),
        components: plan.components.len(),
        activations: plan.activations.len(),
        pending_write,
    };
    let moved = (
        target.list_instances().await?.len(),
        usize::try_from(target.outbox_depth().await?).unwrap_or(usize::MAX),
        target.components().await?.len(),
    );
    if moved != (report.instances, report.queued_events, report.components) {
        return Err(StateError::Database(
            format!(
                "the target holds {} instances, {} queued events and {} versions after the move, not {}, {} and {}; the source was left as it was",
                moved.0, moved.1, moved.2, report.instances, report.queued_events, report.components
            )
            .into(),
        ));
    }
    if let Some(last) = plan.queued.last() {
        delivery.ack(Stream::Whole, last.seq).await?;
    }
    for (i, _, _) in &plan.instances {
        source
            .edit_instance(
                &i.name,
                &InstanceChanges {
                    paused: Some(true),
                    ..Default::default()
                },
            )
            .await?;
    }
    Ok(report)
}
