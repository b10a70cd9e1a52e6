//! What kind of transport failure an HTTP client error is: decided from typed errors (reqwest's
//! `is_timeout`, `std::io::ErrorKind`, `rustls::Error`) and only then, as a last resort, from the
//! error's text, in the one tested function [`from_text`]. Both the connector's requests and the webhook
//! sink use it.

/// A transport failure, by what the user can do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransportFailure {
    /// No answer in time.
    Timeout,
    /// Nothing listens there.
    Refused,
    /// The name does not resolve.
    Dns,
    /// The peer's certificate is not trusted (unknown CA, wrong name, expired): retrying cannot help.
    TlsCertificate,
    /// Another TLS failure.
    Tls,
    /// The connection broke (reset, closed, aborted).
    Terminated,
    /// The answer was cut off or unreadable.
    Incomplete,
    /// Anything else.
    Other,
}

/// Classifies a client error.
pub(crate) fn classify(e: &reqwest::Error) -> TransportFailure {
    if e.is_timeout() {
        return TransportFailure::Timeout;
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(found) = typed(s) {
            return found;
        }
        source = s.source();
    }
    match from_text(&chain(e)) {
        TransportFailure::Other if e.is_body() || e.is_decode() => TransportFailure::Incomplete,
        found => found,
    }
}

/// The kind an error in the chain says by its type, if it says one.
fn typed(s: &(dyn std::error::Error + 'static)) -> Option<TransportFailure> {
    if let Some(tls) = s.downcast_ref::<rustls::Error>() {
        return Some(tls_kind(tls));
    }
    let io = s.downcast_ref::<std::io::Error>()?;
    // tokio-rustls reports TLS failures as an io::Error carrying the rustls::Error.
    if let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return Some(tls_kind(tls));
    }
    use std::io::ErrorKind as K;
    match io.kind() {
        K::ConnectionRefused => Some(TransportFailure::Refused),
        K::TimedOut => Some(TransportFailure::Timeout),
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            Some(TransportFailure::Terminated)
        }
        _ => None,
    }
}

fn tls_kind(e: &rustls::Error) -> TransportFailure {
    match e {
        rustls::Error::InvalidCertificate(_)
        | rustls::Error::NoCertificatesPresented
        | rustls::Error::UnsupportedNameType => TransportFailure::TlsCertificate,
        _ => TransportFailure::Tls,
    }
}

/// The last resort: words of the error's text (hyper-util's resolver, for one, reports DNS failures only
/// in words). Kept in one place so a rewording upstream changes one tested function.
pub(crate) fn from_text(chain: &str) -> TransportFailure {
    let lower = chain.to_ascii_lowercase();
    if lower.contains("connection refused") {
        TransportFailure::Refused
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        TransportFailure::Dns
    } else if lower.contains("certificate") || lower.contains("unknownissuer") {
        TransportFailure::TlsCertificate
    } else if lower.contains("tls") || lower.contains("handshake") {
        TransportFailure::Tls
    } else if lower.contains("reset") || lower.contains("closed") || lower.contains("connection") {
        TransportFailure::Terminated
    } else {
        TransportFailure::Other
    }
}

/// The error and its causes on one line, each cause once.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        src = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_only_the_fallback() {
        for (text, want) in [
            (
                "error trying to connect: tcp connect error: Connection refused (os error 111)",
                TransportFailure::Refused,
            ),
            (
                "dns error: failed to lookup address information: Name or service not known",
                TransportFailure::Dns,
            ),
            (
                "invalid peer certificate: UnknownIssuer",
                TransportFailure::TlsCertificate,
            ),
            (
                "received fatal alert: HandshakeFailure",
                TransportFailure::Tls,
            ),
            (
                "connection closed before message completed",
                TransportFailure::Terminated,
            ),
            ("something else", TransportFailure::Other),
        ] {
            assert_eq!(from_text(text), want, "{text}");
        }
    }

    #[test]
    fn typed_errors_decide_before_words() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "certificate");
        assert_eq!(
            typed(&refused),
            Some(TransportFailure::Refused),
            "the kind wins over the text"
        );
        let tls = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(typed(&tls), Some(TransportFailure::TlsCertificate));
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert_eq!(typed(&alert), Some(TransportFailure::Tls));
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(typed(&reset), Some(TransportFailure::Terminated));
        assert_eq!(typed(&std::io::Error::other("x")), None);
    }

    #[tokio::test]
    async fn a_refused_connection_is_classified_from_its_type() {
        // Nothing listens on port 9 of loopback (discard).
        let e = reqwest::Client::new()
            .get("https://127.0.0.1:9/")
            .send()
            .await
            .unwrap_err();
        assert_eq!(classify(&e), TransportFailure::Refused, "{}", chain(&e));
    }
}
