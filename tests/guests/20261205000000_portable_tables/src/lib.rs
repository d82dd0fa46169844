//! Two tables made with portable schema operations (WIT 0.3.0 `schema`), and rows in them:
//! the starting point of `20261205000100_portable_alter`.

use retort_guest::schema::{Column, ColumnType, DecimalSize, ForeignKey, Table};
use retort_guest::{Migration, Result, Tx};

struct PortableTables;

impl Migration for PortableTables {
    fn upgrade(tx: &Tx) -> Result<()> {
        tx.create_table(
            Table::new("users")
                .column(
                    Column::new("id", ColumnType::BigInteger)
                        .not_null()
                        .identity(),
                )
                .column(Column::new("email", ColumnType::Varchar(80)).not_null())
                .primary_key(&["id"])
                .unique("users_email", &["email"]),
        )?;
        let money = ColumnType::Decimal(DecimalSize {
            precision: 10,
            scale: 2,
        });
        tx.create_table(
            Table::new("orders")
                .column(
                    Column::new("id", ColumnType::BigInteger)
                        .not_null()
                        .identity(),
                )
                .column(Column::new("user_id", ColumnType::BigInteger).not_null())
                .column(Column::new("total", money).not_null().default_sql("0"))
                .column(Column::new("status", ColumnType::Varchar(20)))
                .column(Column::new("note", ColumnType::Text))
                .primary_key(&["id"])
                .foreign_key(
                    ForeignKey::new("orders_user", &["user_id"], "users", &["id"]).cascade(),
                )
                .check("orders_total_positive", "total >= 0"),
        )?;
        tx.execute(
            "INSERT INTO users (email) VALUES ('a@example.com'), ('b@example.com')",
            (),
        )?;
        tx.execute(
            "INSERT INTO orders (user_id, total, status, note) VALUES (1, 5.25, 'paid', 'first'), \
             (2, 7.50, NULL, NULL)",
            (),
        )?;
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        tx.drop_table("orders")?;
        tx.drop_table("users")
    }
}

retort_guest::export!(PortableTables, id: "20261205000000", parents: [],
    description: "portable tables");
