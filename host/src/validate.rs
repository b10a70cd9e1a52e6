//! Validation of what a user types when setting up an instance: name, domain, backfill, categories,
//! client id, key id. Pure, so the CLI and embedders get the same one-line errors; messages name no
//! command-line flags (the CLI adds those).

use okta_ingest_model::Categories;
use thiserror::Error;

/// The longest backfill Okta's retention and our spec allow, in days.
pub const MAX_BACKFILL_DAYS: u8 = 14;

/// A value the user gave that cannot be used; each message says what to type instead.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The domain is not `company.okta.com` or `host:port`.
    #[error("invalid domain {given:?}: {reason}; give the Okta domain like company.okta.com (or host:port)")]
    Domain {
        /// What the user typed.
        given: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// Backfill outside 0..=14 or not a number.
    #[error("invalid backfill {0:?}: give a whole number of days from 0 to 14 (Okta's limit here is 14)")]
    Backfill(String),
    /// A category name that is not in `event-categories.json`.
    #[error("unknown event category {0:?}: choose from {names}", names = all_names())]
    UnknownCategory(String),
    /// No category was selected.
    #[error("no event categories given: choose one or more of {}", all_names())]
    NoCategories,
    /// An empty or malformed client id.
    #[error("invalid client id {0:?}: copy the Client ID from the app's General tab in the Okta admin console")]
    ClientId(String),
    /// An empty or malformed key id.
    #[error("invalid key id {0:?}: copy the KID of the public key from the app's General tab")]
    KeyId(String),
    /// Another instance already reads these categories of this org with this app: every event of them
    /// would be delivered twice.
    #[error("instance {other:?} already reads {categories} events of {domain} with client id {client_id}; a second instance would deliver each of them again: choose other categories, or edit or remove {other:?}")]
    SameApp {
        /// The instance that already does.
        other: String,
        /// The org.
        domain: String,
        /// The app.
        client_id: String,
        /// The categories both would read.
        categories: Categories,
    },
    /// An instance name that cannot be used.
    #[error("invalid instance name {0:?}: use 1-64 letters, digits, '-', '_' or '.'")]
    Name(String),
    /// A silence alert shorter than two polls: it would fire between two polls of a healthy org.
    #[error("a silence alert of {0} s is too short: use at least 10 minutes (two polls), or turn it off")]
    SilenceAlert(u64),
}

/// The silence alert a new instance gets: an hour without a single System Log event is unusual for
/// an org anyone signs in to (every sign-in writes several), and an hour is long enough that a quiet
/// night of a small org's security-only selection rarely trips it. Change it per instance.
pub const DEFAULT_SILENCE_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// The shortest silence alert: two polls at the default 5-minute interval.
pub const MIN_SILENCE_AFTER: std::time::Duration = std::time::Duration::from_secs(600);

/// A silence alert as stored: seconds, 0 for none; refused under [`MIN_SILENCE_AFTER`].
pub(crate) fn silence_seconds(after: Option<std::time::Duration>) -> Result<i64, ConfigError> {
    match after {
        None => Ok(0),
        Some(d) if d < MIN_SILENCE_AFTER => Err(ConfigError::SilenceAlert(d.as_secs())),
        Some(d) => Ok(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
    }
}

/// Every category's name, for messages: `authentication, security, itp, lifecycle`.
fn all_names() -> String {
    Categories::ALL.names().join(", ")
}

/// Normalises a domain: strips a pasted `https://` and trailing `/`, lowercases, drops a trailing root
/// dot and the default port 443 (so one org has one name, one rate budget), and refuses anything that is
/// not `host` or `host:port` (paths, spaces, other schemes, userinfo, queries).
pub fn normalize_domain(given: &str) -> Result<String, ConfigError> {
    let err = |reason| ConfigError::Domain {
        given: given.to_string(),
        reason,
    };
    let mut d = given.trim();
    if d.is_empty() {
        return Err(err("it is empty"));
    }
    if let Some((scheme, rest)) = d.split_once("://") {
        if !scheme.eq_ignore_ascii_case("https") {
            return Err(err("only https is supported"));
        }
        d = rest;
    }
    let d = d.strip_suffix('/').unwrap_or(d);
    if d.contains('/') {
        return Err(err("it has a path; give only the host name"));
    }
    if d.chars().any(|c| c.is_whitespace()) {
        return Err(err("it contains spaces"));
    }
    if d.contains(['@', '?', '#']) {
        return Err(err("it contains '@', '?' or '#'"));
    }
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.starts_with('[') => (h, Some(p)),
        _ => (d, None),
    };
    // `company.okta.com.` (the root's dot) is `company.okta.com`: one org, one name.
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        return Err(err("the host name is empty"));
    }
    let host_ok = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    if !host_ok {
        return Err(err("the host name has characters a DNS name cannot have"));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(err("the port is not a number from 1 to 65535")),
        },
    };
    // The canonical form: lowercase, no root dot, no default port, the port as a plain number.
    let host = host.to_ascii_lowercase();
    Ok(match port {
        None | Some(443) => host,
        Some(n) => format!("{host}:{n}"),
    })
}

/// Parses a backfill in days: 0..=14.
pub fn parse_backfill(given: &str) -> Result<u8, ConfigError> {
    match given.trim().parse::<u8>() {
        Ok(n) if n <= MAX_BACKFILL_DAYS => Ok(n),
        _ => Err(ConfigError::Backfill(given.to_string())),
    }
}

/// Parses a comma-separated list of categories (`authentication,security,...`; case-insensitive,
/// spaces allowed).
pub fn parse_categories(given: &str) -> Result<Categories, ConfigError> {
    let mut set = Categories::NONE;
    for name in given.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match Categories::from_name(name) {
            Some(c) => set |= c,
            None => return Err(ConfigError::UnknownCategory(name.to_string())),
        }
    }
    if set.is_empty() {
        return Err(ConfigError::NoCategories);
    }
    Ok(set)
}

/// Checks a client id: non-empty printable ASCII without spaces.
pub fn validate_client_id(given: &str) -> Result<String, ConfigError> {
    let id = given.trim();
    if id.is_empty() || id.len() > 200 || !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ConfigError::ClientId(given.to_string()));
    }
    Ok(id.to_string())
}

/// Checks a key id: non-empty printable ASCII without spaces.
pub fn validate_key_id(given: &str) -> Result<String, ConfigError> {
    let id = given.trim();
    if id.is_empty() || id.len() > 200 || !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ConfigError::KeyId(given.to_string()));
    }
    Ok(id.to_string())
}

/// Checks an instance name.
pub fn validate_name(given: &str) -> Result<String, ConfigError> {
    let ok = !given.is_empty()
        && given.len() <= 64
        && given
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(given.to_string())
    } else {
        Err(ConfigError::Name(given.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_strips_scheme_and_slash() {
        assert_eq!(
            normalize_domain("https://Acme.okta.com/").unwrap(),
            "acme.okta.com"
        );
        assert_eq!(
            normalize_domain("127.0.0.1:8443").unwrap(),
            "127.0.0.1:8443"
        );
        assert_eq!(
            normalize_domain(" acme.oktapreview.com ").unwrap(),
            "acme.oktapreview.com"
        );
    }

    #[test]
    fn one_org_has_one_name() {
        for same in [
            "company.okta.com",
            "Company.Okta.com.",
            "company.okta.com:443",
            "https://company.okta.com.:0443/",
        ] {
            assert_eq!(
                normalize_domain(same).unwrap(),
                "company.okta.com",
                "{same}"
            );
        }
        assert_eq!(normalize_domain("a.com:08443").unwrap(), "a.com:8443");
        assert!(normalize_domain("a.com:+443").is_err());
        assert!(normalize_domain(".").is_err());
    }

    #[test]
    fn domain_refuses_paths_spaces_and_other_schemes() {
        for bad in [
            "acme.okta.com/oauth2",
            "http://acme.okta.com",
            "ftp://acme.okta.com",
            "acme okta.com",
            "",
            "user@acme.okta.com",
            "acme.okta.com:0",
            "acme.okta.com:99999",
            "acme.okta.com?x=1",
        ] {
            assert!(normalize_domain(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn backfill_limits() {
        assert_eq!(parse_backfill("0"), Ok(0));
        assert_eq!(parse_backfill("14"), Ok(14));
        for bad in ["15", "-1", "abc", ""] {
            let e = parse_backfill(bad).unwrap_err();
            assert!(e.to_string().contains("14"), "{e}");
        }
    }

    #[test]
    fn categories_parse_and_refuse_unknown() {
        let c = parse_categories("authentication, ITP").unwrap();
        assert_eq!(c, Categories::AUTHENTICATION | Categories::ITP);
        assert_eq!(c.to_string(), "authentication,itp");
        assert_eq!(
            parse_categories("authentication,billing"),
            Err(ConfigError::UnknownCategory("billing".into()))
        );
        assert_eq!(parse_categories(" , "), Err(ConfigError::NoCategories));
        assert_eq!(
            Categories::DEFAULT.to_string(),
            "authentication,security,itp"
        );
        // The error names every category, from the one list.
        let e = parse_categories("billing").unwrap_err().to_string();
        for (name, _) in Categories::NAMED {
            assert!(e.contains(name), "{e}");
        }
    }

    #[test]
    fn client_id_and_name() {
        assert!(validate_client_id("").is_err());
        assert!(validate_client_id("0oa 1").is_err());
        assert_eq!(validate_client_id(" 0oa1b2c3 ").unwrap(), "0oa1b2c3");
        assert!(validate_name("prod-okta").is_ok());
        assert!(validate_name("a/b").is_err());
    }
}
