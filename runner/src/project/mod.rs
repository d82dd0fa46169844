//! The project: `retort.toml`, the environment and the command line, resolved once.
//!
//! ```toml
//! [databases.catalog]
//! url = "${CATALOG_URL:-sqlite://catalog.db}"   # ${VAR} and ${VAR:-default} are expanded
//! migrations = "migrations/catalog"               # relative to retort.toml
//! ```
//!
//! Precedence: `--database-url` > `DATABASE_URL` > the file. A URL from the command line or
//! the environment applies to a project of one database (or to the one chosen with `-d`).

use crate::core::DialectExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use crate::core::DEFAULT_DATABASE;

/// Where a database's migrations run from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// The built artifacts (`<stem>.wasm`) of its migrations directory: the default.
    #[default]
    Directory,
    /// A bundle file (`retort bundle` writes one): the artifacts, signatures and runtimes of
    /// one database in one archive.
    Bundle(PathBuf),
    /// Migrations compiled into the application (`retort::embed!`).
    Embedded(crate::core::Embedded),
}

impl Source {
    /// Whether the migrations come from the migrations directory, where their sources are.
    pub fn is_directory(&self) -> bool {
        matches!(self, Source::Directory)
    }
}

/// One database of the project, fully resolved. Read its fields freely; build one with
/// [`Project::from_url`] or [`Project::load`] (new fields may come in any release).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DatabaseConfig {
    /// Its name in the project.
    pub name: String,
    /// Its URL, with environment references expanded.
    pub url: String,
    /// Its migrations directory.
    pub migrations: PathBuf,
    /// How long to wait for another runner's lock.
    pub lock_timeout: Duration,
    /// How migrations are grouped into transactions.
    pub transaction: TransactionMode,
    /// Directory capabilities the project grants this database's migrations, by name.
    pub capabilities: std::collections::BTreeMap<String, PathBuf>,
    /// Trusted keys, and whether this database requires signed artifacts.
    pub trust: std::sync::Arc<crate::trust::signing::Trust>,
    /// Where its migrations run from: the migrations directory (the default), a bundle, or
    /// migrations embedded in the application.
    pub source: Source,
    /// Statements run on the migrating connection before any migration (e.g.
    /// `SET FOREIGN_KEY_CHECKS = 0`, `PRAGMA foreign_keys = ON`).
    pub session: Vec<String>,
    /// The account migrations' statements run as (PostgreSQL, MySQL), when not `url`'s: a
    /// restricted one, while the lock (and on MySQL the bookkeeping) stay with `url`'s.
    pub migration_url: Option<String>,
    /// Refuse to run migrations as an account whose SQL reaches the server's files or
    /// programs (a PostgreSQL superuser, a MySQL account with `FILE` or `SUPER`).
    pub require_unprivileged: bool,
    /// The declared schema (`schema = "schema.sql"`: plain DDL in the database's dialect), for
    /// `retort diff` and `retort new --autogenerate`.
    pub schema: Option<PathBuf>,
    /// The language `retort new` scaffolds in when `--lang` does not say (`language = "sql"`,
    /// written by `retort init`); without it, the newest migration's.
    pub language: Option<crate::authoring::scaffold::Lang>,
}

/// How a run groups migrations into transactions (PostgreSQL and SQLite; MySQL always runs
/// one migration at a time with its pending-row protocol).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransactionMode {
    /// Each migration and its history row commit together (the default): a failure keeps
    /// the migrations before it.
    #[default]
    PerMigration,
    /// The whole run commits once: a failure rolls every migration of the run back. Much
    /// faster for many small migrations (one commit, one fsync).
    Single,
}

impl TransactionMode {
    /// Every mode, in the order a command line lists them.
    pub const ALL: [TransactionMode; 2] = [TransactionMode::PerMigration, TransactionMode::Single];

    /// The name `retort.toml` and `--transaction` take.
    pub fn name(self) -> &'static str {
        match self {
            TransactionMode::PerMigration => "per-migration",
            TransactionMode::Single => "single",
        }
    }
}

impl std::fmt::Display for TransactionMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The resolved project. Build one with [`Project::load`], [`Project::from_url`] or
/// [`Project::from_embedded`] (new fields may come in any release).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Project {
    /// The directory of `retort.toml` (or the working directory).
    pub root: PathBuf,
    /// The databases to act on (all, or those chosen with `-d`), in the file's order.
    pub databases: Vec<DatabaseConfig>,
    /// The project's other databases: read, never changed, to check cross-database
    /// requirements.
    pub others: Vec<DatabaseConfig>,
    /// Limits applied to every migration.
    pub limits: crate::core::Limits,
}

impl Project {
    /// A project of one database, named `default`, whose migrations are embedded in the
    /// application (`retort::embed!`), with default settings like [`Project::from_url`].
    pub fn from_embedded(
        url: &str,
        migrations: crate::core::Embedded,
    ) -> Result<Project, ConfigError> {
        let mut project = Project::from_url(url, migrations.dir)?;
        project.databases[0].source = Source::Embedded(migrations);
        Ok(project)
    }

    /// Trusts the OpenSSH Ed25519 public keys in `keys` (lines of `ssh-ed25519 AAAA… name`,
    /// as `retort keygen` writes them), besides those already trusted, and, with `required`,
    /// makes every database refuse an artifact no trusted key signed.
    pub fn trust(&mut self, keys: &str, required: bool) -> Result<(), ConfigError> {
        let parsed =
            crate::trust::signing::parse_public_keys(keys, "trusted keys").map_err(|e| {
                ConfigError {
                    path: "trusted keys".into(),
                    problems: vec![format!("trusted keys: {e}")],
                }
            })?;
        for db in self.databases.iter_mut().chain(self.others.iter_mut()) {
            let mut trust = (*db.trust).clone();
            trust.keys.extend(parsed.iter().cloned());
            trust.required |= required;
            db.trust = std::sync::Arc::new(trust);
        }
        Ok(())
    }

    /// Reads the project file at `path` (`retort.toml`), expanding `${VAR}` from the process
    /// environment. Relative paths in it are relative to its directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Project, ConfigError> {
        let path = path.as_ref();
        let cwd = std::env::current_dir().map_err(|e| ConfigError {
            path: path.display().to_string(),
            problems: vec![format!(
                "{}: cannot read the working directory: {e}",
                path.display()
            )],
        })?;
        let overrides = Overrides {
            config: Some(path.to_path_buf()),
            ..Overrides::default()
        };
        read(&cwd, &overrides, &|name| std::env::var(name).ok())
    }

    /// A project of one database, named `default`: its URL (`sqlite://PATH`, `postgres://…`,
    /// `mysql://…`) and its migrations directory, with default settings (no signatures
    /// required, a 60 s lock timeout, default limits). The fields are public: change any.
    pub fn from_url(url: &str, migrations: impl Into<PathBuf>) -> Result<Project, ConfigError> {
        let mut problems = Vec::new();
        check_url(DEFAULT_DATABASE, url, &mut problems);
        if !problems.is_empty() {
            return Err(ConfigError {
                path: "the database URL".into(),
                problems,
            });
        }
        let migrations = migrations.into();
        let root = migrations
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut db = DatabaseConfig::without_file(&root, &Overrides::default());
        db.url = url.to_string();
        db.migrations = migrations;
        Ok(Project {
            root,
            databases: vec![db],
            others: Vec::new(),
            limits: crate::core::Limits::default(),
        })
    }
}

/// Everything wrong with a configuration, reported together.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct ConfigError {
    /// The configuration file, when it is one; otherwise what was wrong (`command line`,
    /// `trusted keys`, …).
    pub path: String,
    /// One line per problem, each starting with where it is (the file, an option).
    pub problems: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    databases: toml::Table,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default)]
    trust: FileTrust,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTrust {
    /// Public key files (relative to retort.toml) or key lines (`ssh-ed25519 AAAA…`).
    #[serde(default)]
    keys: Vec<String>,
    /// The default of every database's `require_signatures`.
    require_signatures: Option<bool>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    timeout_secs: Option<u64>,
    memory_mib: Option<usize>,
    max_open_rows: Option<usize>,
    capability_mib: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDatabase {
    url: String,
    migrations: Option<PathBuf>,
    lock_timeout_secs: Option<u64>,
    transaction: Option<TransactionMode>,
    #[serde(default)]
    capabilities: std::collections::BTreeMap<String, PathBuf>,
    require_signatures: Option<bool>,
    #[serde(default)]
    session: Vec<String>,
    migration_url: Option<String>,
    #[serde(default)]
    require_unprivileged: bool,
    schema: Option<PathBuf>,
    language: Option<crate::authoring::scaffold::Lang>,
}

/// How problems name the settings given besides `retort.toml`: in the library's words by
/// default; the `retort` binary names its flags (`--database-url/DATABASE_URL`, `-d NAME`).
#[derive(Clone, Copy, Debug)]
pub struct OverrideNames {
    /// The database URL given.
    pub database_url: &'static str,
    /// How to choose one database.
    pub choose_one: &'static str,
    /// The bundle given.
    pub bundle: &'static str,
    /// How to trust a key besides `[trust] keys`.
    pub trust_a_key: &'static str,
    /// How to give a database's URL besides `retort.toml`.
    pub give_a_url: &'static str,
}

impl Default for OverrideNames {
    fn default() -> Self {
        OverrideNames {
            database_url: "the database URL given",
            choose_one: "choose one database",
            bundle: "the bundle given",
            trust_a_key: "trust keys when loading the project",
            give_a_url: "give one",
        }
    }
}

/// What is given besides `retort.toml` (the `retort` binary fills it from its command line
/// and environment).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--database-url` or `DATABASE_URL`.
    pub database_url: Option<String>,
    /// `-d NAME`: the databases to act on (all when empty).
    pub databases: Vec<String>,
    /// `--lock-timeout`.
    pub lock_timeout: Option<Duration>,
    /// `--transaction`.
    pub transaction: Option<TransactionMode>,
    /// `--trusted-key FILE`: more trusted public keys.
    pub trusted_keys: Vec<PathBuf>,
    /// `--require-signatures`: every selected database requires signed artifacts.
    pub require_signatures: bool,
    /// `--bundle FILE`: run the one selected database from a bundle.
    pub bundle: Option<PathBuf>,
    /// The command needs the migrations directories but no database (`build`, `new`,
    /// `sign`…): database URLs are neither required nor expanded, so an unset `${VAR}` in
    /// one is no error.
    pub offline: bool,
    /// How problems name these settings.
    pub names: OverrideNames,
}

/// Reads trusted keys: a key line itself, or a file of them (relative to `root`).
fn read_keys(
    entries: impl IntoIterator<Item = (String, PathBuf)>,
    problems: &mut Vec<String>,
) -> Vec<crate::trust::signing::TrustedKey> {
    let mut keys = Vec::new();
    for (entry, path) in entries {
        let parsed = if entry.starts_with("ssh-") {
            crate::trust::signing::parse_public_keys(&entry, "[trust] keys")
                .map_err(|e| e.to_string())
        } else {
            std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read trusted key file {}: {e}", path.display()))
                .and_then(|text| {
                    crate::trust::signing::parse_public_keys(&text, &path.display().to_string())
                        .map_err(|e| e.to_string())
                })
        };
        match parsed {
            Ok(k) => keys.extend(k),
            Err(e) => problems.push(e),
        }
    }
    keys
}

const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// Expands `${VAR}` and `${VAR:-default}` with `env`; a default may itself hold `${…}`
/// (`${A:-sqlite://${HOME}/x}`). Unknown variables and unbalanced braces are problems.
pub fn interpolate(
    s: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = closing_brace(after) else {
            problems.push(format!("unclosed `${{` in `{s}`"));
            return out;
        };
        let expr = &after[..end];
        let (name, default) = match expr.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (expr, None),
        };
        match (env(name).filter(|v| !v.is_empty()), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(&interpolate(d, env, problems)),
            (None, None) => problems.push(format!(
                "environment variable {name} is not set (used in `{s}`)"
            )),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The index of the `}` closing a `${`, counting nested `${ … }`.
fn closing_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'$' if b.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// A relative SQLite path in `retort.toml` is relative to the file's directory, wherever
/// Retort runs from (`--config ../retort.toml`); URLs from the command line stay relative to
/// the working directory.
fn anchor_sqlite(url: &str, root: &Path) -> String {
    let Some(rest) = url.strip_prefix("sqlite://") else {
        return url.to_string();
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, format!("?{q}")),
        None => (rest, String::new()),
    };
    if path.is_empty() || path.starts_with('/') || path.starts_with(':') {
        return url.to_string();
    }
    format!("sqlite://{}{query}", root.join(path).display())
}

fn check_url(name: &str, url: &str, problems: &mut Vec<String>) {
    match crate::core::Dialect::of_url(url) {
        Some(_) => {}
        None => problems.push(format!(
            "database `{name}`: URL `{}` must start with sqlite://, postgres:// or mysql://",
            crate::db::redact(url)
        )),
    }
}

/// Reads the project from `retort.toml` (if present), the environment and `overrides`.
/// Every problem is reported at once.
pub fn read(
    cwd: &Path,
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Project, ConfigError> {
    let path = overrides
        .config
        .clone()
        .unwrap_or_else(|| cwd.join("retort.toml"));
    let shown = path.display().to_string();
    let root = project_root(cwd, &path);
    // Problems of the file are prefixed with its path at the end; the others name their
    // source (an option, the environment) themselves.
    let mut problems = Vec::new();
    let mut elsewhere = Vec::new();
    let mut keys = read_keys(
        overrides
            .trusted_keys
            .iter()
            .map(|p| (p.display().to_string(), cwd.join(p))),
        &mut elsewhere,
    );
    let mut limits = crate::core::Limits::default();
    let mut from_file = true;
    let databases = match std::fs::read_to_string(&path) {
        Ok(text) => {
            let file: FileConfig = toml::from_str(&text).map_err(|e| ConfigError {
                path: shown.clone(),
                problems: vec![format!(
                    "{shown}: {}",
                    e.to_string().trim().replace('\n', "\n  ")
                )],
            })?;
            let read = file.read(&root, overrides, env, &mut problems);
            limits = read.limits;
            keys.extend(read.keys);
            read.databases
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && overrides.config.is_none() => {
            from_file = false;
            vec![DatabaseConfig::without_file(cwd, overrides)]
        }
        Err(e) => {
            return Err(ConfigError {
                path: shown.clone(),
                problems: vec![format!("{shown}: cannot read: {e}")],
            });
        }
    };
    let (mut databases, mut others) = select(databases, &overrides.databases, &mut elsewhere);
    apply_overrides(&mut databases, cwd, overrides, &mut elsewhere);
    for db in databases.iter_mut().chain(others.iter_mut()) {
        let sink = if from_file {
            &mut problems
        } else {
            &mut elsewhere
        };
        trust(db, &keys, overrides, sink);
    }
    if !overrides.offline {
        for db in &databases {
            if overrides.database_url.is_some() {
                let mut bad = Vec::new();
                check_database_url(db, &overrides.names, &mut bad);
                elsewhere.extend(
                    bad.into_iter()
                        .map(|p| format!("{}: {p}", overrides.names.database_url)),
                );
            } else if from_file {
                check_database_url(db, &overrides.names, &mut problems);
            } else {
                check_database_url(db, &overrides.names, &mut elsewhere);
            }
        }
    }
    let mut all: Vec<String> = problems
        .into_iter()
        .map(|p| format!("{shown}: {p}"))
        .collect();
    all.extend(elsewhere);
    if all.is_empty() {
        Ok(Project {
            root,
            databases,
            others,
            limits,
        })
    } else {
        Err(ConfigError {
            path: if from_file {
                shown
            } else {
                "command line".into()
            },
            problems: all,
        })
    }
}

/// What a parsed `retort.toml` gives, resolved against its directory.
struct FileRead {
    databases: Vec<DatabaseConfig>,
    keys: Vec<crate::trust::signing::TrustedKey>,
    limits: crate::core::Limits,
}

impl FileConfig {
    /// Resolves the file's databases, keys and limits; problems go into `problems`.
    fn read(
        self,
        root: &Path,
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
        problems: &mut Vec<String>,
    ) -> FileRead {
        let mut limits = crate::core::Limits::default();
        self.limits.apply(&mut limits, problems);
        let keys = read_keys(
            self.trust.keys.iter().map(|k| (k.clone(), root.join(k))),
            problems,
        );
        let default_required = self.trust.require_signatures.unwrap_or(false);
        let mut databases = Vec::new();
        for (name, value) in self.databases {
            match value.try_into::<FileDatabase>() {
                Ok(db) => databases.push(db.into_config(
                    name,
                    root,
                    overrides,
                    env,
                    default_required,
                    problems,
                )),
                Err(e) => problems.push(format!("[databases.{name}]: {}", e.to_string().trim())),
            }
        }
        if databases.is_empty() && problems.is_empty() {
            problems.push("no [databases.NAME] table: name at least one database".into());
        }
        FileRead {
            databases,
            keys,
            limits,
        }
    }
}

/// The directory of `retort.toml` (the working directory when it has none), absolute.
fn project_root(cwd: &Path, config: &Path) -> PathBuf {
    let root = config
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| cwd.to_path_buf());
    if root.is_absolute() {
        root
    } else {
        cwd.join(root)
    }
}

/// The longest time limit a run accepts (ten years): a deadline past it would overflow the
/// clock it is measured on.
const MAX_TIMEOUT_SECS: u64 = 10 * 365 * 24 * 3600;

impl FileLimits {
    /// The largest memory a wasm32 migration can have: 4 GiB.
    const MAX_MEMORY_MIB: usize = 4096;

    fn apply(&self, limits: &mut crate::core::Limits, problems: &mut Vec<String>) {
        match self.timeout_secs {
            Some(0) => problems.push("[limits] timeout_secs must be at least 1".into()),
            Some(t) if t > MAX_TIMEOUT_SECS => problems.push(format!(
                "[limits] timeout_secs = {t}: it must be at most {MAX_TIMEOUT_SECS} (ten years)"
            )),
            Some(t) => limits.timeout = Duration::from_secs(t),
            None => {}
        }
        match self.memory_mib {
            Some(m) if m == 0 || m > Self::MAX_MEMORY_MIB => problems.push(format!(
                "[limits] memory_mib = {m}: it must be 1 to {} (a wasm32 migration's memory \
                 ends at 4 GiB)",
                Self::MAX_MEMORY_MIB
            )),
            Some(m) => limits.memory_bytes = m << 20,
            None => {}
        }
        match self.max_open_rows {
            Some(0) => problems.push("[limits] max_open_rows must be at least 1".into()),
            Some(n) => limits.max_open_rows = n,
            None => {}
        }
        match self.capability_mib {
            Some(m) if m == 0 || m > 1 << 20 => problems.push(format!(
                "[limits] capability_mib = {m}: it must be 1 to 1048576 (1 TiB)"
            )),
            Some(m) => limits.staged_bytes = m << 20,
            None => {}
        }
    }
}

impl FileDatabase {
    /// `[databases.NAME]` resolved against the project root, the environment and the
    /// command line (whose settings win). Trusted keys are added later, once all are read.
    fn into_config(
        self,
        name: String,
        root: &Path,
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
        default_required: bool,
        problems: &mut Vec<String>,
    ) -> DatabaseConfig {
        // Commands that need no database neither need nor expand a URL.
        let url = if overrides.offline {
            String::new()
        } else {
            anchor_sqlite(&interpolate(&self.url, env, problems), root)
        };
        let capabilities = capability_dirs(&name, root, self.capabilities, problems);
        if let Some(t) = self.lock_timeout_secs.filter(|t| *t > MAX_TIMEOUT_SECS) {
            problems.push(format!(
                "[databases.{name}] lock_timeout_secs = {t}: it must be at most \
                 {MAX_TIMEOUT_SECS} (ten years)"
            ));
        }
        // (A `migration_url` for an SQLite database is refused when connecting: the URL the
        // run uses may still come from the command line.)
        let migration_url = match self.migration_url {
            Some(_) if overrides.offline => None,
            Some(m) => Some(interpolate(&m, env, problems)),
            None => None,
        };
        DatabaseConfig {
            name,
            url,
            migrations: root.join(
                self.migrations
                    .unwrap_or_else(|| PathBuf::from("migrations")),
            ),
            lock_timeout: overrides
                .lock_timeout
                .or(self
                    .lock_timeout_secs
                    .map(|t| Duration::from_secs(t.min(MAX_TIMEOUT_SECS))))
                .unwrap_or(DEFAULT_LOCK_TIMEOUT),
            transaction: overrides
                .transaction
                .or(self.transaction)
                .unwrap_or_default(),
            capabilities,
            trust: std::sync::Arc::new(crate::trust::signing::Trust {
                keys: Vec::new(),
                required: self.require_signatures.unwrap_or(default_required),
            }),
            source: Source::Directory,
            session: self.session,
            migration_url,
            require_unprivileged: self.require_unprivileged,
            schema: self.schema.map(|s| root.join(s)),
            language: self.language,
        }
    }
}

/// `[databases.NAME.capabilities]` resolved against the project root. The whole file system is
/// refused as a capability.
fn capability_dirs(
    database: &str,
    root: &Path,
    declared: std::collections::BTreeMap<String, PathBuf>,
    problems: &mut Vec<String>,
) -> std::collections::BTreeMap<String, PathBuf> {
    declared
        .into_iter()
        .map(|(name, dir)| {
            let dir = root.join(dir);
            let is_root = |d: &Path| d.parent().is_none();
            if is_root(&dir) || dir.canonicalize().is_ok_and(|d| is_root(&d)) {
                problems.push(format!(
                    "[databases.{database}.capabilities] {name} = {}: a capability cannot be the \
                     whole file system; grant the one directory its migrations edit",
                    dir.display()
                ));
            }
            (name, dir)
        })
        .collect()
}

impl DatabaseConfig {
    /// The one database of a project without `retort.toml`: `./migrations`, and the URL from
    /// the command line or `DATABASE_URL` (applied later).
    fn without_file(cwd: &Path, overrides: &Overrides) -> Self {
        DatabaseConfig {
            name: DEFAULT_DATABASE.into(),
            url: String::new(),
            migrations: cwd.join("migrations"),
            lock_timeout: overrides.lock_timeout.unwrap_or(DEFAULT_LOCK_TIMEOUT),
            transaction: overrides.transaction.unwrap_or_default(),
            capabilities: Default::default(),
            trust: Default::default(),
            source: Source::Directory,
            session: Vec::new(),
            migration_url: None,
            require_unprivileged: false,
            schema: None,
            language: None,
        }
    }
}

/// Splits the databases into those chosen with `-d` (all when none is) and the others.
fn select(
    databases: Vec<DatabaseConfig>,
    wanted: &[String],
    problems: &mut Vec<String>,
) -> (Vec<DatabaseConfig>, Vec<DatabaseConfig>) {
    for name in wanted {
        if !databases.iter().any(|d| &d.name == name) {
            problems.push(format!(
                "no database named `{name}` (the project has: {})",
                databases
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    if wanted.is_empty() {
        return (databases, Vec::new());
    }
    databases
        .into_iter()
        .partition(|d| wanted.contains(&d.name))
}

/// `--database-url`/`DATABASE_URL` and `--bundle`, which name one database.
fn apply_overrides(
    databases: &mut [DatabaseConfig],
    cwd: &Path,
    overrides: &Overrides,
    problems: &mut Vec<String>,
) {
    let n = databases.len();
    if let Some(url) = &overrides.database_url {
        match databases {
            [db] => db.url = url.clone(),
            _ if problems.is_empty() => problems.push(format!(
                "{} names one database but the project has {n}: {}",
                overrides.names.database_url, overrides.names.choose_one
            )),
            _ => {}
        }
    }
    if let Some(bundle) = &overrides.bundle {
        match databases {
            [db] => db.source = Source::Bundle(cwd.join(bundle)),
            _ if problems.is_empty() => problems.push(format!(
                "{} holds the migrations of one database but {n} are selected: {}",
                overrides.names.bundle, overrides.names.choose_one
            )),
            _ => {}
        }
    }
}

/// Every database shares the project's trusted keys; `overrides.require_signatures` makes
/// every one require them.
fn trust(
    db: &mut DatabaseConfig,
    keys: &[crate::trust::signing::TrustedKey],
    overrides: &Overrides,
    problems: &mut Vec<String>,
) {
    let required = db.trust.required || overrides.require_signatures;
    db.trust = std::sync::Arc::new(crate::trust::signing::Trust {
        keys: keys.to_vec(),
        required,
    });
    if required && keys.is_empty() {
        problems.push(format!(
            "database `{}` requires signatures but no key is trusted: list public keys under [trust] keys, or {}",
            db.name, overrides.names.trust_a_key
        ));
    }
}

fn check_database_url(db: &DatabaseConfig, names: &OverrideNames, problems: &mut Vec<String>) {
    if db.url.is_empty() {
        problems.push(format!(
            "database `{}` has no URL: {}, or write a retort.toml",
            db.name, names.give_a_url
        ));
    } else {
        check_url(&db.name, &db.url, problems);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "CATALOG_URL" => Some("postgres://u:p@h/catalog".into()),
            _ => None,
        }
    }

    fn write(dir: &Path, text: &str) -> Overrides {
        std::fs::write(dir.join("retort.toml"), text).unwrap();
        Overrides::default()
    }

    #[test]
    fn sqlite_paths_in_the_file_are_relative_to_it() {
        let root = Path::new("/srv/app");
        assert_eq!(
            anchor_sqlite("sqlite://data/app.db?mode=rwc", root),
            "sqlite:///srv/app/data/app.db?mode=rwc"
        );
        assert_eq!(anchor_sqlite("sqlite:///abs.db", root), "sqlite:///abs.db");
        assert_eq!(
            anchor_sqlite("sqlite://:memory:", root),
            "sqlite://:memory:"
        );
        assert_eq!(anchor_sqlite("postgres://h/db", root), "postgres://h/db");
    }

    #[test]
    fn interpolation_with_defaults_and_missing_variables() {
        let mut problems = Vec::new();
        assert_eq!(
            interpolate("${CATALOG_URL}", &env, &mut problems),
            "postgres://u:p@h/catalog"
        );
        assert_eq!(
            interpolate("${NOPE:-sqlite://x.db}", &env, &mut problems),
            "sqlite://x.db"
        );
        assert!(problems.is_empty());
        interpolate("${NOPE}/${ALSO_NOPE}", &env, &mut problems);
        assert_eq!(problems.len(), 2);
    }

    #[test]
    fn file_databases_in_order_with_relative_directories() {
        let dir = tempfile::tempdir().unwrap();
        let o = write(
            dir.path(),
            "[databases.catalog]\nurl = \"${CATALOG_URL}\"\nmigrations = \"m/catalog\"\n\
             [databases.monitoring]\nurl = \"sqlite://mon.db\"\n",
        );
        let p = read(dir.path(), &o, &env).unwrap();
        let names: Vec<_> = p.databases.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["catalog", "monitoring"]);
        assert_eq!(p.databases[0].migrations, dir.path().join("m/catalog"));
        assert_eq!(p.databases[1].migrations, dir.path().join("migrations"));
    }

    #[test]
    fn defaults_may_hold_variables_and_braces_must_balance() {
        let env = |name: &str| match name {
            "HOME" => Some("/home/me".to_string()),
            "SET" => Some("postgres://h/db".to_string()),
            _ => None,
        };
        let mut problems = Vec::new();
        assert_eq!(
            interpolate("${A:-sqlite://${HOME}/x.db}", &env, &mut problems),
            "sqlite:///home/me/x.db"
        );
        assert_eq!(
            interpolate("${SET:-sqlite://${NOPE}/x}", &env, &mut problems),
            "postgres://h/db",
            "a default that is not used is not expanded"
        );
        assert_eq!(
            interpolate("a${A:-b${B:-c}d}e", &env, &mut problems),
            "abcde"
        );
        assert!(problems.is_empty(), "{problems:?}");
        interpolate("${A:-${NOPE}}", &env, &mut problems);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("NOPE is not set"), "{problems:?}");
        interpolate("${A:-${HOME}", &env, &mut problems);
        assert!(problems[1].contains("unclosed"), "{problems:?}");
    }

    #[test]
    fn limits_out_of_range_are_problems_not_wrapped_values() {
        let dir = tempfile::tempdir().unwrap();
        for (limits, message) in [
            (
                "memory_mib = 17592186044416",
                "memory_mib = 17592186044416: it must be 1 to 4096",
            ),
            ("memory_mib = 0", "memory_mib = 0"),
            ("timeout_secs = 0", "timeout_secs must be at least 1"),
            (
                "timeout_secs = 18446744073709551615",
                "timeout_secs = 18446744073709551615: it must be at most 315360000",
            ),
            ("max_open_rows = 0", "max_open_rows must be at least 1"),
        ] {
            let o = write(
                dir.path(),
                &format!("[databases.a]\nurl = \"sqlite://a.db\"\n[limits]\n{limits}\n"),
            );
            let err = read(dir.path(), &o, &env).unwrap_err().to_string();
            assert!(err.contains(message), "{limits}: {err}");
        }
        let o = write(
            dir.path(),
            "[databases.a]\nurl = \"sqlite://a.db\"\n[limits]\nmemory_mib = 4096\n",
        );
        assert_eq!(
            read(dir.path(), &o, &env).unwrap().limits.memory_bytes,
            4096 << 20
        );
    }

    #[test]
    fn the_whole_file_system_is_no_capability() {
        let dir = tempfile::tempdir().unwrap();
        for root in ["/", "/.", "/tmp/.."] {
            let o = write(
                dir.path(),
                &format!(
                    "[databases.a]\nurl = \"sqlite://a.db\"\n[databases.a.capabilities]\nall = \"{root}\"\n"
                ),
            );
            let err = read(dir.path(), &o, &env).unwrap_err().to_string();
            assert!(
                err.contains("cannot be the whole file system"),
                "{root}: {err}"
            );
        }
        let o = write(
            dir.path(),
            "[databases.a]\nurl = \"sqlite://a.db\"\n[databases.a.capabilities]\nconfig = \"config\"\n",
        );
        let p = read(dir.path(), &o, &env).unwrap();
        assert_eq!(
            p.databases[0].capabilities["config"],
            dir.path().join("config")
        );
    }

    #[test]
    fn offline_commands_expand_and_check_no_url() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = write(
            dir.path(),
            "[databases.a]\nurl = \"${MISSING}\"\n[databases.b]\nurl = \"${ALSO_MISSING}\"\n",
        );
        assert!(read(dir.path(), &o, &env).is_err());
        o.offline = true;
        let p = read(dir.path(), &o, &env).unwrap();
        assert_eq!(p.databases.len(), 2);
        assert!(p.databases.iter().all(|d| d.url.is_empty()));
        assert_eq!(p.databases[1].migrations, dir.path().join("migrations"));
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let o = write(
            dir.path(),
            "[databases.a]\nurl = \"${MISSING}\"\n[databases.b]\nurl = \"http://x\"\n[databases.c]\nurl = \"sqlite://c\"\ncolour = \"red\"\n",
        );
        let err = read(dir.path(), &o, &env).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("MISSING is not set"), "{text}");
        assert!(text.contains("must start with sqlite://"), "{text}");
        assert!(text.contains("colour"), "{text}");
        assert!(err.problems.len() >= 3, "{text}");
    }

    #[test]
    fn database_url_overrides_a_single_database_or_stands_alone() {
        let dir = tempfile::tempdir().unwrap();
        let o = Overrides {
            database_url: Some("sqlite://x.db".into()),
            ..Default::default()
        };
        let p = read(dir.path(), &o, &env).unwrap();
        assert_eq!(p.databases[0].url, "sqlite://x.db");
        let err = read(dir.path(), &Overrides::default(), &env).unwrap_err();
        assert!(err.to_string().contains("has no URL"));
    }

    /// The library's messages name no flag of the binary; the binary's names are its own.
    #[test]
    fn problems_name_the_settings_as_the_caller_does() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = write(
            dir.path(),
            "[databases.a]\nurl = \"sqlite://a.db\"\n[databases.b]\nurl = \"sqlite://b.db\"\n",
        );
        o.database_url = Some("sqlite://x.db".into());
        let text = read(dir.path(), &o, &env).unwrap_err().to_string();
        assert_eq!(
            text,
            "the database URL given names one database but the project has 2: choose one database"
        );
        o.names.database_url = "--database-url";
        o.names.choose_one = "choose one with -d NAME";
        let text = read(dir.path(), &o, &env).unwrap_err().to_string();
        assert_eq!(
            text,
            "--database-url names one database but the project has 2: choose one with -d NAME"
        );
    }
}
