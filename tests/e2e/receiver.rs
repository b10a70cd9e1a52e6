//! A local HTTPS webhook receiver that misbehaves on purpose (a script of answers), recording every
//! request: the webhook sink's tests and the fleet's chaos test post to it.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

#[derive(Debug, Clone, Copy)]
pub enum Action {
    Status(u16),
    /// Read the whole body, then close the connection without answering.
    Drop,
    /// Read the whole body, then never answer (the sender is killed meanwhile).
    Hang,
    /// Answer 401 with the request's `Authorization` header in the body (as some gateways do).
    EchoAuth,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub key: Option<String>,
    pub auth: Option<String>,
    pub content_type: Option<String>,
    pub body: Bytes,
    /// 0: dropped without an answer.
    pub status: u16,
}

#[derive(Default)]
struct ReceiverState {
    script: VecDeque<Action>,
    then: u16,
    log: Vec<Received>,
}

pub struct Receiver {
    pub port: u16,
    pub ca_file: PathBuf,
    state: Arc<Mutex<ReceiverState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub async fn start(dir: &Path, name: &str, script: &[Action], then: u16) -> Receiver {
        let (ca_pem, config) = tls_config();
        let ca_file = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&ca_file, ca_pem).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(ReceiverState {
            script: script.iter().copied().collect(),
            then,
            log: vec![],
        }));
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(connection(tcp, acceptor.clone(), st.clone()));
            }
        });
        Receiver {
            port,
            ca_file,
            state,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/hook", self.port)
    }

    pub fn log(&self) -> Vec<Received> {
        self.state.lock().unwrap().log.clone()
    }
}

async fn connection(
    tcp: tokio::net::TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    state: Arc<Mutex<ReceiverState>>,
) {
    let Ok(tls) = acceptor.accept(tcp).await else {
        return;
    };
    let kill = Arc::new(Notify::new());
    let kill_svc = kill.clone();
    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
        let state = state.clone();
        let kill = kill_svc.clone();
        async move {
            let header = |n: &str| {
                req.headers()
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let (key, auth, content_type) = (
                header("idempotency-key"),
                header("authorization"),
                header("content-type"),
            );
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let echoed = format!(
                "{{\"error\":\"bad token\",\"echo\":{:?}}}",
                auth.clone().unwrap_or_default()
            );
            let action = {
                let mut s = state.lock().unwrap();
                let a = s.script.pop_front().unwrap_or(Action::Status(s.then));
                s.log.push(Received {
                    key,
                    auth,
                    content_type,
                    body,
                    status: match a {
                        Action::Status(c) => c,
                        Action::EchoAuth => 401,
                        Action::Drop | Action::Hang => 0,
                    },
                });
                a
            };
            match action {
                Action::Hang => {
                    std::future::pending::<()>().await;
                    unreachable!()
                }
                Action::Drop => {
                    kill.notify_one();
                    std::future::pending::<()>().await;
                    unreachable!()
                }
                Action::EchoAuth => Ok::<_, Infallible>(
                    Response::builder()
                        .status(401)
                        .body(Full::new(Bytes::from(echoed)))
                        .unwrap(),
                ),
                Action::Status(code) => {
                    let mut r = Response::builder().status(code);
                    if code == 429 {
                        r = r.header("Retry-After", "0");
                    }
                    let text = if code == 400 {
                        "{\"error\":\"schema mismatch: field x is required\"}"
                    } else {
                        "{}"
                    };
                    Ok::<_, Infallible>(r.body(Full::new(Bytes::from(text))).unwrap())
                }
            }
        }
    });
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), svc);
    tokio::select! {
        _ = conn => {}
        _ = kill.notified() => {}
    }
}

/// A fresh test PKI: a CA, a server certificate for 127.0.0.1 / localhost and a client certificate
/// (for mutual TLS), all PEM.
pub struct TestPki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

/// A fresh CA and server certificate (see [`TestPki`]).
pub fn test_pki() -> TestPki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose, SanType,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "webhook receiver test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::V4(
            std::net::Ipv4Addr::LOCALHOST,
        )));
    leaf.distinguished_name
        .push(DnType::CommonName, "webhook receiver");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client = CertificateParams::new(vec!["okta-ingest.test".to_string()]).unwrap();
    client
        .distinguished_name
        .push(DnType::CommonName, "okta-ingest.test");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client.signed_by(&client_key, &ca_cert, &ca_key).unwrap();
    TestPki {
        ca_pem: ca_cert.pem(),
        cert_pem: leaf_cert.pem(),
        key_pem: key.serialize_pem(),
        client_cert_pem: client_cert.pem(),
        client_key_pem: client_key.serialize_pem(),
    }
}

/// A fresh CA (returned as PEM) and a server certificate for 127.0.0.1 / localhost.
pub fn tls_config() -> (String, Arc<rustls::ServerConfig>) {
    let pki = test_pki();
    let cert = rustls_pemfile::certs(&mut pki.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls_pemfile::private_key(&mut pki.key_pem.as_bytes())
        .unwrap()
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(cert, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (pki.ca_pem, Arc::new(config))
}

/// The events of a body, byte for byte as they appear in it.
pub fn elements(body: &[u8]) -> Vec<String> {
    let v: Vec<Box<serde_json::value::RawValue>> =
        serde_json::from_slice(body).expect("the body is a JSON array");
    v.iter().map(|e| e.get().to_string()).collect()
}

/// One body per Idempotency-Key among the accepted (2xx) requests, as a receiver de-duplicating by key
/// would process them; asserts that every request with a key carried the same body.
pub fn deduplicated(log: &[Received]) -> Vec<String> {
    let mut bodies: HashMap<&str, &Bytes> = HashMap::new();
    for r in log {
        let key = r
            .key
            .as_deref()
            .expect("every request has an Idempotency-Key");
        if let Some(b) = bodies.insert(key, &r.body) {
            assert_eq!(b, &r.body, "two different bodies under the key {key}");
        }
    }
    let mut seen = std::collections::HashSet::new();
    log.iter()
        .filter(|r| (200..300).contains(&r.status))
        .filter(|r| seen.insert(r.key.clone()))
        .flat_map(|r| elements(&r.body))
        .collect()
}
