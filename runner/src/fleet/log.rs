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
    /// The log of run `run` in `dir`: `DIR/RUN.jsonl`. A run's name becomes a file name, so
    /// it is letters, digits and `._:-`, not starting with a dot (no path, no `..`).
    pub fn path_in(dir: &Path, run: &str) -> Result<PathBuf, FleetError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "._:-".contains(c);
        if run.is_empty() || run.starts_with('.') || !run.chars().all(allowed) || run.len() > 200 {
            return Err(FleetError::RunName(run.to_string()));
        }
        Ok(dir.join(format!("{run}.jsonl")))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{Attempt, TargetSource};

    fn spec() -> RunSpec {
        RunSpec {
            run: "r".into(),
            direction: "upgrade".into(),
            target: "head".into(),
            apply: true,
            source: TargetSource::File {
                path: "t.txt".into(),
            },
            partition: None,
            canary: 0,
            max_failures: None,
            worker: "w".into(),
            started_at: "2026-12-07T00:00:00.000Z".into(),
        }
    }

    fn attempt(target: &str, n: u32, outcome: Outcome) -> Attempt {
        Attempt {
            run: "r".into(),
            target: target.into(),
            attempt: n,
            worker: "w".into(),
            started_at: "2026-12-07T00:00:00.000Z".into(),
            duration_ms: 1.0,
            outcome,
            from: vec![],
            to: vec![],
            revisions: vec![],
            error_kind: None,
            error: None,
        }
    }

    #[test]
    fn a_log_says_what_finished_and_survives_a_line_cut_short() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "../x", "a/b", ".hidden", "tab\tname"] {
            assert!(RunLog::path_in(dir.path(), bad).is_err(), "{bad:?}");
        }
        let path = RunLog::path_in(dir.path(), "r").unwrap();
        let mut log = RunLog::open(&path).unwrap();
        log.append(&Record::Run(spec())).unwrap();
        log.append(&Record::Attempt(attempt("a", 1, Outcome::Applied)))
            .unwrap();
        log.append(&Record::Attempt(attempt("b", 1, Outcome::Failed)))
            .unwrap();
        log.append(&Record::Attempt(attempt("c", 1, Outcome::Failed)))
            .unwrap();
        log.append(&Record::Attempt(attempt("c", 2, Outcome::UpToDate)))
            .unwrap();
        drop(log);
        // A process killed while writing its last line.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"{\"record\":\"attempt\",\"run\":\"r\",\"tar")
            .unwrap();
        let recorded = Recorded::read(&path).unwrap();
        assert!(recorded.finished("a") && !recorded.failed("a"));
        assert!(recorded.failed("b") && !recorded.finished("b"));
        assert!(recorded.finished("c"));
        assert_eq!(recorded.attempts["c"], 2);
        assert!(!recorded.finished("d") && !recorded.failed("d"));

        // A broken line in the middle is an error naming it.
        std::fs::write(&path, "{\"record\":\"run\"\nnot json\n{}\n").unwrap();
        let e = Recorded::read(&path).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }
}
