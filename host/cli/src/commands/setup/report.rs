//! What both ways of `setup` print: the staged test as lines (✓ passed, ✗ failed with Okta's answer and
//! the fix, · not run), the saved instance, the `instance add` line that sets up the same instance, and
//! what to run next.

use super::super::emulator::quote;
use okta_ingest::setup::{ConnectionTest, StageState};
use okta_ingest::Instance;
use std::path::Path;

/// One line per stage, plus Okta's answer and the fix under the stage that failed.
pub(super) fn stage_lines(test: &ConnectionTest) -> Vec<String> {
    let mut lines = Vec::new();
    for s in &test.stages {
        match s.state {
            StageState::Passed => lines.push(format!("✓ {}: {}", s.title, s.detail)),
            StageState::NotRun => lines.push(format!("· {}: not run", s.title)),
            StageState::Failed => {
                lines.push(format!("✗ {}: {}", s.title, s.detail));
                if let Some(answer) = s.okta_answer() {
                    lines.push(format!("  Okta answered: {answer}"));
                }
                if let Some(fix) = &s.fix {
                    lines.push(format!("  Fix: {fix}"));
                }
            }
        }
    }
    lines
}

/// `--db PATH` when the state is not the default one, so the printed lines act on this state.
pub(super) fn db_option(db: &Path) -> String {
    match crate::args::default_db() {
        Some(default) if default == db => String::new(),
        _ => format!(" --db {}", quote(db)),
    }
}

/// The summary line of a saved instance.
pub(super) fn saved(rec: &Instance) -> String {
    format!(
        "saved instance {} ({}, events: {}, backfill: {} days, DPoP: {})",
        rec.name, rec.domain, rec.categories, rec.backfill_days, rec.dpop
    )
}

/// The `okta-ingest instance add` line that sets up the same instance (options at their default are
/// left out).
pub(super) fn equivalent_command(db: &Path, rec: &Instance) -> String {
    let word = |s: &str| quote(Path::new(s));
    let mut c = format!(
        "okta-ingest{} instance add {} --domain {} --client-id {} --private-key {}",
        db_option(db),
        word(&rec.name),
        word(&rec.domain),
        word(&rec.client_id),
        quote(&rec.private_key_path)
    );
    if let Some(kid) = &rec.key_id {
        c.push_str(&format!(" --key-id {}", word(kid)));
    }
    c.push_str(&format!(
        " --backfill-days {} --events {}",
        rec.backfill_days, rec.categories
    ));
    if let Some(ca) = &rec.ca_file {
        c.push_str(&format!(" --ca-file {}", quote(ca)));
    }
    if rec.dpop != okta_ingest::DpopMode::default() {
        c.push_str(&format!(" --dpop {}", rec.dpop));
    }
    // Stored seconds; anything not positive is "off".
    let silence = u64::try_from(rec.silence_after_s).unwrap_or(0);
    if silence == 0 {
        c.push_str(" --silence-alert off");
    } else if silence != okta_ingest::DEFAULT_SILENCE_AFTER.as_secs() {
        c.push_str(&format!(
            " --silence-alert {}",
            humantime::format_duration(std::time::Duration::from_secs(silence))
        ));
    }
    if !rec.exclusions.is_empty() {
        c.push_str(&format!(
            " --exclude-event-types {}",
            word(&rec.exclusions.to_stored())
        ));
    }
    if !rec.redaction.is_empty() {
        c.push_str(&format!(
            " --redact {}",
            word(&rec.redaction.remove_paths().join(","))
        ));
        let keep = rec.redaction.keep_paths();
        if !keep.is_empty() {
            c.push_str(&format!(" --redact-keep {}", word(&keep.join(","))));
        }
    }
    c
}

/// What to run once an instance is saved: what each does, and its command line.
pub(super) fn next_steps(db: &Path) -> [(&'static str, String); 2] {
    let db = db_option(db);
    [
        (
            "fetch and deliver every 5 minutes (to a file; or --sink stdout, --sink https://HOST/PATH)",
            format!("okta-ingest{db} run --sink file:PATH"),
        ),
        (
            "or the web console: live status, with ingestion in the same process",
            format!("okta-ingest{db} ui"),
        ),
    ]
}

/// Prints the equivalent command and the next steps, plain (so they copy without a frame).
pub(super) fn print_epilogue(db: &Path, rec: &Instance) -> std::io::Result<()> {
    outln!();
    outln!("The same from the command line:");
    outln!("  {}", equivalent_command(db, rec));
    for (what, command) in next_steps(db) {
        outln!();
        outln!("Next, {what}:");
        outln!("  {command}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use okta_ingest::setup::{Stage, StageReport};

    fn stage(stage: Stage, state: StageState) -> StageReport {
        StageReport {
            stage,
            title: stage.title(),
            state,
            detail: "seen".into(),
            fix: (state == StageState::Failed).then(|| "do this".into()),
            http_status: (state == StageState::Failed).then_some(401),
            okta_code: (state == StageState::Failed).then(|| "invalid_client".into()),
        }
    }

    #[test]
    fn a_failed_stage_shows_okta_s_answer_and_the_fix() {
        let test = ConnectionTest {
            stages: vec![
                stage(Stage::Reachable, StageState::Passed),
                stage(Stage::ClientKnown, StageState::Failed),
                stage(Stage::KeyAccepted, StageState::NotRun),
            ],
            passed: false,
        };
        assert_eq!(
            stage_lines(&test),
            [
                "✓ Org reachable: seen",
                "✗ Client known: seen",
                "  Okta answered: HTTP 401, invalid_client",
                "  Fix: do this",
                "· Key accepted: not run",
            ]
        );
    }
}
