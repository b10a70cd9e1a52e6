//! Who may use the console, checked on every request before any page runs:
//! - **Host allow-list** (421): only `127.0.0.1:PORT`, `localhost:PORT` and `[::1]:PORT` are this
//!   console's names, so a web page that rebinds its own DNS name to 127.0.0.1 (DNS rebinding) cannot
//!   talk to it from the operator's browser.
//! - **One-time login** (401 without it): the URL printed at start carries a random token; its first use
//!   swaps it for an `HttpOnly; SameSite=Strict` session cookie and redirects to the same path without
//!   the token, so the token leaves the address bar and the history. A used token never works again.
//! - **Security headers** on every answer: a strict CSP (no inline script, no other origin), no framing,
//!   no referrer, `no-store` (pages may show a public key, never a private one; nothing is cached).
//!
//! Cross-site form posts are refused (403) by tower-http's Fetch-Metadata CSRF layer, which runs after
//! this one (see `lib.rs`).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "okta_ingest_session";

/// The console's access rules: its names, its one-time login token, its sessions.
pub(crate) struct Access {
    allowed_hosts: Vec<String>,
    /// SHA-256 of the login token while unused.
    login: Mutex<Option<[u8; 32]>>,
    /// SHA-256 of each session id handed out (the ids themselves are only in the browser).
    sessions: Mutex<HashSet<[u8; 32]>>,
}

/// 192 random bits, base64url.
fn random_token() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Access {
    /// Rules for a console on `port`; returns them and the login token to print.
    pub(crate) fn new(port: u16) -> (Access, String) {
        let token = random_token();
        let access = Access {
            allowed_hosts: vec![
                format!("127.0.0.1:{port}"),
                format!("localhost:{port}"),
                format!("[::1]:{port}"),
            ],
            login: Mutex::new(Some(digest(&token))),
            sessions: Mutex::new(HashSet::new()),
        };
        (access, token)
    }

    fn host_allowed(&self, host: Option<&HeaderValue>) -> bool {
        host.and_then(|h| h.to_str().ok())
            .is_some_and(|h| self.allowed_hosts.iter().any(|a| a.eq_ignore_ascii_case(h)))
    }

    /// Uses the login token: true once for the right token (compared by digest, so in constant time
    /// with respect to the token), false ever after.
    fn redeem(&self, token: &str) -> bool {
        let mut login = self.login.lock().unwrap_or_else(|p| p.into_inner());
        if *login == Some(digest(token)) {
            *login = None;
            true
        } else {
            false
        }
    }

    fn new_session(&self) -> String {
        let id = random_token() + &random_token();
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest(&id));
        id
    }

    fn has_session(&self, cookies: Option<&HeaderValue>) -> bool {
        let Some(cookies) = cookies.and_then(|c| c.to_str().ok()) else {
            return false;
        };
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        cookies
            .split(';')
            .filter_map(|c| c.trim().split_once('='))
            .any(|(name, value)| name == SESSION_COOKIE && sessions.contains(&digest(value)))
    }
}

/// Plain-text refusal.
fn refuse(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// The outermost layer: Host allow-list, then login or session, then the request; security headers on
/// every answer, refusals included.
pub(crate) async fn guard(
    State(access): State<Arc<Access>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = check(&access, request, next).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn check(access: &Access, request: Request, next: Next) -> Response {
    if !access.host_allowed(request.headers().get(header::HOST)) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "this console answers only to 127.0.0.1, localhost and [::1] on its own port\n",
        );
    }
    if let Some(token) = login_token(request.uri().query()) {
        if !access.redeem(&token) {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "this login link is wrong or was used already: each link works once; open the newest link the console printed, in the browser that used it first\n",
            );
        }
        let session = access.new_session();
        let cookie = format!("{SESSION_COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/");
        let path = request.uri().path().to_string();
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::SEE_OTHER;
        if let (Ok(loc), Ok(c)) = (HeaderValue::from_str(&path), HeaderValue::from_str(&cookie)) {
            r.headers_mut().insert(header::LOCATION, loc);
            r.headers_mut().insert(header::SET_COOKIE, c);
        }
        return r;
    }
    if !access.has_session(request.headers().get(header::COOKIE)) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "no session: open the login link the console printed when it started\n",
        );
    }
    next.run(request).await
}

/// The `token` query parameter, if any.
fn login_token(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_token_works_once_and_only_itself() {
        let (access, token) = Access::new(8730);
        assert!(!access.redeem("wrong"));
        assert!(access.redeem(&token));
        assert!(!access.redeem(&token), "a used token never works again");
        assert_eq!(token.len(), 32, "192 bits in base64url");
    }

    #[test]
    fn only_the_consoles_own_names_are_allowed_hosts() {
        let (access, _) = Access::new(8730);
        let ok = |h: &'static str| access.host_allowed(Some(&HeaderValue::from_static(h)));
        assert!(
            ok("127.0.0.1:8730")
                && ok("localhost:8730")
                && ok("LOCALHOST:8730")
                && ok("[::1]:8730")
        );
        assert!(!ok("127.0.0.1:8731") && !ok("evil.example:8730") && !ok("localhost"));
        assert!(!access.host_allowed(None));
    }

    #[test]
    fn sessions_are_recognised_by_their_cookie_only() {
        let (access, _) = Access::new(1);
        let id = access.new_session();
        let cookie = |s: String| HeaderValue::from_str(&s).unwrap();
        assert!(access.has_session(Some(&cookie(format!("a=b; {SESSION_COOKIE}={id}")))));
        assert!(!access.has_session(Some(&cookie(format!("{SESSION_COOKIE}=x{id}")))));
        assert!(!access.has_session(Some(&cookie(format!("other={id}")))));
        assert!(!access.has_session(None));
    }
}
