//! The S3 sink (`s3://BUCKET/PREFIX`): each delivery batch becomes one gzip'd NDJSON object per instance
//! in it, under a key that names its events ([`object`]), uploaded with one signed `PUT` (SigV4,
//! [`sigv4`]) that S3 stores whole or not at all.
//!
//! Nothing doubled: delivery records each batch's range before writing it and re-sends exactly that
//! range after a failure or a crash ([`Repair::SameBatch`]), so a re-sent batch makes the same keys.
//! `If-None-Match: *` keeps a retried upload from replacing an object; S3's 412 then means the object is
//! there already and counts as delivered. Nothing lost: a batch is acknowledged only after every one of
//! its objects was stored (a `PUT` answered 200, its body checked by S3 against the signed SHA-256).
//!
//! Credentials come from the environment as AWS tools read them (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, optionally `AWS_SESSION_TOKEN`); profiles, SSO and instance roles are not
//! read. Requests go to AWS (`https://s3.REGION.amazonaws.com`) or an S3-compatible endpoint, path
//! style or virtual-hosted ([`S3Addressing`]).

mod object;
mod options;
mod sigv4;

pub use options::{S3Addressing, S3Options};

use super::https::retry::{classify_status, Attempt};
use super::https::{config_error, destination, HttpsPoster, HttpsSettings};
use super::sink::{Repair, Sink, SinkError, SinkSetting, SinkStop};
use crate::state::OutboxEvent;
use object::Object;
use reqwest::header::{HeaderName, HeaderValue};
use sigv4::Credentials;

/// The environment variables the credentials are read from.
pub const ACCESS_KEY_ENV: &str = "AWS_ACCESS_KEY_ID";
/// See [`ACCESS_KEY_ENV`].
pub const SECRET_KEY_ENV: &str = "AWS_SECRET_ACCESS_KEY";
/// See [`ACCESS_KEY_ENV`].
pub const SESSION_TOKEN_ENV: &str = "AWS_SESSION_TOKEN";

/// Writes events as objects into an S3 bucket (see the module documentation).
pub struct S3Sink {
    id: String,
    /// `SCHEME://HOST[:PORT]` requests go to, with the bucket in front of the host when virtual-hosted.
    origin: String,
    /// The path before each key: `/BUCKET/` (path style) or `/`.
    key_base: String,
    prefix: String,
    opts: S3Options,
    creds: Credentials,
    poster: HttpsPoster,
}

impl std::fmt::Debug for S3Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret key or the session token.
        f.debug_struct("S3Sink")
            .field("id", &self.id)
            .field("origin", &self.origin)
            .field("creds", &self.creds)
            .finish_non_exhaustive()
    }
}

impl S3Sink {
    /// `url`: `s3://BUCKET[/PREFIX]`. Reads the credentials and the CA file; no connection is made here.
    pub fn open(url: &str, opts: S3Options) -> Result<S3Sink, SinkError> {
        let form = "the S3 destination must be s3://BUCKET[/PREFIX]";
        let dest_error = |reason: String| config_error("s3", SinkSetting::Destination, reason);
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| dest_error(form.into()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if !valid_bucket(bucket) {
            return Err(dest_error(format!(
                "{form}: {bucket:?} is not a bucket name (3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit)"
            )));
        }
        let prefix = prefix.trim_start_matches('/');
        if prefix.chars().any(char::is_control) || prefix.contains("//") {
            return Err(dest_error(format!(
                "{form}: the prefix {prefix:?} has an empty segment or a control character"
            )));
        }
        let prefix = match prefix {
            "" => String::new(),
            p if p.ends_with('/') => p.to_string(),
            p => format!("{p}/"),
        };
        let id = format!("s3://{bucket}/{prefix}");
        if opts.region.is_empty()
            || !opts
                .region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(config_error(
                &id,
                SinkSetting::Destination,
                format!(
                    "{:?} is not an AWS region name (e.g. eu-west-1)",
                    opts.region
                ),
            ));
        }
        let on_aws = opts.endpoint.is_none();
        let endpoint = opts
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", opts.region));
        let (endpoint, _) = destination(
            "s3",
            &endpoint,
            "the S3 endpoint must be https://HOST[:PORT]",
        )?;
        if endpoint.path() != "/" || endpoint.query().is_some() || !endpoint.username().is_empty() {
            return Err(config_error(
                &id,
                SinkSetting::Destination,
                "the S3 endpoint must be https://HOST[:PORT], without a path, query or credentials"
                    .into(),
            ));
        }
        let virtual_hosted = match opts.addressing {
            S3Addressing::Path => false,
            S3Addressing::VirtualHosted => true,
            S3Addressing::Auto => on_aws && !bucket.contains('.'),
        };
        let host = endpoint.host_str().unwrap_or_default();
        let port = endpoint.port().map(|p| format!(":{p}")).unwrap_or_default();
        let (origin, key_base) = if virtual_hosted {
            (
                format!("{}://{bucket}.{host}{port}", endpoint.scheme()),
                "/".to_string(),
            )
        } else {
            (
                format!("{}://{host}{port}", endpoint.scheme()),
                format!("/{bucket}/"),
            )
        };
        let creds = credentials_from_env(&id)?;
        let secrets: Vec<HeaderValue> =
            [Some(&creds.secret_access_key), creds.session_token.as_ref()]
                .into_iter()
                .flatten()
                .filter_map(|s| HeaderValue::from_str(s).ok())
                .collect();
        let poster = HttpsPoster::new(
            &id,
            "S3",
            HttpsSettings {
                ca_file: opts.ca_file.clone(),
                timeout: opts.timeout,
                retries: opts.retries,
                retry_base: opts.retry_base,
                max_answer_bytes: super::https::SMALL_ANSWER,
            },
            &secrets.iter().collect::<Vec<_>>(),
        )?;
        Ok(S3Sink {
            id,
            origin,
            key_base,
            prefix,
            opts,
            creds,
            poster,
        })
    }

    /// Uploads one object (retrying transient failures); `Ok` once S3 holds it.
    fn put(&mut self, object: &Object) -> Result<(), SinkError> {
        let path = sigv4::encode_path(&format!("{}{}", self.key_base, object.key));
        let url = reqwest::Url::parse(&format!("{}{path}", self.origin)).map_err(|e| {
            self.poster.receiver_error(format!(
                "the object URL for {:?} is invalid: {e}",
                object.key
            ))
        })?;
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let payload = sigv4::sha256_hex(&object.body);
        let mut signed = vec![
            ("content-type".to_string(), "application/gzip".to_string()),
            ("host".to_string(), host),
            ("x-amz-content-sha256".to_string(), payload.clone()),
            (
                "x-amz-meta-okta-ingest-instance".to_string(),
                object.instance_id.to_string(),
            ),
            (
                "x-amz-meta-okta-ingest-seq".to_string(),
                format!("{}-{}", object.first_seq, object.last_seq),
            ),
            (
                "x-amz-meta-okta-ingest-events".to_string(),
                object.events.to_string(),
            ),
        ];
        if self.opts.conditional_write {
            signed.push(("if-none-match".to_string(), "*".to_string()));
        }
        if let Some(token) = &self.creds.session_token {
            signed.push(("x-amz-security-token".to_string(), token.clone()));
        }
        let (creds, region, id) = (
            self.creds.clone(),
            self.opts.region.clone(),
            self.id.clone(),
        );
        let url_path = url.path().to_string();
        // Signed at each attempt: a signature is valid for 15 minutes, and back-offs add up.
        let mut headers = || -> Result<Vec<(HeaderName, HeaderValue)>, SinkError> {
            let amz_date = sigv4::amz_date(okta_ingest_model::time::now_ms());
            let mut all = signed.clone();
            all.push(("x-amz-date".to_string(), amz_date.clone()));
            let authorization = sigv4::authorization(
                &creds,
                &region,
                "s3",
                &amz_date,
                &sigv4::Request {
                    method: "PUT",
                    path: &url_path,
                    query: "",
                    headers: &all,
                    payload_sha256: &payload,
                },
            );
            all.push(("authorization".to_string(), authorization));
            all.into_iter()
                // reqwest sets Host from the URL (the value signed above).
                .filter(|(n, _)| n != "host")
                .map(|(n, v)| {
                    let name = HeaderName::from_bytes(n.as_bytes());
                    let value = HeaderValue::from_str(&v);
                    match (name, value) {
                        (Ok(name), Ok(mut value)) => {
                            value.set_sensitive(matches!(
                                n.as_str(),
                                "authorization" | "x-amz-security-token"
                            ));
                            Ok((name, value))
                        }
                        _ => Err(config_error(
                            &id,
                            SinkSetting::Authorization,
                            format!("the {n} header cannot be formed (a credential from the environment has characters an HTTP header cannot hold)"),
                        )),
                    }
                })
                .collect()
        };
        self.poster.send(
            &reqwest::Method::PUT,
            &url,
            &mut headers,
            &object.body,
            object.first_seq,
            classify_s3,
        )?;
        tracing::debug!(sink = %self.id, key = %object.key, events = object.events, bytes = object.body.len(), "object stored");
        Ok(())
    }
}

/// The static credentials in the environment.
fn credentials_from_env(id: &str) -> Result<Credentials, SinkError> {
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    match (var(ACCESS_KEY_ENV), var(SECRET_KEY_ENV)) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(Credentials {
            access_key_id,
            secret_access_key,
            session_token: var(SESSION_TOKEN_ENV),
        }),
        _ => Err(config_error(
            id,
            SinkSetting::Authorization,
            format!("the credentials are not in the environment: {ACCESS_KEY_ENV} and {SECRET_KEY_ENV} are both needed ({SESSION_TOKEN_ENV} too for temporary ones); profiles, SSO and instance roles are not read"),
        )),
    }
}

/// S3's bucket naming rules (general purpose buckets).
fn valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !b.contains("..")
}

/// S3's answers to a `PUT`: 412 (the `If-None-Match: *` key exists: written by an earlier attempt of
/// this same batch) counts as delivered; a conditional-write conflict (409) and `RequestTimeout` (400)
/// are retried; a skewed clock, a wrong region and a store without conditional writes are permanent
/// with what to do; the rest as for any HTTPS receiver.
fn classify_s3(status: u16, retry_after: Option<&str>, body: &str) -> Attempt {
    let code = error_code(body);
    match (status, code) {
        (412, _) => Attempt::Delivered,
        (409, _) | (400, Some("RequestTimeout")) => Attempt::Retry {
            reason: format!("HTTP {status} {}", code.unwrap_or("Conflict")),
            retry_after: None,
        },
        (403, Some("RequestTimeTooSkewed")) => Attempt::Permanent(
            "S3 refused the request because this machine's clock is more than 15 minutes off; fix the clock (NTP)".into(),
        ),
        (301, _) | (400, Some("AuthorizationHeaderMalformed")) => Attempt::Permanent(format!(
            "S3 says the bucket is in another region than the one requests are signed for; set the bucket's region{}",
            message(body).map(|m| format!(" ({m})")).unwrap_or_default()
        )),
        (501, _) => Attempt::Permanent(format!(
            "the store does not implement part of the upload (HTTP 501{}); if it is the conditional write (If-None-Match), turn conditional writes off for it",
            code.map(|c| format!(" {c}")).unwrap_or_default()
        )),
        _ => classify_status(status, retry_after, body),
    }
}

/// The `<Code>` of an S3 error document.
fn error_code(body: &str) -> Option<&str> {
    element(body, "Code")
}

/// The `<Message>` of an S3 error document.
fn message(body: &str) -> Option<&str> {
    element(body, "Message")
}

fn element<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let start = body.find(&format!("<{name}>"))? + name.len() + 2;
    let len = body[start..].find(&format!("</{name}>"))?;
    Some(&body[start..start + len])
}

impl Sink for S3Sink {
    fn id(&self) -> String {
        self.id.clone()
    }
    fn repair(&self) -> Repair {
        // The keys are made from the batch: it must be re-sent exactly as it was.
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
        let objects = object::objects(events, &self.prefix).map_err(|source| SinkError::Io {
            sink: self.id.clone(),
            action: "compressing a batch",
            source,
        })?;
        for o in &objects {
            self.put(o)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_credentials() {
        std::env::set_var(ACCESS_KEY_ENV, "AKIDEXAMPLE");
        std::env::set_var(SECRET_KEY_ENV, "s3cret/EXAMPLE+key");
    }

    #[test]
    fn destinations_name_a_bucket_and_addressing_follows_the_endpoint() {
        with_credentials();
        let aws = S3Sink::open("s3://okta-logs/raw", S3Options::default()).unwrap();
        assert_eq!(aws.id(), "s3://okta-logs/raw/");
        assert_eq!(aws.origin, "https://okta-logs.s3.us-east-1.amazonaws.com");
        assert_eq!(aws.key_base, "/");
        let dotted = S3Sink::open("s3://okta.logs", S3Options::default()).unwrap();
        assert_eq!(dotted.origin, "https://s3.us-east-1.amazonaws.com");
        assert_eq!(
            (dotted.key_base.as_str(), dotted.prefix.as_str()),
            ("/okta.logs/", "")
        );
        let local = S3Sink::open(
            "s3://okta-logs/a/b/",
            S3Options {
                endpoint: Some("http://127.0.0.1:9000".into()),
                ..S3Options::default()
            },
        )
        .unwrap();
        assert_eq!(local.origin, "http://127.0.0.1:9000");
        assert_eq!(
            (local.key_base.as_str(), local.prefix.as_str()),
            ("/okta-logs/", "a/b/")
        );
        for bad in [
            "s3://",
            "s3://ab",
            "s3://Okta-Logs",
            "s3://-okta",
            "s3://okta..logs",
            "s3://okta-logs/a//b",
            "https://okta-logs/x",
        ] {
            assert!(S3Sink::open(bad, S3Options::default()).is_err(), "{bad}");
        }
        for endpoint in ["http://s3.example.com", "https://s3.example.com/path"] {
            let e = S3Sink::open(
                "s3://okta-logs",
                S3Options {
                    endpoint: Some(endpoint.into()),
                    ..S3Options::default()
                },
            );
            assert!(e.is_err(), "{endpoint}");
        }
        assert!(!format!("{aws:?}").contains("s3cret"));
    }

    #[test]
    fn s3_answers_are_read_for_what_they_mean() {
        let xml = |code: &str| {
            format!("<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>m</Message></Error>")
        };
        assert_eq!(classify_s3(200, None, ""), Attempt::Delivered);
        assert_eq!(
            classify_s3(412, None, &xml("PreconditionFailed")),
            Attempt::Delivered
        );
        assert!(matches!(
            classify_s3(409, None, &xml("ConditionalRequestConflict")),
            Attempt::Retry { .. }
        ));
        assert!(matches!(
            classify_s3(400, None, &xml("RequestTimeout")),
            Attempt::Retry { .. }
        ));
        assert!(matches!(
            classify_s3(503, Some("2"), &xml("SlowDown")),
            Attempt::Retry { .. }
        ));
        assert!(
            matches!(classify_s3(403, None, &xml("RequestTimeTooSkewed")), Attempt::Permanent(m) if m.contains("clock"))
        );
        assert!(
            matches!(classify_s3(301, None, &xml("PermanentRedirect")), Attempt::Permanent(m) if m.contains("region"))
        );
        assert!(
            matches!(classify_s3(501, None, &xml("NotImplemented")), Attempt::Permanent(m) if m.contains("conditional"))
        );
        assert!(
            matches!(classify_s3(403, None, &xml("SignatureDoesNotMatch")), Attempt::Permanent(m) if m.contains("SignatureDoesNotMatch"))
        );
    }
}
