//! `retort new --autogenerate`: a SQL migration, with its downgrade, from the difference
//! between the current schema and the declared one. What is created is written as the
//! declared file writes it (its `CREATE` statements, its column definitions); what is
//! dropped is restored in the downgrade from the current catalog's definitions. A column's
//! type, nullability or default is changed with PostgreSQL's `ALTER COLUMN` actions or
//! MySQL's `MODIFY COLUMN`, undone from the catalog's old definition; a constraint of an
//! existing table is added or dropped from the catalog's definition (PostgreSQL's
//! `pg_get_constraintdef`, MySQL's checks and foreign keys). Changes it cannot write safely
//! (on SQLite a column or constraint, which need a table rebuild; MySQL's unique and primary
//! keys of an existing table) are listed in the file for the author, never guessed.

use std::collections::BTreeSet;

use crate::core::Dialect;
use crate::core::lint::{table_at, words};
use crate::core::snapshot::{Difference, Snapshot};
use crate::db::catalog::CatalogColumn;
use crate::db::ddl::{
    self, Column, ColumnChange, ColumnType, ConstraintKind, DefaultChange, Facts, MysqlColumn,
    Operation,
};

/// A generated migration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Generated {
    /// The upgrade's statements, in order.
    pub up: Vec<String>,
    /// The downgrade's statements, in order.
    pub down: Vec<String>,
    /// What the author must look at: changes not written, possible renames.
    pub notes: Vec<String>,
    /// The destructive operations it contains (drops), for the confirmation.
    pub destructive: Vec<String>,
}

/// The top-level elements between the outer parentheses of a `CREATE TABLE` (column and
/// constraint definitions), comments dropped, whitespace collapsed; none for text that is
/// not a readable `CREATE TABLE` (the catalog's and the declared file's always are).
pub fn elements(sql: &str) -> Vec<String> {
    crate::core::table::TableText::parse(sql)
        .map(|t| t.squashed_elements())
        .unwrap_or_default()
}

/// What a declared statement creates: its kind (`TABLE`, `INDEX`, `VIEW`, …) and name.
fn creates(statement: &str, engine: Dialect) -> Option<(String, String)> {
    let w = words(statement, engine).words;
    if w.first().map(String::as_str) != Some("CREATE") {
        return None;
    }
    let modifiers = [
        "OR",
        "REPLACE",
        "UNIQUE",
        "TEMP",
        "TEMPORARY",
        "MATERIALIZED",
        "DEFINER",
        "=",
    ];
    let at = w
        .iter()
        .skip(1)
        .position(|x| !modifiers.contains(&x.as_str()))?
        + 1;
    let kind = w.get(at)?.clone();
    let mut name_at = at + 1;
    if w.get(name_at).map(String::as_str) == Some("CONCURRENTLY") {
        name_at += 1;
    }
    Some((kind, table_at(&w, name_at)?))
}

/// The name an element (column definition) starts with, lower-cased and unquoted.
fn element_name(element: &str) -> String {
    element
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_matches(|c| c == '"' || c == '`' || c == '[' || c == ']')
        .to_lowercase()
}

/// `op` as `db::ddl` writes it on `engine`, in the transaction a SQL migration runs in, when
/// that is one statement; `facts` are what the writer restates (MySQL's column).
fn written(engine: Dialect, op: &Operation, facts: &Facts) -> Option<String> {
    let plan = ddl::plan(engine, op, facts, true).ok()?;
    let simple = plan.foreign_key_check.is_empty() && plan.finally.is_empty();
    match plan.statements.as_slice() {
        [one] if simple => Some(one.clone()),
        _ => None,
    }
}

/// A dropped column restored from its catalog definition: its type (with MySQL's
/// collation), nullability, default and identity, as `db::ddl` writes a column; `None` where
/// the catalog's definition holds what a column definition cannot restate (a generated
/// column, PostgreSQL's `identity always`, MySQL's `on update …`).
fn restored_column(engine: Dialect, name: &str, definition: &str) -> Option<Column> {
    let c = CatalogColumn::parse(engine, definition)?;
    let identity = match (engine, c.extra.as_str()) {
        (_, "") => false,
        (Dialect::Postgres, "identity by default") | (Dialect::Mysql, "auto_increment") => true,
        _ => return None,
    };
    if c.generated {
        return None;
    }
    let data_type = match &c.collation {
        Some(collation) => format!("{} COLLATE {collation}", c.data_type),
        None => c.data_type.clone(),
    };
    Some(Column {
        name: name.to_string(),
        data_type: ColumnType::Native(data_type),
        nullable: !c.not_null,
        // An identity's default is its sequence, which the identity brings back.
        default_value: if identity { None } else { c.default },
        identity,
    })
}

/// The change taking a column from `from` to `to` (what differs only); `None` when nothing
/// a column change restates differs.
fn column_change(
    table: &str,
    column: &str,
    from: &CatalogColumn,
    to: &CatalogColumn,
) -> Option<ColumnChange> {
    let data_type = (from.data_type != to.data_type || from.collation != to.collation).then(|| {
        ColumnType::Native(match &to.collation {
            Some(collation) => format!("{} COLLATE {collation}", to.data_type),
            None => to.data_type.clone(),
        })
    });
    let nullable = (from.not_null != to.not_null).then_some(!to.not_null);
    let default_value = (from.default != to.default).then(|| match &to.default {
        Some(d) => DefaultChange::Set(d.clone()),
        None => DefaultChange::Drop,
    });
    (data_type.is_some() || nullable.is_some() || default_value.is_some()).then(|| ColumnChange {
        table: table.to_string(),
        column: column.to_string(),
        data_type,
        nullable,
        default_value,
    })
}

/// What MySQL's `MODIFY COLUMN` restates of a column as the catalog had it, with `comment`.
fn mysql_facts(c: &CatalogColumn, comment: String) -> Facts {
    Facts {
        mysql: Some(MysqlColumn {
            column_type: c.data_type.clone(),
            nullable: !c.not_null,
            default: c.default.clone(),
            extra: c.extra.clone(),
            collation: c.collation.clone(),
            comment,
        }),
        ..Facts::default()
    }
}

/// The text of a `COMMENT '…'` clause in a column definition, unquoted (empty: none).
fn declared_comment(element: &str) -> String {
    let upper = element.to_ascii_uppercase();
    let Some(at) = upper.find(" COMMENT '") else {
        return String::new();
    };
    let quoted = &element[at + " COMMENT '".len()..];
    let mut out = String::new();
    let mut chars = quoted.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if chars.peek() == Some(&'\'') => {
                chars.next();
                out.push('\'');
            }
            '\'' => break,
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Which table an object key belongs to (`column T.c`, `index T.i` on MySQL, …), given the
/// catalog definition (SQLite and PostgreSQL index definitions name their table).
fn table_of(key: &str, definition: &str, engine: Dialect) -> Option<String> {
    let (kind, name) = key.split_once(' ')?;
    match kind {
        "column" | "constraint" | "check" | "trigger" => {
            Some(name.split('.').next()?.to_lowercase())
        }
        "foreign" => Some(
            name.trim_start_matches("key ")
                .split('.')
                .next()?
                .to_lowercase(),
        ),
        "index" if engine == Dialect::Mysql => Some(name.split('.').next()?.to_lowercase()),
        "index" => {
            let w = words(definition, engine).words;
            let on = w.iter().position(|x| x == "ON")?;
            table_at(&w, on + 1)
        }
        _ => None,
    }
}

fn is_table(key: &str, definition: &str, engine: Dialect) -> Option<String> {
    let (kind, name) = key.split_once(' ')?;
    let table = match engine {
        Dialect::Postgres => kind == "relation" && definition == "table",
        Dialect::Mysql => kind == "table" && definition.starts_with("BASE TABLE"),
        Dialect::Sqlite => kind == "table",
    };
    table.then(|| name.to_lowercase())
}

/// The SQL that recreates an object as the current catalog defines it, where the catalog
/// gives it whole.
fn recreate(key: &str, definition: &str, engine: Dialect) -> Option<String> {
    let (kind, name) = key.split_once(' ')?;
    match (kind, engine) {
        ("table" | "index" | "view" | "trigger", Dialect::Sqlite) => Some(definition.to_string()),
        ("index", Dialect::Postgres) => Some(definition.to_string()),
        ("view", Dialect::Postgres | Dialect::Mysql) => Some(format!(
            "CREATE VIEW {} AS {}",
            ddl::quote(engine, name),
            definition.trim().trim_end_matches(';')
        )),
        ("index", Dialect::Mysql) => {
            let (table, index) = name.split_once('.')?;
            let (unique, rest) = match definition.strip_prefix("unique ") {
                Some(rest) => ("UNIQUE ", rest),
                None => ("", definition),
            };
            let columns = &rest[rest.find('(')?..];
            Some(format!(
                "CREATE {unique}INDEX {} ON {} {columns}",
                ddl::quote(engine, index),
                ddl::quote(engine, table)
            ))
        }
        _ => None,
    }
}

/// The statement dropping the object `key`, whose definition (the catalog's, or the
/// declared statement creating it) is `definition`.
fn drop_statement(key: &str, definition: &str, engine: Dialect) -> Option<String> {
    let (kind, name) = key.split_once(' ')?;
    Some(match (kind, engine) {
        ("index", _) => {
            let table = table_of(key, definition, engine)?;
            let index = name.rsplit('.').next().unwrap_or(name);
            let op = Operation::DropIndex((table, index.to_string(), false));
            written(engine, &op, &Facts::default())?
        }
        ("view", _) => format!("DROP VIEW {}", ddl::quote(engine, name)),
        ("trigger", Dialect::Sqlite) => format!("DROP TRIGGER {}", ddl::quote(engine, name)),
        _ => return None,
    })
}

/// One statement of the upgrade and the downgrade statement that undoes it.
struct Pair {
    up: String,
    down: Option<String>,
}

/// The migration being written: statement pairs in three groups (drops of what is on tables
/// and then of tables; creations of tables and columns; then what goes on tables), so the
/// upgrade runs drops, creations, the rest, and the downgrade undoes them in reverse.
struct Planner<'a> {
    engine: Dialect,
    declared_sql: &'a [String],
    current: &'a Snapshot,
    created_tables: BTreeSet<String>,
    dropped_tables: BTreeSet<String>,
    views: BTreeSet<String>,
    /// Names of constraints the differences add or drop that own an index of the same name
    /// (PostgreSQL's unique and primary keys; MySQL's foreign keys): the index comes and goes
    /// with the constraint.
    constraint_indexes: BTreeSet<String>,
    drops: Vec<Pair>,
    creations: Vec<Pair>,
    later: Vec<Pair>,
    g: Generated,
}

/// The constraints of the differences that own an index of their name (lower case).
fn constraint_indexes(differences: &[Difference], engine: Dialect) -> BTreeSet<String> {
    differences
        .iter()
        .filter_map(|d| {
            let (object, definition) = match d {
                Difference::Added { object, definition }
                | Difference::Removed { object, definition } => (object, definition.as_str()),
                Difference::Changed { object, after, .. } => (object, after.as_str()),
            };
            let owns = match engine {
                Dialect::Postgres => {
                    object.starts_with("constraint ")
                        && (definition.starts_with("UNIQUE")
                            || definition.starts_with("PRIMARY KEY")
                            || definition.starts_with("EXCLUDE"))
                }
                Dialect::Mysql => object.starts_with("foreign key "),
                Dialect::Sqlite => false,
            };
            owns.then(|| object.rsplit('.').next().unwrap_or(object).to_lowercase())
        })
        .collect()
}

/// The tables the differences add (`Added`) or drop (`Removed`).
fn tables(differences: &[Difference], engine: Dialect, added: bool) -> BTreeSet<String> {
    differences
        .iter()
        .filter_map(|d| match (d, added) {
            (Difference::Added { object, definition }, true)
            | (Difference::Removed { object, definition }, false) => {
                is_table(object, definition, engine)
            }
            _ => None,
        })
        .collect()
}

impl Planner<'_> {
    /// The declared statement creating `kind` `name`.
    fn statement_for(&self, kind: &str, name: &str) -> Option<String> {
        self.declared_sql
            .iter()
            .find(|s| {
                creates(s, self.engine)
                    .is_some_and(|(k, n)| k == kind && n.eq_ignore_ascii_case(name))
            })
            .cloned()
    }

    fn note(&mut self, note: String) {
        self.g.notes.push(note);
    }

    fn create_tables(&mut self) {
        for table in self.created_tables.clone() {
            match self.statement_for("TABLE", &table) {
                Some(create) => self.creations.push(Pair {
                    up: create,
                    down: self.written(&Operation::DropTable(table.clone())),
                }),
                None => self.note(format!(
                    "table {table}: not created (no CREATE TABLE {table} in the declared file)"
                )),
            }
        }
    }

    fn add_column(&mut self, object: &str, name: &str) {
        let (t, c) = name.split_once('.').unwrap_or((name, ""));
        let element = self.statement_for("TABLE", t).and_then(|s| {
            elements(&s)
                .into_iter()
                .find(|e| element_name(e) == c.to_lowercase())
        });
        match element {
            Some(e) => self.creations.push(Pair {
                up: format!("ALTER TABLE {} ADD COLUMN {e}", self.quote(t)),
                down: self.written(&Operation::DropColumn((t.to_string(), c.to_string()))),
            }),
            None => self.note(format!(
                "{object}: to add, not found in the declared CREATE TABLE {t}"
            )),
        }
    }

    fn drop_column(&mut self, name: &str, definition: &str) {
        let (t, c) = name.split_once('.').unwrap_or((name, ""));
        let down = match self.engine {
            // SQLite's catalog gives the column's definition only inside its table's.
            Dialect::Sqlite => self.current.get(&format!("table {t}")).and_then(|s| {
                elements(s)
                    .into_iter()
                    .find(|e| element_name(e) == c.to_lowercase())
                    .map(|e| format!("ALTER TABLE {} ADD COLUMN {e}", self.quote(t)))
            }),
            _ => restored_column(self.engine, c, definition)
                .and_then(|column| self.written(&Operation::AddColumn((t.to_string(), column)))),
        };
        let Some(up) = self.written(&Operation::DropColumn((t.to_string(), c.to_string()))) else {
            return self.note(format!("column {name}: to drop, not written"));
        };
        self.g.destructive.push(format!("drop column {t}.{c}"));
        self.drops.push(Pair { up, down });
    }

    /// `name` quoted as `db::ddl` quotes names on this engine.
    fn quote(&self, name: &str) -> String {
        ddl::quote(self.engine, name)
    }

    /// `op` as `db::ddl` writes it on this engine (see [`written`]).
    fn written(&self, op: &Operation) -> Option<String> {
        written(self.engine, op, &Facts::default())
    }

    /// An index, view, trigger, routine, sequence or type to create from its declared
    /// statement (on a new table, only an index the file creates on its own).
    fn create_object(&mut self, object: &str, kind: &str, name: &str, on_created: bool) {
        let plain = name.rsplit('.').next().unwrap_or(name);
        let plain = plain.split('(').next().unwrap_or(plain);
        match self.statement_for(&kind.to_uppercase(), plain) {
            Some(create) => self.later.push(Pair {
                down: drop_statement(object, &create, self.engine),
                up: create,
            }),
            // An index the CREATE TABLE makes (a primary key's) comes with the table.
            None if on_created => {}
            None => self.note(format!(
                "{object}: to create, no CREATE statement for it in the declared file"
            )),
        }
    }

    /// A column's type, nullability or default changed: `db::ddl`'s column change from
    /// the catalog's old definition to the new one (PostgreSQL's `ALTER COLUMN` actions,
    /// MySQL's `MODIFY COLUMN` restating the rest of the column) and back for the downgrade.
    /// SQLite cannot, short of a table rebuild, which a SQL migration cannot make safely:
    /// noted, pointing at the portable operation.
    fn change_column(&mut self, object: &str, name: &str, before: &str, after: &str) {
        let (t, c) = name.split_once('.').unwrap_or((name, ""));
        let unwritten = |why: &str| {
            format!("{object}: changed from `{before}` to `{after}`: not written ({why})")
        };
        if self.engine == Dialect::Sqlite {
            return self.note(unwritten(
                "SQLite changes a column only by rebuilding its table; write the migration in \
                 Rust, Python or JavaScript with the portable `alter-column` operation, which \
                 rebuilds it safely (docs/schema-operations.md)",
            ));
        }
        let (Some(b), Some(a)) = (
            CatalogColumn::parse(self.engine, before),
            CatalogColumn::parse(self.engine, after),
        ) else {
            return self.note(unwritten("the catalog's definitions are unreadable"));
        };
        if b.generated || a.generated || b.extra != a.extra {
            return self.note(unwritten(
                "a generated column, or one whose identity or extra attribute changes; do it \
                 by hand",
            ));
        }
        if self.engine == Dialect::Postgres && !a.extra.is_empty() {
            return self.note(unwritten("an identity column; do it by hand"));
        }
        // MySQL's MODIFY restates the comment: the declared one going up, none known coming
        // back (the catalog snapshot does not hold comments).
        let comment = self
            .statement_for("TABLE", t)
            .and_then(|s| {
                elements(&s)
                    .into_iter()
                    .find(|e| element_name(e) == c.to_lowercase())
            })
            .map(|e| declared_comment(&e))
            .unwrap_or_default();
        let write = |from: &CatalogColumn, to: &CatalogColumn, comment: String| {
            let change = column_change(t, c, from, to)?;
            let facts = match self.engine {
                Dialect::Mysql => mysql_facts(from, comment),
                _ => Facts::default(),
            };
            written(self.engine, &Operation::AlterColumn(change), &facts)
        };
        match write(&b, &a, comment) {
            Some(up) => self.later.push(Pair {
                up,
                down: write(&a, &b, String::new()),
            }),
            None => self.note(unwritten("no column change restates it")),
        }
    }

    /// A constraint added to, dropped from or changed on an existing table: PostgreSQL's
    /// (`pg_get_constraintdef`) and MySQL's checks and foreign keys are written whole from the
    /// catalog; what the catalog does not give whole is noted.
    fn constraint(&mut self, d: &Difference, kind: &str, name: &str) {
        let (t, c) = name.split_once('.').unwrap_or((name, ""));
        let (qt, qc) = (self.quote(t), self.quote(c));
        let add = |definition: &str| match (self.engine, kind) {
            (Dialect::Postgres, "constraint") => {
                Some(format!("ALTER TABLE {qt} ADD CONSTRAINT {qc} {definition}"))
            }
            (Dialect::Mysql, "check") => Some(format!(
                "ALTER TABLE {qt} ADD CONSTRAINT {qc} CHECK ({definition})"
            )),
            (Dialect::Mysql, "foreign key") => Some(format!(
                "ALTER TABLE {qt} ADD CONSTRAINT {qc} FOREIGN KEY {definition}"
            )),
            _ => None,
        };
        let drop_kind = match (self.engine, kind) {
            // PostgreSQL drops any constraint by name.
            (Dialect::Postgres, _) | (Dialect::Mysql, "check") => Some(ConstraintKind::Check),
            (Dialect::Mysql, "foreign key") => Some(ConstraintKind::ForeignKey),
            _ => None,
        };
        let drop = drop_kind.and_then(|k| {
            self.written(&Operation::DropConstraint((
                t.to_string(),
                k,
                c.to_string(),
            )))
        });
        // MySQL lists each check and foreign key twice (its `constraint` row names the kind).
        if self.engine == Dialect::Mysql && kind == "constraint" {
            let definition = match d {
                Difference::Added { definition, .. } | Difference::Removed { definition, .. } => {
                    definition.as_str()
                }
                Difference::Changed { after, .. } => after.as_str(),
            };
            if definition == "CHECK" || definition == "FOREIGN KEY" {
                return;
            }
        }
        let pairs = match d {
            Difference::Added { definition, .. } => {
                add(definition).zip(drop.clone()).map(|(up, down)| {
                    vec![Pair {
                        up,
                        down: Some(down),
                    }]
                })
            }
            Difference::Removed { definition, .. } => drop.clone().map(|up| {
                vec![Pair {
                    up,
                    down: add(definition),
                }]
            }),
            Difference::Changed { before, after, .. } => match (add(before), add(after), drop) {
                (Some(old), Some(new), Some(drop)) => Some(vec![
                    Pair {
                        up: drop.clone(),
                        down: Some(old),
                    },
                    Pair {
                        up: new,
                        down: Some(drop),
                    },
                ]),
                _ => None,
            },
        };
        match pairs {
            Some(pairs) => self.later.extend(pairs),
            None => self.note(format!(
                "{d}: not written (on {}, write it by hand{})",
                match self.engine {
                    Dialect::Postgres => "PostgreSQL",
                    Dialect::Mysql => "MySQL",
                    Dialect::Sqlite => "SQLite",
                },
                if self.engine == Dialect::Sqlite {
                    ", or with the portable `add-constraint`/`drop-constraint` operations, which \
                     rebuild the table safely"
                } else {
                    ""
                }
            )),
        }
    }

    fn drop_object(&mut self, object: &str, definition: &str) {
        if let Some(up) = drop_statement(object, definition, self.engine) {
            let down = recreate(object, definition, self.engine);
            self.drops.insert(0, Pair { up, down });
        }
    }

    fn replace_object(&mut self, object: &str, kind: &str, name: &str, before: &str) {
        let plain = name.rsplit('.').next().unwrap_or(name);
        let create = self.statement_for(&kind.to_uppercase(), plain);
        match (create, drop_statement(object, before, self.engine)) {
            (Some(create), Some(drop)) => {
                let down = recreate(object, before, self.engine);
                self.drops.insert(
                    0,
                    Pair {
                        up: drop.clone(),
                        down,
                    },
                );
                self.later.push(Pair {
                    up: create,
                    down: Some(drop),
                });
            }
            _ => self.note(format!("{object}: changed, not written (do it by hand)")),
        }
    }

    fn difference(&mut self, d: &Difference) {
        let object = d.object();
        let (kind, name) = match object.strip_prefix("foreign key ") {
            Some(name) => ("foreign key", name),
            None => match object.split_once(' ') {
                Some(split) => split,
                None => return,
            },
        };
        let plain = name.rsplit('.').next().unwrap_or(name).to_lowercase();
        if kind == "index" && self.constraint_indexes.contains(&plain) {
            return;
        }
        let definition = match d {
            Difference::Added { definition, .. } | Difference::Removed { definition, .. } => {
                definition.as_str()
            }
            Difference::Changed { after, .. } => after.as_str(),
        };
        let table = table_of(object, definition, self.engine);
        // A view's columns come and go with the view; a table's parts with the table.
        if kind == "column" && table.as_ref().is_some_and(|t| self.views.contains(t)) {
            return;
        }
        let on_created = table
            .as_ref()
            .is_some_and(|t| self.created_tables.contains(t));
        let on_dropped = table
            .as_ref()
            .is_some_and(|t| self.dropped_tables.contains(t));
        const OBJECTS: [&str; 7] = [
            "index",
            "view",
            "trigger",
            "function",
            "procedure",
            "sequence",
            "type",
        ];
        match (d, kind) {
            (_, "relation" | "table") => {}
            (Difference::Added { .. }, "column") if !on_created => self.add_column(object, name),
            (Difference::Removed { .. }, "column") if !on_dropped => {
                self.drop_column(name, definition)
            }
            (Difference::Added { .. }, k) if OBJECTS.contains(&k) => {
                self.create_object(object, kind, name, on_created)
            }
            (Difference::Removed { .. }, "index" | "view" | "trigger") if !on_dropped => {
                self.drop_object(object, definition)
            }
            (Difference::Changed { before, .. }, "index" | "view")
                if !on_dropped && !on_created =>
            {
                self.replace_object(object, kind, name, before)
            }
            (Difference::Changed { before, after, .. }, "column") if !on_created && !on_dropped => {
                self.change_column(object, name, before, after)
            }
            (_, "constraint" | "check" | "foreign key") if !on_created && !on_dropped => {
                self.constraint(d, kind, name)
            }
            _ if on_created || on_dropped => {}
            _ => self.note(format!("{d}: not written (do it by hand)")),
        }
    }

    fn drop_tables(&mut self) {
        for table in self.dropped_tables.clone() {
            let definition = self
                .current
                .get(&format!("table {table}"))
                .or_else(|| self.current.get(&format!("relation {table}")))
                .unwrap_or("");
            let down = recreate(&format!("table {table}"), definition, self.engine);
            let Some(up) = self.written(&Operation::DropTable(table.clone())) else {
                self.note(format!("table {table}: to drop, not written"));
                continue;
            };
            self.g.destructive.push(format!("drop table {table}"));
            self.drops.push(Pair { up, down });
        }
    }

    fn finish(mut self) -> Generated {
        let pairs: Vec<Pair> = std::mem::take(&mut self.drops)
            .into_iter()
            .chain(std::mem::take(&mut self.creations))
            .chain(std::mem::take(&mut self.later))
            .collect();
        if pairs.iter().any(|p| p.down.is_none()) {
            self.note(
                "the downgrade is incomplete where the catalog does not give a dropped \
                 object's definition whole (marked in the down file): write those by hand"
                    .into(),
            );
        }
        self.g.up = pairs.iter().map(|p| p.up.clone()).collect();
        self.g.down = pairs
            .iter()
            .rev()
            .map(|p| {
                p.down.clone().unwrap_or_else(|| {
                    format!("-- TODO: undo `{}`", crate::core::one_line(&p.up, 80))
                })
            })
            .collect();
        self.g
    }
}

/// Generates a migration from `current` to the declared schema (`differences` =
/// `current.diff(declared)`), writing created objects as `declared_sql`'s statements write
/// them.
pub fn generate(
    engine: Dialect,
    differences: &[Difference],
    declared_sql: &[String],
    current: &Snapshot,
) -> Generated {
    let mut planner = Planner {
        engine,
        declared_sql,
        current,
        created_tables: tables(differences, engine, true),
        dropped_tables: tables(differences, engine, false),
        views: differences
            .iter()
            .filter_map(|d| d.object().strip_prefix("view "))
            .map(str::to_lowercase)
            .collect(),
        constraint_indexes: constraint_indexes(differences, engine),
        drops: Vec::new(),
        creations: Vec::new(),
        later: Vec::new(),
        g: Generated::default(),
    };
    planner.create_tables();
    for d in differences {
        planner.difference(d);
    }
    planner.drop_tables();
    rename_notes(differences, engine, &mut planner.g);
    planner.finish()
}

/// A column (or table) dropped and another added with the same definition in the same place
/// may be a rename, which no catalog can tell from a drop and an add.
fn rename_notes(differences: &[Difference], engine: Dialect, g: &mut Generated) {
    table_rename_notes(differences, engine, g);
    let removed: Vec<(&str, &str)> = differences
        .iter()
        .filter_map(|d| match d {
            Difference::Removed { object, definition } => {
                Some((object.as_str(), definition.as_str()))
            }
            _ => None,
        })
        .collect();
    for d in differences {
        let Difference::Added { object, definition } = d else {
            continue;
        };
        let Some(("column", name)) = object.split_once(' ') else {
            continue;
        };
        let table = name.split('.').next().unwrap_or("");
        for (old, old_definition) in &removed {
            if let Some(("column", old_name)) = old.split_once(' ')
                && old_name.split('.').next() == Some(table)
                && old_definition == &definition.as_str()
            {
                let (_, from) = old_name.split_once('.').unwrap_or(("", old_name));
                let (_, to) = name.split_once('.').unwrap_or(("", name));
                let op = Operation::RenameColumn((table.into(), from.into(), to.into()));
                let Some(rename) = written(engine, &op, &Facts::default()) else {
                    continue;
                };
                g.notes.push(format!(
                    "{table}.{from} dropped and {table}.{to} added with the same definition: if \
                     it is a rename, replace both with `{rename}` (the drop loses its values)"
                ));
            }
        }
    }
}

/// The columns (name → definition) the differences add (`Added`) or drop to `table`.
fn columns_of(differences: &[Difference], table: &str, added: bool) -> BTreeSet<(String, String)> {
    differences
        .iter()
        .filter_map(|d| match (d, added) {
            (Difference::Added { object, definition }, true)
            | (Difference::Removed { object, definition }, false) => {
                let (t, c) = object.strip_prefix("column ")?.split_once('.')?;
                t.eq_ignore_ascii_case(table)
                    .then(|| (c.to_lowercase(), definition.clone()))
            }
            _ => None,
        })
        .collect()
}

/// A table dropped and another created with the same columns may be a rename.
fn table_rename_notes(differences: &[Difference], engine: Dialect, g: &mut Generated) {
    let dropped = tables(differences, engine, false);
    for created in tables(differences, engine, true) {
        let columns = columns_of(differences, &created, true);
        for old in &dropped {
            if !columns.is_empty() && columns_of(differences, old, false) == columns {
                let op = Operation::RenameTable((old.clone(), created.clone()));
                let Some(rename) = written(engine, &op, &Facts::default()) else {
                    continue;
                };
                g.notes.push(format!(
                    "table {old} dropped and table {created} created with the same columns: \
                     if it is a rename, replace both with `{rename}` (the drop loses its rows)"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_dropped_and_created_alike_is_a_possible_rename() {
        let current = snap(&[
            (
                "table people",
                "CREATE TABLE people (id INTEGER, name TEXT)",
            ),
            ("column people.id", "INTEGER default none"),
            ("column people.name", "TEXT default none"),
        ]);
        let declared = snap(&[
            (
                "table persons",
                "CREATE TABLE persons (id INTEGER, name TEXT)",
            ),
            ("column persons.id", "INTEGER default none"),
            ("column persons.name", "TEXT default none"),
        ]);
        let g = generate(
            Dialect::Sqlite,
            &current.diff(&declared),
            &["CREATE TABLE persons (id INTEGER, name TEXT)".to_string()],
            &current,
        );
        assert!(
            g.notes
                .iter()
                .any(|n| n.contains("ALTER TABLE \"people\" RENAME TO \"persons\"")),
            "{:?}",
            g.notes
        );
        assert_eq!(g.destructive, ["drop table people"]);
        assert_eq!(
            g.up,
            [
                "DROP TABLE \"people\"",
                "CREATE TABLE persons (id INTEGER, name TEXT)"
            ]
        );
        assert_eq!(
            g.down,
            [
                "DROP TABLE \"persons\"",
                "CREATE TABLE people (id INTEGER, name TEXT)"
            ]
        );
    }

    fn snap(items: &[(&str, &str)]) -> Snapshot {
        Snapshot::new(items.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn elements_are_the_top_level_definitions() {
        assert_eq!(
            elements(
                "CREATE TABLE t (id INTEGER PRIMARY KEY, -- key\n name VARCHAR(10, 2) DEFAULT 'a,b', CHECK (id > 0))"
            ),
            [
                "id INTEGER PRIMARY KEY",
                "name VARCHAR(10, 2) DEFAULT 'a,b'",
                "CHECK (id > 0)"
            ]
        );
    }

    #[test]
    fn what_a_statement_creates() {
        let pg = Dialect::Postgres;
        assert_eq!(
            creates("CREATE TABLE IF NOT EXISTS public.Users (id int)", pg),
            Some(("TABLE".into(), "users".into()))
        );
        assert_eq!(
            creates("CREATE UNIQUE INDEX CONCURRENTLY u ON t (a)", pg),
            Some(("INDEX".into(), "u".into()))
        );
        assert_eq!(
            creates("CREATE OR REPLACE VIEW v AS SELECT 1", pg),
            Some(("VIEW".into(), "v".into()))
        );
        assert_eq!(creates("INSERT INTO t VALUES (1)", pg), None);
    }

    #[test]
    fn dropped_columns_are_restored_from_the_catalog_as_ddl_writes_a_column() {
        let column = |e, name, d| {
            restored_column(e, name, d)
                .and_then(|c| written(e, &Operation::AddColumn(("t".into(), c)), &Facts::default()))
        };
        let (pg, my) = (Dialect::Postgres, Dialect::Mysql);
        assert_eq!(
            column(pg, "a", "integer not null default 0").as_deref(),
            Some("ALTER TABLE \"t\" ADD COLUMN \"a\" integer NOT NULL DEFAULT 0")
        );
        assert_eq!(
            column(pg, "b", "character varying(40) default none").as_deref(),
            Some("ALTER TABLE \"t\" ADD COLUMN \"b\" character varying(40)")
        );
        assert_eq!(
            column(pg, "id", "bigint not null default none identity by default").as_deref(),
            Some(
                "ALTER TABLE \"t\" ADD COLUMN \"id\" bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL"
            )
        );
        assert_eq!(column(pg, "g", "integer generated always as (a * 2)"), None);
        assert_eq!(
            column(
                my,
                "c",
                "varchar(20) default 'x' collate utf8mb4_general_ci"
            )
            .as_deref(),
            Some(
                "ALTER TABLE `t` ADD COLUMN `c` varchar(20) COLLATE utf8mb4_general_ci DEFAULT 'x'"
            )
        );
        assert_eq!(
            column(
                my,
                "u",
                "timestamp not null default current_timestamp() on update current_timestamp()"
            ),
            None,
            "on update cannot be restated"
        );
    }

    #[test]
    fn a_new_table_column_index_and_view_on_sqlite() {
        let e = Dialect::Sqlite;
        let declared_sql = vec![
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, age INTEGER DEFAULT 0)"
                .to_string(),
            "CREATE TABLE tags (id INTEGER PRIMARY KEY, label TEXT)".to_string(),
            "CREATE INDEX users_email ON users (email)".to_string(),
            "CREATE VIEW adults AS SELECT id FROM users WHERE age >= 18".to_string(),
        ];
        let current = snap(&[
            (
                "table users",
                "CREATE TABLE users (email TEXT, id INTEGER PRIMARY KEY)",
            ),
            ("column users.id", "INTEGER default none primary key 1"),
            ("column users.email", "TEXT default none"),
        ]);
        let declared = snap(&[
            (
                "table users",
                "CREATE TABLE users (age INTEGER DEFAULT 0, email TEXT, id INTEGER PRIMARY KEY)",
            ),
            ("column users.id", "INTEGER default none primary key 1"),
            ("column users.email", "TEXT default none"),
            ("column users.age", "INTEGER default 0"),
            (
                "table tags",
                "CREATE TABLE tags (id INTEGER PRIMARY KEY, label TEXT)",
            ),
            ("column tags.id", "INTEGER default none primary key 1"),
            ("column tags.label", "TEXT default none"),
            (
                "index users_email",
                "CREATE INDEX users_email ON users (email)",
            ),
            (
                "view adults",
                "CREATE VIEW adults AS SELECT id FROM users WHERE age >= 18",
            ),
        ]);
        let g = generate(e, &current.diff(&declared), &declared_sql, &current);
        assert_eq!(
            g.up,
            [
                "CREATE TABLE tags (id INTEGER PRIMARY KEY, label TEXT)",
                "ALTER TABLE \"users\" ADD COLUMN age INTEGER DEFAULT 0",
                "CREATE INDEX users_email ON users (email)",
                "CREATE VIEW adults AS SELECT id FROM users WHERE age >= 18",
            ]
        );
        assert_eq!(
            g.down,
            [
                "DROP VIEW \"adults\"",
                "DROP INDEX \"users_email\"",
                "ALTER TABLE \"users\" DROP COLUMN \"age\"",
                "DROP TABLE \"tags\"",
            ]
        );
        assert!(g.destructive.is_empty());
    }

    #[test]
    fn drops_are_destructive_and_restored_from_the_catalog() {
        let e = Dialect::Postgres;
        let current = snap(&[
            ("relation users", "table"),
            ("column users.id", "bigint not null default none"),
            ("column users.nick", "character varying(20) default none"),
            (
                "index users_nick",
                "CREATE INDEX users_nick ON public.users USING btree (nick)",
            ),
        ]);
        let declared = snap(&[
            ("relation users", "table"),
            ("column users.id", "bigint not null default none"),
        ]);
        let g = generate(e, &current.diff(&declared), &[], &current);
        assert_eq!(
            g.up,
            [
                "DROP INDEX \"users_nick\"",
                "ALTER TABLE \"users\" DROP COLUMN \"nick\""
            ]
        );
        assert_eq!(
            g.down,
            [
                "ALTER TABLE \"users\" ADD COLUMN \"nick\" character varying(20)",
                "CREATE INDEX users_nick ON public.users USING btree (nick)"
            ]
        );
        assert_eq!(g.destructive, ["drop column users.nick"]);
    }

    #[test]
    fn a_possible_rename_and_an_unwritten_change_are_noted() {
        let e = Dialect::Postgres;
        let current = snap(&[
            ("relation users", "table"),
            ("column users.nick", "text default none"),
            ("column users.age", "integer default none"),
        ]);
        let declared = snap(&[
            ("relation users", "table"),
            ("column users.handle", "text default none"),
            ("column users.age", "bigint default none"),
        ]);
        let g = generate(
            e,
            &current.diff(&declared),
            &["CREATE TABLE users (handle text, age bigint)".to_string()],
            &current,
        );
        let notes = g.notes.join("\n");
        assert!(
            notes.contains("ALTER TABLE \"users\" RENAME COLUMN \"nick\" TO \"handle\""),
            "{notes}"
        );
        // The type change is written, both ways.
        assert!(
            g.up.contains(
                &"ALTER TABLE \"users\" ALTER COLUMN \"age\" TYPE bigint USING \"age\"::bigint"
                    .to_string()
            ),
            "{:?}",
            g.up
        );
        assert!(
            g.down.contains(
                &"ALTER TABLE \"users\" ALTER COLUMN \"age\" TYPE integer USING \"age\"::integer"
                    .to_string()
            ),
            "{:?}",
            g.down
        );
        // On SQLite it points at the portable operation instead.
        let current = snap(&[
            ("table t", "CREATE TABLE t (a INTEGER)"),
            ("column t.a", "INTEGER"),
        ]);
        let declared = snap(&[
            ("table t", "CREATE TABLE t (a INTEGER)"),
            ("column t.a", "INTEGER NOT NULL"),
        ]);
        let g = generate(Dialect::Sqlite, &current.diff(&declared), &[], &current);
        assert!(
            g.notes.join("\n").contains("portable `alter-column`"),
            "{:?}",
            g.notes
        );
    }

    #[test]
    fn constraints_on_existing_tables_are_written_from_the_catalog() {
        let current = snap(&[
            ("relation t", "table"),
            ("constraint t.t_pkey", "PRIMARY KEY (id)"),
            (
                "index t_pkey",
                "CREATE UNIQUE INDEX t_pkey ON public.t USING btree (id)",
            ),
            ("constraint t.t_old", "CHECK ((a > 0))"),
        ]);
        let declared = snap(&[
            ("relation t", "table"),
            ("constraint t.t_pkey", "PRIMARY KEY (id)"),
            (
                "index t_pkey",
                "CREATE UNIQUE INDEX t_pkey ON public.t USING btree (id)",
            ),
            ("constraint t.t_a", "UNIQUE (a)"),
            (
                "index t_a",
                "CREATE UNIQUE INDEX t_a ON public.t USING btree (a)",
            ),
        ]);
        let g = generate(Dialect::Postgres, &current.diff(&declared), &[], &current);
        assert_eq!(
            g.up,
            [
                "ALTER TABLE \"t\" ADD CONSTRAINT \"t_a\" UNIQUE (a)",
                "ALTER TABLE \"t\" DROP CONSTRAINT \"t_old\""
            ],
            "{:?}",
            g.notes
        );
        assert_eq!(
            g.down,
            [
                "ALTER TABLE \"t\" ADD CONSTRAINT \"t_old\" CHECK ((a > 0))",
                "ALTER TABLE \"t\" DROP CONSTRAINT \"t_a\""
            ]
        );
        assert!(
            g.notes.is_empty(),
            "the unique index comes with its constraint: {:?}",
            g.notes
        );
        let current = snap(&[("table t", "BASE TABLE InnoDB x")]);
        let declared = snap(&[
            ("table t", "BASE TABLE InnoDB x"),
            ("constraint t.t_p", "FOREIGN KEY"),
            (
                "foreign key t.t_p",
                "(p) references p (id) on update RESTRICT on delete CASCADE",
            ),
            ("index t.t_p", "BTREE (p)"),
            ("constraint t.t_c", "CHECK"),
            ("check t.t_c", "`a` > 0"),
        ]);
        let g = generate(Dialect::Mysql, &current.diff(&declared), &[], &current);
        assert_eq!(
            g.up,
            [
                "ALTER TABLE `t` ADD CONSTRAINT `t_c` CHECK (`a` > 0)",
                "ALTER TABLE `t` ADD CONSTRAINT `t_p` FOREIGN KEY (p) references p (id) on \
                 update RESTRICT on delete CASCADE"
            ],
            "{:?}",
            g.notes
        );
        assert!(g.notes.is_empty(), "{:?}", g.notes);
    }

    #[test]
    fn column_changes_are_written_by_ddl_per_dialect() {
        let change = |e, before: &str, after: &str, declared: &str| {
            let current = snap(&[("column t.c", before)]);
            let differences = vec![Difference::Changed {
                object: "column t.c".into(),
                before: before.into(),
                after: after.into(),
            }];
            generate(e, &differences, &[declared.to_string()], &current)
        };
        let g = change(
            Dialect::Postgres,
            "character varying(20) default none",
            "text not null default 'x'::text",
            "CREATE TABLE t (c TEXT NOT NULL DEFAULT 'x')",
        );
        assert_eq!(
            g.up,
            [
                "ALTER TABLE \"t\" ALTER COLUMN \"c\" TYPE text USING \"c\"::text, ALTER COLUMN \"c\" \
              SET NOT NULL, ALTER COLUMN \"c\" SET DEFAULT 'x'::text"
            ]
        );
        assert_eq!(
            g.down,
            [
                "ALTER TABLE \"t\" ALTER COLUMN \"c\" TYPE character varying(20) USING \
              \"c\"::character varying(20), ALTER COLUMN \"c\" DROP NOT NULL, ALTER COLUMN \"c\" DROP \
              DEFAULT"
            ]
        );
        let g = change(
            Dialect::Postgres,
            "integer not null default none identity by default",
            "bigint not null default none identity by default",
            "CREATE TABLE t (c BIGINT GENERATED BY DEFAULT AS IDENTITY)",
        );
        assert!(g.up.is_empty() && g.notes[0].contains("identity"), "{g:?}");

        // MySQL restates the rest of the column (its extra, the declared comment).
        let g = change(
            Dialect::Mysql,
            "varchar(20) default 'it''s' collate utf8mb4_bin",
            "varchar(80) not null default 'it''s' collate utf8mb4_bin",
            "CREATE TABLE t (c VARCHAR(80) NOT NULL DEFAULT 'it''s' COMMENT 'the name')",
        );
        assert_eq!(
            g.up,
            [
                "ALTER TABLE `t` MODIFY COLUMN `c` varchar(80) COLLATE utf8mb4_bin NOT NULL DEFAULT \
              'it''s' COMMENT 'the name'"
            ]
        );
        assert_eq!(
            g.down,
            [
                "ALTER TABLE `t` MODIFY COLUMN `c` varchar(20) COLLATE utf8mb4_bin NULL DEFAULT 'it''s'"
            ]
        );
        let g = change(
            Dialect::Mysql,
            "bigint(20) not null default none auto_increment",
            "bigint(20) default none auto_increment",
            "CREATE TABLE t (c BIGINT AUTO_INCREMENT)",
        );
        assert_eq!(
            g.up,
            ["ALTER TABLE `t` MODIFY COLUMN `c` bigint(20) NULL AUTO_INCREMENT"]
        );
        assert_eq!(
            declared_comment("c INT COMMENT 'a ''b'' \\\\c'"),
            "a 'b' \\c"
        );
    }
}
