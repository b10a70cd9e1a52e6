//! The setup engine every way of setting up an instance shares (the web console now, a terminal wizard
//! later): what the user typed as an Okta domain ([`domain`]), whether that org answers ([`probe`]),
//! and a test connection told as stages, each failure with its fix ([`stages`]). Nothing here stores
//! anything: an instance is saved only by [`Host::add_instance`](crate::Host::add_instance).

pub mod domain;
pub mod probe;
pub mod stages;

pub use domain::{suggest_domain, DomainSuggestion};
pub use probe::{probe_org, OrgProbe, ProbeFailure};
pub use stages::{ConnectionTest, Stage, StageReport, StageState, TestSubject};
