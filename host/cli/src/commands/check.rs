//! `check NAME`: a token and one small page of the System Log, nothing committed; says what to fix.

use super::open;
use anyhow::Context;
use okta_ingest::HostError;
use std::path::Path;
use std::process::ExitCode;

/// Runs `check`.
pub async fn run(db: &Path, name: &str) -> anyhow::Result<ExitCode> {
    let host = open(db)?;
    // Fail fast on a missing instance before compiling the component.
    host.instance(name).await?;
    match host.check(name).await {
        Ok(msg) => {
            outln!("{name}: {msg}");
            Ok(ExitCode::SUCCESS)
        }
        Err(HostError::Check { message, .. }) => {
            outln!("{name}: FAILED: {message}");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e).context(format!("check {name}")),
    }
}
