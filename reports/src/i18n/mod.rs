//! The texts of the rehearsal report, one catalogue per language: [`nb`] (bokmål, the
//! default) and [`en`]. Every text a person reads — the page, the console summary, the
//! JUnit messages, the action lists and mail texts, the vendor pages — is looked up here by
//! key; nothing else in the crate holds words for people.
//!
//! A catalogue is a list of `(key, text)` pairs. Texts may hold named placeholders
//! `{name}`, filled by [`Lang::fill`]. Keys are grouped by prefix: `phase.<id>`,
//! `status.<status>`, `cause.<fault id>`, `reason.<id>` (+ `.ask`), `deadline.<id>`,
//! `kind.<timeline kind>`, `page.*`, `console.*`, `junit.*`, `mail.*`, `csv.*`,
//! `vendor.*`. A test checks that both catalogues have the same keys and placeholders.

use std::collections::HashMap;
use std::sync::OnceLock;

pub mod en;
pub mod nb;

/// The language of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    /// Norwegian bokmål (the default: the coordinators' language).
    #[default]
    Nb,
    /// English.
    En,
}

/// An unknown language code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown language {0:?}: use nb or en")]
pub struct UnknownLang(pub String);

impl std::str::FromStr for Lang {
    type Err = UnknownLang;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "nb" | "no" | "nb-no" | "norsk" | "bokmål" => Ok(Lang::Nb),
            "en" | "en-gb" | "en-us" | "english" => Ok(Lang::En),
            _ => Err(UnknownLang(s.to_string())),
        }
    }
}

fn table(pairs: &'static [(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
    pairs.iter().copied().collect()
}

impl Lang {
    /// The BCP 47 code for `<html lang>`: `nb` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Nb => "nb",
            Lang::En => "en",
        }
    }

    /// The raw catalogue.
    pub fn catalogue(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Lang::Nb => nb::TEXTS,
            Lang::En => en::TEXTS,
        }
    }

    fn map(self) -> &'static HashMap<&'static str, &'static str> {
        static NB: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
        static EN: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
        match self {
            Lang::Nb => NB.get_or_init(|| table(nb::TEXTS)),
            Lang::En => EN.get_or_init(|| table(en::TEXTS)),
        }
    }

    /// The text for `key`, if the catalogue has it.
    pub fn get(self, key: &str) -> Option<&'static str> {
        self.map().get(key).copied()
    }

    /// The text for `key`; the key itself when missing (a test keeps that from happening
    /// for the keys the crate uses).
    pub fn t(self, key: &str) -> &'static str {
        match self.get(key) {
            Some(t) => t,
            None => {
                tracing::warn!(key, "missing text");
                ""
            }
        }
    }

    /// A text with its `{name}` placeholders filled from `args`.
    pub fn fill(self, key: &str, args: &[(&str, &dyn std::fmt::Display)]) -> String {
        fill(self.t(key), args)
    }

    /// The text for `prefix.id`, or `fallback` when the catalogue has none (ids the
    /// catalogue does not know, e.g. a scenario's own phase).
    pub fn or<'a>(self, prefix: &str, id: &str, fallback: &'a str) -> std::borrow::Cow<'a, str> {
        let found = self
            .get(&format!("{prefix}.{id}"))
            .or_else(|| self.get(&format!("{prefix}.{}", id.replace('-', "_"))));
        match found {
            Some(t) => std::borrow::Cow::Borrowed(t),
            None => std::borrow::Cow::Owned(fallback.to_string()),
        }
    }

    /// A phase's name (`phase.<id>`), or `fallback` (the report's own name) for ids the
    /// catalogue lacks.
    pub fn phase(self, id: &str, fallback: &str) -> String {
        self.or("phase", id, fallback).into_owned()
    }

    /// Month names, January first.
    pub fn months(self) -> &'static [&'static str; 12] {
        match self {
            Lang::Nb => &nb::MONTHS,
            Lang::En => &en::MONTHS,
        }
    }

    /// Weekday names, Monday first.
    pub fn weekdays(self) -> &'static [&'static str; 7] {
        match self {
            Lang::Nb => &nb::WEEKDAYS,
            Lang::En => &en::WEEKDAYS,
        }
    }
}

/// Fills `{name}` placeholders in `template` from `args`; unknown placeholders stay.
pub fn fill(template: &str, args: &[(&str, &dyn std::fmt::Display)]) -> String {
    let mut o = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        o.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.find('}') {
            Some(j)
                if after[..j]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                let name = &after[..j];
                match args.iter().find(|(n, _)| *n == name) {
                    Some((_, v)) => o.push_str(&v.to_string()),
                    None => {
                        o.push('{');
                        o.push_str(name);
                        o.push('}');
                    }
                }
                rest = &after[j + 1..];
            }
            _ => {
                o.push('{');
                rest = after;
            }
        }
    }
    o.push_str(rest);
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn placeholders(s: &str) -> BTreeSet<String> {
        let mut v = BTreeSet::new();
        let mut rest = s;
        while let Some(i) = rest.find('{') {
            let after = &rest[i + 1..];
            if let Some(j) = after.find('}') {
                v.insert(after[..j].to_string());
                rest = &after[j + 1..];
            } else {
                break;
            }
        }
        v
    }

    #[test]
    fn both_catalogues_have_the_same_keys_and_placeholders() {
        let nb: HashMap<_, _> = table(nb::TEXTS);
        let en: HashMap<_, _> = table(en::TEXTS);
        assert_eq!(nb.len(), nb::TEXTS.len(), "a key twice in nb");
        assert_eq!(en.len(), en::TEXTS.len(), "a key twice in en");
        for (k, v) in &nb {
            let e = en.get(k).unwrap_or_else(|| panic!("en lacks {k}"));
            assert_eq!(placeholders(v), placeholders(e), "placeholders of {k}");
        }
        for k in en.keys() {
            assert!(nb.contains_key(k), "nb lacks {k}");
        }
    }

    #[test]
    fn fill_replaces_named_placeholders() {
        assert_eq!(
            fill("{a} av {b} {c}", &[("a", &1), ("b", &"to")]),
            "1 av to {c}"
        );
        assert_eq!(fill("{ x", &[]), "{ x");
        assert_eq!("EN".parse::<Lang>(), Ok(Lang::En));
        assert!("de".parse::<Lang>().is_err());
    }
}
