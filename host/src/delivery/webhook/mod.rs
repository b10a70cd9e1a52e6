//! The webhook sink: POSTs batches of events to an HTTPS endpoint as a JSON array of the events exactly as
//! Okta sent them (the outbox `raw` text joined with commas inside `[...]`, never re-serialised).
//!
//! Delivery is **at-least-once**. A batch is acknowledged in the outbox only after the receiver answered
//! 2xx; if the process crashes (or the connection drops) after the receiver accepted a batch and before
//! that acknowledgement is on disk, the batch is sent again. Every batch carries an `Idempotency-Key`
//! derived from the sink id, the batch's first and last outbox sequence numbers and a digest of its body,
//! and delivery records each batch's range before sending it and re-sends exactly that range first after a
//! failure or crash ([`Repair::SameBatch`]), so a re-sent batch carries the same key: a receiver that
//! de-duplicates by that header sees every event exactly once.
//!
//! Roles: [`options`], [`retry`] (classification and back-off), [`batch`] (splitting, bodies, keys).
//!
//! Failures: 5xx, 408, 429 (honouring `Retry-After`), timeouts and connection errors are retried with
//! exponential back-off and jitter, a bounded number of times; then the write fails and the events stay
//! queued (delivery tries again later). Any other 4xx (and 3xx: redirects are not followed, a POST must
//! not silently turn into a GET) is permanent: the write fails at once with the status and the start of
//! the receiver's answer, and the receiver is not asked again for [`PERMANENT_PAUSE`]. The
//! `Authorization` value comes from an environment variable and is never logged or shown.
//!
//! `Sink::write` runs on the delivery thread (a plain thread, never a tokio worker), so this uses
//! reqwest's blocking client, built lazily on that thread on the first write.

mod batch;
mod options;
mod retry;

pub use options::WebhookOptions;
use options::PERMANENT_PAUSE;

use super::sink::{Repair, Sink, SinkError, SinkSetting, SinkStop};
use crate::state::OutboxEvent;
use batch::{batch_body, idempotency_key, split_batches};
use retry::{backoff, classify_error, classify_status, Attempt};
use std::collections::HashSet;
use std::time::Duration;

/// POSTs batches of events to an HTTPS URL (see the module documentation).
pub struct WebhookSink {
    url: reqwest::Url,
    id: String,
    opts: WebhookOptions,
    auth: Option<reqwest::header::HeaderValue>,
    ca: Vec<reqwest::Certificate>,
    client: Option<reqwest::blocking::Client>,
    /// Keys the receiver accepted in this process whose rows may not be acknowledged yet (a write that
    /// failed half-way): not sent twice by the same process.
    accepted: HashSet<String>,
    /// The last permanent rejection and when: the receiver is not asked again for [`PERMANENT_PAUSE`].
    rejected: Option<(String, std::time::Instant)>,
    /// The `Authorization` value and its credential, redacted from anything quoted from the receiver.
    secrets: Vec<String>,
    /// Ends a retry back-off when the host stops.
    stop: SinkStop,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the auth value.
        f.debug_struct("WebhookSink")
            .field("id", &self.id)
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl WebhookSink {
    /// Validates the URL, reads the auth variable and the CA file. No connection is made here.
    pub fn open(url: &str, opts: WebhookOptions) -> Result<WebhookSink, SinkError> {
        let err = |sink: &str, setting: SinkSetting, reason: String| SinkError::Config {
            sink: sink.to_string(),
            setting,
            reason,
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            err(
                "webhook",
                SinkSetting::Destination,
                format!("invalid URL {url:?}: {e}"),
            )
        })?;
        let plain_ok = parsed.scheme() == "http" && is_loopback_host(&parsed);
        if !(parsed.scheme() == "https" || plain_ok) || parsed.host_str().is_none() {
            return Err(err(
                "webhook",
                SinkSetting::Destination,
                "the webhook URL must be https://HOST[:PORT]/PATH (plain http:// only to a collector on this machine: localhost, 127.0.0.1 or [::1])".into(),
            ));
        }
        // The id is stored and logged: no credentials or query string in it.
        let id = format!(
            "webhook:{}://{}{}{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or_default(),
            parsed.port().map(|p| format!(":{p}")).unwrap_or_default(),
            parsed.path()
        );
        let auth = match &opts.auth_env {
            None => None,
            Some(var) => {
                let value = std::env::var(var).map_err(|_| {
                    err(
                        &id,
                        SinkSetting::Authorization,
                        format!("the environment variable {var} (the Authorization value) is not set (or not UTF-8)"),
                    )
                })?;
                if value.trim().is_empty() {
                    return Err(err(
                        &id,
                        SinkSetting::Authorization,
                        format!(
                            "the environment variable {var} (the Authorization value) is empty"
                        ),
                    ));
                }
                let mut v = reqwest::header::HeaderValue::from_str(value.trim()).map_err(|_| {
                    err(
                        &id,
                        SinkSetting::Authorization,
                        format!(
                            "the environment variable {var} (the Authorization value) is not a valid HTTP header value"
                        ),
                    )
                })?;
                v.set_sensitive(true);
                Some(v)
            }
        };
        let secrets = auth
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .map(secret_forms)
            .unwrap_or_default();
        let ca = match &opts.ca_file {
            None => Vec::new(),
            Some(p) => crate::outbound::load_ca_file(p)
                .map_err(|e| err(&id, SinkSetting::CaFile, e.to_string()))?,
        };
        Ok(WebhookSink {
            url: parsed,
            id,
            opts,
            auth,
            ca,
            client: None,
            accepted: HashSet::new(),
            rejected: None,
            secrets,
            stop: SinkStop::default(),
        })
    }

    /// The blocking client, built on the delivery thread at the first write.
    fn client(&mut self) -> Result<&reqwest::blocking::Client, SinkError> {
        let client = match self.client.take() {
            Some(c) => c,
            None => self.build_client()?,
        };
        Ok(self.client.insert(client))
    }

    fn build_client(&self) -> Result<reqwest::blocking::Client, SinkError> {
        let mut b = reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.opts.timeout)
            .connect_timeout(self.opts.timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(crate::USER_AGENT);
        for c in &self.ca {
            b = b.add_root_certificate(c.clone());
        }
        b.build().map_err(|e| SinkError::Config {
            sink: self.id.clone(),
            setting: SinkSetting::Client,
            reason: format!(
                "building the HTTPS client: {}",
                crate::outbound::failure::chain(&e)
            ),
        })
    }

    fn attempt(&mut self, key: &str, body: &[u8]) -> Result<Attempt, SinkError> {
        let url = self.url.clone();
        let auth = self.auth.clone();
        let client = self.client()?;
        let mut req = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", key)
            .body(body.to_vec());
        if let Some(a) = auth {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        Ok(match req.send() {
            Err(e) => classify_error(&e),
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                // Read (a bounded amount of) the answer so the connection can be reused.
                let mut text = Vec::new();
                let _ = std::io::Read::read_to_end(
                    &mut std::io::Read::take(resp, 64 * 1024),
                    &mut text,
                );
                classify_status(
                    status,
                    retry_after.as_deref(),
                    &redact(&String::from_utf8_lossy(&text), &self.secrets),
                )
            }
        })
    }

    /// Sends one batch with bounded retries.
    fn send_batch(&mut self, key: &str, body: &[u8], first: i64) -> Result<(), SinkError> {
        let mut retries = 0;
        loop {
            match self.attempt(key, body)? {
                Attempt::Delivered => return Ok(()),
                Attempt::Permanent(reason) => {
                    let message = format!(
                        "{reason}; not retried (a permanent error: fix the receiver or its configuration); events from {first} on stay queued and are sent again in {} s or by the next run",
                        PERMANENT_PAUSE.as_secs()
                    );
                    self.rejected = Some((message.clone(), std::time::Instant::now()));
                    return Err(SinkError::Receiver {
                        sink: self.id.clone(),
                        message,
                    });
                }
                Attempt::Retry {
                    reason,
                    retry_after,
                } => {
                    if retries >= self.opts.retries {
                        return Err(SinkError::Receiver {
                            sink: self.id.clone(),
                            message: format!(
                                "{reason} (gave up after {} attempts); events stay queued and are delivered when the receiver recovers",
                                retries + 1
                            ),
                        });
                    }
                    retries += 1;
                    let wait = backoff(self.opts.retry_base, retries, retry_after);
                    tracing::warn!(sink = %self.id, %reason, retry = retries, wait = ?wait, "webhook batch failed; retrying");
                    if !self.stop.sleep(wait) {
                        return Err(SinkError::Receiver {
                            sink: self.id.clone(),
                            message: format!(
                                "{reason}; not retried because the host is stopping; events from {first} on stay queued and are sent again at the next start"
                            ),
                        });
                    }
                }
            }
        }
    }
}

/// True for a URL on this machine (`localhost`, 127.0.0.0/8, `[::1]`): the only place events may go
/// unencrypted (a local Vector or Fluent Bit), as they never cross a network.
fn is_loopback_host(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The forms of an `Authorization` value a receiver might quote: the whole value, and the credential
/// after its scheme (`Bearer xyz` -> `xyz`) when that is long enough to be a secret.
fn secret_forms(value: &str) -> Vec<String> {
    let mut forms = vec![value.trim().to_string()];
    if let Some((_, credential)) = value.trim().split_once(' ') {
        let credential = credential.trim();
        if credential.len() >= 6 {
            forms.push(credential.to_string());
        }
    }
    forms.retain(|f| !f.is_empty());
    forms
}

/// `text` with every occurrence of a secret replaced by `***`.
fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        out = out.replace(s.as_str(), "***");
    }
    out
}

impl Sink for WebhookSink {
    fn id(&self) -> String {
        self.id.clone()
    }
    fn repair(&self) -> Repair {
        Repair::SameBatch
    }
    fn batch_hint(&self) -> Option<usize> {
        Some(self.opts.batch_events.max(1))
    }
    fn watch_stop(&mut self, stop: SinkStop) {
        self.stop = stop;
    }
    fn write(&mut self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        if let Some((message, at)) = &self.rejected {
            if at.elapsed() < PERMANENT_PAUSE {
                return Err(SinkError::Receiver {
                    sink: self.id.clone(),
                    message: message.clone(),
                });
            }
            self.rejected = None;
        }
        for range in split_batches(events, self.opts.batch_events, self.opts.batch_bytes) {
            let rows = &events[range];
            let (first, last) = (rows[0].seq, rows[rows.len() - 1].seq);
            let body = batch_body(rows);
            let key = idempotency_key(&self.id, rows[0].stream, first, last, &body);
            if self.accepted.contains(&key) {
                continue;
            }
            self.send_batch(&key, &body, first)?;
            if self.accepted.len() >= 4096 {
                self.accepted.clear();
            }
            self.accepted.insert(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::batch::{batch_body, idempotency_key, split_batches};
    use super::options::MAX_BACKOFF;
    use super::retry::{backoff, classify_error, classify_status, Attempt};
    use super::*;
    use crate::state::Stream;
    use okta_ingest_model::Categories;

    fn rows(raws: &[&str]) -> Vec<OutboxEvent> {
        raws.iter()
            .enumerate()
            .map(|(i, r)| OutboxEvent {
                stream: Stream::Whole,
                seq: 100 + i as i64,
                instance_id: 1,
                event_type: "t".into(),
                categories: Categories::AUTHENTICATION,
                raw: r.to_string(),
            })
            .collect()
    }

    #[test]
    fn batches_respect_the_event_cap() {
        let r = rows(&["{}"; 7]);
        assert_eq!(split_batches(&r, 3, 1 << 20), vec![0..3, 3..6, 6..7]);
        assert_eq!(split_batches(&r, 7, 1 << 20), vec![0..7]);
        assert_eq!(split_batches(&r, 0, 1 << 20).len(), 7);
        assert!(split_batches(&[], 3, 100).is_empty());
    }

    #[test]
    fn batches_respect_the_byte_cap_and_a_huge_event_goes_alone() {
        // Each event is 10 bytes; a body of k events is 2 + 10k + (k-1) bytes.
        let ten = "{\"a\":\"xx\"}";
        assert_eq!(ten.len(), 10);
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(100));
        let r = rows(&[ten, ten, ten, &big, ten, ten]);
        // 2 events = 23 bytes fit in 23; a third would make 34.
        let b = split_batches(&r, 100, 23);
        assert_eq!(b, vec![0..2, 2..3, 3..4, 4..6]);
        for range in &b {
            let body = batch_body(&r[range.clone()]);
            assert!(body.len() <= 23 || range.len() == 1, "{range:?}");
        }
        assert_eq!(
            split_batches(&r, 100, 22),
            vec![0..1, 1..2, 2..3, 3..4, 4..5, 5..6]
        );
    }

    #[test]
    fn the_body_is_a_valid_byte_exact_json_array() {
        let raws = [
            "{\"uuid\":\"a\",\"n\": 1.50}",
            "{\n  \"uuid\": \"b\",\n  \"s\": \"x\\ny\\u00e9\"\n}",
            "{\"uuid\":\"c\",\"o\":{\"z\":1,\"a\":2}}",
        ];
        let r = rows(&raws);
        let body = batch_body(&r);
        assert_eq!(body, format!("[{}]", raws.join(",")).into_bytes());
        let parsed: Vec<Box<serde_json::value::RawValue>> = serde_json::from_slice(&body).unwrap();
        let got: Vec<&str> = parsed.iter().map(|v| v.get()).collect();
        assert_eq!(got, raws);
        assert_eq!(batch_body(&r[..1]), format!("[{}]", raws[0]).into_bytes());
    }

    #[test]
    fn idempotency_keys_are_deterministic_and_distinct() {
        let body = b"[{}]";
        let key = |sink: &str, first, last, body: &[u8]| {
            idempotency_key(sink, Stream::Whole, first, last, body)
        };
        let k = key("webhook:https://h/p", 1, 500, body);
        assert_eq!(k, key("webhook:https://h/p", 1, 500, body));
        assert!(k.starts_with("okta-ingest-1-500-"), "{k}");
        assert_eq!(k.len(), "okta-ingest-1-500-".len() + 32);
        assert_ne!(k, key("webhook:https://h/q", 1, 500, body));
        assert_ne!(k, key("webhook:https://h/p", 1, 499, body));
        assert_ne!(k, key("webhook:https://h/p", 2, 500, body));
        assert_ne!(k, key("webhook:https://h/p", 1, 500, b"[{ }]"));
        // A fleet's shards are streams of their own: the same range in two shards is two batches.
        let s3 = idempotency_key("webhook:https://h/p", Stream::Shard(3), 1, 500, body);
        assert!(s3.starts_with("okta-ingest-s3-1-500-"), "{s3}");
        assert_ne!(s3, k);
        assert_ne!(
            s3,
            idempotency_key("webhook:https://h/p", Stream::Shard(4), 1, 500, body)
        );
        // The key is a valid header value.
        reqwest::header::HeaderValue::from_str(&k).unwrap();
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(classify_status(200, None, ""), Attempt::Delivered);
        assert_eq!(classify_status(204, None, ""), Attempt::Delivered);
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(classify_status(s, None, ""), Attempt::Retry { .. }),
                "{s}"
            );
        }
        assert_eq!(
            classify_status(429, Some("3"), ""),
            Attempt::Retry {
                reason: "HTTP 429".into(),
                retry_after: Some(Duration::from_secs(3))
            }
        );
        assert!(matches!(
            classify_status(503, Some("86400"), ""),
            Attempt::Retry { retry_after: Some(d), .. } if d == MAX_BACKOFF
        ));
        for s in [400, 401, 403, 404, 413, 422] {
            match classify_status(s, None, "{\"error\":\"nope\"}") {
                Attempt::Permanent(m) => {
                    assert!(
                        m.contains(&format!("HTTP {s}")) && m.contains("nope"),
                        "{m}"
                    )
                }
                other => panic!("{s}: {other:?}"),
            }
        }
        assert!(
            matches!(classify_status(302, None, ""), Attempt::Permanent(m) if m.contains("redirect"))
        );
        // Long answers are cut.
        match classify_status(400, None, &"é".repeat(500)) {
            Attempt::Permanent(m) => assert!(m.len() < 300, "{}", m.len()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn connection_errors_are_retryable() {
        // Nothing listens on port 9 of loopback (discard); a refused connection must be retried.
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let e = client.post("https://127.0.0.1:9/hook").send().unwrap_err();
        assert!(matches!(classify_error(&e), Attempt::Retry { .. }), "{e:?}");
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let base = Duration::from_millis(100);
        for n in 1..=5 {
            let exp = base * (1 << (n - 1));
            let d = backoff(base, n, None);
            assert!(d >= exp / 2 && d <= exp, "retry {n}: {d:?}");
        }
        assert!(backoff(base, 40, None) <= MAX_BACKOFF);
        assert_eq!(
            backoff(base, 1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn secrets_are_redacted_in_whatever_form_they_are_quoted() {
        let forms = secret_forms("Bearer s3cret-value");
        assert_eq!(forms, ["Bearer s3cret-value", "s3cret-value"]);
        assert_eq!(
            redact(
                "{\"echo\":\"Bearer s3cret-value\",\"t\":\"s3cret-value\"}",
                &forms
            ),
            "{\"echo\":\"***\",\"t\":\"***\"}"
        );
        assert_eq!(
            secret_forms("Basic ab"),
            ["Basic ab"],
            "too short to redact alone"
        );
    }

    #[test]
    fn open_validates_and_never_shows_the_secret() {
        assert!(WebhookSink::open("http://h/p", WebhookOptions::default()).is_err());
        assert!(WebhookSink::open("http://10.0.0.1:8080/p", WebhookOptions::default()).is_err());
        assert!(
            WebhookSink::open("http://localhost.evil.com/p", WebhookOptions::default()).is_err()
        );
        for local in [
            "http://127.0.0.1:8686/in",
            "http://localhost:8686/in",
            "http://[::1]:8686/in",
        ] {
            let s = WebhookSink::open(local, WebhookOptions::default()).unwrap();
            assert!(s.id().starts_with("webhook:http://"), "{}", s.id());
        }
        assert!(WebhookSink::open("not a url", WebhookOptions::default()).is_err());
        let var = "OKTA_INGEST_WEBHOOK_TEST_UNSET_VAR";
        let e = WebhookSink::open(
            "https://h/p",
            WebhookOptions {
                auth_env: Some(var.into()),
                ..WebhookOptions::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(var) && e.contains("not set"), "{e}");
        let var = "OKTA_INGEST_WEBHOOK_TEST_SET_VAR";
        std::env::set_var(var, "Bearer s3cret-value");
        let s = WebhookSink::open(
            "https://user:pw@h:8443/p?token=q",
            WebhookOptions {
                auth_env: Some(var.into()),
                ..WebhookOptions::default()
            },
        )
        .unwrap();
        assert_eq!(s.id(), "webhook:https://h:8443/p");
        assert!(!format!("{s:?}").contains("s3cret"));
        assert_eq!(s.repair(), Repair::SameBatch);
        assert_eq!(s.batch_hint(), Some(500));
    }
}
