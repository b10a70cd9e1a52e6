//! `instance add|list|show|edit|remove` and `check`.

use super::args::{AddArgs, EditArgs, InstanceCmd};
use anyhow::Context;
use okta_ingest::state::InstanceRecord;
use okta_ingest::{Categories, EditInstance, Host, HostConfig, NewInstance};
use std::path::Path;
use std::process::ExitCode;

pub(crate) fn open(db: &Path) -> anyhow::Result<Host> {
    Ok(Host::open(HostConfig::new(db))?)
}

/// Runs an `instance` subcommand.
pub async fn run(db: &Path, cmd: InstanceCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        InstanceCmd::Add(a) => add(db, a),
        InstanceCmd::List => list(db),
        InstanceCmd::Show { name } => {
            let rec = open(db)?.instance(&name)?;
            print_details(&rec);
            Ok(ExitCode::SUCCESS)
        }
        InstanceCmd::Edit(e) => edit(db, e),
        InstanceCmd::Remove { name } => {
            open(db)?.remove_instance(&name)?;
            println!("removed instance {name}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn add(db: &Path, a: AddArgs) -> anyhow::Result<ExitCode> {
    let host = open(db)?;
    let rec = host.add_instance(NewInstance {
        name: a.name,
        domain: a.domain,
        client_id: a.client_id,
        private_key: a.private_key,
        key_id: a.key_id,
        backfill_days: a.backfill_days,
        categories: a.events,
        ca_file: a.ca_file,
    })?;
    println!(
        "added instance {} ({}, events: {}, backfill: {} days); next: okta-ingest check {}",
        rec.name,
        rec.domain,
        Categories::from_bits(rec.categories),
        rec.backfill_days,
        rec.name
    );
    Ok(ExitCode::SUCCESS)
}

fn edit(db: &Path, e: EditArgs) -> anyhow::Result<ExitCode> {
    let host = open(db)?;
    let backfill = match e.backfill_days {
        Some(s) => Some(s.parse::<u8>().unwrap_or(u8::MAX)),
        None => None,
    };
    let rec = host.edit_instance(
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
        },
    )?;
    println!("updated instance {}", rec.name);
    print_details(&rec);
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn when(ms: Option<i64>) -> String {
    match ms {
        Some(ms) if ms > 0 => {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64);
            humantime::format_rfc3339_seconds(t).to_string()
        }
        _ => "never".into(),
    }
}

fn list(db: &Path) -> anyhow::Result<ExitCode> {
    let recs = open(db)?.list_instances()?;
    if recs.is_empty() {
        println!("no instances; add one with `okta-ingest instance add NAME --domain ... --client-id ... --private-key ...`");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<16} {:<28} {:<36} {:>8} {:<21} {:<10} {:>10}",
        "NAME", "DOMAIN", "EVENTS", "BACKFILL", "LAST TICK", "OUTCOME", "DELIVERED"
    );
    for r in recs {
        println!(
            "{:<16} {:<28} {:<36} {:>7}d {:<21} {:<10} {:>10}",
            r.name,
            r.domain,
            Categories::from_bits(r.categories).to_string(),
            r.backfill_days,
            when(r.last_tick_ms),
            r.last_outcome.as_deref().unwrap_or("-"),
            r.events_total
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_details(r: &InstanceRecord) {
    println!("name:          {}", r.name);
    println!("domain:        {}", r.domain);
    println!("client id:     {}", r.client_id);
    println!("key id:        {}", r.key_id.as_deref().unwrap_or("-"));
    println!(
        "private key:   {} (file; contents never stored)",
        r.private_key_path.display()
    );
    println!(
        "ca file:       {}",
        r.ca_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "- (system roots)".into())
    );
    println!("events:        {}", Categories::from_bits(r.categories));
    println!("backfill:      {} days", r.backfill_days);
    println!(
        "cursor:        {}",
        if r.has_cursor {
            "saved"
        } else {
            "none yet (first run backfills)"
        }
    );
    println!(
        "last tick:     {} ({})",
        when(r.last_tick_ms),
        r.last_outcome.as_deref().unwrap_or("-")
    );
    if let Some(e) = &r.last_error {
        println!("last error:    {e}");
    }
    println!("events total:  {}", r.events_total);
}

/// `check NAME`.
pub async fn check(db: &Path, name: &str) -> anyhow::Result<ExitCode> {
    let host = open(db)?;
    // Fail fast on a missing instance before compiling the component.
    host.instance(name)?;
    match host.check(name).await {
        Ok(msg) => {
            println!("{name}: {msg}");
            Ok(ExitCode::SUCCESS)
        }
        Err(okta_ingest::HostError::Tick { message, .. }) => {
            println!("{name}: FAILED: {message}");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e).context(format!("check {name}")),
    }
}
