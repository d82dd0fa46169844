//! MySQL/MariaDB: what Retort's own connection knows of the bookkeeping's rows, so the
//! fingerprint before each migration costs the rows Retort itself wrote since the last one,
//! not a read of the whole history.
//!
//! The fingerprint ([`super::history`]'s `contents_digest_sql`) is the SHA-256 of each
//! bookkeeping row's own SHA-256, as the server computes it, sorted bytewise and concatenated
//! (history rows, then `0x1D`, then artifact parts). The check after a migration has the
//! server compute it whole on the migration's connection — that is the read no migration can
//! fool. The one before a migration is the baseline that check is compared with: the mirror
//! holds every row's hash as the server computed it, re-reads by primary key the rows Retort
//! wrote since (the backend marks them as it writes), and computes the same digest here.
//! Anything else that changed a row meanwhile is not in the baseline, so the check after the
//! next migration fails (safe, as a change between two migrations does on PostgreSQL). A write
//! the backend cannot attribute to rows drops the mirror, and the next baseline reads the
//! tables whole again.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::bindings::Value;

/// More rows than this marked since the last baseline: read everything again instead.
const MAX_MARKED: usize = 64;

/// The history rows' and artifact parts' hashes as the server computed them, and the rows
/// Retort wrote since.
#[derive(Default)]
pub(crate) struct Mirror {
    /// Revision → its row's hash.
    history: BTreeMap<String, Vec<u8>>,
    /// (Artifact digest, part) → its part's hash.
    artifacts: BTreeMap<(String, i64), Vec<u8>>,
    /// Revisions written since the hashes were read.
    marked_rows: BTreeSet<String>,
    /// Artifact digests written since the hashes were read.
    marked_artifacts: BTreeSet<String>,
}

/// Which rows [`Mirror::refresh`] must read.
pub(crate) enum Reread {
    /// Nothing was written since the last read.
    Nothing,
    /// These revisions' rows and these artifacts' parts.
    Rows(Vec<String>, Vec<String>),
}

impl Mirror {
    /// Notes that Retort is about to write `revision`'s history row and/or `artifact`'s parts.
    pub(crate) fn mark(&mut self, revision: Option<&str>, artifact: Option<&str>) {
        if let Some(r) = revision {
            self.marked_rows.insert(r.to_string());
        }
        if let Some(a) = artifact {
            self.marked_artifacts.insert(a.to_string());
        }
    }

    /// What must be read again before the digest is right; `None` when so much was written
    /// that reading everything is simpler.
    pub(crate) fn reread(&self) -> Option<Reread> {
        let (rows, artifacts) = (&self.marked_rows, &self.marked_artifacts);
        if rows.len() + artifacts.len() > MAX_MARKED {
            return None;
        }
        if rows.is_empty() && artifacts.is_empty() {
            return Some(Reread::Nothing);
        }
        Some(Reread::Rows(
            rows.iter().cloned().collect(),
            artifacts.iter().cloned().collect(),
        ))
    }

    /// Replaces what the mirror knows of the marked rows with `rows` (as
    /// `row_hashes_sql` returns them: kind 0 history / 1 artifact, key, part, hash); a
    /// marked row not among them is gone. Everything, when `whole` (read without a filter).
    pub(crate) fn refresh(&mut self, rows: Vec<Vec<Value>>, whole: bool) -> Result<(), String> {
        if whole {
            self.history.clear();
            self.artifacts.clear();
        } else {
            for r in &self.marked_rows {
                self.history.remove(r);
            }
            let gone: Vec<_> = self
                .artifacts
                .keys()
                .filter(|(d, _)| self.marked_artifacts.contains(d))
                .cloned()
                .collect();
            for key in gone {
                self.artifacts.remove(&key);
            }
        }
        for row in rows {
            let mut it = row.into_iter();
            let (Some(kind), Some(Value::Text(key)), Some(part), Some(Value::Bytes(hash))) =
                (it.next(), it.next(), it.next(), it.next())
            else {
                return Err("a row hash read back in an unexpected shape".into());
            };
            let as_int = |v: &Value| match v {
                Value::Integer(i) => Some(*i),
                Value::Text(t) => t.parse().ok(),
                _ => None,
            };
            match (as_int(&kind), as_int(&part)) {
                (Some(0), _) => {
                    self.history.insert(key, hash);
                }
                (Some(1), Some(part)) => {
                    self.artifacts.insert((key, part), hash);
                }
                _ => return Err("a row hash read back with an unknown kind".into()),
            }
        }
        self.marked_rows.clear();
        self.marked_artifacts.clear();
        Ok(())
    }

    /// The digest the server computes over the same rows (`contents_digest_sql`), as
    /// `fingerprint_text` renders its one-row answer.
    pub(crate) fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        let mut rows: Vec<&Vec<u8>> = self.history.values().collect();
        rows.sort();
        for h in rows {
            hasher.update(h);
        }
        hasher.update([0x1d]);
        let mut parts: Vec<&Vec<u8>> = self.artifacts.values().collect();
        parts.sort();
        for h in parts {
            hasher.update(h);
        }
        let hex = format!("{:x}", hasher.finalize());
        super::history::fingerprint_text(&[vec![Value::Text(hex)]])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: i64, key: &str, part: i64, hash: &[u8]) -> Vec<Value> {
        vec![
            Value::Integer(kind),
            Value::Text(key.into()),
            Value::Integer(part),
            Value::Bytes(hash.to_vec()),
        ]
    }

    #[test]
    fn the_digest_sorts_hashes_bytewise_and_separates_the_tables() {
        let mut m = Mirror::default();
        m.refresh(
            vec![
                row(0, "b", 0, &[2]),
                row(0, "a", 0, &[9]),
                row(1, "d", 0, &[1]),
            ],
            true,
        )
        .unwrap();
        let mut expected = Sha256::new();
        expected.update([2, 9, 0x1d, 1]);
        let hex = format!("{:x}", expected.finalize());
        assert_eq!(
            m.digest(),
            super::super::history::fingerprint_text(&[vec![Value::Text(hex)]])
        );
    }

    #[test]
    fn a_refresh_replaces_only_marked_rows_and_drops_the_ones_gone() {
        let mut m = Mirror::default();
        m.refresh(
            vec![
                row(0, "a", 0, &[1]),
                row(0, "b", 0, &[2]),
                row(1, "x", 0, &[3]),
                row(1, "x", 1, &[4]),
            ],
            true,
        )
        .unwrap();
        m.mark(Some("a"), Some("x"));
        m.mark(Some("c"), None);
        let Some(Reread::Rows(rows, artifacts)) = m.reread() else {
            panic!("expected rows to read again");
        };
        assert_eq!(rows, ["a", "c"]);
        assert_eq!(artifacts, ["x"]);
        // `a` changed, `c` is new, `x` lost its second part; `b` was not marked.
        m.refresh(
            vec![
                row(0, "a", 0, &[5]),
                row(0, "c", 0, &[6]),
                row(1, "x", 0, &[3]),
            ],
            false,
        )
        .unwrap();
        let mut fresh = Mirror::default();
        fresh
            .refresh(
                vec![
                    row(0, "a", 0, &[5]),
                    row(0, "b", 0, &[2]),
                    row(0, "c", 0, &[6]),
                    row(1, "x", 0, &[3]),
                ],
                true,
            )
            .unwrap();
        assert_eq!(m.digest(), fresh.digest());
        assert!(matches!(m.reread(), Some(Reread::Nothing)));
    }

    #[test]
    fn too_many_marked_rows_read_everything() {
        let mut m = Mirror::default();
        for i in 0..=MAX_MARKED {
            m.mark(Some(&i.to_string()), None);
        }
        assert!(m.reread().is_none());
    }
}
