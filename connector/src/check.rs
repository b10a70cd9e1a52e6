//! `check`: prove the configuration works (token + one small page) without committing anything.

use crate::env::Env;
use crate::filter::{logs_url, selected_filter};
use crate::session::Session;
use crate::types::{InstanceConfig, TickError, TokenScheme, Tuning};

/// Obtain a fresh token and read one event of the last hour; `Ok` is a one-line summary.
pub fn run_check<E: Env>(
    env: &mut E,
    config: &InstanceConfig,
    tuning: &Tuning,
) -> Result<String, TickError> {
    let filter = selected_filter(config.categories)?;
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
