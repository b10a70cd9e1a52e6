//! What to do in the Okta Admin Console for a key okta-ingest holds, in the console's own menu wording
//! (SETUP-UX §2.1), each step with the test stage that proves it was done. One copy for every setup UI
//! (the web console ticks a step when its stage passes; the terminal wizard numbers them), so the two
//! never tell people different clicks.

use super::stages::Stage;

/// One step in the Okta Admin Console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OktaStep {
    /// What to click and type, in Okta's wording.
    pub text: String,
    /// The test stage that passes only once this step is done.
    pub proven_by: Stage,
}

/// The steps that make an API Services app okta-ingest can read the System Log with, for the key whose
/// public JWK (carrying `kid`) the user was shown.
pub fn okta_steps(kid: &str) -> Vec<OktaStep> {
    let step = |text: String, proven_by| OktaStep { text, proven_by };
    vec![
        step(
            "In the Okta Admin Console: Applications › Applications › Create App Integration › API Services › Next; name it (e.g. okta-ingest) › Save.".into(),
            Stage::ClientKnown,
        ),
        step(
            format!("General tab › Client Credentials › Edit › choose Public key / Private key › Add key › paste the public JWK shown (kid {kid}) › Done › Save (and Save again to confirm)."),
            Stage::KeyAccepted,
        ),
        step(
            "Okta API Scopes tab › Grant next to okta.logs.read (only a Super Admin can grant scopes).".into(),
            Stage::ScopeGranted,
        ),
        step(
            "Admin Roles tab › Edit assignments › Role: Report Administrator (it reads the System Log and nothing else; Read-only Administrator also sees users, apps and policies) › Save Changes.".into(),
            Stage::AdminRole,
        ),
        step(
            "General tab: copy the Client ID (it starts with 0oa); okta-ingest asks for it next. \"Require DPoP\" can stay on: okta-ingest handles it.".into(),
            Stage::ClientKnown,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_names_the_kid_or_a_stage_that_proves_it() {
        let steps = okta_steps("kid-1");
        assert_eq!(steps.len(), 5);
        assert!(steps[1].text.contains("kid kid-1"));
        assert_eq!(steps[1].proven_by, Stage::KeyAccepted);
        assert!(steps
            .iter()
            .any(|s| s.text.contains("Report Administrator")));
        assert!(steps.iter().any(|s| s.text.contains("okta.logs.read")));
    }
}
