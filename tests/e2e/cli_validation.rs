//! Bad set-up input gets a clear one-line error, a non-zero exit, and nothing stored.

use crate::support::*;
use okta_emulator::EmulatorConfig;
use std::process::Command;

/// Makes a key file with openssl (the tool users have); panics with the command if it is missing.
fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The first line of stderr (the error; clap may add a hint after a blank line).
fn first_line(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_instance_settings_are_refused_and_nothing_is_stored() {
    let fx = Fixture::new(EmulatorConfig::default()).await;
    let key = fx.path("key.pem").display().to_string();
    std::fs::write(fx.path("bad.pem"), "not a key").unwrap();
    std::fs::write(fx.path("pub.pem"), &fx.client.public_key_pem).unwrap();
    let bad = fx.path("bad.pem").display().to_string();
    let public = fx.path("pub.pem").display().to_string();
    let p = |n: &str| fx.path(n).display().to_string();
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &p("ec-pkcs8.pem"),
    ]);
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &p("ec-sec1.pem"),
    ]);
    openssl(&[
        "pkcs8",
        "-topk8",
        "-in",
        &key,
        "-out",
        &p("encrypted.pem"),
        "-passout",
        "pass:secret",
    ]);
    let (ec8, ec1, enc) = (p("ec-pkcs8.pem"), p("ec-sec1.pem"), p("encrypted.pem"));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--domain", "acme.okta.com", "--private-key", &ec8],
            "not an RSA key",
        ),
        (
            vec!["--domain", "acme.okta.com", "--private-key", &ec1],
            "EC key",
        ),
        (
            vec!["--domain", "acme.okta.com", "--private-key", &enc],
            "encrypted",
        ),
        (
            vec![
                "--domain",
                "acme.okta.com",
                "--private-key",
                "/nonexistent/key.pem",
            ],
            "cannot read",
        ),
        (
            vec!["--domain", "acme okta.com", "--private-key", &key],
            "spaces",
        ),
        (
            vec!["--domain", "ftp://acme.okta.com", "--private-key", &key],
            "https",
        ),
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
        let err = first_line(&out);
        assert!(
            err.starts_with("error: ") && err.contains(want),
            "{args:?}: expected {want:?} in the first line: {}",
            text(&out)
        );
    }
    let out = fx
        .cli(&[
            "instance",
            "add",
            "x",
            "--client-id",
            "",
            "--domain",
            "acme.okta.com",
            "--private-key",
            &key,
        ])
        .await;
    assert!(!out.status.success());
    assert!(first_line(&out).contains("client-id"), "{}", text(&out));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwritable_and_corrupt_databases_are_clear_errors() {
    let fx = Fixture::new(EmulatorConfig::default()).await;
    // A parent that is a file: no directory can be created there (root ignores permission bits).
    std::fs::write(fx.path("not-a-dir"), "x").unwrap();
    let bad = fx.path("not-a-dir").join("state.db").display().to_string();
    let out = tokio::process::Command::new(BIN)
        .args(["--db", &bad, "run", "--once"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot open state database") && err.lines().count() == 1,
        "{err}"
    );

    let corrupt = fx.path("corrupt.db");
    std::fs::write(&corrupt, vec![0x5a; 16384]).unwrap();
    let before = std::fs::read(&corrupt).unwrap();
    let c = corrupt.display().to_string();
    let out = tokio::process::Command::new(BIN)
        .args(["--db", &c, "instance", "list"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("corrupt") && err.lines().count() == 1, "{err}");
    assert_eq!(
        std::fs::read(&corrupt).unwrap(),
        before,
        "a corrupt database is never written to"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_database_file_is_a_clear_error_not_silent_loss() {
    let fx = Fixture::new(EmulatorConfig {
        events: 2_000,
        days: 2,
        ..EmulatorConfig::default()
    })
    .await;
    fx.add_instance("org", &["--backfill-days", "3"]).await;
    let out = fx.path("events.jsonl");
    let run = fx.run_once(&out).await;
    assert!(run.status.success(), "{}", text(&run));
    // Fold the WAL into the main file, then tear the file in half as a crashed copy or full disk would.
    let db = fx.path("state.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(conn);
    let len = std::fs::metadata(&db).unwrap().len();
    assert!(len > 8192, "the database has several pages ({len} bytes)");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    for args in [
        &["instance", "list"][..],
        &["run", "--once", "--sink", "stdout"][..],
    ] {
        let r = fx.cli(args).await;
        assert!(
            !r.status.success(),
            "{args:?} must fail on a torn database: {}",
            text(&r)
        );
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(
            err.contains("corrupt") || err.contains("malformed"),
            "{args:?}: {}",
            text(&r)
        );
    }
}
