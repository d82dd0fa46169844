//! The catalog of a database as a [`Snapshot`]: one query per dialect, read on Retort's own
//! session, listing every table, column (type, nullability, default), constraint, index,
//! view, sequence, routine, trigger and type, without Retort's bookkeeping tables (on
//! PostgreSQL, the objects of the bookkeeping's schema, and which other schemas exist).
//! Column order is not compared: no engine but MySQL can restore it when a downgrade re-adds
//! a dropped column.

use crate::bindings::Value;
use crate::core::Dialect;
use crate::core::snapshot::Snapshot;

use super::{DbError, Session};

/// Reads the schema's catalog (on PostgreSQL the bookkeeping's schema, on MySQL the
/// connection's database, on SQLite `main`).
pub async fn snapshot(session: &mut dyn Session) -> Result<Snapshot, DbError> {
    let (sql, params) = match session.dialect() {
        Dialect::Postgres => (POSTGRES, vec![Value::Text(session.tables().schema.clone())]),
        Dialect::Mysql => (MYSQL, Vec::new()),
        Dialect::Sqlite => (SQLITE, Vec::new()),
    };
    let rows = session
        .host_query("reading the schema's catalog", sql, &params)
        .await?;
    let mut objects: Vec<(String, String)> = rows
        .into_iter()
        .map(|row| {
            let mut cells = row.into_iter().map(|v| text(&v));
            let key = cells.next().unwrap_or_default();
            let definition = cells.next().unwrap_or_default();
            match key.strip_prefix("table ") {
                Some(_) if session.dialect() == Dialect::Sqlite => {
                    (key, unordered_columns(&definition))
                }
                _ => (key, definition),
            }
        })
        .collect();
    // Several objects under one key get `#2`, … in a stable order, whatever the catalog's.
    objects.sort();
    Ok(Snapshot::new(objects))
}

/// A column as [`snapshot`] writes it (`TYPE[ not null] default EXPR|none[ …]`), read back
/// into its parts: what autogenerate hands `db::ddl` to write a column change or restore a
/// dropped column.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CatalogColumn {
    /// The type as the catalog spells it (`character varying(40)`, `varchar(40)`).
    pub data_type: String,
    /// `NOT NULL`.
    pub not_null: bool,
    /// The default expression; `None` for none (MySQL's `NULL` default is none).
    pub default: Option<String>,
    /// What else the catalog says: PostgreSQL's `identity …`, MySQL's `EXTRA`
    /// (`auto_increment`, `on update current_timestamp()`), SQLite's `primary key N`.
    pub extra: String,
    /// MySQL's collation, for text columns.
    pub collation: Option<String>,
    /// A generated (computed) column, which no column change can restate.
    pub generated: bool,
}

/// MySQL's `EXTRA` values, which follow the default in the snapshot's text.
const MYSQL_EXTRAS: [&str; 6] = [
    " auto_increment",
    " on update ",
    " virtual generated",
    " stored generated",
    " default_generated",
    " invisible",
];

impl CatalogColumn {
    /// Reads `definition` as `dialect`'s snapshot writes a column; `None` for text that is
    /// not one.
    pub fn parse(dialect: Dialect, definition: &str) -> Option<CatalogColumn> {
        let (head, rest, generated) = match definition.split_once(" default ") {
            Some((head, rest)) => (head, rest, false),
            None => {
                let (head, rest) = definition.split_once(" generated always as ")?;
                (head, rest, true)
            }
        };
        let (data_type, not_null) = match head.strip_suffix(" not null") {
            Some(t) => (t, true),
            None => (head, false),
        };
        let mut column = CatalogColumn {
            data_type: data_type.to_string(),
            not_null,
            generated,
            ..CatalogColumn::default()
        };
        let (default, extra) = match dialect {
            Dialect::Postgres => {
                match [" identity always", " identity by default"]
                    .iter()
                    .find_map(|i| rest.strip_suffix(i).map(|d| (d, i.trim_start())))
                {
                    Some((d, identity)) => (d, identity.to_string()),
                    None => (rest, String::new()),
                }
            }
            Dialect::Mysql => {
                let mut rest = rest;
                if let Some((r, c)) = rest.rsplit_once(" collate ")
                    && !c.contains(' ')
                {
                    column.collation = Some(c.to_string());
                    rest = r;
                }
                let literal_end = match rest.strip_prefix('\'') {
                    Some(quoted) => Some(quoted_end(quoted)? + 1),
                    None => None,
                };
                let lower = rest.to_ascii_lowercase();
                let from = literal_end.unwrap_or(0);
                let at = MYSQL_EXTRAS
                    .iter()
                    .filter_map(|x| lower[from..].find(x).map(|i| i + from))
                    .min();
                match at {
                    Some(at) => (&rest[..at], rest[at..].trim().to_string()),
                    None => (rest, String::new()),
                }
            }
            Dialect::Sqlite => {
                let at = [" primary key ", " generated "]
                    .iter()
                    .filter_map(|x| rest.find(x))
                    .min();
                match at {
                    Some(at) => (&rest[..at], rest[at..].trim().to_string()),
                    None => (rest, String::new()),
                }
            }
        };
        let lower = extra.to_ascii_lowercase();
        column.generated |= match dialect {
            Dialect::Postgres => false,
            Dialect::Mysql => {
                lower.contains("virtual generated") || lower.contains("stored generated")
            }
            Dialect::Sqlite => lower.contains("generated"),
        };
        let default = default.trim();
        let none = default == "none" || (dialect == Dialect::Mysql && default == "NULL");
        column.default = (!none && !generated).then(|| default.to_string());
        column.extra = extra;
        Some(column)
    }
}

/// Where the quoted literal whose text (after its opening quote) is `quoted` ends: the index
/// of its closing quote; `''` is a quote inside it.
fn quoted_end(quoted: &str) -> Option<usize> {
    let b = quoted.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' if b.get(i + 1) == Some(&b'\'') => i += 2,
            b'\'' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// An SQLite `CREATE TABLE` with its comments dropped, whitespace collapsed and the
/// elements between its outer parentheses sorted: where a downgrade re-adds a dropped column
/// (`ALTER TABLE … ADD COLUMN` appends it) the text then still matches. The elements'
/// contents — types, defaults, constraints — are still compared.
fn unordered_columns(sql: &str) -> String {
    use crate::core::table::{TableText, squash};
    let Ok(table) = TableText::parse(sql) else {
        return sql.to_string();
    };
    let mut elements = table.squashed_elements();
    elements.sort();
    format!(
        "{} ({}) {}",
        table_head(&squash(&table.head)),
        elements.join(", "),
        squash(&table.options)
    )
    .trim_end()
    .to_string()
}

/// `CREATE TABLE name` with the name quoted only where SQLite needs it: a rebuilt table's
/// text names it quoted (`ALTER TABLE … RENAME` writes `"name"`), the same table.
fn table_head(head: &str) -> String {
    let Some(name) = head
        .get(..13)
        .filter(|h| h.eq_ignore_ascii_case("CREATE TABLE "))
        .map(|_| &head[13..])
    else {
        return head.to_string();
    };
    let name = crate::db::ddl::sqlite_table::unquote(name.trim());
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        format!("CREATE TABLE {name}")
    } else {
        format!(
            "CREATE TABLE {}",
            crate::db::ddl::sqlite_table::quote(&name)
        )
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Text(s) => s.clone(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Integer(n) => n.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Decimal(d) => d.clone(),
        // The catalog queries cast to text; anything else is named, never guessed at.
        other => format!("<{}>", super::values::kind(other)),
    }
}

/// `$1` is the schema's name. Definitions come from the server's own deparsers
/// (`pg_get_constraintdef`, `pg_get_functiondef`, …), so equal objects print equally.
const POSTGRES: &str = r#"
WITH ns AS (SELECT oid, nspname FROM pg_namespace WHERE nspname = $1),
rel AS (
  SELECT c.oid, c.relname, c.relkind FROM pg_class c
  WHERE c.relnamespace = (SELECT oid FROM ns) AND substr(c.relname, 1, 7) <> 'retort_'
)
SELECT 'relation ' || relname,
       CASE relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
         WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' WHEN 'S' THEN 'sequence'
         ELSE relkind::text END
  FROM rel WHERE relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
UNION ALL
SELECT 'column ' || r.relname || '.' || a.attname,
       format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || CASE WHEN a.attgenerated = 's' THEN ' generated always as ' ELSE ' default ' END
          || COALESCE(pg_get_expr(d.adbin, d.adrelid), 'none')
       || CASE a.attidentity WHEN 'a' THEN ' identity always' WHEN 'd' THEN ' identity by default'
          ELSE '' END
  FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint ' || r.relname || '.' || k.conname, pg_get_constraintdef(k.oid)
  FROM pg_constraint k JOIN rel r ON r.oid = k.conrelid
UNION ALL
SELECT 'index ' || i.indexname, i.indexdef FROM pg_indexes i
  WHERE i.schemaname = (SELECT nspname FROM ns) AND substr(i.tablename, 1, 7) <> 'retort_'
UNION ALL
SELECT 'view ' || v.viewname, v.definition FROM pg_views v
  WHERE v.schemaname = (SELECT nspname FROM ns)
UNION ALL
SELECT 'materialized view ' || m.matviewname, m.definition FROM pg_matviews m
  WHERE m.schemaname = (SELECT nspname FROM ns)
UNION ALL
SELECT 'sequence ' || s.sequencename,
       format('%s start %s increment %s min %s max %s cache %s%s', s.data_type, s.start_value,
              s.increment_by, s.min_value, s.max_value, s.cache_size,
              CASE WHEN s.cycle THEN ' cycle' ELSE '' END)
  FROM pg_sequences s WHERE s.schemaname = (SELECT nspname FROM ns)
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'procedure ' ELSE 'function ' END || p.oid::regprocedure::text,
       pg_get_functiondef(p.oid)
  FROM pg_proc p WHERE p.pronamespace = (SELECT oid FROM ns) AND p.prokind IN ('f', 'p')
UNION ALL
SELECT 'aggregate ' || p.oid::regprocedure::text, 'aggregate'
  FROM pg_proc p WHERE p.pronamespace = (SELECT oid FROM ns) AND p.prokind IN ('a', 'w')
UNION ALL
SELECT 'trigger ' || r.relname || '.' || t.tgname, pg_get_triggerdef(t.oid)
  FROM pg_trigger t JOIN rel r ON r.oid = t.tgrelid WHERE NOT t.tgisinternal
UNION ALL
SELECT 'rule ' || x.tablename || '.' || x.rulename, x.definition FROM pg_rules x
  WHERE x.schemaname = (SELECT nspname FROM ns) AND substr(x.tablename, 1, 7) <> 'retort_'
UNION ALL
SELECT 'type ' || t.typname,
       CASE t.typtype
         WHEN 'e' THEN 'enum (' || (SELECT string_agg(quote_literal(e.enumlabel), ', '
                                      ORDER BY e.enumsortorder)
                                    FROM pg_enum e WHERE e.enumtypid = t.oid) || ')'
         WHEN 'd' THEN 'domain ' || format_type(t.typbasetype, t.typtypmod)
                       || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END
                       || COALESCE(' default ' || t.typdefault, '')
         ELSE 'composite' END
  FROM pg_type t WHERE t.typnamespace = (SELECT oid FROM ns)
  AND (t.typtype IN ('e', 'd')
       OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_class c
                                      WHERE c.oid = t.typrelid AND c.relkind = 'c')))
UNION ALL
SELECT 'extension ' || e.extname, e.extversion FROM pg_extension e WHERE e.extname <> 'plpgsql'
UNION ALL
SELECT 'schema ' || n.nspname, pg_get_userbyid(n.nspowner) FROM pg_namespace n
  WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
"#;

/// Every expression cast to one character set: `information_schema` mixes collations, which
/// a `UNION` refuses. A view's definition names its database, which is left out.
const MYSQL: &str = r#"
SELECT CAST(CONCAT('table ', table_name) AS CHAR CHARACTER SET utf8mb4),
       CAST(CONCAT(table_type, ' ', COALESCE(engine, ''), ' ', COALESCE(table_collation, ''))
            AS CHAR CHARACTER SET utf8mb4)
  FROM information_schema.tables
  WHERE table_schema = DATABASE() AND SUBSTR(table_name, 1, 7) <> 'retort_'
UNION ALL
SELECT CAST(CONCAT('column ', table_name, '.', column_name) AS CHAR CHARACTER SET utf8mb4),
       CAST(CONCAT(column_type, IF(is_nullable = 'NO', ' not null', ''),
                   ' default ', COALESCE(column_default, 'none'),
                   IF(extra = '', '', CONCAT(' ', extra)),
                   COALESCE(CONCAT(' collate ', collation_name), ''))
            AS CHAR CHARACTER SET utf8mb4)
  FROM information_schema.columns
  WHERE table_schema = DATABASE() AND SUBSTR(table_name, 1, 7) <> 'retort_'
UNION ALL
SELECT CAST(CONCAT('index ', table_name, '.', index_name) AS CHAR CHARACTER SET utf8mb4),
       CAST(CONCAT(IF(non_unique = 0, 'unique ', ''), index_type, ' (',
                   GROUP_CONCAT(CONCAT(column_name, COALESCE(CONCAT('(', sub_part, ')'), ''))
                                ORDER BY seq_in_index SEPARATOR ', '), ')')
            AS CHAR CHARACTER SET utf8mb4)
  FROM information_schema.statistics
  WHERE table_schema = DATABASE() AND SUBSTR(table_name, 1, 7) <> 'retort_'
  GROUP BY table_name, index_name, non_unique, index_type
UNION ALL
SELECT CAST(CONCAT('constraint ', table_name, '.', constraint_name) AS CHAR CHARACTER SET utf8mb4),
       CAST(constraint_type AS CHAR CHARACTER SET utf8mb4)
  FROM information_schema.table_constraints
  WHERE constraint_schema = DATABASE() AND SUBSTR(table_name, 1, 7) <> 'retort_'
UNION ALL
SELECT CAST(CONCAT('check ', t.table_name, '.', c.constraint_name) AS CHAR CHARACTER SET utf8mb4),
       CAST(c.check_clause AS CHAR CHARACTER SET utf8mb4)
  FROM information_schema.check_constraints c
  JOIN information_schema.table_constraints t
    ON t.constraint_schema = c.constraint_schema AND t.constraint_name = c.constraint_name
   AND t.constraint_type = 'CHECK'
  WHERE c.constraint_schema = DATABASE() AND SUBSTR(t.table_name, 1, 7) <> 'retort_'
UNION ALL
SELECT CAST(CONCAT('foreign key ', k.table_name, '.', k.constraint_name)
            AS CHAR CHARACTER SET utf8mb4),
       CAST(CONCAT('(', GROUP_CONCAT(k.column_name ORDER BY k.ordinal_position SEPARATOR ', '),
                   ') references ', k.referenced_table_name, ' (',
                   GROUP_CONCAT(k.referenced_column_name ORDER BY k.ordinal_position
                                SEPARATOR ', '),
                   ') on update ', r.update_rule, ' on delete ', r.delete_rule)
            AS CHAR CHARACTER SET utf8mb4)
  FROM information_schema.key_column_usage k
  JOIN information_schema.referential_constraints r
    ON r.constraint_schema = k.constraint_schema AND r.constraint_name = k.constraint_name
   AND r.table_name = k.table_name
  WHERE k.table_schema = DATABASE() AND k.referenced_table_name IS NOT NULL
  GROUP BY k.table_name, k.constraint_name, k.referenced_table_name, r.update_rule,
           r.delete_rule
UNION ALL
SELECT CAST(CONCAT('view ', table_name) AS CHAR CHARACTER SET utf8mb4),
       CAST(REPLACE(view_definition, CONCAT('`', DATABASE(), '`.'), '')
            AS CHAR CHARACTER SET utf8mb4)
  FROM information_schema.views WHERE table_schema = DATABASE()
UNION ALL
SELECT CAST(CONCAT('trigger ', event_object_table, '.', trigger_name)
            AS CHAR CHARACTER SET utf8mb4),
       CAST(CONCAT(action_timing, ' ', event_manipulation, ' ', action_statement)
            AS CHAR CHARACTER SET utf8mb4)
  FROM information_schema.triggers WHERE trigger_schema = DATABASE()
UNION ALL
SELECT CAST(CONCAT(LOWER(routine_type), ' ', routine_name) AS CHAR CHARACTER SET utf8mb4),
       CAST(CONCAT(COALESCE(dtd_identifier, ''), ' ', COALESCE(routine_definition, ''))
            AS CHAR CHARACTER SET utf8mb4)
  FROM information_schema.routines WHERE routine_schema = DATABASE()
UNION ALL
SELECT CAST(CONCAT('event ', event_name) AS CHAR CHARACTER SET utf8mb4),
       CAST(CONCAT(COALESCE(interval_value, ''), ' ', COALESCE(interval_field, ''), ' ',
                   event_definition) AS CHAR CHARACTER SET utf8mb4)
  FROM information_schema.events WHERE event_schema = DATABASE()
"#;

/// SQLite keeps each object's `CREATE` text; columns and foreign keys are read structurally
/// too, so a difference names the column.
const SQLITE: &str = r#"
SELECT m.type || ' ' || m.name, COALESCE(m.sql, '') FROM sqlite_master m
  WHERE substr(m.name, 1, 7) NOT IN ('retort_', 'sqlite_')
UNION ALL
SELECT 'column ' || m.name || '.' || p.name,
       p.type || CASE WHEN p."notnull" THEN ' not null' ELSE '' END
       || ' default ' || COALESCE(p.dflt_value, 'none')
       || CASE WHEN p.pk THEN ' primary key ' || p.pk ELSE '' END
       || CASE p.hidden WHEN 2 THEN ' generated virtual' WHEN 3 THEN ' generated stored' ELSE '' END
  FROM sqlite_master m JOIN pragma_table_xinfo(m.name) p
  WHERE m.type = 'table' AND substr(m.name, 1, 7) NOT IN ('retort_', 'sqlite_')
UNION ALL
SELECT 'foreign key ' || m.name || '.' || f.id || '.' || f.seq,
       f."from" || ' references ' || f."table" || COALESCE(' (' || f."to" || ')', '')
       || ' on update ' || f.on_update || ' on delete ' || f.on_delete
  FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f
  WHERE m.type = 'table' AND substr(m.name, 1, 7) NOT IN ('retort_', 'sqlite_')
"#;

#[cfg(test)]
mod tests {
    use super::{CatalogColumn, unordered_columns};
    use crate::core::Dialect;

    #[test]
    fn catalog_columns_read_back_into_their_parts() {
        let pg = |d| CatalogColumn::parse(Dialect::Postgres, d).unwrap();
        assert_eq!(
            pg("character varying(20) not null default 'a b'::character varying"),
            CatalogColumn {
                data_type: "character varying(20)".into(),
                not_null: true,
                default: Some("'a b'::character varying".into()),
                ..CatalogColumn::default()
            }
        );
        let id = pg("bigint not null default none identity by default");
        assert_eq!(
            (id.default, id.extra.as_str()),
            (None, "identity by default")
        );
        assert!(pg("integer generated always as (a * 2)").generated);

        let my = |d| CatalogColumn::parse(Dialect::Mysql, d).unwrap();
        assert_eq!(
            my("varchar(20) not null default 'it''s on update x' collate utf8mb4_bin"),
            CatalogColumn {
                data_type: "varchar(20)".into(),
                not_null: true,
                default: Some("'it''s on update x'".into()),
                collation: Some("utf8mb4_bin".into()),
                ..CatalogColumn::default()
            }
        );
        assert_eq!(my("int(11) default NULL").default, None);
        let ts = my("timestamp not null default current_timestamp() on update current_timestamp()");
        assert_eq!(ts.default.as_deref(), Some("current_timestamp()"));
        assert_eq!(ts.extra, "on update current_timestamp()");
        let auto = my("bigint(20) not null default none auto_increment");
        assert_eq!(
            (auto.default, auto.extra.as_str()),
            (None, "auto_increment")
        );
        assert!(my("int(11) default NULL VIRTUAL GENERATED").generated);
        assert!(!ts.generated);

        let lite = CatalogColumn::parse(
            Dialect::Sqlite,
            "INTEGER not null default none primary key 1",
        )
        .unwrap();
        assert_eq!(
            (lite.data_type.as_str(), lite.extra.as_str()),
            ("INTEGER", "primary key 1")
        );
        assert_eq!(CatalogColumn::parse(Dialect::Sqlite, "no parts"), None);
    }

    #[test]
    fn column_order_comments_and_spacing_do_not_count() {
        let a = "CREATE TABLE users (\n  id INTEGER PRIMARY KEY, -- the key\n  email VARCHAR(320)\n, name TEXT CHECK (length(name) > 0))";
        let b = "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT CHECK (length(name) > 0), email VARCHAR(320))";
        assert_eq!(unordered_columns(a), unordered_columns(b));
        // A rebuilt table's name comes back quoted, and its keywords in capitals.
        assert_eq!(
            unordered_columns(
                "create table \"users\"(id INTEGER PRIMARY KEY, name TEXT CHECK (length(name) > 0), email VARCHAR(320))"
            ),
            unordered_columns(b)
        );
        assert_eq!(
            unordered_columns("CREATE TABLE \"odd name\" (a)"),
            "CREATE TABLE \"odd name\" (a)"
        );
        assert_eq!(
            unordered_columns(b),
            "CREATE TABLE users (email VARCHAR(320), id INTEGER PRIMARY KEY, name TEXT CHECK (length(name) > 0))"
        );
    }

    #[test]
    fn a_changed_type_or_constraint_still_counts() {
        let a = "CREATE TABLE t (a INTEGER, b TEXT)";
        assert_ne!(
            unordered_columns(a),
            unordered_columns("CREATE TABLE t (a INTEGER, b BLOB)")
        );
        assert_ne!(
            unordered_columns(a),
            unordered_columns("CREATE TABLE t (a INTEGER, b TEXT, UNIQUE (a))")
        );
        assert_eq!(
            unordered_columns("CREATE TABLE t (a TEXT DEFAULT 'x,y') WITHOUT ROWID"),
            "CREATE TABLE t (a TEXT DEFAULT 'x,y') WITHOUT ROWID"
        );
    }
}
