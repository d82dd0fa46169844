//! A database's schema as the catalog describes it, and the difference between two: what
//! `retort check` compares before an upgrade and after its downgrade. Pure; the catalog
//! queries that fill a [`Snapshot`] are per dialect, in `db/catalog.rs`.

use std::collections::BTreeMap;

/// Every schema object of a database (Retort's bookkeeping left out), by a key naming its
/// kind and name (`column users.email`, `index users_email_idx`), with its definition as the
/// catalog renders it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    objects: BTreeMap<String, String>,
}

impl Snapshot {
    /// A snapshot of `objects` (key, definition). A key seen twice (a catalog listing two
    /// objects under one name) keeps both, the second as `key #2`.
    pub fn new(objects: impl IntoIterator<Item = (String, String)>) -> Snapshot {
        let mut map = BTreeMap::new();
        for (key, definition) in objects {
            let mut unique = key.clone();
            let mut n = 1;
            while map.contains_key(&unique) {
                n += 1;
                unique = format!("{key} #{n}");
            }
            map.insert(unique, definition);
        }
        Snapshot { objects: map }
    }

    /// How many objects it holds.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// True when the schema holds nothing but Retort's bookkeeping.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The definition of the object under `key`, if there is one.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.objects.get(key).map(String::as_str)
    }

    /// Every key whose definition differs between `self` and `other` (present in one only,
    /// or defined differently).
    pub fn changed_keys(&self, other: &Snapshot) -> Vec<String> {
        self.diff(other)
            .iter()
            .map(|d| d.object().to_string())
            .collect()
    }

    /// The objects, sorted by key.
    pub fn objects(&self) -> impl Iterator<Item = (&str, &str)> {
        self.objects.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// What changed from `self` to `after`, sorted by object.
    pub fn diff(&self, after: &Snapshot) -> Vec<Difference> {
        let mut out = Vec::new();
        for (key, before) in &self.objects {
            match after.objects.get(key) {
                None => out.push(Difference::Removed {
                    object: key.clone(),
                    definition: before.clone(),
                }),
                Some(now) if now != before => out.push(Difference::Changed {
                    object: key.clone(),
                    before: before.clone(),
                    after: now.clone(),
                }),
                Some(_) => {}
            }
        }
        for (key, now) in &after.objects {
            if !self.objects.contains_key(key) {
                out.push(Difference::Added {
                    object: key.clone(),
                    definition: now.clone(),
                });
            }
        }
        out.sort_by(|a, b| a.object().cmp(b.object()));
        out
    }
}

/// One object that differs between two snapshots.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum Difference {
    /// In the second snapshot only.
    Added {
        /// Kind and name, e.g. `column users.email`.
        object: String,
        /// Its definition.
        definition: String,
    },
    /// In the first snapshot only.
    Removed {
        /// Kind and name.
        object: String,
        /// Its definition.
        definition: String,
    },
    /// In both, defined differently.
    Changed {
        /// Kind and name.
        object: String,
        /// The first definition.
        before: String,
        /// The second definition.
        after: String,
    },
}

impl Difference {
    /// The object's kind and name.
    pub fn object(&self) -> &str {
        match self {
            Difference::Added { object, .. }
            | Difference::Removed { object, .. }
            | Difference::Changed { object, .. } => object,
        }
    }
}

impl std::fmt::Display for Difference {
    /// `+ column t.c: text` (left behind), `- index i: …` (lost), `~ column t.c: a → b`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short = |s: &str| crate::core::one_line(s, 160);
        match self {
            Difference::Added { object, definition } => {
                write!(f, "+ {object}: {}", short(definition))
            }
            Difference::Removed { object, definition } => {
                write!(f, "- {object}: {}", short(definition))
            }
            Difference::Changed {
                object,
                before,
                after,
            } => write!(f, "~ {object}: {} → {}", short(before), short(after)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(items: &[(&str, &str)]) -> Snapshot {
        Snapshot::new(items.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn equal_snapshots_have_no_difference() {
        let a = snap(&[("table t", "r"), ("column t.a", "integer")]);
        assert!(a.diff(&a.clone()).is_empty());
    }

    #[test]
    fn added_removed_and_changed_are_told_apart_in_object_order() {
        let before = snap(&[("column t.a", "integer"), ("index i", "ON t (a)")]);
        let after = snap(&[("column t.a", "bigint"), ("column t.b", "text")]);
        let diff = before.diff(&after);
        let shown: Vec<String> = diff.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            shown,
            [
                "~ column t.a: integer → bigint",
                "+ column t.b: text",
                "- index i: ON t (a)"
            ]
        );
    }

    #[test]
    fn a_repeated_key_keeps_both_objects() {
        let s = snap(&[("function f", "a"), ("function f", "b")]);
        assert_eq!(s.len(), 2);
        let keys: Vec<&str> = s.objects().map(|(k, _)| k).collect();
        assert_eq!(keys, ["function f", "function f #2"]);
    }

    #[test]
    fn long_definitions_are_shown_on_one_shortened_line() {
        let long = format!("CREATE VIEW v AS\n  SELECT {}", "x, ".repeat(100));
        let d = Difference::Added {
            object: "view v".into(),
            definition: long,
        };
        let shown = d.to_string();
        assert!(!shown.contains('\n'), "{shown}");
        assert!(shown.ends_with('…'), "{shown}");
    }
}
