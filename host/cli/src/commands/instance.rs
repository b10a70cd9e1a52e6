//! `instance add|list|show|edit|remove`.

use super::open;
use super::setup::key::PendingKey;
use crate::args::{AddArgs, EditArgs, InstanceCmd};
use crate::format::when;
use okta_ingest::{EditInstance, GeneratedKey, Instance, NewInstance};
use std::path::Path;
use std::process::ExitCode;

/// Runs an `instance` subcommand.
pub async fn run(db: &Path, cmd: InstanceCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        InstanceCmd::Add(a) => add(db, a).await,
        InstanceCmd::List { json } => list(db, json).await,
        InstanceCmd::Show { name } => {
            let rec = open(db).await?.instance(&name).await?;
            print_details(&rec)?;
            Ok(ExitCode::SUCCESS)
        }
        InstanceCmd::Edit(e) => edit(db, e).await,
        InstanceCmd::Pause { name } => {
            open(db).await?.set_paused(&name, true).await?;
            outln!("paused instance {name}: it is not polled until `okta-ingest instance resume {name}`");
            Ok(ExitCode::SUCCESS)
        }
        InstanceCmd::Resume { name } => {
            open(db).await?.set_paused(&name, false).await?;
            outln!("resumed instance {name}: a running `okta-ingest run` polls it within 10 s");
            Ok(ExitCode::SUCCESS)
        }
        InstanceCmd::RotateKey {
            name,
            finish,
            cancel,
        } => rotate_key(db, &name, finish, cancel).await,
        InstanceCmd::Remove { name } => {
            let queued = open(db).await?.remove_instance(&name).await?;
            if queued > 0 {
                outln!(
                    "removed instance {name}; its {queued} queued events will still be delivered by the next run"
                );
            } else {
                outln!("removed instance {name}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn add(db: &Path, a: AddArgs) -> anyhow::Result<ExitCode> {
    let redaction = okta_ingest::Redaction::parse(&a.redact, &a.redact_keep)
        .map_err(|e| anyhow::anyhow!("--redact / --redact-keep: {e}"))?;
    let host = open(db).await?;
    // A generated key is removed again if the instance is not added (dropping `generated` does it).
    let generated = match a.private_key {
        Some(_) => None,
        None => Some(PendingKey::write(
            GeneratedKey::generate()?,
            &crate::state_location::local_path(db),
            &a.name,
        )?),
    };
    let (private_key, key_id) = match &generated {
        Some(key) => (key.path().to_path_buf(), Some(key.public().kid.clone())),
        // clap requires --private-key without --generate-key.
        None => (a.private_key.clone().unwrap_or_default(), a.key_id.clone()),
    };
    let added = host
        .add_instance(NewInstance {
            exclusions: a.exclude_event_types,
            redaction,
            name: a.name,
            domain: a.domain,
            client_id: a.client_id,
            private_key,
            key_id,
            backfill_days: a.backfill_days,
            categories: a.events,
            ca_file: a.ca_file,
            dpop: a.dpop,
            silence_after: a.silence_alert.0,
        })
        .await;
    let rec = added?;
    let generated = generated.map(|key| {
        let public = key.public().clone();
        key.keep();
        public
    });
    let summary = format!(
        "added instance {} ({}, events: {}, backfill: {} days, DPoP: {})",
        rec.name, rec.domain, rec.categories, rec.backfill_days, rec.dpop
    );
    match generated {
        None => outln!("{summary}; next: okta-ingest check {}", rec.name),
        Some(public) => {
            outln!("{summary}");
            outln!();
            super::keygen::print_registration(
                &rec.private_key_path,
                &public,
                &format!("okta-ingest check {}", rec.name),
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn edit(db: &Path, e: EditArgs) -> anyhow::Result<ExitCode> {
    let host = open(db).await?;
    // Any value is refused (the backfill is fixed at creation); the library says why.
    let backfill = e.backfill_days.map(|s| s.parse::<u8>().unwrap_or(u8::MAX));
    // Either half of the redaction may change; the other is kept as stored.
    let redaction = match (&e.redact, &e.redact_keep) {
        (None, None) => None,
        (remove, keep) => {
            let current = host.instance(&e.name).await?.redaction;
            let remove = remove
                .clone()
                .unwrap_or_else(|| current.remove_paths().join(","));
            let keep = keep
                .clone()
                .unwrap_or_else(|| current.keep_paths().join(","));
            Some(
                okta_ingest::Redaction::parse(&remove, &keep)
                    .map_err(|e| anyhow::anyhow!("--redact / --redact-keep: {e}"))?,
            )
        }
    };
    let rec = host
        .edit_instance(
            &e.name,
            EditInstance {
                domain: e.domain,
                client_id: e.client_id,
                private_key: e.private_key,
                key_id: if e.no_key_id {
                    Some(None)
                } else {
                    e.key_id.map(Some)
                },
                categories: e.events,
                ca_file: if e.no_ca_file {
                    Some(None)
                } else {
                    e.ca_file.map(Some)
                },
                backfill_days: backfill,
                dpop: e.dpop,
                silence_after: e.silence_alert.map(|s| s.0),
                paused: None,
                exclusions: e.exclude_event_types,
                redaction,
            },
        )
        .await?;
    outln!("updated instance {}", rec.name);
    print_details(&rec)?;
    Ok(ExitCode::SUCCESS)
}

async fn list(db: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let recs = open(db).await?.list_instances().await?;
    if json {
        let all: Vec<serde_json::Value> = recs.iter().map(instance_json).collect();
        outln!("{}", serde_json::Value::Array(all));
        return Ok(ExitCode::SUCCESS);
    }
    if recs.is_empty() {
        outln!("no instances; add one with `okta-ingest instance add NAME --domain ... --client-id ... --private-key ...`");
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{:<16} {:<28} {:<36} {:>8} {:<21} {:<10} {:>10}",
        "NAME",
        "DOMAIN",
        "EVENTS",
        "BACKFILL",
        "LAST TICK",
        "OUTCOME",
        "DELIVERED"
    );
    for r in recs {
        outln!(
            "{:<16} {:<28} {:<36} {:>7}d {:<21} {:<10} {:>10}",
            r.name,
            r.domain,
            r.categories.to_string(),
            r.backfill_days,
            when(r.last_tick_ms),
            r.last_outcome.map_or("-", |o| o.as_str()),
            r.events_total
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_details(r: &Instance) -> std::io::Result<()> {
    outln!("name:          {}", r.name);
    outln!("domain:        {}", r.domain);
    outln!("client id:     {}", r.client_id);
    outln!("key id:        {}", r.key_id.as_deref().unwrap_or("-"));
    outln!(
        "private key:   {} (file; contents never stored)",
        r.private_key_path.display()
    );
    outln!(
        "ca file:       {}",
        r.ca_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "- (system roots)".into())
    );
    outln!("events:        {}", r.categories);
    if !r.exclusions.is_empty() {
        outln!(
            "excluded:      {} (dropped before the outbox: no sink receives them)",
            r.exclusions
        );
    }
    if !r.redaction.is_empty() {
        let keep = r.redaction.keep_paths();
        outln!(
            "redacted:      {}{} (removed before the outbox: no sink receives them)",
            r.redaction.remove_paths().join(", "),
            if keep.is_empty() {
                String::new()
            } else {
                format!(", keeping {}", keep.join(", "))
            }
        );
    }
    outln!("dpop:          {}", r.dpop);
    if r.paused {
        outln!(
            "paused:        yes (`okta-ingest instance resume {}`)",
            r.name
        );
    }
    outln!("silence alert: {}", silence_text(r.silence_after_s));
    outln!("token:         {}", token_kind(r.token_scheme));
    outln!("backfill:      {} days", r.backfill_days);
    outln!(
        "cursor:        {}",
        if r.has_cursor {
            "saved"
        } else {
            "none yet (first run backfills)"
        }
    );
    outln!(
        "last tick:     {} ({})",
        when(r.last_tick_ms),
        r.last_outcome.map_or("-", |o| o.as_str())
    );
    if let Some(e) = &r.last_error {
        outln!("last error:    {e}");
    }
    outln!("events total:  {}", r.events_total);
    Ok(())
}

/// How the instance's last token was presented, for people.
pub(crate) fn token_kind(scheme: Option<okta_ingest::TokenScheme>) -> String {
    match scheme {
        Some(okta_ingest::TokenScheme::Dpop) => format!("DPoP ({})", okta_ingest::DPOP_PROOF_ALG),
        Some(okta_ingest::TokenScheme::Bearer) => "Bearer".into(),
        None => "none yet".into(),
    }
}

/// One instance for `--json`: its settings (the key's path, never its contents) and its last tick.
fn instance_json(r: &Instance) -> serde_json::Value {
    serde_json::json!({
        "name": r.name,
        "domain": r.domain,
        "client_id": r.client_id,
        "key_id": r.key_id,
        "private_key": r.private_key_path.display().to_string(),
        "ca_file": r.ca_file.as_ref().map(|p| p.display().to_string()),
        "backfill_days": r.backfill_days,
        "events": r.categories.names(),
        "excluded_event_types": r.exclusions.entries(),
        "redact": r.redaction.remove_paths(),
        "redact_keep": r.redaction.keep_paths(),
        "dpop": r.dpop.as_str(),
        "paused": r.paused,
        "silence_alert_s": (r.silence_after_s > 0).then_some(r.silence_after_s),
        "token_scheme": r.token_scheme.map(|s| s.as_str()),
        "created_ms": r.created_ms,
        "last_tick_ms": r.last_tick_ms,
        "last_outcome": r.last_outcome.map(|o| o.as_str()),
        "last_error": r.last_error,
        "events_total": r.events_total,
    })
}

/// A stored silence alert for people: `after 1h` or `off`.
fn silence_text(seconds: i64) -> String {
    match u64::try_from(seconds) {
        Ok(s) if s > 0 => format!(
            "after {} without an event",
            humantime::format_duration(std::time::Duration::from_secs(s))
        ),
        _ => "off".into(),
    }
}

/// `instance rotate-key NAME [--finish | --cancel]`.
async fn rotate_key(db: &Path, name: &str, finish: bool, cancel: bool) -> anyhow::Result<ExitCode> {
    let host = open(db).await?;
    if cancel {
        host.cancel_key_rotation(name).await?;
        outln!(
            "key rotation of {name} cancelled: the new key was deleted, the instance keeps its key"
        );
        return Ok(ExitCode::SUCCESS);
    }
    if finish {
        let done = host.finish_key_rotation(name).await?;
        outln!("{}", done.check);
        outln!("{name} now signs with key {}.", done.new_kid);
        let old = done.old_kid.as_deref().unwrap_or("the old key");
        if done.old_key.1 {
            outln!("The old key file {} was deleted.", done.old_key.0.display());
        } else {
            outln!(
                "The old key file {} was not made by okta-ingest and was left in place: delete it once nothing else uses it.",
                done.old_key.0.display()
            );
        }
        outln!("In Okta, retire {old}: the app's General tab › Client Credentials › the key › Deactivate, then Delete.");
        return Ok(ExitCode::SUCCESS);
    }
    let public = host.start_key_rotation(name).await?;
    let rec = host.instance(name).await?;
    let path = rec
        .pending_key
        .map(|(p, _)| p)
        .unwrap_or_else(|| rec.private_key_path.clone());
    outln!("{name} keeps signing with its current key until the new one is in Okta.");
    outln!();
    super::keygen::print_registration(
        &path,
        &public,
        &format!("okta-ingest instance rotate-key {name} --finish    (checks with the new key, then switches)"),
    )?;
    Ok(ExitCode::SUCCESS)
}
