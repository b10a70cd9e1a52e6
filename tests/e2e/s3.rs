//! The S3 sink against a real S3 implementation: moto in server mode (from PyPI, in `target/s3-venv`)
//! on loopback, with signature checking on (every request after the setup must carry a valid SigV4
//! signature for an IAM user's key), read back with boto3, AWS's own SDK (tests/s3/moto_fixture.py).
//! Every event must be in exactly one object, verbatim, with the key, metadata and type the sink
//! promises. Failures on purpose, through a loopback proxy in front of moto: an upload whose answer
//! is lost (retried: S3's 412 for the existing key counts as delivered) and a crash in the middle of
//! an upload (SIGKILL while half the body is sent: the next run sends the same batch to the same key).

use crate::python;
use crate::support::*;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SELECTION: &[&str] = &["authentication", "security", "itp", "lifecycle"];
const BUCKET: &str = "okta-e2e";
const PREFIX: &str = "okta/raw";

/// The venv with moto and boto3.
async fn moto_python() -> std::path::PathBuf {
    python::venv(
        "s3-venv",
        "tests/s3/requirements.txt",
        "moto.server, boto3, flask",
    )
    .await
}

/// A running moto server, killed when dropped.
struct Moto {
    child: Child,
    python: std::path::PathBuf,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An IAM user's access key on moto.
#[derive(Clone)]
struct Credentials {
    access_key_id: String,
    secret_access_key: String,
}

impl Credentials {
    fn env(&self) -> [(&'static str, String); 2] {
        [
            ("AWS_ACCESS_KEY_ID", self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone()),
        ]
    }
}

/// An object as boto3 read it back.
#[derive(Debug, serde::Deserialize)]
struct StoredObject {
    key: String,
    content_type: String,
    metadata: HashMap<String, String>,
    lines: Vec<String>,
}

impl Moto {
    /// Starts moto on a free port (signatures checked after the 3 setup requests) and waits until it
    /// answers.
    async fn start(dir: &Path) -> Moto {
        let python = moto_python().await;
        let port = free_port();
        let child = Command::new(&python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("moto.log")).unwrap())
            .spawn()
            .expect("moto starts");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child,
            python,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    fn fixture(&self, args: &[&str], creds: Option<&Credentials>) -> String {
        let mut cmd = Command::new(&self.python);
        cmd.arg(python::workspace().join("tests/s3/moto_fixture.py"))
            .args(args)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY");
        if let Some(c) = creds {
            cmd.envs(c.env());
        }
        let out = cmd.output().expect("the fixture script runs");
        assert!(
            out.status.success(),
            "moto_fixture.py {args:?}: {}",
            text(&out)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Creates an IAM user with an access key, and the bucket.
    fn setup(&self) -> Credentials {
        let v: serde_json::Value =
            serde_json::from_str(&self.fixture(&["setup", &self.endpoint, BUCKET], None)).unwrap();
        Credentials {
            access_key_id: v["access_key_id"].as_str().unwrap().into(),
            secret_access_key: v["secret_access_key"].as_str().unwrap().into(),
        }
    }

    /// Every object in the bucket, in key order.
    fn objects(&self, creds: &Credentials) -> Vec<StoredObject> {
        serde_json::from_str(&self.fixture(&["dump", &self.endpoint, BUCKET], Some(creds))).unwrap()
    }
}

async fn run_to(fx: &Fixture, endpoint: &str, creds: &Credentials) -> Output {
    tokio::process::Command::new(BIN)
        .arg("--db")
        .arg(fx.db())
        .args(run_args(endpoint))
        .envs(creds.env())
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("binary runs")
}

fn run_args(endpoint: &str) -> Vec<String> {
    let mut args: Vec<String> = [
        "run",
        "--once",
        "--sink",
        &format!("s3://{BUCKET}/{PREFIX}"),
        "--s3-endpoint",
        endpoint,
        "--s3-region",
        "eu-west-1",
        "--s3-batch-events",
        "400",
        "--s3-retries",
        "3",
        "--s3-retry-base",
        "10ms",
        "--s3-timeout",
        "30s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(FAST.iter().map(|s| s.to_string()));
    args
}

/// Checks each object against what the sink promises (key layout, type, metadata); returns every
/// event line in them.
fn check_objects(objects: &[StoredObject]) -> Vec<String> {
    let mut lines = Vec::new();
    for o in objects {
        let name = o
            .key
            .strip_prefix(&format!("{PREFIX}/instance="))
            .unwrap_or_else(|| panic!("key {:?} is not under the prefix", o.key));
        let (instance, rest) = name.split_once("/dt=").expect("instance=ID/dt=DATE/…");
        let (date, file) = rest.split_once('/').expect("dt=DATE/FILE");
        let range = file.strip_suffix(".ndjson.gz").expect(".ndjson.gz");
        let mut parts = range.split('-');
        let (first, last) = (parts.next().unwrap(), parts.next().unwrap());
        assert_eq!((first.len(), last.len()), (20, 20), "{}", o.key);
        assert_eq!(parts.next().map(str::len), Some(12), "digest in {}", o.key);
        let first: i64 = first.parse().unwrap();
        let last: i64 = last.parse().unwrap();
        assert!(first <= last, "{}", o.key);
        assert_eq!(o.content_type, "application/gzip");
        assert_eq!(o.metadata["okta-ingest-instance"], instance);
        assert_eq!(o.metadata["okta-ingest-seq"], format!("{first}-{last}"));
        assert_eq!(o.metadata["okta-ingest-events"], o.lines.len().to_string());
        assert!(!o.lines.is_empty());
        let event: serde_json::Value = serde_json::from_str(&o.lines[0]).expect("JSON lines");
        assert_eq!(
            &event["published"].as_str().unwrap()[..10],
            date,
            "{}",
            o.key
        );
        lines.extend(o.lines.iter().cloned());
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_holds_every_event_once_in_signed_gzip_objects_keyed_by_instance_and_range() {
    let fx = Fixture::with_org(2_500).await;
    let expected = CategorySpec::load().expected(&fx.emulator.committed(), SELECTION);
    let moto = Moto::start(fx.dir.path()).await;
    let creds = moto.setup();

    // A wrong secret: S3 refuses the signature, nothing is stored, nothing is lost, the secret is not shown.
    let wrong = Credentials {
        secret_access_key: "not-the-secret-key-0123456789".into(),
        ..creds.clone()
    };
    let refused = run_to(&fx, &moto.endpoint, &wrong).await;
    assert!(!refused.status.success(), "{}", text(&refused));
    let out = text(&refused);
    assert!(
        out.contains("SignatureDoesNotMatch") && out.contains("stay queued"),
        "{out}"
    );
    assert!(!out.contains(&wrong.secret_access_key), "{out}");
    assert!(moto.objects(&creds).is_empty());

    let run = run_to(&fx, &moto.endpoint, &creds).await;
    assert!(run.status.success(), "{}", text(&run));
    let objects = moto.objects(&creds);
    assert_exactly(&check_objects(&objects), &expected);
    assert!(
        objects.len() >= 3,
        "batches of at most 400 events: {} objects for {} events",
        objects.len(),
        expected.len()
    );

    // Nothing new: nothing written again.
    let again = run_to(&fx, &moto.endpoint, &creds).await;
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(moto.objects(&creds).len(), objects.len());
}

/// What the proxy does to the Nth upload (`PUT`, counted from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Passes the upload to moto, then closes the connection instead of answering.
    LoseAnswer,
    /// Sends moto the headers and half the body, then waits (until released) and closes both sides.
    StallMidBody,
}

/// A loopback HTTP/1.1 proxy in front of moto, one request per connection, faults by upload number.
struct Proxy {
    port: u16,
    /// The path of every upload, in order.
    puts: Arc<Mutex<Vec<String>>>,
    stalled: Arc<AtomicBool>,
    release: Arc<AtomicBool>,
}

impl Proxy {
    fn start(upstream: u16, faults: HashMap<usize, Fault>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Proxy {
            port,
            puts: Arc::default(),
            stalled: Arc::default(),
            release: Arc::default(),
        };
        let (puts, stalled, release) = (
            proxy.puts.clone(),
            proxy.stalled.clone(),
            proxy.release.clone(),
        );
        let faults = Arc::new(faults);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (puts, stalled, release, faults) = (
                    puts.clone(),
                    stalled.clone(),
                    release.clone(),
                    faults.clone(),
                );
                std::thread::spawn(move || {
                    let _ = relay(client, upstream, &puts, &faults, &stalled, &release);
                });
            }
        });
        proxy
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn puts(&self) -> Vec<String> {
        self.puts.lock().unwrap().clone()
    }
}

/// The head (request or status line and headers, without the blank line) with `Connection: close`
/// in place of any connection header.
fn closing_head(head: &str) -> String {
    let mut out: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    out.push("Connection: close");
    format!("{}\r\n\r\n", out.join("\r\n"))
}

fn relay(
    client: TcpStream,
    upstream: u16,
    puts: &Mutex<Vec<String>>,
    faults: &HashMap<usize, Fault>,
    stalled: &AtomicBool,
    release: &AtomicBool,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let head = head.trim_end().to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let request_line = head.lines().next().unwrap_or_default().to_string();
    let fault = match request_line.strip_prefix("PUT ") {
        Some(rest) => {
            let mut puts = puts.lock().unwrap();
            puts.push(rest.split(' ').next().unwrap_or_default().to_string());
            faults.get(&puts.len()).copied()
        }
        None => None,
    };
    let mut moto = TcpStream::connect(("127.0.0.1", upstream))?;
    moto.write_all(closing_head(&head).as_bytes())?;
    if fault == Some(Fault::StallMidBody) {
        moto.write_all(&body[..length / 2])?;
        stalled.store(true, Ordering::SeqCst);
        while !release.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        return Ok(());
    }
    moto.write_all(&body)?;
    let mut answer = Vec::new();
    moto.read_to_end(&mut answer)?;
    if fault == Some(Fault::LoseAnswer) {
        client.shutdown(std::net::Shutdown::Both)?;
        return Ok(());
    }
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(answer.len());
    let mut client = client;
    client.write_all(closing_head(&String::from_utf8_lossy(&answer[..split])).as_bytes())?;
    client.write_all(answer.get(split + 4..).unwrap_or_default())?;
    client.flush()
}

/// The object key of an upload's path (`/BUCKET/KEY`, URI-encoded).
fn key_of(path: &str) -> String {
    path.strip_prefix(&format!("/{BUCKET}/"))
        .unwrap_or_else(|| panic!("{path} is not in the bucket"))
        .replace("%3D", "=")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_and_a_crash_mid_upload_leave_every_event_in_one_object() {
    let fx = Fixture::with_org(2_500).await;
    let expected = CategorySpec::load().expected(&fx.emulator.committed(), SELECTION);
    assert!(
        expected.len() > 1_600,
        "at least 5 batches: {}",
        expected.len()
    );
    let moto = Moto::start(fx.dir.path()).await;
    let creds = moto.setup();
    let port: u16 = moto.endpoint.rsplit(':').next().unwrap().parse().unwrap();
    let proxy = Proxy::start(
        port,
        HashMap::from([(2, Fault::LoseAnswer), (4, Fault::StallMidBody)]),
    );

    let args = run_args(&proxy.endpoint());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env = creds.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut crashed = Running::start_with_env(&fx, &args, "s3-crash.log", &env);
    let started = Instant::now();
    while !proxy.stalled.load(Ordering::SeqCst) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the 4th upload never started; log:\n{}",
            crashed.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    crashed.signal(libc::SIGKILL);
    crashed
        .exit_within(Duration::from_secs(10), "SIGKILL")
        .await;
    proxy.release.store(true, Ordering::SeqCst);

    let puts = proxy.puts();
    assert_eq!(puts.len(), 4, "{puts:?}");
    // The upload whose answer was lost was sent again to the same key.
    assert_eq!(puts[1], puts[2]);
    let before: HashSet<String> = moto.objects(&creds).into_iter().map(|o| o.key).collect();
    let expected_before: HashSet<String> = [key_of(&puts[0]), key_of(&puts[1])].into();
    // The interrupted upload is not stored: S3 keeps an object whole or not at all.
    assert_eq!(before, expected_before, "{puts:?}");

    let resumed = run_to(&fx, &proxy.endpoint(), &creds).await;
    assert!(resumed.status.success(), "{}", text(&resumed));
    let puts = proxy.puts();
    // The batch cut off by the crash was sent first, exactly as before: the same key.
    assert_eq!(puts[4], puts[3], "{puts:?}");
    let objects = moto.objects(&creds);
    assert_exactly(&check_objects(&objects), &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_the_s3_sink_against_a_local_store() {
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start(dir.path()).await;
    let creds = moto.setup();
    let demo = tokio::process::Command::new(BIN)
        .args(["demo", "--events", "3000", "--sink"])
        .arg(format!("s3://{BUCKET}/demo"))
        .args(["--s3-endpoint", &moto.endpoint, "--s3-region", "eu-west-1"])
        .envs(creds.env())
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("binary runs");
    let out = text(&demo);
    assert!(demo.status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "sink:                         s3://{BUCKET}/demo/"
        )),
        "{out}"
    );
    let delivered: usize = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("events delivered:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no count in {out}"));
    let objects = moto.objects(&creds);
    assert!(objects.iter().all(|o| o.key.starts_with("demo/instance=")));
    let lines: Vec<&String> = objects.iter().flat_map(|o| &o.lines).collect();
    assert!(delivered > 1_000, "{out}");
    assert_eq!(
        lines.len(),
        delivered,
        "every delivered event is in an object once"
    );
    let uuids: HashSet<String> = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["uuid"].to_string())
        .collect();
    assert_eq!(uuids.len(), delivered, "no event twice");
}
