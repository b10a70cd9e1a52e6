//! The syslog sink against a real rsyslog (Debian's `rsyslog` with `rsyslog-gnutls`), listening with TLS
//! on loopback (imtcp, gtls driver, octet-counted frames), writing every message it parses to a file as
//! one JSON object of its RFC 5424 fields. The file is checked event by event: the MSG is the event
//! byte for byte, PRI/TIMESTAMP/HOSTNAME/APP-NAME are what the options and the event say, and the
//! structured data carries the event's uuid. Failures on purpose: an untrusted certificate (permanent,
//! nothing sent) and a receiver that is not running yet (retried, then queued).

use crate::receiver::test_pki;
use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SELECTION: &[&str] = &["authentication", "security", "itp", "lifecycle"];
const HOSTNAME: &str = "ingest-e2e";

/// A running rsyslogd, killed when dropped.
struct Rsyslog {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where Debian puts rsyslogd; the test fails, naming the packages, when it is missing.
fn rsyslogd() -> PathBuf {
    let p = PathBuf::from("/usr/sbin/rsyslogd");
    assert!(
        p.exists() && has_gtls_driver(),
        "the syslog test needs a real rsyslog with TLS: apt-get install rsyslog rsyslog-gnutls (.ci/run does)"
    );
    p
}

/// rsyslog-gnutls's driver, under /usr/lib/<triplet>/rsyslog.
fn has_gtls_driver() -> bool {
    std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .any(|d| d.path().join("rsyslog/lmnsd_gtls.so").exists())
}

/// The files rsyslog's TLS listener uses: CA, certificate, key (a fresh test PKI), and the client
/// certificate and key okta-ingest presents to a receiver that authenticates senders.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn write_pki(dir: &Path) -> Pki {
    let pki = test_pki();
    let p = Pki {
        ca: dir.join("syslog-ca.pem"),
        cert: dir.join("syslog-cert.pem"),
        key: dir.join("syslog-key.pem"),
        client_cert: dir.join("client-cert.pem"),
        client_key: dir.join("client-key.pem"),
    };
    std::fs::write(&p.client_cert, pki.client_cert_pem).unwrap();
    std::fs::write(&p.client_key, pki.client_key_pem).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p.client_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    std::fs::write(&p.ca, pki.ca_pem).unwrap();
    std::fs::write(&p.cert, pki.cert_pem).unwrap();
    std::fs::write(&p.key, pki.key_pem).unwrap();
    p
}

impl Rsyslog {
    /// Starts rsyslogd on `port` with `pki`, and waits until it listens.
    fn start(dir: &Path, pki: &Pki, port: u16) -> Rsyslog {
        Rsyslog::start_authenticating(dir, pki, port, "anon")
    }

    /// [`Rsyslog::start`] with imtcp's `streamDriver.authMode` (`anon`: any sender; `x509/certvalid`:
    /// only senders with a certificate from the test CA).
    fn start_authenticating(dir: &Path, pki: &Pki, port: u16, auth_mode: &str) -> Rsyslog {
        let work = dir.join("rsyslog");
        std::fs::create_dir_all(&work).unwrap();
        let out = work.join("received.jsonl");
        let conf = work.join("rsyslog.conf");
        // Messages up to 256 KiB (the default 8 KiB would cut large events), control characters
        // kept as they are, and each parsed message written as JSON.
        std::fs::write(
            &conf,
            format!(
                r#"global(workDirectory="{work}" maxMessageSize="256k"
  parser.escapeControlCharactersOnReceive="off"
  defaultNetstreamDriver="gtls"
  defaultNetstreamDriverCAFile="{ca}"
  defaultNetstreamDriverCertFile="{cert}"
  defaultNetstreamDriverKeyFile="{key}")
module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="{auth_mode}" maxFrameSize="300000")
input(type="imtcp" port="{port}" address="127.0.0.1")
template(name="fields" type="list") {{
  constant(value="{{\"pri\":\"") property(name="pri")
  constant(value="\",\"time\":\"") property(name="timereported" dateFormat="rfc3339" format="json")
  constant(value="\",\"host\":\"") property(name="hostname" format="json")
  constant(value="\",\"app\":\"") property(name="app-name" format="json")
  constant(value="\",\"msgid\":\"") property(name="msgid" format="json")
  constant(value="\",\"sd\":\"") property(name="structured-data" format="json")
  constant(value="\",\"msg\":\"") property(name="msg" format="json")
  constant(value="\"}}\n")
}}
action(type="omfile" file="{out}" template="fields")
"#,
                work = work.display(),
                ca = pki.ca.display(),
                cert = pki.cert.display(),
                key = pki.key.display(),
                out = out.display(),
            ),
        )
        .unwrap();
        let child = Command::new(rsyslogd())
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(work.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // Its complaints about the readiness probe and the untrusted client stay out of the output.
            .stderr(std::fs::File::create(work.join("rsyslogd.stderr")).unwrap())
            .spawn()
            .expect("rsyslogd starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "rsyslogd did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Rsyslog { child, port, out }
    }

    /// The messages written so far, once their number has stopped changing.
    fn received(&self, at_least: usize) -> Vec<serde_json::Value> {
        let read = || -> Vec<serde_json::Value> {
            std::fs::read_to_string(&self.out)
                .unwrap_or_default()
                .lines()
                .map(|l| serde_json::from_str(l).expect("rsyslog wrote a JSON line"))
                .collect()
        };
        let started = Instant::now();
        let mut got = read();
        while got.len() < at_least && started.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(100));
            got = read();
        }
        // Anything doubled would arrive now.
        std::thread::sleep(Duration::from_millis(500));
        read()
    }
}

async fn run_to(fx: &Fixture, port: u16, ca: Option<&Path>) -> Output {
    run_with(fx, port, ca, &[]).await
}

/// [`run_to`] with `extra` options.
async fn run_with(fx: &Fixture, port: u16, ca: Option<&Path>, extra: &[&Path]) -> Output {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("--db")
        .arg(fx.db())
        .args(["run", "--once", "--sink"])
        .arg(format!("syslog+tls://127.0.0.1:{port}"))
        .args(["--syslog-hostname", HOSTNAME, "--syslog-facility", "local4"])
        .args(["--syslog-batch-events", "300", "--syslog-retries", "2"])
        .args(["--syslog-retry-base", "10ms"])
        .args(FAST)
        .args(extra)
        .env_remove("RUST_LOG");
    if let Some(ca) = ca {
        cmd.arg("--syslog-ca-file").arg(ca);
    }
    cmd.output().await.expect("binary runs")
}

/// Each received message matches its event; returns the events (the MSGs) received.
fn check_messages(received: &[serde_json::Value]) -> Vec<String> {
    received
        .iter()
        .map(|m| {
            let msg = m["msg"].as_str().unwrap().to_string();
            let event: serde_json::Value =
                serde_json::from_str(&msg).expect("the MSG is the event's JSON");
            let severity = match event["severity"].as_str() {
                Some("DEBUG") => 7,
                Some("WARN") => 4,
                Some("ERROR") => 3,
                _ => 6,
            };
            assert_eq!(m["pri"], (20 * 8 + severity).to_string(), "local4: {m}");
            let published = event["published"].as_str().unwrap();
            assert_eq!(
                okta_ingest_model::time::parse_ms(m["time"].as_str().unwrap()),
                okta_ingest_model::time::parse_ms(published),
                "{m}"
            );
            assert_eq!(m["host"], HOSTNAME);
            assert_eq!(m["app"], "okta-ingest");
            let sd = m["sd"].as_str().unwrap();
            let uuid = event["uuid"].as_str().unwrap();
            assert!(
                sd.starts_with(&format!(
                    "[okta@32473 uuid=\"{uuid}\" eventType=\"{}\" instance=\"",
                    event["eventType"].as_str().unwrap()
                )),
                "{sd}"
            );
            msg
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_receives_every_event_once_byte_for_byte_in_rfc5424_messages() {
    let fx = Fixture::with_org(2_500).await;
    let pki = write_pki(fx.dir.path());
    let expected = CategorySpec::load().expected(&fx.emulator.committed(), SELECTION);
    let rsyslog = Rsyslog::start(fx.dir.path(), &pki, free_port());
    let run = run_to(&fx, rsyslog.port, Some(&pki.ca)).await;
    assert!(run.status.success(), "{}", text(&run));
    let received = rsyslog.received(expected.len());
    assert_exactly(&check_messages(&received), &expected);
    assert!(
        expected.len() > 900,
        "several connections: {}",
        expected.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_or_an_absent_receiver_keeps_every_event_queued() {
    let fx = Fixture::with_org(1_200).await;
    let pki = write_pki(fx.dir.path());
    let expected = CategorySpec::load().expected(&fx.emulator.committed(), SELECTION);
    let port = free_port();
    // Nobody listens yet: retried, then the run fails with the events queued.
    let absent = run_to(&fx, port, Some(&pki.ca)).await;
    assert!(!absent.status.success(), "{}", text(&absent));
    let out = text(&absent);
    assert!(
        out.contains("could not connect") && out.contains("stay queued"),
        "{out}"
    );

    let rsyslog = Rsyslog::start(fx.dir.path(), &pki, port);
    // Without the CA the certificate is not trusted: permanent, and nothing is sent.
    let untrusted = run_to(&fx, port, None).await;
    assert!(!untrusted.status.success(), "{}", text(&untrusted));
    let out = text(&untrusted);
    assert!(
        out.contains("not trusted") && out.contains("CA file"),
        "{out}"
    );
    assert!(rsyslog.received(0).is_empty(), "nothing was sent");

    let good = run_to(&fx, port, Some(&pki.ca)).await;
    assert!(good.status.success(), "{}", text(&good));
    let received = rsyslog.received(expected.len());
    assert_exactly(&check_messages(&received), &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_authenticates_senders_gets_every_event_only_from_a_certified_one() {
    let fx = Fixture::with_org(900).await;
    let pki = write_pki(fx.dir.path());
    let expected = CategorySpec::load().expected(&fx.emulator.committed(), SELECTION);
    let rsyslog = Rsyslog::start_authenticating(fx.dir.path(), &pki, free_port(), "x509/certvalid");
    // Without a client certificate the receiver refuses the sender: nothing arrives, and nothing may
    // count as delivered either (the receiver closing the connection is not an acknowledgement then).
    let refused = run_to(&fx, rsyslog.port, Some(&pki.ca)).await;
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(text(&refused).contains("stay queued"), "{}", text(&refused));
    assert!(rsyslog.received(0).is_empty(), "nothing was accepted");

    let cert = Path::new("--syslog-client-cert");
    let key = Path::new("--syslog-client-key");
    let good = run_with(
        &fx,
        rsyslog.port,
        Some(&pki.ca),
        &[cert, &pki.client_cert, key, &pki.client_key],
    )
    .await;
    assert!(good.status.success(), "{}", text(&good));
    let received = rsyslog.received(expected.len());
    assert_exactly(&check_messages(&received), &expected);
}
