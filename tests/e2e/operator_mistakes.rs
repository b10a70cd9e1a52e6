//! Ordinary operator mistakes must not double or lose events, and nothing planted beside the state may
//! run past the sandbox: two runs on one state, two writers of one file, a planted compiled component,
//! planted links, the last instance removed, two instances of one app, files that are not files, loose
//! modes, a closed stdout.

use crate::support::*;
use okta_emulator::EmulatorConfig;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
fn set_mode(p: &Path, m: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

/// The compiled-component file (`.cwasm`) in a cache directory.
fn compiled_in(cache: &Path) -> Option<std::path::PathBuf> {
    std::fs::read_dir(cache)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
}

/// The defect: two `run`s on one state both backfilled from the same cursor and drained the same
/// outbox, and their appends interleaved (glued and cut lines). Now the second is refused at once,
/// naming the first, and a second writer of the same file (even from another state) is refused too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_one_state_is_refused_and_every_event_arrives_once() {
    // A rate limit stretches the backfill over several seconds, so the second run starts mid-backfill.
    let fx = Fixture::new(EmulatorConfig {
        events: 6_000,
        days: 13,
        rate_limit_per_minute: Some(6),
        rate_limit_window: Duration::from_secs(1),
        ..EmulatorConfig::default()
    })
    .await;
    fx.add_org().await;
    let out = fx.path("events.jsonl");
    let sink = format!("file:{}", out.display());
    let mut first = tokio::process::Command::new(BIN);
    first
        .arg("--db")
        .arg(fx.db())
        .args(["run", "--once", "--sink", &sink, "--max-wait", "30s"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let first = first.spawn().unwrap();
    let pid = first.id().unwrap();
    // Wait until it is the runner (it writes its pid into the lock file), or, without a lock, until it
    // has delivered its first events: either way the second run starts while the first backfills.
    let lock = fx.path("state.db.lock");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&lock).is_ok_and(|t| t.contains(&format!("pid {pid} ")))
        && !std::fs::metadata(&out).is_ok_and(|m| m.len() > 0)
    {
        assert!(
            Instant::now() < deadline,
            "the first run never became the runner"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let started = Instant::now();
    let second = fx.run_once(&out).await;
    assert!(!second.status.success(), "{}", text(&second));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.lines().count() == 1
            && err.contains("is in use by another okta-ingest run")
            && err.contains(&format!("pid {pid} since ")),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refused at once"
    );

    // Another state, the same file: the file has one writer.
    let other_db = fx.path("other.db").display().to_string();
    let key = fx.path("key.pem").display().to_string();
    let ca = fx.path("ca.pem").display().to_string();
    let domain = fx.emulator.domain();
    let add = tokio::process::Command::new(BIN)
        .args([
            "--db", &other_db, "instance", "add", "other", "--domain", &domain,
        ])
        .args([
            "--client-id",
            &fx.client.client_id,
            "--private-key",
            &key,
            "--ca-file",
            &ca,
        ])
        .output()
        .await
        .unwrap();
    assert!(add.status.success(), "{}", text(&add));
    let third = tokio::process::Command::new(BIN)
        .args(["--db", &other_db, "run", "--once", "--sink", &sink])
        .args(FAST)
        .output()
        .await
        .unwrap();
    assert!(!third.status.success(), "{}", text(&third));
    assert!(
        String::from_utf8_lossy(&third.stderr).contains("another process is writing to it"),
        "{}",
        text(&third)
    );

    // Read-only and management commands keep working meanwhile.
    let status = fx.cli(&["status"]).await;
    assert!(status.status.success(), "{}", text(&status));
    let list = fx.cli(&["instance", "list"]).await;
    assert!(list.status.success(), "{}", text(&list));

    let done = tokio::time::timeout(Duration::from_secs(120), first.wait_with_output())
        .await
        .expect("the first run finishes")
        .unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let got = lines(&out);
    for (i, line) in got.iter().enumerate() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v.is_object()),
            "line {i} is not one JSON event: {line:.200}"
        );
    }
    let spec = CategorySpec::load();
    assert_exactly(
        &got,
        &spec.expected(
            &fx.emulator.committed(),
            &["authentication", "security", "itp", "lifecycle"],
        ),
    );
}

/// The defect: a copy of another component's machine code over the embedded connector's cache file
/// ran as that component while `status` said "embedded". Now the planted file is not loaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_code_planted_in_the_cache_does_not_run() {
    let fx = Fixture::new(EmulatorConfig {
        events: 200,
        days: 1,
        ..EmulatorConfig::default()
    })
    .await;
    fx.add_instance("org", &[]).await;
    let sink = format!("file:{}", fx.path("events.jsonl").display());
    let first = fx.cli(&["-v", "run", "--once", "--sink", &sink]).await;
    assert!(first.status.success(), "{}", text(&first));
    let embedded_entry = compiled_in(&fx.path("state.db.components"))
        .expect("the embedded connector's compiled code is cached");
    // Machine code of another component, compiled by this same binary (same engine settings): what
    // `component add` leaves in another state's cache.
    let scratch = fx.path("scratch.db").display().to_string();
    let added = tokio::process::Command::new(BIN)
        .args([
            "--db",
            &scratch,
            "component",
            "add",
            okta_ingest_test_artifacts::SWAP,
        ])
        .output()
        .await
        .unwrap();
    assert!(added.status.success(), "{}", text(&added));
    let other = compiled_in(&fx.path("scratch.db.components"))
        .expect("the other component's compiled code");
    std::fs::copy(&other, &embedded_entry).unwrap();

    let second = fx.cli(&["-v", "run", "--once", "--sink", &sink]).await;
    assert!(second.status.success(), "{}", text(&second));
    let log = String::from_utf8_lossy(&second.stderr);
    assert!(
        !log.contains(okta_ingest_test_artifacts::SWAP_VERSION),
        "the planted component ran: {log}"
    );
    assert!(
        log.contains("did not write"),
        "the planted file is named: {log}"
    );
    assert!(
        log.contains(&format!("connector={}", env!("CARGO_PKG_VERSION"))),
        "{log}"
    );
}

/// The defect: files were written through links planted at their paths (the demo's predictable temp
/// directory, `emulator --dir`), so the private key landed in an attacker's file.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_planted_where_the_emulator_keeps_its_key_is_refused_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "victim").unwrap();
    set_mode(&victim, 0o644);
    let emu_dir = dir.path().join("emu");
    std::fs::create_dir(&emu_dir).unwrap();
    let key = emu_dir.join("0oa-okta-emulator-client-key.pem");
    std::os::unix::fs::symlink(&victim, &key).unwrap();
    // The emulator reuses a key kept in its directory (so instances survive a restart); a link there
    // is neither followed for reading nor written through.
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(BIN)
            .args(["emulator", "--port", "0", "--events", "10", "--dir"])
            .arg(&emu_dir)
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("it does not hang")
    .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "victim");
    assert_eq!(mode(&victim), 0o644, "the link's target is untouched");
    assert!(std::fs::symlink_metadata(&key)
        .unwrap()
        .file_type()
        .is_symlink());
}

/// The defect: with its last instance removed, a state's queued events were stranded (`run` refused
/// "no instances configured").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_queued_for_a_removed_instance_are_still_delivered() {
    let fx = Fixture::with_org(800).await;
    let failed = fx.run_once(Path::new("/dev/full")).await;
    assert!(!failed.status.success(), "{}", text(&failed));
    let removed = fx.cli(&["instance", "remove", "org"]).await;
    assert!(removed.status.success(), "{}", text(&removed));
    let said = String::from_utf8_lossy(&removed.stdout);
    let spec = CategorySpec::load();
    let expected = spec.expected(
        &fx.emulator.committed(),
        &["authentication", "security", "itp", "lifecycle"],
    );
    assert!(
        said.contains(&format!(
            "its {} queued events will still be delivered",
            expected.len()
        )),
        "{said}"
    );
    let out = fx.path("events.jsonl");
    let run = fx.run_once(&out).await;
    assert!(run.status.success(), "{}", text(&run));
    assert!(String::from_utf8_lossy(&run.stderr).contains("no instances configured"));
    assert_exactly(&lines(&out), &expected);
}

/// The defect: two instances of one app on one org delivered every event twice, silently; a trailing
/// dot or `:443` made the same org look like another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_of_the_same_app_and_categories_is_refused() {
    let fx = Fixture::new(EmulatorConfig::default()).await;
    fx.add_instance("org", &["--events", "authentication,security"])
        .await;
    let key = fx.path("key.pem").display().to_string();
    let ca = fx.path("ca.pem").display().to_string();
    let same_org = format!("https://{}/", fx.emulator.domain());
    let copy = fx
        .cli(&[
            "instance",
            "add",
            "copy",
            "--domain",
            &same_org,
            "--client-id",
            &fx.client.client_id,
            "--private-key",
            &key,
            "--ca-file",
            &ca,
            "--events",
            "security,itp",
        ])
        .await;
    assert!(!copy.status.success(), "{}", text(&copy));
    let err = String::from_utf8_lossy(&copy.stderr);
    assert!(
        err.contains("instance \"org\" already reads security events") && err.lines().count() == 1,
        "{err}"
    );
    // Other categories of the same app are fine: nothing is delivered twice.
    fx.add_instance("itp-only", &["--events", "itp"]).await;
    // Nor can an edit make a duplicate.
    let edit = fx
        .cli(&[
            "instance",
            "edit",
            "itp-only",
            "--events",
            "itp,authentication",
        ])
        .await;
    assert!(!edit.status.success(), "{}", text(&edit));
}

/// The defect: `demo` worked in `$TMPDIR/okta-ingest-demo-<pid>`, a name anyone could plant a link at
/// beforehand, with the directory's mode left to the umask. Now it is a fresh private directory.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_works_in_a_fresh_private_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let child = tokio::process::Command::new(BIN)
        .args(["demo", "--events", "100", "--keep"])
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let demo = child.wait_with_output().await.unwrap();
    let err = String::from_utf8_lossy(&demo.stderr);
    assert!(demo.status.success(), "{err}");
    let kept = err
        .lines()
        .find_map(|l| l.strip_prefix("demo files kept in "))
        .map(Path::new)
        .unwrap_or_else(|| panic!("says where: {err}"));
    assert!(kept.starts_with(tmp.path()), "{}", kept.display());
    assert_ne!(
        kept.file_name().unwrap().to_string_lossy(),
        format!("okta-ingest-demo-{pid}"),
        "not a name that can be guessed"
    );
    assert_eq!(mode(kept), 0o700, "private");
    let key = kept.join("0oa-okta-ingest-demo-key.pem");
    assert_eq!(mode(&key), 0o600, "{}", key.display());
}

/// The defect: `/dev/zero` as a key or a component was read until memory ran out; a FIFO hung.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_that_are_not_regular_files_are_refused_at_once() {
    let fx = Fixture::new(EmulatorConfig::default()).await;
    let fifo = fx.path("key.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let domain = fx.emulator.domain();
    for key in ["/dev/zero", fifo.to_str().unwrap()] {
        let started = Instant::now();
        let out = tokio::time::timeout(
            Duration::from_secs(20),
            fx.cli(&[
                "instance",
                "add",
                "x",
                "--domain",
                &domain,
                "--client-id",
                "0oa1",
                "--private-key",
                key,
            ]),
        )
        .await
        .expect("refused, not read forever");
        assert!(!out.status.success(), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not a regular file"),
            "{}",
            text(&out)
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        fx.cli(&["component", "add", "/dev/zero"]),
    )
    .await
    .expect("refused, not read forever");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a regular file"));
}

/// The defect: an existing world-readable state file and sink file stayed readable (they hold emails
/// and IP addresses), and a world-readable private key was accepted silently.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loose_modes_are_tightened_or_warned_about() {
    let fx = Fixture::new(EmulatorConfig {
        events: 100,
        days: 1,
        ..EmulatorConfig::default()
    })
    .await;
    let db = fx.path("state.db");
    std::fs::write(&db, "").unwrap();
    set_mode(&db, 0o644);
    set_mode(&fx.path("key.pem"), 0o644);
    let add = fx
        .try_add_instance_as("org", &fx.client.client_id, &[])
        .await;
    assert!(add.status.success(), "{}", text(&add));
    assert_eq!(mode(&db), 0o600, "the state file was made private");
    let said = String::from_utf8_lossy(&add.stderr)
        .matches("open to other users")
        .count();
    assert_eq!(said, 1, "said once: {}", text(&add));
    let out = fx.path("events.jsonl");
    std::fs::write(&out, "").unwrap();
    set_mode(&out, 0o644);
    let run = fx.run_once(&out).await;
    assert!(run.status.success(), "{}", text(&run));
    assert_eq!(mode(&out), 0o600, "the sink file was made private");
    for companion in ["state.db-wal", "state.db-shm"] {
        let p = fx.path(companion);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{companion} is private too");
        }
    }
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("readable by other users"),
        "the loose key is reported: {}",
        text(&run)
    );
    // A new state file's missing directories are private.
    let nested = fx.path("a/b/state.db").display().to_string();
    // (`run` creates a state file; a read-only command would refuse the missing one.)
    let list = tokio::process::Command::new(BIN)
        .args(["--db", &nested, "run", "--once"])
        .output()
        .await
        .unwrap();
    assert!(list.status.success(), "{}", text(&list));
    assert_eq!(mode(&fx.path("a")), 0o700);
    assert_eq!(mode(&fx.path("a/b")), 0o700);
}

/// The defect: `status | head` (a closed stdout) panicked with exit 101, and `demo` then left its key
/// behind.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_is_a_quiet_exit_and_the_demo_still_cleans_up() {
    use std::os::fd::{FromRawFd, OwnedFd};
    // A pipe whose reading end is already closed: every write to it fails with EPIPE.
    let closed_stdout = || {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: both descriptors are fresh and owned here.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        drop(read);
        Stdio::from(write)
    };
    // `output()` would replace stdout with its own pipe: spawn with the closed one, collect stderr.
    let run = |cmd: &mut tokio::process::Command| {
        let child = cmd
            .stdout(closed_stdout())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.wait_with_output()
    };
    let fx = Fixture::with_org(10).await;
    for args in [&["status"][..], &["instance", "list"][..]] {
        let out = run(tokio::process::Command::new(BIN)
            .arg("--db")
            .arg(fx.db())
            .args(args))
        .await
        .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
    // Events are another matter: a closed stdout *sink* is a failed delivery, and says so.
    let events = run(tokio::process::Command::new(BIN)
        .arg("--db")
        .arg(fx.db())
        .args(["run", "--once", "--sink", "stdout"]))
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&events.stderr);
    assert!(
        !events.status.success() && err.contains("still queued") && !err.contains("panicked"),
        "{err}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let demo = run(tokio::process::Command::new(BIN)
        .args(["demo", "--events", "300"])
        .env("TMPDIR", tmp.path()))
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&demo.stderr);
    assert!(demo.status.success() && !err.contains("panicked"), "{err}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "the demo left {left:?} behind");
}
