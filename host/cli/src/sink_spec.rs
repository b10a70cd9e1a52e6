//! `--sink`: `stdout`, `file:PATH`, `https://HOST/PATH` (a webhook with the `--webhook-*` options) or
//! `splunk-hec+https://HOST:8088` (Splunk's HTTP Event Collector with the `--hec-*` options) or
//! `elasticsearch+https://HOST:9200/INDEX` / `opensearch+https://…` (`_bulk`, the `--es-*` options) or
//! `syslog+tls://HOST[:PORT]` (RFC 5424 over TLS, the `--syslog-*` options) or `s3://BUCKET/PREFIX`
//! (gzip'd NDJSON objects, the `--s3-*` options).

use okta_ingest::{
    BulkOptions, ElasticsearchSink, FileSink, ReopenHandle, S3Options, S3Sink, Sink, SinkError,
    SinkSetting, SplunkHecOptions, SplunkHecSink, StdoutSink, SyslogOptions, SyslogSink,
    WebhookOptions, WebhookSink,
};
use std::path::PathBuf;

/// An opened sink, with the handle that reopens it when it is a file (SIGHUP).
pub struct OpenedSink {
    /// The sink.
    pub sink: Box<dyn Sink>,
    /// For a file sink: reopens its path before the next batch (log rotation).
    pub reopen: Option<ReopenHandle>,
}

/// The settings of the sinks that have some.
#[derive(Debug, Clone, Default)]
pub struct SinkOptions {
    /// For `https://…`.
    pub webhook: WebhookOptions,
    /// For `splunk-hec+https://…`.
    pub hec: SplunkHecOptions,
    /// For `elasticsearch+https://…` and `opensearch+https://…`.
    pub es: BulkOptions,
    /// For `syslog+tls://…`.
    pub syslog: SyslogOptions,
    /// For `s3://…`.
    pub s3: S3Options,
}

/// The prefix that makes an https:// URL a Splunk HEC sink.
const HEC_PREFIX: &str = "splunk-hec+";

/// The prefixes that make an https:// URL an Elasticsearch / OpenSearch `_bulk` sink.
const BULK_PREFIXES: [&str; 2] = ["elasticsearch+", "opensearch+"];

/// Opens the sink `spec` names.
pub fn open(spec: &str, options: &SinkOptions) -> Result<OpenedSink, SinkError> {
    let plain = |sink: Box<dyn Sink>| OpenedSink { sink, reopen: None };
    let webhook = &options.webhook;
    match spec {
        s if s.starts_with(HEC_PREFIX) => Ok(plain(Box::new(SplunkHecSink::open(
            &s[HEC_PREFIX.len()..],
            options.hec.clone(),
        )?))),
        s if BULK_PREFIXES.iter().any(|p| s.starts_with(p)) => {
            let url = &s[s.find('+').map_or(0, |i| i + 1)..];
            Ok(plain(Box::new(ElasticsearchSink::open(
                url,
                options.es.clone(),
            )?)))
        }
        s if s.starts_with("s3://") => Ok(plain(Box::new(S3Sink::open(s, options.s3.clone())?))),
        s if s.starts_with("syslog") => Ok(plain(Box::new(SyslogSink::open(
            s,
            options.syslog.clone(),
        )?))),
        s if s.starts_with("https://") || s.starts_with("http://") => {
            Ok(plain(Box::new(WebhookSink::open(s, webhook.clone())?)))
        }
        "stdout" | "-" => Ok(plain(Box::new(StdoutSink))),
        s if s.starts_with("file:") => {
            let path = std::path::absolute(&s[5..]).unwrap_or_else(|_| PathBuf::from(&s[5..]));
            let file = FileSink::open(&path)?;
            let reopen = Some(file.reopen_handle());
            Ok(OpenedSink {
                sink: Box::new(file),
                reopen,
            })
        }
        other => Err(SinkError::Config {
            sink: other.to_string(),
            setting: SinkSetting::Destination,
            reason: "unknown sink; use stdout, file:PATH, https://HOST/PATH (webhook), splunk-hec+https://HOST:8088 (Splunk HEC), elasticsearch+https://HOST:9200/INDEX, syslog+tls://HOST:6514 or s3://BUCKET/PREFIX".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_sink_opens_and_unknown_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = format!("file:{}", dir.path().join("out.jsonl").display());
        let mut opts = SinkOptions::default();
        assert_eq!(open("stdout", &opts).unwrap().sink.id(), "stdout");
        let f = open(&file, &opts).unwrap();
        assert!(f.sink.id().starts_with("file:/") && f.reopen.is_some());
        assert_eq!(
            open("https://h/p", &opts).unwrap().sink.id(),
            "webhook:https://h/p"
        );
        std::env::set_var("OKTA_INGEST_SINK_SPEC_TEST_HEC", "tok");
        opts.hec.token_env = "OKTA_INGEST_SINK_SPEC_TEST_HEC".into();
        assert_eq!(
            open("splunk-hec+https://splunk:8088", &opts)
                .unwrap()
                .sink
                .id(),
            "splunk-hec:https://splunk:8088/services/collector/event"
        );
        for es in [
            "elasticsearch+https://es:9200/okta",
            "opensearch+https://es:9200/okta",
        ] {
            assert_eq!(
                open(es, &opts).unwrap().sink.id(),
                "elasticsearch:https://es:9200/okta/_bulk"
            );
        }
        assert_eq!(
            open("syslog+tls://siem:6514", &opts).unwrap().sink.id(),
            "syslog:tls://siem:6514"
        );
        std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "secret");
        assert_eq!(
            open("s3://okta-logs/raw", &opts).unwrap().sink.id(),
            "s3://okta-logs/raw/"
        );
        let e = open("kafka://x", &opts).err().unwrap().to_string();
        assert!(e.contains("unknown sink"), "{e}");
    }
}
