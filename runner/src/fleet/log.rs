//! The durable record of a fleet run: one JSON line per event, appended as it happens, so a
//! run killed half-way leaves a log that says which targets finished (`resume`) and which
//! failed (`retry --failed`). Each line is written with one `write` on a file opened for
//! appending: a killed process loses at most the attempt it was recording, never a line
//! already written. (Durability against a machine crash is the control database's.)

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Attempt, FleetError, Outcome, RunSpec, Summary};

/// One line of a run log.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "kebab-case")]
pub enum Record {
    /// What the run is: written first, and again by each resume or retry.
    Run(RunSpec),
    /// One target's attempt.
    Attempt(Attempt),
    /// The end of one pass (a run, a resume, a retry).
    Summary(Summary),
}

/// A run log file, appended to.
pub struct RunLog {
    path: PathBuf,
    file: std::fs::File,
}

impl RunLog {
    /// The log of run `run` in `dir`: `DIR/RUN.jsonl`.
    pub fn path_in(dir: &Path, run: &str) -> PathBuf {
        dir.join(format!("{run}.jsonl"))
    }

    /// Opens (creating it and its directory if need be) the log at `path` for appending.
    pub fn open(path: &Path) -> Result<RunLog, FleetError> {
        let io = |e: std::io::Error| FleetError::Log {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        Ok(RunLog {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record as one line, in one write.
    pub fn append(&mut self, record: &Record) -> Result<(), FleetError> {
        let mut line = serde_json::to_vec(record).map_err(|e| FleetError::Log {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(|e| FleetError::Log {
            path: self.path.clone(),
            message: e.to_string(),
        })
    }
}

/// What a run log says so far.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The run as first written.
    pub spec: RunSpec,
    /// Each target's last attempt, by target name.
    pub last: BTreeMap<String, Attempt>,
    /// How many attempts each target had.
    pub attempts: BTreeMap<String, u32>,
}

impl Recorded {
    /// Reads a run log. A last line cut short (the process was killed while writing it) is
    /// ignored; any other line that does not parse is an error naming it.
    pub fn read(path: &Path) -> Result<Recorded, FleetError> {
        let text = std::fs::read_to_string(path).map_err(|e| FleetError::Log {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let lines: Vec<&str> = text.lines().collect();
        let mut spec = None;
        let mut last = BTreeMap::new();
        let mut attempts: BTreeMap<String, u32> = BTreeMap::new();
        for (i, line) in lines.iter().enumerate() {
            let record: Record = match serde_json::from_str(line) {
                Ok(r) => r,
                Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => break,
                Err(e) => {
                    return Err(FleetError::Log {
                        path: path.to_path_buf(),
                        message: format!("line {}: {e}", i + 1),
                    });
                }
            };
            match record {
                Record::Run(s) => {
                    spec.get_or_insert(s);
                }
                Record::Attempt(a) => {
                    *attempts.entry(a.target.clone()).or_default() += 1;
                    last.insert(a.target.clone(), a);
                }
                Record::Summary(_) => {}
            }
        }
        let spec = spec.ok_or_else(|| FleetError::Log {
            path: path.to_path_buf(),
            message: "it does not start with the run's record".into(),
        })?;
        Ok(Recorded {
            spec,
            last,
            attempts,
        })
    }

    /// Whether `target` is finished: its last attempt succeeded.
    pub fn finished(&self, target: &str) -> bool {
        self.last.get(target).is_some_and(|a| a.outcome.succeeded())
    }

    /// Whether `target`'s last attempt failed (or found it unreachable).
    pub fn failed(&self, target: &str) -> bool {
        self.last
            .get(target)
            .is_some_and(|a| matches!(a.outcome, Outcome::Failed | Outcome::Unreachable))
    }
}
