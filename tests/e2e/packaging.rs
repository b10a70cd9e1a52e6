//! What a packager ships: the systemd unit (checked by `systemd-analyze verify` where systemd is
//! installed), the example config file (accepted by `run`), and shell completions.

use crate::support::*;
use std::path::Path;

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

#[tokio::test]
async fn the_systemd_unit_verifies_and_matches_the_stop_guarantee() {
    let unit = std::fs::read_to_string(repo("packaging/okta-ingest.service")).unwrap();
    for needed in [
        "StateDirectory=okta-ingest",
        "TimeoutStopSec=10s",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "OKTA_INGEST_DB=/var/lib/okta-ingest/state.db",
    ] {
        assert!(unit.contains(needed), "the unit lacks {needed}");
    }
    let Ok(analyze) = which("systemd-analyze") else {
        eprintln!("systemd-analyze is not installed: only the unit's text was checked");
        return;
    };
    // Verify a copy whose ExecStart is the binary under test (verify checks that it is executable).
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("okta-ingest.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/okta-ingest", BIN)).unwrap();
    let out = tokio::process::Command::new(analyze)
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Inside a container without a running systemd, verify still parses the unit; only complaints
    // about this unit count (not about the host's other units).
    let about_ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("okta-ingest.service"))
        .collect();
    assert!(
        out.status.success() && about_ours.is_empty(),
        "systemd-analyze verify: {:?}\n{stderr}",
        out.status
    );
}

fn which(tool: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .ok_or(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_config_runs_the_daemon_and_flags_override_it() {
    let fx = Fixture::with_org(300).await;
    let example = std::fs::read_to_string(repo("packaging/okta-ingest.toml")).unwrap();
    let out = fx.path("from-config.jsonl");
    // The example as shipped, pointed at this test's files (and a free admin port).
    let config = fx.path("okta-ingest.toml");
    let text_of = example
        .replace(
            "file:/var/log/okta-ingest/events.jsonl",
            &format!("file:{}", out.display()),
        )
        .replace("127.0.0.1:9100", "127.0.0.1:0");
    std::fs::write(&config, &text_of).unwrap();
    let config_arg = config.display().to_string();
    let mut args = vec!["run", "--config", &config_arg];
    args.extend_from_slice(FAST);
    let mut daemon = Running::start(&fx, &args, "daemon.log");
    daemon
        .wait_for("the tick that caught up", |l| l.contains("(caught up)"))
        .await;
    daemon.signal(libc::SIGTERM);
    let status = daemon
        .exit_within(std::time::Duration::from_secs(60), "the daemon")
        .await;
    let started = daemon.log();
    assert!(status.success(), "{started}");
    assert!(
        started.contains("every 5m") && started.contains("admin on http://127.0.0.1:"),
        "the file's interval and admin address: {started}"
    );
    assert!(!lines(&out).is_empty(), "events went to the file's sink");

    // A flag beats the file (a copy without `admin`, which `--once` refuses).
    let once_config = fx.path("once.toml");
    let without_admin: Vec<&str> = text_of
        .lines()
        .filter(|l| !l.starts_with("admin"))
        .collect();
    std::fs::write(&once_config, without_admin.join("\n")).unwrap();
    let flag_out = fx.path("from-flag.jsonl");
    let run = fx
        .cli(&[
            "run",
            "--once",
            "--config",
            &once_config.display().to_string(),
            "--sink",
            &format!("file:{}", flag_out.display()),
        ])
        .await;
    assert!(run.status.success(), "{}", text(&run));
    assert!(flag_out.exists(), "the command line's --sink was used");

    // A bad key is refused with the file's name, exit 2, before anything is fetched.
    let bad = fx.path("bad.toml");
    std::fs::write(&bad, "snik = \"stdout\"\n").unwrap();
    let run = fx
        .cli(&["run", "--once", "--config", &bad.display().to_string()])
        .await;
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("unknown key `snik`"),
        "{err}"
    );
}

#[tokio::test]
async fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = tokio::process::Command::new(BIN)
            .args(["completions", shell])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("okta-ingest") && script.contains("instance"),
            "{shell}: {script}"
        );
    }
}
