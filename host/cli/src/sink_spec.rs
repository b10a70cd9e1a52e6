//! `--sink`: `stdout`, `file:PATH` or `https://HOST/PATH` (a webhook with the `--webhook-*` options).

use okta_ingest::{
    FileSink, Sink, SinkError, SinkSetting, StdoutSink, WebhookOptions, WebhookSink,
};
use std::path::PathBuf;

/// Opens the sink `spec` names.
pub fn open(spec: &str, webhook: &WebhookOptions) -> Result<Box<dyn Sink>, SinkError> {
    match spec {
        s if s.starts_with("https://") || s.starts_with("http://") => {
            Ok(Box::new(WebhookSink::open(s, webhook.clone())?))
        }
        "stdout" | "-" => Ok(Box::new(StdoutSink)),
        s if s.starts_with("file:") => {
            let path = std::path::absolute(&s[5..]).unwrap_or_else(|_| PathBuf::from(&s[5..]));
            Ok(Box::new(FileSink::open(&path)?))
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
        assert_eq!(open("stdout", &opts).unwrap().id(), "stdout");
        assert!(open(&file, &opts).unwrap().id().starts_with("file:/"));
        assert_eq!(
            open("https://h/p", &opts).unwrap().id(),
            "webhook:https://h/p"
        );
        let e = open("kafka://x", &opts).err().unwrap().to_string();
        assert!(e.contains("unknown sink"), "{e}");
    }
}
