//! A scripted [`Env`] for unit tests: canned responses in order, recorded requests and commits,
//! and a fake clock that `sleep_ms` advances.

use crate::env::{DpopNonce, Env, HttpError, HttpErrorKind, HttpRequest, HttpResponse, ProofKey};
use crate::types::{Event, LogLevel};
use std::collections::VecDeque;

/// Scripted environment.
pub struct FakeEnv {
    pub now: u64,
    pub responses: VecDeque<Result<HttpResponse, HttpError>>,
    pub requests: Vec<HttpRequest>,
    pub sleeps: Vec<u64>,
    pub commits: Vec<(Vec<Event>, Vec<u8>)>,
    pub fail_commit: bool,
    pub sign_result: Result<String, String>,
    pub signed: Vec<String>,
    pub logs: Vec<(LogLevel, String)>,
    /// Requests announced with `prefetch` (the fake still answers in script order).
    pub prefetched: Vec<HttpRequest>,
    /// DPoP proofs' signing inputs, in order.
    pub proofs_signed: Vec<String>,
    /// The org's nonce as the host keeps it.
    pub nonce: Option<DpopNonce>,
    /// Every nonce handed to the host.
    pub kept_nonces: Vec<String>,
    counter: u8,
}

impl FakeEnv {
    pub fn new(now: u64) -> Self {
        FakeEnv {
            now,
            responses: VecDeque::new(),
            requests: Vec::new(),
            sleeps: Vec::new(),
            commits: Vec::new(),
            fail_commit: false,
            sign_result: Ok("c2lnbmF0dXJl".into()),
            signed: Vec::new(),
            logs: Vec::new(),
            prefetched: Vec::new(),
            proofs_signed: Vec::new(),
            nonce: None,
            kept_nonces: Vec::new(),
            counter: 0,
        }
    }
    pub fn push(&mut self, r: HttpResponse) -> &mut Self {
        self.responses.push_back(Ok(r));
        self
    }
    pub fn push_err(&mut self, kind: HttpErrorKind, msg: &str) -> &mut Self {
        self.responses.push_back(Err(HttpError {
            kind,
            message: msg.into(),
        }));
        self
    }
}

impl Env for FakeEnv {
    fn prefetch(&mut self, req: HttpRequest) {
        self.prefetched.push(req);
    }

    fn now_ms(&self) -> u64 {
        self.now
    }
    fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        // Distinct per call so tests can see every assertion gets a fresh jti.
        self.counter = self.counter.wrapping_add(1);
        vec![self.counter; n]
    }
    fn sleep_ms(&mut self, ms: u64) {
        self.sleeps.push(ms);
        self.now += ms;
    }
    fn http(&mut self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        self.requests.push(req);
        self.now += 10; // every request takes a little time
        self.responses.pop_front().unwrap_or_else(|| {
            Err(HttpError {
                kind: HttpErrorKind::Network,
                message: "no scripted response".into(),
            })
        })
    }
    fn sign(&mut self, signing_input: &str) -> Result<String, String> {
        self.signed.push(signing_input.to_string());
        self.sign_result.clone()
    }
    fn dpop_key(&mut self) -> Result<ProofKey, String> {
        Ok(ProofKey {
            alg: "ES256".into(),
            jwk: r#"{"kty":"EC","crv":"P-256","x":"eA","y":"eQ"}"#.into(),
        })
    }
    fn sign_dpop(&mut self, signing_input: &str) -> Result<String, String> {
        self.proofs_signed.push(signing_input.to_string());
        Ok("cHJvb2Y".into())
    }
    fn dpop_nonce(&mut self) -> Option<DpopNonce> {
        self.nonce.clone()
    }
    fn keep_dpop_nonce(&mut self, value: &str) {
        self.kept_nonces.push(value.to_string());
        self.nonce = Some(DpopNonce {
            value: value.to_string(),
            received_ms: self.now,
        });
    }
    fn commit_page(&mut self, events: Vec<Event>, state: Vec<u8>) -> Result<(), String> {
        if self.fail_commit {
            return Err("disk full".into());
        }
        self.commits.push((events, state));
        Ok(())
    }
    fn log(&mut self, level: LogLevel, msg: &str) {
        self.logs.push((level, msg.to_string()));
    }
}
