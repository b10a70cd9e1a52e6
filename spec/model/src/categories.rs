//! The event categories a user selects, as a bit set in the WIT `categories` flags' order (bit 0
//! authentication, 1 security, 2 itp, 3 lifecycle). The same bits are stored in the host's database.

/// A set of event categories.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Categories(u8);

impl Categories {
    /// Authentication events (sign-ins, MFA, sessions).
    pub const AUTHENTICATION: Categories = Categories(1);
    /// Security events (threats, policy and zone changes).
    pub const SECURITY: Categories = Categories(2);
    /// Identity Threat Protection events (risk, shared signals).
    pub const ITP: Categories = Categories(4);
    /// Identity lifecycle events (users, groups, app assignments).
    pub const LIFECYCLE: Categories = Categories(8);
    /// Every category.
    pub const ALL: Categories = Categories(15);
    /// No category.
    pub const NONE: Categories = Categories(0);
    /// What a new instance selects unless told otherwise: authentication, security and itp (lifecycle
    /// events are mostly administrative noise for triage).
    pub const DEFAULT: Categories = Categories(1 | 2 | 4);
    /// Each category with its name as the spec (`spec/okta/event-categories.json`), the CLI and the
    /// database use it, in bit order.
    pub const NAMED: [(&'static str, Categories); 4] = [
        ("authentication", Self::AUTHENTICATION),
        ("security", Self::SECURITY),
        ("itp", Self::ITP),
        ("lifecycle", Self::LIFECYCLE),
    ];

    /// The raw bit set, as stored.
    pub const fn bits(self) -> u8 {
        self.0
    }
    /// From a stored bit set; bits of no known category are dropped.
    pub const fn from_bits(bits: u8) -> Categories {
        Categories(bits & Self::ALL.0)
    }
    /// True when every category of `other` is in `self`.
    pub const fn contains(self, other: Categories) -> bool {
        self.0 & other.0 == other.0
    }
    /// The categories in both.
    pub const fn common(self, other: Categories) -> Categories {
        Categories(self.0 & other.0)
    }
    /// True when nothing is selected.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The category called `name` (case-insensitive, surrounding spaces ignored).
    pub fn from_name(name: &str) -> Option<Categories> {
        let name = name.trim();
        Self::NAMED
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, c)| *c)
    }
    /// The names of the selected categories, in bit order.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMED
            .iter()
            .filter(|(_, c)| self.contains(*c))
            .map(|(n, _)| *n)
            .collect()
    }
}

impl std::ops::BitOr for Categories {
    type Output = Categories;
    fn bitor(self, rhs: Categories) -> Categories {
        Categories(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for Categories {
    fn bitor_assign(&mut self, rhs: Categories) {
        self.0 |= rhs.0;
    }
}

/// Comma-joined names: `authentication,security,itp`.
impl std::fmt::Display for Categories {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

/// A count per category. An event in two categories counts in both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CategoryCounts([u64; 4]);

impl CategoryCounts {
    /// Counts one event in each of its categories.
    pub fn add(&mut self, categories: Categories) {
        for (i, slot) in self.0.iter_mut().enumerate() {
            if categories.0 & (1 << i) != 0 {
                *slot += 1;
            }
        }
    }
    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &CategoryCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }
    /// The count of one category (`category` should be a single category; for a set, the sum).
    pub fn get(&self, category: Categories) -> u64 {
        (0..4)
            .filter(|i| category.0 & (1 << i) != 0)
            .map(|i| self.0[i])
            .sum()
    }
    /// Each category's name and count, in bit order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Categories::NAMED
            .iter()
            .zip(self.0)
            .map(|((name, _), n)| (*name, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_bits_and_display() {
        let c = Categories::AUTHENTICATION | Categories::ITP;
        assert_eq!(c.to_string(), "authentication,itp");
        assert_eq!(c.bits(), 5);
        assert_eq!(Categories::from_bits(0xff), Categories::ALL);
        assert_eq!(Categories::from_name(" ITP "), Some(Categories::ITP));
        assert_eq!(Categories::from_name("billing"), None);
        assert_eq!(
            Categories::DEFAULT.to_string(),
            "authentication,security,itp"
        );
        assert!(Categories::ALL.contains(Categories::LIFECYCLE));
        assert!(!Categories::DEFAULT.contains(Categories::LIFECYCLE));
        assert!(Categories::NONE.is_empty());
        assert_eq!(
            c.common(Categories::ITP | Categories::SECURITY),
            Categories::ITP
        );
        assert!(c.common(Categories::SECURITY).is_empty());
        let folded = Categories::NAMED
            .iter()
            .fold(Categories::NONE, |a, (_, c)| a | *c);
        assert_eq!(folded, Categories::ALL);
    }

    #[test]
    fn counts_are_kept_per_category() {
        let mut n = CategoryCounts::default();
        n.add(Categories::AUTHENTICATION | Categories::SECURITY);
        n.add(Categories::SECURITY);
        let mut m = CategoryCounts::default();
        m.add(Categories::LIFECYCLE);
        n.merge(&m);
        assert_eq!(n.get(Categories::SECURITY), 2);
        assert_eq!(n.get(Categories::AUTHENTICATION), 1);
        assert_eq!(n.get(Categories::ITP), 0);
        let all: Vec<(&str, u64)> = n.iter().collect();
        assert_eq!(
            all,
            vec![
                ("authentication", 1),
                ("security", 2),
                ("itp", 0),
                ("lifecycle", 1)
            ]
        );
    }
}
