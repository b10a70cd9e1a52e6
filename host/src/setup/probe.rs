//! Is this an Okta org, and can this host reach it? DNS, then TLS, then Okta's unauthenticated OpenID
//! discovery document (`/.well-known/openid-configuration`), whose `issuer` proves the name is an Okta
//! org and whose `token_endpoint` is where the test connection will ask for a token. Each step that fails
//! says what to check, since "connection failed" tells a user nothing.

use std::time::Duration;

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OrgProbe {
    /// The domain probed.
    pub domain: String,
    /// The addresses the name resolved to.
    pub addresses: Vec<String>,
    /// The discovery document's `issuer`.
    pub issuer: String,
    /// The discovery document's `token_endpoint`.
    pub token_endpoint: String,
    /// Whether the org advertises DPoP (`dpop_signing_alg_values_supported`).
    pub dpop_supported: bool,
}

/// Where the probe stopped, with what to check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("{step}: {detail}; {fix}")]
pub struct ProbeFailure {
    /// `DNS`, `TLS`, `connection`, `HTTP` or `discovery`.
    pub step: &'static str,
    /// What happened, with the underlying error.
    pub detail: String,
    /// What to check.
    pub fix: String,
}

/// The longest the whole probe may take: a person is waiting.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// Probes `domain` (canonical, `host` or `host:port`) with `client` (system roots plus the instance's
/// CA file).
pub async fn probe_org(client: &reqwest::Client, domain: &str) -> Result<OrgProbe, ProbeFailure> {
    match tokio::time::timeout(PROBE_TIMEOUT, probe(client, domain)).await {
        Ok(result) => result,
        Err(_) => Err(ProbeFailure {
            step: "connection",
            detail: format!("no answer from {domain} within {} s", PROBE_TIMEOUT.as_secs()),
            fix: format!("check that outbound HTTPS (port 443) to {domain} is allowed and any proxy lets it through"),
        }),
    }
}

async fn probe(client: &reqwest::Client, domain: &str) -> Result<OrgProbe, ProbeFailure> {
    let target = if domain.contains(':') && !domain.ends_with(']') {
        domain.to_string()
    } else {
        format!("{domain}:443")
    };
    let addresses: Vec<String> =
        match tokio::net::lookup_host(&target).await {
            Ok(addrs) => addrs.map(|a| a.ip().to_string()).collect(),
            Err(e) => return Err(ProbeFailure {
                step: "DNS",
                detail: format!("{domain} does not resolve ({e})"),
                fix:
                    "check the spelling of the Okta domain (your org's address, e.g. acme.okta.com)"
                        .into(),
            }),
        };
    let url = format!("https://{domain}/.well-known/openid-configuration");
    let response = client
        .get(&url)
        .timeout(PROBE_TIMEOUT)
        .send()
        .await
        .map_err(|e| transport_failure(domain, &e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(ProbeFailure {
            step: "HTTP",
            detail: format!("GET {url} answered {status}"),
            fix: format!("{domain} answers HTTPS but is not an Okta org's address; use the domain you sign in to Okta with"),
        });
    }
    let not_discovery = |e: String| ProbeFailure {
        step: "discovery",
        detail: format!("{url} is not a JSON discovery document ({e})"),
        fix: format!("{domain} is not an Okta org, or a proxy answers in its place"),
    };
    // A discovery document is a few KiB; a peer that streams more is not one.
    let bytes = response
        .bytes()
        .await
        .map_err(|e| not_discovery(e.to_string()))?;
    if bytes.len() > 256 << 10 {
        return Err(not_discovery(format!("{} bytes", bytes.len())));
    }
    let body: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| not_discovery(e.to_string()))?;
    let text = |k: &str| body.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let (Some(issuer), Some(token_endpoint)) = (text("issuer"), text("token_endpoint")) else {
        return Err(ProbeFailure {
            step: "discovery",
            detail: format!("{url} has no issuer or token_endpoint"),
            fix: format!("{domain} is not an Okta org, or a proxy answers in its place"),
        });
    };
    let dpop_supported = body
        .get("dpop_signing_alg_values_supported")
        .and_then(|v| v.as_array())
        .is_some_and(|a| !a.is_empty());
    Ok(OrgProbe {
        domain: domain.to_string(),
        addresses,
        issuer,
        token_endpoint,
        dpop_supported,
    })
}

/// A transport error as the step it failed at.
fn transport_failure(domain: &str, e: &reqwest::Error) -> ProbeFailure {
    let chain = crate::outbound::failure::chain(e);
    let lower = chain.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        ProbeFailure {
            step: "TLS",
            detail: format!("the TLS handshake with {domain} failed ({chain})"),
            fix: "if a TLS-inspecting proxy sits in between, give its CA certificate as the instance's CA file; otherwise check the domain".into(),
        }
    } else if e.is_timeout() {
        ProbeFailure {
            step: "connection",
            detail: format!("{domain} did not answer in time ({chain})"),
            fix: format!("check that outbound HTTPS (port 443) to {domain} is allowed"),
        }
    } else {
        ProbeFailure {
            step: "connection",
            detail: format!("cannot connect to {domain} ({chain})"),
            fix: format!("check that outbound HTTPS (port 443) to {domain} is allowed and any proxy lets it through"),
        }
    }
}
