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
pub fn check(database: &str, grants: &Grants, info: &MigrationInfo) -> Result<(), String> {
    for name in &info.capabilities {
        match grants.get(name) {
            None => {
                return Err(format!(
                    "{} needs the directory capability `{name}`, which the project does not grant: \
                     add `{name} = \"<directory>\"` under [databases.{}.capabilities] in retort.toml",
                    info.id, database
                ));
            }
            Some(dir) if !dir.is_dir() => {
                return Err(format!(
                    "{} needs the directory capability `{name}`, mapped to {}, which is not a directory",
                    info.id,
                    dir.display()
                ));
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
pub fn verify(staged: &[Staged], max_bytes: u64) -> Result<(), String> {
    let mut total = 0u64;
    staged
        .iter()
        .try_for_each(|s| walk(&s.staging, &s.name, &mut total, max_bytes))
}

fn walk(dir: &Path, name: &str, total: &mut u64, max_bytes: u64) -> Result<(), String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read the staged `{name}` ({}): {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let meta = std::fs::symlink_metadata(&path).map_err(|e| e.to_string())?;
        let shown = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        if meta.is_dir() {
            walk(&path, name, total, max_bytes)?;
        } else if !meta.is_file() {
            return Err(format!(
                "the migration left `{shown}` in capability `{name}`, which is not a regular \
                     file or directory (a symbolic link or a special file): refused"
            ));
        } else if links(&meta) > 1 {
            return Err(format!(
                "the migration left `{shown}` in capability `{name}` as a hard link: refused"
            ));
        }
        *total = total.saturating_add(meta.len());
        if *total > max_bytes {
            return Err(format!(
                "the migration left more than {} MiB of files in its capabilities \
                     (limits.capability_mib): refused",
                max_bytes >> 20
            ));
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
pub fn stage(database: &str, grants: &Grants, info: &MigrationInfo) -> Result<Vec<Staged>, String> {
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
            return Err(format!(
                "cannot stage capability `{name}` ({}): {e}",
                target.display()
            ));
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

/// Publishes the staged copies (after the database commit) and removes them.
pub fn publish(staged: Vec<Staged>) -> Result<(), String> {
    for s in &staged {
        sync(&s.staging, &s.target).map_err(|e| {
            format!(
                "cannot publish the changes to capability `{}` ({}): {e}",
                s.name,
                s.target.display()
            )
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
        assert_eq!(verify(&staged(dir.path()), u64::MAX), Ok(()));

        std::os::unix::fs::symlink("../../../../etc/passwd", dir.path().join("sub/leak")).unwrap();
        let e = verify(&staged(dir.path()), u64::MAX).unwrap_err();
        assert!(e.contains("`leak`") && e.contains("symbolic link"), "{e}");
        std::fs::remove_file(dir.path().join("sub/leak")).unwrap();

        std::fs::hard_link(dir.path().join("sub/ok.ini"), dir.path().join("twin.ini")).unwrap();
        let e = verify(&staged(dir.path()), u64::MAX).unwrap_err();
        assert!(e.contains("hard link"), "{e}");
        std::fs::remove_file(dir.path().join("twin.ini")).unwrap();

        let _socket = std::os::unix::net::UnixListener::bind(dir.path().join("sock")).unwrap();
        let e = verify(&staged(dir.path()), u64::MAX).unwrap_err();
        assert!(e.contains("`sock`"), "{e}");
    }

    #[test]
    fn more_than_the_staged_size_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a.bin"), vec![0u8; 600 << 10]).unwrap();
        std::fs::write(dir.path().join("sub/b.bin"), vec![0u8; 600 << 10]).unwrap();
        assert_eq!(verify(&staged(dir.path()), 2 << 20), Ok(()));
        let e = verify(&staged(dir.path()), 1 << 20).unwrap_err();
        assert!(
            e.contains("more than 1 MiB of files in its capabilities (limits.capability_mib)"),
            "{e}"
        );
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
