//! Planning: graph + applied revisions + target → ordered steps, or a typed error.
//!
//! Pure: no database, no wasm. Every case is unit-tested below.
//!
//! Target grammar (see docs/targets.md):
//!
//! | target | upgrade | downgrade |
//! |---|---|---|
//! | `head` | the single head (an error listing them if there are several) | — |
//! | `heads` | every head | — |
//! | `base` | — | revert everything |
//! | `REV` (id or unique prefix) | REV and what it needs | revert what descends from REV (REV stays) |
//! | `+N` / `-N` | the next N steps toward `head` | revert the last N applied steps (one current head) |
//! | `REV+N` / `REV-N` | N steps after / before REV, as `REV` | as `REV` |
//! | `LABEL@head` | the head of the labelled branch | — |
//! | `LABEL@+N` / `LABEL@-N` | N steps along the branch | revert the branch's last N applied steps |
//! | `LABEL@base` | — | revert the whole branch |

use std::collections::BTreeSet;

use crate::core::Direction;
use crate::core::graph::Graph;

/// Where a label target points within its branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BranchPoint {
    /// `LABEL@head`.
    Head,
    /// `LABEL@base`.
    Base,
    /// `LABEL@+N` / `LABEL@-N`.
    Relative(i64),
}

/// Where to take a database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The single head of the graph.
    Head,
    /// Every head.
    Heads,
    /// Before the first revision: nothing applied.
    Base,
    /// A revision id, or a unique prefix of one.
    Revision(String),
    /// `+N` / `-N` from the current revision.
    Relative(i64),
    /// `REV+N` / `REV-N`; `raw` is tried as a revision first (ids may contain `-`).
    RevisionRelative {
        /// The whole text.
        raw: String,
        /// The revision part.
        revision: String,
        /// The step count.
        delta: i64,
    },
    /// `LABEL@…`.
    Label {
        /// The branch label.
        label: String,
        /// Where in the branch.
        point: BranchPoint,
    },
}

impl std::fmt::Display for BranchPoint {
    /// As written after `LABEL@`: `head`, `base`, `+N`, `-N`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BranchPoint::Head => f.write_str("head"),
            BranchPoint::Base => f.write_str("base"),
            BranchPoint::Relative(n) => write!(f, "{n:+}"),
        }
    }
}

impl std::fmt::Display for Target {
    /// As the user writes it; [`Target::parse`] reads it back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Head => f.write_str("head"),
            Target::Heads => f.write_str("heads"),
            Target::Base => f.write_str("base"),
            Target::Revision(r) => f.write_str(r),
            Target::Relative(n) => write!(f, "{n:+}"),
            Target::RevisionRelative { raw, .. } => f.write_str(raw),
            Target::Label { label, point } => write!(f, "{label}@{point}"),
        }
    }
}

fn signed(s: &str) -> Option<i64> {
    let (sign, digits) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i64>().ok().map(|n| sign * n)
}

impl Target {
    /// Parses the target grammar.
    pub fn parse(s: &str) -> Target {
        match s {
            "head" => return Target::Head,
            "heads" => return Target::Heads,
            "base" => return Target::Base,
            _ => {}
        }
        if let Some(n) = signed(s) {
            return Target::Relative(n);
        }
        if let Some((label, point)) = s.split_once('@') {
            let point = match point {
                "head" => Some(BranchPoint::Head),
                "base" => Some(BranchPoint::Base),
                other => signed(other).map(BranchPoint::Relative),
            };
            if let Some(point) = point {
                return Target::Label {
                    label: label.to_string(),
                    point,
                };
            }
        }
        if let Some(at) = s.rfind(['+', '-'])
            && at > 0
            && let Some(delta) = signed(&s[at..])
        {
            return Target::RevisionRelative {
                raw: s.to_string(),
                revision: s[..at].to_string(),
                delta,
            };
        }
        Target::Revision(s.to_string())
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
    #[error("the graph has several heads ({}); name one (or a LABEL@head), or use `heads`", .0.join(", "))]
    SeveralHeads(Vec<String>),
    /// A relative target with several current revisions.
    #[error("the database is at several revisions ({}); use LABEL@{delta:+} or REV{delta:+} instead of {delta:+}", .current.join(", "))]
    SeveralCurrent {
        /// The current revisions.
        current: Vec<String>,
        /// The step count asked for.
        delta: i64,
    },
    /// `head` with no revisions at all.
    #[error("there are no migrations")]
    Empty,
    /// The target matches nothing.
    #[error("no revision matches `{0}`")]
    Unknown(String),
    /// No such branch label.
    #[error("no branch is labelled `{label}` (labels: {})", if .known.is_empty() { "none".to_string() } else { .known.join(", ") })]
    UnknownLabel {
        /// The label asked for.
        label: String,
        /// The labels that exist.
        known: Vec<String>,
    },
    /// The prefix matches several revisions.
    #[error("`{prefix}` matches several revisions: {}", .candidates.join(", "))]
    Ambiguous {
        /// The prefix given.
        prefix: String,
        /// Revisions it matches.
        candidates: Vec<String>,
    },
    /// Walking N steps is not possible.
    #[error("cannot move {delta:+} from {from}: {reason}")]
    Steps {
        /// Where the walk started.
        from: String,
        /// The step count.
        delta: i64,
        /// Why it stops.
        reason: String,
    },
    /// The database has revisions no artifact defines.
    #[error(
        "the database has applied revision(s) {} that no migration in the directory defines; \
         restore their .wasm files (or point Retort at the right migrations directory)",
        .0.join(", ")
    )]
    AppliedButMissing(Vec<String>),
    /// `accept-rebuild` of a revision the database has no history row for.
    #[error(
        "{0} has no history row: it was never applied, so there is no recorded digest to \
         replace (a pending migration runs as it is built now)"
    )]
    NeverApplied(String),
    /// A downgrade target that is not applied.
    #[error("cannot downgrade to {0}: it is not applied (use `upgrade` to move forward)")]
    DowngradeToUnapplied(String),
    /// A target that only makes sense in the other direction.
    #[error("`{target}` is not {direction} target")]
    WrongDirection {
        /// The target as written.
        target: String,
        /// `an upgrade` or `a downgrade`.
        direction: &'static str,
    },
}

/// Finds the revision an id or unique prefix names.
pub fn find_revision(graph: &Graph, prefix: &str) -> Result<String, PlanError> {
    if graph.contains(prefix) {
        return Ok(prefix.to_string());
    }
    let candidates: Vec<String> = graph
        .order()
        .iter()
        .filter(|id| id.starts_with(prefix))
        .cloned()
        .collect();
    match candidates.len() {
        0 => Err(PlanError::Unknown(prefix.to_string())),
        1 => Ok(candidates.into_iter().next().expect("one candidate")),
        _ => Err(PlanError::Ambiguous {
            prefix: prefix.to_string(),
            candidates,
        }),
    }
}

fn single_head(graph: &Graph) -> Result<String, PlanError> {
    let heads = graph.heads();
    match heads.len() {
        0 => Err(PlanError::Empty),
        1 => Ok(heads.into_iter().next().expect("one head")),
        _ => Err(PlanError::SeveralHeads(heads)),
    }
}

fn branch(graph: &Graph, label: &str) -> Result<BTreeSet<String>, PlanError> {
    graph.branch(label).ok_or_else(|| PlanError::UnknownLabel {
        label: label.to_string(),
        known: graph.labels().keys().cloned().collect(),
    })
}

fn label_head(graph: &Graph, label: &str) -> Result<String, PlanError> {
    let members = branch(graph, label)?;
    let heads: Vec<String> = graph
        .heads()
        .into_iter()
        .filter(|h| members.contains(h))
        .collect();
    match heads.len() {
        1 => Ok(heads.into_iter().next().expect("one head")),
        _ => Err(PlanError::SeveralHeads(heads)),
    }
}

/// Walks `delta` steps from `from`: forward through the only child, back through the first
/// parent.
fn walk(graph: &Graph, from: &str, delta: i64) -> Result<String, PlanError> {
    let mut at = from.to_string();
    for _ in 0..delta.unsigned_abs() {
        let next = if delta > 0 {
            graph.children(&at)
        } else {
            graph
                .node(&at)
                .map(|n| n.parents.clone())
                .unwrap_or_default()
        };
        at = match (delta > 0, next.len()) {
            (_, 0) => {
                let end = if delta > 0 { "a head" } else { "a root" };
                return Err(PlanError::Steps {
                    from: from.into(),
                    delta,
                    reason: format!("{at} is {end}"),
                });
            }
            (true, 1) | (false, _) => next[0].clone(),
            (true, _) => {
                return Err(PlanError::Steps {
                    from: from.into(),
                    delta,
                    reason: format!("{at} branches into {}; name the branch", next.join(", ")),
                });
            }
        };
    }
    Ok(at)
}

/// `REV+N` / `REV-N`: the whole text if it is itself a revision (ids may contain `-`), else
/// `delta` steps from `revision`.
fn resolve_relative(
    graph: &Graph,
    raw: &str,
    revision: &str,
    delta: i64,
) -> Result<String, PlanError> {
    match find_revision(graph, raw) {
        Ok(id) => Ok(id),
        // `head-1`, as Alembic users write it: N steps from the single head.
        Err(_) if revision == "head" => walk(graph, &single_head(graph)?, delta),
        Err(_) => walk(graph, &find_revision(graph, revision)?, delta),
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

fn upgrade_steps(graph: &Graph, applied: &BTreeSet<String>, goals: &[String]) -> Vec<Step> {
    let goals: Vec<&str> = goals.iter().map(String::as_str).collect();
    let needed = graph.requirements(&goals);
    graph
        .order()
        .iter()
        .filter(|id| needed.contains(*id) && !applied.contains(*id))
        .map(|id| Step {
            revision: id.clone(),
            direction: Direction::Upgrade,
        })
        .collect()
}

/// The first |n| of `items`, or an error saying only `items.len()` `what` remain.
fn take<T>(items: Vec<T>, n: i64, from: &str, what: &str) -> Result<Vec<T>, PlanError> {
    let count = usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX);
    if items.len() < count {
        return Err(PlanError::Steps {
            from: from.into(),
            delta: n,
            reason: format!("only {} {what}", items.len()),
        });
    }
    Ok(items.into_iter().take(count).collect())
}

fn first_steps(steps: Vec<Step>, n: i64, from: &str) -> Result<Vec<Step>, PlanError> {
    take(steps, n, from, "step(s) remain")
}

/// Steps that apply the target and everything it needs, in dependency order.
pub fn upgrade(
    graph: &Graph,
    applied: &BTreeSet<String>,
    target: &Target,
) -> Result<Vec<Step>, PlanError> {
    check_applied(graph, applied)?;
    let wrong = |t: &str| PlanError::WrongDirection {
        target: t.into(),
        direction: "an upgrade",
    };
    match target {
        Target::Head => Ok(upgrade_steps(graph, applied, &[single_head(graph)?])),
        Target::Heads => Ok(upgrade_steps(graph, applied, &graph.heads())),
        Target::Base => Err(wrong("base")),
        Target::Revision(prefix) => Ok(upgrade_steps(
            graph,
            applied,
            &[find_revision(graph, prefix)?],
        )),
        Target::Relative(n) if *n > 0 => {
            let head = single_head(graph)?;
            first_steps(
                upgrade_steps(graph, applied, &[head]),
                *n,
                "the current revision",
            )
        }
        Target::Relative(n) => Err(wrong(&format!("{n}"))),
        Target::RevisionRelative {
            raw,
            revision,
            delta,
        } => {
            let goal = resolve_relative(graph, raw, revision, *delta)?;
            Ok(upgrade_steps(graph, applied, &[goal]))
        }
        Target::Label { label, point } => match point {
            BranchPoint::Head => Ok(upgrade_steps(graph, applied, &[label_head(graph, label)?])),
            BranchPoint::Relative(n) if *n > 0 => first_steps(
                upgrade_steps(graph, applied, &[label_head(graph, label)?]),
                *n,
                &format!("{label}@current"),
            ),
            _ => Err(wrong(&target.to_string())),
        },
    }
}

fn downgrade_steps(graph: &Graph, applied: &BTreeSet<String>, seeds: &[String]) -> Vec<Step> {
    let seeds: Vec<&str> = seeds.iter().map(String::as_str).collect();
    let remove = graph.dependents(&seeds);
    graph
        .order()
        .iter()
        .rev()
        .filter(|id| applied.contains(*id) && remove.contains(*id))
        .map(|id| Step {
            revision: id.clone(),
            direction: Direction::Downgrade,
        })
        .collect()
}

/// The last `n` applied revisions of `within`, latest first.
fn last_applied(
    graph: &Graph,
    applied: &BTreeSet<String>,
    within: &BTreeSet<String>,
    n: i64,
    from: &str,
) -> Result<Vec<String>, PlanError> {
    let candidates: Vec<String> = graph
        .order()
        .iter()
        .rev()
        .filter(|id| applied.contains(*id) && within.contains(*id))
        .cloned()
        .collect();
    take(candidates, -n.abs(), from, "revision(s) are applied")
}

/// Reverts revisions that descend from (or depend on) the target, latest first.
pub fn downgrade(
    graph: &Graph,
    applied: &BTreeSet<String>,
    target: &Target,
) -> Result<Vec<Step>, PlanError> {
    check_applied(graph, applied)?;
    let wrong = |t: &str| PlanError::WrongDirection {
        target: t.into(),
        direction: "a downgrade",
    };
    let keep_descendants_of = |id: String| -> Result<Vec<Step>, PlanError> {
        if !applied.contains(&id) {
            return Err(PlanError::DowngradeToUnapplied(id));
        }
        let children = graph
            .dependents(&[&id])
            .into_iter()
            .filter(|c| *c != id)
            .collect::<Vec<_>>();
        Ok(downgrade_steps(graph, applied, &children))
    };
    match target {
        Target::Base => Ok(downgrade_steps(
            graph,
            applied,
            &applied.iter().cloned().collect::<Vec<_>>(),
        )),
        Target::Head => Err(wrong("head")),
        Target::Heads => Err(wrong("heads")),
        Target::Revision(prefix) => keep_descendants_of(find_revision(graph, prefix)?),
        Target::RevisionRelative {
            raw,
            revision,
            delta,
        } => {
            let id = resolve_relative(graph, raw, revision, *delta)?;
            keep_descendants_of(id)
        }
        Target::Relative(n) if *n < 0 => {
            let current = graph.tips(applied);
            if current.len() > 1 {
                return Err(PlanError::SeveralCurrent { current, delta: *n });
            }
            let everything: BTreeSet<String> = graph.order().iter().cloned().collect();
            let seeds = last_applied(graph, applied, &everything, *n, "the current revision")?;
            Ok(downgrade_steps(graph, applied, &seeds))
        }
        Target::Relative(n) => Err(wrong(&format!("+{n}"))),
        Target::Label { label, point } => {
            let members = branch(graph, label)?;
            match point {
                BranchPoint::Base => Ok(downgrade_steps(
                    graph,
                    applied,
                    &members.into_iter().collect::<Vec<_>>(),
                )),
                BranchPoint::Relative(n) if *n < 0 => {
                    let seeds =
                        last_applied(graph, applied, &members, *n, &format!("{label}@current"))?;
                    Ok(downgrade_steps(graph, applied, &seeds))
                }
                _ => Err(wrong(&format!("{label}@…"))),
            }
        }
    }
}

/// The steps that make `target` current, in whichever direction that is: used by `stamp`.
pub fn stamp(
    graph: &Graph,
    applied: &BTreeSet<String>,
    target: &Target,
) -> Result<Vec<Step>, PlanError> {
    let downward = match target {
        Target::Base
        | Target::Label {
            point: BranchPoint::Base,
            ..
        } => true,
        Target::Relative(n)
        | Target::Label {
            point: BranchPoint::Relative(n),
            ..
        } => *n < 0,
        // A revision that is applied is a target below the tips; one that is not, above.
        Target::Revision(prefix) => applied.contains(&find_revision(graph, prefix)?),
        Target::RevisionRelative {
            raw,
            revision,
            delta,
        } => applied.contains(&resolve_relative(graph, raw, revision, *delta)?),
        Target::Head
        | Target::Heads
        | Target::Label {
            point: BranchPoint::Head,
            ..
        } => false,
    };
    if downward {
        downgrade(graph, applied, target)
    } else {
        upgrade(graph, applied, target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::graph::tests::{depending, labelled, node};

    fn linear() -> Graph {
        Graph::new([node("a1", &[]), node("b2", &["a1"]), node("c3", &["b2"])]).unwrap()
    }

    /// a ─┬─ l1 ─ l2 (label "left")
    ///    └─ r1 (label "right") ─ r2, where r2 depends on l1
    fn branches() -> Graph {
        Graph::new([
            node("a", &[]),
            labelled(node("l1", &["a"]), &["left"]),
            node("l2", &["l1"]),
            labelled(node("r1", &["a"]), &["right"]),
            depending(node("r2", &["r1"]), &["l1"]),
        ])
        .unwrap()
    }

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    fn ids(steps: &[Step]) -> Vec<&str> {
        steps.iter().map(|s| s.revision.as_str()).collect()
    }

    fn up(g: &Graph, applied: &[&str], target: &str) -> Result<Vec<String>, PlanError> {
        upgrade(g, &set(applied), &Target::parse(target)).map(|s| {
            assert!(s.iter().all(|s| s.direction == Direction::Upgrade));
            s.into_iter().map(|s| s.revision).collect()
        })
    }

    fn down(g: &Graph, applied: &[&str], target: &str) -> Result<Vec<String>, PlanError> {
        downgrade(g, &set(applied), &Target::parse(target)).map(|s| {
            assert!(s.iter().all(|s| s.direction == Direction::Downgrade));
            s.into_iter().map(|s| s.revision).collect()
        })
    }

    #[test]
    fn parse_the_grammar() {
        assert_eq!(Target::parse("head"), Target::Head);
        assert_eq!(Target::parse("heads"), Target::Heads);
        assert_eq!(Target::parse("base"), Target::Base);
        assert_eq!(Target::parse("+2"), Target::Relative(2));
        assert_eq!(Target::parse("-1"), Target::Relative(-1));
        assert_eq!(Target::parse("ab12"), Target::Revision("ab12".into()));
        assert_eq!(
            Target::parse("ab12+3"),
            Target::RevisionRelative {
                raw: "ab12+3".into(),
                revision: "ab12".into(),
                delta: 3
            }
        );
        assert_eq!(
            Target::parse("audit@head"),
            Target::Label {
                label: "audit".into(),
                point: BranchPoint::Head
            }
        );
        assert_eq!(
            Target::parse("audit@base"),
            Target::Label {
                label: "audit".into(),
                point: BranchPoint::Base
            }
        );
        assert_eq!(
            Target::parse("audit@-2"),
            Target::Label {
                label: "audit".into(),
                point: BranchPoint::Relative(-2)
            }
        );
        assert_eq!(
            Target::parse("weird@thing"),
            Target::Revision("weird@thing".into())
        );
    }

    #[test]
    fn linear_upgrades() {
        let g = linear();
        assert_eq!(up(&g, &["a1"], "head").unwrap(), ["b2", "c3"]);
        assert!(up(&g, &["a1", "b2", "c3"], "head").unwrap().is_empty());
        assert_eq!(up(&g, &[], "b2").unwrap(), ["a1", "b2"]);
        assert_eq!(up(&g, &[], "b").unwrap(), ["a1", "b2"], "a unique prefix");
        assert_eq!(up(&g, &[], "+1").unwrap(), ["a1"]);
        assert_eq!(up(&g, &["a1"], "+2").unwrap(), ["b2", "c3"]);
        assert_eq!(up(&g, &[], "a1+1").unwrap(), ["a1", "b2"]);
        assert_eq!(up(&g, &[], "heads").unwrap(), ["a1", "b2", "c3"]);
    }

    #[test]
    fn linear_downgrades() {
        let g = linear();
        let all = ["a1", "b2", "c3"];
        assert_eq!(down(&g, &all, "base").unwrap(), ["c3", "b2", "a1"]);
        assert_eq!(down(&g, &all, "a1").unwrap(), ["c3", "b2"]);
        assert_eq!(down(&g, &all, "-1").unwrap(), ["c3"]);
        assert_eq!(down(&g, &all, "-2").unwrap(), ["c3", "b2"]);
        assert_eq!(down(&g, &all, "c3-2").unwrap(), ["c3", "b2"]);
        // Alembic's spelling: steps from the head.
        assert_eq!(down(&g, &all, "head-1").unwrap(), ["c3"]);
        assert_eq!(down(&g, &all, "head-2").unwrap(), ["c3", "b2"]);
        assert_eq!(up(&g, &["a1"], "head-1").unwrap(), ["b2"]);
        assert!(down(&g, &[], "base").unwrap().is_empty());
    }

    #[test]
    fn merges() {
        let g = Graph::new([
            node("a", &[]),
            node("l1", &["a"]),
            node("r1", &["a"]),
            node("m", &["l1", "r1"]),
        ])
        .unwrap();
        assert_eq!(up(&g, &[], "l1").unwrap(), ["a", "l1"]);
        assert_eq!(up(&g, &["a", "l1"], "head").unwrap(), ["r1", "m"]);
        // Downgrading to l1 reverts what descends from it (the merge); r1 is another branch.
        assert_eq!(down(&g, &["a", "l1", "r1", "m"], "l1").unwrap(), ["m"]);
        assert_eq!(
            down(&g, &["a", "l1", "r1", "m"], "a").unwrap(),
            ["m", "r1", "l1"]
        );
    }

    #[test]
    fn branches_with_labels_and_dependencies() {
        let g = branches();
        assert_eq!(
            up(&g, &[], "head"),
            Err(PlanError::SeveralHeads(vec!["l2".into(), "r2".into()]))
        );
        assert_eq!(up(&g, &[], "heads").unwrap(), ["a", "l1", "l2", "r1", "r2"]);
        // Partial upgrade of one branch: only what it needs.
        assert_eq!(up(&g, &[], "left@head").unwrap(), ["a", "l1", "l2"]);
        assert_eq!(up(&g, &[], "left@+2").unwrap(), ["a", "l1"]);
        // r2 depends on l1 across branches: upgrading the right branch brings l1, not l2.
        assert_eq!(up(&g, &[], "right@head").unwrap(), ["a", "l1", "r1", "r2"]);
        // Downgrade of one branch only.
        let all = ["a", "l1", "l2", "r1", "r2"];
        assert_eq!(down(&g, &all, "right@base").unwrap(), ["r2", "r1"]);
        assert_eq!(down(&g, &all, "left@-1").unwrap(), ["l2"]);
        // Reverting l1 must revert r2, which depends on it, and l2, its child.
        assert_eq!(down(&g, &all, "left@base").unwrap(), ["r2", "l2", "l1"]);
        assert_eq!(down(&g, &all, "a").unwrap(), ["r2", "r1", "l2", "l1"]);
    }

    #[test]
    fn relative_targets_need_one_current_revision() {
        let g = branches();
        assert_eq!(
            down(&g, &["a", "l1", "r1"], "-1"),
            Err(PlanError::SeveralCurrent {
                current: vec!["l1".into(), "r1".into()],
                delta: -1
            })
        );
        assert!(matches!(
            up(&g, &["a"], "+1"),
            Err(PlanError::SeveralHeads(_))
        ));
        assert!(
            matches!(up(&g, &[], "a+1"), Err(PlanError::Steps { .. })),
            "a branches: name the branch"
        );
    }

    #[test]
    fn target_errors() {
        let g = Graph::new([node("ab1", &[]), node("ab2", &[])]).unwrap();
        assert_eq!(
            up(&g, &[], "ab"),
            Err(PlanError::Ambiguous {
                prefix: "ab".into(),
                candidates: vec!["ab1".into(), "ab2".into()]
            })
        );
        assert_eq!(up(&g, &[], "zz"), Err(PlanError::Unknown("zz".into())));
        assert!(matches!(
            up(&g, &[], "base"),
            Err(PlanError::WrongDirection { .. })
        ));
        assert!(matches!(
            down(&g, &[], "head"),
            Err(PlanError::WrongDirection { .. })
        ));
        assert!(matches!(
            up(&g, &[], "nolabel@head"),
            Err(PlanError::UnknownLabel { .. })
        ));
        assert_eq!(
            up(&Graph::new([]).unwrap(), &[], "head"),
            Err(PlanError::Empty)
        );
        assert_eq!(
            down(&linear(), &["a1"], "b2"),
            Err(PlanError::DowngradeToUnapplied("b2".into()))
        );
        assert!(matches!(
            up(&linear(), &["a1", "b2"], "+2"),
            Err(PlanError::Steps { .. })
        ));
        assert!(matches!(
            down(&linear(), &["a1"], "-2"),
            Err(PlanError::Steps { .. })
        ));
    }

    #[test]
    fn applied_revisions_without_artifacts_are_refused() {
        assert_eq!(
            up(&linear(), &["a1", "gone"], "head"),
            Err(PlanError::AppliedButMissing(vec!["gone".into()]))
        );
        assert_eq!(
            down(&linear(), &["a1", "gone"], "base"),
            Err(PlanError::AppliedButMissing(vec!["gone".into()]))
        );
    }

    #[test]
    fn targets_display_as_written() {
        for s in [
            "head",
            "heads",
            "base",
            "abc",
            "+2",
            "-1",
            "abc+1",
            "abc-2",
            "audit@head",
            "audit@base",
            "audit@-2",
            "audit@+1",
        ] {
            assert_eq!(Target::parse(s).to_string(), s);
            assert_eq!(
                Target::parse(&Target::parse(s).to_string()),
                Target::parse(s)
            );
        }
    }

    #[test]
    fn wrong_direction_errors_name_the_target_as_written() {
        let g = branches();
        let e = upgrade(&g, &set(&[]), &Target::parse("left@-2")).unwrap_err();
        assert!(e.to_string().contains("left@-2"), "{e}");
        assert!(!e.to_string().contains("Relative"), "{e}");
    }

    #[test]
    fn stamp_goes_either_way() {
        let g = linear();
        assert_eq!(
            ids(&stamp(&g, &set(&[]), &Target::Head).unwrap()),
            ["a1", "b2", "c3"]
        );
        let s = stamp(&g, &set(&["a1", "b2", "c3"]), &Target::parse("a1")).unwrap();
        assert_eq!(ids(&s), ["c3", "b2"]);
        assert_eq!(s[0].direction, Direction::Downgrade);
        assert_eq!(
            ids(&stamp(&g, &set(&["a1"]), &Target::Base).unwrap()),
            ["a1"]
        );
    }

    #[test]
    fn stamp_rev_minus_n_goes_down_and_rev_plus_n_goes_up() {
        let g = linear();
        let all = set(&["a1", "b2", "c3"]);
        // `c3-1` is b2: forget c3.
        let s = stamp(&g, &all, &Target::parse("c3-1")).unwrap();
        assert_eq!(ids(&s), ["c3"]);
        assert_eq!(s[0].direction, Direction::Downgrade);
        let s = stamp(&g, &all, &Target::parse("c3-2")).unwrap();
        assert_eq!(ids(&s), ["c3", "b2"]);
        // `a1+1` is b2: record a1 and b2 on an empty database.
        let s = stamp(&g, &set(&[]), &Target::parse("a1+1")).unwrap();
        assert_eq!(ids(&s), ["a1", "b2"]);
        assert_eq!(s[0].direction, Direction::Upgrade);
        // `c3-1` on a database at a1 is above it: record b2.
        let s = stamp(&g, &set(&["a1"]), &Target::parse("c3-1")).unwrap();
        assert_eq!(ids(&s), ["b2"]);
        assert_eq!(s[0].direction, Direction::Upgrade);
    }
}
