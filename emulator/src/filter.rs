//! The System Log `filter` parameter: a SCIM-like expression language evaluated on the event
//! JSON. Grammar (keywords case-insensitive):
//!
//! ```text
//! expr    := and ("or" and)*
//! and     := unary ("and" unary)*
//! unary   := "not" unary | "(" expr ")" | path "pr" | path op value
//! op      := eq | ne | sw | co | ew | gt | ge | lt | le
//! value   := JSON string | number | true | false | null
//! ```

use serde_json::Value;

/// Why a filter was refused (Okta answers 400 `E0000053` for all of these).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The expression does not parse.
    #[error("Invalid filter expression at position {pos}: {msg}")]
    Syntax {
        /// Byte offset of the problem.
        pos: usize,
        /// What was expected.
        msg: String,
    },
    /// Okta refuses filters on `published`: time bounds go in `since`/`until`.
    #[error("Filtering on 'published' is not supported; use 'since' and 'until'.")]
    Published,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// equal
    Eq,
    /// not equal
    Ne,
    /// starts with
    Sw,
    /// contains
    Co,
    /// ends with
    Ew,
    /// greater than
    Gt,
    /// greater or equal
    Ge,
    /// less than
    Lt,
    /// less or equal
    Le,
}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Both hold.
    And(Box<Filter>, Box<Filter>),
    /// Either holds.
    Or(Box<Filter>, Box<Filter>),
    /// Negation.
    Not(Box<Filter>),
    /// The attribute exists and is not null.
    Present(Vec<String>),
    /// Attribute compared with a literal.
    Compare(Vec<String>, Op, Value),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Lit(Value),
    Open,
    Close,
}

fn syntax(pos: usize, msg: impl Into<String>) -> FilterError {
    FilterError::Syntax {
        pos,
        msg: msg.into(),
    }
}

fn tokenize(src: &str) -> Result<Vec<(usize, Tok)>, FilterError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                out.push((i, Tok::Open));
                i += 1;
            }
            b')' => {
                out.push((i, Tok::Close));
                i += 1;
            }
            b'"' => {
                // Find the closing quote, skipping escapes, then let serde_json decode it so
                // the literal follows JSON string rules exactly.
                let start = i;
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err(syntax(start, "unterminated string literal")),
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                let lit = src
                    .get(start..i)
                    .ok_or_else(|| syntax(start, "bad string"))?;
                let v: Value = serde_json::from_str(lit)
                    .map_err(|e| syntax(start, format!("invalid string literal: {e}")))?;
                out.push((start, Tok::Lit(v)));
            }
            _ => {
                let start = i;
                while i < b.len()
                    && !matches!(b[i], b' ' | b'\t' | b'\r' | b'\n' | b'(' | b')' | b'"')
                {
                    i += 1;
                }
                let word = &src[start..i];
                let tok = if word.starts_with(|ch: char| ch.is_ascii_digit() || ch == '-') {
                    let n: serde_json::Number = word
                        .parse()
                        .map_err(|_| syntax(start, format!("invalid number '{word}'")))?;
                    Tok::Lit(Value::Number(n))
                } else {
                    Tok::Word(word.to_string())
                };
                out.push((start, tok));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }
    fn at(&self) -> usize {
        self.toks.get(self.pos).map(|(p, _)| *p).unwrap_or(self.end)
    }
    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }
    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }
    fn unary(&mut self) -> Result<Filter, FilterError> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        match self.toks.get(self.pos).cloned() {
            Some((_, Tok::Open)) => {
                self.pos += 1;
                let inner = self.or()?;
                if self.peek() != Some(&Tok::Close) {
                    return Err(syntax(self.at(), "expected ')'"));
                }
                self.pos += 1;
                Ok(inner)
            }
            Some((p, Tok::Word(w))) => {
                self.pos += 1;
                let path = parse_path(&w, p)?;
                let op_pos = self.at();
                let Some(Tok::Word(op)) = self.peek().cloned() else {
                    return Err(syntax(op_pos, "expected an operator"));
                };
                self.pos += 1;
                let op = match op.to_ascii_lowercase().as_str() {
                    "pr" => return Ok(Filter::Present(path)),
                    "eq" => Op::Eq,
                    "ne" => Op::Ne,
                    "sw" => Op::Sw,
                    "co" => Op::Co,
                    "ew" => Op::Ew,
                    "gt" => Op::Gt,
                    "ge" => Op::Ge,
                    "lt" => Op::Lt,
                    "le" => Op::Le,
                    other => return Err(syntax(op_pos, format!("unknown operator '{other}'"))),
                };
                let value = match self.toks.get(self.pos).cloned() {
                    Some((_, Tok::Lit(v))) => v,
                    Some((_, Tok::Word(w))) if w == "true" => Value::Bool(true),
                    Some((_, Tok::Word(w))) if w == "false" => Value::Bool(false),
                    Some((_, Tok::Word(w))) if w == "null" => Value::Null,
                    _ => return Err(syntax(self.at(), "expected a value")),
                };
                self.pos += 1;
                Ok(Filter::Compare(path, op, value))
            }
            _ => Err(syntax(self.at(), "expected an attribute, 'not' or '('")),
        }
    }
}

fn parse_path(word: &str, pos: usize) -> Result<Vec<String>, FilterError> {
    let parts: Vec<String> = word.split('.').map(str::to_string).collect();
    let valid = parts.iter().all(|p| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '-')
    });
    if !valid || !word.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(syntax(pos, format!("invalid attribute path '{word}'")));
    }
    if parts[0].eq_ignore_ascii_case("published") {
        return Err(FilterError::Published);
    }
    Ok(parts)
}

/// Parses a filter expression.
pub fn parse(src: &str) -> Result<Filter, FilterError> {
    let toks = tokenize(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        end: src.len(),
    };
    let f = p.or()?;
    if p.pos != p.toks.len() {
        return Err(syntax(p.at(), "unexpected trailing input"));
    }
    Ok(f)
}

/// Collects the values at `path`, fanning out over arrays (SCIM multi-valued semantics:
/// `target.id eq "x"` holds when any target's id is "x").
fn resolve<'a>(v: &'a Value, path: &[String], out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| resolve(i, path, out)),
        _ if path.is_empty() => out.push(v),
        Value::Object(map) => {
            // Attribute names are case-insensitive in SCIM; prefer the exact spelling.
            let child = map.get(&path[0]).or_else(|| {
                map.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&path[0]))
                    .map(|(_, v)| v)
            });
            if let Some(c) = child {
                resolve(c, &path[1..], out);
            }
        }
        _ => {}
    }
}

fn compare(actual: &Value, op: Op, lit: &Value) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (actual, lit) {
        // SCIM string comparisons are case-insensitive (caseExact=false).
        (Value::String(a), Value::String(b)) => {
            let (a, b) = (a.to_lowercase(), b.to_lowercase());
            match op {
                Op::Sw => return a.starts_with(&b),
                Op::Co => return a.contains(&b),
                Op::Ew => return a.ends_with(&b),
                _ => Some(a.cmp(&b)),
            }
        }
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        _ => None,
    };
    match (op, ord) {
        (Op::Eq, Some(o)) => o == Ordering::Equal,
        (Op::Gt, Some(o)) => o == Ordering::Greater,
        (Op::Ge, Some(o)) => o != Ordering::Less,
        (Op::Lt, Some(o)) => o == Ordering::Less,
        (Op::Le, Some(o)) => o != Ordering::Greater,
        _ => false,
    }
}

impl Filter {
    /// True when every attribute the filter reads is `eventType` (the usual polling filter), so it can
    /// be evaluated on the stored event type without parsing the event.
    pub fn reads_only_event_type(&self) -> bool {
        match self {
            Filter::And(a, b) | Filter::Or(a, b) => {
                a.reads_only_event_type() && b.reads_only_event_type()
            }
            Filter::Not(a) => a.reads_only_event_type(),
            Filter::Present(path) | Filter::Compare(path, _, _) => {
                path.len() == 1 && path[0].eq_ignore_ascii_case("eventType")
            }
        }
    }

    /// Evaluates the filter on one event.
    pub fn matches(&self, event: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches(event) && b.matches(event),
            Filter::Or(a, b) => a.matches(event) || b.matches(event),
            Filter::Not(a) => !a.matches(event),
            Filter::Present(path) => {
                let mut vals = Vec::new();
                resolve(event, path, &mut vals);
                vals.iter().any(|v| !v.is_null())
            }
            Filter::Compare(path, Op::Ne, lit) => {
                !Filter::Compare(path.clone(), Op::Eq, lit.clone()).matches(event)
            }
            Filter::Compare(path, op, lit) => {
                let mut vals = Vec::new();
                resolve(event, path, &mut vals);
                vals.iter().any(|v| compare(v, *op, lit))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_type_only_filters_are_recognised() {
        let only =
            parse(r#"eventType eq "a" or (eventType sw "b." and not(eventType ew ".c"))"#).unwrap();
        assert!(only.reads_only_event_type());
        let other = parse(r#"eventType eq "a" and outcome.result eq "SUCCESS""#).unwrap();
        assert!(!other.reads_only_event_type());
    }

    fn ev() -> Value {
        json!({
            "eventType": "user.session.start",
            "severity": "INFO",
            "outcome": {"result": "SUCCESS", "reason": null},
            "actor": {"alternateId": "José.Müller@example.com", "displayName": "José Müller 日本"},
            "target": [{"id": "00u1", "type": "User"}, {"id": "0oa9", "type": "AppInstance"}],
            "debugContext": {"debugData": {"risk": "{level=LOW}", "count": 3}},
            "client": {"zone": "null"}
        })
    }

    fn m(src: &str) -> bool {
        parse(src)
            .unwrap_or_else(|e| panic!("{src}: {e}"))
            .matches(&ev())
    }

    #[test]
    fn operators() {
        assert!(m(r#"eventType eq "user.session.start""#));
        assert!(m(r#"eventType EQ "USER.SESSION.START""#));
        assert!(!m(r#"eventType ne "user.session.start""#));
        assert!(m(r#"eventType sw "user.session.""#));
        assert!(m(r#"eventType co "session""#));
        assert!(m(r#"eventType ew ".start""#));
        assert!(m(r#"severity gt "DEBUG" and severity lt "WARN""#));
        assert!(m(r#"severity ge "INFO" and severity le "INFO""#));
        assert!(m("debugContext.debugData.count gt 2"));
        assert!(!m("debugContext.debugData.count le 2"));
        assert!(m("outcome.result pr"));
        assert!(!m("outcome.reason pr"));
        assert!(!m("device pr"));
        assert!(m(r#"client.zone eq "null""#));
        assert!(m(r#"target.type eq "AppInstance""#));
        assert!(m(r#"actor.displayName co "\u65e5本""#));
        assert!(m(r#"debugContext.debugData.risk eq "{level=LOW}""#));
    }

    #[test]
    fn logic_and_precedence() {
        assert!(m(
            r#"eventType eq "x" or eventType sw "user.session." and severity eq "INFO""#
        ));
        assert!(!m(
            r#"(eventType eq "x" or eventType sw "user.") and severity eq "WARN""#
        ));
        assert!(m(r#"not (eventType eq "x")"#));
        assert!(m(r#"not(eventType eq "x") and not severity eq "WARN""#));
        assert!(!m(
            r#"not (eventType eq "x" or outcome.result eq "SUCCESS")"#
        ));
        assert!(m(r#"((eventType eq "user.session.start"))"#));
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "eventType",
            "eventType eq",
            r#"eventType eq "x"#,
            r#"eventType xx "x""#,
            r#"(eventType eq "x""#,
            r#"eventType eq "x")"#,
            r#"eventType eq "x" and"#,
            r#"eventType eq "\q""#,
            r#"eventType eq "x" "y""#,
            "eventType eq 1x",
            r#"1 eq "x""#,
            r#"a..b eq "x""#,
            r#"eventType eq unquoted"#,
        ] {
            assert!(
                matches!(parse(bad), Err(FilterError::Syntax { .. })),
                "{bad:?} parsed"
            );
        }
        assert_eq!(
            parse(r#"published gt "2024-01-01T00:00:00Z""#),
            Err(FilterError::Published)
        );
        assert_eq!(
            parse(r#"eventType eq "x" or published pr"#),
            Err(FilterError::Published)
        );
    }
}
