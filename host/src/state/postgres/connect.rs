//! Connecting: a `postgres://` URL (libpq's keywords that tokio-postgres knows: `sslmode`,
//! `connect_timeout`, `application_name`, `target_session_attrs`, several `host`s...), TLS through rustls
//! (the system's roots plus an optional CA file; a certificate is always verified), a small pool
//! (deadpool) whose recycle check drops a connection that died, and the mapping of failures to
//! [`StateError`]s a user can act on.

use crate::state::StateError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::path::Path;
use std::time::Duration;

/// How long opening a connection may take when the URL does not say (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `postgres://user:secret@db/x` as `postgres://user:***@db/x`: for messages and `status`.
pub(crate) fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k.eq_ignore_ascii_case("password") {
                        "***".to_string()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            if !pairs.is_empty() {
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        Err(_) => "a PostgreSQL database (its URL did not parse)".into(),
    }
}

/// Whether `location` names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// The pool for `url`, `size` connections at most, trusting `ca_file` (PEM) besides the system roots.
/// Nothing is connected yet: the first call does.
pub(crate) fn pool(
    url: &str,
    ca_file: Option<&Path>,
    size: usize,
    lease_ttl: Duration,
) -> Result<Pool, StateError> {
    let location = redacted(url);
    let bad = |detail: String| StateError::Open {
        path: location.clone(),
        source: detail.into(),
    };
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| bad(format!("not a usable PostgreSQL URL: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("okta-ingest");
    }
    // A peer that vanishes (a partition) is noticed by the operation timeouts; keepalives also free
    // the server's side of a dead connection.
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(30));
    // A host frozen inside a page transaction (a GC pause, SIGSTOP, a VM stall) would hold its lease
    // row's share lock, and the shard could never be claimed (claims skip locked rows): the server ends
    // any transaction left idle for half a lease, so its locks go and the frozen host's commit fails.
    let idle_ms = (lease_ttl.as_millis() / 2).max(500);
    let options = format!(
        "{} -c idle_in_transaction_session_timeout={idle_ms}",
        config.get_options().unwrap_or("")
    );
    config.options(options.trim());
    if config.get_password().is_none() {
        if let Ok(pw) = std::env::var("PGPASSWORD") {
            config.password(pw);
        }
    }
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(
        crate::outbound::rustls_client_config(ca_file, None).map_err(bad)?,
    );
    let manager = Manager::from_config(
        config,
        tls,
        ManagerConfig {
            // A recycled connection runs an empty query first: one that died (a failover, a partition)
            // is dropped instead of failing the caller's transaction.
            recycling_method: RecyclingMethod::Verified,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(2))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(30)))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()
        .map_err(|e| bad(e.to_string()))
}

/// A database error in the user's terms: unreachable (and retried by itself) or anything else.
pub(crate) fn classify(location: &str, e: tokio_postgres::Error) -> StateError {
    if e.as_db_error().is_none() || e.is_closed() {
        // No answer from a server: refused, reset, TLS failed, timed out.
        return StateError::Unavailable {
            location: location.to_string(),
            source: Box::new(e),
        };
    }
    StateError::Database(Box::new(e))
}

/// A pool failure: no connection could be had.
pub(crate) fn classify_pool(location: &str, e: deadpool_postgres::PoolError) -> StateError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => classify(location, e),
        other => StateError::Unavailable {
            location: location.to_string(),
            source: Box::new(other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_a_message() {
        assert_eq!(
            redacted("postgres://ingest:s3cret@db.internal:5432/okta?sslmode=require"),
            "postgres://ingest:***@db.internal:5432/okta?sslmode=require"
        );
        let q = redacted("postgres://db/okta?user=u&password=s3cret");
        assert!(!q.contains("s3cret"), "{q}");
        assert!(!redacted("postgres://u:pw@[bad").contains("pw"));
        assert!(is_postgres_url("postgresql://x/y") && !is_postgres_url("/var/lib/s.db"));
    }

    #[test]
    fn a_bad_url_or_ca_file_is_refused_before_any_connection() {
        let e = pool(
            "postgres://h/db?sslmode=bogus",
            None,
            4,
            Duration::from_secs(15),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not a usable PostgreSQL URL"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate").unwrap();
        let e = pool("postgres://h/db", Some(&ca), 4, Duration::from_secs(15)).unwrap_err();
        assert!(e.to_string().contains("holds no PEM certificate"), "{e}");
    }
}
