//! The Elasticsearch `_bulk` sink against a loopback cluster that checks the protocol strictly: `POST
//! /INDEX/_bulk`, `Content-Type: application/x-ndjson`, `Authorization: ApiKey …`, only `create`
//! actions with `_id` = the document's `uuid`, each document the event's members byte for byte after
//! `@timestamp` = its `published`; it stores documents by `_id` (a repeat answers 409) and fails on
//! purpose: an HTTP 503, per-item 429s, and a per-item mapping error that fails the run.

use crate::receiver::tls_config;
use crate::support::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::path::PathBuf;
use std::process::Output;
use std::sync::{Arc, Mutex};

const API_KEY: &str = "ZTJlLWtleS1pZDplMmUta2V5LXNlY3JldA==";
const INDEX: &str = "okta-events";
const SELECTION: &[&str] = &["authentication", "security", "itp", "lifecycle"];

#[derive(Default)]
struct Cluster {
    /// Documents by `_id`, as sent.
    docs: BTreeMap<String, String>,
    /// The raw events the documents stand for (the `@timestamp` taken out again), by `_id`.
    events: HashMap<String, String>,
    violations: Vec<String>,
    /// HTTP 503 for this many requests.
    busy: usize,
    /// Per-item 429 for this many items.
    throttle_items: usize,
    /// A mapping error (400) for the item with this `_id`, once.
    refuse_once: Option<String>,
    conflicts: usize,
    requests: usize,
}

struct Es {
    port: u16,
    ca_file: PathBuf,
    state: Arc<Mutex<Cluster>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Es {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Action {
    create: CreateMeta,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateMeta {
    #[serde(rename = "_id")]
    id: String,
}

#[derive(Deserialize)]
struct Doc {
    #[serde(rename = "@timestamp")]
    timestamp: String,
    uuid: String,
    published: String,
}

impl Es {
    async fn start(fx: &Fixture, setup: Cluster) -> Es {
        let (ca_pem, config) = tls_config();
        let ca_file = fx.path("es-ca.pem");
        std::fs::write(&ca_file, ca_pem).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(setup));
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
                    let svc = service_fn(move |req| handle(req, st.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        Es {
            port,
            ca_file,
            state,
            task,
        }
    }
}

fn answer(status: u16, body: String) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap())
}

/// The raw event a document stands for: `{"@timestamp":"…",` taken out again.
fn event_of(doc: &str, timestamp: &str) -> Option<String> {
    let prefix = format!(
        "{{\"@timestamp\":{},",
        serde_json::to_string(timestamp).ok()?
    );
    doc.strip_prefix(&prefix).map(|rest| format!("{{{rest}"))
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    state: Arc<Mutex<Cluster>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (auth, content_type) = (header("authorization"), header("content-type"));
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut s = state.lock().unwrap();
    s.requests += 1;
    if method != hyper::Method::POST || path != format!("/{INDEX}/_bulk") {
        s.violations.push(format!("{method} {path}"));
        return answer(404, "{}".into());
    }
    if auth.as_deref() != Some(&format!("ApiKey {API_KEY}")) {
        return answer(401, "{\"error\":{\"type\":\"security_exception\",\"reason\":\"missing authentication credentials\"},\"status\":401}".into());
    }
    if content_type.as_deref() != Some("application/x-ndjson") {
        s.violations.push(format!("content-type {content_type:?}"));
    }
    if s.busy > 0 {
        s.busy -= 1;
        return answer(503, "{\"error\":\"unavailable\",\"status\":503}".into());
    }
    let text = String::from_utf8_lossy(&body).to_string();
    if !text.ends_with('\n') {
        s.violations
            .push("the body does not end with a newline".into());
    }
    let lines: Vec<&str> = text.lines().collect();
    if !lines.len().is_multiple_of(2) {
        s.violations
            .push(format!("{} lines: not action/document pairs", lines.len()));
        return answer(
            400,
            "{\"error\":{\"type\":\"illegal_argument_exception\"},\"status\":400}".into(),
        );
    }
    let mut items = Vec::new();
    for pair in lines.chunks(2) {
        let (action, doc) = (pair[0], pair[1]);
        let Ok(action) = serde_json::from_str::<Action>(action) else {
            s.violations
                .push(format!("not a create action with an _id: {action}"));
            items.push(serde_json::json!({"create": {"status": 400, "error": {"type": "x"}}}));
            continue;
        };
        let id = action.create.id;
        match serde_json::from_str::<Doc>(doc) {
            Ok(d) if d.uuid == id && d.timestamp == d.published => {
                match event_of(doc, &d.timestamp) {
                    Some(event) => {
                        s.events.entry(id.clone()).or_insert(event);
                    }
                    None => s.violations.push(format!("@timestamp is not first: {doc}")),
                }
            }
            _ => s.violations.push(format!("document of {id}: {doc}")),
        }
        let status = if s.throttle_items > 0 {
            s.throttle_items -= 1;
            s.events.remove(&id);
            429
        } else if s.refuse_once.as_deref() == Some(id.as_str()) {
            s.refuse_once = None;
            s.events.remove(&id);
            400
        } else if s.docs.contains_key(&id) {
            s.conflicts += 1;
            409
        } else {
            s.docs.insert(id.clone(), doc.to_string());
            201
        };
        let error = match status {
            429 => {
                serde_json::json!({"type": "es_rejected_execution_exception", "reason": "rejected execution (queue full)"})
            }
            400 => {
                serde_json::json!({"type": "mapper_parsing_exception", "reason": "failed to parse field [outcome]"})
            }
            409 => {
                serde_json::json!({"type": "version_conflict_engine_exception", "reason": "document already exists"})
            }
            _ => serde_json::Value::Null,
        };
        let mut item = serde_json::json!({"_index": INDEX, "_id": id, "status": status});
        if !error.is_null() {
            item["error"] = error;
        }
        items.push(serde_json::json!({ "create": item }));
    }
    let errors = items.iter().any(|i| i["create"]["status"] != 201);
    answer(
        200,
        serde_json::json!({"took": 1, "errors": errors, "items": items}).to_string(),
    )
}

async fn run_to(fx: &Fixture, es: &Es) -> Output {
    let sink = format!("elasticsearch+https://127.0.0.1:{}/{INDEX}", es.port);
    let ca = es.ca_file.display().to_string();
    tokio::process::Command::new(BIN)
        .arg("--db")
        .arg(fx.db())
        .args(["run", "--once", "--sink", &sink, "--es-ca-file", &ca])
        .args(["--es-api-key-env", "E2E_ES_KEY", "--es-retry-base", "10ms"])
        .args(["--es-batch-events", "400"])
        .args(FAST)
        .env("E2E_ES_KEY", API_KEY)
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_indexed_once_through_throttling_a_refusal_and_a_rerun() {
    let fx = Fixture::with_org(3_000).await;
    let expected = CategorySpec::load().expected(&fx.emulator.committed(), SELECTION);
    // The 700th event's uuid gets a mapping error once: the run fails with it, and the rerun
    // delivers exactly what was left (the events indexed before answer 409).
    let uuid_of = |raw: &str| {
        serde_json::from_str::<serde_json::Value>(raw).unwrap()["uuid"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let refused = uuid_of(&expected[700]);
    let es = Es::start(
        &fx,
        Cluster {
            busy: 1,
            throttle_items: 150,
            refuse_once: Some(refused.clone()),
            ..Cluster::default()
        },
    )
    .await;
    let first = run_to(&fx, &es).await;
    assert!(!first.status.success(), "{}", text(&first));
    let out = text(&first);
    assert!(
        out.contains("mapper_parsing_exception") && out.contains(&refused),
        "{out}"
    );
    assert!(!out.contains(API_KEY), "the key is never shown: {out}");
    let indexed_before = es.state.lock().unwrap().docs.len();
    assert!(
        indexed_before > 0 && indexed_before < expected.len(),
        "{indexed_before}"
    );

    let rerun = run_to(&fx, &es).await;
    assert!(rerun.status.success(), "{}", text(&rerun));
    let s = es.state.lock().unwrap();
    assert!(
        s.violations.is_empty(),
        "{:?}",
        &s.violations[..s.violations.len().min(5)]
    );
    assert_eq!(s.docs.len(), expected.len(), "one document per event");
    let got: Vec<String> = s.events.values().cloned().collect();
    assert_exactly(&got, &expected);
    assert!(
        s.conflicts > 0,
        "the re-sent batch's indexed events answered 409"
    );
    assert_eq!(s.throttle_items, 0);
    assert_eq!(s.busy, 0);
}
