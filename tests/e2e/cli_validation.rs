//! Bad set-up input gets a clear one-line error, a non-zero exit, and nothing stored.

use crate::support::*;
use okta_emulator::EmulatorConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_instance_settings_are_refused_and_nothing_is_stored() {
    let fx = Fixture::new(EmulatorConfig::default()).await;
    let key = fx.path("key.pem").display().to_string();
    std::fs::write(fx.path("bad.pem"), "not a key").unwrap();
    std::fs::write(fx.path("pub.pem"), &fx.client.public_key_pem).unwrap();
    let bad = fx.path("bad.pem").display().to_string();
    let public = fx.path("pub.pem").display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "--domain",
                "acme.okta.com",
                "--private-key",
                &key,
                "--backfill-days",
                "15",
            ],
            "14",
        ),
        (
            vec![
                "--domain",
                "acme.okta.com",
                "--private-key",
                &key,
                "--backfill-days",
                "-1",
            ],
            "14",
        ),
        (
            vec![
                "--domain",
                "acme.okta.com",
                "--private-key",
                &key,
                "--backfill-days",
                "abc",
            ],
            "14",
        ),
        (
            vec!["--domain", "acme.okta.com/admin", "--private-key", &key],
            "path",
        ),
        (
            vec!["--domain", "http://acme.okta.com", "--private-key", &key],
            "https",
        ),
        (
            vec!["--domain", "acme.okta.com", "--private-key", &bad],
            "PEM",
        ),
        (
            vec!["--domain", "acme.okta.com", "--private-key", &public],
            "not a private key",
        ),
        (
            vec![
                "--domain",
                "acme.okta.com",
                "--private-key",
                &key,
                "--events",
                "authentication,billing",
            ],
            "billing",
        ),
    ];
    for (extra, want) in cases {
        let mut args = vec!["instance", "add", "x", "--client-id", "0oa1"];
        args.extend(extra.iter().copied());
        let out = fx.cli(&args).await;
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: expected {want:?} in {err}");
    }
    let list = fx.cli(&["instance", "list"]).await;
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("no instances"),
        "{}",
        text(&list)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_is_normalised_and_backfill_cannot_be_edited() {
    let fx = Fixture::new(EmulatorConfig::default()).await;
    let key = fx.path("key.pem").display().to_string();
    let out = fx
        .cli(&[
            "instance",
            "add",
            "acme",
            "--domain",
            "https://Acme.okta.com/",
            "--client-id",
            "0oa1",
            "--private-key",
            &key,
            "--backfill-days",
            "3",
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let show = fx.cli(&["instance", "show", "acme"]).await;
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(shown.contains("domain:        acme.okta.com"), "{shown}");
    assert!(!shown.contains("BEGIN"), "the key must never be shown");
    let edit = fx
        .cli(&["instance", "edit", "acme", "--backfill-days", "7"])
        .await;
    assert!(!edit.status.success());
    assert!(
        String::from_utf8_lossy(&edit.stderr).contains("cannot be edited"),
        "{}",
        text(&edit)
    );
    let edit = fx
        .cli(&["instance", "edit", "acme", "--events", "lifecycle"])
        .await;
    assert!(edit.status.success(), "{}", text(&edit));
    let rm = fx.cli(&["instance", "remove", "acme"]).await;
    assert!(rm.status.success());
    let rm = fx.cli(&["instance", "remove", "acme"]).await;
    assert!(!rm.status.success());
}
