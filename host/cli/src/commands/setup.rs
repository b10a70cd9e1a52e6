//! `setup`: the guided setup of one instance (SETUP-UX §6), on a terminal ([`wizard`]) or from an
//! answers file ([`answers`]). Both use the library's setup engine, the one the web console renders:
//! the domain as typed turned into the org's ([`okta_ingest::setup::suggest_domain`]), the org probe,
//! the Okta checklist and the staged test connection. Nothing is saved unless that test passed.

mod answers;
pub(super) mod key;
mod report;
mod wizard;

use std::io::IsTerminal as _;
use std::path::Path;
use std::process::ExitCode;

/// Runs `setup`: from the answers file when one is given, else the wizard, which needs a terminal.
pub async fn run(db: &Path, answers: Option<&Path>) -> anyhow::Result<ExitCode> {
    if let Some(file) = answers {
        return answers::run(db, file).await;
    }
    // The prompts read keys from the terminal and draw on stderr: a pipe or a file has neither, and
    // the prompt crate would only fail at the first question with "not connected".
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        anyhow::bail!(
            "`okta-ingest setup` asks its questions on a terminal, and standard input (or standard error) is not one; for scripts and CI give the answers in a file with `okta-ingest setup --answers FILE.toml` (see `okta-ingest setup --help`), or add the instance with `okta-ingest instance add NAME --domain … --client-id … --private-key …`"
        );
    }
    wizard::run(db).await
}

/// The instance name to offer for an org: its domain's first label (`acme` for `acme.okta.com`), when
/// that is a valid name.
fn default_name(domain: &str) -> String {
    domain
        .split(['.', ':'])
        .next()
        .filter(|label| okta_ingest::validate_name(label).is_ok())
        .unwrap_or("okta")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_name_is_the_org_s_first_label() {
        assert_eq!(default_name("acme.okta.com"), "acme");
        assert_eq!(default_name("127.0.0.1:8443"), "127");
        assert_eq!(default_name("[::1]:8443"), "okta");
    }
}
