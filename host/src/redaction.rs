//! JSON members an instance removes from every event before it is stored (sensitive `debugData`),
//! everything else staying byte for byte as Okta sent it.
//!
//! A rule is a dotted path of member names (`debugContext.debugData.requestUri`), removing that member;
//! a last segment `*` removes every member of the object at that path except those a keep path names
//! (`debugContext.debugData.*` with keep `debugContext.debugData.privilegeGranted`). A path that reaches
//! an array applies to each of its elements (`target.detailEntry`). Members are cut out of the text
//! with their separating comma, so what is left is still the event's own bytes; members a sink needs
//! (`uuid`, `published`, `eventType`, `severity`) cannot be removed.
//!
//! Like exclusions, the host applies it when a page is committed: removed values are never stored, so
//! no sink, log or state backup holds them.

/// Most rules (remove plus keep) an instance may have.
pub const MAX_REDACTION_RULES: usize = 100;

/// Members sinks read; never removed.
const PROTECTED: [&str; 4] = ["uuid", "published", "eventType", "severity"];

/// Deepest nesting the redactor walks (objects and arrays along a rule's path).
const MAX_DEPTH: usize = 64;

/// An instance's redaction rules (empty: none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redaction {
    remove: Vec<Vec<String>>,
    keep: Vec<Vec<String>>,
}

fn parse_path(p: &str) -> Result<Vec<String>, String> {
    let segments: Vec<String> = p.split('.').map(str::to_string).collect();
    if segments.len() > 16 {
        return Err(format!("{p:?} is deeper than 16 members"));
    }
    for (i, s) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let ok = (s == "*" && last && i > 0)
            || (!s.is_empty()
                && s.len() <= 100
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'$' | b'@')));
        if !ok {
            return Err(format!(
                "{p:?} is not a member path: names of letters, digits, '_', '-', '$' or '@' joined by '.', with an optional last '*' for every member of an object"
            ));
        }
    }
    Ok(segments)
}

fn parse_list(list: &str) -> Result<Vec<Vec<String>>, String> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let path = parse_path(p)?;
        if !out.contains(&path) {
            out.push(path);
        }
    }
    Ok(out)
}

impl Redaction {
    /// Parses comma-separated remove and keep paths (see the module documentation). A keep path must
    /// be one a `*` rule would remove; a rule may not remove what sinks need.
    pub fn parse(remove: &str, keep: &str) -> Result<Redaction, String> {
        let r = Redaction {
            remove: parse_list(remove)?,
            keep: parse_list(keep)?,
        };
        if r.remove.len() + r.keep.len() > MAX_REDACTION_RULES {
            return Err(format!("at most {MAX_REDACTION_RULES} paths"));
        }
        for path in &r.remove {
            if path.len() == 1 && PROTECTED.contains(&path[0].as_str()) {
                return Err(format!(
                    "{} cannot be removed: sinks need {}",
                    path[0],
                    PROTECTED.join(", ")
                ));
            }
        }
        for k in &r.keep {
            if k.last().is_some_and(|s| s == "*")
                || !r.remove.iter().any(|rule| star_matches(rule, k))
            {
                return Err(format!(
                    "the keep path {:?} is not removed by any rule ending in *, so it keeps nothing",
                    k.join(".")
                ));
            }
        }
        Ok(r)
    }

    /// The stored form: remove paths, `;`, keep paths (each comma-separated; empty for none).
    pub fn to_stored(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        format!("{};{}", join(&self.remove), join(&self.keep))
    }

    /// What [`Redaction::to_stored`] wrote. A stored value this build cannot read removes nothing
    /// and says so in the log (it was valid when stored, so only a newer release could write one).
    pub fn from_stored(text: &str) -> Redaction {
        if text.is_empty() {
            return Redaction::default();
        }
        let (remove, keep) = text.split_once(';').unwrap_or((text, ""));
        Redaction::parse(remove, keep).unwrap_or_else(|e| {
            tracing::error!("a stored redaction rule cannot be read ({e}); it is not applied");
            Redaction::default()
        })
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty()
    }

    /// The remove paths, dotted.
    pub fn remove_paths(&self) -> Vec<String> {
        self.remove.iter().map(|p| p.join(".")).collect()
    }

    /// The keep paths, dotted.
    pub fn keep_paths(&self) -> Vec<String> {
        self.keep.iter().map(|p| p.join(".")).collect()
    }

    /// `raw` (a JSON object) with the members the rules name removed; `None` if it is not well-formed
    /// JSON (or nested deeper than 64 along a rule's path).
    pub fn apply(&self, raw: &str) -> Option<String> {
        if self.is_empty() {
            return Some(raw.to_string());
        }
        let s = Scanner(raw.as_bytes());
        let start = s.ws(0);
        let mut cuts = Vec::new();
        let mut path = Vec::new();
        let end = self.walk(&s, start, &mut path, &mut cuts, 0)?;
        if s.ws(end) != raw.len() {
            return None;
        }
        let mut out = String::with_capacity(raw.len());
        let mut at = 0;
        for (from, to) in cuts {
            out.push_str(raw.get(at..from)?);
            at = to;
        }
        out.push_str(raw.get(at..)?);
        Some(out)
    }

    fn removes(&self, path: &[&str]) -> bool {
        // `*` can only be a rule's last segment (see `parse_path`).
        let named = |rule: &Vec<String>| {
            rule.len() == path.len() && rule.iter().zip(path).all(|(r, p)| r == p || r == "*")
        };
        let kept = self
            .keep
            .iter()
            .any(|k| k.len() == path.len() && k.iter().zip(path).all(|(a, b)| a == b));
        self.remove.iter().any(named) && !kept
    }

    fn leads_somewhere(&self, path: &[&str]) -> bool {
        self.remove
            .iter()
            .any(|rule| rule.len() > path.len() && rule.iter().zip(path).all(|(r, p)| r == p))
    }

    /// Walks the value at `i` (its member path `path`), recording the byte ranges to cut; returns
    /// the end of the value.
    fn walk<'a>(
        &self,
        s: &Scanner<'a>,
        i: usize,
        path: &mut Vec<&'a str>,
        cuts: &mut Vec<(usize, usize)>,
        depth: usize,
    ) -> Option<usize> {
        if depth > MAX_DEPTH {
            return None;
        }
        match s.0.get(i)? {
            b'{' => {
                let mut members = Vec::new(); // (member start, value end, removed)
                let mut j = s.ws(i + 1);
                if s.0.get(j)? == &b'}' {
                    return Some(j + 1);
                }
                loop {
                    let key_end = s.string_end(j)?;
                    let key = s.key(j, key_end)?;
                    let colon = s.ws(key_end);
                    if s.0.get(colon)? != &b':' {
                        return None;
                    }
                    let value = s.ws(colon + 1);
                    path.push(key);
                    let removed = self.removes(path);
                    let value_end = if !removed && self.leads_somewhere(path) {
                        self.walk(s, value, path, cuts, depth + 1)?
                    } else {
                        s.value_end(value)?
                    };
                    path.pop();
                    members.push((j, value_end, removed));
                    let next = s.ws(value_end);
                    match s.0.get(next)? {
                        b',' => j = s.ws(next + 1),
                        b'}' => {
                            cut_members(&members, cuts);
                            return Some(next + 1);
                        }
                        _ => return None,
                    }
                }
            }
            b'[' if self.leads_somewhere(path) || path.is_empty() => {
                let mut j = s.ws(i + 1);
                if s.0.get(j)? == &b']' {
                    return Some(j + 1);
                }
                loop {
                    let end = self.walk(s, j, path, cuts, depth + 1)?;
                    let next = s.ws(end);
                    match s.0.get(next)? {
                        b',' => j = s.ws(next + 1),
                        b']' => return Some(next + 1),
                        _ => return None,
                    }
                }
            }
            _ => s.value_end(i),
        }
    }
}

/// The cuts that remove an object's `removed` members with their separating commas; nested cuts
/// already recorded lie inside kept members, so the ranges stay ordered once sorted.
fn cut_members(members: &[(usize, usize, bool)], cuts: &mut Vec<(usize, usize)>) {
    let Some(first_kept) = members.iter().position(|m| !m.2) else {
        if let (Some(first), Some(last)) = (members.first(), members.last()) {
            cuts.push((first.0, last.1));
        }
        return;
    };
    if first_kept > 0 {
        cuts.push((members[0].0, members[first_kept].0));
    }
    for i in first_kept + 1..members.len() {
        if members[i].2 {
            cuts.push((members[i - 1].1, members[i].1));
        }
    }
    cuts.sort_unstable();
}

fn join(paths: &[Vec<String>]) -> String {
    paths
        .iter()
        .map(|p| p.join("."))
        .collect::<Vec<_>>()
        .join(",")
}

/// True when `rule` ends in `*` and names `path`'s parent.
fn star_matches(rule: &[String], path: &[String]) -> bool {
    rule.len() == path.len()
        && rule.last().is_some_and(|s| s == "*")
        && rule[..rule.len() - 1] == path[..path.len() - 1]
}

/// Byte-level JSON scanning over text that should be well-formed; every step checks bounds.
struct Scanner<'a>(&'a [u8]);

impl<'a> Scanner<'a> {
    fn ws(&self, mut i: usize) -> usize {
        while matches!(self.0.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            i += 1;
        }
        i
    }

    /// `i` at a `"`: the index after the closing quote.
    fn string_end(&self, i: usize) -> Option<usize> {
        if self.0.get(i)? != &b'"' {
            return None;
        }
        let mut j = i + 1;
        loop {
            match self.0.get(j)? {
                b'"' => return Some(j + 1),
                b'\\' => j += 2,
                _ => j += 1,
            }
        }
    }

    /// The member name of the string at `from..to` (escapes decoded when there are any).
    fn key(&self, from: usize, to: usize) -> Option<&'a str> {
        let inner = std::str::from_utf8(self.0.get(from + 1..to - 1)?).ok()?;
        // Okta's member names have no escapes; one that does matches no rule (paths cannot hold them).
        Some(if inner.contains('\\') { "\\" } else { inner })
    }

    /// The index after the value starting at `i`.
    fn value_end(&self, i: usize) -> Option<usize> {
        match self.0.get(i)? {
            b'"' => self.string_end(i),
            b'{' | b'[' => {
                let mut depth = 0usize;
                let mut j = i;
                loop {
                    match self.0.get(j)? {
                        b'"' => {
                            j = self.string_end(j)?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                return Some(j + 1);
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
            }
            _ => {
                let mut j = i;
                while matches!(self.0.get(j), Some(b) if !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                {
                    j += 1;
                }
                (j > i).then_some(j)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(remove: &str, keep: &str) -> Redaction {
        Redaction::parse(remove, keep).unwrap()
    }

    const EVENT: &str = r#"{"uuid":"u1", "published":"2026-12-04T00:00:00.000Z","eventType":"user.session.start",
 "debugContext":{"debugData":{"requestId":"r1","dtHash":"abc\"}","privilegeGranted":"Super admin","risk":{"level":"LOW"}}},
 "target":[{"id":"a","detailEntry":{"x":1}},{"id":"b"}],"n":1.50,"e":"\u00e9"}"#;

    #[test]
    fn removed_members_are_cut_and_every_other_byte_stays() {
        let out = r(
            "debugContext.debugData.*",
            "debugContext.debugData.privilegeGranted",
        )
        .apply(EVENT)
        .unwrap();
        assert_eq!(
            out,
            EVENT.replace(
                r#"{"requestId":"r1","dtHash":"abc\"}","privilegeGranted":"Super admin","risk":{"level":"LOW"}}"#,
                r#"{"privilegeGranted":"Super admin"}"#
            )
        );
        serde_json::from_str::<serde_json::Value>(&out).unwrap();

        // A whole member; a member of each element of an array; several at once.
        let out = r("debugContext,target.detailEntry,n", "")
            .apply(EVENT)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(v.get("debugContext").is_none() && v.get("n").is_none());
        assert_eq!(v["target"], serde_json::json!([{"id":"a"},{"id":"b"}]));
        assert!(
            out.contains(r#""e":"\u00e9""#),
            "escapes stay as sent: {out}"
        );
        // Every member of an object, leaving it empty.
        let out = r("debugContext.debugData.*", "").apply(EVENT).unwrap();
        assert!(out.contains(r#""debugContext":{"debugData":{}}"#), "{out}");
        // Nothing named: byte for byte.
        assert_eq!(r("absent.member", "").apply(EVENT).unwrap(), EVENT);
        assert_eq!(Redaction::default().apply(EVENT).unwrap(), EVENT);
        // The first member, the last, and neighbours.
        assert_eq!(r("a", "").apply(r#"{"a":1,"b":2}"#).unwrap(), r#"{"b":2}"#);
        assert_eq!(r("b", "").apply(r#"{"a":1, "b":2}"#).unwrap(), r#"{"a":1}"#);
        assert_eq!(
            r("a,b", "").apply(r#"{"a":1,"b":2,"c":3}"#).unwrap(),
            r#"{"c":3}"#
        );
        assert_eq!(
            r("b,c", "").apply(r#"{"a":1,"b":2,"c":3}"#).unwrap(),
            r#"{"a":1}"#
        );
        assert_eq!(
            r("a,c", "").apply(r#"{"a":1,"b":2,"c":3}"#).unwrap(),
            r#"{"b":2}"#
        );
    }

    #[test]
    fn rules_are_checked_and_round_trip() {
        for (remove, keep) in [
            ("uuid", ""),
            ("published", ""),
            ("*", ""),
            ("a.*.b", ""),
            ("a b", ""),
            ("a..b", ""),
            ("a.*", "b.c"),
            ("a.b", "a.c"),
        ] {
            assert!(Redaction::parse(remove, keep).is_err(), "{remove} / {keep}");
        }
        let x = r(
            " debugContext.debugData.* , target.detailEntry",
            "debugContext.debugData.risk",
        );
        assert_eq!(Redaction::from_stored(&x.to_stored()), x);
        assert_eq!(
            x.remove_paths(),
            ["debugContext.debugData.*", "target.detailEntry"]
        );
        assert_eq!(Redaction::from_stored(""), Redaction::default());
    }

    #[test]
    fn malformed_or_too_deep_text_is_refused_not_passed_through() {
        let x = r("a.b", "");
        for bad in [
            r#"{"a":{"b":1}"#,
            r#"{"a" {"b":1}}"#,
            r#"{"a":{"b":"x}}"#,
            "",
            "{} x",
        ] {
            assert_eq!(x.apply(bad), None, "{bad}");
        }
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100), "]".repeat(100));
        assert_eq!(x.apply(&deep), None);
    }
}
