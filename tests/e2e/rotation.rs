//! `instance rotate-key`: a new key beside the old one, the instance signing with the old key until
//! a check with the new `kid` passes, then switching and retiring the old key; nothing switches while
//! Okta does not have the new key, and ingestion never stops.

use crate::support::*;
use okta_emulator::{ClientRegistration, EmulatorConfig};

/// The public PEM block `rotate-key` printed.
fn public_pem(said: &str) -> String {
    let start = said
        .find("-----BEGIN PUBLIC KEY-----")
        .expect("a public PEM");
    let end = said[start..]
        .find("-----END PUBLIC KEY-----")
        .expect("its end")
        + start;
    format!("{}-----END PUBLIC KEY-----\n", &said[start..end])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_rotated_only_once_okta_accepts_the_new_one() {
    let fx = Fixture::new(EmulatorConfig {
        events: 200,
        days: 1,
        ..EmulatorConfig::default()
    })
    .await;
    fx.add_instance("org", &["--backfill-days", "2"]).await;
    let started = fx.cli(&["instance", "rotate-key", "org"]).await;
    assert!(started.status.success(), "{}", text(&started));
    let said = String::from_utf8_lossy(&started.stdout).to_string();
    assert!(
        said.contains("keeps signing with its current key"),
        "{said}"
    );
    assert!(
        !said.contains("PRIVATE KEY"),
        "only the public half is printed"
    );
    let kid = said
        .lines()
        .find_map(|l| l.strip_prefix("Key ID (kid): "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the new kid")
        .to_string();
    let again = fx.cli(&["instance", "rotate-key", "org"]).await;
    assert!(
        String::from_utf8_lossy(&again.stdout).contains(&kid),
        "a second start shows the same key"
    );

    // Okta does not know the new key yet: nothing switches, and the old key keeps working.
    let early = fx.cli(&["instance", "rotate-key", "org", "--finish"]).await;
    assert!(!early.status.success(), "{}", text(&early));
    assert!(
        text(&early).to_lowercase().contains("key"),
        "{}",
        text(&early)
    );
    let out = fx.path("events.jsonl");
    let run = fx.run_once(&out).await;
    assert!(
        run.status.success(),
        "the old key still ingests: {}",
        text(&run)
    );
    let first = lines(&out).len();
    assert!(first > 0);

    // The user adds the new key in Okta (the app now has it; the emulator keeps one key per app).
    fx.emulator.register_client(ClientRegistration::logs_reader(
        &fx.client.client_id,
        &public_pem(&said),
    ));
    let done = fx.cli(&["instance", "rotate-key", "org", "--finish"]).await;
    assert!(done.status.success(), "{}", text(&done));
    let done_said = String::from_utf8_lossy(&done.stdout);
    assert!(
        done_said.contains(&format!("now signs with key {kid}")),
        "{done_said}"
    );
    assert!(
        done_said.contains("was not made by okta-ingest"),
        "the fixture's own key is left alone: {done_said}"
    );
    assert!(fx.path("key.pem").exists());
    let show = fx.cli(&["instance", "list", "--json"]).await;
    let list: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(list[0]["key_id"], kid.as_str());
    let key_path = list[0]["private_key"].as_str().unwrap().to_string();
    assert!(
        key_path.ends_with(&format!("keys/org/{kid}.pem")),
        "{key_path}"
    );
    let check = fx.cli(&["check", "org"]).await;
    assert!(check.status.success(), "{}", text(&check));
    let run = fx.run_once(&out).await;
    assert!(run.status.success(), "{}", text(&run));
    assert_eq!(
        lines(&out).len(),
        first,
        "nothing doubled across the rotation"
    );
    let nothing = fx.cli(&["instance", "rotate-key", "org", "--cancel"]).await;
    assert!(
        text(&nothing).contains("no key rotation in progress"),
        "{}",
        text(&nothing)
    );
}
