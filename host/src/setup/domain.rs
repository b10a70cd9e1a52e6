//! What a person pastes as an Okta domain, turned into the org domain: the canonical form of
//! [`normalize_domain`](crate::normalize_domain), plus the mistakes people make that still parse (the
//! Admin Console's `-admin` address), each with a note saying what was changed and why.

use crate::validate::{normalize_domain, ConfigError};

/// The org domain for what the user typed, and what was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainSuggestion {
    /// The org domain to use (`acme.okta.com`, `127.0.0.1:8443`).
    pub domain: String,
    /// Why it differs from the input beyond spelling (`None` when only `https://`, case or a slash went).
    pub note: Option<String>,
}

/// Okta's own org domains, where `NAME-admin.<suffix>` is the Admin Console of `NAME.<suffix>`.
const OKTA_SUFFIXES: &[&str] = &[
    "okta.com",
    "oktapreview.com",
    "okta-emea.com",
    "okta-gov.com",
    "okta.mil",
];

/// Normalises `input` and maps an Admin Console address (`acme-admin.okta.com`) to its org.
pub fn suggest_domain(input: &str) -> Result<DomainSuggestion, ConfigError> {
    let domain = normalize_domain(input)?;
    let bare_host = domain.split(':').next().unwrap_or(&domain);
    if OKTA_SUFFIXES.contains(&bare_host) {
        return Err(ConfigError::Domain {
            given: input.to_string(),
            reason: "it names Okta itself, not an org; give your org's domain, e.g. acme.okta.com",
        });
    }
    for suffix in OKTA_SUFFIXES {
        let Some(sub) = domain.strip_suffix(&format!(".{suffix}")) else {
            continue;
        };
        if let Some(org) = sub.strip_suffix("-admin").filter(|o| !o.is_empty()) {
            let org_domain = format!("{org}.{suffix}");
            return Ok(DomainSuggestion {
                note: Some(format!(
                    "{domain} is the Admin Console address; the org domain is {org_domain}"
                )),
                domain: org_domain,
            });
        }
    }
    if !domain.contains(['.', ':']) && domain != "localhost" {
        return Ok(DomainSuggestion {
            note: Some(format!(
                "{domain} is only a subdomain; assumed {domain}.okta.com (use the full domain for oktapreview.com, okta-emea.com or a custom domain)"
            )),
            domain: format!("{domain}.okta.com"),
        });
    }
    Ok(DomainSuggestion { domain, note: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admin_console_address_becomes_the_org_domain() {
        let s = suggest_domain("https://acme-admin.okta.com/admin/dashboard").unwrap_err();
        assert!(
            s.to_string().contains("path"),
            "paths are still refused: {s}"
        );
        let s = suggest_domain("https://Acme-Admin.okta.com/").unwrap();
        assert_eq!(s.domain, "acme.okta.com");
        assert!(s.note.unwrap().contains("Admin Console"));
        let s = suggest_domain("dev-1-admin.oktapreview.com").unwrap();
        assert_eq!(s.domain, "dev-1.oktapreview.com");
    }

    #[test]
    fn plain_domains_pass_and_a_bare_subdomain_is_completed() {
        for d in [
            "acme.okta.com",
            "login.acme.example",
            "127.0.0.1:8443",
            "acme.okta-emea.com",
        ] {
            let s = suggest_domain(d).unwrap();
            assert_eq!((s.domain.as_str(), s.note), (d, None));
        }
        let s = suggest_domain("acme").unwrap();
        assert_eq!(s.domain, "acme.okta.com");
        assert!(s.note.unwrap().contains("only a subdomain"));
        assert!(suggest_domain("okta.com").is_err());
        assert!(suggest_domain("").is_err());
    }
}
