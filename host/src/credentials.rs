//! What an instance signs with and the tokens it got: parsed private keys (reloaded when their file
//! changes; parsing an RSA key costs milliseconds) and access tokens by OAuth app, in memory only.
//! Instances of the same app on the same org share one token: Okta's token endpoint has its own rate
//! limit, and a token per instance would waste it.

use crate::error::HostError;
use crate::runtime::AccessToken;
use crate::signing::Rs256Signer;
use crate::state::Instance;
use okta_ingest_model::DpopMode;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// The OAuth app a token belongs to: same org, client, key and kid, and the same DPoP mode (an
/// instance with DPoP off must not be handed a token bound to the proof key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AppKey {
    domain: String,
    client_id: String,
    private_key: PathBuf,
    key_id: Option<String>,
    dpop: DpopMode,
}

impl AppKey {
    fn of(instance: &Instance) -> AppKey {
        AppKey {
            domain: instance.domain.clone(),
            client_id: instance.client_id.clone(),
            private_key: instance.private_key_path.clone(),
            key_id: instance.key_id.clone(),
            dpop: instance.dpop,
        }
    }
}

struct CachedSigner {
    modified: Option<SystemTime>,
    len: u64,
    signer: Arc<Rs256Signer>,
}

/// Signers by key file and tokens by app.
#[derive(Default)]
pub(crate) struct Credentials {
    signers: Mutex<HashMap<PathBuf, CachedSigner>>,
    tokens: Mutex<HashMap<AppKey, AccessToken>>,
}

impl Credentials {
    /// The signer for a key file, parsed once and reloaded when the file changes.
    pub(crate) fn signer(&self, path: &Path) -> Result<Arc<Rs256Signer>, HostError> {
        let meta = std::fs::metadata(path).ok();
        let modified = meta.as_ref().and_then(|m| m.modified().ok());
        let len = meta.as_ref().map_or(0, |m| m.len());
        let mut cache = self.signers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.get(path) {
            if meta.is_some() && c.modified == modified && c.len == len {
                return Ok(c.signer.clone());
            }
        }
        let signer = Arc::new(Rs256Signer::from_pem_file(path)?);
        if crate::files::readable_by_others(path) {
            tracing::warn!(key = %path.display(), "the private key file is readable by other users; make it private (chmod 600)");
        }
        cache.insert(
            path.to_path_buf(),
            CachedSigner {
                modified,
                len,
                signer: signer.clone(),
            },
        );
        Ok(signer)
    }

    /// The token cached for an instance's app.
    pub(crate) fn token(&self, instance: &Instance) -> Option<AccessToken> {
        self.lock_tokens().get(&AppKey::of(instance)).cloned()
    }

    /// Keeps the token a tick ended with (`None` forgets the app's token: the connector dropped it).
    pub(crate) fn keep_token(&self, instance: &Instance, token: Option<AccessToken>) {
        let mut tokens = self.lock_tokens();
        match token {
            Some(t) => tokens.insert(AppKey::of(instance), t),
            None => tokens.remove(&AppKey::of(instance)),
        };
    }

    fn lock_tokens(&self) -> std::sync::MutexGuard<'_, HashMap<AppKey, AccessToken>> {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(name: &str, client_id: &str) -> Instance {
        Instance {
            client_id: client_id.into(),
            ..crate::state::testing::instance(name)
        }
    }

    #[test]
    fn instances_of_one_app_share_a_token_and_other_apps_do_not() {
        let c = Credentials::default();
        let t = AccessToken {
            token: "t".into(),
            expires_at_ms: 1,
            scheme: okta_ingest_model::TokenScheme::Dpop,
        };
        c.keep_token(&instance("a", "app1"), Some(t.clone()));
        assert_eq!(c.token(&instance("b", "app1")), Some(t));
        assert_eq!(c.token(&instance("c", "app2")), None);
        c.keep_token(&instance("b", "app1"), None);
        assert_eq!(c.token(&instance("a", "app1")), None);
    }

    #[test]
    fn a_changed_key_file_is_parsed_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        let c = Credentials::default();
        assert!(c.signer(&path).is_err(), "a missing file is an error");
        use rsa::pkcs8::{EncodePrivateKey, LineEnding};
        let pem = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048)
            .unwrap()
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap();
        std::fs::write(&path, pem.as_bytes()).unwrap();
        let first = c.signer(&path).unwrap();
        assert!(Arc::ptr_eq(&first, &c.signer(&path).unwrap()), "cached");
        std::fs::write(&path, format!("{}\n", pem.as_str())).unwrap();
        assert!(!Arc::ptr_eq(&first, &c.signer(&path).unwrap()), "reloaded");
    }
}
