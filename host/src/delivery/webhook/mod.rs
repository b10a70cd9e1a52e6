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
//! Roles: [`options`], [`batch`] (splitting, bodies, keys); requests, retries and secrets are
//! [`super::https`]'s, shared with the Splunk HEC sink.
//!
//! Failures: 5xx, 408, 429 (honouring `Retry-After`), timeouts and connection errors are retried with
//! exponential back-off and jitter, a bounded number of times; then the write fails and the events stay
//! queued (delivery tries again later). Any other 4xx (and 3xx: redirects are not followed, a POST must
//! not silently turn into a GET) is permanent: the write fails at once with the status and the start of
//! the receiver's answer, and the receiver is not asked again for a minute. The
//! `Authorization` value comes from an environment variable and is never logged or shown.

mod batch;
mod options;

pub use options::WebhookOptions;

use super::https::{destination, secret_from_env, HttpsPoster, HttpsSettings};
use super::sink::{Repair, Sink, SinkError, SinkStop};
use crate::state::OutboxEvent;
use batch::{batch_body, idempotency_key, split_batches};
use reqwest::header::{HeaderName, HeaderValue};
use std::collections::HashSet;

/// POSTs batches of events to an HTTPS URL (see the module documentation).
pub struct WebhookSink {
    url: reqwest::Url,
    id: String,
    opts: WebhookOptions,
    auth: Option<HeaderValue>,
    poster: HttpsPoster,
    /// Keys the receiver accepted in this process whose rows may not be acknowledged yet (a write that
    /// failed half-way): not sent twice by the same process.
    accepted: HashSet<String>,
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
        let (url, id) = destination(
            "webhook",
            url,
            "the webhook URL must be https://HOST[:PORT]/PATH",
        )?;
        let auth = match &opts.auth_env {
            None => None,
            Some(var) => Some(secret_from_env(&id, var, "the Authorization value", "")?),
        };
        let poster = HttpsPoster::new(
            &id,
            "webhook",
            HttpsSettings {
                ca_file: opts.ca_file.clone(),
                timeout: opts.timeout,
                retries: opts.retries,
                retry_base: opts.retry_base,
                max_answer_bytes: super::https::SMALL_ANSWER,
            },
            &auth.iter().collect::<Vec<_>>(),
        )?;
        Ok(WebhookSink {
            url,
            id,
            opts,
            auth,
            poster,
            accepted: HashSet::new(),
        })
    }
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
        self.poster.watch_stop(stop);
    }
    fn write(&mut self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        self.poster.check_paused()?;
        for range in split_batches(events, self.opts.batch_events, self.opts.batch_bytes) {
            let rows = &events[range];
            let (first, last) = (rows[0].seq, rows[rows.len() - 1].seq);
            let body = batch_body(rows);
            let key = idempotency_key(&self.id, rows[0].stream, first, last, &body);
            if self.accepted.contains(&key) {
                continue;
            }
            let mut headers = vec![
                (
                    reqwest::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (
                    HeaderName::from_static("idempotency-key"),
                    HeaderValue::from_str(&key).map_err(|_| {
                        self.poster
                            .receiver_error(format!("the batch key {key:?} is not a header value"))
                    })?,
                ),
            ];
            if let Some(a) = &self.auth {
                headers.push((reqwest::header::AUTHORIZATION, a.clone()));
            }
            self.poster.post(&self.url, &headers, &body, first)?;
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
        HeaderValue::from_str(&k).unwrap();
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
