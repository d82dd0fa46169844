//! Adds a foreign key from `books.editor` to `authors(code)`: on SQLite a rebuild of
//! `books`, which must refuse, naming the rows, when a book names an editor who is not an
//! author.

use retort_guest::schema::{Constraint, ForeignKey};
use retort_guest::{Migration, Result, Tx};

struct BooksEditorKey;

impl Migration for BooksEditorKey {
    fn upgrade(tx: &Tx) -> Result<()> {
        tx.add_constraint(
            "books",
            Constraint::ForeignKey(ForeignKey::new(
                "books_editor",
                &["editor"],
                "authors",
                &["code"],
            )),
        )
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        tx.drop_constraint(
            "books",
            retort_guest::schema::ConstraintKind::ForeignKey,
            "books_editor",
        )
    }
}

retort_guest::export!(BooksEditorKey, id: "20261205000300", parents: ["20261205000210"],
    description: "a book's editor is an author");
