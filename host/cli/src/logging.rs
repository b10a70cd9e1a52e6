//! `tracing` to stderr. `RUST_LOG` wins; otherwise what an operator follows (the start, ticks that
//! fetched or failed, rate-limit waits, the stop, warnings), `-v` adds okta-ingest's debug detail, `-vv`
//! adds the request lines (method, path, status, `X-Rate-Limit-Remaining`, `X-Okta-Request-Id`). Secrets
//! never reach a log line at any level: requests are logged by path, without headers or query.

use crate::args::LogFormat;
use tracing_subscriber::EnvFilter;

/// The filter for `-v` count `verbose`.
fn default_filter(verbose: u8) -> &'static str {
    match verbose {
        0 => "warn,okta_ingest=info",
        1 => "warn,okta_ingest=debug,okta_ingest::outbound=info",
        _ => "info,okta_ingest=debug,wasmtime=info,cranelift=info,hyper=info,rustls=info,reqwest=info",
    }
}

/// Installs the global subscriber.
pub fn init(verbose: u8, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default_filter(verbose)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}
