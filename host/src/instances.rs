//! Instances: what a user sets up ([`NewInstance`], [`EditInstance`]), checked (`validate.rs`) before
//! anything is stored, and the service that stores them.

use crate::validate::{
    normalize_domain, silence_seconds, validate_client_id, validate_key_id, validate_name,
    ConfigError, MAX_BACKFILL_DAYS,
};

use crate::error::HostError;
use crate::exclusions::Exclusions;
use crate::redaction::Redaction;
use crate::signing::Rs256Signer;
use crate::state::{Instance, InstanceChanges, NewInstanceRecord, StateBackend};
use okta_ingest_model::{Categories, DpopMode};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A new instance as the user describes it.
#[derive(Debug, Clone)]
pub struct NewInstance {
    /// Unique name (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// Okta domain, e.g. `company.okta.com` (a pasted `https://` and trailing `/` are stripped).
    pub domain: String,
    /// Client id of the API Services app.
    pub client_id: String,
    /// PEM file with the app's RSA private key; only its path is stored.
    pub private_key: PathBuf,
    /// `kid` of the registered public key, when the app has several.
    pub key_id: Option<String>,
    /// Days of history the first tick fetches, 0..=14 (fixed at creation).
    pub backfill_days: u8,
    /// Categories to deliver.
    pub categories: Categories,
    /// Extra CA certificates to trust for the domain (e.g. a TLS-inspecting proxy's CA).
    pub ca_file: Option<PathBuf>,
    /// Whether to ask Okta for DPoP-bound tokens ([`DpopMode::Auto`], the default, works with apps
    /// that require DPoP and with apps that do not).
    pub dpop: DpopMode,
    /// Report the instance silent (`status`, `/healthz`, the console) when no event has arrived for
    /// this long; `None` never does. [`DEFAULT_SILENCE_AFTER`](crate::DEFAULT_SILENCE_AFTER) is the
    /// default; at least [`MIN_SILENCE_AFTER`](crate::MIN_SILENCE_AFTER).
    pub silence_after: Option<std::time::Duration>,
    /// Event types dropped even inside the selected categories: never stored, never delivered
    /// ([`Exclusions`]; empty for none).
    pub exclusions: Exclusions,
    /// Members removed from every event before it is stored ([`Redaction`]; empty for none).
    pub redaction: Redaction,
}

/// Changes to an instance; `None` keeps a value.
#[derive(Debug, Clone, Default)]
pub struct EditInstance {
    /// New domain (drops the cursor: it is another org).
    pub domain: Option<String>,
    /// New client id.
    pub client_id: Option<String>,
    /// New key file.
    pub private_key: Option<PathBuf>,
    /// New key id (`Some(None)` clears it).
    pub key_id: Option<Option<String>>,
    /// New categories.
    pub categories: Option<Categories>,
    /// New CA file (`Some(None)` clears it).
    pub ca_file: Option<Option<PathBuf>>,
    /// Refused: the backfill of an existing instance cannot change.
    pub backfill_days: Option<u8>,
    /// New DPoP mode.
    pub dpop: Option<DpopMode>,
    /// New silence alert (`Some(None)` turns it off).
    pub silence_after: Option<Option<std::time::Duration>>,
    /// Pause (`true`: no ticks until resumed; queued events are still delivered) or resume.
    pub paused: Option<bool>,
    /// New excluded event types (an empty list removes them).
    pub exclusions: Option<Exclusions>,
    /// New redaction rules (empty: none).
    pub redaction: Option<Redaction>,
}

/// Validates and stores instances.
pub(crate) struct Instances {
    state: Arc<dyn StateBackend>,
}

impl Instances {
    pub(crate) fn new(state: Arc<dyn StateBackend>) -> Instances {
        Instances { state }
    }

    /// Validates and stores a new instance. Nothing is stored if any value is refused.
    pub(crate) async fn add(&self, new: NewInstance) -> Result<Instance, HostError> {
        let record = self.validate(&new).await?;
        Ok(self.state.add_instance(&record).await?)
    }

    /// Validates and stores a new instance paused (a draft): every value is checked as for
    /// [`Instances::add`], but no connection test is asked for, and it does not tick until resumed.
    pub(crate) async fn add_paused(&self, new: NewInstance) -> Result<Instance, HostError> {
        let record = NewInstanceRecord {
            paused: true,
            ..self.validate(&new).await?
        };
        Ok(self.state.add_instance(&record).await?)
    }

    /// Validates a new instance as [`Instances::add`] would, and gives it as an instance that is not
    /// stored (id 0, no cursor): what a test connection before saving runs.
    pub(crate) async fn unsaved(&self, new: &NewInstance) -> Result<Instance, HostError> {
        Ok(Instance::before_first_tick(0, self.validate(new).await?))
    }

    /// Every check of a new instance: values, key file, CA file, no second instance of the same app.
    async fn validate(&self, new: &NewInstance) -> Result<NewInstanceRecord, HostError> {
        let record = NewInstanceRecord {
            name: validate_name(&new.name)?,
            domain: normalize_domain(&new.domain)?,
            client_id: validate_client_id(&new.client_id)?,
            key_id: new.key_id.as_deref().map(validate_key_id).transpose()?,
            private_key_path: absolute(&new.private_key),
            backfill_days: match new.backfill_days {
                d if d <= MAX_BACKFILL_DAYS => d,
                d => return Err(ConfigError::Backfill(d.to_string()).into()),
            },
            categories: match new.categories {
                c if c.is_empty() => return Err(ConfigError::NoCategories.into()),
                c => c,
            },
            ca_file: new.ca_file.as_deref().map(absolute),
            dpop: new.dpop,
            silence_after_s: silence_seconds(new.silence_after)?,
            paused: false,
            exclusions: new.exclusions.clone(),
            redaction: new.redaction.clone(),
        };
        Rs256Signer::from_pem_file(&record.private_key_path)?;
        if let Some(ca) = &record.ca_file {
            crate::outbound::load_ca_file(ca)?;
        }
        self.refuse_same_app(
            &record.name,
            &record.domain,
            &record.client_id,
            record.categories,
        )
        .await?;
        Ok(record)
    }

    /// Refuses a second instance that would read the same categories of the same org with the same app:
    /// de-duplication is per instance, so each of those events would be delivered twice. Instances of
    /// one app with disjoint categories are fine (they share the org's rate budget).
    async fn refuse_same_app(
        &self,
        name: &str,
        domain: &str,
        client_id: &str,
        categories: Categories,
    ) -> Result<(), HostError> {
        for other in self.state.list_instances().await? {
            let common = other.categories.common(categories);
            // Stored domains may predate today's normalisation (a trailing dot, `:443`).
            let other_domain = normalize_domain(&other.domain).unwrap_or(other.domain.clone());
            if other.name != name
                && other_domain == domain
                && other.client_id == client_id
                && !common.is_empty()
            {
                return Err(ConfigError::SameApp {
                    other: other.name,
                    domain: domain.to_string(),
                    client_id: client_id.to_string(),
                    categories: common,
                }
                .into());
            }
        }
        Ok(())
    }

    /// Edits an instance; every new value is validated first.
    pub(crate) async fn edit(&self, name: &str, edit: EditInstance) -> Result<Instance, HostError> {
        if edit.backfill_days.is_some() {
            return Err(HostError::BackfillNotEditable);
        }
        let private_key_path = edit.private_key.as_deref().map(absolute);
        if let Some(p) = &private_key_path {
            Rs256Signer::from_pem_file(p)?;
        }
        let ca_file = edit.ca_file.map(|o| o.as_deref().map(absolute));
        if let Some(Some(ca)) = &ca_file {
            crate::outbound::load_ca_file(ca)?;
        }
        if edit.categories.is_some_and(|c| c.is_empty()) {
            return Err(ConfigError::NoCategories.into());
        }
        let current = self.state.instance(name).await?;
        let changes = InstanceChanges {
            domain: edit.domain.as_deref().map(normalize_domain).transpose()?,
            client_id: edit
                .client_id
                .as_deref()
                .map(validate_client_id)
                .transpose()?,
            key_id: edit
                .key_id
                .map(|k| k.as_deref().map(validate_key_id).transpose())
                .transpose()?,
            private_key_path,
            categories: edit.categories,
            ca_file,
            dpop: edit.dpop,
            silence_after_s: edit.silence_after.map(silence_seconds).transpose()?,
            paused: edit.paused,
            pending_key: None,
            exclusions: edit.exclusions.clone(),
            redaction: edit.redaction.clone(),
        };
        self.refuse_same_app(
            name,
            changes.domain.as_deref().unwrap_or(&current.domain),
            changes.client_id.as_deref().unwrap_or(&current.client_id),
            changes.categories.unwrap_or(current.categories),
        )
        .await?;
        Ok(self.state.edit_instance(name, &changes).await?)
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
