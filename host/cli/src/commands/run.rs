//! `run`: once (until caught up) or forever on the schedule.

use crate::args::{RunArgs, TuningArgs};
use crate::progress::Progress;
use okta_ingest::{AdminEndpoint, ComponentSource, Host, HostConfig, RunSummary, Tuning};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

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

/// Runs `run`.
pub async fn run(db: &Path, args: RunArgs) -> anyhow::Result<ExitCode> {
    // Refuse an unprotected admin address before touching anything else.
    let admin = match args.admin {
        Some(addr) => {
            let token = AdminEndpoint::token_from_env(args.admin_token_env.as_deref())?;
            Some(AdminEndpoint::bind(addr, token).await?)
        }
        None => None,
    };
    let host = Host::open(host_config(
        db,
        &args.tuning,
        args.component.as_deref(),
        args.concurrency,
    ))?;
    // One runner per state: refused here, before the sink is opened, when another process runs it.
    host.claim_runner().await?;
    let sink = crate::sink_spec::open(&args.sink, &args.webhook.options())?;
    let instances = host.list_instances().await?;
    if instances.is_empty() {
        // Events of removed instances are still delivered: the outbox is drained whatever is configured.
        let queued = host.outbox_depth().await?;
        let what = if queued > 0 {
            format!("delivering the {queued} events still queued")
        } else {
            "nothing to fetch or deliver; add one with `okta-ingest instance add`".into()
        };
        eprintln!("no instances configured in {}; {what}", db.display());
    }
    if args.once {
        let progress = std::io::stderr()
            .is_terminal()
            .then(|| Progress::new(&instances));
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
    tracing::info!(interval = ?args.interval, "running; Ctrl-C or SIGTERM stops cleanly");
    let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let admin_task = admin.map(|endpoint| {
        if let Ok(a) = endpoint.local_addr() {
            tracing::info!("admin endpoint on http://{a} (/healthz, /metrics)");
        }
        tokio::spawn(endpoint.serve(host.clone(), async {
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
