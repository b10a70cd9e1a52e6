//! `component add|list|activate|rollback`.

use super::open;
use crate::args::ComponentCmd;
use crate::format::when;
use std::path::Path;
use std::process::ExitCode;

/// Runs a `component` subcommand.
pub async fn run(db: &Path, cmd: ComponentCmd) -> anyhow::Result<ExitCode> {
    let host = open(db).await?;
    match cmd {
        ComponentCmd::Add { file } => {
            let c = host.add_component(&file).await?;
            outln!(
                "added {} {} (sha256 {}, WIT {}, state schema {}); activate it with `okta-ingest component activate {}`",
                c.name, c.version, c.hash, c.wit_version, c.state_schema, c.version
            );
        }
        ComponentCmd::List { json: true } => {
            let embedded = host.connector_info().await?;
            let stored: Vec<serde_json::Value> = host
                .list_components()
                .await?
                .into_iter()
                .map(|u| {
                    let c = &u.component;
                    serde_json::json!({
                        "version": c.version,
                        "name": c.name,
                        "hash": c.hash.as_str(),
                        "wit_version": c.wit_version,
                        "added_ms": c.added_ms,
                        "instances": u.instances,
                    })
                })
                .collect();
            outln!(
                "{}",
                serde_json::json!({"embedded": embedded.version, "stored": stored})
            );
        }
        ComponentCmd::List { json: false } => {
            let embedded = host.connector_info().await?;
            outln!("embedded {} (built into this binary)", embedded.version);
            let list = host.list_components().await?;
            if list.is_empty() {
                outln!("no stored versions; add one with `okta-ingest component add FILE`");
            }
            for u in list {
                let c = &u.component;
                let users = if u.instances.is_empty() {
                    "-".to_string()
                } else {
                    u.instances.join(",")
                };
                outln!(
                    "{:<16} {}  added {}  instances: {}",
                    c.version,
                    c.hash.short(16),
                    when(Some(c.added_ms)),
                    users
                );
            }
        }
        ComponentCmd::Activate { target, instance } => {
            let label = host
                .activate_component(&target, instance.as_deref())
                .await?;
            let scope = instance
                .map(|i| format!("instance {i}"))
                .unwrap_or_else(|| "all instances".into());
            outln!(
                "activated {label} for {scope}; running hosts switch at each instance's next tick"
            );
        }
        ComponentCmd::Rollback { instance } => {
            let label = host.rollback_component(instance.as_deref()).await?;
            let scope = instance
                .map(|i| format!("instance {i}"))
                .unwrap_or_else(|| "all instances".into());
            outln!("rolled back {scope}; now active: {label}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
