//! `check NAME`: a token and one small page of the System Log, nothing committed; says what to fix.
//! Bounded (the library gives a check about 30 s and does not retry permanent errors), and Ctrl-C or
//! SIGTERM end it at once.

use super::open;
use crate::signals::Shutdown;
use anyhow::Context;
use okta_ingest::{ErrorKind, HostError};
use std::path::Path;
use std::process::ExitCode;

/// Runs `check`.
pub async fn run(db: &Path, name: &str) -> anyhow::Result<ExitCode> {
    let host = open(db).await?;
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
        Err(HostError::Check { message, kind, .. }) => {
            outln!("{name}: FAILED: {message}");
            if let Some(hint) = hint(name, kind, &message) {
                outln!("  {hint}");
            }
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e).context(format!("check {name}")),
    }
}

/// The command that fixes a check failure, where the library's message implies one.
fn hint(name: &str, kind: ErrorKind, message: &str) -> Option<String> {
    if message.contains("certificate is not trusted") {
        return Some(format!(
            "to trust a private or proxy CA: okta-ingest instance edit {name} --ca-file CA.pem"
        ));
    }
    if kind == ErrorKind::DpopRequired {
        return Some(format!(
            "to send DPoP proofs: okta-ingest instance edit {name} --dpop auto"
        ));
    }
    if message.contains("requires DPoP-bound tokens") {
        return Some(format!(
            "to accept the Bearer token this app issues: okta-ingest instance edit {name} --dpop auto"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use okta_ingest::ErrorKind;

    #[test]
    fn an_untrusted_certificate_points_at_the_ca_file_option() {
        let h = super::hint(
            "prod",
            ErrorKind::Network,
            "could not reach Okta at x: its TLS certificate is not trusted; if ...",
        );
        assert_eq!(
            h.as_deref(),
            Some("to trust a private or proxy CA: okta-ingest instance edit prod --ca-file CA.pem")
        );
        assert_eq!(
            super::hint("prod", ErrorKind::UnknownClient, "invalid_client"),
            None
        );
    }

    #[test]
    fn dpop_failures_point_at_the_dpop_option() {
        let off = super::hint("prod", ErrorKind::DpopRequired, "the app requires DPoP");
        assert_eq!(
            off.as_deref(),
            Some("to send DPoP proofs: okta-ingest instance edit prod --dpop auto")
        );
        let required = super::hint(
            "prod",
            ErrorKind::AuthFailed,
            "Okta issued a Bearer token, but this instance requires DPoP-bound tokens: ...",
        );
        assert!(required.is_some_and(|h| h.ends_with("--dpop auto")));
    }
}
