//! Event types an instance drops even inside its selected categories (routine noise such as
//! `policy.evaluate_sign_on`): exact `eventType`s, or prefixes ending in `*` (`system.agent.*`).
//!
//! The host applies them when a page is committed, before the outbox: an excluded event is never
//! stored, so no sink receives it, whatever connector component runs; the page's cursor still moves
//! past it. Everything else stays byte for byte as Okta sent it.

/// Most entries an instance may have.
pub const MAX_EXCLUSIONS: usize = 200;

/// An instance's excluded event types (empty: none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exclusions(Vec<String>);

impl Exclusions {
    /// Parses a comma-separated list (`a.b.c, x.y.*`); an empty list is no exclusion. Entries are
    /// `eventType`s (letters, digits, `.`, `_`, `-`), each optionally ending in `*` for a prefix; a
    /// lone `*` is refused (deselect the category instead). Duplicates are dropped.
    pub fn parse(list: &str) -> Result<Exclusions, String> {
        let mut entries: Vec<String> = Vec::new();
        for raw in list.split(',') {
            let entry = raw.trim();
            if entry.is_empty() {
                continue;
            }
            let stem = entry.strip_suffix('*').unwrap_or(entry);
            if stem.is_empty() || stem.len() > 200 {
                return Err(format!(
                    "{entry:?} would exclude every event (or is too long); give an event type such as policy.evaluate_sign_on or a prefix such as system.agent.*"
                ));
            }
            if !stem
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            {
                return Err(format!(
                    "{entry:?} is not an event type: letters, digits, '.', '_' and '-', with an optional '*' at the end for a prefix"
                ));
            }
            if !entries.iter().any(|e| e == entry) {
                entries.push(entry.to_string());
            }
        }
        if entries.len() > MAX_EXCLUSIONS {
            return Err(format!(
                "{} entries; at most {MAX_EXCLUSIONS} (use prefixes)",
                entries.len()
            ));
        }
        Ok(Exclusions(entries))
    }

    /// What the state stored ([`Exclusions::to_stored`]); entries this build cannot read are skipped
    /// rather than failing the instance.
    pub fn from_stored(text: &str) -> Exclusions {
        Exclusions(
            text.split(',')
                .filter_map(|e| Exclusions::parse(e).ok())
                .flat_map(|e| e.0)
                .collect(),
        )
    }

    /// The stored form: the entries joined by commas (empty for none).
    pub fn to_stored(&self) -> String {
        self.0.join(",")
    }

    /// The entries, in the order given.
    pub fn entries(&self) -> &[String] {
        &self.0
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when `event_type` is excluded: equal to an entry, or starting with a prefix entry's stem.
    pub fn excludes(&self, event_type: &str) -> bool {
        self.0.iter().any(|e| match e.strip_suffix('*') {
            Some(stem) => event_type.starts_with(stem),
            None => e == event_type,
        })
    }
}

impl std::fmt::Display for Exclusions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_types_and_prefixes_exclude_only_what_they_name() {
        let x = Exclusions::parse(" policy.evaluate_sign_on, system.agent.* ,,").unwrap();
        assert_eq!(x.entries(), ["policy.evaluate_sign_on", "system.agent.*"]);
        assert!(x.excludes("policy.evaluate_sign_on"));
        assert!(!x.excludes("policy.evaluate_sign_on.extra"));
        assert!(!x.excludes("policy.lifecycle.update"));
        assert!(x.excludes("system.agent.ad.read_config"));
        assert!(!x.excludes("system.agentless"));
        assert_eq!(Exclusions::from_stored(&x.to_stored()), x);
        assert_eq!(x.to_string(), "policy.evaluate_sign_on, system.agent.*");
        assert!(Exclusions::parse("").unwrap().is_empty());
        assert_eq!(Exclusions::parse("a.b,a.b").unwrap().entries(), ["a.b"]);
    }

    #[test]
    fn what_is_not_an_event_type_is_refused() {
        for bad in ["*", " * ", "user.*.start", "user session", "a\"b", "a*b*"] {
            assert!(Exclusions::parse(bad).is_err(), "{bad}");
        }
        let many: Vec<String> = (0..=MAX_EXCLUSIONS).map(|i| format!("t.{i}")).collect();
        assert!(Exclusions::parse(&many.join(",")).is_err());
        // A stored entry this build cannot read is skipped, not fatal.
        assert_eq!(
            Exclusions::from_stored("a.b,not valid,c.*").entries(),
            ["a.b", "c.*"]
        );
    }
}
