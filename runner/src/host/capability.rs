//! Directory capabilities: a migration declares a name (`capabilities: ["config"]`), the
//! project maps the name to a directory, and the host grants a staged copy of exactly that
//! directory, mounted at `/<name>`. The copy is published over the real directory only after
//! the migration's database transaction commits, and thrown away if it does not.
//!
//! The remaining window: if the process dies after the commit and before the publish has
//! finished, the database is at the new revision and the directory is not (wholly). Each
//! file is replaced atomically (temporary file + rename), so no file is ever half-written.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::bindings::MigrationInfo;
use crate::core::Direction;

/// Why a directory capability could not be granted, or a migration's changes to one were
/// refused or could not be published.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CapabilityError {
    /// The migration declares a capability the project does not map to a directory.
    #[error(
        "{revision} needs the directory capability `{name}`, which the project does not grant: \
         add `{name} = \"<directory>\"` under [databases.{database}.capabilities] in retort.toml"
    )]
    NotGranted {
        /// The migration.
        revision: String,
        /// The capability.
        name: String,
        /// The database whose migrations it is.
        database: String,
    },
    /// The capability maps to something that is not a directory.
    #[error(
        "{revision} needs the directory capability `{name}`, mapped to {}, which is not a \
         directory", .dir.display()
    )]
    NotADirectory {
        /// The migration.
        revision: String,
        /// The capability.
        name: String,
        /// What it maps to.
        dir: PathBuf,
    },
    /// Staging, reading or copying a capability's files failed.
    #[error("cannot {action} capability `{name}` ({})", .path.display())]
    Io {
        /// What was being done: `stage`, `read the staged`, `copy for the rehearsal`.
        action: &'static str,
        /// The capability.
        name: String,
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The migration left something in its copy that the publish would follow out of the
    /// granted directory.
    #[error("the migration left `{file}` in capability `{name}`, {}: refused",
        if *.hard_link { "as a hard link" } else {
            "which is not a regular file or directory (a symbolic link or a special file)"
        })]
    Refused {
        /// The capability.
        name: String,
        /// The file, relative to the capability's directory.
        file: String,
        /// A hard link (else a symbolic link or a special file).
        hard_link: bool,
    },
    /// The migration left more than the limit in its copies.
    #[error(
        "the migration left more than {max_mib} MiB of files in its capabilities \
         (limits.capability_mib): refused"
    )]
    TooLarge {
        /// The limit.
        max_mib: u64,
    },
    /// The database committed, and publishing the migration's changes over the directory
    /// failed: the directory must be fixed by hand.
    #[error(
        "cannot publish the changes to capability `{name}` ({}); the database committed {} \
         {revision}, so the directory must be fixed by hand", .path.display(), .direction.name()
    )]
    Publish {
        /// The capability.
        name: String,
        /// The directory.
        path: PathBuf,
        /// The committed migration.
        revision: String,
        /// The direction it committed in.
        direction: Direction,
        /// The cause.
        source: std::io::Error,
    },
}

/// A capability's staged copy.
#[derive(Debug)]
pub struct Staged {
    /// The capability's name (the guest sees `/<name>`).
    pub name: String,
    /// The project's directory.
    pub target: PathBuf,
    /// The copy the migration works on.
    pub staging: PathBuf,
}

/// The directories a project grants one database's migrations, by capability name.
pub type Grants = std::collections::BTreeMap<String, PathBuf>;

/// Checks that `grants` (the capabilities the project grants database `database`) cover every
/// capability the migration declares.
pub fn check(database: &str, grants: &Grants, info: &MigrationInfo) -> Result<(), CapabilityError> {
    for name in &info.capabilities {
        match grants.get(name) {
            None => {
                return Err(CapabilityError::NotGranted {
                    revision: info.id.clone(),
                    name: name.clone(),
                    database: database.to_string(),
                });
            }
            Some(dir) if !dir.is_dir() => {
                return Err(CapabilityError::NotADirectory {
                    revision: info.id.clone(),
                    name: name.clone(),
                    dir: dir.clone(),
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_dir(&src, &dst)?;
        } else if kind.is_file() {
            std::fs::copy(&src, &dst)?;
        } else {
            // A link could lead the migration (or the publish) out of the granted directory.
            return Err(std::io::Error::other(format!(
                "{} is not a regular file or directory (a symbolic link or a special file): \
                 a capability grants plain files only",
                src.display()
            )));
        }
    }
    Ok(())
}

/// Checks what a migration left in its staged copies before its transaction commits: only
/// directories and regular files, each with one link, of at most `max_bytes` in all. A
/// symbolic link (say to `../../etc/passwd`), a hard link or a special file would make the
/// publish copy something from outside the granted directory, and a huge tree would fill the
/// project's disk, so the migration fails instead.
pub fn verify(staged: &[Staged], max_bytes: u64) -> Result<(), CapabilityError> {
    let mut total = 0u64;
    staged
        .iter()
        .try_for_each(|s| walk(&s.staging, &s.name, &mut total, max_bytes))
}

fn walk(dir: &Path, name: &str, total: &mut u64, max_bytes: u64) -> Result<(), CapabilityError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CapabilityError::Io {
            action: "read the staged",
            name: name.to_string(),
            path,
            source,
        }
    };
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
        let shown = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        if meta.is_dir() {
            walk(&path, name, total, max_bytes)?;
        } else if !meta.is_file() || links(&meta) > 1 {
            return Err(CapabilityError::Refused {
                name: name.to_string(),
                file: shown,
                hard_link: meta.is_file(),
            });
        }
        *total = total.saturating_add(meta.len());
        if *total > max_bytes {
            return Err(CapabilityError::TooLarge {
                max_mib: max_bytes >> 20,
            });
        }
    }
    Ok(())
}

#[cfg(unix)]
fn links(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::nlink(meta)
}

#[cfg(not(unix))]
fn links(_meta: &std::fs::Metadata) -> u64 {
    1
}

/// Stages a copy of every capability the migration declares.
pub fn stage(
    database: &str,
    grants: &Grants,
    info: &MigrationInfo,
) -> Result<Vec<Staged>, CapabilityError> {
    static N: AtomicUsize = AtomicUsize::new(0);
    check(database, grants, info)?;
    let mut staged = Vec::new();
    for name in &info.capabilities {
        let target = grants[name].clone();
        let staging = std::env::temp_dir().join(format!(
            "retort-stage-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        if let Err(e) = copy_dir(&target, &staging) {
            discard(staged);
            let _ = std::fs::remove_dir_all(&staging);
            return Err(CapabilityError::Io {
                action: "stage",
                name: name.clone(),
                path: target,
                source: e,
            });
        }
        staged.push(Staged {
            name: name.clone(),
            target,
            staging,
        });
    }
    Ok(staged)
}

/// Makes `target` hold what `staging` holds: changed and new files replaced atomically,
/// files the migration deleted removed.
fn sync(staging: &Path, target: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(target)?;
    for entry in std::fs::read_dir(staging)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), target.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            sync(&src, &dst)?;
        } else {
            let new = std::fs::read(&src)?;
            if std::fs::read(&dst).ok().as_deref() != Some(&new[..]) {
                let tmp = target.join(format!(
                    ".{}.retort-tmp",
                    entry.file_name().to_string_lossy()
                ));
                std::fs::write(&tmp, &new)?;
                std::fs::rename(&tmp, &dst)?;
            }
        }
    }
    for entry in std::fs::read_dir(target)? {
        let entry = entry?;
        if !staging.join(entry.file_name()).exists() {
            if entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(entry.path())?;
            } else {
                std::fs::remove_file(entry.path())?;
            }
        }
    }
    Ok(())
}

/// Publishes the staged copies (after the database committed `revision` in `direction`)
/// and removes them.
pub fn publish(
    staged: Vec<Staged>,
    direction: Direction,
    revision: &str,
) -> Result<(), CapabilityError> {
    for s in &staged {
        sync(&s.staging, &s.target).map_err(|source| CapabilityError::Publish {
            name: s.name.clone(),
            path: s.target.clone(),
            revision: revision.to_string(),
            direction,
            source,
        })?;
    }
    discard(staged);
    Ok(())
}

/// Throws the staged copies away.
pub fn discard(staged: Vec<Staged>) {
    for s in staged {
        let _ = std::fs::remove_dir_all(&s.staging);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(dir: &Path) -> Vec<Staged> {
        vec![Staged {
            name: "config".into(),
            target: dir.join("unused"),
            staging: dir.to_path_buf(),
        }]
    }

    #[cfg(unix)]
    #[test]
    fn links_and_special_files_left_by_a_migration_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/ok.ini"), "x").unwrap();
        assert!(verify(&staged(dir.path()), u64::MAX).is_ok());

        fn refused(file: &str, hard_link: bool) -> impl Fn(CapabilityError) -> bool + '_ {
            move |e| {
                matches!(e, CapabilityError::Refused { ref name, file: ref f, hard_link: h }
                    if name == "config" && f == file && h == hard_link)
            }
        }
        std::os::unix::fs::symlink("../../../../etc/passwd", dir.path().join("sub/leak")).unwrap();
        let e = verify(&staged(dir.path()), u64::MAX).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(refused("leak", false)(e));
        std::fs::remove_file(dir.path().join("sub/leak")).unwrap();

        std::fs::hard_link(dir.path().join("sub/ok.ini"), dir.path().join("twin.ini")).unwrap();
        let e = verify(&staged(dir.path()), u64::MAX).unwrap_err();
        assert!(refused("twin.ini", true)(e));
        std::fs::remove_file(dir.path().join("twin.ini")).unwrap();

        let _socket = std::os::unix::net::UnixListener::bind(dir.path().join("sock")).unwrap();
        let e = verify(&staged(dir.path()), u64::MAX).unwrap_err();
        assert!(refused("sock", false)(e));
    }

    #[test]
    fn more_than_the_staged_size_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a.bin"), vec![0u8; 600 << 10]).unwrap();
        std::fs::write(dir.path().join("sub/b.bin"), vec![0u8; 600 << 10]).unwrap();
        assert!(verify(&staged(dir.path()), 2 << 20).is_ok());
        let e = verify(&staged(dir.path()), 1 << 20).unwrap_err();
        assert!(
            e.to_string()
                .contains("more than 1 MiB of files in its capabilities (limits.capability_mib)"),
            "{e}"
        );
        assert!(matches!(e, CapabilityError::TooLarge { max_mib: 1 }));
    }

    #[cfg(unix)]
    #[test]
    fn a_granted_directory_holding_a_link_is_not_staged() {
        let target = tempfile::tempdir().unwrap();
        std::fs::write(target.path().join("a.ini"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", target.path().join("etc")).unwrap();
        let staging = tempfile::tempdir().unwrap();
        let e = copy_dir(target.path(), &staging.path().join("copy")).unwrap_err();
        assert!(
            e.to_string().contains("not a regular file or directory"),
            "{e}"
        );
    }

    #[test]
    fn sync_replaces_adds_and_removes() {
        let staging = tempfile::tempdir().unwrap();
        let target = tempfile::tempdir().unwrap();
        std::fs::write(target.path().join("keep.ini"), "same").unwrap();
        std::fs::write(target.path().join("change.ini"), "old").unwrap();
        std::fs::write(target.path().join("gone.ini"), "x").unwrap();
        copy_dir(target.path(), staging.path()).unwrap();
        std::fs::write(staging.path().join("change.ini"), "new").unwrap();
        std::fs::write(staging.path().join("added.ini"), "+").unwrap();
        std::fs::remove_file(staging.path().join("gone.ini")).unwrap();
        sync(staging.path(), target.path()).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(target.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["added.ini", "change.ini", "keep.ini"]);
        assert_eq!(
            std::fs::read_to_string(target.path().join("change.ini")).unwrap(),
            "new"
        );
    }
}
