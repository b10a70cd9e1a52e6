//! The one origin an instance's connector may reach: `https://<instance domain>`.

/// `https://host:port` of an instance (port 443 unless the domain names another).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AllowedOrigin {
    host: String,
    port: u16,
}

impl AllowedOrigin {
    /// From an instance domain (`host` or `host:port`, https implied).
    pub(crate) fn from_domain(domain: &str) -> AllowedOrigin {
        let (host, port) = split_authority(domain).unwrap_or((domain.to_ascii_lowercase(), 443));
        AllowedOrigin { host, port }
    }

    /// True when `uri` is `https://` on exactly this host and port.
    pub(crate) fn allows(&self, uri: &http::Uri) -> bool {
        if uri.scheme() != Some(&http::uri::Scheme::HTTPS) {
            return false;
        }
        let Some(auth) = uri.authority() else {
            return false;
        };
        let host = auth.host().to_ascii_lowercase();
        let port = auth.port_u16().unwrap_or(443);
        host == self.host && port == self.port
    }
}

impl std::fmt::Display for AllowedOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            443 => write!(f, "{}", self.host),
            port => write!(f, "{}:{port}", self.host),
        }
    }
}

fn split_authority(domain: &str) -> Option<(String, u16)> {
    let auth: http::uri::Authority = domain.parse().ok()?;
    Some((
        auth.host().to_ascii_lowercase(),
        auth.port_u16().unwrap_or(443),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_instance_origin_is_allowed() {
        let o = AllowedOrigin::from_domain("acme.okta.com");
        assert!(o.allows(&"https://acme.okta.com/api/v1/logs".parse().unwrap()));
        assert!(o.allows(&"https://ACME.okta.com:443/oauth2/v1/token".parse().unwrap()));
        assert!(!o.allows(&"http://acme.okta.com/api/v1/logs".parse().unwrap()));
        assert!(!o.allows(&"https://acme.okta.com:8443/".parse().unwrap()));
        assert!(!o.allows(&"https://169.254.169.254/latest/meta-data".parse().unwrap()));
        assert!(!o.allows(&"https://acme.okta.com.evil.com/".parse().unwrap()));
        let local = AllowedOrigin::from_domain("127.0.0.1:8443");
        assert!(local.allows(&"https://127.0.0.1:8443/api/v1/logs".parse().unwrap()));
        assert!(!local.allows(&"https://127.0.0.1:8444/api/v1/logs".parse().unwrap()));
        assert_eq!(local.to_string(), "127.0.0.1:8443");
        assert_eq!(o.to_string(), "acme.okta.com");
    }
}
