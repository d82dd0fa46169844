//! `retort build`: compile every migration crate of a directory to a component.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::authoring::BuildError;
use crate::authoring::error::io;

use crate::core::observe::{Event, Observer};
use crate::host::runtime::RuntimeRef;

/// The target migrations are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// The custom section in which `retort build` records the fingerprint of the sources an
/// artifact was built from.
pub const SOURCE_SECTION: &str = "retort-source";

/// SHA-256 over a migration crate's files (relative path and content, sorted; `target/` and
/// hidden entries skipped): what the artifact was built from.
pub fn source_fingerprint(crate_dir: &Path) -> crate::authoring::Result<String> {
    fn walk(dir: &Path, base: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if name
                .as_deref()
                .is_some_and(|n| n.starts_with('.') || n == "target")
            {
                continue;
            }
            if path.is_dir() {
                walk(&path, base, files)?;
            } else {
                files.push(path.strip_prefix(base).unwrap_or(&path).to_path_buf());
            }
        }
        Ok(())
    }
    use sha2::{Digest, Sha256};
    let mut files = Vec::new();
    walk(crate_dir, crate_dir, &mut files).map_err(io("read", &crate_dir))?;
    files.sort();
    let mut hash = Sha256::new();
    for f in files {
        let bytes = std::fs::read(crate_dir.join(&f)).map_err(io("read", crate_dir.join(&f)))?;
        // Separators `/` on every platform, lengths to keep the encoding unambiguous.
        let name = f.to_string_lossy().replace('\\', "/");
        hash.update((name.len() as u64).to_le_bytes());
        hash.update(name.as_bytes());
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(&bytes);
    }
    Ok(crate::trust::signing::hex(&hash.finalize()))
}

/// Whether the artifact beside `crate_dir` was built from the crate's current sources.
fn up_to_date(crate_dir: &Path, fingerprint: &str) -> bool {
    let artifact = PathBuf::from(format!("{}.wasm", crate_dir.display()));
    std::fs::read(artifact).is_ok_and(|bytes| {
        crate::trust::signing::custom_section(&bytes, SOURCE_SECTION)
            == Some(fingerprint.as_bytes())
    })
}

/// A plain SQL migration: `<id>_<slug>.up.sql` and, optionally, `<id>_<slug>.down.sql`.
///
/// Its metadata is a header of `-- retort: key = value` lines at the top of the up file:
/// `parents` (space- or comma-separated ids; none makes a root), `description` (default: the
/// slug), `transaction` (`true` by default; `false` for statements such as
/// `CREATE INDEX CONCURRENTLY`), `labels` (branch labels), `depends-on` (revisions it needs
/// besides its parents), `allow` (lint rules acknowledged for the whole migration), `keep`
/// (objects whose definitions the upgrade keeps for the downgrade to restore).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlMigration {
    /// `<id>_<slug>`: the artifact is `<stem>.wasm`.
    pub stem: String,
    /// The revision id.
    pub id: String,
    /// Its parents.
    pub parents: Vec<String>,
    /// Its description.
    pub description: String,
    /// Whether it runs in a transaction.
    pub transactional: bool,
    /// Its branch labels.
    pub labels: Vec<String>,
    /// Revisions it depends on besides its parents (`depends-on`).
    pub depends_on: Vec<String>,
    /// The upgrade script.
    pub up: String,
    /// The downgrade script (empty when there is no down file: a no-op).
    pub down: String,
    /// Scripts for one dialect (`<stem>.<dialect>.up.sql` / `.down.sql`), which win over the
    /// generic ones there: dialect name → (up, down), an absent file keeping the generic one.
    pub variants: std::collections::BTreeMap<String, (Option<String>, Option<String>)>,
    /// `-- retort: dialect = NAME`: the migration runs only there; elsewhere it is a recorded
    /// no-op (so one history serves every engine).
    pub only: Option<String>,
    /// `-- retort: allow = RULE …`: lint rules acknowledged for the whole migration.
    pub allow: std::collections::BTreeSet<crate::core::lint::Rule>,
    /// `-- retort: keep = view:report, function:price`: objects the upgrade replaces, whose
    /// definitions it keeps first and its downgrade restores last (the SQL runtime 0.3.0).
    pub keep: Option<String>,
}

/// The dialects a SQL migration's file names and `dialect` header may name.
pub const SQL_DIALECTS: [&str; 3] = ["postgres", "mysql", "sqlite"];

/// Whether `script` is wrapped in a `BEGIN;` … `COMMIT;` pair that running it drops
/// ([`retort_sql::unwrap_transaction`]), under any dialect's lexical rules.
pub fn wrapped_in_transaction(script: &str) -> bool {
    use retort_sql::Dialect;
    [Dialect::Postgres, Dialect::Mysql, Dialect::Sqlite]
        .into_iter()
        .any(|d| {
            retort_sql::split(script, d)
                .is_ok_and(|statements| retort_sql::unwrap_transaction(statements, d).1)
        })
}

/// Part of a SQL migration's fingerprint. It names the generated crates SQL migrations were
/// once compiled to; it stays as it was so that their artifacts, already applied somewhere,
/// are kept byte for byte (and so keep their digests) while their scripts do not change.
const SQL_GENERATOR: &str = "retort-sql/1";

/// A header value listing revisions or labels: space- or comma-separated, `none` for none.
fn list(value: &str) -> Vec<String> {
    value
        .split([' ', ','])
        .filter(|p| !p.is_empty() && *p != "none")
        .map(str::to_string)
        .collect()
}

/// Parses an SQL migration's header.
pub fn parse_sql(
    stem: &str,
    up: &str,
    down: &str,
    shown: &str,
) -> crate::authoring::Result<SqlMigration> {
    let (id, slug) = stem.split_once('_').unwrap_or((stem, ""));
    let mut m = SqlMigration {
        stem: stem.to_string(),
        id: id.to_string(),
        parents: Vec::new(),
        description: slug.replace('_', " "),
        transactional: true,
        labels: Vec::new(),
        depends_on: Vec::new(),
        up: up.to_string(),
        down: down.to_string(),
        variants: Default::default(),
        only: None,
        allow: Default::default(),
        keep: None,
    };
    for (n, line) in up.lines().enumerate() {
        // A header line that is not what it should be: the file and line, and why.
        let bad = |message: String| BuildError::Invalid {
            file: format!("{shown}, line {}", n + 1),
            message,
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some(rest) = line.strip_prefix("--") else {
            break;
        };
        let Some(entry) = rest.trim_start().strip_prefix("retort:") else {
            continue;
        };
        let Some((key, value)) = entry.split_once('=') else {
            return Err(bad("expected `-- retort: key = value`".into()));
        };
        let value = value.trim();
        match key.trim() {
            "parents" => m.parents = list(value),
            "description" => m.description = value.to_string(),
            "dialect" => {
                if !SQL_DIALECTS.contains(&value) {
                    return Err(bad(format!(
                        "dialect must be one of {}, not `{value}`",
                        SQL_DIALECTS.join(", ")
                    )));
                }
                m.only = Some(value.to_string());
            }
            "labels" => m.labels = list(value),
            "allow" => {
                m.allow =
                    crate::core::lint::allowed_in_header(value).map_err(|e| bad(e.to_string()))?;
            }
            "depends-on" | "depends_on" => m.depends_on = list(value),
            "keep" => {
                for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                    let kind = item.split_once(':').map(|(k, _)| k.trim());
                    let name = item.split_once(':').map(|(_, n)| n.trim()).unwrap_or("");
                    if !matches!(kind, Some("view" | "function" | "procedure" | "trigger"))
                        || name.is_empty()
                    {
                        return Err(bad(format!(
                            "keep lists `KIND:NAME` items (KIND one of view, \
                             function, procedure, trigger), not `{item}`"
                        )));
                    }
                }
                m.keep = Some(value.to_string());
            }
            "transaction" => {
                m.transactional = match value {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(bad(format!(
                            "transaction must be true or false, not `{other}`"
                        )));
                    }
                }
            }
            other => {
                return Err(bad(format!(
                    "unknown key `{other}` (parents, description, transaction, labels, depends-on, dialect, allow, keep)"
                )));
            }
        }
    }
    Ok(m)
}

/// The SQL migrations of `dir`, sorted.
pub fn sql_migrations(dir: &Path) -> crate::authoring::Result<Vec<SqlMigration>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).map_err(io("read", &dir)),
    };
    let mut variants = Vec::new();
    for entry in entries {
        let path = entry.map_err(io("read", dir))?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let Some(stem) = name.as_deref().and_then(|n| n.strip_suffix(".up.sql")) else {
            if let Some(v) = name.as_deref().and_then(|n| n.strip_suffix(".down.sql"))
                && let Some((base, dialect)) = dialect_variant(v)
            {
                variants.push((base.to_string(), dialect, false, path.clone()));
            }
            continue;
        };
        if let Some((base, dialect)) = dialect_variant(stem) {
            variants.push((base.to_string(), dialect, true, path.clone()));
            continue;
        }
        let up = std::fs::read_to_string(&path).map_err(io("read", &path))?;
        let down_path = dir.join(format!("{stem}.down.sql"));
        let down = match std::fs::read_to_string(&down_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(e).map_err(io("read", &down_path));
            }
        };
        out.push(parse_sql(stem, &up, &down, &path.display().to_string())?);
    }
    for (base, dialect, is_up, path) in variants {
        let Some(m) = out.iter_mut().find(|m| m.stem == base) else {
            return Err(BuildError::Refused(format!(
                "{}: a {dialect} script needs the generic {base}.up.sql beside it (it holds the \
                 migration's header; mark it `-- retort: dialect = {dialect}` if the migration is \
                 for {dialect} only)",
                path.display()
            )));
        };
        let text = std::fs::read_to_string(&path).map_err(io("read", &path))?;
        let entry = m.variants.entry(dialect.to_string()).or_default();
        if is_up {
            entry.0 = Some(text);
        } else {
            entry.1 = Some(text);
        }
    }
    out.sort_by(|a, b| a.stem.cmp(&b.stem));
    Ok(out)
}

/// `<stem>.<dialect>` → (stem, dialect) for a dialect-specific script's name.
fn dialect_variant(name: &str) -> Option<(&str, &'static str)> {
    let (base, suffix) = name.rsplit_once('.')?;
    SQL_DIALECTS
        .iter()
        .find(|d| **d == suffix)
        .map(|d| (base, *d))
}

impl SqlMigration {
    fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        let mut parts: Vec<&str> = vec![SQL_GENERATOR, &self.up, &self.down];
        // Only what a migration has: one without variants keeps the fingerprint it always had.
        for (dialect, (up, down)) in &self.variants {
            parts.extend([
                dialect.as_str(),
                up.as_deref().unwrap_or("-"),
                down.as_deref().unwrap_or("-"),
            ]);
        }
        if let Some(only) = &self.only {
            parts.extend(["only", only.as_str()]);
        }
        if let Some(keep) = &self.keep {
            parts.extend(["keep", keep.as_str()]);
        }
        for part in parts {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
        }
        crate::trust::signing::hex(&hash.finalize())
    }

    /// The migration as a script artifact on the SQL runtime this binary ships: its
    /// header's metadata, its scripts (`up.sql`, `down.sql`, `up.<dialect>.sql`, …) and its
    /// `dialect` setting.
    pub fn script(&self) -> crate::host::runtime::Script {
        use crate::host::runtime::{FORMAT, File, Metadata, Script, sql_runtime};
        let mut files = vec![
            File {
                name: "up.sql".into(),
                contents: self.up.clone(),
            },
            File {
                name: "down.sql".into(),
                contents: self.down.clone(),
            },
        ];
        for (dialect, (up, down)) in &self.variants {
            for (kind, text) in [("up", up), ("down", down)] {
                if let Some(text) = text {
                    files.push(File {
                        name: format!("{kind}.{dialect}.sql"),
                        contents: text.clone(),
                    });
                }
            }
        }
        Script {
            format: FORMAT,
            runtime: sql_runtime(),
            metadata: Some(Metadata {
                id: self.id.clone(),
                parents: self.parents.clone(),
                description: self.description.clone(),
                transactional: self.transactional,
                branch_labels: self.labels.clone(),
                depends_on: self.depends_on.clone(),
            }),
            files,
            settings: self
                .only
                .iter()
                .map(|d| ("dialect".to_string(), d.clone()))
                .chain(self.keep.iter().map(|k| ("keep".to_string(), k.clone())))
                .collect(),
        }
    }
}

/// The WIT package every migration targets, embedded so that `retort build` needs no
/// checkout of this repository to build Python or JavaScript migrations.
pub const WIT: &str = include_str!("../../../wit/0.1.0/migration.wit");
/// The Python helper layer (`retort_guest.py`), embedded for the same reason.
pub const PYTHON_HELPER: &str = include_str!("../../../guest-sdk/python/retort_guest.py");
/// Retort's Alembic layer (`guest-sdk/python/alembic_layer/`): the files an imported Alembic
/// revision (a Python migration that imports `retort_alembic`) carries in its artifact, so
/// that its `from alembic import op` and `import sqlalchemy as sa` resolve to Retort's
/// operations, and a downgrade runs the layer it was applied with.
pub const ALEMBIC_LAYER: [(&str, &str); 10] = [
    (
        "retort_alembic.py",
        include_str!("../../../guest-sdk/python/alembic_layer/retort_alembic.py"),
    ),
    (
        "alembic.py",
        include_str!("../../../guest-sdk/python/alembic_layer/alembic.py"),
    ),
    (
        "sqlalchemy.py",
        include_str!("../../../guest-sdk/python/alembic_layer/sqlalchemy.py"),
    ),
    (
        "sqlalchemy/sql.py",
        include_str!("../../../guest-sdk/python/alembic_layer/sqlalchemy/sql.py"),
    ),
    (
        "sqlalchemy/engine.py",
        include_str!("../../../guest-sdk/python/alembic_layer/sqlalchemy/engine.py"),
    ),
    (
        "sqlalchemy/engine/reflection.py",
        include_str!("../../../guest-sdk/python/alembic_layer/sqlalchemy/engine/reflection.py"),
    ),
    (
        "sqlalchemy/dialects.py",
        include_str!("../../../guest-sdk/python/alembic_layer/sqlalchemy/dialects.py"),
    ),
    (
        "sqlalchemy/dialects/mysql.py",
        include_str!("../../../guest-sdk/python/alembic_layer/sqlalchemy/dialects/mysql.py"),
    ),
    (
        "sqlalchemy/dialects/postgresql.py",
        include_str!("../../../guest-sdk/python/alembic_layer/sqlalchemy/dialects/postgresql.py"),
    ),
    (
        "sqlalchemy/dialects/sqlite.py",
        include_str!("../../../guest-sdk/python/alembic_layer/sqlalchemy/dialects/sqlite.py"),
    ),
];

/// Whether a Python migration's source uses the Alembic layer.
pub(crate) fn uses_alembic_layer(language: Language, source: &str) -> bool {
    language == Language::Python
        && source
            .lines()
            .any(|l| l.trim_start().starts_with("import retort_alembic"))
}

/// The JavaScript helper layer (`retort_guest.js`).
pub const JS_HELPER: &str = include_str!("../../../guest-sdk/js/retort_guest.js");

/// A migration written in Python (`<id>_<slug>.py`) or JavaScript (`<id>_<slug>.js`): a
/// script artifact on the language's shared runtime ([`crate::authoring::runtimes`]).
#[derive(Clone, Debug)]
pub struct ScriptGuest {
    /// `<id>_<slug>`.
    pub stem: String,
    /// The source file.
    pub source: PathBuf,
    /// The language.
    pub language: Language,
}

/// A guest language other than Rust and SQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// Python, whose runtime is built with componentize-py.
    Python,
    /// JavaScript, whose runtime is built with componentize-js.
    JavaScript,
}

impl Language {
    fn extension(self) -> &'static str {
        match self {
            Language::Python => "py",
            Language::JavaScript => "js",
        }
    }

    /// The helper layer: its module file name and source.
    pub(super) fn helper(self) -> (&'static str, &'static str) {
        match self {
            Language::Python => ("retort_guest.py", PYTHON_HELPER),
            Language::JavaScript => ("retort_guest.js", JS_HELPER),
        }
    }

    /// The tool and version the runtime is built with.
    pub(super) fn pinned_tool(self) -> &'static str {
        match self {
            Language::Python => "componentize-py 0.25.1",
            Language::JavaScript => "componentize-js 0.19.3",
        }
    }

    /// The tool as a command line, and the version it reports.
    pub(super) fn tool(self) -> crate::authoring::Result<(Vec<std::ffi::OsString>, String)> {
        let (var, default, install) = match self {
            Language::Python => (
                "RETORT_COMPONENTIZE_PY",
                "componentize-py",
                "`pip install componentize-py==0.25.1`",
            ),
            Language::JavaScript => (
                "RETORT_COMPONENTIZE_JS",
                "componentize-js",
                "`npm install @bytecodealliance/componentize-js@0.19.3` (then set RETORT_COMPONENTIZE_JS to its src/cli.js)",
            ),
        };
        let tool = std::env::var_os(var).unwrap_or_else(|| default.into());
        // A `.js` entry point runs under node.
        let command: Vec<std::ffi::OsString> = if tool.to_string_lossy().ends_with(".js") {
            vec!["node".into(), tool.clone()]
        } else {
            vec![tool.clone()]
        };
        let version = Command::new(&command[0])
            .args(&command[1..])
            .arg("--version")
            .output()
            .map_err(|e| BuildError::Tool {
                message: format!(
                    "the shared {} runtime is built with {default}, which could not be run \
                     ({}: {e}); install it with {install}, or set {var} (needed once per \
                     machine, and only while the project's runtimes/ has no runtime built \
                     from this Retort's sources)",
                    self.name(),
                    tool.to_string_lossy()
                ),
                source: None,
            })?;
        let reported = String::from_utf8_lossy(&version.stdout).trim().to_string();
        Ok((command, format!("{default} {reported}")))
    }

    /// "Python" or "JavaScript".
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "Python",
            Language::JavaScript => "JavaScript",
        }
    }
}

/// Whether a Python file whose name does not start with a digit is a migration all the same:
/// it exports one (`WitWorld = …` at the start of a line; an Alembic revision's id may start
/// with a letter), where a helper module the migrations share does not.
fn exports_a_migration(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .is_ok_and(|text| text.lines().any(|l| l.starts_with("WitWorld =")))
}

/// The `<id>_<slug>.py` and `<id>_<slug>.js` migrations of `dir` (an id starting with a letter
/// when the file exports a migration), sorted.
pub fn script_guests(dir: &Path) -> crate::authoring::Result<Vec<ScriptGuest>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for entry in entries {
        let path = entry.map_err(io("read", dir))?.path();
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        for language in [Language::Python, Language::JavaScript] {
            if let Some(stem) = name.strip_suffix(&format!(".{}", language.extension()))
                && path.is_file()
                && (stem.starts_with(|c: char| c.is_ascii_digit())
                    || (language == Language::Python && exports_a_migration(&path)))
            {
                out.push(ScriptGuest {
                    stem: stem.to_string(),
                    source: path.clone(),
                    language,
                });
            }
        }
    }
    out.sort_by(|a, b| a.stem.cmp(&b.stem));
    Ok(out)
}

impl ScriptGuest {
    /// SHA-256 over the runtime's source fingerprint and the migration's source: what its
    /// artifact is built from (the runtime's bytes differ per machine; its sources do not).
    fn fingerprint(&self) -> crate::authoring::Result<String> {
        self.fingerprint_on(&crate::authoring::runtimes::source_fingerprint(
            self.language,
        ))
    }

    /// [`Self::fingerprint`] as it is on a runtime built from sources fingerprinted `runtime`.
    fn fingerprint_on(&self, runtime: &str) -> crate::authoring::Result<String> {
        use sha2::{Digest, Sha256};
        let source = std::fs::read(&self.source).map_err(io("read", &self.source))?;
        let mut hash = Sha256::new();
        let mut parts: Vec<&[u8]> = vec![runtime.as_bytes(), &source];
        // Only a migration that uses the layer: the others keep the fingerprint they had.
        if uses_alembic_layer(self.language, &String::from_utf8_lossy(&source)) {
            for (name, text) in &ALEMBIC_LAYER {
                parts.extend([name.as_bytes(), text.as_bytes()]);
            }
        }
        for part in parts {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part);
        }
        Ok(crate::trust::signing::hex(&hash.finalize()))
    }

    /// The migration as a script artifact on `runtime`: its source as `migration.py` (or
    /// `.js`), the file name its tracebacks show, and no metadata (its code says it).
    fn script(
        &self,
        runtime: RuntimeRef,
    ) -> crate::authoring::Result<crate::host::runtime::Script> {
        use crate::host::runtime::{FORMAT, File, Script};
        let contents =
            std::fs::read_to_string(&self.source).map_err(io("read (as UTF-8)", &self.source))?;
        let mut files = Vec::new();
        if uses_alembic_layer(self.language, &contents) {
            files.extend(ALEMBIC_LAYER.iter().map(|(name, text)| File {
                name: name.to_string(),
                contents: text.to_string(),
            }));
        }
        files.insert(
            0,
            File {
                name: format!("migration.{}", self.language.extension()),
                contents,
            },
        );
        Ok(Script {
            format: FORMAT,
            runtime,
            metadata: None,
            files,
            settings: vec![(
                "source".to_string(),
                format!("{}.{}", self.stem, self.language.extension()),
            )],
        })
    }

    /// Whether its artifact is what building it gives: pinned to its source, on a runtime the
    /// directory holds — this binary's runtime, or the earlier one the artifact was built on
    /// (an artifact is never rebuilt only because a newer Retort's runtime exists: that would
    /// change an applied migration's digest; `--force` moves it). An artifact that is a
    /// program of its own (built before shared runtimes) is kept as it is, for the same reason.
    /// `earlier` remembers each runtime's recorded source fingerprint across calls.
    fn up_to_date(
        &self,
        dir: &Path,
        earlier: &mut EarlierRuntimes,
    ) -> crate::authoring::Result<bool> {
        let stem_path = dir.join(&self.stem);
        let Ok(bytes) = std::fs::read(format!("{}.wasm", stem_path.display())) else {
            return Ok(false);
        };
        let script = match crate::host::runtime::Script::decode(&bytes) {
            None => return Ok(true),
            Some(Err(_)) => return Ok(false),
            Some(Ok(script)) => script,
        };
        let runtime = dir
            .join(crate::host::runtime::RUNTIMES_DIR)
            .join(crate::host::runtime::file_name(&script.runtime));
        if !runtime.is_file() {
            return Ok(false);
        }
        let Some(recorded) = crate::trust::signing::custom_section(&bytes, SOURCE_SECTION) else {
            return Ok(false);
        };
        if recorded == self.fingerprint()?.as_bytes() {
            return Ok(true);
        }
        Ok(match earlier.source_of(&runtime) {
            Some(runtime_source) => recorded == self.fingerprint_on(runtime_source)?.as_bytes(),
            None => false,
        })
    }
}

/// The source fingerprints recorded in runtimes a project holds (read once per file: a
/// Python runtime is ~20 MB).
#[derive(Default)]
struct EarlierRuntimes(std::collections::HashMap<PathBuf, Option<String>>);

impl EarlierRuntimes {
    fn source_of(&mut self, runtime: &Path) -> Option<&str> {
        self.0
            .entry(runtime.to_path_buf())
            .or_insert_with(|| {
                let bytes = std::fs::read(runtime).ok()?;
                let recorded = crate::trust::signing::custom_section(&bytes, SOURCE_SECTION)?;
                String::from_utf8(recorded.to_vec()).ok()
            })
            .as_deref()
    }
}

/// One built artifact.
#[derive(Debug)]
pub struct Built {
    /// The crate directory.
    pub crate_dir: PathBuf,
    /// The artifact written beside it.
    pub artifact: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256.
    pub digest: String,
    /// False when the artifact already matched its sources and was kept as it was.
    pub rebuilt: bool,
}

/// Makes sure the wasm target is installed, installing it with rustup if needed.
pub fn ensure_target(observer: Option<&dyn Observer>) -> crate::authoring::Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match installed {
        Ok(out)
            if String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.trim() == TARGET) =>
        {
            Ok(())
        }
        Ok(_) => {
            if let Some(observer) = observer {
                observer.event(&Event::Note {
                    message: &format!(
                        "installing the {TARGET} target (rustup target add {TARGET})"
                    ),
                });
            }
            let status = Command::new("rustup")
                .args(["target", "add", TARGET])
                .status()
                .map_err(|e| BuildError::Tool {
                    message: "cannot run rustup".into(),
                    source: Some(e),
                })?;
            if !status.success() {
                return Err(BuildError::Tool {
                    message: format!("`rustup target add {TARGET}` failed"),
                    source: None,
                });
            }
            Ok(())
        }
        // Without rustup, trust that the toolchain has the target; cargo will say if not.
        Err(_) => Ok(()),
    }
}

/// The migration crates of `dir`: subdirectories with a `Cargo.toml`, sorted.
pub fn crates(dir: &Path) -> crate::authoring::Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io("read", &dir))? {
        let entry = entry.map_err(io("read", &dir))?;
        // The entry's own type (no stat per file: a directory of thousands of SQL files is
        // listed on every run); a symbolic link is followed.
        let is_dir = match entry.file_type() {
            Ok(t) if t.is_symlink() => entry.path().is_dir(),
            Ok(t) => t.is_dir(),
            Err(_) => entry.path().is_dir(),
        };
        if !is_dir {
            continue;
        }
        let path = entry.path();
        let manifest = path.join("Cargo.toml");
        if manifest.is_file() {
            let text = std::fs::read_to_string(&manifest).map_err(io("read", &manifest))?;
            let invalid = |message: String| BuildError::Invalid {
                file: manifest.display().to_string(),
                message,
            };
            let doc: toml::Table =
                toml::from_str(&text).map_err(|e| invalid(format!("not valid TOML: {e}")))?;
            let name = doc
                .get("package")
                .and_then(|p| p.get("name"))
                .and_then(|n| n.as_str())
                .ok_or_else(|| invalid("has no [package] name".into()))?;
            out.push((path, name.replace('-', "_")));
        }
    }
    out.sort();
    Ok(out)
}

/// The migrations of `dir` that have sources but no artifact yet (`retort build` has not run
/// since they were written), so their ids are unknown: Rust crates, SQL pairs and scripts.
pub fn unbuilt(dir: &Path) -> crate::authoring::Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    Ok(Sources::list(dir)?.unbuilt(dir))
}

/// The migration sources of a directory, listed (and SQL scripts read) once.
struct Sources {
    crates: Vec<(PathBuf, String)>,
    sql: Vec<SqlMigration>,
    scripts: Vec<ScriptGuest>,
}

impl Sources {
    fn list(dir: &Path) -> crate::authoring::Result<Sources> {
        Ok(Sources {
            crates: crates(dir)?,
            sql: sql_migrations(dir)?,
            scripts: script_guests(dir)?,
        })
    }

    /// See [`stale`]. `read`: the SQL migrations' artifacts as read already, in the order of
    /// `self.sql` (an entry missing or `None` is read here).
    fn stale(
        self,
        dir: &Path,
        read: &[Option<Vec<u8>>],
    ) -> crate::authoring::Result<Vec<(PathBuf, Staleness)>> {
        let mut out: Vec<(PathBuf, Staleness)> = self
            .unbuilt(dir)
            .into_iter()
            .map(|p| (p, Staleness::Unbuilt))
            .collect();
        let mut built: Vec<(PathBuf, String, Option<&[u8]>)> = Vec::new();
        for (crate_dir, _) in &self.crates {
            let fingerprint = source_fingerprint(crate_dir)?;
            built.push((crate_dir.clone(), fingerprint, None));
        }
        for (i, m) in self.sql.iter().enumerate() {
            let bytes = read.get(i).and_then(Option::as_deref);
            built.push((dir.join(&m.stem), m.fingerprint(), bytes));
        }
        let mut earlier = EarlierRuntimes::default();
        for guest in &self.scripts {
            let stem = dir.join(&guest.stem);
            if !guest.up_to_date(dir, &mut earlier)?
                && PathBuf::from(format!("{}.wasm", stem.display())).is_file()
            {
                out.push((stem, Staleness::Changed));
            }
        }
        for (stem, fingerprint, bytes) in built {
            let read_here;
            let bytes = match bytes {
                Some(bytes) => bytes,
                None => match std::fs::read(format!("{}.wasm", stem.display())) {
                    Ok(bytes) => {
                        read_here = bytes;
                        &read_here[..]
                    }
                    Err(_) => continue, // unbuilt, listed above
                },
            };
            let recorded = crate::trust::signing::custom_section(bytes, SOURCE_SECTION);
            if recorded.is_some_and(|r| r != fingerprint.as_bytes()) {
                out.push((stem, Staleness::Changed));
            }
        }
        out.sort();
        Ok(out)
    }

    /// See [`unbuilt`].
    fn unbuilt(&self, dir: &Path) -> Vec<PathBuf> {
        self.crates
            .iter()
            .map(|(crate_dir, _)| crate_dir.clone())
            .chain(self.sql.iter().map(|m| dir.join(&m.stem)))
            .chain(self.scripts.iter().map(|g| dir.join(&g.stem)))
            .filter(|stem| !PathBuf::from(format!("{}.wasm", stem.display())).is_file())
            .collect()
    }
}

/// Why a migration's artifact is not what its sources would build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Staleness {
    /// It has sources and no artifact.
    Unbuilt,
    /// Its artifact records a fingerprint of other sources: they changed since the build.
    Changed,
}

impl std::fmt::Display for Staleness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Staleness::Unbuilt => "has no artifact",
            Staleness::Changed => "changed since its artifact was built",
        })
    }
}

/// The migrations of `dir` whose artifact would not be what their sources build: unbuilt
/// ones ([`unbuilt`]), and migrations whose artifact records another source fingerprint (a
/// Python or JavaScript one also when the project lacks the runtime it names). An artifact
/// without a fingerprint, built before Retort recorded one, is taken as it is; so is a Python
/// or JavaScript program built before shared runtimes (`retort build --force` moves it).
pub fn stale(dir: &Path) -> crate::authoring::Result<Vec<(PathBuf, Staleness)>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    Sources::list(dir)?.stale(dir, &[])
}

/// [`build_offline`], then [`stale`] of what it leaves: what `retort upgrade` does before it
/// runs, listing the directory and reading each SQL migration's scripts and artifact once
/// instead of twice (the reads were most of a start with nothing to do). The outer error is
/// the build's, the inner one the staleness check's.
#[allow(clippy::type_complexity)] // the two results of the two steps, as their callers take them
pub fn build_offline_then_stale(
    dir: &Path,
) -> crate::authoring::Result<(
    Vec<Built>,
    crate::authoring::Result<Vec<(PathBuf, Staleness)>>,
)> {
    if !dir.is_dir() {
        return Ok((build_offline(dir)?, stale(dir)));
    }
    let sources = Sources::list(dir)?;
    let mut artifacts: Vec<Option<Vec<u8>>> = sources
        .sql
        .iter()
        .map(|m| std::fs::read(format!("{}.wasm", dir.join(&m.stem).display())).ok())
        .collect();
    let rebuild: Vec<bool> = sources
        .sql
        .iter()
        .zip(&artifacts)
        .map(|(m, artifact)| sql_needs_build(m, artifact.as_deref()))
        .collect();
    let mut built: Vec<Built> = write_sql(dir, &sources.sql, &rebuild, None, false)?
        .into_iter()
        .filter(|b| b.rebuilt)
        .collect();
    built.extend(
        build_scripts(dir, &sources.scripts, None, false, true)?
            .into_iter()
            .filter(|b| b.rebuilt),
    );
    // What was just written is read again by the check; what was not is as read above.
    for (artifact, rebuilt) in artifacts.iter_mut().zip(&rebuild) {
        if *rebuilt {
            *artifact = None;
        }
    }
    Ok((built, sources.stale(dir, &artifacts)))
}

/// Builds every migration of `dir`: each crate (a cargo workspace) in release mode for
/// `wasm32-wasip2`, written to `<crate dir>.wasm` beside it; each SQL migration to a script
/// artifact `<stem>.wasm` on the SQL runtime this binary ships (no toolchain, no cargo);
/// each Python or JavaScript migration with its language's tool.
///
/// Artifacts are pinned to their sources: each records a fingerprint of its crate's files
/// (custom section [`SOURCE_SECTION`]), and an artifact whose sources did not change is kept
/// byte for byte (signature included) unless `force`. So rebuilding an unchanged project on
/// another machine, path or toolchain never changes an applied migration's digest.
///
/// Paths are remapped (`--remap-path-prefix`) so the artifact does not depend on where the
/// project or cargo's registry sit on this machine: the same sources give the same bytes.
/// `target_dir` defaults to `$CARGO_TARGET_DIR`, else `<dir>/target`. Paths under `root`
/// (the project) are recorded relative to it.
pub fn build(
    dir: &Path,
    root: &Path,
    target_dir: Option<&Path>,
    observer: Option<&dyn Observer>,
    force: bool,
) -> crate::authoring::Result<Vec<Built>> {
    let dir = dir
        .canonicalize()
        .map_err(io("find the migrations directory", &dir))?;
    let crates = crates(&dir)?;
    let sql = sql_migrations(&dir)?;
    let scripts = script_guests(&dir)?;
    // Rust crates are built by cargo with the workspace's SDK; SQL needs no toolchain.
    if !dir.join("Cargo.toml").is_file() && !crates.is_empty() {
        return Err(BuildError::Refused(format!(
            "{} has no Cargo.toml: it is not a migrations workspace (scaffolding its first Rust \
             migration makes one)",
            dir.display()
        )));
    }
    if crate::authoring::sdk::vendored(&dir) {
        crate::authoring::sdk::materialize(&dir)?;
    }
    let target_dir = guest_target_dir(target_dir, &dir);
    let mut built = build_scripts(&dir, &scripts, observer, force, false)?;
    let mut fingerprints = Vec::new();
    for (crate_dir, _) in &crates {
        fingerprints.push(source_fingerprint(crate_dir)?);
    }
    let stale: Vec<bool> = crates
        .iter()
        .zip(&fingerprints)
        .map(|((d, _), f)| force || !up_to_date(d, f))
        .collect();
    let sql_stale: Vec<bool> = sql
        .iter()
        .map(|m| force || !sql_up_to_date(&dir.join(&m.stem), m))
        .collect();
    let any_rust = stale.iter().any(|s| *s);
    if any_rust {
        ensure_target(observer)?;
    }
    let flags = remap_flags(root, &target_dir);
    let output = |name: &str| {
        target_dir
            .join(TARGET)
            .join("release")
            .join(format!("{name}.wasm"))
    };
    if any_rust {
        cargo_build(
            &dir.join("Cargo.toml"),
            &target_dir,
            &flags,
            observer.is_none(),
        )
        .map_err(|e| {
            e.within(format!(
                "cargo build of the migrations in {} failed",
                dir.display()
            ))
        })?;
    }
    for (((crate_dir, name), fingerprint), stale) in crates.iter().zip(&fingerprints).zip(&stale) {
        built.push(if *stale {
            pin(crate_dir, &output(name), fingerprint)?
        } else {
            kept(crate_dir)?
        });
    }
    built.extend(write_sql(&dir, &sql, &sql_stale, observer, true)?);
    Ok(built)
}

/// Builds what needs no external tool, and nothing else: the SQL migrations of `dir` whose
/// artifact is missing or older than their scripts, and the Python and JavaScript ones whose
/// runtime the project already holds. This is what `retort upgrade` does before it runs. A
/// signed artifact is never replaced here (a build would drop its signature): it stays, and
/// is reported stale. Returns the artifacts written.
pub fn build_offline(dir: &Path) -> crate::authoring::Result<Vec<Built>> {
    let mut built = build_sql(dir)?;
    built.extend(
        build_scripts(dir, &script_guests(dir)?, None, false, true)?
            .into_iter()
            .filter(|b| b.rebuilt),
    );
    Ok(built)
}

/// Whether an offline build writes `m`'s artifact (`artifact`, its current bytes): missing or
/// older than its scripts, unless signed (a build would drop the signature; it is reported
/// stale instead).
fn sql_needs_build(m: &SqlMigration, artifact: Option<&[u8]>) -> bool {
    let signed = artifact.is_some_and(|b| {
        crate::trust::signing::custom_section(b, crate::trust::signing::SECTION).is_some()
    });
    !signed && !artifact.is_some_and(|b| sql_artifact_up_to_date(b, m))
}

/// The SQL half of [`build_offline`].
fn build_sql(dir: &Path) -> crate::authoring::Result<Vec<Built>> {
    let sql = sql_migrations(dir)?;
    let stale: Vec<bool> = sql
        .iter()
        .map(|m| {
            let artifact = std::fs::read(format!("{}.wasm", dir.join(&m.stem).display())).ok();
            sql_needs_build(m, artifact.as_deref())
        })
        .collect();
    Ok(write_sql(dir, &sql, &stale, None, false)?
        .into_iter()
        .filter(|b| b.rebuilt)
        .collect())
}

/// Whether a SQL migration's artifact is what building it now would give: pinned to its
/// scripts, and (a script artifact) on a runtime this binary ships — one built by another
/// Retort version whose runtime differs is rebuilt (an applied one keeps running while the
/// binary ships its runtime: docs/artifacts.md). Artifacts built before script artifacts
/// existed are judged by their fingerprint alone.
fn sql_up_to_date(stem_path: &Path, m: &SqlMigration) -> bool {
    std::fs::read(format!("{}.wasm", stem_path.display()))
        .is_ok_and(|bytes| sql_artifact_up_to_date(&bytes, m))
}

/// [`sql_up_to_date`], of the artifact's bytes.
fn sql_artifact_up_to_date(artifact: &[u8], m: &SqlMigration) -> bool {
    if crate::trust::signing::custom_section(artifact, SOURCE_SECTION)
        != Some(m.fingerprint().as_bytes())
    {
        return false;
    }
    match crate::host::runtime::Script::decode(artifact) {
        Some(Ok(script)) => crate::host::runtime::trusted(&script.runtime.digest),
        _ => true,
    }
}

/// Whether `script` has a `PRAGMA foreign_keys = …` statement (SQLite's switch, a no-op
/// inside a transaction), as real histories carry around table rebuilds.
fn switches_foreign_keys(script: &str) -> bool {
    retort_sql::split(script, retort_sql::Dialect::Sqlite).is_ok_and(|statements| {
        statements.iter().any(|s| {
            let s = s.to_ascii_lowercase();
            let words: Vec<&str> = s
                .split(|c: char| c.is_whitespace() || c == '=')
                .filter(|w| !w.is_empty())
                .collect();
            words.len() >= 3 && words[0] == "pragma" && words[1] == "foreign_keys"
        })
    })
}

/// Writes the script artifacts of the `stale` SQL migrations, keeps the others (listed with
/// `report_kept`: a build reports every artifact; the build before an upgrade only what it
/// wrote — reading and hashing each kept artifact again for nothing cost a run's start
/// ~0.1 ms per migration).
fn write_sql(
    dir: &Path,
    sql: &[SqlMigration],
    stale: &[bool],
    observer: Option<&dyn Observer>,
    report_kept: bool,
) -> crate::authoring::Result<Vec<Built>> {
    let mut built = Vec::new();
    for (m, stale) in sql.iter().zip(stale) {
        let stem_path = dir.join(&m.stem);
        if !*stale {
            if report_kept {
                built.push(kept(&stem_path)?);
            }
            continue;
        }
        if let Some(observer) = observer {
            for (script, kind) in [(&m.up, "up"), (&m.down, "down")] {
                let note = |message: String| {
                    observer.event(&Event::Note { message: &message });
                };
                if wrapped_in_transaction(script) {
                    note(format!(
                        "{}.{kind}.sql: its BEGIN; … COMMIT; pair is dropped when it \
                         runs: Retort runs each migration in one transaction, with its \
                         history row",
                        m.stem
                    ));
                }
                if m.transactional && switches_foreign_keys(script) {
                    note(format!(
                        "{}.{kind}.sql: on SQLite its `PRAGMA foreign_keys` changes \
                         nothing, as SQLite ignores it inside the transaction Retort runs the \
                         migration in (a migration declared non-transactional switches them, \
                         until Retort puts the session back after it)",
                        m.stem
                    ));
                }
            }
        }
        built.push(write_pinned(
            &stem_path,
            m.script().encode(),
            &m.fingerprint(),
        )?);
    }
    Ok(built)
}

/// `target_dir`, else `$CARGO_TARGET_DIR`, else `<dir>/target`.
fn guest_target_dir(target_dir: Option<&Path>, dir: &Path) -> PathBuf {
    target_dir
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
        .unwrap_or_else(|| dir.join("target"))
}

/// An artifact kept as it is: its sources did not change.
fn kept(stem_path: &Path) -> crate::authoring::Result<Built> {
    let artifact = PathBuf::from(format!("{}.wasm", stem_path.display()));
    let bytes = std::fs::read(&artifact).map_err(io("read", &artifact))?;
    Ok(Built {
        crate_dir: stem_path.to_path_buf(),
        size: bytes.len() as u64,
        digest: crate::source::artifact::digest(&bytes),
        artifact,
        rebuilt: false,
    })
}

/// Writes `<stem>.wasm` from a freshly built component, pinned to its sources by their
/// fingerprint (custom section [`SOURCE_SECTION`]).
fn pin(stem_path: &Path, produced: &Path, fingerprint: &str) -> crate::authoring::Result<Built> {
    let bytes = std::fs::read(produced).map_err(|e| BuildError::Tool {
        message: format!("the build did not produce {}", produced.display()),
        source: Some(e),
    })?;
    write_pinned(stem_path, bytes, fingerprint)
}

/// Writes `<stem>.wasm` from an artifact's bytes, pinned to its sources' fingerprint.
fn write_pinned(
    stem_path: &Path,
    mut bytes: Vec<u8>,
    fingerprint: &str,
) -> crate::authoring::Result<Built> {
    crate::trust::signing::append_custom_section(
        &mut bytes,
        SOURCE_SECTION,
        fingerprint.as_bytes(),
    );
    let artifact = PathBuf::from(format!("{}.wasm", stem_path.display()));
    std::fs::write(&artifact, &bytes).map_err(io("write", &artifact))?;
    Ok(Built {
        crate_dir: stem_path.to_path_buf(),
        size: bytes.len() as u64,
        digest: crate::source::artifact::digest(&bytes),
        artifact,
        rebuilt: true,
    })
}

/// Writes the script artifacts of the Python and JavaScript migrations whose artifact is not
/// up to date (all with `force`), each on its language's shared runtime, which is built
/// first where the project lacks it — unless `offline`, when only migrations whose runtime
/// the project already holds are built (no tool runs) and signed artifacts are left alone.
fn build_scripts(
    dir: &Path,
    scripts: &[ScriptGuest],
    observer: Option<&dyn Observer>,
    force: bool,
    offline: bool,
) -> crate::authoring::Result<Vec<Built>> {
    let mut runtimes: std::collections::BTreeMap<&str, Option<RuntimeRef>> = Default::default();
    let mut built = Vec::new();
    let mut earlier = EarlierRuntimes::default();
    for guest in scripts {
        let stem_path = dir.join(&guest.stem);
        let signed = std::fs::read(format!("{}.wasm", stem_path.display())).is_ok_and(|b| {
            crate::trust::signing::custom_section(&b, crate::trust::signing::SECTION).is_some()
        });
        if !force && guest.up_to_date(dir, &mut earlier)? {
            built.push(kept(&stem_path)?);
            continue;
        }
        if offline && signed {
            continue; // a build would drop its signature: reported stale instead
        }
        let language = guest.language;
        let runtime = match runtimes.get(language.name()) {
            Some(r) => r.clone(),
            None => {
                let r = if offline {
                    crate::authoring::runtimes::find(dir, language)
                } else {
                    Some(crate::authoring::runtimes::ensure(dir, language, observer)?)
                };
                runtimes.insert(language.name(), r.clone());
                r
            }
        };
        let Some(runtime) = runtime else { continue };
        if let Some(observer) = observer {
            observer.event(&Event::Writing {
                source: &guest.source.display().to_string(),
                language: language.name(),
            });
        }
        let script = guest.script(runtime)?;
        built.push(write_pinned(
            &stem_path,
            script.encode(),
            &guest.fingerprint()?,
        )?);
    }
    Ok(built)
}

/// Paths remapped so an artifact does not depend on where the project, cargo's registry and
/// the target directory sit on this machine.
fn remap_flags(root: &Path, target_dir: &Path) -> Vec<String> {
    let project = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut flags = vec![format!(
        "--remap-path-prefix={}=/project",
        project.display()
    )];
    if let Some(home) = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
    {
        flags.push(format!("--remap-path-prefix={}=/cargo", home.display()));
    }
    flags.push(format!(
        "--remap-path-prefix={}=/target",
        target_dir.display()
    ));
    flags
}

fn cargo_build(
    manifest: &Path,
    target_dir: &Path,
    flags: &[String],
    quiet: bool,
) -> crate::authoring::Result<()> {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(["build", "--release", "--target", TARGET, "--workspace"])
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", flags.join("\x1f"))
        .env_remove("RUSTFLAGS");
    if quiet {
        cmd.arg("--quiet");
    }
    let status = cmd.status().map_err(|e| BuildError::Tool {
        message: "cannot run cargo".into(),
        source: Some(e),
    })?;
    if !status.success() {
        return Err(BuildError::Tool {
            message: format!("cargo exited with {status}"),
            source: None,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_artifact_is_pinned_to_its_sources_and_kept_while_they_do_not_change() {
        let dir = tempfile::tempdir().unwrap();
        let produced = dir.path().join("produced.wasm");
        std::fs::write(&produced, b"\0asm\x0d\x00\x01\x00").unwrap();
        let stem = dir.path().join("20260101000000_a");
        let built = pin(&stem, &produced, "fingerprint-1").unwrap();
        assert!(built.rebuilt);
        assert_eq!(built.artifact, dir.path().join("20260101000000_a.wasm"));
        assert!(up_to_date(&stem, "fingerprint-1"));
        assert!(!up_to_date(&stem, "fingerprint-2"));
        let kept = kept(&stem).unwrap();
        assert!(!kept.rebuilt);
        assert_eq!(kept.digest, built.digest);
        assert_eq!(kept.size, built.size);
        assert!(pin(&stem, &dir.path().join("nothing.wasm"), "f").is_err());
    }

    /// A script artifact built on an earlier Retort's runtime (another source fingerprint)
    /// stays as built while its source and that runtime are there: rebuilding it would change
    /// an applied migration's digest. An edit of its source, or the runtime gone, rebuilds it.
    #[test]
    fn a_script_on_an_earlier_runtime_is_kept_while_its_source_does_not_change() {
        use crate::host::runtime::{FORMAT, RUNTIMES_DIR, RuntimeRef, Script};
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let source = root.join("20260101000000_a.py");
        std::fs::write(&source, "# a migration\n").unwrap();
        let guest = ScriptGuest {
            stem: "20260101000000_a".into(),
            source: source.clone(),
            language: Language::Python,
        };
        // The earlier runtime: what `retort build` reads of it is its recorded source
        // fingerprint; the file is named by its digest.
        let earlier_source = "e".repeat(64);
        let mut runtime_bytes = b"\0asm\x01\0\0\0".to_vec();
        crate::trust::signing::append_custom_section(
            &mut runtime_bytes,
            SOURCE_SECTION,
            earlier_source.as_bytes(),
        );
        let runtime = RuntimeRef {
            language: "python".into(),
            version: "0.3.0".into(),
            digest: crate::trust::signing::digest(&runtime_bytes),
        };
        let runtimes = root.join(RUNTIMES_DIR);
        std::fs::create_dir(&runtimes).unwrap();
        let runtime_path = runtimes.join(crate::host::runtime::file_name(&runtime));
        std::fs::write(&runtime_path, &runtime_bytes).unwrap();
        let script = Script {
            format: FORMAT,
            runtime,
            metadata: None,
            files: Vec::new(),
            settings: Vec::new(),
        };
        let stem = root.join(&guest.stem);
        let pinned = guest.fingerprint_on(&earlier_source).unwrap();
        assert_ne!(pinned, guest.fingerprint().unwrap());
        write_pinned(&stem, script.encode(), &pinned).unwrap();
        let mut earlier = EarlierRuntimes::default();
        assert!(guest.up_to_date(root, &mut earlier).unwrap());
        assert_eq!(stale(root).unwrap(), []);

        // Pinned to neither this binary's runtime nor the one it names: rebuilt.
        write_pinned(
            &stem,
            script.encode(),
            &guest.fingerprint_on("other").unwrap(),
        )
        .unwrap();
        assert!(
            !guest
                .up_to_date(root, &mut EarlierRuntimes::default())
                .unwrap()
        );
        write_pinned(&stem, script.encode(), &pinned).unwrap();

        // Its source edited: rebuilt (on this binary's runtime).
        std::fs::write(&source, "# a migration, edited\n").unwrap();
        assert!(
            !guest
                .up_to_date(root, &mut EarlierRuntimes::default())
                .unwrap()
        );
        assert_eq!(stale(root).unwrap(), [(stem.clone(), Staleness::Changed)]);
        std::fs::write(&source, "# a migration\n").unwrap();

        // The runtime it names gone: rebuilt.
        std::fs::remove_file(&runtime_path).unwrap();
        assert!(
            !guest
                .up_to_date(root, &mut EarlierRuntimes::default())
                .unwrap()
        );
    }

    #[test]
    fn migrations_without_an_artifact_are_unbuilt() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert!(unbuilt(&root.join("missing")).unwrap().is_empty());
        std::fs::create_dir(root.join("20260101000000_crate")).unwrap();
        std::fs::write(
            root.join("20260101000000_crate/Cargo.toml"),
            "[package]\nname = \"m-20260101000000\"\n",
        )
        .unwrap();
        std::fs::write(
            root.join("20260101000100_sql.up.sql"),
            "CREATE TABLE t (x INT);\n",
        )
        .unwrap();
        let mut found = unbuilt(root).unwrap();
        found.sort();
        assert_eq!(
            found,
            [
                root.join("20260101000000_crate"),
                root.join("20260101000100_sql")
            ]
        );
        std::fs::write(root.join("20260101000100_sql.wasm"), b"\0asm").unwrap();
        assert_eq!(unbuilt(root).unwrap(), [root.join("20260101000000_crate")]);
    }

    #[test]
    fn dialect_scripts_join_their_generic_migration() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("20260101000100_x.up.sql"),
            "-- retort: parents = none\nSELECT 1;\n",
        )
        .unwrap();
        std::fs::write(root.join("20260101000100_x.mysql.down.sql"), "SELECT 2;\n").unwrap();
        let plain = sql_migrations(root).unwrap();
        assert_eq!(
            plain.len(),
            1,
            "a dialect file is not a migration of its own"
        );
        assert_eq!(
            plain[0].variants["mysql"],
            (None, Some("SELECT 2;\n".to_string()))
        );
        let names: Vec<String> = plain[0]
            .script()
            .files
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, ["up.sql", "down.sql", "down.mysql.sql"]);
        std::fs::write(root.join("20260101000200_y.postgres.up.sql"), "SELECT 3;\n").unwrap();
        let e = sql_migrations(root).unwrap_err().to_string();
        assert!(
            e.contains("needs the generic 20260101000200_y.up.sql"),
            "{e}"
        );
        std::fs::remove_file(root.join("20260101000200_y.postgres.up.sql")).unwrap();
        std::fs::write(
            root.join("20260101000300_z.up.sql"),
            "-- retort: dialect = oracle\n",
        )
        .unwrap();
        let e = sql_migrations(root).unwrap_err().to_string();
        assert!(
            e.contains("dialect must be one of postgres, mysql, sqlite, not `oracle`"),
            "{e}"
        );
    }

    #[test]
    fn artifacts_of_edited_sources_are_stale() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let up = root.join("20260101000100_sql.up.sql");
        std::fs::write(&up, "CREATE TABLE t (x INT);\n").unwrap();
        assert_eq!(
            stale(root).unwrap(),
            [(root.join("20260101000100_sql"), Staleness::Unbuilt)]
        );
        let m = &sql_migrations(root).unwrap()[0];
        let produced = root.join("produced.wasm");
        std::fs::write(&produced, b"\0asm\x0d\x00\x01\x00").unwrap();
        pin(&root.join(&m.stem), &produced, &m.fingerprint()).unwrap();
        assert!(stale(root).unwrap().is_empty());
        std::fs::write(&up, "CREATE TABLE t (x INT, y INT);\n").unwrap();
        let found = stale(root).unwrap();
        assert_eq!(
            found,
            [(root.join("20260101000100_sql"), Staleness::Changed)]
        );
        assert_eq!(
            found[0].1.to_string(),
            "changed since its artifact was built"
        );
    }

    /// The combined offline build and staleness check (`retort upgrade`'s) answers what the two
    /// steps answer one after the other, and leaves the same files: an unbuilt migration, an
    /// up-to-date one, an edited one (rebuilt) and an edited signed one (kept, reported stale).
    #[test]
    fn the_combined_offline_build_answers_as_the_two_steps_do() {
        let setup = |root: &Path| {
            for (i, sql) in ["CREATE TABLE a (x INT);", "CREATE TABLE b (x INT);"]
                .iter()
                .enumerate()
            {
                let up = root.join(format!("2026010100010{i}_m{i}.up.sql"));
                std::fs::write(&up, format!("-- retort: parents = none\n{sql}\n")).unwrap();
            }
            build_offline(root).unwrap();
            // m2: built, then edited. m3: built, signed (a section is all the check reads),
            // then edited. m4: never built.
            let up = |i: usize| root.join(format!("2026010100010{i}_m{i}.up.sql"));
            for i in [2, 3] {
                std::fs::write(
                    up(i),
                    "-- retort: parents = none\nCREATE TABLE c (x INT);\n",
                )
                .unwrap();
            }
            build_offline(root).unwrap();
            let signed = root.join("20260101000103_m3.wasm");
            let mut bytes = std::fs::read(&signed).unwrap();
            crate::trust::signing::append_custom_section(
                &mut bytes,
                crate::trust::signing::SECTION,
                b"signature",
            );
            std::fs::write(&signed, bytes).unwrap();
            for i in [2, 3] {
                std::fs::write(
                    up(i),
                    "-- retort: parents = none\nCREATE TABLE c (x INT, y INT);\n",
                )
                .unwrap();
            }
            std::fs::write(
                root.join("20260101000104_m4.up.sql"),
                "-- retort: parents = none\nCREATE TABLE d (x INT);\n",
            )
            .unwrap();
        };
        let files = |root: &Path| -> Vec<(String, Vec<u8>)> {
            let mut files: Vec<_> = std::fs::read_dir(root)
                .unwrap()
                .flatten()
                .map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    (name, std::fs::read(e.path()).unwrap())
                })
                .collect();
            files.sort();
            files
        };
        let names = |built: &[Built]| -> Vec<String> {
            let mut names: Vec<String> = built
                .iter()
                .map(|b| {
                    b.artifact
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            names.sort();
            names
        };
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        setup(one.path());
        setup(two.path());
        let built = build_offline(one.path()).unwrap();
        let stale_after = stale(one.path()).unwrap();
        let (combined, combined_stale) = build_offline_then_stale(two.path()).unwrap();
        assert_eq!(
            names(&built),
            ["20260101000102_m2.wasm", "20260101000104_m4.wasm"]
        );
        assert_eq!(names(&combined), names(&built));
        let rel = |found: Vec<(PathBuf, Staleness)>, root: &Path| -> Vec<(PathBuf, Staleness)> {
            found
                .into_iter()
                .map(|(p, why)| (p.strip_prefix(root).unwrap().to_path_buf(), why))
                .collect()
        };
        assert_eq!(
            rel(stale_after, one.path()),
            [(PathBuf::from("20260101000103_m3"), Staleness::Changed)]
        );
        assert_eq!(
            rel(combined_stale.unwrap(), two.path()),
            [(PathBuf::from("20260101000103_m3"), Staleness::Changed)]
        );
        assert_eq!(files(one.path()), files(two.path()));
    }

    #[test]
    fn paths_are_remapped_for_reproducible_artifacts() {
        let flags = remap_flags(Path::new("/nonexistent/project"), Path::new("/t"));
        assert_eq!(
            flags[0],
            "--remap-path-prefix=/nonexistent/project=/project"
        );
        assert_eq!(flags.last().unwrap(), "--remap-path-prefix=/t=/target");
    }
}
