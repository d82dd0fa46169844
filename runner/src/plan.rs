//! Planning: graph + applied revisions + target → ordered steps, or a typed error.
//!
//! Pure: no database, no wasm. Every case is unit-tested below.

use std::collections::BTreeSet;

use crate::graph::Graph;
use crate::sandbox::Direction;

/// Where to take a database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The single head of the graph.
    Head,
    /// Before the first revision: nothing applied.
    Base,
    /// A revision id, or a unique prefix of one.
    Revision(String),
}

impl Target {
    /// Parses `head`, `base` or a revision (prefix).
    pub fn parse(s: &str) -> Target {
        match s {
            "head" => Target::Head,
            "base" => Target::Base,
            other => Target::Revision(other.to_string()),
        }
    }
}

/// One migration to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The revision.
    pub revision: String,
    /// Upgrade or downgrade.
    pub direction: Direction,
}

/// Why no plan exists.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// `head` with several heads.
    #[error("the graph has several heads ({}); name one as the target", .0.join(", "))]
    SeveralHeads(Vec<String>),
    /// `head` with no revisions at all.
    #[error("there are no migrations")]
    Empty,
    /// The target matches nothing.
    #[error("no revision matches `{0}`")]
    Unknown(String),
    /// The prefix matches several revisions.
    #[error("`{prefix}` matches several revisions: {}", .candidates.join(", "))]
    Ambiguous {
        /// The prefix given.
        prefix: String,
        /// Revisions it matches.
        candidates: Vec<String>,
    },
    /// The database has revisions no artifact defines.
    #[error(
        "the database has applied revision(s) {} that no migration in the directory defines; \
         restore their .wasm files (or point Retort at the right migrations directory)",
        .0.join(", ")
    )]
    AppliedButMissing(Vec<String>),
    /// A downgrade target that is not applied.
    #[error("cannot downgrade to {0}: it is not applied (use `upgrade` to move forward)")]
    DowngradeToUnapplied(String),
    /// An upgrade target that is `base`.
    #[error("`base` is not an upgrade target (use `downgrade base`)")]
    UpgradeToBase,
}

/// Resolves a target to a revision id (`None` for base).
pub fn resolve(graph: &Graph, target: &Target) -> Result<Option<String>, PlanError> {
    match target {
        Target::Base => Ok(None),
        Target::Head => {
            let heads = graph.heads();
            match heads.len() {
                0 => Err(PlanError::Empty),
                1 => Ok(heads.into_iter().next()),
                _ => Err(PlanError::SeveralHeads(heads)),
            }
        }
        Target::Revision(prefix) => {
            if graph.contains(prefix) {
                return Ok(Some(prefix.clone()));
            }
            let candidates: Vec<String> = graph
                .order()
                .iter()
                .filter(|id| id.starts_with(prefix.as_str()))
                .cloned()
                .collect();
            match candidates.len() {
                0 => Err(PlanError::Unknown(prefix.clone())),
                1 => Ok(candidates.into_iter().next()),
                _ => Err(PlanError::Ambiguous {
                    prefix: prefix.clone(),
                    candidates,
                }),
            }
        }
    }
}

fn check_applied(graph: &Graph, applied: &BTreeSet<String>) -> Result<(), PlanError> {
    let missing: Vec<String> = applied
        .iter()
        .filter(|id| !graph.contains(id))
        .cloned()
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(PlanError::AppliedButMissing(missing))
    }
}

/// Steps that apply `target` and everything it descends from, parents first.
pub fn upgrade(
    graph: &Graph,
    applied: &BTreeSet<String>,
    target: &Target,
) -> Result<Vec<Step>, PlanError> {
    check_applied(graph, applied)?;
    let Some(target) = resolve(graph, target)? else {
        return Err(PlanError::UpgradeToBase);
    };
    let needed = graph.ancestors(&target);
    Ok(graph
        .order()
        .iter()
        .filter(|id| needed.contains(*id) && !applied.contains(*id))
        .map(|id| Step {
            revision: id.clone(),
            direction: Direction::Upgrade,
        })
        .collect())
}

/// Steps that un-apply everything applied that `target` does not descend from, children
/// first. `base` un-applies everything.
pub fn downgrade(
    graph: &Graph,
    applied: &BTreeSet<String>,
    target: &Target,
) -> Result<Vec<Step>, PlanError> {
    check_applied(graph, applied)?;
    let keep = match resolve(graph, target)? {
        None => BTreeSet::new(),
        Some(id) if !applied.contains(&id) => return Err(PlanError::DowngradeToUnapplied(id)),
        Some(id) => graph.ancestors(&id),
    };
    Ok(graph
        .order()
        .iter()
        .rev()
        .filter(|id| applied.contains(*id) && !keep.contains(*id))
        .map(|id| Step {
            revision: id.clone(),
            direction: Direction::Downgrade,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::node;

    fn linear() -> Graph {
        Graph::new([node("a1", &[]), node("b2", &["a1"]), node("c3", &["b2"])]).unwrap()
    }

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    fn ids(steps: &[Step]) -> Vec<&str> {
        steps.iter().map(|s| s.revision.as_str()).collect()
    }

    #[test]
    fn upgrade_to_head_applies_what_is_missing_in_order() {
        let steps = upgrade(&linear(), &set(&["a1"]), &Target::Head).unwrap();
        assert_eq!(ids(&steps), ["b2", "c3"]);
        assert!(steps.iter().all(|s| s.direction == Direction::Upgrade));
        assert!(
            upgrade(&linear(), &set(&["a1", "b2", "c3"]), &Target::Head)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn upgrade_to_a_revision_or_prefix_stops_there() {
        assert_eq!(
            ids(&upgrade(&linear(), &set(&[]), &Target::parse("b2")).unwrap()),
            ["a1", "b2"]
        );
        assert_eq!(
            ids(&upgrade(&linear(), &set(&[]), &Target::parse("b")).unwrap()),
            ["a1", "b2"]
        );
    }

    #[test]
    fn downgrade_to_base_and_to_a_revision() {
        let all = set(&["a1", "b2", "c3"]);
        assert_eq!(
            ids(&downgrade(&linear(), &all, &Target::Base).unwrap()),
            ["c3", "b2", "a1"]
        );
        let steps = downgrade(&linear(), &all, &Target::parse("a1")).unwrap();
        assert_eq!(ids(&steps), ["c3", "b2"]);
        assert!(steps.iter().all(|s| s.direction == Direction::Downgrade));
        assert!(
            downgrade(&linear(), &set(&[]), &Target::Base)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn branches_upgrade_only_what_the_target_needs() {
        let g = Graph::new([
            node("a", &[]),
            node("l1", &["a"]),
            node("r1", &["a"]),
            node("m", &["l1", "r1"]),
        ])
        .unwrap();
        assert_eq!(
            ids(&upgrade(&g, &set(&[]), &Target::parse("l1")).unwrap()),
            ["a", "l1"]
        );
        assert_eq!(
            ids(&upgrade(&g, &set(&["a", "l1"]), &Target::Head).unwrap()),
            ["r1", "m"]
        );
        // Downgrading to l1 removes the merge and the other branch only.
        let all = set(&["a", "l1", "r1", "m"]);
        assert_eq!(
            ids(&downgrade(&g, &all, &Target::parse("l1")).unwrap()),
            ["m", "r1"]
        );
    }

    #[test]
    fn target_errors() {
        let g = Graph::new([node("ab1", &[]), node("ab2", &[])]).unwrap();
        assert_eq!(
            upgrade(&g, &set(&[]), &Target::Head),
            Err(PlanError::SeveralHeads(vec!["ab1".into(), "ab2".into()]))
        );
        assert_eq!(
            upgrade(&g, &set(&[]), &Target::parse("ab")),
            Err(PlanError::Ambiguous {
                prefix: "ab".into(),
                candidates: vec!["ab1".into(), "ab2".into()]
            })
        );
        assert_eq!(
            upgrade(&g, &set(&[]), &Target::parse("zz")),
            Err(PlanError::Unknown("zz".into()))
        );
        assert_eq!(
            upgrade(&g, &set(&[]), &Target::Base),
            Err(PlanError::UpgradeToBase)
        );
        assert_eq!(
            upgrade(&Graph::new([]).unwrap(), &set(&[]), &Target::Head),
            Err(PlanError::Empty)
        );
        assert_eq!(
            downgrade(&linear(), &set(&["a1"]), &Target::parse("b2")),
            Err(PlanError::DowngradeToUnapplied("b2".into()))
        );
    }

    #[test]
    fn applied_revisions_without_artifacts_are_refused() {
        assert_eq!(
            upgrade(&linear(), &set(&["a1", "gone"]), &Target::Head),
            Err(PlanError::AppliedButMissing(vec!["gone".into()]))
        );
        assert_eq!(
            downgrade(&linear(), &set(&["a1", "gone"]), &Target::Base),
            Err(PlanError::AppliedButMissing(vec!["gone".into()]))
        );
    }
}
