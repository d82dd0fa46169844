//! Several databases in one run: their order, and the cross-database requirement check.

use std::collections::BTreeSet;

use super::{Error, Migrations, ProjectOutcome, Runner, applied_set};
use crate::core::Direction;
use crate::core::checks::{self, Requirement, Unmet};
use crate::core::plan::Target;
use crate::project::DatabaseConfig;

impl Runner {
    /// Moves every database of `selected` to `target` ([`Runner::run`]); `others` are the
    /// project's unselected databases.
    pub(super) async fn migrate_project(
        &self,
        selected: &[DatabaseConfig],
        others: &[DatabaseConfig],
        direction: Direction,
        target: &Target,
        dry_run: bool,
    ) -> Result<ProjectOutcome, Error> {
        if selected.len() > 1 && !matches!(target, Target::Head | Target::Heads | Target::Base) {
            return Err(Error::TargetNeedsOneDatabase(target.to_string()));
        }
        let mut loaded = Vec::new();
        let mut histories = Vec::new();
        for db in selected {
            super::check_built(db, direction, self.observer.as_ref(), self.build_sources)?;
            let migrations = self.load(db).await?;
            // Every database's applied artifacts are checked before any database is touched.
            // The history read here (on a connection of its own) is also the read-only plan's
            // below: the plan that runs is made again under the lock.
            let history = self.history(db).await?;
            self.check_integrity(db, &migrations, &history)?;
            loaded.push(self.with_stored_artifacts(db, migrations, &history).await?);
            histories.push(history);
        }
        let mut order = order_databases(selected, &loaded)?;
        if direction == Direction::Downgrade {
            order.reverse();
        }
        self.check_requirements(selected, others, &loaded, direction, target)
            .await?;

        let mut outcome = ProjectOutcome::default();
        let mut remaining: Vec<usize> = order.clone();
        while !remaining.is_empty() {
            let i = remaining.remove(0);
            let history = std::mem::take(&mut histories[i]);
            match self
                .migrate_read(
                    &selected[i],
                    &loaded[i],
                    history,
                    direction,
                    target,
                    dry_run,
                )
                .await
            {
                Ok(report) => outcome.reports.push(report),
                Err(e) => {
                    outcome.failed = Some((selected[i].name.clone(), e));
                    outcome.untouched = remaining
                        .iter()
                        .map(|&j| selected[j].name.clone())
                        .collect();
                    break;
                }
            }
        }
        Ok(outcome)
    }

    /// Simulates every selected database's plan and checks each applied-afterwards
    /// revision's `requires` against the other databases' applied-afterwards sets.
    async fn check_requirements(
        &self,
        selected: &[DatabaseConfig],
        others: &[DatabaseConfig],
        loaded: &[Migrations],
        direction: Direction,
        target: &Target,
    ) -> Result<(), Error> {
        // Going down, an unselected database's applied migrations may require what this run
        // removes: check them too (their artifacts say what they require).
        let mut other_loaded = Vec::new();
        if direction == Direction::Downgrade {
            for other in others {
                other_loaded.push(self.load(other).await?);
            }
        }
        let any = loaded
            .iter()
            .chain(&other_loaded)
            .any(|m| m.artifacts.iter().any(|a| !a.info.requires.is_empty()));
        if !any {
            return Ok(());
        }
        let mut after: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
        for (db, migrations) in selected.iter().zip(loaded) {
            let history = self.history(db).await?;
            let mut applied = applied_set(&history);
            for step in self.plan_steps(db, migrations, &history, direction, target)? {
                match step.direction {
                    Direction::Upgrade => applied.insert(step.revision),
                    Direction::Downgrade => applied.remove(&step.revision),
                };
            }
            after.insert(db.name.clone(), applied);
        }
        for (db, _) in others.iter().zip(&other_loaded) {
            after.insert(db.name.clone(), applied_set(&self.history(db).await?));
        }
        let mut requirements = Vec::new();
        for (db, migrations) in selected
            .iter()
            .zip(loaded)
            .chain(others.iter().zip(&other_loaded))
        {
            for revision in &after[&db.name] {
                let Some(artifact) = migrations.get(revision) else {
                    continue;
                };
                requirements.extend(artifact.info.requires.iter().map(|req| Requirement {
                    database: db.name.clone(),
                    revision: revision.clone(),
                    required_database: req.database.clone(),
                    required_revision: req.revision.clone(),
                }));
            }
        }
        // Required databases outside the run keep what they have applied.
        for req in &requirements {
            if !after.contains_key(&req.required_database)
                && let Some(other) = others.iter().find(|o| o.name == req.required_database)
            {
                let applied = applied_set(&self.history(other).await?);
                after.insert(other.name.clone(), applied);
            }
        }
        if let Some((req, unmet)) = checks::first_unmet(&requirements, &after) {
            let reason = match (unmet, direction) {
                (Unmet::NoSuchDatabase, _) => "but the project has no such database".into(),
                (Unmet::NotApplied, Direction::Upgrade) => {
                    "which would not be applied there after this run; include that database in \
                     the run (or upgrade it first)"
                        .into()
                }
                (Unmet::NotApplied, Direction::Downgrade) => format!(
                    "which this downgrade would revert; downgrade `{}` first, or both together",
                    req.database
                ),
            };
            return Err(Error::CrossDatabase {
                database: req.database.clone(),
                revision: req.revision.clone(),
                required_database: req.required_database.clone(),
                required_revision: req.required_revision.clone(),
                reason,
            });
        }
        Ok(())
    }
}

/// Orders databases so that those required by another's migrations come first; otherwise
/// the project's declared order.
fn order_databases(dbs: &[DatabaseConfig], loaded: &[Migrations]) -> Result<Vec<usize>, Error> {
    let index = |name: &str| dbs.iter().position(|d| d.name == name);
    let mut before: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); dbs.len()];
    for (i, migrations) in loaded.iter().enumerate() {
        for artifact in &migrations.artifacts {
            for req in &artifact.info.requires {
                if let Some(j) = index(&req.database)
                    && j != i
                {
                    before[i].insert(j);
                }
            }
        }
    }
    checks::order(&before).map_err(|cycle| {
        Error::DatabaseCycle(cycle.into_iter().map(|i| dbs[i].name.clone()).collect())
    })
}
