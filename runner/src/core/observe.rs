//! Progress reporting: the library emits events, the binary decides how to show them.

use std::time::Duration;

use crate::core::Direction;

/// How important a guest's log message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Detail for debugging a migration.
    Debug,
    /// Normal progress information.
    Info,
    /// Something the operator should look at.
    Warn,
    /// A failure the migration is about to report.
    Error,
}

/// Something that happened while Retort worked.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A migration is about to run.
    StepStarted {
        /// The database's name in the project.
        database: &'a str,
        /// The revision.
        revision: &'a str,
        /// Its description.
        description: &'a str,
        /// Upgrade or downgrade.
        direction: Direction,
    },
    /// A migration committed.
    StepFinished {
        /// The database's name in the project.
        database: &'a str,
        /// The revision.
        revision: &'a str,
        /// Upgrade or downgrade.
        direction: Direction,
        /// How long it ran.
        duration: Duration,
    },
    /// A migration called `report.log`.
    GuestLog {
        /// The revision.
        revision: &'a str,
        /// The level it chose.
        level: Level,
        /// The message.
        message: &'a str,
    },
    /// A migration printed a line to stdout or stderr.
    GuestOutput {
        /// The revision.
        revision: &'a str,
        /// `stdout` or `stderr`.
        stream: &'a str,
        /// The line.
        line: &'a str,
    },
    /// A migration called `report.progress`.
    Progress {
        /// The revision.
        revision: &'a str,
        /// Units done.
        done: u64,
        /// Units in all, if known.
        total: Option<u64>,
    },
    /// A revision missing from the migrations directory is taken from the database's
    /// stored copy.
    StoredArtifact {
        /// The database's name in the project.
        database: &'a str,
        /// The revision.
        revision: &'a str,
    },
    /// A SQL migration's artifact was missing or older than its scripts, and was built before
    /// the run (SQL needs no toolchain).
    Built {
        /// The database's name in the project.
        database: &'a str,
        /// The artifact written.
        artifact: &'a str,
    },
    /// Waiting for another process's migration lock.
    Waiting {
        /// The database's name in the project.
        database: &'a str,
    },
    /// A migration trapped: where, as wasm frames (the message is in the error).
    Backtrace {
        /// The revision.
        revision: &'a str,
        /// One frame per line.
        backtrace: &'a str,
    },
    /// A component is being compiled to machine code, which takes a while for a shared
    /// language runtime (seconds; once per machine, then it loads from the compile cache).
    Compiling {
        /// What is compiled, e.g. "the python runtime 0.3.0".
        what: &'a str,
        /// Its size.
        bytes: usize,
    },
    /// The component announced by [`Event::Compiling`] is compiled.
    Compiled {
        /// What was compiled.
        what: &'a str,
        /// How long it took.
        duration: std::time::Duration,
    },
    /// Something the author of a migration should know about its sources, noticed while
    /// building it (e.g. a `BEGIN; … COMMIT;` pair that running it drops).
    Note {
        /// What to know.
        message: &'a str,
    },
    /// A shared language runtime is being built with its tool (10–20 s; once per machine).
    BuildingRuntime {
        /// "Python" or "JavaScript".
        language: &'a str,
        /// The tool and the version it reports.
        tool: &'a str,
    },
    /// The runtime announced by [`Event::BuildingRuntime`] is built.
    BuiltRuntime {
        /// "Python" or "JavaScript".
        language: &'a str,
        /// How long it took.
        duration: std::time::Duration,
    },
    /// A Python or JavaScript migration's artifact is being written on its runtime.
    Writing {
        /// The source file.
        source: &'a str,
        /// "Python" or "JavaScript".
        language: &'a str,
    },
    /// Something the operator should know before migrations run, e.g. that they run with
    /// privileges that reach the database server's files.
    Warning {
        /// The database's name in the project.
        database: &'a str,
        /// What to know.
        message: &'a str,
    },
}

/// Receives events. Implementations must be cheap: events arrive from inside guest calls.
pub trait Observer: Send + Sync {
    /// Handles one event.
    fn event(&self, event: &Event<'_>);
}

/// Ignores every event.
pub struct Silent;

impl Observer for Silent {
    fn event(&self, _event: &Event<'_>) {}
}
