//! `check`: prove the configuration works (token + one small page) without committing anything.

use crate::env::Env;
use crate::filter::{build_filter, logs_url};
use crate::session::Session;
use crate::types::{ErrorKind, InstanceConfig, TickError, TokenScheme, Tuning};

/// Obtain a fresh token and read one event of the last hour; `Ok` is a one-line summary.
pub fn run_check<E: Env>(
    env: &mut E,
    config: &InstanceConfig,
    tuning: &Tuning,
) -> Result<String, TickError> {
    let filter = build_filter(config.categories);
    if filter.is_empty() {
        return Err(TickError::new(
            ErrorKind::InvalidRequest,
            "no event categories are selected; select at least one category",
        ));
    }
    let since = env.now_ms().saturating_sub(3_600_000);
    let url = logs_url(&config.domain, 1, &filter, Some(since));
    // No cached token: the point is to prove a token can be obtained.
    let mut s = Session::new(env, config, tuning, None);
    let n = s.with_page(&url, |_, _, page, _| Ok(page.len()))?;
    let kind = match s.token.as_ref().map(|t| t.scheme) {
        Some(TokenScheme::Dpop) => crate::dpop::describe_key(s.proof_key.as_ref()),
        _ => "Bearer".to_string(),
    };
    Ok(format!(
        "OK: {kind} token obtained, System Log readable ({n} event(s) in the last hour sample)"
    ))
}
