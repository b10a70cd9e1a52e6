//! `run`: once (until caught up) or forever on the schedule.

use crate::args::{RunArgs, TuningArgs};
use crate::progress::Progress;
use crate::signals::Shutdown;
use okta_ingest::{AdminEndpoint, ComponentSource, HostConfig, RunSummary, Tuning};
use okta_ingest_console::{ConsoleOptions, ConsoleServer};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub(crate) fn host_config(
    db: &Path,
    t: &TuningArgs,
    component: Option<&Path>,
    concurrency: usize,
) -> HostConfig {
    let mut cfg = HostConfig::new(crate::state_location::local_path(db));
    cfg.component = match component {
        Some(p) => ComponentSource::File(p.to_path_buf()),
        None => ComponentSource::Embedded,
    };
    cfg.concurrency = concurrency;
    cfg.auto_rollback_after = t.auto_rollback_after;
    cfg.sandbox.call_timeout = t.tick_timeout.0;
    cfg.tuning = Tuning {
        rate_limit_share_percent: t.rate_limit_share,
        max_wait: t.max_wait.0,
        retry_base: t.retry_base.0,
        max_retries: t.max_retries,
        request_timeout: t.request_timeout.0,
        ..Tuning::default()
    };
    cfg
}

/// The shortest `--interval` without `--allow-short-interval`.
const MIN_INTERVAL: Duration = Duration::from_secs(60);

/// Refuses an interval that would hammer Okta (or spin), unless asked for.
fn check_interval(args: &RunArgs) -> anyhow::Result<()> {
    if args.once {
        return Ok(());
    }
    if args.interval.is_zero() {
        anyhow::bail!("--interval must be more than 0");
    }
    if args.interval < MIN_INTERVAL && !args.allow_short_interval {
        anyhow::bail!(
            "--interval {} is shorter than the minimum of 1m: every tick spends System Log requests from the org's rate limit, which all of the org's API clients share, and polling more often finds no more events; add --allow-short-interval to use it anyway (tests, the emulator)",
            humantime::format_duration(args.interval)
        );
    }
    Ok(())
}

/// How long without a good tick `/healthz` calls stalled: `n` intervals, but never less than the
/// longest a tick may legitimately wait for rate limits (5 x max wait) plus one interval.
fn stall_threshold(args: &RunArgs) -> Duration {
    let waits = args.tuning.max_wait.0 * 5 + args.interval;
    (args.interval * args.stalled_after).max(waits)
}

/// Runs `run`.
pub async fn run(db: &Path, args: RunArgs) -> anyhow::Result<ExitCode> {
    check_interval(&args)?;
    // Refuse an unprotected admin address before touching anything else.
    let admin = match &args.admin {
        Some(address) => {
            let addr = AdminEndpoint::resolve(address).await?;
            let token = AdminEndpoint::token_from_env(args.admin_token_env.as_deref())?;
            Some(
                AdminEndpoint::bind(addr, token)
                    .await?
                    .open_healthz(args.admin_open_healthz)
                    .stalled_after(stall_threshold(&args)),
            )
        }
        None => None,
    };
    // The console's address is checked and bound before anything starts, like the admin endpoint's.
    let console = match &args.ui {
        Some(address) => {
            let addr = AdminEndpoint::resolve(address).await?;
            Some(
                ConsoleServer::bind(
                    addr,
                    ConsoleOptions {
                        sink: args.sink.clone(),
                        keys_dir: okta_ingest::keys_dir(&crate::state_location::local_path(db)),
                    },
                )
                .await?,
            )
        }
        None => None,
    };
    let host = crate::state_location::open_host(
        db,
        host_config(
            db,
            &args.tuning,
            args.component.as_deref(),
            args.concurrency,
        ),
    )
    .await?;
    // One runner per state: refused here, before the sink is opened, when another process runs it.
    host.claim_runner().await?;
    let opened = match crate::sink_spec::open(&args.sink, &args.sinks.options()) {
        Ok(o) => o,
        Err(e) => {
            // `status` should say why nothing arrives, not show the last good tick.
            let _ = host
                .record_setup_failure(&format!("the sink was refused at start: {e}"))
                .await;
            return Err(e.into());
        }
    };
    let sink_id = opened.sink.id();
    let instances = host.list_instances().await?;
    if instances.is_empty() {
        // Events of removed instances are still delivered: the outbox is drained whatever is configured.
        let queued = host.outbox_depth().await?;
        let what = if queued > 0 {
            format!("delivering the {queued} events still queued")
        } else {
            "nothing to fetch or deliver; add one with `okta-ingest instance add`".into()
        };
        tracing::warn!("no instances configured in {}; {what}", db.display());
    }
    let shutdown = Shutdown::install();
    if args.once {
        let progress = std::io::stderr()
            .is_terminal()
            .then(|| Progress::new(&instances));
        if let Some(p) = &progress {
            host.set_commit_observer(p.observer());
        }
        let summary = host
            .run_once_until(opened.sink, shutdown.clone().requested())
            .await?;
        if let Some(p) = &progress {
            p.finish();
        }
        report(&summary);
        if summary.stopped() {
            eprintln!(
                "stopped by a signal before catching up; {} events still queued (the next run continues where this one stopped)",
                summary.queued
            );
            return Ok(crate::signals::interrupted());
        }
        return Ok(if summary.ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let mut admin_url = String::new();
    let admin_task = admin.map(|endpoint| {
        if let Ok(a) = endpoint.local_addr() {
            admin_url = format!("; admin on http://{a} (/healthz, /metrics)");
        }
        tokio::spawn(endpoint.serve(host.clone(), async {
            let _ = admin_stopped.await;
        }))
    });
    let (stop_console, console_stopped) = tokio::sync::oneshot::channel::<()>();
    let console_task = console.map(|console| {
        // On the terminal, not in the log: the link is a credential until it is used.
        eprintln!(
            "console: open {} (the link works once; it signs this browser in)",
            console.login_url()
        );
        tokio::spawn(console.serve(host.clone(), async {
            let _ = console_stopped.await;
        }))
    });
    let names: Vec<&str> = instances.iter().map(|i| i.name.as_str()).collect();
    tracing::info!(
        "running {} instance{} ({}) every {} (±10%) -> {sink_id}{admin_url}; state {}; SIGTERM or Ctrl-C stops within about a second",
        instances.len(),
        if instances.len() == 1 { "" } else { "s" },
        if names.is_empty() { "-".to_string() } else { names.join(", ") },
        humantime::format_duration(args.interval),
        db.display()
    );
    let hup = reopen_on_sighup(opened.reopen);
    let stop_requested_at = std::sync::Mutex::new(None::<Instant>);
    let stopping = async {
        shutdown.requested().await;
        if let Ok(mut at) = stop_requested_at.lock() {
            *at = Some(Instant::now());
        }
    };
    let result = host.run(opened.sink, args.interval, stopping).await;
    hup.abort();
    let _ = stop_admin.send(());
    if let Some(t) = admin_task {
        let _ = t.await;
    }
    let _ = stop_console.send(());
    if let Some(t) = console_task {
        let _ = t.await;
    }
    result?;
    let took = stop_requested_at
        .lock()
        .ok()
        .and_then(|at| *at)
        .map(|at| format!(" in {:.2} s", at.elapsed().as_secs_f64()))
        .unwrap_or_default();
    let queued = host.outbox_depth().await.unwrap_or(0);
    tracing::info!("stopped cleanly{took}; {queued} events queued for the next start");
    Ok(ExitCode::SUCCESS)
}

/// SIGHUP asks a file sink to reopen its path (after `logrotate` moved the file) instead of ending the
/// process; for other sinks it is ignored with a note.
fn reopen_on_sighup(reopen: Option<okta_ingest::ReopenHandle>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                return;
            };
            while hup.recv().await.is_some() {
                match &reopen {
                    Some(r) => {
                        r.request();
                        tracing::info!(
                            "SIGHUP: the file sink reopens its path before the next batch"
                        );
                    }
                    None => {
                        tracing::info!("SIGHUP: only a file sink has something to reopen; ignored")
                    }
                }
            }
        }
        #[cfg(not(unix))]
        let _ = reopen;
    })
}

/// Prints the per-instance outcome of `run --once` to stderr (stdout may be the sink).
pub(crate) fn report(s: &RunSummary) {
    for i in &s.instances {
        match &i.error {
            None => eprintln!(
                "{}: caught up: {} events in {} pages",
                i.name, i.events, i.pages
            ),
            Some(e) => eprintln!("{}: FAILED after {} events: {e}", i.name, i.events),
        }
    }
    if let Some(e) = &s.sink_error {
        eprintln!(
            "delivery FAILED, {} events still queued (delivered on the next run): {e}",
            s.queued
        );
    }
}
