//! `state migrate`: one host's SQLite state into a fleet's PostgreSQL (`okta_ingest::state::migrate`).

use crate::args::StateCmd;
use anyhow::Context;
use okta_ingest::state::{sqlite_to_postgres, PostgresState, SqliteState, StateBackend};
use std::process::ExitCode;

/// Runs `state ...`.
pub async fn run(cmd: StateCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        StateCmd::Migrate { from, to } => {
            if crate::state_location::is_fleet(&from) || !from.is_file() {
                anyhow::bail!(
                    "--from must be an existing SQLite state file; {} is not one",
                    from.display()
                );
            }
            if !crate::state_location::is_fleet(std::path::Path::new(&to)) {
                anyhow::bail!(
                    "--to must be a PostgreSQL URL (postgres://USER@HOST/DB), not {to:?}"
                );
            }
            let source = SqliteState::open(&from)?;
            let target = PostgresState::connect(crate::state_location::postgres_options(&to)?)
                .await
                .context("cannot open the target state")?;
            let report = sqlite_to_postgres(&source, &target).await?;
            outln!(
                "moved {} instance(s), {} queued event(s), {} stored connector version(s) and {} activation(s) from {} to {}",
                report.instances,
                report.queued_events,
                report.components,
                report.activations,
                from.display(),
                target.location()
            );
            if let Some(w) = &report.pending_write {
                match w.sink.strip_prefix("file:") {
                    Some(path) => outln!(
                        "note: a write to {path} (events {}..={}) was not acknowledged when the source stopped; those events were moved and will be delivered again by the fleet. To keep that file free of them, cut it back to {} bytes (what the next start would have done): truncate -s {} {path}",
                        w.first_seq,
                        w.last_seq,
                        w.offset,
                        w.offset
                    ),
                    None => outln!(
                        "note: a write to {} (events {}..={}) was not acknowledged when the source stopped; those events were moved and will be delivered again (a webhook batch under a new Idempotency-Key)",
                        w.sink,
                        w.first_seq,
                        w.last_seq
                    ),
                }
            }
            outln!(
                "{} is retired (its instances paused, its queue handed over). Start the hosts with --db pointing at the target.",
                from.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
