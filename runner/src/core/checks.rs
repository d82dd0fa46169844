//! Checks made before anything runs, as pure functions: an applied migration must not have
//! changed; every cross-database requirement must hold after the run; databases run in an
//! order that puts required ones first.

use std::collections::{BTreeMap, BTreeSet};

/// An applied revision whose artifact is not the one that was applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changed {
    /// The revision.
    pub revision: String,
    /// The digest recorded when it was applied.
    pub recorded: String,
    /// When and by whom it was applied.
    pub applied: String,
    /// The artifact now offered for it.
    pub file: String,
    /// That artifact's digest.
    pub actual: String,
}

/// An applied revision as history recorded it.
#[derive(Clone, Copy, Debug)]
pub struct Recorded<'a> {
    /// The revision.
    pub revision: &'a str,
    /// Its recorded digest.
    pub digest: &'a str,
    /// When it was applied.
    pub applied_at: &'a str,
    /// By whom.
    pub applied_by: &'a str,
}

/// The artifact offered now for a revision: where it is and its digest.
#[derive(Clone, Copy, Debug)]
pub struct Offered<'a> {
    /// Its file (or other source) name.
    pub file: &'a str,
    /// Its digest.
    pub digest: &'a str,
}

/// Every recorded revision whose offered artifact has another digest. A revision nothing is
/// offered for is not "changed" (the planner reports it as applied but missing).
pub fn changed<'a>(
    recorded: impl IntoIterator<Item = Recorded<'a>>,
    offered: impl Fn(&str) -> Option<Offered<'a>>,
) -> Vec<Changed> {
    recorded
        .into_iter()
        .filter_map(|row| {
            let now = offered(row.revision)?;
            (now.digest != row.digest).then(|| Changed {
                revision: row.revision.to_string(),
                recorded: row.digest.to_string(),
                applied: format!("{} by {}", row.applied_at, row.applied_by),
                file: now.file.to_string(),
                actual: now.digest.to_string(),
            })
        })
        .collect()
}

/// A revision that will be applied after the run and what it requires of another database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// The requiring database.
    pub database: String,
    /// The requiring revision.
    pub revision: String,
    /// The database it requires.
    pub required_database: String,
    /// The revision it requires there.
    pub required_revision: String,
}

/// Why a requirement would not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unmet {
    /// The project has no database of that name.
    NoSuchDatabase,
    /// The required revision would not be applied there after the run.
    NotApplied,
}

/// The first requirement that would not hold, given every database's applied set after the
/// run (`after`, by database name).
pub fn first_unmet<'a>(
    requirements: impl IntoIterator<Item = &'a Requirement>,
    after: &BTreeMap<String, BTreeSet<String>>,
) -> Option<(&'a Requirement, Unmet)> {
    requirements
        .into_iter()
        .find_map(|req| match after.get(&req.required_database) {
            None => Some((req, Unmet::NoSuchDatabase)),
            Some(applied) if !applied.contains(&req.required_revision) => {
                Some((req, Unmet::NotApplied))
            }
            Some(_) => None,
        })
}

/// An order of `count` databases in which each comes after those it requires (`requires[i]`
/// holds the indices database `i` requires), keeping the declared order otherwise. `Err` holds
/// the databases that require each other in a cycle.
pub fn order(requires: &[BTreeSet<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let count = requires.len();
    let mut order = Vec::with_capacity(count);
    let mut done = vec![false; count];
    while order.len() < count {
        let next = (0..count).find(|&i| {
            !done[i]
                && requires[i]
                    .iter()
                    .all(|&j| j == i || done.get(j).copied().unwrap_or(true))
        });
        match next {
            Some(i) => {
                done[i] = true;
                order.push(i);
            }
            None => return Err((0..count).filter(|&i| !done[i]).collect()),
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[usize]) -> BTreeSet<usize> {
        items.iter().copied().collect()
    }

    #[test]
    fn a_changed_digest_is_reported_with_both_sides() {
        let recorded = [
            Recorded {
                revision: "a",
                digest: "d1",
                applied_at: "t1",
                applied_by: "u",
            },
            Recorded {
                revision: "b",
                digest: "d2",
                applied_at: "t2",
                applied_by: "u",
            },
            Recorded {
                revision: "gone",
                digest: "d3",
                applied_at: "t3",
                applied_by: "u",
            },
        ];
        let offered = |rev: &str| match rev {
            "a" => Some(Offered {
                file: "a.wasm",
                digest: "d1",
            }),
            "b" => Some(Offered {
                file: "b.wasm",
                digest: "other",
            }),
            _ => None,
        };
        assert_eq!(
            changed(recorded, offered),
            [Changed {
                revision: "b".into(),
                recorded: "d2".into(),
                applied: "t2 by u".into(),
                file: "b.wasm".into(),
                actual: "other".into(),
            }]
        );
    }

    #[test]
    fn requirements_hold_only_when_applied_in_a_known_database() {
        let req = |db: &str, rev: &str| Requirement {
            database: "monitoring".into(),
            revision: "m1".into(),
            required_database: db.into(),
            required_revision: rev.into(),
        };
        let after: BTreeMap<String, BTreeSet<String>> =
            [("catalog".to_string(), ["c1".to_string()].into())].into();
        assert_eq!(first_unmet(&[req("catalog", "c1")], &after), None);
        let reqs = [req("catalog", "c1"), req("catalog", "c2")];
        assert_eq!(
            first_unmet(&reqs, &after),
            Some((&reqs[1], Unmet::NotApplied))
        );
        let reqs = [req("billing", "b1")];
        assert_eq!(
            first_unmet(&reqs, &after),
            Some((&reqs[0], Unmet::NoSuchDatabase))
        );
        assert_eq!(first_unmet(&[], &after), None);
    }

    #[test]
    fn required_databases_go_first_and_cycles_are_named() {
        // 0 requires 2, 2 requires 1: 1, 2, 0.
        assert_eq!(order(&[set(&[2]), set(&[]), set(&[1])]), Ok(vec![1, 2, 0]));
        // No requirement: the declared order.
        assert_eq!(order(&[set(&[]), set(&[]), set(&[])]), Ok(vec![0, 1, 2]));
        // A database requiring itself is no cycle.
        assert_eq!(order(&[set(&[0])]), Ok(vec![0]));
        // 0 ⇄ 1; 2 is free and goes first.
        assert_eq!(order(&[set(&[1]), set(&[0]), set(&[])]), Err(vec![0, 1]));
        assert_eq!(order(&[]), Ok(vec![]));
    }
}
