//! `status`: per instance the active connector version, last tick, events (last tick, 24 h, total),
//! cursor lag, queued events and the last error; data from [`okta_ingest::Host::status`]. `--json` for
//! scripts, `--check` for monitoring (non-zero when an instance is failing or silent).

use super::instance::token_kind;
use super::open;
use crate::args::StatusArgs;
use crate::format::{lag, when};
use okta_ingest::state::{shard_of, FleetStatus};
use okta_ingest::{InstanceStatus, LastOutcome};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// Runs `status`.
pub async fn run(db: &Path, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let host = open(db).await?;
    let all = host.status().await?;
    let queued = host.outbox_depth().await?;
    let fleet = host.fleet_status().await?;
    // In a fleet: which host runs each instance (the live owner of its shard).
    let runs_on: std::collections::HashMap<String, (u32, Option<String>)> = match &fleet {
        Some(f) => host
            .list_instances()
            .await?
            .into_iter()
            .map(|i| {
                let shard = shard_of(&i.domain);
                (i.name, (shard, f.owner_of(shard).map(str::to_string)))
            })
            .collect(),
        None => Default::default(),
    };
    if args.json {
        let instances: Vec<serde_json::Value> = all
            .iter()
            .map(|s| {
                let mut v = s.to_json();
                if let (Some((shard, owner)), Some(obj)) = (runs_on.get(&s.name), v.as_object_mut())
                {
                    obj.insert("shard".into(), json!(shard));
                    obj.insert("runs_on".into(), json!(owner));
                }
                v
            })
            .collect();
        let mut doc = json!({
            "state": host.state_location(),
            "queued": queued,
            "instances": instances,
        });
        if let (Some(f), Some(obj)) = (&fleet, doc.as_object_mut()) {
            obj.insert("fleet".into(), fleet_json(f));
        }
        outln!("{doc}");
    } else {
        if let Some(f) = &fleet {
            out!("{}", render_fleet(f));
        }
        outln!("queued for delivery: {queued} events");
        if all.is_empty() {
            outln!("no instances");
        }
        for s in &all {
            out!("{}", render(s));
            if let Some((shard, owner)) = runs_on.get(&s.name) {
                outln!(
                    "  runs on:         {} (shard {shard})",
                    owner
                        .as_deref()
                        .unwrap_or("no host yet (its shard is unclaimed)")
                );
            }
        }
    }
    if !args.check {
        return Ok(ExitCode::SUCCESS);
    }
    let now = okta_ingest_model::time::now_ms() as i64;
    let problems: Vec<String> = all
        .iter()
        .filter_map(|s| problem(s, now, args.stale))
        .collect();
    for p in &problems {
        eprintln!("{p}");
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What `--check` reports for an instance: failing (its last tick failed), silent (no tick within
/// `stale`), or without events for longer than its silence alert.
fn problem(s: &InstanceStatus, now_ms: i64, stale: Duration) -> Option<String> {
    if s.last_outcome == Some(LastOutcome::Failed) {
        return Some(format!(
            "{}: FAILING: {}",
            s.name,
            s.last_error.as_deref().unwrap_or("the last tick failed")
        ));
    }
    let stale_ms = i64::try_from(stale.as_millis()).unwrap_or(i64::MAX);
    match s.last_tick_ms {
        None => Some(format!(
            "{}: SILENT: it never ticked (is `okta-ingest run` running?)",
            s.name
        )),
        Some(at) if now_ms.saturating_sub(at) > stale_ms => Some(format!(
            "{}: SILENT: last tick {} (more than {} ago; is `okta-ingest run` running?)",
            s.name,
            when(Some(at)),
            humantime::format_duration(stale)
        )),
        Some(_) if s.silent() => Some(format!(
            "{}: NO EVENTS: none for {} (its silence alert is {})",
            s.name,
            lag(Some(s.since_last_event)),
            lag(s.silence_after)
        )),
        Some(_) => None,
    }
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
    out.push_str(&match s.phase {
        okta_ingest::Phase::Backfilling { percent } => {
            format!("  state: backfilling, {percent}% done\n")
        }
        p => format!("  state: {}\n", p.as_str()),
    });
    if s.silent() {
        out.push_str(&format!(
            "  SILENT: no events for {} (alert after {})\n",
            lag(Some(s.since_last_event)),
            lag(s.silence_after)
        ));
    }
    out.push_str(&format!(
        "  token: {} (DPoP mode {})\n",
        token_kind(s.token_scheme),
        s.dpop
    ));
    if let Some((at, reason)) = &s.auto_rollback {
        out.push_str(&format!("  {}: {reason}\n", when(Some(*at))));
    }
    if let Some(e) = &s.last_error {
        out.push_str(&format!("  last error: {e}\n"));
    }
    out
}

/// The fleet as `status --json` shows it.
fn fleet_json(f: &FleetStatus) -> serde_json::Value {
    json!({
        "this_host": f.this_host,
        "lease_ttl_ms": f.lease_ttl_ms,
        "hosts": f.hosts.iter().map(|h| json!({
            "id": h.id,
            "name": h.name,
            "pid": h.pid,
            "heartbeat_age_ms": h.heartbeat_age_ms,
            "alive": h.alive,
            "shards": h.shards,
        })).collect::<Vec<_>>(),
        "leases": f.leases.iter().map(|l| json!({
            "shard": l.shard,
            "owner": l.owner,
            "epoch": l.epoch,
            "expires_in_ms": l.expires_in_ms,
        })).collect::<Vec<_>>(),
    })
}

/// The fleet for people: hosts with their last heartbeat, then the leases that have an owner.
fn render_fleet(f: &FleetStatus) -> String {
    let mut out = String::from("fleet hosts:\n");
    if f.hosts.is_empty() {
        out.push_str("  none (no host is running `okta-ingest run` on this state)\n");
    }
    for h in &f.hosts {
        out.push_str(&format!(
            "  {:<32} {:<5} last heartbeat {:.1}s ago, {} shard(s), pid {}\n",
            h.id,
            if h.alive { "alive" } else { "gone" },
            h.heartbeat_age_ms as f64 / 1000.0,
            h.shards,
            h.pid
        ));
    }
    let held: Vec<_> = f.leases.iter().filter(|l| l.owner.is_some()).collect();
    if !held.is_empty() {
        out.push_str("shard leases (shard: owner, epoch, expires in):\n");
        for l in held {
            out.push_str(&format!(
                "  {:>4}: {} epoch {} {}\n",
                l.shard,
                l.owner.as_deref().unwrap_or("-"),
                l.epoch,
                if l.expires_in_ms > 0 {
                    format!("{:.1}s", l.expires_in_ms as f64 / 1000.0)
                } else {
                    "expired".into()
                }
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
            dpop: okta_ingest::DpopMode::Auto,
            token_scheme: Some(okta_ingest::TokenScheme::Dpop),
            phase: okta_ingest::Phase::Live,
            since_last_event: Duration::from_secs(125),
            silence_after: Some(Duration::from_secs(3600)),
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
        assert!(text.contains("  state: live\n"), "{text}");
        assert!(
            text.contains("token: DPoP (ES256) (DPoP mode auto)"),
            "{text}"
        );
    }

    #[test]
    fn check_names_failing_and_silent_instances_only() {
        let base = InstanceStatus {
            name: "org".into(),
            connector: "embedded 0.1.0".into(),
            connector_hash: None,
            last_tick_ms: Some(1_000_000),
            last_outcome: Some(LastOutcome::CaughtUp),
            events_last_tick: 0,
            events_24h: 0,
            events_total: 0,
            last_published: None,
            cursor_lag: None,
            outbox_depth: 0,
            last_error: None,
            auto_rollback: None,
            dpop: okta_ingest::DpopMode::Auto,
            token_scheme: None,
            phase: okta_ingest::Phase::Live,
            since_last_event: Duration::from_secs(125),
            silence_after: Some(Duration::from_secs(3600)),
        };
        let stale = Duration::from_secs(900);
        assert_eq!(problem(&base, 1_000_000 + 60_000, stale), None);
        let silent = problem(&base, 1_000_000 + 901_000, stale).unwrap();
        assert!(silent.starts_with("org: SILENT: last tick"), "{silent}");
        let never = InstanceStatus {
            last_tick_ms: None,
            last_outcome: None,
            ..base.clone()
        };
        assert!(problem(&never, 0, stale).unwrap().contains("never ticked"));
        let quiet = InstanceStatus {
            since_last_event: Duration::from_secs(3601),
            ..base.clone()
        };
        let said = problem(&quiet, 1_000_000 + 60_000, stale).unwrap();
        assert_eq!(
            said,
            "org: NO EVENTS: none for 1h 1s (its silence alert is 1h)"
        );
        assert!(render(&quiet).contains("  SILENT: no events for 1h 1s (alert after 1h)"));
        let off = InstanceStatus {
            silence_after: None,
            ..quiet.clone()
        };
        assert_eq!(problem(&off, 1_000_000 + 60_000, stale), None, "alert off");
        let failing = InstanceStatus {
            last_outcome: Some(LastOutcome::Failed),
            last_error: Some("cannot read private key file /k.pem".into()),
            ..base.clone()
        };
        assert_eq!(
            problem(&failing, 1_000_000, stale).unwrap(),
            "org: FAILING: cannot read private key file /k.pem"
        );
        let j = failing.to_json();
        assert_eq!(j["last_outcome"], "error");
        assert_eq!(j["last_error"], "cannot read private key file /k.pem");
        assert_eq!(j["name"], "org");
    }
}
