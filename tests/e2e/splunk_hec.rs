//! The Splunk HEC sink against a loopback HTTP Event Collector that checks the protocol strictly: the
//! `Authorization: Splunk TOKEN` header, the event endpoint's stream of envelopes (only HEC's members,
//! `sourcetype`, `time` equal to the event's `published`, the event byte for byte), the request
//! channel on every request when acknowledgement is on, ack ids and the ack endpoint (which reports a
//! batch indexed only at its second query). It fails on purpose: "server busy", a dropped connection
//! before indexing, a 429, an invalid token.

use crate::receiver::tls_config;
use crate::support::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::path::PathBuf;
use std::process::Output;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

const TOKEN: &str = "e2e-hec-token-0123456789";
const SELECTION: &[&str] = &["authentication", "security", "itp", "lifecycle"];

/// What the collector does with the next event request.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// 503 `{"text":"Server is busy","code":9}`, nothing indexed.
    Busy,
    /// 429, nothing indexed.
    TooMany,
    /// Read the body, index nothing, close the connection without an answer.
    Drop,
}

#[derive(Default)]
struct Collector {
    ack: bool,
    faults: VecDeque<Fault>,
    /// Events indexed, in order, byte for byte.
    indexed: Vec<String>,
    /// Protocol violations seen (the test asserts there are none).
    violations: Vec<String>,
    /// Requests per path.
    requests: HashMap<String, usize>,
    channels: std::collections::HashSet<String>,
    next_ack: u64,
    /// Ack ids issued and how often each was queried.
    acks: HashMap<u64, u32>,
    rejected_auth: usize,
}

struct Hec {
    port: u16,
    ca_file: PathBuf,
    state: Arc<Mutex<Collector>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hec {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// HEC's envelope members; anything else is a violation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    time: Option<f64>,
    sourcetype: Option<String>,
    index: Option<String>,
    source: Option<String>,
    host: Option<String>,
    #[serde(borrow)]
    event: &'a RawValue,
}

#[derive(Deserialize)]
struct Published {
    published: String,
}

impl Hec {
    async fn start(fx: &Fixture, ack: bool, faults: &[Fault]) -> Hec {
        let (ca_pem, config) = tls_config();
        let ca_file = fx.path("hec-ca.pem");
        std::fs::write(&ca_file, ca_pem).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(Collector {
            ack,
            faults: faults.iter().copied().collect(),
            ..Collector::default()
        }));
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, st) = (acceptor.clone(), st.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let kill = Arc::new(Notify::new());
                    let k = kill.clone();
                    let svc = service_fn(move |req| handle(req, st.clone(), k.clone()));
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc);
                    tokio::select! {
                        _ = conn => {}
                        _ = kill.notified() => {}
                    }
                });
            }
        });
        Hec {
            port,
            ca_file,
            state,
            task,
        }
    }

    fn sink(&self) -> String {
        format!("splunk-hec+https://127.0.0.1:{}", self.port)
    }
}

fn answer(status: u16, body: String) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap())
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    state: Arc<Mutex<Collector>>,
    kill: Arc<Notify>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (auth, channel) = (header("authorization"), header("x-splunk-request-channel"));
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let fault = {
        let mut s = state.lock().unwrap();
        *s.requests.entry(path.clone()).or_default() += 1;
        if method != hyper::Method::POST {
            s.violations.push(format!("{method} {path}"));
            return answer(405, "{}".into());
        }
        if auth.as_deref() != Some(&format!("Splunk {TOKEN}")) {
            s.rejected_auth += 1;
            return answer(403, "{\"text\":\"Invalid token\",\"code\":4}".into());
        }
        if s.ack {
            match &channel {
                Some(c) if c.len() == 36 => {
                    s.channels.insert(c.clone());
                }
                _ => {
                    s.violations
                        .push(format!("no channel on {path}: {channel:?}"));
                    return answer(
                        400,
                        "{\"text\":\"Data channel is missing\",\"code\":10}".into(),
                    );
                }
            }
        }
        if path == "/services/collector/ack" {
            #[derive(Deserialize)]
            struct Query {
                acks: Vec<u64>,
            }
            let Ok(q) = serde_json::from_slice::<Query>(&body) else {
                s.violations
                    .push(format!("ack query {:?}", String::from_utf8_lossy(&body)));
                return answer(400, "{\"text\":\"Invalid data format\",\"code\":6}".into());
            };
            let mut out = serde_json::Map::new();
            for id in q.acks {
                let done = match s.acks.get_mut(&id) {
                    None => {
                        s.violations.push(format!(
                            "ack {id} queried but never issued (or already released)"
                        ));
                        false
                    }
                    // Indexed by the second query.
                    Some(n) => {
                        *n += 1;
                        *n >= 2
                    }
                };
                if done {
                    s.acks.remove(&id);
                }
                out.insert(id.to_string(), done.into());
            }
            return answer(200, serde_json::json!({ "acks": out }).to_string());
        }
        if path != "/services/collector/event" {
            s.violations.push(format!("POST {path}"));
            return answer(
                404,
                "{\"text\":\"The requested URL was not found on this server.\",\"code\":404}"
                    .into(),
            );
        }
        s.faults.pop_front()
    };
    match fault {
        Some(Fault::Busy) => {
            return answer(503, "{\"text\":\"Server is busy\",\"code\":9}".into());
        }
        Some(Fault::TooMany) => return answer(429, "{}".into()),
        Some(Fault::Drop) => {
            kill.notify_one();
            std::future::pending::<()>().await;
        }
        None => {}
    }
    // A stream of envelopes (not an array), each checked.
    let mut events = Vec::new();
    let mut violations = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(&body).into_iter::<Envelope<'_>>();
    for env in &mut stream {
        match env {
            Err(e) => {
                violations.push(format!("bad envelope: {e}"));
                break;
            }
            Ok(env) => {
                if env.sourcetype.as_deref() != Some("OktaIM2:log") {
                    violations.push(format!("sourcetype {:?}", env.sourcetype));
                }
                if env.index.is_some() || env.source.is_some() || env.host.is_some() {
                    violations.push("index/source/host sent though none was configured".into());
                }
                let raw = env.event.get();
                let published = serde_json::from_str::<Published>(raw)
                    .ok()
                    .and_then(|p| okta_ingest_model::time::parse_ms(&p.published));
                match (published, env.time) {
                    (Some(ms), Some(t)) if (t * 1000.0).round() as u64 == ms => {}
                    other => violations.push(format!("time {other:?}")),
                }
                events.push(raw.to_string());
            }
        }
    }
    let mut s = state.lock().unwrap();
    if !violations.is_empty() || events.is_empty() {
        s.violations.extend(violations);
        return answer(
            400,
            "{\"text\":\"Invalid data format\",\"code\":6,\"invalid-event-number\":0}".into(),
        );
    }
    s.indexed.extend(events);
    if s.ack {
        s.next_ack += 1;
        let id = s.next_ack;
        s.acks.insert(id, 0);
        answer(
            200,
            format!("{{\"text\":\"Success\",\"code\":0,\"ackId\":{id}}}"),
        )
    } else {
        answer(200, "{\"text\":\"Success\",\"code\":0}".into())
    }
}

async fn run_to(fx: &Fixture, hec: &Hec, token: &str, extra: &[&str]) -> Output {
    let sink = hec.sink();
    let ca = hec.ca_file.display().to_string();
    tokio::process::Command::new(BIN)
        .arg("--db")
        .arg(fx.db())
        .args(["run", "--once", "--sink", &sink, "--hec-ca-file", &ca])
        .args(["--hec-retry-base", "10ms", "--hec-batch-events", "300"])
        .args(extra)
        .args(FAST)
        .env("SPLUNK_HEC_TOKEN", token)
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_indexer_acknowledgement_every_event_is_indexed_once_through_faults() {
    let fx = Fixture::with_org(3_000).await;
    let hec = Hec::start(
        &fx,
        true,
        &[Fault::Busy, Fault::Drop, Fault::TooMany, Fault::Busy],
    )
    .await;
    let run = run_to(&fx, &hec, TOKEN, &["--hec-ack", "--hec-ack-poll", "20ms"]).await;
    assert!(run.status.success(), "{}", text(&run));
    let expected = CategorySpec::load().expected(&fx.emulator.committed(), SELECTION);
    let s = hec.state.lock().unwrap();
    assert!(s.violations.is_empty(), "{:?}", s.violations);
    assert_exactly(&s.indexed, &expected);
    assert!(
        s.acks.is_empty(),
        "every ack id was queried until indexed: {:?}",
        s.acks
    );
    assert_eq!(s.channels.len(), 1, "one channel for the process");
    assert!(
        s.requests["/services/collector/ack"] >= 2,
        "{:?}",
        s.requests
    );
    assert!(s.faults.is_empty());
    assert!(expected.len() > 600, "several batches: {}", expected.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_token_fails_the_run_keeps_the_events_and_never_shows_the_token() {
    let fx = Fixture::with_org(1_500).await;
    let hec = Hec::start(&fx, false, &[]).await;
    let wrong = "wrong-hec-token-987654321";
    let run = run_to(&fx, &hec, wrong, &[]).await;
    assert!(!run.status.success(), "{}", text(&run));
    let out = text(&run);
    assert!(
        out.contains("403") && out.contains("Invalid token"),
        "{out}"
    );
    assert!(!out.contains(wrong), "the token is never shown: {out}");
    {
        let s = hec.state.lock().unwrap();
        assert!(s.rejected_auth >= 1 && s.indexed.is_empty());
    }
    // The right token: everything queued arrives, once, without acknowledgement.
    let run = run_to(&fx, &hec, TOKEN, &[]).await;
    assert!(run.status.success(), "{}", text(&run));
    let expected = CategorySpec::load().expected(&fx.emulator.committed(), SELECTION);
    let s = hec.state.lock().unwrap();
    assert!(s.violations.is_empty(), "{:?}", s.violations);
    assert_exactly(&s.indexed, &expected);
    assert!(!s.requests.contains_key("/services/collector/ack"));
}
