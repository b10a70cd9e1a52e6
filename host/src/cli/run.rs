//! `run`: once (until caught up) or forever on the schedule.

use super::args::{RunArgs, TuningArgs};
use super::progress::Progress;
use okta_ingest::admin;
use okta_ingest::sink::open_sink_with;
use okta_ingest::{ComponentSource, Host, HostConfig, RunSummary, Tuning};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

pub(crate) fn host_config(
    db: &Path,
    t: &TuningArgs,
    component: Option<&Path>,
    concurrency: usize,
) -> HostConfig {
    let mut cfg = HostConfig::new(db);
    cfg.component = match component {
        Some(p) => ComponentSource::File(p.to_path_buf()),
        None => ComponentSource::Embedded,
    };
    cfg.concurrency = concurrency;
    cfg.auto_rollback_after = t.auto_rollback_after;
    cfg.sandbox.call_timeout = t.tick_timeout;
    cfg.tuning = Tuning {
        rate_limit_share_percent: t.rate_limit_share,
        max_wait: t.max_wait,
        retry_base: t.retry_base,
        max_retries: t.max_retries,
        request_timeout: t.request_timeout,
        ..Tuning::default()
    };
    cfg
}

/// Runs `run`.
pub async fn run(db: &Path, args: RunArgs) -> anyhow::Result<ExitCode> {
    // Refuse an unprotected admin address before touching anything else.
    let admin = match args.admin {
        Some(addr) => {
            let token = admin::token_from_env(args.admin_token_env.as_deref())?;
            Some((admin::bind(addr, token.as_deref()).await?, token))
        }
        None => None,
    };
    let host = Host::open(host_config(
        db,
        &args.tuning,
        args.component.as_deref(),
        args.concurrency,
    ))?;
    let sink = open_sink_with(&args.sink, &args.webhook.options())?;
    if host.list_instances()?.is_empty() {
        anyhow::bail!(
            "no instances configured in {}; add one with `okta-ingest instance add`",
            db.display()
        );
    }
    if args.once {
        let progress = std::io::stderr()
            .is_terminal()
            .then(|| Progress::new(&host.list_instances().unwrap_or_default()));
        if let Some(p) = &progress {
            host.set_commit_observer(p.observer());
        }
        let summary = host.run_once(sink).await?;
        if let Some(p) = &progress {
            p.finish();
        }
        report(&summary);
        return Ok(if summary.ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let host = Arc::new(host);
    tracing::info!(interval = ?args.interval, "running; Ctrl-C or SIGTERM stops cleanly");
    let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let admin_task = admin.map(|(listener, token)| {
        if let Ok(a) = listener.local_addr() {
            tracing::info!("admin endpoint on http://{a} (/healthz, /metrics)");
        }
        tokio::spawn(admin::serve(listener, host.clone(), token, async {
            let _ = admin_stopped.await;
        }))
    });
    let result = host.run(sink, args.interval, shutdown_signal()).await;
    let _ = stop_admin.send(());
    if let Some(t) = admin_task {
        let _ = t.await;
    }
    result?;
    eprintln!("stopped cleanly");
    Ok(ExitCode::SUCCESS)
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

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
