//! Bad input: a migration built against a newer, incompatible contract (a made-up
//! retort:migration@0.9.0 whose functions changed shape).

wit_bindgen::generate!({
    inline: r#"
        package retort:migration@0.9.0;

        interface sql {
            execute: func(statement: string) -> u64;
        }

        world migration {
            import sql;
            export metadata: func() -> string;
            export upgrade: func() -> result<_, string>;
            export downgrade: func() -> result<_, string>;
        }
    "#,
});

struct Future;

impl Guest for Future {
    fn metadata() -> String {
        "20260801000300".into()
    }

    fn upgrade() -> Result<(), String> {
        retort::migration::sql::execute("SELECT 1");
        Ok(())
    }

    fn downgrade() -> Result<(), String> {
        Ok(())
    }
}

export!(Future);
