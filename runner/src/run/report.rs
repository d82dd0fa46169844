//! What a run did, for printing and for applications: reports, status lines, outcomes.

use std::time::Duration;

use super::Error;
use crate::core::Direction;
use crate::core::plan::Target;
use crate::db::RowState;

/// One migration that ran.
#[derive(Clone, Debug)]
pub struct Ran {
    /// The revision.
    pub revision: String,
    /// Its description.
    pub description: String,
    /// Upgrade or downgrade.
    pub direction: Direction,
    /// How long it took, including recording it.
    pub duration: Duration,
    /// A downgrade that undid nothing: the migration has no downgrade for this database (an
    /// SQL migration without a `down` script for its dialect and nothing kept), so its
    /// history row went and its changes stayed.
    pub undid_nothing: bool,
}

/// What `upgrade`/`downgrade` did (or, with `dry_run`, would do) to one database.
#[derive(Clone, Debug)]
pub struct Report {
    /// The database.
    pub database: String,
    /// The steps, in order.
    pub steps: Vec<Ran>,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// The database's current revisions afterwards.
    pub current: Vec<String>,
}

/// The state of one revision, for `status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevisionState {
    /// Applied.
    Applied,
    /// Not applied.
    Pending,
    /// An earlier run failed half-way (see [`Error::Unfinished`]).
    Unfinished(RowState),
    /// Applied, but no artifact in the directory defines it.
    AppliedWithoutArtifact,
    /// Applied, but the artifact now offered for it is not the one applied (its recorded
    /// digest is given).
    Changed(String),
}

/// One line of `status`.
#[derive(Clone, Debug)]
pub struct StatusLine {
    /// The revision.
    pub revision: String,
    /// Its description.
    pub description: String,
    /// Its state.
    pub state: RevisionState,
    /// For an unfinished revision: the statements it completed before it stopped.
    pub journal: Option<String>,
}

/// How [`Runner::resolve`](super::Runner::resolve) settles an unfinished revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Its changes are in place: record it as applied.
    Applied,
    /// Its changes are not in place: forget the row.
    RolledBack,
    /// Run its downgrade to undo what it did, then forget the row.
    Downgrade,
}

impl Resolution {
    /// Every resolution, in the order they are offered.
    pub const ALL: [Resolution; 3] = [
        Resolution::Applied,
        Resolution::Downgrade,
        Resolution::RolledBack,
    ];

    /// What choosing it claims or does, for people: "applied", "rolled back", "downgraded".
    pub fn name(self) -> &'static str {
        match self {
            Resolution::Applied => "applied",
            Resolution::RolledBack => "rolled back",
            Resolution::Downgrade => "downgraded",
        }
    }

    /// When to choose it, for people.
    pub fn when(self) -> &'static str {
        match self {
            Resolution::Applied => "its upgrade's changes are in place",
            Resolution::RolledBack => "they are not",
            Resolution::Downgrade => "undo them with its downgrade",
        }
    }
}

impl std::fmt::Display for Resolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl ProjectOutcome {
    /// The reports, or the failure (dropping which databases were untouched).
    pub fn into_result(self) -> Result<Vec<Report>, Error> {
        match self.failed {
            Some((_, error)) => Err(error),
            None => Ok(self.reports),
        }
    }
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} ({}) in {:.1} ms{}",
            self.direction,
            self.revision,
            self.description,
            self.duration.as_secs_f64() * 1000.0,
            if self.undid_nothing {
                " (it has no downgrade: its changes stay)"
            } else {
                ""
            }
        )
    }
}

impl std::fmt::Display for Report {
    /// One line: the database, how many migrations ran (or would), and where it is now.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.steps.len();
        let verb = if self.dry_run { "would run" } else { "ran" };
        write!(
            f,
            "{}: {verb} {n} migration{}",
            self.database,
            if n == 1 { "" } else { "s" }
        )?;
        if !self.dry_run {
            match self.current.as_slice() {
                [] => write!(f, "; now at base")?,
                current => write!(f, "; now at {}", current.join(", "))?,
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for RevisionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RevisionState::Applied => f.write_str("applied"),
            RevisionState::Pending => f.write_str("pending"),
            RevisionState::Unfinished(state) => write!(f, "unfinished ({state})"),
            RevisionState::AppliedWithoutArtifact => {
                f.write_str("applied (no artifact in the directory)")
            }
            RevisionState::Changed(recorded) => {
                write!(f, "changed since applied (applied sha256 {recorded})")
            }
        }
    }
}

/// What [`Runner::run`](super::Runner::run) is to do: which way, to where, and whether to
/// carry it out or only plan it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub(super) direction: Direction,
    pub(super) target: Target,
    pub(super) apply: bool,
}

impl Run {
    /// Upgrade to `target` (`Target::Head`: everything pending).
    pub fn upgrade(target: Target) -> Run {
        Run {
            direction: Direction::Upgrade,
            target,
            apply: true,
        }
    }

    /// Downgrade to `target` (`Target::Base`: revert everything).
    pub fn downgrade(target: Target) -> Run {
        Run {
            direction: Direction::Downgrade,
            target,
            apply: true,
        }
    }

    /// The same run, planned only: the reports list the steps, marked `dry_run`, and
    /// nothing runs or is created (not even the history tables or an SQLite file).
    pub fn planned(mut self) -> Run {
        self.apply = false;
        self
    }

    /// Which way it goes.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Where it goes.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Whether it only plans.
    pub fn is_planned(&self) -> bool {
        !self.apply
    }
}

/// What a project-wide run did, database by database.
#[derive(Debug, Default)]
pub struct ProjectOutcome {
    /// The databases that finished, in run order.
    pub reports: Vec<Report>,
    /// The database that failed, with why.
    pub failed: Option<(String, Error)>,
    /// The databases not touched because of the failure.
    pub untouched: Vec<String>,
}

/// One current revision of a database (a tip of what is applied).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentRevision {
    /// The revision.
    pub revision: String,
    /// Its description, as recorded when it was applied.
    pub description: String,
    /// Whether it is a head of the graph (nothing is pending after it).
    pub head: bool,
}
