//! The setup engine every way of setting up an instance shares (the web console, the terminal wizard):
//! what the user typed as an Okta domain ([`domain`]), whether that org answers ([`probe`]), what to do
//! in Okta's Admin Console ([`checklist`]), the event groups to choose from ([`groups`]), a test
//! connection told as stages, each failure with its fix ([`stages`]), and what a sample of the org's
//! recent events says about each group and a backfill ([`estimate`]). Nothing here stores anything: an
//! instance is saved only by [`Host::add_instance`](crate::Host::add_instance).

pub mod checklist;
pub mod domain;
pub mod estimate;
pub mod groups;
pub mod probe;
pub mod stages;

pub use checklist::{okta_steps, OktaStep};
pub use domain::{suggest_domain, DomainSuggestion};
pub use estimate::{describe_group, BackfillEstimate, GroupCount};
pub use groups::{event_groups, EventGroup};
pub use probe::{probe_org, OrgProbe, ProbeFailure};
pub use stages::{ConnectionTest, Stage, StageReport, StageState, TestSubject};
