//! Why a schema operation, or a definition kept for a downgrade, cannot be written. The
//! message goes to the migration as `invalid-statement`; the kind is for the host and tests.

/// Why [`plan`](super::plan) (or a kept definition's check) refused an operation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DdlError {
    /// A name holds a control character (see [`check_name`](super::check_name)).
    #[error(
        "the name {name:?} holds the control character {character:?}; names may not hold \
         control characters"
    )]
    ControlCharacter {
        /// The name.
        name: String,
        /// The first control character in it.
        character: char,
    },
    /// A name is empty.
    #[error("an empty name")]
    EmptyName,
    /// A key, index or constraint names no column.
    #[error("an empty column list")]
    EmptyColumnList,
    /// SQLite numbers rows only for a column that is the whole primary key.
    #[error(
        "identity column `{column}`: SQLite numbers rows only for a column that is the \
         table's whole primary key"
    )]
    IdentityNotSoleKey {
        /// The column.
        column: String,
    },
    /// A table without columns.
    #[error("table `{table}` has no columns")]
    NoColumns {
        /// The table.
        table: String,
    },
    /// A foreign key whose column lists differ in length.
    #[error("foreign key `{name}` has {columns} column(s) referencing {referenced}")]
    ForeignKeyArity {
        /// The constraint.
        name: String,
        /// How many columns it has.
        columns: usize,
        /// How many it references.
        referenced: usize,
    },
    /// A partial index on MySQL or MariaDB, which have none.
    #[error(
        "index `{index}` is partial (WHERE {predicate}): MySQL and MariaDB have no partial indexes"
    )]
    PartialIndex {
        /// The index.
        index: String,
        /// Its `WHERE`.
        predicate: String,
    },
    /// A concurrent index build asked for inside the transaction Retort lent.
    #[error(
        "{operation} concurrently: PostgreSQL builds an index concurrently only outside a \
         transaction; declare the migration `transactional: false`"
    )]
    ConcurrentlyInTransaction {
        /// `create-index` or `drop-index`.
        operation: &'static str,
    },
    /// An `alter-column` that changes nothing.
    #[error("alter-column {table}.{column} changes nothing")]
    NothingToAlter {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// A SQLite rebuild inside a transaction of a table other tables' foreign keys reference.
    #[error(
        "rebuilding table `{table}` would cascade into the tables whose foreign keys reference \
         it ({}): Retort's SQLite connections enforce foreign keys, and SQLite switches \
         that off only outside a transaction. Declare the migration `transactional: \
         false`: Retort then switches it off around the rebuild, which is still all or \
         nothing, and checks every key before it ends", .referenced_by.join(", ")
    )]
    RebuildCascades {
        /// The table.
        table: String,
        /// The tables that reference it.
        referenced_by: Vec<String>,
    },
    /// The host did not read the table a SQLite rebuild needs (a host bug).
    #[error("the table to rebuild was not read")]
    TableNotRead,
    /// A SQLite table's definition could not be read for a rebuild.
    #[error("cannot read the definition of table `{table}` to rebuild it: {reason}")]
    Unreadable {
        /// The table.
        table: String,
        /// What in its text could not be read.
        reason: String,
    },
    /// The operation names a column the table has not.
    #[error("{operation} {table}.{column}: the table has no column `{column}`")]
    NoSuchColumn {
        /// The operation.
        operation: &'static str,
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// The operation names a constraint the table has not.
    #[error("drop-constraint {table}.{name}: the table has no constraint named `{name}`")]
    NoSuchConstraint {
        /// The table.
        table: String,
        /// The constraint.
        name: String,
    },
    /// The engine has no objects of the kind (SQLite's functions and procedures).
    #[error("SQLite has no stored {kind}s: there is no `{name}` to keep")]
    NoSuchKind {
        /// The kind.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// A kept definition of a kind Retort does not keep.
    #[error("an unknown kind of object `{0}`")]
    UnknownKind(String),
    /// A kept statement that does not split as SQL.
    #[error("{0}")]
    Unsplittable(String),
    /// A kept statement that is several.
    #[error("`{statement}` is {count} statements, not one")]
    NotOneStatement {
        /// The statement (shortened).
        statement: String,
        /// How many it is.
        count: usize,
    },
    /// A kept statement that does not drop or create the kept object.
    #[error("`{statement}` is not a {} of the {kind} `{name}`", if *.drops { "drop" } else { "creation" })]
    NotOfObject {
        /// The statement (shortened).
        statement: String,
        /// Whether it is a drop (else a creation).
        drops: bool,
        /// The kept object's kind.
        kind: String,
        /// Its name.
        name: String,
    },
    /// Kept statements that never create the object.
    #[error("nothing creates the {kind} `{name}`")]
    NothingCreates {
        /// The kind.
        kind: String,
        /// The name.
        name: String,
    },
}
