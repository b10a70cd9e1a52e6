//! `status`: per instance the active connector version, last tick, events (last tick, 24 h, total),
//! cursor lag, queued events and the last error; data from [`okta_ingest::Host::status`].

use super::open;
use crate::format::{lag, when};
use okta_ingest::InstanceStatus;
use std::path::Path;
use std::process::ExitCode;

/// Runs `status`.
pub async fn run(db: &Path) -> anyhow::Result<ExitCode> {
    let host = open(db)?;
    let all = host.status().await?;
    outln!("queued for delivery: {} events", host.outbox_depth().await?);
    if all.is_empty() {
        outln!("no instances");
        return Ok(ExitCode::SUCCESS);
    }
    for s in &all {
        out!("{}", render(s));
    }
    Ok(ExitCode::SUCCESS)
}

/// The lines of one instance.
fn render(s: &InstanceStatus) -> String {
    let mut out = format!(
        "{}: connector {}; last tick {} ({})\n  events: {} in last tick, {} in last 24 h, {} total; queued {}; cursor lag {}",
        s.name,
        s.connector,
        when(s.last_tick_ms),
        s.last_outcome.map_or("-", |o| o.as_str()),
        s.events_last_tick,
        s.events_24h,
        s.events_total,
        s.outbox_depth,
        lag(s.cursor_lag),
    );
    if let Some(p) = &s.last_published {
        out.push_str(&format!(" (newest published {p})"));
    }
    out.push('\n');
    if let Some((at, reason)) = &s.auto_rollback {
        out.push_str(&format!("  {}: {reason}\n", when(Some(*at))));
    }
    if let Some(e) = &s.last_error {
        out.push_str(&format!("  last error: {e}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use okta_ingest::LastOutcome;
    use std::time::Duration;

    #[test]
    fn one_instance_renders_every_figure() {
        let s = InstanceStatus {
            name: "org".into(),
            connector: "embedded 0.1.0".into(),
            connector_hash: None,
            last_tick_ms: Some(1_767_225_600_000),
            last_outcome: Some(LastOutcome::CaughtUp),
            events_last_tick: 3,
            events_24h: 40,
            events_total: 42,
            last_published: Some("2026-01-01T00:00:00.000Z".into()),
            cursor_lag: Some(Duration::from_millis(125_400)),
            outbox_depth: 5,
            last_error: Some("boom".into()),
            auto_rollback: None,
        };
        let text = render(&s);
        assert!(text.starts_with(
            "org: connector embedded 0.1.0; last tick 2026-01-01T00:00:00Z (caught-up)\n"
        ));
        assert!(
            text.contains(
                "events: 3 in last tick, 40 in last 24 h, 42 total; queued 5; cursor lag 2m 5s"
            ),
            "{text}"
        );
        assert!(text.contains("last error: boom"));
    }
}
