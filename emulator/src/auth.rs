//! Authorization of `/api/v1/logs` requests: Bearer tokens, and DPoP-bound tokens presented with
//! the `DPoP` scheme and a fresh proof (RFC 9449 §7), with Okta's checks, order, statuses and
//! `WWW-Authenticate` challenges (DPOP.md §2.2, §9.2). Okta puts resource errors in the challenge
//! header; DPoP refusals have an empty body.

use crate::dpop::{self, ProofError, Target, ADVERTISED_ALGS};
use crate::okta;
use crate::reply::Reply;
use crate::state::{lock, Inner, Shared};

/// The scope `/api/v1/logs` requires.
const SCOPE: &str = "okta.logs.read";
/// What Okta says for an unknown, revoked or expired token.
const EXPIRED: &str = "The token has expired.";
const PROOF_REQUIRED: &str = "The resource request requires a DPoP proof.";
const DPOP_SCHEME_REQUIRED: &str =
    "The resource request must use the DPoP authentication scheme when using a DPoP bound token.";
const NOT_BOUND: &str = "The presented access_token is not DPoP bound.";

/// The request being authorized.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Its headers.
    pub headers: &'a http::HeaderMap,
    /// The Host header the client used.
    pub host: &'a str,
    /// The request path as sent (a proof's `htu` must name it).
    pub path: &'a str,
    /// Emulator time, ms.
    pub now: u64,
    /// Its proof's `jti` had been seen before (recorded before rate limiting, as Okta does).
    pub proof_replayed: bool,
}

/// The authentication scheme the client used; challenges answer in the same scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    Dpop,
}

/// `WWW-Authenticate` as Okta words it: the DPoP form adds `algs` (DPOP.md §2.2). `realm` and
/// `authorization_uri` say `http://`: that is what Okta sends.
fn challenge(scheme: Scheme, host: &str, error: &str, description: &str) -> String {
    let rest = format!(
        r#"authorization_uri="http://{host}/oauth2/v1/authorize", realm="http://{host}", scope="{SCOPE}", error="{error}", error_description="{description}", resource="/api/v1/logs""#
    );
    match scheme {
        Scheme::Bearer => format!("Bearer {rest}"),
        Scheme::Dpop => format!(r#"DPoP algs="{ADVERTISED_ALGS}", {rest}"#),
    }
}

/// 401 `invalid_token`, with the body Okta's API sends for any bad token.
fn invalid_token(scheme: Scheme, host: &str, description: &str) -> Reply {
    Reply::json(
        401,
        okta::api_error("E0000011", "Invalid token provided", &[]),
    )
    .header(
        "www-authenticate",
        challenge(scheme, host, "invalid_token", description),
    )
}

/// 400 `invalid_request` about DPoP use, empty body.
fn invalid_request(inner: &mut Inner, scheme: Scheme, host: &str, description: &str) -> Reply {
    inner.stats.dpop_errors += 1;
    Reply::empty(400).header(
        "www-authenticate",
        challenge(scheme, host, "invalid_request", description),
    )
}

/// 400 `invalid_dpop_proof`, empty body.
fn invalid_proof(inner: &mut Inner, host: &str, e: ProofError) -> Reply {
    inner.stats.dpop_errors += 1;
    Reply::empty(400).header(
        "www-authenticate",
        challenge(Scheme::Dpop, host, "invalid_dpop_proof", e.description()),
    )
}

fn forbidden() -> Reply {
    Reply::json(
        403,
        okta::api_error(
            "E0000006",
            "You do not have permission to perform the requested action",
            &[],
        ),
    )
}

/// Checks the token (and, for a DPoP-bound one, the proof); `Err` is the answer to send. The first
/// failure wins, in DPOP.md §9.2's order: scheme and binding, token validity, proof, `ath`, key
/// binding, resource nonce (opt-in), `jti`; then scope and admin role as for Bearer tokens.
pub fn authorize(shared: &Shared, req: &Request<'_>) -> Result<(), Reply> {
    let host = req.host;
    let auth = req
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (scheme, token) = match auth.split_once(' ') {
        Some((s, t)) if s.eq_ignore_ascii_case("bearer") => (Scheme::Bearer, t.trim()),
        Some((s, t)) if s.eq_ignore_ascii_case("dpop") => (Scheme::Dpop, t.trim()),
        _ => return Err(invalid_token(Scheme::Bearer, host, EXPIRED)),
    };
    let proof = dpop::header(req.headers);
    let has_proof = !matches!(proof, Ok(None));
    let mut inner = lock(&shared.inner);
    // Binding is known for any token still held, expired or not; an unknown one skips to the
    // checks that need only the request.
    let bound = inner.tokens.get(token).map(|t| t.jkt.is_some());
    match (scheme, bound) {
        (Scheme::Bearer, Some(true)) if !has_proof => {
            return Err(invalid_request(
                &mut inner,
                Scheme::Bearer,
                host,
                PROOF_REQUIRED,
            ))
        }
        (Scheme::Bearer, Some(true)) => {
            return Err(invalid_request(
                &mut inner,
                Scheme::Bearer,
                host,
                DPOP_SCHEME_REQUIRED,
            ))
        }
        (Scheme::Dpop, Some(false)) => return Err(invalid_token(Scheme::Dpop, host, NOT_BOUND)),
        (Scheme::Dpop, _) if !has_proof => {
            return Err(invalid_request(
                &mut inner,
                Scheme::Dpop,
                host,
                PROOF_REQUIRED,
            ))
        }
        _ => {}
    }
    let live = inner
        .tokens
        .get(token)
        .filter(|t| t.expires_ms > req.now)
        .map(|t| {
            (
                t.jkt.clone(),
                t.scopes.iter().any(|s| s == SCOPE),
                t.client_id.clone(),
            )
        });
    let Some((jkt, has_scope, client_id)) = live else {
        inner.tokens.remove(token);
        return Err(invalid_token(scheme, host, EXPIRED));
    };
    if scheme == Scheme::Dpop {
        // Here the token is bound and a proof header is present (both checked above). An
        // unbound token with the Bearer scheme never gets here: its proof, if any, is ignored.
        let proof = match proof {
            Ok(Some(p)) => p,
            Ok(None) => return Err(invalid_request(&mut inner, scheme, host, PROOF_REQUIRED)),
            Err(e) => return Err(invalid_proof(&mut inner, host, e)),
        };
        let target = Target {
            method: "GET",
            host,
            path: req.path,
        };
        let proof = dpop::verify(proof, &target, req.now, &inner.dpop)
            .map_err(|e| invalid_proof(&mut inner, host, e))?;
        if proof.ath() != Some(dpop::ath_of(token).as_str()) {
            return Err(invalid_proof(&mut inner, host, ProofError::Ath));
        }
        if jkt.as_deref() != Some(proof.thumbprint.as_str()) {
            return Err(invalid_proof(&mut inner, host, ProofError::NotBound));
        }
        // RFC 9449 §9; Okta does not do this today ("The `nonce` parameter isn't currently
        // required"), so it is opt-in, and a nonce is otherwise ignored.
        if inner.dpop.rs_nonce_required
            && !proof
                .nonce()
                .is_some_and(|n| inner.rs_nonces.accepts(n, req.now))
        {
            inner.stats.rs_nonce_challenges += 1;
            let nonce = inner.rs_nonces.current(req.now);
            return Err(Reply::empty(401)
                .header(
                    "www-authenticate",
                    r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#,
                )
                .header("dpop-nonce", nonce));
        }
        if proof.jti().is_none() {
            return Err(invalid_proof(&mut inner, host, ProofError::Jti));
        }
        if req.proof_replayed {
            return Err(invalid_proof(&mut inner, host, ProofError::Replayed));
        }
    }
    if !has_scope {
        return Err(forbidden().header(
            "www-authenticate",
            challenge(
                scheme,
                host,
                "insufficient_scope",
                "The access token provided does not contain the required scopes.",
            ),
        ));
    }
    let admin = inner
        .clients
        .get(&client_id)
        .is_some_and(|c| c.reg.admin_role);
    if !admin {
        return Err(forbidden());
    }
    Ok(())
}
