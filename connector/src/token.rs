//! Access tokens: reuse a cached one, or mint a client assertion and exchange it at `/oauth2/v1/token`.

use crate::assertion::{signing_input, token_url};
use crate::env::{Env, HttpRequest, Method};
use crate::errors::OktaError;
use crate::fmt::percent_encode;
use crate::session::Session;
use crate::types::{AccessToken, ErrorKind, TickError};
use serde::Deserialize;

/// A token is reused only when it stays valid at least this long (covers a slow page or two).
pub const MIN_VALIDITY_MS: u64 = 60_000;

/// The message for DPoP-bound apps; the user has to change a setting in Okta.
pub const DPOP_MESSAGE: &str =
    "the Okta app requires DPoP: uncheck \"Require Demonstrating Proof of Possession (DPoP)\" \
                                in the app's General tab";

/// True when `t` is still usable at `now_ms`.
pub fn usable(t: &AccessToken, now_ms: u64) -> bool {
    t.expires_at_ms > now_ms.saturating_add(MIN_VALIDITY_MS)
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    expires_in: Option<u64>,
    token_type: Option<String>,
}

impl<E: Env> Session<'_, E> {
    /// The bearer token to use now: the cached one while usable, else a fresh one from Okta.
    pub fn bearer(&mut self) -> Result<String, TickError> {
        let now = self.env.now_ms();
        if let Some(t) = self.token.as_ref().filter(|t| usable(t, now)) {
            return Ok(t.token.clone());
        }
        self.token = None;
        let t = self.fetch_token()?;
        let token = t.token.clone();
        self.token = Some(t);
        Ok(token)
    }

    /// Request a new token (fresh assertion per attempt; 5xx/429/network retried like log requests).
    pub fn fetch_token(&mut self) -> Result<AccessToken, TickError> {
        let url = token_url(&self.config.domain);
        let mut retry = 0;
        loop {
            let (resp, _pace) = self.send(|s| s.token_request(&url), &mut retry)?;
            if !(200..300).contains(&resp.status) {
                return Err(classify_token_error(
                    resp.status,
                    &resp.body,
                    &self.config.client_id,
                ));
            }
            match serde_json::from_slice::<TokenResponse>(&resp.body) {
                Ok(t) => return self.accept(t, resp.status),
                Err(e) => {
                    let err = TickError::http(
                        ErrorKind::BadResponse,
                        format!("Okta's token endpoint answered {} with unusable JSON ({e}); retried next tick", resp.status),
                        resp.status,
                        None,
                    );
                    self.back_off(&mut retry, err)?;
                }
            }
        }
    }

    fn accept(&mut self, t: TokenResponse, status: u16) -> Result<AccessToken, TickError> {
        let token_type = t.token_type.unwrap_or_default();
        if token_type.eq_ignore_ascii_case("DPoP") {
            return Err(TickError::http(
                ErrorKind::DpopRequired,
                DPOP_MESSAGE,
                status,
                None,
            ));
        }
        if !token_type.eq_ignore_ascii_case("Bearer") {
            return Err(TickError::http(
                ErrorKind::AuthFailed,
                format!("Okta issued a token of type {token_type:?}, expected Bearer; check the app's token settings"),
                status,
                None,
            ));
        }
        let token = t.access_token.filter(|a| !a.is_empty()).ok_or_else(|| {
            TickError::http(
                ErrorKind::BadResponse,
                "Okta's token response has no access_token; retried next tick",
                status,
                None,
            )
        })?;
        // Okta's lifetime is fixed at one hour; assume that if expires_in is missing.
        let lifetime_ms = t.expires_in.unwrap_or(3600).saturating_mul(1000);
        Ok(AccessToken {
            token,
            expires_at_ms: self.env.now_ms().saturating_add(lifetime_ms),
        })
    }

    /// Build one token request around a freshly signed assertion.
    fn token_request(&mut self, url: &str) -> Result<HttpRequest, TickError> {
        let now = self.env.now_ms();
        let jti = self.env.random_bytes(16);
        let input = signing_input(
            &self.config.domain,
            &self.config.client_id,
            self.config.key_id.as_deref(),
            now,
            &jti,
        );
        let sig = self.env.sign(&input).map_err(|e| {
            TickError::new(ErrorKind::Host, format!("the host could not sign the client assertion ({e}); check the instance's private key"))
        })?;
        let body = format!(
            "grant_type=client_credentials&scope=okta.logs.read\
             &client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer\
             &client_assertion={}.{}",
            input,
            percent_encode(&sig)
        );
        Ok(HttpRequest {
            method: Method::Post,
            url: url.to_string(),
            headers: vec![
                (
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
                ("accept".into(), "application/json".into()),
            ],
            body: body.into_bytes(),
            timeout_ms: self.tuning.request_timeout_ms,
        })
    }
}

/// Map a token-endpoint rejection to what the user must fix.
pub fn classify_token_error(status: u16, body: &[u8], client_id: &str) -> TickError {
    let e = OktaError::parse(body);
    let code = e.code().unwrap_or("").to_string();
    let text = e.text().unwrap_or("").to_string();
    let lower = text.to_ascii_lowercase();
    let okta_code = (!code.is_empty()).then(|| code.clone());
    let err = |kind, msg: String| TickError::http(kind, msg, status, okta_code.clone());
    if code == "invalid_dpop_proof" || code == "use_dpop_nonce" || lower.contains("dpop") {
        return err(ErrorKind::DpopRequired, DPOP_MESSAGE.to_string());
    }
    if lower.contains("kid") && lower.contains("invalid") {
        return err(
            ErrorKind::InvalidSignature,
            format!("Okta rejected the assertion's key id ({text}): pass the kid of the registered public key with --key-id"),
        );
    }
    if code == "invalid_client" && lower.contains("signature") {
        return err(
            ErrorKind::InvalidSignature,
            format!(
                "Okta rejected the client assertion signature: wrong private key for this client id, or the public key \
                 is not registered in the app ({text})"
            ),
        );
    }
    if e.error_code.as_deref() == Some("invalid_client") || lower.contains("client_id") {
        return err(
            ErrorKind::UnknownClient,
            format!("Okta does not know client id {client_id:?} ({text}); check the API Services app's client id and the domain"),
        );
    }
    if code == "invalid_scope" {
        return err(
            ErrorKind::ScopeNotGranted,
            "okta.logs.read is not granted to the app: grant okta.logs.read in the app's Okta API Scopes tab".to_string(),
        );
    }
    err(
        ErrorKind::AuthFailed,
        format!(
            "Okta refused the token request (HTTP {status}, {}); check the app's client credentials and public key settings",
            e.describe(body)
        ),
    )
}
