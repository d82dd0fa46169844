//! `retort import --from TOOL DIR`: converts another tool's SQL migrations into Retort SQL
//! migrations (`<id>_<slug>.up.sql` / `.down.sql` with a `-- retort:` header), chained in the
//! tool's order, keeping each tool's no-transaction marker.
//!
//! | tool | layout read | no-transaction marker |
//! |---|---|---|
//! | sqlx | `<version>_<desc>.sql`, or `.up.sql` + `.down.sql` | first line `-- no-transaction` |
//! | diesel | `<yyyy-mm-dd-hhmmss>_<name>/up.sql`, `down.sql` | `metadata.toml`: `run_in_transaction = false` |
//! | golang-migrate | `<version>_<title>.up.sql`, `.down.sql` | none (runs in a transaction) |
//! | dbmate | `<version>_<name>.sql` with `-- migrate:up` / `-- migrate:down` | `-- migrate:up transaction:false` |
//! | flyway | `V<version>__<desc>.sql`, undo `U<version>__<desc>.sql` | `V….sql.conf`: `executeInTransaction=false` |
//! | refinery | `V<version>__<name>.sql`, `U…` (unversioned), subdirectories too; no downs | a line `-- refinery:noTransaction` |
//! | atlas | `<version>_<name>.sql`, by file name, verified against `atlas.sum`; no downs | `-- atlas:txmode none` |
//! | prisma | `<timestamp>_<name>/migration.sql`, by directory name; no downs | none |
//! | goose | `<version>_<name>.sql` with `-- +goose Up` / `Down` (`StatementBegin`/`End` dropped) | `-- +goose NO TRANSACTION` |
//! | liquibase | formatted SQL files (`--liquibase formatted sql`), by path, changesets in file order; `--rollback` lines and blocks are downs; `dbms:` limits engines | `runInTransaction:false` |
//! | sqitch | `sqitch.plan` (order; `[deps]` → `depends-on`), `deploy/<change>.sql`, `revert/<change>.sql` | a deploy script not wrapped in `BEGIN; … COMMIT;` |
//! | popx | `<version>_<name>[.<dialect>].(up\|down).sql`, by version string, dialect files winning; subdirectories too | `.autocommit.` (with or without a dialect) in the up file's name |

pub mod alembic;
mod atlas;
mod dbmate;
mod diesel;
mod flyway;
mod goose;
mod liquibase;
mod popx;
mod prisma;
mod refinery;
mod sqitch;
mod sqlx;

use std::path::{Path, PathBuf};

use crate::authoring::BuildError;
use crate::authoring::error::io;

/// A tool whose migrations can be imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// sqlx-cli (`sqlx migrate`).
    Sqlx,
    /// diesel_cli.
    Diesel,
    /// golang-migrate.
    GolangMigrate,
    /// dbmate.
    Dbmate,
    /// Flyway (versioned and undo migrations).
    Flyway,
    /// goose (SQL migrations).
    Goose,
    /// refinery (SQL migrations).
    Refinery,
    /// Prisma Migrate.
    Prisma,
    /// Atlas (versioned migrations).
    Atlas,
    /// popx (Ory's migrator: Kratos, Hydra, Keto).
    Popx,
    /// Liquibase formatted SQL.
    Liquibase,
    /// sqitch (`sqitch.plan`, `deploy/`, `revert/`).
    Sqitch,
    /// Alembic (Python revisions, a graph): read by [`alembic::read_dir`], written as Python
    /// migrations by [`alembic::write`].
    Alembic,
}

impl Tool {
    /// Every tool, in the order a command line lists them.
    pub const ALL: [Tool; 13] = [
        Tool::Sqlx,
        Tool::Diesel,
        Tool::GolangMigrate,
        Tool::Dbmate,
        Tool::Flyway,
        Tool::Goose,
        Tool::Refinery,
        Tool::Prisma,
        Tool::Atlas,
        Tool::Popx,
        Tool::Liquibase,
        Tool::Sqitch,
        Tool::Alembic,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Sqlx => "sqlx",
            Tool::Diesel => "diesel",
            Tool::GolangMigrate => "golang-migrate",
            Tool::Dbmate => "dbmate",
            Tool::Flyway => "flyway",
            Tool::Goose => "goose",
            Tool::Refinery => "refinery",
            Tool::Prisma => "prisma",
            Tool::Atlas => "atlas",
            Tool::Popx => "popx",
            Tool::Liquibase => "liquibase",
            Tool::Sqitch => "sqitch",
            Tool::Alembic => "alembic",
        }
    }
}

/// One migration read from another tool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    /// The Retort revision id (the tool's version, `.` and `_` turned into `-`).
    pub id: String,
    /// The tool's version as the tool writes it in its history table.
    pub version: String,
    /// Words of the file name.
    pub description: String,
    /// The upgrade script.
    pub up: String,
    /// The downgrade script ("" when the tool had none).
    pub down: String,
    /// Whether it runs in a transaction.
    pub transactional: bool,
    /// The files it came from.
    pub sources: Vec<PathBuf>,
    /// Scripts for one dialect (`postgres`, `mysql`, `sqlite`) that win over `up`/`down` there:
    /// dialect → (up, down), an absent one keeping the generic script. Written as
    /// `<stem>.<dialect>.up.sql` / `.down.sql`.
    pub variants: std::collections::BTreeMap<String, (Option<String>, Option<String>)>,
    /// Revision ids it depends on besides its parent (sqitch's `[dependencies]`).
    pub depends_on: Vec<String>,
}

/// What an import found besides migrations.
#[derive(Debug, Default)]
pub struct Report {
    /// The migrations, in the tool's order.
    pub migrations: Vec<Imported>,
    /// Files that were skipped, with why.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Refuses to write over a file an earlier import (or an author) made.
fn not_overwriting(paths: &[&Path]) -> crate::authoring::Result<()> {
    match paths.iter().find(|p| p.exists()) {
        Some(p) => Err(BuildError::Refused(format!(
            "{} exists: not overwriting",
            p.display()
        ))),
        None => Ok(()),
    }
}

fn read(path: &Path) -> crate::authoring::Result<String> {
    std::fs::read_to_string(path).map_err(io("read", &path))
}

/// The Retort revision id of a tool's version (`.`, `_` and anything else but ASCII letters,
/// digits and `-` become `-`): the one mapping used both when importing files and when
/// adopting the tool's history table.
pub fn id_of(version: &str) -> String {
    version
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn words(name: &str) -> String {
    name.replace(['_', '-'], " ").trim().to_string()
}

/// The file name of `path` (lossily, for matching the tools' naming rules).
fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// What one line of a sectioned file (dbmate, goose) is.
enum Line {
    /// Starts the up section.
    Up,
    /// Starts the down section.
    Down,
    /// A directive of the tool's own, not SQL.
    Directive,
    /// SQL of the current section.
    Sql,
}

/// The (up, down) sections of a file whose lines `classify` says what they are; `None` when
/// it has no up section. SQL before the first section marker is dropped, as the tools do.
fn sections(
    text: &str,
    mut classify: impl FnMut(&str) -> crate::authoring::Result<Line>,
) -> crate::authoring::Result<Option<(String, String)>> {
    let (mut up, mut down) = (String::new(), String::new());
    let mut section = None;
    for line in text.lines() {
        let out = match classify(line.trim())? {
            Line::Up => {
                section = Some(true);
                continue;
            }
            Line::Down => {
                section = Some(false);
                continue;
            }
            Line::Directive => continue,
            Line::Sql => match section {
                Some(true) => &mut up,
                Some(false) => &mut down,
                None => continue,
            },
        };
        out.push_str(line);
        out.push('\n');
    }
    Ok(section.map(|_| (up, down)))
}

fn entries(dir: &Path) -> crate::authoring::Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io("read", &dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    paths.sort();
    Ok(paths)
}

/// Every file in `dir` and its subdirectories, in path order (each directory's entries
/// sorted, subdirectories read where they sort): how refinery, popx and Liquibase's
/// `includeAll` find their files.
fn files_below(dir: &Path) -> crate::authoring::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in entries(dir)? {
        if path.is_dir() {
            out.extend(files_below(&path)?);
        } else {
            out.push(path);
        }
    }
    Ok(out)
}

/// `<version>_<rest>` → (version, rest) when the version is all digits.
fn numeric_prefix(name: &str) -> Option<(&str, &str)> {
    let (v, rest) = name.split_once('_')?;
    (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())).then_some((v, rest))
}

/// Puts `migrations` in the order `tool` applies them, which is not the same for all:
/// diesel sorts by its version *string* (the directory name up to the first `_`, dashes
/// removed: `2024-01-16_120000_x` has version `20240116`, which sorts after
/// `20240115093000`), Prisma by directory name, dbmate and Atlas by file name (so `10_b.sql` comes
/// before `1_a.sql`), and sqlx, golang-migrate, Flyway, goose and refinery by numeric version
/// (Flyway part by part: `1.10` after `1.9`).
fn sort_as(tool: Tool, migrations: &mut [Imported]) {
    match tool {
        // Prisma: by directory name, which is its version.
        // popx: by version string too (`migration_info.go`).
        Tool::Diesel | Tool::Prisma | Tool::Popx => {
            migrations.sort_by(|a, b| a.version.cmp(&b.version))
        }
        Tool::Dbmate | Tool::Atlas => {
            let name = |m: &Imported| m.sources.first().map(|p| file_name(p)).unwrap_or_default();
            migrations.sort_by_key(name);
        }
        Tool::Sqlx | Tool::GolangMigrate | Tool::Flyway | Tool::Goose | Tool::Refinery => {
            sort_numeric(migrations)
        }
        // Liquibase: the changelog's order (files by path, changesets in file order); sqitch:
        // the plan's. Both as read.
        Tool::Liquibase | Tool::Sqitch | Tool::Alembic => {}
    }
}

/// Sorts by numeric version (then text).
fn sort_numeric(migrations: &mut [Imported]) {
    migrations.sort_by(|a, b| {
        let key = |v: &str| -> Vec<u128> {
            v.split(['.', '_', '-'])
                .map(|p| p.parse::<u128>().unwrap_or(0))
                .collect()
        };
        key(&a.version)
            .cmp(&key(&b.version))
            .then_with(|| a.version.cmp(&b.version))
    });
}

/// The file layout `tool`'s importer reads, for a message that found none.
pub fn layout(tool: Tool) -> &'static str {
    match tool {
        Tool::Sqlx => "`<version>_<desc>.sql`, or `.up.sql` + `.down.sql`",
        Tool::Diesel => "`<yyyy-mm-dd-hhmmss>_<name>/up.sql` and `down.sql`",
        Tool::GolangMigrate => "`<version>_<title>.up.sql` and `.down.sql`",
        Tool::Dbmate => "`<version>_<name>.sql` with `-- migrate:up` / `-- migrate:down`",
        Tool::Flyway => "`V<version>__<desc>.sql`, undo `U<version>__<desc>.sql`",
        Tool::Refinery => "`V<version>__<name>.sql` (subdirectories too)",
        Tool::Atlas => "`<version>_<name>.sql` and `atlas.sum`",
        Tool::Prisma => "`<timestamp>_<name>/migration.sql`",
        Tool::Goose => "`<version>_<name>.sql` with `-- +goose Up` / `-- +goose Down`",
        Tool::Liquibase => "formatted SQL files starting `--liquibase formatted sql`",
        Tool::Sqitch => "`sqitch.plan`, `deploy/<change>.sql`, `revert/<change>.sql`",
        Tool::Popx => "`<version>_<name>[.<dialect>].(up|down).sql`",
        Tool::Alembic => "`versions/<revision>_<slug>.py` (an Alembic project or its versions/)",
    }
}

/// Reads a directory of `tool`'s migrations, in the tool's order.
pub fn read_dir(tool: Tool, dir: &Path) -> crate::authoring::Result<Report> {
    let mut report = Report::default();
    match tool {
        Tool::Sqlx | Tool::GolangMigrate => sqlx::read_dir(tool, dir, &mut report)?,
        Tool::Diesel => diesel::read_dir(dir, &mut report)?,
        Tool::Dbmate => dbmate::read_dir(dir, &mut report)?,
        Tool::Flyway => flyway::read_dir(dir, &mut report)?,
        Tool::Goose => goose::read_dir(dir, &mut report)?,
        Tool::Refinery => refinery::read_dir(dir, &mut report)?,
        Tool::Prisma => prisma::read_dir(dir, &mut report)?,
        Tool::Atlas => atlas::read_dir(dir, &mut report)?,
        Tool::Popx => popx::read_dir(dir, &mut report)?,
        Tool::Liquibase => liquibase::read_dir(dir, &mut report)?,
        Tool::Sqitch => sqitch::read_dir(dir, &mut report)?,
        Tool::Alembic => {
            return Err(BuildError::Refused(
                "an Alembic history is Python and a graph, not SQL files in order: read it \
                 with `import::alembic::read_dir`"
                    .into(),
            ));
        }
    }
    sort_as(tool, &mut report.migrations);
    let mut seen = std::collections::BTreeSet::new();
    for m in &report.migrations {
        if !seen.insert(m.id.clone()) {
            return Err(BuildError::Refused(format!(
                "two migrations have version {} in {}",
                m.version,
                dir.display()
            )));
        }
    }
    refuse_same_number(tool, &report.migrations, dir)?;
    Ok(report)
}

/// Tools that order by numeric version read `1_a` and `01_b` as the same version, and refuse
/// the pair (golang-migrate: "duplicate migration file"): so does the import, rather than
/// make two revisions of what the tool never ran as two.
fn refuse_same_number(
    tool: Tool,
    migrations: &[Imported],
    dir: &Path,
) -> crate::authoring::Result<()> {
    if !matches!(
        tool,
        Tool::Sqlx | Tool::GolangMigrate | Tool::Flyway | Tool::Goose | Tool::Refinery
    ) {
        return Ok(());
    }
    let key = |v: &str| -> Vec<u128> {
        v.split(['.', '_', '-'])
            .map(|p| p.parse::<u128>().unwrap_or(0))
            .collect()
    };
    // Sorted by that key already: equal keys are neighbours.
    for pair in migrations.windows(2) {
        if key(&pair[0].version) == key(&pair[1].version) {
            let shown = |m: &Imported| {
                m.sources
                    .first()
                    .map(|p| file_name(p))
                    .unwrap_or_else(|| m.version.clone())
            };
            return Err(BuildError::Refused(format!(
                "{} and {} in {} have the same version to {} ({} = {}): it would refuse them, \
                 so the import does too; renumber one",
                shown(&pair[0]),
                shown(&pair[1]),
                dir.display(),
                tool.name(),
                pair[0].version,
                pair[1].version
            )));
        }
    }
    Ok(())
}

/// Writes the migrations into `into` as Retort SQL migrations chained in order after
/// `parent` (the current head of `into`, if any). Refuses to overwrite.
pub fn write(
    into: &Path,
    migrations: &[Imported],
    parent: Option<&str>,
) -> crate::authoring::Result<Vec<PathBuf>> {
    // SQL migrations need no cargo workspace: they run on the SQL runtime Retort ships.
    std::fs::create_dir_all(into).map_err(io("create", &into))?;
    let mut written = Vec::new();
    let mut previous = parent.map(str::to_string);
    for m in migrations {
        let slug = crate::authoring::scaffold::slug(&m.description);
        let stem = if slug.is_empty() {
            m.id.clone()
        } else {
            format!("{}_{slug}", m.id)
        };
        let up_path = into.join(format!("{stem}.up.sql"));
        let down_path = into.join(format!("{stem}.down.sql"));
        not_overwriting(&[&up_path, &down_path])?;
        let depends = if m.depends_on.is_empty() {
            String::new()
        } else {
            format!("-- retort: depends-on = {}\n", m.depends_on.join(" "))
        };
        let header = format!(
            "-- retort: parents = {}\n-- retort: description = {}\n-- retort: transaction = {}\n\
             {depends}-- imported from {}\n",
            previous.as_deref().unwrap_or("none"),
            m.description,
            m.transactional,
            m.sources
                .iter()
                .map(|s| s
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        );
        std::fs::write(&up_path, format!("{header}{}", m.up)).map_err(io("write", &up_path))?;
        std::fs::write(&down_path, &m.down).map_err(io("write", &down_path))?;
        for (dialect, (up, down)) in &m.variants {
            for (kind, text) in [("up", up), ("down", down)] {
                if let Some(text) = text {
                    let path = into.join(format!("{stem}.{dialect}.{kind}.sql"));
                    not_overwriting(&[&path])?;
                    std::fs::write(&path, text).map_err(io("write", &path))?;
                }
            }
        }
        written.push(up_path);
        previous = Some(m.id.clone());
    }
    Ok(written)
}

/// The versions another tool recorded as applied, read from its history table, oldest first.
/// (golang-migrate keeps only its current version: every version up to it is applied.)
pub fn applied_versions_sql(tool: Tool) -> &'static str {
    match tool {
        Tool::Sqlx => {
            "SELECT CAST(version AS CHAR(32)) FROM _sqlx_migrations WHERE success ORDER BY version"
        }
        Tool::Diesel => "SELECT version FROM __diesel_schema_migrations ORDER BY version",
        Tool::GolangMigrate => {
            "SELECT CAST(version AS CHAR(32)) FROM schema_migrations WHERE NOT dirty"
        }
        Tool::Dbmate => "SELECT version FROM schema_migrations ORDER BY version",
        Tool::Flyway => {
            "SELECT version FROM flyway_schema_history WHERE success AND version IS NOT NULL ORDER BY installed_rank"
        }
        Tool::Refinery => "SELECT version FROM refinery_schema_history ORDER BY version",
        // A revision Atlas applied every statement of (the table in the connected schema).
        Tool::Atlas => {
            "SELECT version FROM atlas_schema_revisions WHERE applied = total ORDER BY version"
        }
        // A migration Prisma finished and did not mark rolled back (`migrate resolve`).
        Tool::Prisma => {
            "SELECT migration_name FROM _prisma_migrations \
             WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY migration_name"
        }
        // Changesets Liquibase ran or marked ran, in the order it did (unquoted: Liquibase
        // creates it upper case on MySQL, PostgreSQL folds it to lower case).
        Tool::Liquibase => {
            "SELECT ID FROM DATABASECHANGELOG WHERE EXECTYPE IN ('EXECUTED', 'MARK_RAN', 'RERAN') \
             ORDER BY ORDEREXECUTED"
        }
        // sqitch's registry: a schema (PostgreSQL) or database (MySQL) `sqitch`. `c.change`:
        // MySQL reserves CHANGE, but not after a qualifier.
        Tool::Sqitch => "SELECT c.change FROM sqitch.changes c ORDER BY c.committed_at",
        // popx's default table (pop's `schema_migration`); it records the versions it ran.
        Tool::Popx => "SELECT version FROM schema_migration ORDER BY version",
        // goose appends a row per apply and per rollback; a version's newest row says whether
        // it is applied. Version 0 is the row goose writes when it creates the table.
        Tool::Goose => {
            "SELECT g.version_id FROM goose_db_version g WHERE g.version_id > 0 AND g.is_applied \
             AND g.id = (SELECT MAX(h.id) FROM goose_db_version h WHERE h.version_id = g.version_id) \
             ORDER BY g.version_id"
        }
        // One row per head Alembic's database is at (the path below each is applied).
        Tool::Alembic => "SELECT version_num FROM alembic_version ORDER BY version_num",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path, list: &[(&str, &str)]) {
        for (name, text) in list {
            let p = dir.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
    }

    const FUNCTION: &str = "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN NEW.updated := now(); RETURN NEW; END;\n$$;\n";

    fn summary(r: &Report) -> Vec<(String, bool, bool)> {
        r.migrations
            .iter()
            .map(|m| (m.id.clone(), m.transactional, m.down.trim().is_empty()))
            .collect()
    }

    #[test]
    fn sqlx_simple_and_reversible() {
        let d = tempfile::tempdir().unwrap();
        files(
            d.path(),
            &[
                (
                    "20240101000000_create_users.up.sql",
                    "CREATE TABLE users (id INT);",
                ),
                ("20240101000000_create_users.down.sql", "DROP TABLE users;"),
                ("20240102000000_touch_function.up.sql", FUNCTION),
                ("20240102000000_touch_function.down.sql", ""),
                (
                    "20240103000000_index.sql",
                    "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON users (id);",
                ),
                ("README.md", "notes"),
            ],
        );
        let r = read_dir(Tool::Sqlx, d.path()).unwrap();
        assert_eq!(
            summary(&r),
            [
                ("20240101000000".into(), true, false),
                ("20240102000000".into(), true, true),
                ("20240103000000".into(), false, true)
            ]
        );
        assert_eq!(r.migrations[1].up, FUNCTION);
        assert_eq!(r.migrations[0].description, "create users");
    }

    #[test]
    fn diesel_directories_and_metadata() {
        let d = tempfile::tempdir().unwrap();
        files(
            d.path(),
            &[
                (
                    "2024-01-01-000000_create_users/up.sql",
                    "CREATE TABLE users (id INT);",
                ),
                (
                    "2024-01-01-000000_create_users/down.sql",
                    "DROP TABLE users;",
                ),
                ("2024-02-01-120000_touch/up.sql", FUNCTION),
                ("2024-02-01-120000_touch/down.sql", "-- nothing\n"),
                (
                    "2024-03-01-000000_index/up.sql",
                    "CREATE INDEX CONCURRENTLY i ON users (id);",
                ),
                ("2024-03-01-000000_index/down.sql", "DROP INDEX i;"),
                (
                    "2024-03-01-000000_index/metadata.toml",
                    "run_in_transaction = false\n",
                ),
            ],
        );
        let r = read_dir(Tool::Diesel, d.path()).unwrap();
        assert_eq!(
            summary(&r),
            [
                ("20240101000000".into(), true, false),
                // A comment-only down: kept, and a no-op when it runs.
                ("20240201120000".into(), true, false),
                ("20240301000000".into(), false, false)
            ]
        );
    }

    #[test]
    fn diesel_orders_by_version_string_and_dbmate_by_file_name() {
        let d = tempfile::tempdir().unwrap();
        files(
            d.path(),
            &[
                ("2024-01-16_120000_short_version/up.sql", "SELECT 3;"),
                ("2024-01-15-093000_second/up.sql", "SELECT 2;"),
                ("2023-12-01-120000_first/up.sql", "SELECT 1;"),
            ],
        );
        let r = read_dir(Tool::Diesel, d.path()).unwrap();
        let versions: Vec<&str> = r.migrations.iter().map(|m| m.version.as_str()).collect();
        // Numerically `20240116` would come first, as a root; diesel runs it last.
        assert_eq!(versions, ["20231201120000", "20240115093000", "20240116"]);
        assert_eq!(r.migrations[2].description, "120000 short version");

        let d = tempfile::tempdir().unwrap();
        let dbmate = |sql: &str| format!("-- migrate:up\n{sql}\n-- migrate:down\n");
        files(
            d.path(),
            &[
                ("1_a.sql", &dbmate("SELECT 1;")),
                ("10_b.sql", &dbmate("SELECT 10;")),
                ("2_c.sql", &dbmate("SELECT 2;")),
            ],
        );
        let r = read_dir(Tool::Dbmate, d.path()).unwrap();
        let versions: Vec<&str> = r.migrations.iter().map(|m| m.version.as_str()).collect();
        assert_eq!(versions, ["10", "1", "2"]);
    }

    #[test]
    fn goose_sections_statement_blocks_and_no_transaction() {
        let d = tempfile::tempdir().unwrap();
        files(
            d.path(),
            &[
                (
                    "00002_add_function.sql",
                    "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END $$ LANGUAGE plpgsql;\n-- +goose StatementEnd\n\n-- +goose Down\nDROP FUNCTION f();\n",
                ),
                (
                    "00001_create_users.sql",
                    "-- a comment before the first section\n-- +goose Up\nCREATE TABLE users (id INT);\n-- +goose Down\nDROP TABLE users;\n",
                ),
                (
                    "00010_index.sql",
                    "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY i ON users (id);\n-- +goose Down\nDROP INDEX i;\n",
                ),
                ("00003_seed.go", "package migrations"),
            ],
        );
        let r = read_dir(Tool::Goose, d.path()).unwrap();
        assert_eq!(
            summary(&r),
            [
                ("1".into(), true, false),
                ("2".into(), true, false),
                ("10".into(), false, false)
            ]
        );
        assert_eq!(r.migrations[0].up, "CREATE TABLE users (id INT);\n");
        assert!(
            !r.migrations[1].up.contains("+goose"),
            "{}",
            r.migrations[1].up
        );
        assert_eq!(r.migrations[1].down, "DROP FUNCTION f();\n");
        assert_eq!(r.skipped.len(), 1);
        assert!(r.skipped[0].1.contains("Go migration"));

        std::fs::write(
            d.path().join("00011_env.sql"),
            "-- +goose ENVSUB ON\n-- +goose Up\nSELECT '${X}';\n",
        )
        .unwrap();
        let e = read_dir(Tool::Goose, d.path()).unwrap_err().chain();
        assert!(e.contains("00011_env.sql") && e.contains("ENVSUB"), "{e}");
    }

    #[test]
    fn the_same_number_written_twice_is_refused_as_the_tool_refuses_it() {
        let d = tempfile::tempdir().unwrap();
        files(
            d.path(),
            &[
                ("1_a.up.sql", "CREATE TABLE a (id INT);"),
                ("01_b.up.sql", "CREATE TABLE b (id INT);"),
                ("2_c.up.sql", "CREATE TABLE c (id INT);"),
            ],
        );
        let e = read_dir(Tool::GolangMigrate, d.path()).unwrap_err().chain();
        assert!(
            e.contains("01_b.up.sql") && e.contains("1_a.up.sql") && e.contains("same version"),
            "{e}"
        );
        std::fs::remove_file(d.path().join("01_b.up.sql")).unwrap();
        assert_eq!(
            read_dir(Tool::GolangMigrate, d.path())
                .unwrap()
                .migrations
                .len(),
            2
        );
    }

    #[test]
    fn golang_migrate_orders_numerically() {
        let d = tempfile::tempdir().unwrap();
        files(
            d.path(),
            &[
                ("2_touch.up.sql", FUNCTION),
                ("2_touch.down.sql", ""),
                ("10_index.up.sql", "CREATE INDEX i ON users (id);"),
                ("10_index.down.sql", "DROP INDEX i;"),
                ("1_create_users.up.sql", "CREATE TABLE users (id INT);"),
                ("1_create_users.down.sql", "DROP TABLE users;"),
            ],
        );
        let r = read_dir(Tool::GolangMigrate, d.path()).unwrap();
        let ids: Vec<_> = r.migrations.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "10"]);
    }

    #[test]
    fn dbmate_sections_and_transaction_option() {
        let d = tempfile::tempdir().unwrap();
        files(
            d.path(),
            &[
                (
                    "20240101000000_create_users.sql",
                    "-- migrate:up\nCREATE TABLE users (id INT);\n\n-- migrate:down\nDROP TABLE users;\n",
                ),
                (
                    "20240102000000_touch.sql",
                    &format!("-- migrate:up\n{FUNCTION}\n-- migrate:down\n"),
                ),
                (
                    "20240103000000_index.sql",
                    "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON users (id);\n-- migrate:down\nDROP INDEX i;\n",
                ),
            ],
        );
        let r = read_dir(Tool::Dbmate, d.path()).unwrap();
        assert_eq!(
            summary(&r),
            [
                ("20240101000000".into(), true, false),
                ("20240102000000".into(), true, true),
                ("20240103000000".into(), false, false)
            ]
        );
        assert!(r.migrations[1].up.contains("RETURN NEW; END;"));
    }

    #[test]
    fn flyway_versions_undo_conf_and_repeatables() {
        let d = tempfile::tempdir().unwrap();
        files(
            d.path(),
            &[
                ("V1__create_users.sql", "CREATE TABLE users (id INT);"),
                ("U1__create_users.sql", "DROP TABLE users;"),
                ("V1.1__touch.sql", FUNCTION),
                (
                    "V2__index.sql",
                    "CREATE INDEX CONCURRENTLY i ON users (id);",
                ),
                ("V2__index.sql.conf", "executeInTransaction=false\n"),
                (
                    "R__report_view.sql",
                    "CREATE OR REPLACE VIEW v AS SELECT 1;",
                ),
            ],
        );
        let r = read_dir(Tool::Flyway, d.path()).unwrap();
        assert_eq!(
            summary(&r),
            [
                ("1".into(), true, false),
                ("1-1".into(), true, true),
                ("2".into(), false, true)
            ]
        );
        assert_eq!(r.skipped.len(), 1, "{:?}", r.skipped);
    }

    #[test]
    fn written_migrations_chain_and_parse_back() {
        let d = tempfile::tempdir().unwrap();
        files(
            d.path(),
            &[
                ("1_a.up.sql", "CREATE TABLE a (id INT);"),
                ("2_b.up.sql", "CREATE TABLE b (id INT);"),
            ],
        );
        let r = read_dir(Tool::GolangMigrate, d.path()).unwrap();
        let out = tempfile::tempdir().unwrap();
        write(out.path(), &r.migrations, Some("0")).unwrap();
        let parsed = crate::authoring::guest::sql_migrations(out.path()).unwrap();
        let chain: Vec<_> = parsed
            .iter()
            .map(|m| (m.id.clone(), m.parents.clone()))
            .collect();
        assert_eq!(
            chain,
            [
                ("1".into(), vec!["0".to_string()]),
                ("2".into(), vec!["1".to_string()])
            ]
        );
        assert!(
            write(out.path(), &r.migrations, None).is_err(),
            "no overwriting"
        );
    }
}
