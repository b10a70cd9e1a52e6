//! SIGINT and SIGTERM for the long-running commands (`run`, `check`, `demo`). The first signal asks the
//! command to stop: the library ends the ticks in flight between two page commits and gives delivery
//! about a second, so the process exits within about a second. A second signal exits at once: that is
//! safe too, because the cursor moves only with a committed page (what was not committed is fetched
//! again at the next start, and a torn sink write is repaired then).
//!
//! `SIGHUP` is not handled here: `run` uses it to reopen a file sink (log rotation).

use std::process::ExitCode;
use tokio::sync::watch;

/// The exit status of a process ended by a second signal (128 + SIGINT, what shells report).
const FORCED_EXIT: i32 = 130;

/// The stop request: cloneable, each clone can wait for it.
#[derive(Clone)]
pub struct Shutdown {
    requested: watch::Receiver<bool>,
}

impl Shutdown {
    /// Installs the handlers (replacing the default "terminate at once" for SIGINT and SIGTERM).
    pub fn install() -> Shutdown {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            let mut signals = match Signals::new() {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(
                        "cannot handle SIGINT/SIGTERM ({e}); they end the process at once"
                    );
                    return;
                }
            };
            let first = signals.next().await;
            tracing::info!("{first}: stopping (a second signal exits at once)");
            let _ = tx.send(true);
            let second = signals.next().await;
            eprintln!("{second} again: exiting now; whatever was not committed is fetched again at the next start");
            std::process::exit(FORCED_EXIT);
        });
        Shutdown { requested: rx }
    }

    /// Resolves once a stop was requested.
    pub async fn requested(mut self) {
        // An error means the sender is gone, i.e. no handler: then no signal will ever come.
        if self.requested.wait_for(|r| *r).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The exit code of a command a signal stopped before it finished its job.
pub fn interrupted() -> ExitCode {
    ExitCode::from(FORCED_EXIT as u8)
}

/// SIGINT and SIGTERM as one stream.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next signal's name.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
