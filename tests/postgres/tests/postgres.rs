//! These tests start real PostgreSQL clusters (the server binaries must be installed; see the crate
//! documentation).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use okta_ingest_test_postgres::{BlackholeProxy, TestPostgres};

/// Whether `pid` is a running process (a zombie is not: here PID 1 may not reap the orphaned
/// postmaster).
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            !stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'))
        })
        .unwrap_or(true)
}

fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
    true
}

#[test]
fn test_start_create_database_and_round_trip() {
    let started = Instant::now();
    let pg = TestPostgres::start().unwrap_or_else(|e| panic!("{e}"));
    eprintln!("TestPostgres::start took {:?}", started.elapsed());
    assert_ne!(pg.port(), 0);
    assert!(alive(pg.postmaster_pid()));

    let url = pg.create_database("round_trip").unwrap();
    assert_eq!(
        url,
        format!("postgres://postgres@127.0.0.1:{}/round_trip", pg.port())
    );
    assert_eq!(url, pg.url("round_trip"));
    pg.psql(
        "round_trip",
        "CREATE TABLE t (id int PRIMARY KEY, name text);\n\
         INSERT INTO t VALUES (1, 'one'), (2, 'two');",
    )
    .unwrap();
    assert_eq!(
        pg.psql("round_trip", "SELECT id, name FROM t ORDER BY id")
            .unwrap(),
        "1|one\n2|two"
    );
    assert_eq!(pg.psql("round_trip", "SHOW fsync").unwrap(), "off");
    assert_eq!(
        pg.psql("round_trip", "SHOW max_connections").unwrap(),
        "200"
    );
    assert_eq!(
        pg.psql("round_trip", "SELECT current_user").unwrap(),
        "postgres"
    );
    assert_eq!(
        pg.psql("round_trip", "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()")
            .unwrap(),
        "UTF8"
    );

    // An SQL error is an error, with psql's message.
    let err = pg.psql("round_trip", "SELECT * FROM missing").unwrap_err();
    assert!(err.contains("missing"), "{err}");

    // Creating it again starts it afresh, even while a session is connected to it.
    let mut session = pg
        .psql_command(pg.port(), "round_trip")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut session_stdin = session.stdin.take().unwrap();
    session_stdin.write_all(b"SELECT 1;\n").unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        pg.psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE datname = 'round_trip'",
        )
        .is_ok_and(|n| n == "1")
    }));
    pg.create_database("round_trip").unwrap();
    let err = pg.psql("round_trip", "SELECT * FROM t").unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
    drop(session_stdin);
    session.wait().unwrap();

    assert!(pg
        .create_database("Bad-Name")
        .unwrap_err()
        .contains("[a-z0-9_]"));
    let a = pg.fresh_database().unwrap();
    let b = pg.fresh_database().unwrap();
    assert_ne!(a, b);
    let b_name = b.rsplit('/').next().unwrap();
    assert_eq!(
        pg.psql(b_name, "SELECT current_database()").unwrap(),
        b_name
    );
}

#[test]
fn test_shared_is_one_cluster() {
    let first = TestPostgres::shared().unwrap_or_else(|e| panic!("{e}"));
    let second = TestPostgres::shared().unwrap();
    assert!(std::ptr::eq(first, second));
    assert_eq!(first.port(), second.port());
    assert_eq!(first.postmaster_pid(), second.postmaster_pid());
    let url = first.fresh_database().unwrap();
    assert!(url.starts_with(&format!(
        "postgres://postgres@127.0.0.1:{}/t_",
        first.port()
    )));
}

#[test]
fn test_drop_stops_the_server_and_removes_its_directory() {
    let pg = TestPostgres::start().unwrap_or_else(|e| panic!("{e}"));
    let pid = pg.postmaster_pid();
    let dir = pg.dir().to_path_buf();
    assert!(alive(pid));
    assert!(dir.join("data/postmaster.pid").exists());
    let stopping = Instant::now();
    drop(pg);
    eprintln!("TestPostgres::drop took {:?}", stopping.elapsed());
    assert!(!alive(pid), "postmaster {pid} still running");
    assert!(!dir.exists(), "{} still exists", dir.display());
}

/// The child half of `test_watchdog_cleans_up_after_a_killed_test_process`: does nothing unless that
/// test runs it.
#[test]
fn watchdog_child() {
    if std::env::var_os("OKTA_INGEST_PG_WATCHDOG_CHILD").is_none() {
        return;
    }
    let pg = TestPostgres::shared().unwrap_or_else(|e| panic!("{e}"));
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "CLUSTER {} {}",
        pg.postmaster_pid(),
        pg.dir().display()
    )
    .unwrap();
    out.flush().unwrap();
    drop(out);
    thread::sleep(Duration::from_secs(60));
}

#[test]
fn test_watchdog_cleans_up_after_a_killed_test_process() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "watchdog_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OKTA_INGEST_PG_WATCHDOG_CHILD", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The line follows libtest's "test watchdog_child ... " on the same line.
    let line = lines
        .find_map(|l| {
            l.ok()
                .and_then(|l| Some(l.split_once("CLUSTER ")?.1.to_string()))
        })
        .expect("the child printed its cluster");
    let mut fields = line.split(' ');
    let pid: u32 = fields.next().unwrap().parse().unwrap();
    let dir = PathBuf::from(fields.next().unwrap());
    assert!(alive(pid));
    assert!(dir.exists());

    child.kill().unwrap(); // SIGKILL: no destructor, no exit handler runs
    child.wait().unwrap();
    let killed = Instant::now();
    assert!(
        wait_until(Duration::from_secs(10), || !alive(pid) && !dir.exists()),
        "after the test process was killed: postmaster {pid} alive: {}, {} exists: {}",
        alive(pid),
        dir.display(),
        dir.exists()
    );
    eprintln!(
        "the watchdog cleaned up {:?} after the kill",
        killed.elapsed()
    );
}

#[test]
fn test_proxy_forwards_psql_and_blackholes_it() {
    let pg = TestPostgres::shared().unwrap_or_else(|e| panic!("{e}"));
    let proxy = BlackholeProxy::start(pg.port()).unwrap();
    assert_ne!(proxy.port(), pg.port());
    let query = |port: u16| {
        pg.psql_command(port, "postgres")
            .args(["-c", "SELECT 40 + 2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let out = query(proxy.port()).wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");

    proxy.set_blackhole(true);
    let mut hung = query(proxy.port());
    thread::sleep(Duration::from_secs(1));
    assert!(
        hung.try_wait().unwrap().is_none(),
        "psql got an answer through the blackhole"
    );
    hung.kill().unwrap();
    hung.wait().unwrap();

    proxy.set_blackhole(false);
    let out = query(proxy.port()).wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
}

/// An echo server on loopback; returns its port.
fn echo_server() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    stream
}

/// Sends `msg` and returns what came back within the read timeout: `Some(bytes)` (empty on end of
/// file), `None` when nothing came.
fn exchange(stream: &mut TcpStream, msg: &[u8]) -> Option<Vec<u8>> {
    let _ = stream.write_all(msg);
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        Err(_) => Some(Vec::new()),
    }
}

#[test]
fn test_proxy_blackhole_and_cut_semantics() {
    let proxy = BlackholeProxy::start(echo_server()).unwrap();
    let mut busy = connect(proxy.port());
    let mut idle = connect(proxy.port());
    assert_eq!(
        exchange(&mut busy, b"hello").as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(exchange(&mut idle, b"idle").as_deref(), Some(&b"idle"[..]));

    proxy.set_blackhole(true);
    // Existing connection: swallowed, not closed.
    assert_eq!(exchange(&mut busy, b"lost"), None);
    // New connection: accepted, nothing forwarded.
    let mut during = connect(proxy.port());
    assert_eq!(exchange(&mut during, b"anyone?"), None);

    proxy.set_blackhole(false);
    // The connection that lost bytes stays broken; the one that carried nothing works again.
    assert_eq!(exchange(&mut busy, b"again"), None);
    assert_eq!(exchange(&mut during, b"again"), None);
    assert_eq!(
        exchange(&mut idle, b"healed").as_deref(),
        Some(&b"healed"[..])
    );
    let mut after = connect(proxy.port());
    assert_eq!(exchange(&mut after, b"new").as_deref(), Some(&b"new"[..]));

    // cut_all closes every connection, broken or not.
    proxy.cut_all();
    for stream in [&mut busy, &mut during, &mut idle, &mut after] {
        assert_eq!(exchange(stream, b"x").as_deref(), Some(&b""[..]));
    }
    let mut fresh = connect(proxy.port());
    assert_eq!(
        exchange(&mut fresh, b"fresh").as_deref(),
        Some(&b"fresh"[..])
    );

    // Drop closes the connections it carried. (Its port is not checked: a test running in parallel
    // may bind the freed port at once.)
    drop(proxy);
    assert_eq!(exchange(&mut fresh, b"gone").as_deref(), Some(&b""[..]));
}
