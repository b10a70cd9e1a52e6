//! `setup`: the guided setup on a terminal and from an answers file. The wizard is driven through the
//! real binary in a pseudo-terminal (rexpect), doing "the Okta steps" by registering the key it prints
//! with the emulator; the answers file runs the same test and saves only when it passes; without a
//! terminal and without answers the command refuses and points at both ways that work.

use crate::support::*;
use okta_emulator::{ClientRegistration, EmulatorConfig};
use rexpect::process::WaitStatus;
use rexpect::session::{spawn_with_options, Options, PtySession};
use std::path::Path;
use std::time::Duration;

/// How long one expectation may wait: a debug build's key generation and the staged test take
/// seconds, never this long; a hang fails the test instead of holding CI.
const EXPECT_TIMEOUT_MS: u64 = 30_000;

/// The instances in the state, as `instance list --json` prints them.
async fn instances(fx: &Fixture) -> Vec<serde_json::Value> {
    let out = fx.cli(&["instance", "list", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("a JSON array")
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("file written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_wizard_answers_file_saves_only_what_passed_the_test() {
    let fx = Fixture::new(EmulatorConfig::default()).await;
    let domain = fx.emulator.domain();
    // Relative paths are the file's: key.pem and ca.pem sit beside it.
    let good = fx.path("good.toml");
    write(
        &good,
        &format!(
            r#"
            name = "acme"
            domain = "{domain}"
            client_id = "{}"
            private_key = "key.pem"
            ca_file = "ca.pem"
            backfill_days = 2
            events = ["authentication", "lifecycle"]
            silence_alert = "off"
            "#,
            fx.client.client_id
        ),
    );
    let out = fx
        .cli(&["setup", "--answers", &good.display().to_string()])
        .await;
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    for expected in [
        "✓ Org reachable",
        "✓ Client known",
        "✓ System Log read",
        "saved instance acme",
        "instance add acme --domain",
        "--backfill-days 2 --events authentication,lifecycle",
        "--silence-alert off",
        "run --sink",
        "Backfill of 2 days at the rate of the org's last 24 hours: ",
    ] {
        assert!(said.contains(expected), "{expected:?} in {said}");
    }
    let saved = instances(&fx).await;
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert_eq!(saved[0]["name"], "acme");
    assert_eq!(saved[0]["backfill_days"], 2);
    assert_eq!(
        saved[0]["events"],
        serde_json::json!(["authentication", "lifecycle"])
    );
    assert_eq!(saved[0]["silence_alert_s"], serde_json::Value::Null);

    // An app Okta does not know: the stage and its fix, a non-zero exit, nothing saved.
    let unknown = fx.path("unknown.toml");
    write(
        &unknown,
        &format!(
            "name = \"other\"\ndomain = \"{domain}\"\nclient_id = \"0oa-nobody\"\nprivate_key = \"key.pem\"\nca_file = \"ca.pem\"\n"
        ),
    );
    let out = fx
        .cli(&["setup", "--answers", &unknown.display().to_string()])
        .await;
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("✗ Client known"), "{said}");
    assert!(said.contains("· Key accepted: not run"), "{said}");
    assert!(said.contains("Fix: check the Client ID"), "{said}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("nothing was saved: the test connection failed at \"Client known\""),
        "{said}"
    );
    assert_eq!(instances(&fx).await.len(), 1, "nothing more was saved");

    // generate_key: the first run prints the public key and fails (Okta does not have it yet) but
    // keeps the key; once it is registered, the same file passes with the same key.
    let generated = fx.path("generated.toml");
    write(
        &generated,
        &format!(
            "name = \"gen\"\ndomain = \"{domain}\"\nclient_id = \"0oa-generated\"\ngenerate_key = true\nca_file = \"ca.pem\"\n"
        ),
    );
    let arg = generated.display().to_string();
    let out = fx.cli(&["setup", "--answers", &arg]).await;
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("The generated key stays at"), "{said}");
    let public_pem = pem_in(&said);
    fx.emulator.register_client(ClientRegistration::logs_reader(
        "0oa-generated",
        &public_pem,
    ));
    let out = fx.cli(&["setup", "--answers", &arg]).await;
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("by an earlier run"), "{said}");
    let saved = instances(&fx).await;
    let gen = saved
        .iter()
        .find(|i| i["name"] == "gen")
        .expect("gen saved");
    let key_path = gen["private_key"].as_str().expect("a path");
    assert!(
        key_path.starts_with(&fx.path("keys/gen").display().to_string()),
        "{key_path}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_wizard_without_a_terminal_points_at_answers_and_instance_add() {
    let fx = Fixture::new(EmulatorConfig::default()).await;
    // `output()` gives the child no terminal: stdin is closed, stdout and stderr are pipes.
    let out = fx.cli(&["setup"]).await;
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not one"), "{err}");
    assert!(err.contains("--answers"), "{err}");
    assert!(err.contains("instance add"), "{err}");
    assert!(!fx.path("state.db").exists(), "nothing was created");

    let help = tokio::process::Command::new(BIN)
        .args(["setup", "--help"])
        .output()
        .await
        .expect("binary runs");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--answers") && help.contains("terminal") && help.contains("generate_key"),
        "{help}"
    );
}

/// The public key PEM printed in `said`.
fn pem_in(said: &str) -> String {
    let start = said.find("-----BEGIN PUBLIC KEY-----").expect("a PEM");
    let end = said[start..]
        .find("-----END PUBLIC KEY-----")
        .expect("its end")
        + start
        + "-----END PUBLIC KEY-----".len();
    // The terminal turns each newline into CR LF.
    said[start..end].replace('\r', "")
}

/// The wizard in a pseudo-terminal, on the fixture's state.
fn spawn_wizard(fx: &Fixture) -> PtySession {
    let mut cmd = std::process::Command::new(BIN);
    cmd.arg("--db")
        .arg(fx.db())
        .arg("setup")
        .env_remove("RUST_LOG")
        .env("TERM", "xterm");
    let mut p = spawn_with_options(
        cmd,
        Options::default()
            .timeout_ms(Some(EXPECT_TIMEOUT_MS))
            .strip_ansi_escape_codes(true),
    )
    .expect("the wizard starts in a pseudo-terminal");
    // A wizard that ignores SIGTERM is killed, so a failing test never waits for it.
    p.process_mut().set_kill_timeout(Some(5_000));
    p
}

/// Waits for `what` on the terminal.
fn expect(p: &mut PtySession, what: &str) -> String {
    match p.exp_string(what) {
        Ok(before) => before,
        Err(e) => panic!("waiting for {what:?}: {e}"),
    }
}

/// Waits for the prompt `prompt`, lets it switch the terminal to raw mode, then types `keys`. Keys sent
/// before that are lost, and `send` does not flush (SETUP-UX §5.2).
fn answer(p: &mut PtySession, prompt: &str, keys: &str) {
    expect(p, prompt);
    std::thread::sleep(Duration::from_millis(200));
    p.send(keys).expect("keys sent");
    p.flush().expect("keys flushed");
}

/// The wizard's exit code, once it ended.
fn exit_code(p: &mut PtySession) -> i32 {
    p.exp_eof().expect("the wizard ends");
    match p.process().wait().expect("its status") {
        WaitStatus::Exited(_, code) => code,
        other => panic!("the wizard did not exit: {other:?}"),
    }
}

/// The steps to the key: a refused domain then the emulator's, its CA file, "generate".
fn to_the_key(p: &mut PtySession, fx: &Fixture) {
    answer(p, "Okta domain", "okta.com\r");
    expect(p, "names Okta itself");
    std::thread::sleep(Duration::from_millis(200));
    let fix = format!(
        "{}{}\r",
        "\x7f".repeat("okta.com".len()),
        fx.emulator.domain()
    );
    p.send(&fix).expect("keys sent");
    p.flush().expect("keys flushed");
    answer(
        p,
        "CA file to trust",
        &format!("{}\r", fx.path("ca.pem").display()),
    );
    expect(p, "is an Okta org");
    answer(p, "Generate a key here (recommended)", "\r");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_wizard_on_a_terminal_tests_until_it_passes_then_saves() {
    let fx = Fixture::new(EmulatorConfig::default()).await;
    // rexpect blocks; the emulator keeps serving on the other worker.
    tokio::task::block_in_place(|| {
        let mut p = spawn_wizard(&fx);
        to_the_key(&mut p, &fx);
        let printed = expect(&mut p, "-----END PUBLIC KEY-----");
        let public_pem = pem_in(&format!("{printed}-----END PUBLIC KEY-----"));
        expect(&mut p, "Report Administrator");

        // A Client ID Okta does not know first: the stage, Okta's answer, the fix; nothing saved.
        answer(&mut p, "Client ID of the app", "0oa-typo\r");
        expect(&mut p, "failed at Client known");
        expect(&mut p, "Fix: check the Client ID");
        // "Do the Okta steps": the app with the printed key.
        fx.emulator
            .register_client(ClientRegistration::logs_reader("0oa-wizard", &public_pem));
        // Ctrl-N moves down a select: "Change the Client ID".
        answer(&mut p, "What now?", "\x0e\r");
        answer(&mut p, "Client ID of the app", "0oa-wizard\r");
        expect(&mut p, "The test connection passed");
        // rexpect reads bytes as Latin-1, so only ASCII is matched (not the marks).
        expect(&mut p, "System Log read: Bearer token obtained");
        // Then one bounded read of the last 24 hours sizes the groups and the backfill.
        expect(&mut p, "recent events in 1 page(s)");

        answer(&mut p, "Event groups to collect", "\r");
        answer(&mut p, "Days of history", "\r");
        expect(&mut p, "A backfill of 7 days at the sampled rate");
        answer(&mut p, "Instance name", "acme\r");
        answer(&mut p, "Save instance acme?", "\r");
        expect(&mut p, "saved instance acme");
        expect(&mut p, "instance add acme --domain");
        expect(
            &mut p,
            "--backfill-days 7 --events authentication,security,itp",
        );
        expect(&mut p, "ui");
        assert_eq!(exit_code(&mut p), 0);
    });
    let saved = instances(&fx).await;
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert_eq!(saved[0]["client_id"], "0oa-wizard");
    assert_eq!(saved[0]["backfill_days"], 7);
    // The key moved to the name chosen last; none is left under the name offered first.
    let key_path = saved[0]["private_key"].as_str().expect("a path");
    assert!(
        key_path.starts_with(&fx.path("keys/acme").display().to_string()),
        "{key_path}"
    );
    assert!(Path::new(key_path).is_file());
    assert!(!fx.path("keys/127").exists());
    let check = fx.cli(&["check", "acme"]).await;
    assert!(check.status.success(), "{}", text(&check));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_wizard_cancelled_saves_nothing_and_removes_its_key() {
    let fx = Fixture::new(EmulatorConfig::default()).await;
    tokio::task::block_in_place(|| {
        let mut p = spawn_wizard(&fx);
        to_the_key(&mut p, &fx);
        expect(&mut p, "-----END PUBLIC KEY-----");
        answer(&mut p, "Client ID of the app", "\x03");
        expect(&mut p, "Nothing was saved");
        expect(&mut p, "the key made in this run was removed");
        assert_eq!(exit_code(&mut p), 130);
    });
    assert!(instances(&fx).await.is_empty());
    let keys = fx.path("keys");
    let left: Vec<_> = std::fs::read_dir(&keys)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "no key left behind: {left:?}");
}
