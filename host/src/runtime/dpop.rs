//! The WIT 1.1 `dpop` interface the component imports: the instance's mode, the proof key's public half
//! and signatures with it (the key stays here), the org's token-endpoint nonce, and the schemes of the
//! tokens passed in and handed back. A 1.0 component never calls it.

use super::bindings::wit_dpop::{self as wit, Host};
use super::store::StoreData;
use okta_ingest_model::{DpopMode, TokenScheme};

/// Longest nonce kept: Okta's are 32 characters; a component must not grow the state without bound.
const MAX_NONCE_LEN: usize = 512;

impl Host for StoreData {
    async fn mode(&mut self) -> wasmtime::Result<wit::DpopMode> {
        // No DPoP context (describe) means no proofs.
        let mode = self.dpop.as_ref().map_or(DpopMode::Off, |d| d.mode);
        Ok(match mode {
            DpopMode::Auto => wit::DpopMode::Auto,
            DpopMode::Required => wit::DpopMode::Required,
            DpopMode::Off => wit::DpopMode::Off,
        })
    }

    async fn public_key(&mut self) -> wasmtime::Result<Result<wit::ProofKey, String>> {
        Ok(match &self.dpop {
            Some(d) => Ok(wit::ProofKey {
                alg: crate::dpop::ALG.to_string(),
                jwk: d.key.public_jwk().to_string(),
            }),
            None => Err("no DPoP key in this call".into()),
        })
    }

    async fn sign_proof(
        &mut self,
        signing_input: String,
    ) -> wasmtime::Result<Result<String, String>> {
        Ok(match &self.dpop {
            // ES256 takes tens of microseconds: no need to leave the async thread.
            Some(d) => Ok(d.key.sign_b64url(signing_input.as_bytes())),
            None => Err("no DPoP key in this call".into()),
        })
    }

    async fn get_nonce(&mut self) -> wasmtime::Result<Option<wit::DpopNonce>> {
        let Some(d) = &self.dpop else {
            return Ok(None);
        };
        Ok(d.nonces.get(&d.domain).await.map(|n| wit::DpopNonce {
            value: n.value,
            received_at_ms: n.received_ms,
        }))
    }

    async fn keep_nonce(&mut self, value: String) -> wasmtime::Result<()> {
        let Some(d) = &self.dpop else {
            return Ok(());
        };
        let printable = value.bytes().all(|b| (0x21..0x7f).contains(&b));
        if value.is_empty() || value.len() > MAX_NONCE_LEN || !printable {
            tracing::debug!(instance = %self.instance, "ignored a DPoP nonce that is not a plain token");
            return Ok(());
        }
        d.nonces.keep(&d.domain, &value).await;
        Ok(())
    }

    async fn get_token_scheme(&mut self) -> wasmtime::Result<wit::TokenScheme> {
        let scheme = self
            .dpop
            .as_ref()
            .map_or(TokenScheme::Bearer, |d| d.token_scheme);
        Ok(to_wit(scheme))
    }

    async fn set_token_scheme(&mut self, scheme: wit::TokenScheme) -> wasmtime::Result<()> {
        self.token_scheme_out = Some(match scheme {
            wit::TokenScheme::Bearer => TokenScheme::Bearer,
            wit::TokenScheme::Dpop => TokenScheme::Dpop,
        });
        Ok(())
    }
}

fn to_wit(s: TokenScheme) -> wit::TokenScheme {
    match s {
        TokenScheme::Bearer => wit::TokenScheme::Bearer,
        TokenScheme::Dpop => wit::TokenScheme::Dpop,
    }
}
