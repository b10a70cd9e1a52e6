//! What the HTTPS sinks (the webhook, Splunk HEC) share: checking the destination URL, reading a secret
//! from the environment, the blocking client (system roots plus a CA file, no redirects), and
//! [`HttpsPoster::post`]: one request with bounded retries, back-off with jitter and a pause after a
//! permanent rejection. Secrets are redacted from anything quoted from a receiver.
//!
//! Every call runs on the delivery thread (a plain thread, never a tokio worker), so this uses reqwest's
//! blocking client, built lazily on that thread on the first request.

pub(crate) mod retry;

use super::sink::{SinkError, SinkSetting, SinkStop};
use reqwest::header::{HeaderName, HeaderValue};
use retry::{classify_error, classify_status, Attempt, Retrier};
use std::path::PathBuf;
use std::time::Duration;

/// Longest single back-off, also the cap on a receiver's `Retry-After`.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How long a permanent rejection (4xx) pauses sending before delivery asks the receiver again.
pub const PERMANENT_PAUSE: Duration = Duration::from_secs(60);

/// How an HTTPS sink talks to its receiver.
#[derive(Debug, Clone)]
pub(crate) struct HttpsSettings {
    /// Extra CA certificates (PEM) to trust besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// Timeout of one request (connect, send, response).
    pub timeout: Duration,
    /// Retries of one request after a retryable failure, before the write fails.
    pub retries: u32,
    /// First back-off (doubles per retry, ±jitter, at most [`MAX_BACKOFF`]).
    pub retry_base: Duration,
    /// Most bytes of an answer read (and returned by [`HttpsPoster::post`]).
    pub max_answer_bytes: u64,
}

/// [`HttpsSettings::max_answer_bytes`] for receivers whose answers carry nothing the sink reads
/// beyond a status or an id.
pub(crate) const SMALL_ANSWER: u64 = 64 * 1024;

/// A `Config` error of sink `sink`.
pub(crate) fn config_error(sink: &str, setting: SinkSetting, reason: String) -> SinkError {
    SinkError::Config {
        sink: sink.to_string(),
        setting,
        reason,
    }
}

/// Parses an HTTPS destination (plain `http://` only to this machine) and returns it with the sink id
/// `KIND:SCHEME://HOST[:PORT]PATH`: no credentials or query string, since the id is stored and logged.
/// `expected` describes the accepted form for the error message.
pub(crate) fn destination(
    kind: &str,
    url: &str,
    expected: &str,
) -> Result<(reqwest::Url, String), SinkError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        config_error(
            kind,
            SinkSetting::Destination,
            format!("invalid URL {url:?}: {e}"),
        )
    })?;
    let plain_ok = parsed.scheme() == "http" && is_loopback_host(&parsed);
    if !(parsed.scheme() == "https" || plain_ok) || parsed.host_str().is_none() {
        return Err(config_error(
            kind,
            SinkSetting::Destination,
            format!("{expected} (plain http:// only to a collector on this machine: localhost, 127.0.0.1 or [::1])"),
        ));
    }
    let id = format!(
        "{kind}:{}://{}{}{}",
        parsed.scheme(),
        parsed.host_str().unwrap_or_default(),
        parsed.port().map(|p| format!(":{p}")).unwrap_or_default(),
        parsed.path()
    );
    Ok((parsed, id))
}

/// The header value `prefix` + the value of environment variable `var` (`what` names it in errors),
/// marked sensitive; it is never logged or shown.
pub(crate) fn secret_from_env(
    sink: &str,
    var: &str,
    what: &str,
    prefix: &str,
) -> Result<HeaderValue, SinkError> {
    let err = |reason: String| config_error(sink, SinkSetting::Authorization, reason);
    let value = std::env::var(var).map_err(|_| {
        err(format!(
            "the environment variable {var} ({what}) is not set (or not UTF-8)"
        ))
    })?;
    if value.trim().is_empty() {
        return Err(err(format!(
            "the environment variable {var} ({what}) is empty"
        )));
    }
    let mut v = HeaderValue::from_str(&format!("{prefix}{}", value.trim())).map_err(|_| {
        err(format!(
            "the environment variable {var} ({what}) is not a valid HTTP header value"
        ))
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// Sends requests to one receiver with bounded retries (see the module documentation).
pub(crate) struct HttpsPoster {
    id: String,
    settings: HttpsSettings,
    ca: Vec<reqwest::Certificate>,
    client: Option<reqwest::blocking::Client>,
    /// Secret values (and their credentials), redacted from anything quoted from the receiver.
    secrets: Vec<String>,
    /// Retries, back-off and the pause after a permanent rejection.
    retrier: Retrier,
}

impl HttpsPoster {
    /// Reads the CA file; `secrets` are the header values to keep out of messages.
    pub(crate) fn new(
        id: &str,
        kind: &'static str,
        settings: HttpsSettings,
        secrets: &[&HeaderValue],
    ) -> Result<HttpsPoster, SinkError> {
        let ca = match &settings.ca_file {
            None => Vec::new(),
            Some(p) => crate::outbound::load_ca_file(p)
                .map_err(|e| config_error(id, SinkSetting::CaFile, e.to_string()))?,
        };
        Ok(HttpsPoster {
            id: id.to_string(),
            retrier: Retrier::new(id, kind, settings.retries, settings.retry_base),
            settings,
            ca,
            client: None,
            secrets: secrets
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(secret_forms)
                .collect(),
        })
    }

    /// The handle that ends a back-off when the host stops.
    pub(crate) fn watch_stop(&mut self, stop: SinkStop) {
        self.retrier.watch_stop(stop);
    }

    /// Sleeps `d` unless the host stops first; `false` when interrupted.
    pub(crate) fn sleep(&self, d: Duration) -> bool {
        self.retrier.sleep(d)
    }

    /// Fails at once while a permanent rejection's pause lasts.
    pub(crate) fn check_paused(&mut self) -> Result<(), SinkError> {
        self.retrier.check_paused()
    }

    /// A `Receiver` error of this sink.
    pub(crate) fn receiver_error(&self, message: String) -> SinkError {
        self.retrier.receiver_error(message)
    }

    /// `text` with every secret replaced by `***`.
    pub(crate) fn redact(&self, text: &str) -> String {
        redact(text, &self.secrets)
    }

    /// The blocking client, built on the delivery thread at the first request.
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
            .timeout(self.settings.timeout)
            .connect_timeout(self.settings.timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(crate::USER_AGENT);
        for c in &self.ca {
            b = b.add_root_certificate(c.clone());
        }
        b.build().map_err(|e| {
            config_error(
                &self.id,
                SinkSetting::Client,
                format!(
                    "building the HTTPS client: {}",
                    crate::outbound::failure::chain(&e)
                ),
            )
        })
    }

    /// One request; on an accepted answer, the start of its body.
    fn attempt(
        &mut self,
        method: &reqwest::Method,
        url: &reqwest::Url,
        headers: &[(HeaderName, HeaderValue)],
        body: &[u8],
        classify: Classifier,
    ) -> Result<(Attempt, String), SinkError> {
        let client = self.client()?;
        let mut req = client
            .request(method.clone(), url.clone())
            .body(body.to_vec());
        for (name, value) in headers {
            req = req.header(name, value);
        }
        Ok(match req.send() {
            Err(e) => (classify_error(&e), String::new()),
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
                    &mut std::io::Read::take(resp, self.settings.max_answer_bytes),
                    &mut text,
                );
                let text = self.redact(&String::from_utf8_lossy(&text));
                (classify(status, retry_after.as_deref(), &text), text)
            }
        })
    }

    /// POSTs `body` with `headers` to `url`, retrying transient failures; returns the 2xx answer's body
    /// (at most [`HttpsSettings::max_answer_bytes`]). `first` (the batch's first sequence number) is named in the errors.
    pub(crate) fn post(
        &mut self,
        url: &reqwest::Url,
        headers: &[(HeaderName, HeaderValue)],
        body: &[u8],
        first: i64,
    ) -> Result<String, SinkError> {
        self.send(
            &reqwest::Method::POST,
            url,
            &mut || Ok(headers.to_vec()),
            body,
            first,
            classify_status,
        )
    }

    /// [`HttpsPoster::post`] for any method, with headers made afresh for each attempt (a signature
    /// that includes the time) and the receiver's own reading of its statuses.
    pub(crate) fn send(
        &mut self,
        method: &reqwest::Method,
        url: &reqwest::Url,
        headers: &mut dyn FnMut() -> Result<Vec<(HeaderName, HeaderValue)>, SinkError>,
        body: &[u8],
        first: i64,
        classify: Classifier,
    ) -> Result<String, SinkError> {
        let mut retries = 0;
        loop {
            let headers = headers()?;
            let (outcome, answer) = self.attempt(method, url, &headers, body, classify)?;
            if self.retrier.after(outcome, &mut retries, first)? {
                return Ok(answer);
            }
        }
    }
}

/// Reads an HTTP answer (status, `Retry-After`, body) as an [`Attempt`]; [`classify_status`] unless a
/// receiver's protocol says more.
pub(crate) type Classifier = fn(u16, Option<&str>, &str) -> Attempt;

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

/// The forms of a secret header value a receiver might quote: the whole value, and the credential
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

#[cfg(test)]
mod tests {
    use super::retry::{backoff, classify_error, classify_status, Attempt};
    use super::*;

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
    fn destinations_are_https_or_loopback_and_ids_carry_no_credentials() {
        let form = "the URL must be https://HOST/PATH";
        assert!(destination("webhook", "http://h/p", form).is_err());
        assert!(destination("webhook", "http://10.0.0.1:8080/p", form).is_err());
        assert!(destination("webhook", "http://localhost.evil.com/p", form).is_err());
        assert!(destination("webhook", "not a url", form).is_err());
        for local in [
            "http://127.0.0.1:8686/in",
            "http://localhost:8686/in",
            "http://[::1]:8686/in",
        ] {
            let (_, id) = destination("webhook", local, form).unwrap();
            assert!(id.starts_with("webhook:http://"), "{id}");
        }
        let (_, id) = destination("hec", "https://user:pw@h:8443/p?token=q", form).unwrap();
        assert_eq!(id, "hec:https://h:8443/p");
    }

    #[test]
    fn secrets_come_from_the_environment_and_are_sensitive() {
        let var = "OKTA_INGEST_HTTPS_TEST_UNSET_VAR";
        let e = secret_from_env("s", var, "the token", "Splunk ")
            .unwrap_err()
            .to_string();
        assert!(e.contains(var) && e.contains("not set"), "{e}");
        let var = "OKTA_INGEST_HTTPS_TEST_SET_VAR";
        std::env::set_var(var, " tok-123 ");
        let v = secret_from_env("s", var, "the token", "Splunk ").unwrap();
        assert_eq!(v.to_str().unwrap(), "Splunk tok-123");
        assert!(v.is_sensitive());
    }
}
