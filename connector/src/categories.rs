//! Event categories from `spec/okta/event-categories.json`, embedded at compile time.

use crate::types::Categories;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The spec file, compiled in so the component needs no filesystem.
const SPEC: &str = include_str!("../../spec/okta/event-categories.json");

/// One category's matching rules.
#[derive(Debug)]
pub struct CategoryDef {
    /// The flag this category sets.
    pub flag: Categories,
    /// Event types matched by equality.
    pub exact: Vec<String>,
    /// Event-type prefixes.
    pub prefixes: Vec<String>,
}

#[derive(Deserialize)]
struct SpecFile {
    categories: BTreeMap<String, SpecCategory>,
}

#[derive(Deserialize)]
struct SpecCategory {
    #[serde(default)]
    prefixes: Vec<String>,
    #[serde(default)]
    exact: Vec<String>,
}

/// Category names in WIT flag order.
const NAMES: [(&str, Categories); 4] = [
    ("authentication", Categories::AUTHENTICATION),
    ("security", Categories::SECURITY),
    ("itp", Categories::ITP),
    ("lifecycle", Categories::LIFECYCLE),
];

/// All category definitions, in WIT flag order, parsed once.
pub fn defs() -> &'static [CategoryDef] {
    static DEFS: OnceLock<Vec<CategoryDef>> = OnceLock::new();
    DEFS.get_or_init(|| {
        // The file is ours and compiled in; a unit test guarantees it parses, so an error here
        // can only mean a broken build. Degrade to "no categories" rather than panic in the guest.
        let mut spec: SpecFile = match serde_json::from_str(SPEC) {
            Ok(s) => s,
            Err(_) => return Vec::new(),
        };
        NAMES
            .iter()
            .filter_map(|(name, flag)| {
                spec.categories.remove(*name).map(|c| CategoryDef {
                    flag: *flag,
                    exact: c.exact,
                    prefixes: c.prefixes,
                })
            })
            .collect()
    })
}

/// Which of the `selected` categories `event_type` belongs to (empty when none).
pub fn classify(event_type: &str, selected: Categories) -> Categories {
    let mut out = Categories::NONE;
    for d in defs() {
        if selected.contains(d.flag) && matches(d, event_type) {
            out |= d.flag;
        }
    }
    out
}

fn matches(d: &CategoryDef, event_type: &str) -> bool {
    d.exact.iter().any(|e| e == event_type)
        || d.prefixes
            .iter()
            .any(|p| event_type.starts_with(p.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parses_with_all_four_categories() {
        let d = defs();
        assert_eq!(d.len(), 4);
        assert!(d
            .iter()
            .all(|c| !c.exact.is_empty() && !c.prefixes.is_empty()));
    }

    #[test]
    fn exact_and_prefix_matching() {
        assert_eq!(
            classify("user.authentication.sso", Categories::ALL),
            Categories::AUTHENTICATION
        );
        assert_eq!(
            classify("policy.evaluate_sign_on", Categories::ALL),
            Categories::AUTHENTICATION
        );
        // Exact values must not match as prefixes.
        assert_eq!(
            classify("policy.evaluate_sign_on.x", Categories::ALL),
            Categories::NONE
        );
        assert_eq!(
            classify("zone.update", Categories::ALL),
            Categories::SECURITY
        );
        assert_eq!(
            classify("group.user_membership.add", Categories::ALL),
            Categories::LIFECYCLE
        );
        assert_eq!(
            classify("app.generic.unauth_app_access_attempt", Categories::ALL),
            Categories::NONE
        );
    }

    #[test]
    fn overlap_gets_every_selected_flag() {
        let both = Categories::AUTHENTICATION | Categories::ITP;
        assert_eq!(classify("user.session.end", Categories::ALL), both);
        assert_eq!(
            classify("user.session.end", Categories::ITP),
            Categories::ITP
        );
        assert_eq!(
            classify("user.session.end", Categories::SECURITY),
            Categories::NONE
        );
        // security. prefix and the ITP exact value.
        assert_eq!(
            classify("security.events.provider.receive_event", Categories::ALL),
            Categories::SECURITY | Categories::ITP
        );
    }
}
