//! A newcomer's first steps (issue 11): `okta-ingest emulator` prints lines that work as printed, with a
//! state file of their own; a restart with the same `--dir` keeps the instance working; `--live` keeps
//! events coming; `--days 0` prints a backfill that still fetches them; `demo` says what to do next.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// A temp dir with a home of its own, so a command that fell back to the default database would
/// leave it where the test can see it.
struct Newcomer {
    tmp: tempfile::TempDir,
}

impl Newcomer {
    fn new() -> Newcomer {
        let n = Newcomer {
            tmp: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(n.home()).unwrap();
        n
    }

    fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn command(&self, args: &[String]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("HOME", self.home())
            .env("XDG_DATA_HOME", self.home().join("data"))
            .env("TMPDIR", self.tmp.path())
            .env_remove("OKTA_INGEST_DB")
            .env_remove("RUST_LOG");
        cmd
    }

    async fn output(&self, args: &[String]) -> Output {
        tokio::time::timeout(Duration::from_secs(120), self.command(args).output())
            .await
            .expect("finishes")
            .expect("binary runs")
    }

    /// Runs one printed line (`okta-ingest ...`) as printed.
    async fn run_line(&self, line: &str) -> Output {
        let words = shell_words(line);
        assert_eq!(
            words.first().map(String::as_str),
            Some("okta-ingest"),
            "{line}"
        );
        self.output(&words[1..]).await
    }

    /// Starts `okta-ingest emulator ARGS` and reads what it prints up to "Ctrl-C stops it".
    async fn emulator(&self, args: &[&str]) -> Running {
        let mut all = vec!["emulator".to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        let mut child = self
            .command(&all)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("emulator starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = stdout.next_line().await.unwrap() {
                let last = line.starts_with("Ctrl-C stops it");
                printed.push(line);
                if last {
                    return true;
                }
            }
            false
        })
        .await
        .expect("the emulator prints its lines within a minute");
        if !read {
            let out = child.wait_with_output().await.unwrap();
            panic!(
                "the emulator ended early: {printed:?}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Running {
            child,
            _stdout: stdout,
            printed,
        }
    }

    /// Nothing was written to the default state file.
    fn assert_default_state_untouched(&self) {
        let default = self.home().join("data").join("okta-ingest");
        assert!(!default.exists(), "{} was created", default.display());
    }
}

struct Running {
    child: Child,
    _stdout: Lines<BufReader<ChildStdout>>,
    printed: Vec<String>,
}

impl Running {
    /// The printed command line starting `okta-ingest --db DB <sub>`.
    fn line(&self, sub: &str) -> String {
        self.printed
            .iter()
            .map(|l| l.trim())
            .find(|l| {
                let w = shell_words(l);
                w.len() > 3
                    && w[0] == "okta-ingest"
                    && w[1] == "--db"
                    && w[3..].join(" ").starts_with(sub)
            })
            .unwrap_or_else(|| panic!("no `{sub}` line in {:#?}", self.printed))
            .to_string()
    }

    /// The value after `flag` in the `instance add` line.
    fn add_option(&self, flag: &str) -> String {
        let words = shell_words(&self.line("instance add"));
        let i = words
            .iter()
            .position(|w| w == flag)
            .unwrap_or_else(|| panic!("no {flag} in {words:?}"));
        words[i + 1].clone()
    }

    /// Sends `signal` and waits for a clean exit.
    async fn stop(self, signal: &str) {
        let pid = self.child.id().unwrap().to_string();
        let sent = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        let out = tokio::time::timeout(Duration::from_secs(30), self.child.wait_with_output())
            .await
            .expect("the emulator stops on the signal")
            .unwrap();
        assert!(
            out.status.success(),
            "{signal}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Splits a printed line into words as a POSIX shell would, for the quoting the command uses (plain
/// words and single quotes, `'\''` included).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' if quoted => quoted = false,
            '\'' => {
                quoted = true;
                in_word = true;
            }
            '\\' if !quoted => {
                if let Some(n) = chars.next() {
                    word.push(n);
                    in_word = true;
                }
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

fn stdout_events(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn uuids(events: &[serde_json::Value]) -> std::collections::HashSet<String> {
    events
        .iter()
        .map(|e| e["uuid"].as_str().unwrap().to_string())
        .collect()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The defects: the printed `instance add` line had no `--db`, so a newcomer wrote the emulator into
/// their real default state; and a restart regenerated the client key (and the CA), so the instance
/// then failed with "The client_assertion JWT kid is invalid". Now the lines work as printed, against
/// a state file in `--dir`, and keep working after a restart with the same `--dir`, where `--live`
/// keeps new events coming for `run` to find.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_lines_work_and_keep_working_after_a_restart() {
    let n = Newcomer::new();
    let dir = n.path("emu");
    let dir_arg = dir.display().to_string();
    let first = n
        .emulator(&[
            "--port", "0", "--dir", &dir_arg, "--events", "300", "--days", "2",
        ])
        .await;
    let db = dir.join("state.db").display().to_string();
    for sub in ["instance add", "check emulator", "run --once --sink stdout"] {
        let line = first.line(sub);
        assert!(
            shell_words(&line)[..3] == ["okta-ingest", "--db", db.as_str()],
            "{line}"
        );
    }
    let domain = first.add_option("--domain");
    let port = domain
        .strip_prefix("127.0.0.1:")
        .unwrap_or_else(|| panic!("a loopback domain: {domain}"));
    assert_ne!(port, "0", "the real port is printed");
    assert_eq!(first.add_option("--backfill-days"), "3");
    let kid = first.add_option("--key-id");
    let key = PathBuf::from(first.add_option("--private-key"));
    let ca = PathBuf::from(first.add_option("--ca-file"));
    assert!(
        key.starts_with(&dir) && ca.starts_with(&dir),
        "{key:?} {ca:?}"
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir), 0o700);
        for f in [&key, &ca, &dir.join("ca-key.pem")] {
            assert_eq!(mode(f), 0o600, "{}", f.display());
        }
    }
    let key_pem = std::fs::read(&key).unwrap();

    let add = n.run_line(&first.line("instance add")).await;
    assert!(add.status.success(), "{}", text(&add));
    let check = n.run_line(&first.line("check emulator")).await;
    assert!(check.status.success(), "{}", text(&check));
    let run = n.run_line(&first.line("run --once")).await;
    assert!(run.status.success(), "{}", text(&run));
    let before = stdout_events(&run);
    assert!(
        (150..=300).contains(&before.len()),
        "the categorised ones of 300: {}",
        before.len()
    );
    assert!(Path::new(&db).exists());
    first.stop("-INT").await;

    // The same --dir and port, live this time: the instance added above is used as it is.
    let second = n
        .emulator(&[
            "--port", port, "--dir", &dir_arg, "--events", "50", "--days", "1", "--live", "6000",
        ])
        .await;
    let printed = second.printed.join("\n");
    assert!(
        printed.contains("reused from an earlier start"),
        "{printed}"
    );
    assert!(printed.contains("Skip `instance add`"), "{printed}");
    assert_eq!(second.add_option("--key-id"), kid);
    assert_eq!(second.add_option("--domain"), domain);
    assert_eq!(std::fs::read(&key).unwrap(), key_pem, "the key is kept");
    let check = n.run_line(&second.line("check emulator")).await;
    assert!(check.status.success(), "after a restart: {}", text(&check));
    // 100 new events a second: the next run finds some, none of them seen before.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let run = n.run_line(&second.line("run --once")).await;
    assert!(run.status.success(), "{}", text(&run));
    let after = stdout_events(&run);
    assert!(
        !after.is_empty(),
        "live events are delivered: {}",
        text(&run)
    );
    assert!(uuids(&after).is_disjoint(&uuids(&before)));
    second.stop("-TERM").await;
    n.assert_default_state_untouched();
}

/// The defect: `--days 0` printed `--backfill-days 0`, which starts at the moment of the first run and
/// so fetched none of the events generated at start. Now it prints a backfill that covers them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_days_0_the_printed_backfill_still_fetches_the_generated_events() {
    let n = Newcomer::new();
    let dir = n.path("emu").display().to_string();
    let emu = n
        .emulator(&[
            "--port", "0", "--dir", &dir, "--events", "200", "--days", "0",
        ])
        .await;
    assert_eq!(emu.add_option("--backfill-days"), "1");
    let add = n.run_line(&emu.line("instance add")).await;
    assert!(add.status.success(), "{}", text(&add));
    let run = n.run_line(&emu.line("run --once")).await;
    assert!(run.status.success(), "{}", text(&run));
    let got = stdout_events(&run).len();
    assert!(
        (100..=200).contains(&got),
        "the categorised ones of 200: {got}"
    );
    emu.stop("-INT").await;
    n.assert_default_state_untouched();
}

/// A key file in `--dir` that other users can read, or a link there, is not used (nor replaced): the
/// emulator says which file and why.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_in_the_emulator_directory_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let n = Newcomer::new();
    let dir = n.path("emu");
    std::fs::create_dir(&dir).unwrap();
    let key = dir.join("0oa-okta-emulator-client-key.pem");
    std::fs::write(&key, "whatever").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let args: Vec<String> = ["emulator", "--port", "0", "--dir"]
        .iter()
        .map(|s| s.to_string())
        .chain([dir.display().to_string()])
        .collect();
    let out = n.output(&args).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        err.contains(&format!("refusing to use {}", key.display()))
            && err.contains("other users can read or write it (mode 644)")
            && err.contains("chmod 600"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&key).unwrap(), "whatever");

    std::fs::remove_file(&key).unwrap();
    std::os::unix::fs::symlink(n.path("elsewhere.pem"), &key).unwrap();
    let out = n.output(&args).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("symbolic link"),
        "{err}"
    );
    assert!(
        !n.path("elsewhere.pem").exists(),
        "nothing written through the link"
    );
}

/// `demo` ends with what to do next: the emulator on its own, then a real org; and its summary says
/// why the emulator has more events than were delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_ends_with_what_to_do_next() {
    let n = Newcomer::new();
    let out = n
        .output(&["demo".to_string(), "--events".into(), "200".into()])
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.find("okta-ingest demo summary").expect("summary");
    let next = stdout.find("What next").expect("what next");
    assert!(summary < next, "{stdout}");
    assert!(stdout.contains("in no category"), "{stdout}");
    for step in [
        "okta-ingest emulator --dir",
        "API Services",
        "Public key / Private key",
        "DPoP",
        "okta.logs.read",
        "Report Administrator",
        "okta-ingest ui",
        "okta-ingest keygen",
        "okta-ingest instance add",
        "okta-ingest check",
        "okta-ingest run",
    ] {
        assert!(stdout[next..].contains(step), "{step}: {stdout}");
    }
    n.assert_default_state_untouched();
}
