//! `emulator`: serve the Okta emulator standalone and print the exact lines (`instance add`, `check`,
//! `run`) that point okta-ingest at it, with a state file of their own inside `--dir`. The client key
//! and the CA are kept in `--dir`, so a restart with the same `--dir` serves the same app and
//! certificate authority: an instance added once keeps working.

use crate::args::EmulatorArgs;
use anyhow::Context;
use okta_emulator::{Emulator, EmulatorConfig};
use okta_ingest::MAX_BACKFILL_DAYS;
use std::path::Path;
use std::process::ExitCode;

/// The emulated app's client id (fixed, so a restart serves the same app).
const CLIENT_ID: &str = "0oa-okta-emulator-client";
/// The instance name the printed lines use.
const INSTANCE: &str = "emulator";

/// Runs the emulator until Ctrl-C (or SIGTERM).
pub async fn run(args: EmulatorArgs) -> anyhow::Result<ExitCode> {
    // The directory gets private keys: new directories are 0700, and the files in it are written
    // without following links (`write_private_file`) and read back only while private.
    let mut mkdir = std::fs::DirBuilder::new();
    mkdir.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut mkdir, 0o700);
    mkdir
        .create(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let dir = std::path::absolute(&args.dir)
        .with_context(|| format!("resolving {}", args.dir.display()))?;
    let live = args.live.unwrap_or(0);
    let emulator = Emulator::start(EmulatorConfig {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], args.port)),
        events: args.events,
        days: args.days,
        rate_limit_per_minute: args.rate_limit,
        ca_dir: Some(dir.clone()),
        live_events_per_minute: live,
        // Each start is a new stretch of history: the same seed would serve the same uuids again at
        // new times, and an instance that remembers them would skip them.
        seed: okta_ingest_model::time::now_ms(),
        ..EmulatorConfig::default()
    })
    .await
    .with_context(|| format!("starting the emulator on 127.0.0.1:{}", args.port))?;
    let client = emulator
        .open_logs_reader(CLIENT_ID, &dir)
        .context("setting up the emulator's client")?;
    emulator.register_client(okta_emulator::ClientRegistration {
        require_dpop: !args.no_dpop,
        ..client.keys.logs_reader()
    });
    let db = dir.join("state.db");
    let okta_ingest = format!("okta-ingest --db {}", quote(&db));

    let live_note = if live > 0 {
        format!(", and {live} new events a minute while it runs")
    } else {
        String::new()
    };
    outln!(
        "Okta emulator on https://{} with {} events over {} days{live_note}; its app {}",
        emulator.domain(),
        args.events,
        args.days,
        if args.no_dpop {
            "issues Bearer tokens (DPoP not required)"
        } else {
            "requires DPoP (okta-ingest binds its tokens; --no-dpop for a Bearer app)"
        }
    );
    outln!(
        "Its client key and CA are in {} ({}), with the state file of the lines below.",
        quote(&dir),
        if client.reused {
            "reused from an earlier start"
        } else {
            "new"
        }
    );
    outln!("Use it with (a state file of its own: your default one is left alone):");
    outln!(
        "  {okta_ingest} instance add {INSTANCE} --domain {} --client-id {} --key-id {} --private-key {} --ca-file {} --backfill-days {} --events authentication,security,itp,lifecycle",
        emulator.domain(),
        client.keys.client_id,
        client.keys.kid,
        quote(&client.key_path),
        quote(&client.ca_path),
        backfill_days(args.days)
    );
    outln!("  {okta_ingest} check {INSTANCE}");
    outln!("  {okta_ingest} run --once --sink stdout");
    if live > 0 {
        outln!("  {okta_ingest} run --sink stdout --interval 30s");
    }
    outln!("Or set it up in the web console: {okta_ingest} ui --sink stdout");
    outln!(
        "  Okta domain {}; CA file {} (under \"Behind a TLS-inspecting proxy?\");",
        emulator.domain(),
        quote(&client.ca_path)
    );
    outln!(
        "  \"Use the key of an existing app\": paste the contents of {}; Client ID {}.",
        quote(&client.key_path),
        client.keys.client_id
    );
    if args.days >= u32::from(MAX_BACKFILL_DAYS) {
        outln!(
            "Events older than {MAX_BACKFILL_DAYS} days (the longest backfill) are not fetched by a new instance."
        );
    }
    if args.port == 0 {
        outln!(
            "--port 0 picked {port}: start it again with --port {port} for an instance added now to find it.",
            port = emulator.addr().port()
        );
    }
    if client.reused && db.exists() {
        outln!(
            "Added before with this --dir? Skip `instance add`: the key and the CA are the same, on port {}.",
            emulator.addr().port()
        );
    }
    outln!(
        "Ctrl-C stops it; starting it again with --dir {} keeps the key and the CA.",
        quote(&dir)
    );
    let stopped = stop_signal().await;
    emulator.shutdown().await;
    stopped?;
    Ok(ExitCode::SUCCESS)
}

/// The `--backfill-days` that covers every generated event: they go back `days` days from the start
/// (late ones up to 30 minutes more), and an instance is added some time after that, so one day more,
/// at most the longest backfill. With `--days 0` the events are from the start's last minutes: 1 day.
fn backfill_days(days: u32) -> u8 {
    let max = MAX_BACKFILL_DAYS;
    u8::try_from(days.saturating_add(1)).map_or(max, |d| d.min(max))
}

/// `path` as one shell word (single-quoted unless it is plain).
pub(super) fn quote(path: &Path) -> String {
    let s = path.display().to_string();
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+,:=@%".contains(c));
    if plain {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Ctrl-C, or SIGTERM on Unix.
async fn stop_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("waiting for SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
            _ = term.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_backfill_covers_the_generated_days() {
        assert_eq!(backfill_days(0), 1);
        assert_eq!(backfill_days(1), 2);
        assert_eq!(backfill_days(13), 14);
        assert_eq!(backfill_days(14), 14);
        assert_eq!(backfill_days(u32::MAX), 14);
    }

    #[test]
    fn paths_are_quoted_only_when_they_need_it() {
        assert_eq!(
            quote(Path::new("/tmp/a-b_c.d/state.db")),
            "/tmp/a-b_c.d/state.db"
        );
        assert_eq!(quote(Path::new("/tmp/my dir/x")), "'/tmp/my dir/x'");
        assert_eq!(quote(Path::new("/tmp/it's")), r"'/tmp/it'\''s'");
    }
}
