//! `setup --answers FILE.toml`: the wizard's questions answered in a file, for scripts and CI (prompt
//! crates cannot read a pipe). The same probe and staged test run; the stages are printed; a failed
//! stage ends the command non-zero with its fix and nothing saved, a passing test saves the instance.
//!
//! With `generate_key = true` a key is made for the instance (`keys/NAME/KID.pem` beside the state
//! file) and its public half printed. Its test cannot pass before that key is added in Okta, so a key
//! made here is kept when the test fails, and the next run for the same name uses it again.

use super::key::{earlier_generated, read_public, PendingKey};
use super::report::{print_epilogue, saved, stage_lines};
use crate::commands::open;
use anyhow::Context;
use okta_ingest::setup::suggest_domain;
use okta_ingest::{Categories, DpopMode, NewInstance, DEFAULT_SILENCE_AFTER};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// An answers file is a dozen lines; a larger file is not one, and is not read whole.
const MAX_ANSWERS_FILE: u64 = 64 << 10;

/// The backfill the wizard offers, and an answers file without `backfill_days` gets.
pub(super) const DEFAULT_BACKFILL_DAYS: u8 = 7;

/// The file's keys (`okta-ingest setup --help` lists them).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Answers {
    name: Option<String>,
    domain: String,
    client_id: String,
    private_key: Option<PathBuf>,
    #[serde(default)]
    generate_key: bool,
    key_id: Option<String>,
    backfill_days: Option<u8>,
    events: Option<Vec<String>>,
    ca_file: Option<PathBuf>,
    dpop: Option<String>,
    silence_alert: Option<String>,
}

/// Runs the setup the file describes.
pub(super) async fn run(db: &Path, file: &Path) -> anyhow::Result<ExitCode> {
    let answers = read(file)?;
    // Paths in the file are the file's, wherever the command runs.
    let base = file.parent().unwrap_or_else(|| Path::new(""));
    let beside = |p: &Path| base.join(p);
    let suggestion = suggest_domain(&answers.domain)?;
    if let Some(note) = &suggestion.note {
        outln!("note: {note}");
    }
    let domain = suggestion.domain;
    let name = answers
        .name
        .clone()
        .unwrap_or_else(|| super::default_name(&domain));
    okta_ingest::validate_name(&name)?;
    let host = open(db).await?;
    if host.list_instances().await?.iter().any(|i| i.name == name) {
        anyhow::bail!("an instance named {name} exists already: give another `name` in {} (or remove it with `okta-ingest instance remove {name}`)", file.display());
    }
    let mut pending = None;
    let (private_key, key_id) = match (&answers.private_key, answers.generate_key) {
        (Some(_), true) => {
            anyhow::bail!(
                "{}: give private_key or generate_key = true, not both",
                file.display()
            )
        }
        (None, false) => anyhow::bail!(
            "{}: give the app's key as private_key = \"PATH\" (a PEM file), or generate_key = true",
            file.display()
        ),
        (Some(path), false) => (beside(path), answers.key_id.clone()),
        (None, true) => {
            if answers.key_id.is_some() {
                anyhow::bail!(
                    "{}: key_id goes with private_key; a generated key signs with its own kid",
                    file.display()
                );
            }
            match earlier_generated(db, &name)? {
                Some(path) => {
                    let public = read_public(&path)?;
                    outln!(
                        "Using the key generated for {name} by an earlier run: {} (kid {})",
                        path.display(),
                        public.kid
                    );
                    (path, Some(public.kid))
                }
                None => {
                    let key = generate(db, &name).await?;
                    outln!(
                        "Private key written to {} (mode 0600): it never leaves this machine.",
                        key.path().display()
                    );
                    outln!();
                    super::super::keygen::print_public_key(key.public())?;
                    outln!();
                    let found = (key.path().to_path_buf(), Some(key.public().kid.clone()));
                    pending = Some(key);
                    found
                }
            }
        }
    };
    let new = NewInstance {
        exclusions: Default::default(),
        redaction: Default::default(),
        name,
        domain,
        client_id: answers.client_id.clone(),
        private_key,
        key_id,
        backfill_days: answers.backfill_days.unwrap_or(DEFAULT_BACKFILL_DAYS),
        categories: match &answers.events {
            Some(names) => okta_ingest::parse_categories(&names.join(","))?,
            None => Categories::DEFAULT,
        },
        ca_file: answers.ca_file.as_deref().map(beside),
        dpop: match &answers.dpop {
            Some(mode) => DpopMode::parse(mode).with_context(|| {
                format!(
                    "{}: dpop is auto, required or off, not {mode:?}",
                    file.display()
                )
            })?,
            None => DpopMode::Auto,
        },
        silence_after: match answers.silence_alert.as_deref() {
            None => Some(DEFAULT_SILENCE_AFTER),
            Some(off) if off.eq_ignore_ascii_case("off") => None,
            Some(d) => Some(crate::format::parse_duration(d).map_err(|e| {
                anyhow::anyhow!(
                    "{}: silence_alert is a duration or \"off\": {e}",
                    file.display()
                )
            })?),
        },
    };
    outln!(
        "Testing {} as client {}: the org, a token, one page of the System Log",
        new.domain,
        new.client_id
    );
    let test = host.test_connection(&new).await?;
    for line in stage_lines(&test) {
        outln!("{line}");
    }
    if let Some(failed) = test.failed() {
        if let Some(key) = pending {
            let path = key.keep();
            outln!();
            outln!("The generated key stays at {}: add its public JWK (above) to the app in Okta, then run this again; it is used again.", path.display());
        }
        let fix = failed
            .fix
            .as_deref()
            .map(|f| format!("; fix: {f}"))
            .unwrap_or_default();
        anyhow::bail!(
            "nothing was saved: the test connection failed at \"{}\": {}{fix}",
            failed.title,
            failed.detail
        );
    }
    // What the backfill amounts to, from one bounded read of the org's last 24 hours; only a note.
    match host.sample_org(&new).await {
        Ok(sample) => {
            if let Some(e) = host.estimate_backfill(&sample, new.categories, new.backfill_days) {
                outln!(
                    "Backfill of {} days at the rate of the org's last 24 hours: {}",
                    new.backfill_days,
                    e.describe()
                );
            }
        }
        Err(e) => outln!("No backfill estimate: {e}"),
    }
    let rec = host.add_instance(new).await?;
    if let Some(key) = pending {
        key.keep();
    }
    outln!();
    outln!("{}", saved(&rec));
    print_epilogue(db, &rec)?;
    Ok(ExitCode::SUCCESS)
}

/// Makes a key off the async threads (RSA generation takes a moment) and writes it for `name`.
async fn generate(db: &Path, name: &str) -> anyhow::Result<PendingKey> {
    let key = tokio::task::spawn_blocking(okta_ingest::GeneratedKey::generate).await??;
    PendingKey::write(key, &crate::state_location::local_path(db), name)
}

/// The answers in `file`, read bounded (only a small regular file).
fn read(file: &Path) -> anyhow::Result<Answers> {
    let meta =
        std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?;
    if !meta.is_file() || meta.len() > MAX_ANSWERS_FILE {
        anyhow::bail!(
            "{} is not an answers file: a TOML file of at most {MAX_ANSWERS_FILE} bytes is",
            file.display()
        );
    }
    let mut text = String::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_ANSWERS_FILE).read_to_string(&mut text))
        .with_context(|| format!("cannot read {}", file.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", file.display(), e.message()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_takes_the_documented_keys_and_refuses_others() {
        let a: Answers = toml::from_str(
            r#"
            name = "acme"
            domain = "acme.okta.com"
            client_id = "0oa1"
            generate_key = true
            backfill_days = 3
            events = ["authentication", "lifecycle"]
            ca_file = "ca.pem"
            dpop = "auto"
            silence_alert = "off"
            "#,
        )
        .unwrap();
        assert!(a.generate_key && a.private_key.is_none());
        assert_eq!(a.backfill_days, Some(3));
        let typo = toml::from_str::<Answers>("domain = \"a\"\nclient_id = \"b\"\nbackfil_days = 3");
        assert!(typo.unwrap_err().message().contains("backfil_days"));
    }
}
