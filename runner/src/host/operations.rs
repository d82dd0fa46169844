//! The host side of WIT 0.3.0 `schema`: a portable operation is planned in the dialect's SQL
//! (`db::ddl`, from what this file reads of the catalog through the migration's own
//! connection, so it sees the migration's uncommitted changes) and run statement by statement
//! through `transaction.execute`: the same refusals, journal and recording as the migration's
//! own SQL. The first statement carries a `-- retort schema: …` comment naming the operation,
//! which `--sql`, `check` and the journal show.

use wasmtime::component::Resource;

use crate::bindings::retort::migration0_1_0::sql::HostTransaction;
use crate::bindings::schema::{self, Operation};
use crate::bindings::{DatabaseError, GuestError, TxHandle, Value};
use crate::db::SqlFailure;
use crate::db::ddl::definitions::{self, Capture, Kept, ObjectKind};
use crate::db::ddl::{self, Facts, MysqlColumn, Needs, Plan, SqliteTable};
use crate::host::sandbox::SqlView;

/// How many violating rows a failed foreign key check names.
const VIOLATIONS_NAMED: usize = 10;

/// How much text one migration may keep with `keep-definition` (it is written into its history
/// row, in one statement): past it the migration traps, as at any exhausted limit.
const KEPT_CAPACITY: usize = 4 << 20;

impl schema::Host for SqlView<'_> {
    async fn apply(
        &mut self,
        tx: Resource<TxHandle>,
        operation: Operation,
    ) -> wasmtime::Result<Result<(), GuestError>> {
        let plan = match self.plan(&operation).await? {
            Ok(plan) => plan,
            Err(e) => return Ok(Err(e)),
        };
        self.run(tx, &operation, plan, "").await
    }

    async fn apply_allowing(
        &mut self,
        tx: Resource<TxHandle>,
        operation: Operation,
        allow: Vec<String>,
    ) -> wasmtime::Result<Result<(), GuestError>> {
        let rules = match crate::core::lint::allowed_in_header(&allow.join(",")) {
            Ok(rules) => rules,
            Err(e) => {
                self.note_failed(&ddl::describe(&operation));
                return Ok(Err(GuestError::InvalidStatement(e.to_string())));
            }
        };
        let plan = match self.plan(&operation).await? {
            Ok(plan) => plan,
            Err(e) => return Ok(Err(e)),
        };
        let ids: Vec<&str> = rules.iter().map(|r| r.id()).collect();
        let ack = match ids.is_empty() {
            true => String::new(),
            false => format!("-- retort: allow {}\n", ids.join(", ")),
        };
        self.run(tx, &operation, plan, &ack).await
    }

    async fn statements(
        &mut self,
        _tx: Resource<TxHandle>,
        operation: Operation,
    ) -> wasmtime::Result<Result<Vec<String>, GuestError>> {
        Ok(self.plan(&operation).await?.map(|p| p.statements))
    }

    async fn keep_definition(
        &mut self,
        _tx: Resource<TxHandle>,
        kind: ObjectKind,
        name: String,
    ) -> wasmtime::Result<Result<bool, GuestError>> {
        self.keep(kind, name).await
    }

    async fn restore_definition(
        &mut self,
        tx: Resource<TxHandle>,
        kind: ObjectKind,
        name: String,
    ) -> wasmtime::Result<Result<bool, GuestError>> {
        self.restore(tx, kind, name).await
    }
}

impl SqlView<'_> {
    /// `keep-definition`: the statements that recreate `name` as the catalog has it now.
    async fn keep(
        &mut self,
        kind: ObjectKind,
        name: String,
    ) -> wasmtime::Result<Result<bool, GuestError>> {
        let what = format!("keep-definition {} {name}", definitions::kind_name(kind));
        if let Err(e) = ddl::check_name(&name) {
            self.note_failed(&what.escape_debug().to_string());
            return Ok(Err(GuestError::InvalidStatement(e.to_string())));
        }
        let dialect = self.db()?.dialect();
        let capture = match definitions::capture(dialect, kind, &name) {
            Ok(c) => c,
            Err(e) => {
                self.note_failed(&what);
                return Ok(Err(GuestError::InvalidStatement(e.to_string())));
            }
        };
        let param = || vec![Value::Text(name.clone())];
        let statements = match capture {
            Capture::Query(sql) => match self.catalog(sql, param()).await? {
                Ok(rows) => texts(&rows),
                Err(e) => return Ok(Err(e)),
            },
            Capture::Show {
                exists,
                show,
                column,
                drop,
            } => {
                let found = match self.catalog(exists, param()).await? {
                    Ok(rows) => first_integer(&rows).unwrap_or(0),
                    Err(e) => return Ok(Err(e)),
                };
                if found == 0 {
                    Vec::new()
                } else {
                    let rows = match self.catalog(&show, vec![]).await? {
                        Ok(rows) => rows,
                        Err(e) => return Ok(Err(e)),
                    };
                    let Some(create) = rows.first().and_then(|r| r.get(column)).and_then(text_of)
                    else {
                        self.note_failed(&show);
                        return Ok(Err(GuestError::InvalidStatement(format!(
                            "{what}: the server does not show its definition to this account"
                        ))));
                    };
                    vec![drop, definitions::without_definer(&create)]
                }
            }
        };
        if statements.is_empty() {
            return Ok(Ok(false));
        }
        let entry = Kept {
            kind: definitions::kind_name(kind).to_string(),
            name,
            statements,
        };
        // What the downgrade will accept, checked now: a definition it would refuse fails
        // the upgrade that keeps it, not the downgrade that needs it.
        if let Err(e) = definitions::verify(dialect, &entry) {
            self.note_failed(&what);
            return Ok(Err(GuestError::InvalidStatement(format!(
                "{what}: the catalog's definition cannot be kept: {e}"
            ))));
        }
        // Measured as it will be sent: the JSON the history row is written with, whose
        // escapes (a quote, a newline, a control character) can make it several times the
        // text's length.
        let sent = |k: &Kept| serde_json::to_string(k).map_or(usize::MAX, |s| s.len() + 1);
        let total: usize = self.kept.iter().map(sent).sum();
        if total.saturating_add(sent(&entry)) > KEPT_CAPACITY {
            self.note_failed(&what);
            return Err(wasmtime::format_err!(
                "the migration kept more than {} MiB of definitions (keep-definition, measured \
                 as JSON), more than its history record may hold",
                KEPT_CAPACITY >> 20
            ));
        }
        // Kept once: a second keep of the same object in one upgrade keeps the first state.
        if !self
            .kept
            .iter()
            .any(|k| k.kind == entry.kind && k.name == entry.name)
        {
            self.kept.push(entry);
        }
        Ok(Ok(true))
    }

    /// `restore-definition`: runs what the upgrade kept for `name`.
    async fn restore(
        &mut self,
        _tx: Resource<TxHandle>,
        kind: ObjectKind,
        name: String,
    ) -> wasmtime::Result<Result<bool, GuestError>> {
        let kind_name = definitions::kind_name(kind);
        if let Err(e) = ddl::check_name(&name) {
            self.note_failed(&format!(
                "restore-definition {kind_name} {}",
                name.escape_debug()
            ));
            return Ok(Err(GuestError::InvalidStatement(e.to_string())));
        }
        let Some(kept) = self
            .restorable
            .iter()
            .find(|k| k.kind == kind_name && k.name == name)
            .cloned()
        else {
            return Ok(Ok(false));
        };
        // What was kept is read back from the history row, which is not signed: it runs only
        // if it is what it claims to be, and each statement as one statement (the server
        // refuses a second one in a prepared statement).
        let dialect = self.db()?.dialect();
        if let Err(e) = definitions::verify(dialect, &kept) {
            self.note_failed(&format!("restore-definition {kind_name} {name}"));
            return Err(wasmtime::format_err!(
                "what retort_history.kept holds for the {kind_name} `{name}` is refused: {e}. \
                 Retort wrote there only what the catalog gave during the upgrade; the row was \
                 changed since"
            ));
        }
        for (n, statement) in kept.statements.iter().enumerate() {
            let statement = match n {
                0 => {
                    format!("-- retort schema: restore-definition {kind_name} {name}\n{statement}")
                }
                _ => statement.clone(),
            };
            let sent = self.send_batch(statement, vec![Vec::new()]).await?;
            if let Err(e) = sent {
                return Ok(Err(e));
            }
        }
        Ok(Ok(true))
    }

    /// The operation's statements on this database, as it is now.
    async fn plan(&mut self, op: &Operation) -> wasmtime::Result<Result<Plan, GuestError>> {
        let dialect = self.db()?.dialect();
        let in_transaction = self.lending().in_transaction;
        // Before the catalog is read with them: a name is a name, never a line of SQL.
        if let Err(e) = ddl::check_names(op) {
            self.note_failed(&ddl::describe(op).escape_debug().to_string());
            return Ok(Err(GuestError::InvalidStatement(e.to_string())));
        }
        let facts = match ddl::needs(dialect, op) {
            Needs::Nothing => Ok(Facts::default()),
            Needs::SqliteTable(t) => self.sqlite_table(&t).await?.map(|t| Facts {
                sqlite: Some(t),
                ..Facts::default()
            }),
            Needs::MysqlColumn(t, c) => self.mysql_column(&t, &c).await?.map(|c| Facts {
                mysql: Some(c),
                ..Facts::default()
            }),
        };
        let plan = facts.and_then(|facts| {
            ddl::plan(dialect, op, &facts, in_transaction)
                .map_err(|e| GuestError::InvalidStatement(e.to_string()))
        });
        if plan.is_err() {
            self.note_failed(&ddl::describe(op));
        }
        Ok(plan)
    }

    /// Runs a plan: in a savepoint where it must be all or nothing, with the foreign key
    /// check before the savepoint is released.
    async fn run(
        &mut self,
        tx: Resource<TxHandle>,
        op: &Operation,
        plan: Plan,
        ack: &str,
    ) -> wasmtime::Result<Result<(), GuestError>> {
        if plan.foreign_keys_off {
            self.db()?
                .host_execute(
                    "switching foreign keys off",
                    "PRAGMA foreign_keys = OFF",
                    &[],
                )
                .await
                .map_err(wasmtime::Error::new)?;
        }
        if plan.atomic {
            self.raw("SAVEPOINT retort_schema").await?;
        }
        let outcome = self.steps(tx, op, &plan, ack).await;
        // Settings and the savepoint are restored even when a step trapped (the trap then
        // wins over a failure to restore).
        let restored = self
            .restore_after(&plan, !matches!(outcome, Ok(Ok(()))))
            .await;
        match (outcome, restored) {
            (Err(trap), _) => Err(trap),
            (Ok(_), Err(trap)) => Err(trap),
            (Ok(outcome), Ok(())) => Ok(outcome),
        }
    }

    /// The plan's statements (each with the lint acknowledgement `ack`, if any), then its
    /// foreign key checks.
    async fn steps(
        &mut self,
        tx: Resource<TxHandle>,
        op: &Operation,
        plan: &Plan,
        ack: &str,
    ) -> wasmtime::Result<Result<(), GuestError>> {
        for (n, statement) in plan.statements.iter().enumerate() {
            let statement = match n {
                0 => format!("-- retort schema: {}\n{ack}{statement}", ddl::describe(op)),
                _ => format!("{ack}{statement}"),
            };
            let borrowed = Resource::<TxHandle>::new_borrow(tx.rep());
            if let Err(e) = self.execute(borrowed, statement, Vec::new()).await? {
                return Ok(Err(e));
            }
        }
        for table in &plan.foreign_key_check {
            if let Err(e) = self.foreign_key_check(op, table).await? {
                return Ok(Err(e));
            }
        }
        Ok(Ok(()))
    }

    /// Ends the plan's savepoint (rolled back if `failed`) and restores what it switched.
    async fn restore_after(&mut self, plan: &Plan, failed: bool) -> wasmtime::Result<()> {
        if plan.atomic {
            if failed {
                self.raw("ROLLBACK TO retort_schema").await?;
            }
            self.raw("RELEASE retort_schema").await?;
        }
        for statement in &plan.finally {
            self.raw(statement).await?;
        }
        if plan.foreign_keys_off {
            self.db()?
                .host_execute("switching foreign keys on", "PRAGMA foreign_keys = ON", &[])
                .await
                .map_err(wasmtime::Error::new)?;
        }
        Ok(())
    }

    /// One of the plan's own statements (a savepoint, a setting restored): a failure is the
    /// host's, and ends the migration.
    async fn raw(&mut self, statement: &str) -> wasmtime::Result<()> {
        match self.db()?.execute(statement, Vec::new()).await {
            Ok(_) => Ok(()),
            Err(SqlFailure::Guest(e)) => Err(wasmtime::format_err!(
                "`{statement}` failed: {}",
                crate::bindings::describe(&e)
            )),
            Err(SqlFailure::Fatal(e)) => Err(wasmtime::Error::new(e)),
        }
    }

    /// All rows of a catalog query on the migration's connection.
    async fn catalog(
        &mut self,
        sql: &str,
        params: Vec<Value>,
    ) -> wasmtime::Result<Result<Vec<Vec<Value>>, GuestError>> {
        let db = self.db()?;
        let (cursor, _) = match db.open_cursor(sql, params).await {
            Ok(c) => c,
            Err(e) => return self.lift_failure(sql, e),
        };
        let mut rows = Vec::new();
        loop {
            match self.db()?.fetch(cursor, 1000).await {
                Ok(batch) if batch.is_empty() => break,
                Ok(batch) => rows.extend(batch),
                Err(e) => {
                    self.db()?.close_cursor(cursor).await;
                    return self.lift_failure(sql, e);
                }
            }
        }
        self.db()?.close_cursor(cursor).await;
        Ok(Ok(rows))
    }

    fn lift_failure<T>(
        &mut self,
        sql: &str,
        e: SqlFailure,
    ) -> wasmtime::Result<Result<T, GuestError>> {
        self.note_failed(sql);
        match e {
            SqlFailure::Guest(e) => Ok(Err(e)),
            SqlFailure::Fatal(e) => Err(wasmtime::Error::new(e)),
        }
    }

    /// What a SQLite rebuild of `table` must know.
    async fn sqlite_table(
        &mut self,
        table: &str,
    ) -> wasmtime::Result<Result<SqliteTable, GuestError>> {
        let name = Value::Text(table.to_string());
        macro_rules! rows {
            ($sql:expr, $params:expr) => {
                match self.catalog($sql, $params).await? {
                    Ok(rows) => rows,
                    Err(e) => return Ok(Err(e)),
                }
            };
        }
        let found = rows!(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name = $1 COLLATE NOCASE",
            vec![name.clone()]
        );
        let Some([Value::Text(name), Value::Text(sql)]) = found.first().map(|r| r.as_slice())
        else {
            self.note_failed(table);
            return Ok(Err(GuestError::InvalidStatement(format!(
                "there is no table `{table}` to rebuild"
            ))));
        };
        let (name, sql) = (name.clone(), sql.clone());
        let quoted = Value::Text(name.clone());
        let columns = rows!(
            "SELECT name FROM pragma_table_xinfo($1) WHERE hidden = 0 ORDER BY cid",
            vec![quoted.clone()]
        );
        let dependents = rows!(
            "SELECT sql FROM sqlite_master WHERE tbl_name = $1 AND type IN ('index', 'trigger') \
             AND sql IS NOT NULL ORDER BY rowid",
            vec![quoted.clone()]
        );
        let referenced_by = rows!(
            "SELECT DISTINCT m.name FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f \
             WHERE m.type = 'table' AND m.name <> $1 AND f.\"table\" = $1 COLLATE NOCASE \
             ORDER BY m.name",
            vec![quoted.clone()]
        );
        let sequence = rows!(
            "SELECT name FROM sqlite_master WHERE name = 'sqlite_sequence'",
            vec![]
        );
        let sequence = if sequence.is_empty() {
            Vec::new()
        } else {
            rows!(
                "SELECT seq FROM sqlite_sequence WHERE name = $1",
                vec![quoted.clone()]
            )
        };
        let foreign_keys = rows!("PRAGMA foreign_keys", vec![]);
        let legacy = rows!("PRAGMA legacy_alter_table", vec![]);
        let defer = rows!("PRAGMA defer_foreign_keys", vec![]);
        let rowid = !ddl::sqlite_table::TableText::parse(&sql)
            .map(|t| t.options.to_ascii_uppercase().contains("WITHOUT"))
            .unwrap_or(false);
        Ok(Ok(SqliteTable {
            name,
            sql,
            columns: texts(&columns),
            rowid,
            dependents: texts(&dependents),
            sequence: first_integer(&sequence),
            referenced_by: texts(&referenced_by),
            foreign_keys_on: first_integer(&foreign_keys) == Some(1),
            legacy_alter_table: first_integer(&legacy) == Some(1),
            defer_foreign_keys: first_integer(&defer) == Some(1),
        }))
    }

    /// What MySQL's `MODIFY` must restate of a column.
    async fn mysql_column(
        &mut self,
        table: &str,
        column: &str,
    ) -> wasmtime::Result<Result<MysqlColumn, GuestError>> {
        let rows = match self
            .catalog(
                "SELECT COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, COLLATION_NAME, VERSION(), \
                 COLUMN_COMMENT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = \
                 $1 AND COLUMN_NAME = $2",
                vec![Value::Text(table.into()), Value::Text(column.into())],
            )
            .await?
        {
            Ok(rows) => rows,
            Err(e) => return Ok(Err(e)),
        };
        let Some(row) = rows.first() else {
            self.note_failed(&format!("{table}.{column}"));
            return Ok(Err(GuestError::InvalidStatement(format!(
                "there is no column `{column}` in table `{table}` to change"
            ))));
        };
        let text = |n: usize| row.get(n).and_then(text_of);
        let extra = text(3).unwrap_or_default();
        let mariadb = text(5).is_some_and(|v| v.contains("MariaDB"));
        // MariaDB writes a default as SQL (`'x'`, `NULL`, `current_timestamp()`); MySQL
        // writes a literal bare and marks an expression `DEFAULT_GENERATED`.
        let default = text(2).map(|d| {
            if mariadb || extra.contains("DEFAULT_GENERATED") || d.parse::<f64>().is_ok() {
                d
            } else {
                format!("'{}'", d.replace('\'', "''"))
            }
        });
        Ok(Ok(MysqlColumn {
            column_type: text(0).unwrap_or_default(),
            nullable: text(1).as_deref() == Some("YES"),
            default,
            extra: extra.replace("DEFAULT_GENERATED", "").trim().to_string(),
            collation: text(4),
            comment: text(6).unwrap_or_default(),
        }))
    }

    /// `PRAGMA foreign_key_check` of `table`: an error naming the violating rows, if any.
    async fn foreign_key_check(
        &mut self,
        op: &Operation,
        table: &str,
    ) -> wasmtime::Result<Result<(), GuestError>> {
        let sql = format!(
            "PRAGMA foreign_key_check({})",
            ddl::sqlite_table::quote(table)
        );
        let rows = match self.catalog(&sql, vec![]).await? {
            Ok(rows) => rows,
            Err(e) => return Ok(Err(e)),
        };
        if rows.is_empty() {
            return Ok(Ok(()));
        }
        let named: Vec<String> = rows
            .iter()
            .take(VIOLATIONS_NAMED)
            .map(|r| {
                let child = r.first().and_then(text_of).unwrap_or_default();
                let rowid = match r.get(1) {
                    Some(Value::Integer(n)) => n.to_string(),
                    _ => "?".into(),
                };
                let parent = r.get(2).and_then(text_of).unwrap_or_default();
                format!("row {rowid} of `{child}` references a missing row of `{parent}`")
            })
            .collect();
        let more = match rows.len().saturating_sub(VIOLATIONS_NAMED) {
            0 => String::new(),
            n => format!(" (and {n} more)"),
        };
        let what = ddl::describe(op);
        self.note_failed(&what);
        Ok(Err(GuestError::Database(DatabaseError {
            code: Some("SQLITE_CONSTRAINT_FOREIGNKEY".into()),
            message: format!(
                "{what} would leave {} foreign key violation(s); nothing was changed",
                rows.len()
            ),
            detail: Some(format!("{}{more}", named.join("; "))),
        })))
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Text(s) => Some(s.clone()),
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Integer(n) => Some(n.to_string()),
        _ => None,
    }
}

fn texts(rows: &[Vec<Value>]) -> Vec<String> {
    rows.iter()
        .filter_map(|r| r.first().and_then(text_of))
        .collect()
}

fn first_integer(rows: &[Vec<Value>]) -> Option<i64> {
    match rows.first().and_then(|r| r.first()) {
        Some(Value::Integer(n)) => Some(*n),
        _ => None,
    }
}
