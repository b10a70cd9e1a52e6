//! Shared fixture: an emulator with a registered client, a temp dir with key and CA files, and helpers to
//! run the binary and read the file sink.

use okta_emulator::{
    generate_client_key_pair, ClientKeyPair, ClientRegistration, CommittedEvent, Emulator,
    EmulatorConfig,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

pub const BIN: &str = env!("CARGO_BIN_EXE_okta-ingest");

/// A loopback port nothing listens on (at the time of asking).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Test-speed pacing: short back-offs so fault tests take seconds, not minutes.
pub const FAST: &[&str] = &[
    "--retry-base",
    "50ms",
    "--max-wait",
    "30s",
    "--request-timeout",
    "5s",
];

pub struct Fixture {
    pub emulator: Emulator,
    pub dir: tempfile::TempDir,
    pub client: ClientKeyPair,
    /// `--db`: the SQLite file in `dir`, or a fresh PostgreSQL database (fleet mode).
    db: String,
}

/// Which state backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the fixture's directory.
    Sqlite,
    /// A fresh database on this test process's throwaway PostgreSQL cluster.
    Postgres,
}

/// A fresh database on the test process's throwaway PostgreSQL cluster.
pub fn postgres_database() -> String {
    okta_ingest_test_postgres::TestPostgres::shared()
        .and_then(|pg| pg.fresh_database())
        .unwrap_or_else(|e| panic!("a throwaway PostgreSQL is needed: {e}"))
}

impl Fixture {
    pub async fn new(config: EmulatorConfig) -> Fixture {
        Fixture::on(Backend::Sqlite, config).await
    }

    /// An emulator as [`Fixture::new`], with the state on `backend`.
    pub async fn on(backend: Backend, config: EmulatorConfig) -> Fixture {
        let emulator = Emulator::start(config).await.expect("emulator starts");
        let client = generate_client_key_pair("0oa-e2e-client").expect("key pair");
        emulator.register_client(ClientRegistration::logs_reader(
            &client.client_id,
            &client.public_key_pem,
        ));
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("key.pem"), &client.private_key_pem).unwrap();
        std::fs::write(dir.path().join("ca.pem"), emulator.ca_pem()).unwrap();
        let db = match backend {
            Backend::Sqlite => dir.path().join("state.db").display().to_string(),
            Backend::Postgres => postgres_database(),
        };
        Fixture {
            emulator,
            dir,
            client,
            db,
        }
    }

    /// An emulator with `events` spread over 13 days (none on the edge of a 14-day window) and an
    /// instance "org" selecting every category with a 14-day backfill.
    pub async fn with_org(events: usize) -> Fixture {
        Fixture::with_org_on(Backend::Sqlite, events).await
    }

    /// [`Fixture::with_org`] with the state on `backend`.
    pub async fn with_org_on(backend: Backend, events: usize) -> Fixture {
        let fx = Fixture::on(
            backend,
            EmulatorConfig {
                events,
                days: 13,
                ..EmulatorConfig::default()
            },
        )
        .await;
        fx.add_org().await;
        fx
    }

    /// `instance add org` selecting every category with a 14-day backfill.
    pub async fn add_org(&self) {
        self.add_org_with(&[]).await;
    }

    /// [`Fixture::add_org`] with `extra` options.
    pub async fn add_org_with(&self, extra: &[&str]) {
        let mut args = vec![
            "--backfill-days",
            "14",
            "--events",
            "authentication,security,itp,lifecycle",
        ];
        args.extend_from_slice(extra);
        self.add_instance("org", &args).await;
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn db(&self) -> String {
        self.db.clone()
    }

    /// The environment every command of this fixture gets: on PostgreSQL, a short lease time, so a
    /// killed process's shards move in seconds (the default is 15 s).
    pub fn env(&self) -> Vec<(&'static str, &'static str)> {
        if self.db.starts_with("postgres://") {
            vec![("OKTA_INGEST_LEASE_TTL", "3s")]
        } else {
            Vec::new()
        }
    }

    /// Runs the binary with `--db` and `args`.
    pub async fn cli(&self, args: &[&str]) -> Output {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.arg("--db")
            .arg(self.db())
            .args(args)
            .envs(self.env())
            .env_remove("RUST_LOG");
        cmd.output().await.expect("binary runs")
    }

    /// `instance add NAME` for this emulator with `extra` options.
    pub async fn add_instance(&self, name: &str, extra: &[&str]) {
        self.add_instance_as(name, &self.client.client_id, extra)
            .await
    }

    /// `instance add NAME` for this emulator with another client id (its key is still the fixture's).
    pub async fn add_instance_as(&self, name: &str, client_id: &str, extra: &[&str]) {
        let out = self.try_add_instance_as(name, client_id, extra).await;
        assert!(out.status.success(), "instance add failed: {}", text(&out));
    }

    /// [`Fixture::add_instance_as`], returning what the command did instead of asserting it worked.
    pub async fn try_add_instance_as(&self, name: &str, client_id: &str, extra: &[&str]) -> Output {
        let key = self.path("key.pem").display().to_string();
        let ca = self.path("ca.pem").display().to_string();
        let domain = self.emulator.domain();
        let mut args = vec![
            "instance",
            "add",
            name,
            "--domain",
            &domain,
            "--client-id",
            client_id,
            "--private-key",
            &key,
            "--ca-file",
            &ca,
        ];
        args.extend_from_slice(extra);
        self.cli(&args).await
    }

    /// `run --once --sink file:out` with fast pacing.
    pub async fn run_once(&self, out: &Path) -> Output {
        let sink = format!("file:{}", out.display());
        let mut args = vec!["run", "--once", "--sink", &sink];
        args.extend_from_slice(FAST);
        self.cli(&args).await
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The lines of a file sink (empty if it does not exist).
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// The event categories, read from the spec file independently of the connector's own code.
pub struct CategorySpec {
    cats: HashMap<String, (Vec<String>, Vec<String>)>,
}

impl CategorySpec {
    pub fn load() -> CategorySpec {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec/okta/event-categories.json");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut cats = HashMap::new();
        for (name, c) in v["categories"].as_object().unwrap() {
            let list = |k: &str| {
                c[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect()
            };
            cats.insert(name.clone(), (list("exact"), list("prefixes")));
        }
        CategorySpec { cats }
    }

    pub fn selected(&self, selection: &[&str], event_type: &str) -> bool {
        selection.iter().any(|s| {
            let (exact, prefixes) = &self.cats[*s];
            exact.iter().any(|e| e == event_type)
                || prefixes.iter().any(|p| event_type.starts_with(p.as_str()))
        })
    }

    /// The raw JSON of every committed event in `selection`, in commit order.
    pub fn expected(&self, events: &[CommittedEvent], selection: &[&str]) -> Vec<String> {
        events
            .iter()
            .filter(|e| self.selected(selection, &e.event_type))
            .map(|e| e.raw.clone())
            .collect()
    }
}

/// Asserts the sink holds exactly `expected` (as a multiset: each once), verbatim.
pub fn assert_exactly(got: &[String], expected: &[String]) {
    let mut g: Vec<&String> = got.iter().collect();
    let mut e: Vec<&String> = expected.iter().collect();
    g.sort();
    e.sort();
    let dup = g.windows(2).find(|w| w[0] == w[1]);
    assert!(
        dup.is_none(),
        "an event was delivered twice: {:?}",
        dup.map(|w| &w[0][..w[0].len().min(200)])
    );
    assert_eq!(
        g.len(),
        e.len(),
        "delivered {} events, expected {}",
        g.len(),
        e.len()
    );
    assert!(
        g == e,
        "delivered events differ from the expected ones (first mismatch: {:?})",
        g.iter()
            .zip(&e)
            .find(|(a, b)| a != b)
            .map(|(a, _)| &a[..a.len().min(200)])
    );
}

/// A running `okta-ingest` (a daemon, or any command) with its stderr going to a file in the fixture's
/// directory.
pub struct Running {
    pub child: tokio::process::Child,
    log: PathBuf,
}

impl Running {
    /// Starts the binary with `--db` and `args`; stderr goes to `log_name`.
    pub fn start(fx: &Fixture, args: &[&str], log_name: &str) -> Running {
        Running::start_with_env(fx, args, log_name, &[])
    }

    /// [`Running::start`] with extra environment variables.
    pub fn start_with_env(
        fx: &Fixture,
        args: &[&str],
        log_name: &str,
        env: &[(&str, &str)],
    ) -> Running {
        let log = fx.path(log_name);
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.arg("--db")
            .arg(fx.db())
            .args(args)
            .envs(fx.env())
            .envs(env.iter().copied())
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::from(file))
            .kill_on_drop(true);
        Running {
            child: cmd.spawn().expect("binary starts"),
            log,
        }
    }

    /// Its stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (up to 60 s) until `ready` holds for the log so far.
    pub async fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !ready(&self.log()) {
            assert!(
                std::time::Instant::now() < deadline,
                "never saw {what}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Sends `sig` (kill(2)).
    pub fn signal(&self, sig: i32) {
        let pid = self.child.id().expect("still running") as i32;
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }

    /// Waits for the exit, failing the test (`what`) after `limit`.
    pub async fn exit_within(
        &mut self,
        limit: std::time::Duration,
        what: &str,
    ) -> std::process::ExitStatus {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{what}: still running after {limit:?}; log:\n{}",
                    self.log()
                )
            })
            .expect("wait")
    }
}
