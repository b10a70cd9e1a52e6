//! AWS Signature Version 4 for S3 requests: the `Authorization` header over a canonical request with a
//! signed payload (`x-amz-content-sha256` is the body's SHA-256, which S3 checks, so a body cut or
//! changed on the way is refused rather than stored).
//!
//! Written from AWS's specification ("Create a signed AWS API request") and checked against its
//! published S3 examples (the tests below).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Static credentials, as AWS tools take them from the environment. Never logged.
#[derive(Clone)]
pub(crate) struct Credentials {
    /// `AWS_ACCESS_KEY_ID`: not a secret, it names the key in the `Authorization` header.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: String,
    /// `AWS_SESSION_TOKEN` for temporary credentials, sent as `x-amz-security-token`.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// One request to sign. Header names are lowercase; `path` is already URI-encoded (each byte outside
/// `A-Z a-z 0-9 - . _ ~ /` as `%XX`), exactly as it goes on the wire; `query` is canonical (sorted,
/// encoded) and usually empty.
pub(crate) struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    /// Every header that is signed, `host` and `x-amz-*` among them.
    pub headers: &'a [(String, String)],
    /// Lowercase hex SHA-256 of the body (the `x-amz-content-sha256` value).
    pub payload_sha256: &'a str,
}

/// The `Authorization` value for `req`, made at `amz_date` (`YYYYMMDDTHHMMSSZ`, also its
/// `x-amz-date`) for `service` in `region`.
pub(crate) fn authorization(
    creds: &Credentials,
    region: &str,
    service: &str,
    amz_date: &str,
    req: &Request<'_>,
) -> String {
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), canonical_value(v)))
        .collect();
    headers.sort();
    let signed: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    let signed = signed.join(";");
    let mut canonical = format!("{}\n{}\n{}\n", req.method, req.path, req.query);
    for (n, v) in &headers {
        canonical.push_str(&format!("{n}:{v}\n"));
    }
    canonical.push_str(&format!("\n{signed}\n{}", req.payload_sha256));

    let date = &amz_date[..amz_date.len().min(8)];
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let mut key = hmac(
        format!("AWS4{}", creds.secret_access_key).as_bytes(),
        date.as_bytes(),
    );
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex(&hmac(&key, to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
        creds.access_key_id
    )
}

/// A header value as signed: surrounding whitespace trimmed, inner runs of spaces made one.
fn canonical_value(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Lowercase hex of the SHA-256 of `data`.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `s` URI-encoded as S3 wants an object key in a path: every byte outside `A-Z a-z 0-9 - . _ ~` as
/// `%XX` (uppercase), `/` kept.
pub(crate) fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Unix ms -> `YYYYMMDDTHHMMSSZ`.
pub(crate) fn amz_date(ms: u64) -> String {
    okta_ingest_model::time::format_s(ms).replace(['-', ':'], "")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The credentials of AWS's S3 signing examples.
    fn example_credentials() -> Credentials {
        Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn aws_get_object_example_signs_as_published() {
        // "Example: GET Object" of AWS's "Signature Calculations for the Authorization Header:
        // Transferring Payload in a Single Chunk".
        let h = headers(&[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", "20130524T000000Z"),
        ]);
        let auth = authorization(
            &example_credentials(),
            "us-east-1",
            "s3",
            "20130524T000000Z",
            &Request {
                method: "GET",
                path: "/test.txt",
                query: "",
                headers: &h,
                payload_sha256: EMPTY_SHA256,
            },
        );
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn aws_put_object_example_signs_as_published() {
        // "Example: PUT Object" of the same page: a signed payload and an encoded key.
        let body = b"Welcome to Amazon S3.";
        let payload = sha256_hex(body);
        assert_eq!(
            payload,
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
        );
        let h = headers(&[
            ("date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-content-sha256", &payload),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ]);
        let path = encode_path("/test$file.text");
        assert_eq!(path, "/test%24file.text");
        let auth = authorization(
            &example_credentials(),
            "us-east-1",
            "s3",
            "20130524T000000Z",
            &Request {
                method: "PUT",
                path: &path,
                query: "",
                headers: &h,
                payload_sha256: &payload,
            },
        );
        assert!(
            auth.ends_with(
                "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, \
                 Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
            ),
            "{auth}"
        );
    }

    #[test]
    fn dates_and_keys_are_encoded_as_s3_expects() {
        assert_eq!(amz_date(1_369_353_600_000), "20130524T000000Z");
        assert_eq!(
            encode_path("/b/p/instance=7/a b+é.gz"),
            "/b/p/instance%3D7/a%20b%2B%C3%A9.gz"
        );
        assert_eq!(canonical_value("  a   b "), "a b");
        assert!(!format!("{:?}", example_credentials()).contains("wJalr"));
    }
}
