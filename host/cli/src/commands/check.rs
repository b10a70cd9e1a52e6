//! `check NAME`: a token and one small page of the System Log, nothing committed; says what to fix.
//! Bounded (the library gives a check about 30 s and does not retry permanent errors), and Ctrl-C or
//! SIGTERM end it at once.

use super::open;
use crate::signals::Shutdown;
use anyhow::Context;
use okta_ingest::HostError;
use std::path::Path;
use std::process::ExitCode;

/// Runs `check`.
pub async fn run(db: &Path, name: &str) -> anyhow::Result<ExitCode> {
    let host = open(db)?;
    // Fail fast on a missing instance before compiling the component.
    host.instance(name).await?;
    let shutdown = Shutdown::install();
    let result = tokio::select! {
        r = host.check(name) => r,
        _ = shutdown.requested() => {
            eprintln!("{name}: check interrupted");
            return Ok(crate::signals::interrupted());
        }
    };
    match result {
        Ok(msg) => {
            outln!("{name}: {msg}");
            Ok(ExitCode::SUCCESS)
        }
        Err(HostError::Check { message, .. }) => {
            outln!("{name}: FAILED: {message}");
            if let Some(hint) = hint(name, &message) {
                outln!("  {hint}");
            }
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e).context(format!("check {name}")),
    }
}

/// The command that fixes a check failure, where the library's message implies one.
fn hint(name: &str, message: &str) -> Option<String> {
    message.contains("certificate is not trusted").then(|| {
        format!("to trust a private or proxy CA: okta-ingest instance edit {name} --ca-file CA.pem")
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_untrusted_certificate_points_at_the_ca_file_option() {
        let h = super::hint(
            "prod",
            "could not reach Okta at x: its TLS certificate is not trusted; if ...",
        );
        assert_eq!(
            h.as_deref(),
            Some("to trust a private or proxy CA: okta-ingest instance edit prod --ca-file CA.pem")
        );
        assert_eq!(super::hint("prod", "invalid_client"), None);
    }
}
