//! Throwaway PostgreSQL clusters on loopback for tests, and a TCP proxy that can play a network
//! partition. A dev-dependency only.
//!
//! [`TestPostgres`] drives the server binaries themselves (`initdb`, `pg_ctl`, `psql`; no PostgreSQL
//! client crate): a fresh cluster in a temporary directory, listening on `127.0.0.1` on a free port,
//! with `fsync=off`, `max_connections=200`, trust authentication and the superuser `postgres`. Its
//! databases are reached at `postgres://postgres@127.0.0.1:PORT/NAME` ([`TestPostgres::url`]).
//!
//! ```no_run
//! use okta_ingest_test_postgres::TestPostgres;
//!
//! let pg = TestPostgres::shared()?; // one cluster for the whole test process
//! let url = pg.fresh_database()?; // postgres://postgres@127.0.0.1:PORT/t_1234_0
//! # let db = url.rsplit('/').next().unwrap_or_default();
//! // ... run the code under test against `url`, then inspect what it wrote:
//! let rows = pg.psql(db, "SELECT count(*) FROM pg_tables")?;
//! # Ok::<(), String>(())
//! ```
//!
//! Finding the binaries: the directory in `OKTA_INGEST_PG_BIN` if set; else the highest-numbered
//! `/usr/lib/postgresql/*/bin` that has `initdb` (Debian's layout); else `pg_config --bindir`; else
//! `initdb` on `PATH`. `initdb` and `postgres` refuse to run as root, so when the tests run as root the
//! binaries run as the `postgres` OS user (which the Debian package creates) and the temporary directory
//! is owned by it.
//!
//! [`BlackholeProxy`] sits between a client and a server on loopback and can silently drop every byte
//! ([`BlackholeProxy::set_blackhole`]) or close every connection ([`BlackholeProxy::cut_all`]).

use std::ffi::CString;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const NOT_FOUND: &str = "PostgreSQL server binaries not found: install them (Debian: apt-get install -y postgresql) or set OKTA_INGEST_PG_BIN";

/// How many times a start is retried on another port when the chosen one was taken meanwhile.
const PORT_ATTEMPTS: usize = 5;

/// How long a stop waits after SIGINT (fast shutdown) before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Environment variables that would make libpq or the server binaries talk to another server, or as
/// another user, than the one the caller asked for.
const PG_ENV: &[&str] = &[
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGOPTIONS",
    "PGSSLMODE",
    "PGREQUIRESSL",
    "PGGSSENCMODE",
    "PGTARGETSESSIONATTRS",
    "PGCONNECT_TIMEOUT",
    "PGCLIENTENCODING",
    "PGDATA",
    "PGTZ",
    "PGDATESTYLE",
    "PSQLRC",
];

/// The watchdog a cluster gets (`sh -c`, in its own process group). It blocks reading its stdin, a pipe
/// whose only writer is the test process: when the test process ends in whatever way (normal exit,
/// panic, SIGKILL) or drops the write end, `read` sees end of file, and the watchdog stops the postmaster
/// (if `postmaster.pid` still names it) and removes the directory. Arguments: `$1` postmaster PID, `$2`
/// the temporary directory, `$3` the `postmaster.pid` file.
const WATCHDOG: &str = r#"trap '' HUP INT
while read -r _; do :; done
pid=$1 dir=$2 pidfile=$3
alive() {
  kill -0 "$pid" 2>/dev/null || return 1
  state=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$pid/stat" 2>/dev/null)
  [ "$state" != Z ]
}
if [ "$(head -n 1 "$pidfile" 2>/dev/null)" = "$pid" ]; then
  kill -INT "$pid" 2>/dev/null
  i=0
  while alive && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  alive && kill -KILL "$pid" 2>/dev/null
fi
rm -rf "$dir"
"#;

/// One throwaway PostgreSQL cluster on `127.0.0.1`.
///
/// Its directory ([`TestPostgres::dir`]) holds the data directory (`data/`), the unix socket directory
/// (`sock/`) and the server log (`server.log`). The server runs with `fsync=off`,
/// `synchronous_commit=off`, `full_page_writes=off` and `max_connections=200`; every loopback
/// connection is trusted; the superuser is `postgres`.
///
/// A cluster from [`TestPostgres::start`] is stopped, and its directory removed, when dropped. The one
/// from [`TestPostgres::shared`] lives until the test process ends. Either way a small watchdog process
/// stops the server and removes the directory once the test process is gone, even after a panic or a
/// SIGKILL, so no server outlives the tests.
#[derive(Debug)]
pub struct TestPostgres {
    root: PathBuf,
    data: PathBuf,
    sock: PathBuf,
    log: PathBuf,
    port: u16,
    pid: u32,
    bins: &'static Bins,
    run_as: Option<RunAs>,
    watchdog: Option<Child>,
    /// Whether the server syncs its commits (benchmarks) or not (tests).
    durable: bool,
}

impl TestPostgres {
    /// Starts a cluster of its own (`initdb`, then `pg_ctl start`; about 1.5 s). It is stopped (by the
    /// postmaster's PID: SIGINT, then SIGKILL after 5 s) and its directory removed when dropped.
    ///
    /// The error says what to install when the binaries are missing, or what failed, with the output
    /// of the failing command and the tail of the server log.
    pub fn start() -> Result<TestPostgres, String> {
        TestPostgres::start_with(false)
    }

    /// A cluster as [`TestPostgres::start`] makes, but as durable as a production server: `fsync`,
    /// `synchronous_commit` and `full_page_writes` on. For benchmarks that compare with a store that
    /// syncs every commit.
    pub fn start_durable() -> Result<TestPostgres, String> {
        TestPostgres::start_with(true)
    }

    fn start_with(durable: bool) -> Result<TestPostgres, String> {
        let bins = bins()?;
        let run_as = run_as()?;
        let root = make_root(run_as)?;
        let mut pg = TestPostgres {
            data: root.join("data"),
            sock: root.join("sock"),
            log: root.join("server.log"),
            root,
            port: 0,
            pid: 0,
            bins,
            run_as,
            watchdog: None,
            durable,
        };
        // From here on, an error drops `pg`, which stops whatever was started and removes the directory.
        pg.initdb()?;
        pg.start_server()?;
        pg.pid = pg.read_pid().ok_or_else(|| {
            format!(
                "the server started but {} names no PID{}",
                pg.data.join("postmaster.pid").display(),
                pg.log_tail_section()
            )
        })?;
        pg.watchdog = Some(pg.spawn_watchdog()?);
        pg.psql("postgres", "SELECT 1")
            .map_err(|e| format!("the server started but does not answer over TCP: {e}"))?;
        Ok(pg)
    }

    /// The cluster shared by every test of this process, started on first use. Later calls return the
    /// same cluster, or the same error. It is never dropped: its watchdog stops it and removes its
    /// directory when the test process ends.
    ///
    /// Tests that share it should each use their own database ([`TestPostgres::fresh_database`]).
    pub fn shared() -> Result<&'static TestPostgres, String> {
        static SHARED: OnceLock<Result<TestPostgres, String>> = OnceLock::new();
        SHARED
            .get_or_init(TestPostgres::start)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The TCP port the server listens on, on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PID of the postmaster (the first line of `postmaster.pid`).
    pub fn postmaster_pid(&self) -> u32 {
        self.pid
    }

    /// The temporary directory of this cluster: `data/` (the data directory), `sock/` (the unix
    /// socket directory) and `server.log`. Removed when the cluster stops.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// The URL of database `db`: `postgres://postgres@127.0.0.1:PORT/DB`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `name` (only `[a-z0-9_]`, 1 to 63 characters), dropping it first if it exists
    /// (disconnecting its sessions), and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, String> {
        validate_db_name(name)?;
        self.psql(
            "postgres",
            &format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE);\nCREATE DATABASE \"{name}\";\n"
            ),
        )?;
        Ok(self.url(name))
    }

    /// Creates a database with a name unique to this process (`t_<pid>_<counter>`) and returns its URL.
    pub fn fresh_database(&self) -> Result<String, String> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        self.create_database(&format!("t_{}_{n}", std::process::id()))
    }

    /// Runs `sql` (one or more statements) in database `db` with
    /// `psql -X -A -t -q -v ON_ERROR_STOP=1`, and returns its standard output, trimmed: the rows of
    /// every result, one per line, columns separated by `|`, without headers or command tags. The first
    /// failing statement stops the script and makes this an error carrying psql's message.
    ///
    /// Each statement runs in its own transaction unless the script says `BEGIN`, so statements such as
    /// `CREATE DATABASE` work.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let mut cmd = self.psql_command(self.port, db);
        cmd.args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("could not run {}: {e}", self.bins.psql.display()))?;
        let stdin = child.stdin.take();
        // Written from another thread: psql may fill its output pipe before it has read all the input.
        let output = thread::scope(|s| {
            s.spawn(move || {
                if let Some(mut stdin) = stdin {
                    // psql exiting early (an error) closes the pipe: its exit status says why.
                    let _ = stdin.write_all(sql.as_bytes());
                }
            });
            child.wait_with_output()
        })
        .map_err(|e| format!("could not wait for psql: {e}"))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let log = if stderr.contains("connect") {
                self.log_tail_section()
            } else {
                String::new()
            };
            return Err(format!(
                "psql on database {db:?} (127.0.0.1:{}) failed ({}): {}\n--- SQL ---\n{}{log}",
                self.port,
                describe(output.status),
                stderr.trim(),
                snippet(sql),
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    /// A `psql` command connected to database `db` on `127.0.0.1:port` as `postgres`, with
    /// `-X -A -t -q -v ON_ERROR_STOP=1` and `PGCONNECT_TIMEOUT=30`, running as the user the server runs
    /// as, with the `PG*` environment cleared. Add `-c SQL` (or feed `-f -`) and spawn it.
    ///
    /// `port` is usually [`TestPostgres::port`]; another one reaches the server through a proxy such as
    /// [`BlackholeProxy`]. Set `PGCONNECT_TIMEOUT` again to change the connection timeout (libpq
    /// rounds values below 2 s up to 2 s), or put a timeout on the child.
    pub fn psql_command(&self, port: u16, db: &str) -> Command {
        let mut cmd = self.command(&self.bins.psql);
        cmd.args([
            "-X",
            "-A",
            "-t",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
        ])
        .arg(port.to_string())
        .args(["-U", "postgres", "-d", db])
        .env("PGCONNECT_TIMEOUT", "30");
        cmd
    }

    /// A command for one of the PostgreSQL binaries: the `PG*` environment cleared, working directory
    /// the cluster's directory, and, as root, running as the `postgres` user.
    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        for var in PG_ENV {
            cmd.env_remove(var);
        }
        cmd.current_dir(&self.root).stdin(Stdio::null());
        if let Some(user) = self.run_as {
            // std drops the supplementary groups (setgroups) before setuid when root.
            cmd.uid(user.uid).gid(user.gid).env("HOME", &self.root);
        }
        cmd
    }

    fn initdb(&self) -> Result<(), String> {
        let mut failures = Vec::new();
        // C.UTF-8 where the system has it (glibc 2.35+, Debian), plain C otherwise.
        for locale in ["C.UTF-8", "C"] {
            let output = self
                .command(&self.bins.initdb)
                .arg("-D")
                .arg(&self.data)
                .args(["--no-sync", "-A", "trust", "-U", "postgres", "-E", "UTF8"])
                .arg(format!("--locale={locale}"))
                .output()
                .map_err(|e| format!("could not run {}: {e}", self.bins.initdb.display()))?;
            if output.status.success() {
                return Ok(());
            }
            failures.push(format!(
                "--locale={locale} ({}): {}{}",
                describe(output.status),
                String::from_utf8_lossy(&output.stdout).trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
            let _ = fs::remove_dir_all(&self.data);
        }
        let hint = if self.run_as.is_some() {
            format!(
                "\n(as root, initdb runs as the `postgres` user, which must be able to reach {})",
                self.root.display()
            )
        } else {
            String::new()
        };
        Err(format!(
            "initdb {} failed:\n{}{hint}",
            self.data.display(),
            failures.join("\n")
        ))
    }

    fn start_server(&mut self) -> Result<(), String> {
        for attempt in 1..=PORT_ATTEMPTS {
            let port = free_port()?;
            let log_before = fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
            let durability = if self.durable {
                "-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
            } else {
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            };
            let options = format!(
                "-c listen_addresses=127.0.0.1 -p {port} -k {} {durability} -c max_connections=200",
                shell_quote(&self.sock.to_string_lossy())
            );
            let output = self
                .command(&self.bins.pg_ctl)
                .arg("-D")
                .arg(&self.data)
                .arg("-l")
                .arg(&self.log)
                .args(["-w", "-t", "30", "start", "-o"])
                .arg(options)
                .output()
                .map_err(|e| format!("could not run {}: {e}", self.bins.pg_ctl.display()))?;
            if output.status.success() {
                self.port = port;
                return Ok(());
            }
            let log = read_from(&self.log, log_before);
            if log.contains("Address already in use") && attempt < PORT_ATTEMPTS {
                continue;
            }
            return Err(format!(
                "pg_ctl start (port {port}) failed ({}): {}{}{}",
                describe(output.status),
                String::from_utf8_lossy(&output.stdout).trim(),
                String::from_utf8_lossy(&output.stderr).trim(),
                self.log_tail_section()
            ));
        }
        Err(format!(
            "pg_ctl start failed {PORT_ATTEMPTS} times: every port chosen was taken meanwhile"
        ))
    }

    /// The postmaster's PID: the first line of `postmaster.pid`, while it exists.
    fn read_pid(&self) -> Option<u32> {
        let text = fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        text.lines()
            .next()?
            .trim()
            .parse()
            .ok()
            .filter(|&pid| pid > 0)
    }

    fn spawn_watchdog(&self) -> Result<Child, String> {
        Command::new("/bin/sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("okta-ingest-pg-watchdog")
            .arg(self.pid.to_string())
            .arg(&self.root)
            .arg(self.data.join("postmaster.pid"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Out of the test's process group: a Ctrl-C of the tests does not stop the cleanup.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("could not start the watchdog (/bin/sh): {e}"))
    }

    /// Stops the server by the postmaster's PID: SIGINT (fast shutdown), up to 5 s, then SIGKILL.
    fn stop(&self) {
        let Some(pid) = self.read_pid() else {
            return; // never started, or already exited (the postmaster removes the file)
        };
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return;
        };
        signal(pid, libc::SIGINT);
        let deadline = Instant::now() + STOP_GRACE;
        while process_alive(pid) {
            if Instant::now() >= deadline {
                signal(pid, libc::SIGKILL);
                let deadline = Instant::now() + Duration::from_secs(2);
                while process_alive(pid) && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(10));
                }
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn log_tail_section(&self) -> String {
        format!(
            "\n--- last lines of {} ---\n{}",
            self.log.display(),
            log_tail(&self.log, 30)
        )
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.root);
        if let Some(mut watchdog) = self.watchdog.take() {
            // End of file on its stdin: it finds nothing left to do and exits.
            drop(watchdog.stdin.take());
            let _ = watchdog.wait();
        }
    }
}

/// The PostgreSQL programs this crate runs.
#[derive(Debug)]
struct Bins {
    initdb: PathBuf,
    pg_ctl: PathBuf,
    psql: PathBuf,
}

fn bins() -> Result<&'static Bins, String> {
    static BINS: OnceLock<Result<Bins, String>> = OnceLock::new();
    BINS.get_or_init(find_bins).as_ref().map_err(Clone::clone)
}

fn find_bins() -> Result<Bins, String> {
    let dir = find_bindir()?;
    let pg_ctl = dir.join("pg_ctl");
    if !is_executable(&pg_ctl) {
        return Err(format!(
            "{} has initdb but no pg_ctl: install the PostgreSQL server (Debian: apt-get install -y postgresql) or set OKTA_INGEST_PG_BIN",
            dir.display()
        ));
    }
    let psql = Some(dir.join("psql"))
        .filter(|p| is_executable(p))
        .or_else(|| which("psql"))
        .ok_or_else(|| {
            format!(
                "psql not found in {} nor on PATH: install it (Debian: apt-get install -y postgresql-client)",
                dir.display()
            )
        })?;
    Ok(Bins {
        initdb: dir.join("initdb"),
        pg_ctl,
        psql,
    })
}

fn find_bindir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("OKTA_INGEST_PG_BIN").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        if is_executable(&dir.join("initdb")) {
            return Ok(dir);
        }
        return Err(format!(
            "OKTA_INGEST_PG_BIN={} has no initdb: set it to a PostgreSQL bindir (such as /usr/lib/postgresql/15/bin)",
            dir.display()
        ));
    }
    if let Some(dir) = debian_bindir(Path::new("/usr/lib/postgresql")) {
        return Ok(dir);
    }
    if let Ok(output) = Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if output.status.success() && is_executable(&dir.join("initdb")) {
            return Ok(dir);
        }
    }
    if let Some(dir) = which("initdb").and_then(|p| p.parent().map(Path::to_path_buf)) {
        return Ok(dir);
    }
    Err(NOT_FOUND.to_string())
}

/// The highest-numbered `VERSION/bin` under `base` (Debian: `/usr/lib/postgresql/15/bin`) with `initdb`.
fn debian_bindir(base: &Path) -> Option<PathBuf> {
    let mut best: Option<(Vec<u32>, PathBuf)> = None;
    for entry in fs::read_dir(base).ok()?.flatten() {
        let Some(version) = entry.file_name().to_str().and_then(parse_version) else {
            continue;
        };
        let bin = entry.path().join("bin");
        if is_executable(&bin.join("initdb"))
            && best.as_ref().is_none_or(|(best, _)| version > *best)
        {
            best = Some((version, bin));
        }
    }
    best.map(|(_, bin)| bin)
}

/// `"15"` is `[15]`, `"9.6"` is `[9, 6]`; anything else is not a version.
fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The user the PostgreSQL binaries run as when the tests run as root.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

/// `None` when not root (the binaries run as the current user); the `postgres` user when root.
fn run_as() -> Result<Option<RunAs>, String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    lookup_user("postgres").map(Some).ok_or_else(|| {
        "running as root, and initdb and postgres refuse to run as root, so they run as the `postgres` OS \
         user, which does not exist: install the PostgreSQL server (Debian: apt-get install -y postgresql, \
         which creates it), create the user (useradd --system postgres), or run the tests as another user"
            .to_string()
    })
}

fn lookup_user(name: &str) -> Option<RunAs> {
    let name = CString::new(name).ok()?;
    let mut buf: Vec<libc::c_char> = vec![0; 1 << 16];
    // SAFETY: `passwd` is a plain C struct (integers and pointers); all zeroes is a valid value for an
    // out-parameter.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call, and `buf.len()` is the size of `buf`.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    Some(RunAs {
        uid: pwd.pw_uid,
        gid: pwd.pw_gid,
    })
}

/// A fresh directory under the system's temporary directory, mode 0700, owned by `run_as` if given,
/// with an empty `sock/` in it.
fn make_root(run_as: Option<RunAs>) -> Result<PathBuf, String> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir();
    let root = loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = base.join(format!(
            "okta-ingest-pg-{}-{n}-{nanos:x}",
            std::process::id()
        ));
        match fs::create_dir(&dir) {
            Ok(()) => break dir,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(format!(
                    "could not create a temporary directory {}: {e}",
                    dir.display()
                ))
            }
        }
    };
    let sock = root.join("sock");
    let prepared = (|| {
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700))?;
        fs::create_dir(&sock)?;
        fs::set_permissions(&sock, fs::Permissions::from_mode(0o700))?;
        if let Some(user) = run_as {
            std::os::unix::fs::chown(&root, Some(user.uid), Some(user.gid))?;
            std::os::unix::fs::chown(&sock, Some(user.uid), Some(user.gid))?;
        }
        Ok::<(), io::Error>(())
    })();
    if let Err(e) = prepared {
        let _ = fs::remove_dir_all(&root);
        return Err(format!(
            "could not prepare the temporary directory {}: {e}",
            root.display()
        ));
    }
    // sun_path holds 108 bytes with the terminating NUL; the server adds "/.s.PGSQL.PORT".
    let socket_len = sock.as_os_str().len() + "/.s.PGSQL.65535".len();
    if socket_len > 107 {
        let _ = fs::remove_dir_all(&root);
        return Err(format!(
            "the temporary directory {} is too long for a unix socket path: set TMPDIR to a shorter one",
            base.display()
        ));
    }
    Ok(root)
}

/// A free TCP port on 127.0.0.1 (bound to port 0, then released).
fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("could not find a free port on 127.0.0.1: {e}"))
}

fn validate_db_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid database name {name:?}: use 1 to 63 characters of [a-z0-9_]"
        ))
    }
}

/// Single-quotes `s` for the shell that `pg_ctl` starts the server with.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn signal(pid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions; a stale PID only makes it fail.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Whether `pid` is a running process: it exists and is not a zombie (where PID 1 does not reap
/// orphans, an exited postmaster stays a zombie).
fn process_alive(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let exists = unsafe { libc::kill(pid, 0) } == 0
        || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    if !exists {
        return false;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .is_none_or(|state| state != 'Z'),
        Err(_) => true,
    }
}

fn describe(status: ExitStatus) -> String {
    status.to_string()
}

fn read_from(path: &Path, offset: u64) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    let start = usize::try_from(offset).unwrap_or(0).min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

fn log_tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(could not read it: {e})"),
    }
}

fn snippet(sql: &str) -> String {
    const MAX: usize = 2000;
    if sql.len() <= MAX {
        return sql.trim_end().to_string();
    }
    let mut end = MAX;
    while !sql.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} [...]", &sql[..end])
}

/// A TCP proxy on `127.0.0.1` that can play a network partition, for tests of what a client does when
/// its server stops answering. Plain threads, no async runtime.
///
/// Each connection to [`BlackholeProxy::port`] is forwarded, both ways, to `127.0.0.1:target_port`
/// (a connection the target refuses is closed).
///
/// - [`BlackholeProxy::set_blackhole`]`(true)`: bytes in both directions on existing connections are
///   read and silently discarded, and so are closes: nothing is forwarded and no connection is closed,
///   as when a network drops every packet. New connections are accepted but never forwarded (no
///   connection to the target is made), even after the blackhole is turned off.
/// - [`BlackholeProxy::set_blackhole`]`(false)`: new connections are forwarded again. An existing
///   connection that lost bytes to the blackhole stays broken: it keeps discarding (its stream has a
///   gap, which real TCP would never show), until either side closes it or [`BlackholeProxy::cut_all`].
///   An existing connection that carried nothing while the blackhole was on is forwarded again, like a
///   TCP connection across a healed partition.
/// - [`BlackholeProxy::cut_all`]: closes every current connection, both sides.
///
/// Dropping the proxy stops the listener, closes every connection and joins the threads.
#[derive(Debug)]
pub struct BlackholeProxy {
    port: u16,
    shared: Arc<ProxyShared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct ProxyShared {
    target_port: u16,
    blackhole: AtomicBool,
    stopping: AtomicBool,
    next_id: AtomicU64,
    /// Every open connection: its id and its sockets (clones, to shut them down).
    conns: Mutex<Vec<(u64, Vec<TcpStream>)>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Conn {
    id: u64,
    /// Set once the connection lost bytes to the blackhole: it never forwards again.
    broken: AtomicBool,
    /// Pump threads still running; the last one out unregisters the connection.
    pumps: AtomicUsize,
}

impl BlackholeProxy {
    /// Listens on `127.0.0.1` on a free port and forwards each connection to `127.0.0.1:target_port`.
    pub fn start(target_port: u16) -> Result<BlackholeProxy, String> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| format!("proxy: could not listen on 127.0.0.1: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("proxy: could not read its address: {e}"))?
            .port();
        // Polled, so that Drop can stop it without a connection to wake it.
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("proxy: could not make the listener non-blocking: {e}"))?;
        let shared = Arc::new(ProxyShared {
            target_port,
            blackhole: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            conns: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("blackhole-proxy-{port}"))
                .spawn(move || accept_loop(&listener, &shared))
                .map_err(|e| format!("proxy: could not start its thread: {e}"))?
        };
        Ok(BlackholeProxy {
            port,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The port the proxy listens on, on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Turns the blackhole on (drop every byte, forward nothing, close nothing) or off (forward new
    /// connections again; see the type's documentation for existing ones).
    pub fn set_blackhole(&self, on: bool) {
        self.shared.blackhole.store(on, Ordering::SeqCst);
    }

    /// Closes every current connection, on both sides (the client and the target see the connection
    /// end).
    pub fn cut_all(&self) {
        self.shared.cut_all();
    }
}

impl Drop for BlackholeProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        self.shared.cut_all();
        let threads = std::mem::take(&mut *lock(&self.shared.threads));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

impl ProxyShared {
    fn cut_all(&self) {
        for (_, streams) in lock(&self.conns).iter() {
            for stream in streams {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }

    fn blackholed(&self) -> bool {
        self.blackhole.load(Ordering::SeqCst)
    }

    fn spawn(self: &Arc<Self>, f: impl FnOnce() + Send + 'static) {
        let mut threads = lock(&self.threads);
        threads.retain(|t| !t.is_finished());
        if let Ok(handle) = thread::Builder::new()
            .name("blackhole-proxy-pump".into())
            .spawn(f)
        {
            threads.push(handle);
        }
    }

    /// Registers a connection and starts a pump for each `(from, to)` pair.
    fn open(self: &Arc<Self>, pumps: Vec<(TcpStream, Option<TcpStream>)>, broken: bool) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            id,
            broken: AtomicBool::new(broken),
            pumps: AtomicUsize::new(pumps.len()),
        });
        let mut clones = Vec::new();
        for (from, _) in &pumps {
            match from.try_clone() {
                Ok(clone) => clones.push(clone),
                Err(_) => {
                    // Cannot be cut later: refuse the connection rather than leak it.
                    for (from, _) in &pumps {
                        let _ = from.shutdown(Shutdown::Both);
                    }
                    return;
                }
            }
        }
        lock(&self.conns).push((id, clones));
        for (from, to) in pumps {
            let shared = Arc::clone(self);
            let conn = Arc::clone(&conn);
            self.spawn(move || pump(&shared, &conn, from, to));
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<ProxyShared>) {
    while !shared.stopping.load(Ordering::SeqCst) {
        let client = match listener.accept() {
            Ok((client, _)) => client,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(_) => {
                thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        if client.set_nonblocking(false).is_err() {
            continue;
        }
        let _ = client.set_nodelay(true);
        if shared.blackholed() {
            shared.open(vec![(client, None)], true);
            continue;
        }
        let target = SocketAddr::from((Ipv4Addr::LOCALHOST, shared.target_port));
        let Ok(upstream) = TcpStream::connect_timeout(&target, Duration::from_secs(5)) else {
            continue; // dropping `client` closes it, as the refusal would have
        };
        let _ = upstream.set_nodelay(true);
        let (Ok(client2), Ok(upstream2)) = (client.try_clone(), upstream.try_clone()) else {
            continue;
        };
        shared.open(
            vec![(client, Some(upstream)), (upstream2, Some(client2))],
            false,
        );
    }
}

/// Copies `from` to `to` until `from` ends, discarding while the blackhole is on (and for good once a
/// byte was discarded).
fn pump(shared: &ProxyShared, conn: &Conn, mut from: TcpStream, mut to: Option<TcpStream>) {
    let mut buf = vec![0u8; 64 * 1024];
    let ended_cleanly = loop {
        match from.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => {
                if shared.blackholed() {
                    conn.broken.store(true, Ordering::SeqCst);
                }
                if conn.broken.load(Ordering::SeqCst) {
                    continue;
                }
                if let Some(to) = to.as_mut() {
                    if to.write_all(&buf[..n]).is_err() {
                        let _ = from.shutdown(Shutdown::Both);
                        break false;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break false,
        }
    };
    // A close crosses only while the blackhole is off.
    if !shared.blackholed() {
        if let Some(to) = &to {
            let _ = to.shutdown(if ended_cleanly {
                Shutdown::Write
            } else {
                Shutdown::Both
            });
        }
    }
    if conn.pumps.fetch_sub(1, Ordering::SeqCst) == 1 {
        lock(&shared.conns).retain(|(id, _)| *id != conn.id);
    }
}

/// Locks `m`, also after a panic in another holder (the data stay consistent: lists of handles).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_versions_order_numerically() {
        assert_eq!(parse_version("15"), Some(vec![15]));
        assert_eq!(parse_version("9.6"), Some(vec![9, 6]));
        assert_eq!(parse_version("main"), None);
        assert!(parse_version("16") > parse_version("9.6"));
    }

    #[test]
    fn test_database_names_are_validated() {
        assert!(validate_db_name("t_123_0").is_ok());
        assert!(validate_db_name(&"a".repeat(63)).is_ok());
        for bad in ["", "Upper", "a-b", "a\"b", "a;b", &"a".repeat(64)] {
            assert!(validate_db_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn test_shell_quote() {
        assert_eq!(shell_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn test_debian_bindir_picks_the_highest_version_with_initdb() {
        let base = std::env::temp_dir().join(format!("okta-pg-bindir-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        for (version, with_initdb) in [("9.6", true), ("13", true), ("16", false), ("main", true)] {
            let bin = base.join(version).join("bin");
            fs::create_dir_all(&bin).unwrap();
            if with_initdb {
                let initdb = bin.join("initdb");
                fs::write(&initdb, "").unwrap();
                fs::set_permissions(&initdb, fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
        let found = debian_bindir(&base);
        let _ = fs::remove_dir_all(&base);
        assert_eq!(found, Some(base.join("13").join("bin")));
    }

    #[test]
    fn test_process_alive() {
        assert!(process_alive(
            libc::pid_t::try_from(std::process::id()).unwrap()
        ));
        let mut child = Command::new("true").spawn().unwrap();
        let pid = libc::pid_t::try_from(child.id()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        // Exited but not reaped yet: a zombie, which is not alive.
        while process_alive(pid) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert!(!process_alive(pid));
        child.wait().unwrap();
    }
}
