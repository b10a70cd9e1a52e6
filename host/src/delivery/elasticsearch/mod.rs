//! The Elasticsearch / OpenSearch `_bulk` sink: POSTs NDJSON `create` actions to `/TARGET/_bulk`, each
//! with `_id` = the event's Okta `uuid`, so a repeat is a harmless 409 ("already exists") and the
//! index (within one backing index of a data stream) holds every event once. The document is the
//! event's members byte for byte after an added `@timestamp` (its `published`), or, for Elastic's Okta
//! integration, `{"@timestamp", "message": the event as a string}` ([`BulkDocument`]).
//!
//! Every item's result is read: 201 and 409 count as indexed; items refused for now (429, 5xx) are sent
//! again alone, with back-off; an item refused for good (a mapping error) fails the write with its
//! reason and keeps the batch queued, and when it is sent again the indexed items answer 409, so
//! exactly the refused events remain to be delivered. Request-level failures are classified as for the
//! webhook ([`super::https`]). Credentials come from the environment and are never logged.
//!
//! Limits: de-duplication by `_id` holds within one index; after a data stream rolls over to a new
//! backing index the same `_id` could be written again (Elasticsearch's own limitation).

mod bulk;
mod options;

pub use options::{BulkAuth, BulkDocument, BulkOptions};

use super::https::{config_error, destination, secret_from_env, HttpsPoster, HttpsSettings};
use super::sink::{Repair, Sink, SinkError, SinkSetting, SinkStop};
use crate::state::OutboxEvent;
use base64::Engine;
use bulk::ItemOutcome;
use reqwest::header::{HeaderName, HeaderValue};

/// Writes events into an Elasticsearch or OpenSearch index or data stream (see the module
/// documentation).
pub struct ElasticsearchSink {
    bulk_url: reqwest::Url,
    id: String,
    opts: BulkOptions,
    auth: Option<HeaderValue>,
    poster: HttpsPoster,
}

impl std::fmt::Debug for ElasticsearchSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials.
        f.debug_struct("ElasticsearchSink")
            .field("id", &self.id)
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl ElasticsearchSink {
    /// `url`: `https://HOST:9200/INDEX_OR_DATA_STREAM`. Reads the credentials and the CA file; no
    /// connection is made here.
    pub fn open(url: &str, opts: BulkOptions) -> Result<ElasticsearchSink, SinkError> {
        let form = "the Elasticsearch URL must be https://HOST[:PORT]/INDEX_OR_DATA_STREAM";
        let (mut base, _) = destination("elasticsearch", url, form)?;
        let target = base.path().trim_matches('/').to_string();
        // Index names: lowercase, no `/ \ * ? " < > | , #`, not starting with `-`, `_` or `+`.
        let valid = !target.is_empty()
            && !target.contains(['/', '\\', '*', '?', '"', '<', '>', '|', ',', '#', ' '])
            && !target.starts_with(['-', '_', '+'])
            && target == target.to_lowercase();
        if !valid {
            return Err(config_error(
                "elasticsearch",
                SinkSetting::Destination,
                format!("{form}: {target:?} is not an index or data stream name (lowercase, one path segment, not starting with -, _ or +)"),
            ));
        }
        base.set_query(None);
        base.set_fragment(None);
        base.set_path(&format!("/{target}/_bulk"));
        let (mut bulk_url, id) = destination("elasticsearch", base.as_str(), form)?;
        // Only what is read comes back: each item's status and error.
        bulk_url.set_query(Some(
            "filter_path=errors,items.*.status,items.*.error.type,items.*.error.reason",
        ));
        let auth = match &opts.auth {
            BulkAuth::None => None,
            BulkAuth::ApiKeyEnv(var) => Some(secret_from_env(
                &id,
                var,
                "the Elasticsearch API key",
                "ApiKey ",
            )?),
            BulkAuth::BasicEnv(var) => {
                let pair = secret_from_env(&id, var, "USER:PASSWORD", "")?;
                let pair = pair.to_str().unwrap_or_default();
                if !pair.contains(':') {
                    return Err(config_error(
                        &id,
                        SinkSetting::Authorization,
                        format!("the environment variable {var} must hold USER:PASSWORD"),
                    ));
                }
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                let mut v = HeaderValue::from_str(&format!("Basic {encoded}")).map_err(|_| {
                    config_error(
                        &id,
                        SinkSetting::Authorization,
                        format!("the environment variable {var} is not a valid credential"),
                    )
                })?;
                v.set_sensitive(true);
                Some(v)
            }
        };
        let poster = HttpsPoster::new(
            &id,
            "Elasticsearch",
            HttpsSettings {
                ca_file: opts.ca_file.clone(),
                timeout: opts.timeout,
                retries: opts.retries,
                retry_base: opts.retry_base,
                // One result per item (filtered to its status and error), plus room.
                max_answer_bytes: super::https::SMALL_ANSWER + 1024 * opts.batch_events as u64,
            },
            &auth.iter().collect::<Vec<_>>(),
        )?;
        Ok(ElasticsearchSink {
            bulk_url,
            id,
            opts,
            auth,
            poster,
        })
    }

    fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut h = vec![(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        )];
        if let Some(a) = &self.auth {
            h.push((reqwest::header::AUTHORIZATION, a.clone()));
        }
        h
    }

    /// Sends `items` (indexes into `events` and their NDJSON lines) until each is indexed, retrying the
    /// ones refused for now.
    fn send(
        &mut self,
        events: &[OutboxEvent],
        mut items: Vec<(usize, Vec<u8>)>,
    ) -> Result<(), SinkError> {
        let headers = self.headers();
        let mut round = 0;
        while !items.is_empty() {
            let body: Vec<u8> = items.iter().flat_map(|(_, l)| l.iter().copied()).collect();
            let first = events[items[0].0].seq;
            let answer = self.poster.post(&self.bulk_url, &headers, &body, first)?;
            let Some(outcomes) = bulk::outcomes(&answer).filter(|o| o.len() == items.len()) else {
                return Err(self.poster.receiver_error(format!(
                    "the answer is not a _bulk answer with one result per item ({:?}); events from {first} on stay queued",
                    answer.chars().take(200).collect::<String>()
                )));
            };
            let mut again = Vec::new();
            let mut last_reason = String::new();
            for ((i, lines), outcome) in items.into_iter().zip(outcomes) {
                match outcome {
                    ItemOutcome::Indexed => {}
                    ItemOutcome::Retry(why) => {
                        last_reason = why;
                        again.push((i, lines));
                    }
                    ItemOutcome::Refused(why) => {
                        return Err(self.poster.receiver_error(format!(
                            "the cluster refused the event at {} ({}): {why}; not retried (fix the mapping or the target); the batch stays queued, and its events already indexed answer 409 when it is sent again",
                            events[i].seq,
                            event_uuid(&events[i].raw)
                        )));
                    }
                }
            }
            items = again;
            if items.is_empty() {
                break;
            }
            round += 1;
            if round > self.opts.retries {
                return Err(self.poster.receiver_error(format!(
                    "{} event(s) still refused for now after {round} attempts ({last_reason}); they stay queued and are delivered when the cluster recovers",
                    items.len()
                )));
            }
            let wait = super::https::retry::backoff(self.opts.retry_base, round, None);
            tracing::warn!(sink = %self.id, reason = %last_reason, items = items.len(), wait = ?wait, "Elasticsearch items refused for now; retrying them");
            if !self.poster.sleep(wait) {
                return Err(self.poster.receiver_error(format!(
                    "{} event(s) not indexed yet when the host stopped; they stay queued",
                    items.len()
                )));
            }
        }
        Ok(())
    }
}

/// The event's `uuid` for messages (`?` when it has none).
fn event_uuid(raw: &str) -> String {
    #[derive(serde::Deserialize)]
    struct U {
        uuid: Option<String>,
    }
    serde_json::from_str::<U>(raw)
        .ok()
        .and_then(|u| u.uuid)
        .unwrap_or_else(|| "?".into())
}

impl Sink for ElasticsearchSink {
    fn id(&self) -> String {
        self.id.clone()
    }
    fn repair(&self) -> Repair {
        // A re-sent batch is harmless: every item already indexed answers 409.
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
        let mut batch = Vec::new();
        let mut size = 0;
        for (i, e) in events.iter().enumerate() {
            let Some(lines) = bulk::item(&e.raw, self.opts.document) else {
                return Err(self.poster.receiver_error(format!(
                    "the event at {} is not a JSON object; it stays queued",
                    e.seq
                )));
            };
            if !batch.is_empty()
                && (batch.len() >= self.opts.batch_events
                    || size + lines.len() > self.opts.batch_bytes)
            {
                self.send(events, std::mem::take(&mut batch))?;
                size = 0;
            }
            size += lines.len();
            batch.push((i, lines));
        }
        if !batch.is_empty() {
            self.send(events, batch)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_names_one_index_or_data_stream() {
        let s = ElasticsearchSink::open(
            "https://es:9200/logs-okta.system-default",
            BulkOptions::default(),
        )
        .unwrap();
        assert_eq!(
            s.bulk_url.as_str(),
            "https://es:9200/logs-okta.system-default/_bulk?filter_path=errors,items.*.status,items.*.error.type,items.*.error.reason"
        );
        assert_eq!(
            s.id(),
            "elasticsearch:https://es:9200/logs-okta.system-default/_bulk"
        );
        for bad in [
            "https://es:9200",
            "https://es:9200/",
            "https://es:9200/a/b",
            "https://es:9200/Okta",
            "https://es:9200/_all",
            "http://es:9200/okta",
        ] {
            assert!(
                ElasticsearchSink::open(bad, BulkOptions::default()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn credentials_come_from_the_environment_and_are_never_shown() {
        std::env::set_var("OKTA_INGEST_ES_TEST_KEY", "a2V5LWlkOmtleS1zZWNyZXQ=");
        let s = ElasticsearchSink::open(
            "https://es:9200/okta",
            BulkOptions {
                auth: BulkAuth::ApiKeyEnv("OKTA_INGEST_ES_TEST_KEY".into()),
                ..BulkOptions::default()
            },
        )
        .unwrap();
        assert_eq!(
            s.headers()[1].1.to_str().unwrap(),
            "ApiKey a2V5LWlkOmtleS1zZWNyZXQ="
        );
        assert!(!format!("{s:?}").contains("a2V5"));
        std::env::set_var("OKTA_INGEST_ES_TEST_BASIC", "elastic:pw-123");
        let s = ElasticsearchSink::open(
            "https://es:9200/okta",
            BulkOptions {
                auth: BulkAuth::BasicEnv("OKTA_INGEST_ES_TEST_BASIC".into()),
                ..BulkOptions::default()
            },
        )
        .unwrap();
        assert_eq!(
            s.headers()[1].1.to_str().unwrap(),
            "Basic ZWxhc3RpYzpwdy0xMjM="
        );
        std::env::set_var("OKTA_INGEST_ES_TEST_NOCOLON", "justone");
        let e = ElasticsearchSink::open(
            "https://es:9200/okta",
            BulkOptions {
                auth: BulkAuth::BasicEnv("OKTA_INGEST_ES_TEST_NOCOLON".into()),
                ..BulkOptions::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("USER:PASSWORD") && !e.contains("justone"), "{e}");
    }
}
