//! The event groups a user chooses from, described for people: each category's title and the event
//! types it holds, read from the same `spec/okta/event-categories.json` the connector filters with (so
//! what the setup shows is what the filter selects).

const SPEC: &str = include_str!("../../../spec/okta/event-categories.json");

/// One category as the setup shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EventGroup {
    /// The name the CLI and the state use (`authentication`).
    pub name: String,
    /// The title (`Authentication events`).
    pub title: String,
    /// Its event types: exact ones, and prefixes written `user.session.*`.
    pub event_types: Vec<String>,
}

/// Every category, in the order of [`Categories::NAMED`](crate::Categories::NAMED). Empty if the
/// embedded spec did not parse (a unit test proves it does).
pub fn event_groups() -> Vec<EventGroup> {
    let Ok(spec) = serde_json::from_str::<serde_json::Value>(SPEC) else {
        return Vec::new();
    };
    let strings = |v: Option<&serde_json::Value>| -> Vec<String> {
        v.and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    okta_ingest_model::Categories::NAMED
        .iter()
        .filter_map(|(name, _)| {
            let c = spec.get("categories")?.get(*name)?;
            let mut event_types = strings(c.get("exact"));
            event_types.extend(
                strings(c.get("prefixes"))
                    .into_iter()
                    .map(|p| format!("{}*", p)),
            );
            Some(EventGroup {
                name: name.to_string(),
                title: c.get("title")?.as_str()?.to_string(),
                event_types,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_is_described_from_the_spec() {
        let groups = event_groups();
        let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["authentication", "security", "itp", "lifecycle"]);
        let auth = &groups[0];
        assert_eq!(auth.title, "Authentication events");
        assert!(auth
            .event_types
            .contains(&"policy.evaluate_sign_on".to_string()));
        assert!(auth.event_types.contains(&"user.session.*".to_string()));
        assert!(groups.iter().all(|g| !g.event_types.is_empty()));
    }
}
