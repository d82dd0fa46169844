//! Shipping migrations: `retort keygen`, `sign`, `verify` and `bundle`, printing around
//! [`retort::trust`].

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use retort::project::Project;
use retort::trust::signing::{self, Trust, Verdict};

/// Writes a new key pair; refuses to overwrite.
pub(super) fn keygen(out: &mut impl Write, path: &Path, comment: &str) -> anyhow::Result<()> {
    let public_path = PathBuf::from(format!("{}.pub", path.display()));
    for p in [path, public_path.as_path()] {
        if p.exists() {
            bail!("{} exists: not overwriting a key", p.display());
        }
    }
    let (private, public) = signing::generate(comment)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .and_then(|mut f| f.write_all(private.as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::write(&public_path, format!("{public}\n"))
        .with_context(|| format!("cannot write {}", public_path.display()))?;
    let key = signing::parse_public_keys(&public, "new key")?;
    writeln!(
        out,
        "wrote {} (private: keep it secret) and {} (public)",
        path.display(),
        public_path.display()
    )?;
    writeln!(out, "key id {}", signing::key_id(key[0].key.key_data()))?;
    writeln!(
        out,
        "trust it in retort.toml:\n  [trust]\n  keys = [\"{}\"]",
        public_path.display()
    )?;
    Ok(())
}

/// The artifacts a command acts on: those named, or every `*.wasm` of the selected
/// databases' directories, with the trust policy to apply.
fn targets(project: &Project, named: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, Trust, String)>> {
    if !named.is_empty() {
        let keys = project
            .databases
            .first()
            .map(|d| d.trust.keys.clone())
            .unwrap_or_default();
        let trust = Trust {
            keys,
            required: true,
        };
        return Ok(named
            .iter()
            .map(|p| (p.clone(), trust.clone(), "the named files".to_string()))
            .collect());
    }
    let mut all = Vec::new();
    for db in &project.databases {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&db.migrations) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "wasm") && p.is_file())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => bail!("cannot read {}: {e}", db.migrations.display()),
        };
        files.sort();
        all.extend(
            files
                .into_iter()
                .map(|p| (p, (*db.trust).clone(), db.name.clone())),
        );
    }
    Ok(all)
}

/// Signs artifacts in place (atomically: a new file renamed over the old one).
pub(super) fn sign(
    out: &mut impl Write,
    project: &Project,
    key: &Path,
    named: &[PathBuf],
) -> anyhow::Result<()> {
    let key = signing::read_private_key(key)?;
    let id = signing::key_id(key.public_key().key_data());
    let files = targets(project, named)?;
    if files.is_empty() {
        bail!("no artifacts to sign: run `retort build` first, or name the files");
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    for (path, _, _) in files {
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let signed = signing::sign_artifact(&bytes, &key)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let tmp = path.with_extension("wasm.signing");
        std::fs::write(&tmp, &signed)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .with_context(|| format!("cannot write {}", path.display()))?;
        writeln!(
            out,
            "signed {}  sha256 {}  by {id}",
            path.strip_prefix(&cwd).unwrap_or(&path).display(),
            &signing::digest(&signed)[..16]
        )?;
    }
    Ok(())
}

/// Checks artifacts; fails if any would be refused.
pub(super) fn verify(
    out: &mut impl Write,
    project: &Project,
    named: &[PathBuf],
) -> anyhow::Result<()> {
    let files = targets(project, named)?;
    if files.is_empty() {
        bail!("no artifacts to verify");
    }
    let mut refused = 0;
    let cwd = std::env::current_dir().unwrap_or_default();
    for (path, trust, database) in &files {
        let shown = path.strip_prefix(&cwd).unwrap_or(path).display();
        let result = std::fs::read(path)
            .map_err(|e| format!("cannot read it: {e}"))
            .and_then(|bytes| {
                let split = signing::split(&bytes)?;
                let verdict = signing::verify_artifact(&split, trust).map_err(|e| e.to_string())?;
                trust
                    .admit(&split, database)
                    .map(|_| verdict)
                    .map_err(|e| e.to_string())
            });
        match result {
            Ok(Verdict::Signed {
                key_id,
                trusted: Some(name),
            }) => writeln!(
                out,
                "ok       {shown}  signed by {key_id} (trusted: {name})"
            )?,
            Ok(Verdict::Signed { key_id, .. }) => writeln!(
                out,
                "ok       {shown}  signed by {key_id}, an untrusted key (`{database}` does not require signatures)"
            )?,
            Ok(Verdict::Unsigned) => writeln!(
                out,
                "ok       {shown}  unsigned (`{database}` does not require signatures)"
            )?,
            Err(reason) => {
                refused += 1;
                writeln!(out, "REFUSED  {shown}: {reason}")?;
            }
        }
    }
    if refused > 0 {
        bail!("{refused} of {} artifact(s) would be refused", files.len());
    }
    Ok(())
}

/// `retort bundle -o FILE [--key KEY]`.
pub(super) async fn bundle(
    ctx: &super::Ctx,
    out: &mut impl Write,
    output: PathBuf,
    key: Option<PathBuf>,
) -> anyhow::Result<()> {
    let [db] = ctx.project.databases.as_slice() else {
        bail!("a bundle holds one database's migrations: choose one with -d NAME");
    };
    let key = key
        .map(|k| retort::trust::signing::read_private_key(&k))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let runner = ctx.runner()?;
    let migrations = runner.load(db).await?;
    let ordered: Vec<_> = migrations
        .graph
        .order()
        .iter()
        .filter_map(|id| migrations.get(id))
        .map(|a| (a.bundle_entry(), a.bytes.as_slice()))
        .collect();
    // Each shared runtime once; the SQL runtime ships in every Retort.
    let mut runtimes: Vec<(String, &[u8])> = Vec::new();
    for a in &migrations.artifacts {
        if let (Some(runtime), Some(bytes)) = (a.prepared.runtime(), a.prepared.runtime_bytes())
            && runtime.language != retort::host::runtime::SQL
        {
            let file = retort::host::runtime::file_name(runtime);
            if !runtimes.iter().any(|(f, _)| *f == file) {
                runtimes.push((file, bytes));
            }
        }
    }
    let manifest =
        retort::trust::bundle::write(&output, &db.name, &ordered, &runtimes, key.as_ref())?;
    writeln!(
        out,
        "{}: bundled {} migration(s) into {}{}",
        db.name,
        manifest.migrations.len(),
        output.display(),
        match &key {
            Some(k) => format!(
                ", signed by {}",
                retort::trust::signing::key_id(k.public_key().key_data())
            ),
            None => " (unsigned: pass --key to sign it)".into(),
        }
    )?;
    for m in &manifest.migrations {
        writeln!(
            out,
            "  {}  sha256 {}  {}",
            m.id,
            &m.digest[..16],
            m.description
        )?;
    }
    Ok(())
}
