//! The Splunk HTTP Event Collector sink: POSTs batches to `/services/collector/event`, each event in an
//! envelope with `time` taken from Okta's `published`, `sourcetype` `OktaIM2:log` (what the Splunk
//! Add-on for Okta Identity Cloud expects) and optional `index`, `source` and `host`; the event itself is
//! the outbox text byte for byte. The token comes from an environment variable and is sent as
//! `Authorization: Splunk TOKEN`; it is never logged.
//!
//! Delivery is **at least once**. HEC has no de-duplication, so this sink never sends a batch again
//! that the collector accepted in this process. Without indexer acknowledgement a 200 only means the
//! collector found the data valid. With it ([`SplunkHecOptions::ack`]) every request carries the sink's
//! `X-Splunk-Request-Channel`, the answer's `ackId` is queried at `/services/collector/ack`, and a batch
//! counts as delivered (leaves the outbox) only once it is reported indexed. A batch not acknowledged
//! within the timeout stays queued and is sent again, so it can appear twice if it was indexed late; so
//! can a batch accepted just before a crash. Every event carries Okta's `uuid`, which a search can
//! de-duplicate by.
//!
//! Failures are classified as for the webhook ([`super::https`]): 5xx (HEC's "server busy"), 408, 429
//! and transport errors are retried with back-off; other 4xx (a bad token, "invalid data format") fail
//! the write at once and pause the sink for a minute.

mod envelope;
mod options;

pub use options::{SplunkHecOptions, DEFAULT_TOKEN_ENV};

use super::https::{config_error, destination, secret_from_env, HttpsPoster, HttpsSettings};
use super::sink::{Repair, Sink, SinkError, SinkSetting, SinkStop};
use crate::state::{OutboxEvent, Stream};
use reqwest::header::{HeaderName, HeaderValue};
use std::collections::HashSet;
use std::time::Instant;

const EVENT_PATH: &str = "/services/collector/event";
const ACK_PATH: &str = "/services/collector/ack";

/// POSTs batches of events to a Splunk HTTP Event Collector (see the module documentation).
pub struct SplunkHecSink {
    event_url: reqwest::Url,
    ack_url: reqwest::Url,
    id: String,
    opts: SplunkHecOptions,
    /// `Splunk TOKEN`, sensitive.
    token: HeaderValue,
    /// This process's `X-Splunk-Request-Channel` (a random GUID), when acknowledgement is on.
    channel: Option<HeaderValue>,
    /// The envelopes' metadata members, escaped once.
    metadata: String,
    poster: HttpsPoster,
    /// Batches (stream, first, last) the collector accepted (and, with acknowledgement, indexed) in this
    /// process whose rows may not be acknowledged in the outbox yet: never sent twice by this process.
    delivered: HashSet<(Stream, i64, i64)>,
}

impl std::fmt::Debug for SplunkHecSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("SplunkHecSink")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .field("ack", &self.opts.ack)
            .finish_non_exhaustive()
    }
}

impl SplunkHecSink {
    /// `url`: the collector, `https://HOST:8088` (the path `/services/collector/event` is added when it is
    /// not given). Reads the token variable and the CA file; no connection is made here.
    pub fn open(url: &str, opts: SplunkHecOptions) -> Result<SplunkHecSink, SinkError> {
        let form = "the Splunk HEC URL must be https://HOST[:PORT], optionally with the path /services/collector/event";
        let (mut base, _) = destination("splunk-hec", url, form)?;
        let path = base.path().trim_end_matches('/').to_string();
        let event_path = match path.as_str() {
            "" => EVENT_PATH.to_string(),
            p if p.ends_with("/services/collector") => format!("{p}/event"),
            p if p.ends_with(EVENT_PATH) => p.to_string(),
            other => {
                return Err(config_error(
                    "splunk-hec",
                    SinkSetting::Destination,
                    format!("{form} (not {other:?}: only the event endpoint takes envelopes)"),
                ))
            }
        };
        base.set_query(None);
        base.set_fragment(None);
        let mut event_url = base.clone();
        event_url.set_path(&event_path);
        let mut ack_url = base;
        ack_url.set_path(&format!(
            "{}{ACK_PATH}",
            &event_path[..event_path.len() - EVENT_PATH.len()]
        ));
        let (_, id) = destination("splunk-hec", event_url.as_str(), form)?;
        let token = secret_from_env(&id, &opts.token_env, "the HEC token", "Splunk ")?;
        let channel = opts.ack.then(|| {
            // A `String` of hex digits and dashes is always a header value.
            HeaderValue::from_str(&random_guid()).unwrap_or(HeaderValue::from_static("0"))
        });
        let poster = HttpsPoster::new(
            &id,
            "Splunk HEC",
            HttpsSettings {
                ca_file: opts.ca_file.clone(),
                timeout: opts.timeout,
                retries: opts.retries,
                retry_base: opts.retry_base,
                max_answer_bytes: super::https::SMALL_ANSWER,
            },
            &[&token],
        )?;
        Ok(SplunkHecSink {
            event_url,
            ack_url,
            id,
            metadata: envelope::metadata(&opts),
            opts,
            token,
            channel,
            poster,
            delivered: HashSet::new(),
        })
    }

    fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut h = vec![
            (reqwest::header::AUTHORIZATION, self.token.clone()),
            (
                reqwest::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
        ];
        if let Some(c) = &self.channel {
            h.push((
                HeaderName::from_static("x-splunk-request-channel"),
                c.clone(),
            ));
        }
        h
    }

    /// Queries `/services/collector/ack` until every batch in `pending` (ack id, batch) is reported
    /// indexed, or the timeout passes.
    fn await_acks(&mut self, mut pending: Vec<(u64, (Stream, i64, i64))>) -> Result<(), SinkError> {
        let started = Instant::now();
        let headers = self.headers();
        while !pending.is_empty() {
            if !self.poster.sleep(self.opts.ack_poll) {
                return Err(self.poster.receiver_error(format!(
                    "{} batch(es) sent but not yet acknowledged when the host stopped; they stay queued and are sent again at the next start (they appear twice if they were indexed meanwhile)",
                    pending.len()
                )));
            }
            let ids: Vec<u64> = pending.iter().map(|(id, _)| *id).collect();
            let body = serde_json::json!({ "acks": ids }).to_string();
            let first = pending.iter().map(|(_, b)| b.1).min().unwrap_or(0);
            let answer = self
                .poster
                .post(&self.ack_url, &headers, body.as_bytes(), first)?;
            let Some(done) = envelope::indexed(&answer) else {
                return Err(self.poster.receiver_error(format!(
                    "the acknowledgement endpoint answered {:?}, not {{\"acks\":{{…}}}}; events stay queued",
                    answer.chars().take(200).collect::<String>()
                )));
            };
            pending.retain(|(id, batch)| {
                if done.contains(id) {
                    self.delivered.insert(*batch);
                    false
                } else {
                    true
                }
            });
            if !pending.is_empty() && started.elapsed() >= self.opts.ack_timeout {
                return Err(self.poster.receiver_error(format!(
                    "{} batch(es) not acknowledged as indexed within {:?}; they stay queued and are sent again (they appear twice if they were indexed late)",
                    pending.len(),
                    self.opts.ack_timeout
                )));
            }
        }
        Ok(())
    }
}

/// A random GUID (version 4 layout) for the request channel.
fn random_guid() -> String {
    use rand::Rng;
    let b: [u8; 16] = rand::thread_rng().gen();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

impl Sink for SplunkHecSink {
    fn id(&self) -> String {
        self.id.clone()
    }
    fn repair(&self) -> Repair {
        Repair::None
    }
    fn batch_hint(&self) -> Option<usize> {
        Some(self.opts.batch_events.max(1))
    }
    fn watch_stop(&mut self, stop: SinkStop) {
        self.poster.watch_stop(stop);
    }
    fn write(&mut self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        self.poster.check_paused()?;
        let envelopes = envelope::envelopes(events, &self.metadata);
        let headers = self.headers();
        let mut pending = Vec::new();
        for range in
            super::batches::split(&envelopes, self.opts.batch_events, self.opts.batch_bytes)
        {
            let rows = &events[range.clone()];
            let batch = (rows[0].stream, rows[0].seq, rows[rows.len() - 1].seq);
            if self.delivered.contains(&batch) {
                continue;
            }
            let body = envelopes[range].concat();
            let answer = self
                .poster
                .post(&self.event_url, &headers, &body, batch.1)?;
            if !self.opts.ack {
                self.delivered.insert(batch);
                continue;
            }
            let Some(id) = envelope::ack_id(&answer) else {
                return Err(self.poster.receiver_error(format!(
                    "the collector accepted the batch but returned no ackId ({:?}): indexer acknowledgement is not enabled for this token; enable it, or turn acknowledgement off for this sink; events from {} on stay queued",
                    answer.chars().take(200).collect::<String>(),
                    batch.1
                )));
            };
            pending.push((id, batch));
        }
        if !pending.is_empty() {
            self.await_acks(pending)?;
        }
        if self.delivered.len() >= 4096 {
            self.delivered.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(url: &str, opts: SplunkHecOptions) -> Result<SplunkHecSink, SinkError> {
        std::env::set_var("OKTA_INGEST_HEC_TEST_TOKEN", "hec-t0ken-value");
        SplunkHecSink::open(
            url,
            SplunkHecOptions {
                token_env: "OKTA_INGEST_HEC_TEST_TOKEN".into(),
                ..opts
            },
        )
    }

    #[test]
    fn the_url_gets_the_event_and_ack_paths() {
        for (url, event, ack) in [
            (
                "https://splunk:8088",
                "https://splunk:8088/services/collector/event",
                "https://splunk:8088/services/collector/ack",
            ),
            (
                "https://splunk:8088/services/collector",
                "https://splunk:8088/services/collector/event",
                "https://splunk:8088/services/collector/ack",
            ),
            (
                "https://http-inputs-acme.splunkcloud.com/services/collector/event?x=1",
                "https://http-inputs-acme.splunkcloud.com/services/collector/event",
                "https://http-inputs-acme.splunkcloud.com/services/collector/ack",
            ),
        ] {
            let s = open(url, SplunkHecOptions::default()).unwrap();
            assert_eq!(s.event_url.as_str(), event);
            assert_eq!(s.ack_url.as_str(), ack);
            assert_eq!(s.id(), format!("splunk-hec:{event}"));
        }
        let e = open(
            "https://splunk:8088/services/collector/raw",
            SplunkHecOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("event endpoint"), "{e}");
        assert!(open("http://splunk:8088", SplunkHecOptions::default()).is_err());
    }

    #[test]
    fn the_token_is_required_and_never_shown() {
        let e = SplunkHecSink::open(
            "https://splunk:8088",
            SplunkHecOptions {
                token_env: "OKTA_INGEST_HEC_TEST_UNSET".into(),
                ..SplunkHecOptions::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("OKTA_INGEST_HEC_TEST_UNSET") && e.contains("not set"),
            "{e}"
        );
        let s = open("https://splunk:8088", SplunkHecOptions::default()).unwrap();
        assert!(!format!("{s:?}").contains("t0ken"));
        let h = s.headers();
        assert_eq!(h[0].1.to_str().unwrap(), "Splunk hec-t0ken-value");
        assert!(h[0].1.is_sensitive());
        assert!(s.channel.is_none(), "a channel only with acknowledgement");
        let with_ack = open(
            "https://splunk:8088",
            SplunkHecOptions {
                ack: true,
                ..SplunkHecOptions::default()
            },
        )
        .unwrap();
        let channel = with_ack.channel.clone().unwrap();
        let channel = channel.to_str().unwrap();
        assert_eq!(channel.len(), 36, "{channel}");
        assert_eq!(channel.matches('-').count(), 4, "{channel}");
        assert_eq!(with_ack.repair(), Repair::None);
    }
}
