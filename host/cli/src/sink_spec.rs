//! `--sink`: `stdout`, `file:PATH` or `https://HOST/PATH` (a webhook with the `--webhook-*` options).

use okta_ingest::{
    FileSink, ReopenHandle, Sink, SinkError, SinkSetting, StdoutSink, WebhookOptions, WebhookSink,
};
use std::path::PathBuf;

/// An opened sink, with the handle that reopens it when it is a file (SIGHUP).
pub struct OpenedSink {
    /// The sink.
    pub sink: Box<dyn Sink>,
    /// For a file sink: reopens its path before the next batch (log rotation).
    pub reopen: Option<ReopenHandle>,
}

/// Opens the sink `spec` names.
pub fn open(spec: &str, webhook: &WebhookOptions) -> Result<OpenedSink, SinkError> {
    let plain = |sink: Box<dyn Sink>| OpenedSink { sink, reopen: None };
    match spec {
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
            reason: "unknown sink; use stdout, file:PATH or https://HOST/PATH (webhook)".into(),
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
        let opts = WebhookOptions::default();
        assert_eq!(open("stdout", &opts).unwrap().sink.id(), "stdout");
        let f = open(&file, &opts).unwrap();
        assert!(f.sink.id().starts_with("file:/") && f.reopen.is_some());
        assert_eq!(
            open("https://h/p", &opts).unwrap().sink.id(),
            "webhook:https://h/p"
        );
        let e = open("kafka://x", &opts).err().unwrap().to_string();
        assert!(e.contains("unknown sink"), "{e}");
    }
}
