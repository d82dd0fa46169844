//! Retort's integration tests: one binary, one module per concern, real databases.
//!
//! SQLite always runs. PostgreSQL and MariaDB run when `RETORT_TEST_POSTGRES_URL` /
//! `RETORT_TEST_MYSQL_URL` are set (or `CI=true`, where a missing server fails the run);
//! otherwise their tests show as ignored with the reason. Each test gets its own database.

mod alembic;
mod api;
mod backend;
mod cli;
mod common;
mod conformance;
mod containment;
mod embedded;
mod fidelity;
mod fleet;
mod gate;
mod readme;
mod runtime;
mod sandbox;
mod scenarios;
mod schema_ops;
mod sql;
mod trust;

/// Instantiates every scenario for one dialect.
macro_rules! dialect_suite {
    ($module:ident, $dialect:expr, $($cfg:meta, $reason:literal)? $(; $($extra:ident),*)?) => {
        mod $module {
            use crate::alembic;
            use crate::api;
            use crate::backend;
            use crate::common::Dialect;
            use crate::scenarios;
            use crate::schema_ops;
            use crate::conformance;
            use crate::containment;
            use crate::embedded;
            use crate::fidelity;
            use crate::fleet;
            use crate::gate;
            use crate::runtime;
            use crate::sql;
            use crate::trust;

            macro_rules! case {
                ($name:ident) => {
                    case!(scenarios, $name);
                };
                ($m:ident, $name:ident) => {
                    #[test]
                    $(#[cfg_attr(not($cfg), ignore = $reason)])?
                    fn $name() {
                        $m::$name($dialect);
                    }
                };
                (polyglot $m:ident, $name:ident) => {
                    #[test]
                    $(#[cfg_attr(not($cfg), ignore = $reason)])?
                    // Only one `ignore` may apply: the database's reason wins.
                    #[cfg_attr(
                        all($($cfg,)? not(retort_test_polyglot)),
                        ignore = "set RETORT_COMPONENTIZE_PY and RETORT_COMPONENTIZE_JS (see docs/development.md) to run"
                    )]
                    fn $name() {
                        $m::$name($dialect);
                    }
                };
                (alembic $m:ident, $name:ident) => {
                    #[test]
                    $(#[cfg_attr(not($cfg), ignore = $reason)])?
                    #[cfg_attr(
                        all($($cfg,)? not(all(retort_test_polyglot, retort_test_alembic))),
                        ignore = "set RETORT_COMPONENTIZE_PY, RETORT_COMPONENTIZE_JS and RETORT_ALEMBIC (see docs/development.md) to run"
                    )]
                    fn $name() {
                        $m::$name($dialect);
                    }
                };
            }

            case!(demo_project_upgrades_and_downgrades);
            case!(values_round_trip_unchanged);
            case!(one_row_type_decodes_every_engines_values);
            case!(constraint_violation_mid_data_migration_loses_nothing);
            case!(guest_panic_loses_nothing);
            case!(new_build_upgrade_downgrade_round_trip);
            case!(read_only_commands_create_nothing);
            case!(branches_labels_and_stamp);
            case!(several_databases);
            case!(failure_reports_done_failed_untouched);
            case!(concurrent_upgrades_apply_each_migration_once);
            case!(sigkill_while_holding_the_lock_does_not_block);
            case!(single_transaction_rolls_back_the_whole_run);
            case!(invalid_sql_is_reported_and_rolled_back);
            case!(failure_after_ddl_is_journaled_and_compensated);
            case!(downgrade_without_source_uses_stored_artifacts);
            case!(trust, unsigned_tampered_and_untrusted_artifacts_are_refused);
            case!(trust, downgrade_to_an_older_release_without_its_source);
            case!(trust, a_changed_artifact_is_an_error_until_the_rebuild_is_accepted);
            case!(trust, bundles_run_without_the_source_tree);
            case!(sql, sql_migrations_join_the_graph);
            case!(sql, an_edited_sql_migration_is_named_with_what_to_do);
            case!(sql, session_setup_runs_before_migrations);
            case!(sql, import_from_dbmate_and_adopt_its_database);
            case!(sql, import_from_goose_and_adopt_its_database);
            case!(sql, import_from_refinery_and_adopt_its_database);
            case!(sql, import_from_prisma_and_adopt_its_database);
            case!(sql, import_from_atlas_and_adopt_its_database);
            case!(sql, import_from_popx_and_adopt_its_database);
            case!(sql, import_from_liquibase_and_adopt_its_database);
            case!(sql, import_from_sqitch_and_adopt_its_database);
            case!(fidelity, imported_histories_match_the_engines_own_client);
            case!(gate, check_is_the_ci_gate);
            case!(gate, autogenerate_writes_column_changes);
            case!(gate, autogenerate_quotes_the_names_it_writes);
            case!(schema_ops, portable_operations_change_the_schema_and_keep_the_rows);
            case!(schema_ops, a_rebuild_keeps_rows_indexes_triggers_views_and_keys);
            case!(schema_ops, portable_operations_cannot_touch_the_bookkeeping);
            case!(schema_ops, replaced_definitions_are_restored_exactly_without_the_source);
            case!(schema_ops, sql_migrations_keep_and_restore_definitions);
            case!(gate, offline_sql_prints_what_would_run);
            case!(gate, lint_finds_what_production_would_regret);
            case!(gate, autogenerate_from_a_declared_schema);
            case!(sql, per_dialect_sql_files_and_dialect_only_migrations);
            case!(sql, versioned_comments_run_where_the_server_runs_them);
            case!(sql, unquoted_names_with_accents_run);
            case!(sql, new_sql_migration_round_trip);
            case!(sql, downgrading_what_has_no_downgrade_says_so);
            case!(runtime, sql_needs_no_toolchain_and_its_runtime_is_stored_once);
            case!(runtime, tampered_scripts_and_runtimes_are_refused);
            case!(runtime, sql_artifacts_built_before_runtimes_still_run);
            case!(runtime, sql_artifacts_on_an_earlier_sql_runtime_still_run);
            case!(polyglot runtime, python_and_javascript_run_on_shared_runtimes);
            case!(api, library_api_upgrade_status_failure_downgrade);
            case!(api, library_builds_sources_only_when_asked);
            case!(api, the_test_kit_migrates_seeds_and_round_trips);
            case!(backend, backend_contract);
            case!(backend, the_fingerprint_follows_retorts_own_writes);
            case!(backend, a_statement_reused_with_other_parameter_types_stores_each_value);
            case!(containment, hostile_session_settings_do_not_change_batched_values);
            case!(containment, a_batch_cannot_carry_a_second_statement);
            case!(containment, transaction_control_is_refused_and_nothing_is_lost);
            case!(containment, rows_written_after_ddl_roll_back_with_the_failure);
            case!(containment, bookkeeping_cannot_be_forged_hidden_or_replaced);
            case!(containment, redirecting_the_session_does_not_move_the_bookkeeping);
            case!(containment, the_lock_cannot_be_released_by_the_migration);
            case!(containment, the_deadline_holds_inside_host_calls);
            case!(containment, privileged_accounts_are_warned_about_or_refused);
            case!(containment, names_with_control_characters_are_refused);
            case!(containment, each_migration_starts_from_the_configured_session);
            case!(containment, output_cannot_forge_retorts_lines);
            case!(containment, rehearsals_touch_nothing_real);
            case!(schema_ops, forged_kept_definitions_are_refused);
            case!(embedded, embedded_app_migrates_its_database_at_start_up);
            case!(embedded, embedded_migrations_signed_by_an_untrusted_key_are_refused);
            case!(conformance, conformance_rust);
            case!(polyglot conformance, conformance_python);
            case!(polyglot conformance, conformance_javascript);
            case!(polyglot sql, four_languages_in_one_graph);
            case!(polyglot scenarios, python_and_javascript_decode_every_engines_values);
            case!(polyglot schema_ops, python_and_javascript_use_portable_operations);
            case!(polyglot alembic, an_alembic_history_imports_and_runs);
            case!(polyglot alembic, an_alembic_baseline_builds_from_scratch_and_adopts);
            case!(alembic alembic, the_imported_history_builds_what_alembic_builds);
            case!(polyglot alembic, an_alembic_revision_that_hides_its_reach_finds_nothing_in_the_sandbox);
            case!(alembic, alembic_revisions_that_cannot_run_in_a_sandbox_are_refused);
            case!(fleet, many_targets_on_one_engine);
            $($(case!($extra);)*)?
        }
    };
}

// Killing the runner mid-migration: PostgreSQL and SQLite roll back to the previous revision;
// MariaDB's DDL commits implicitly, so an interrupted run leaves an explicit unfinished row,
// settled with `resolve --downgrade`.
dialect_suite!(sqlite, Dialect::Sqlite, ; killed_at_any_moment_loses_nothing);
dialect_suite!(
    postgres,
    Dialect::Postgres,
    retort_test_postgres,
    "set RETORT_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run";
    killed_at_any_moment_loses_nothing,
    a_dropped_connection_mid_migration_loses_nothing
);
dialect_suite!(
    mysql,
    Dialect::Mysql,
    retort_test_mysql,
    "set RETORT_TEST_MYSQL_URL (e.g. mysql://root@127.0.0.1:3306/test) to run";
    killed_at_any_moment_loses_nothing
);

// Fleets: a killed worker resumed (MariaDB's DDL commits as it runs, so a worker killed
// mid-migration leaves an unfinished row there, which `resume` reports rather than guesses
// at), and workers sharing a control database, which is PostgreSQL.
mod fleets {
    use crate::common::Dialect;
    use crate::fleet;

    #[test]
    fn sqlite_killed_worker_resumes() {
        fleet::killed_worker_resumes(Dialect::Sqlite);
    }

    #[test]
    #[cfg_attr(
        not(retort_test_postgres),
        ignore = "set RETORT_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run"
    )]
    fn postgres_killed_worker_resumes() {
        fleet::killed_worker_resumes(Dialect::Postgres);
    }

    #[test]
    #[cfg_attr(
        not(retort_test_postgres),
        ignore = "set RETORT_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run"
    )]
    fn postgres_cooperative_workers_survive_a_killed_one() {
        fleet::cooperative_workers_survive_a_killed_one(Dialect::Postgres);
    }

    #[test]
    #[cfg_attr(
        not(retort_test_postgres),
        ignore = "set RETORT_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run"
    )]
    fn postgres_a_migration_cannot_move_a_tenants_bookkeeping() {
        fleet::a_migration_cannot_move_a_tenants_bookkeeping(Dialect::Postgres);
    }
}

// Engine-specific hostile migrations.
mod hostile_once {
    use crate::common::Dialect;
    use crate::containment;

    /// Output capture does not depend on the engine.
    #[test]
    fn a_flood_of_output_is_cut_not_fatal() {
        containment::a_flood_of_output_is_cut_not_fatal(Dialect::Sqlite);
    }

    /// Only PostgreSQL's migration account can kill the lock's connection from SQL here.
    #[test]
    #[cfg_attr(
        not(retort_test_postgres),
        ignore = "set RETORT_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run"
    )]
    fn postgres_a_lost_lock_stops_the_run() {
        containment::a_lost_lock_stops_the_run(Dialect::Postgres);
    }

    /// Only PostgreSQL defers triggers to COMMIT.
    #[test]
    #[cfg_attr(
        not(retort_test_postgres),
        ignore = "set RETORT_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run"
    )]
    fn postgres_work_deferred_to_commit_cannot_rewrite_the_history() {
        containment::work_deferred_to_commit_cannot_rewrite_the_history(Dialect::Postgres);
    }

    /// Only PostgreSQL has `E'…'` escape strings (and `$` in identifiers, which a lexer can
    /// take for a dollar quote).
    #[test]
    #[cfg_attr(
        not(retort_test_postgres),
        ignore = "set RETORT_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run"
    )]
    fn postgres_escape_strings_split_as_the_server_reads_them() {
        crate::sql::postgres_escape_strings_split_as_the_server_reads_them();
    }

    #[test]
    #[cfg_attr(
        not(retort_test_postgres),
        ignore = "set RETORT_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run"
    )]
    fn postgres_an_escaped_transaction_is_found_by_asking_the_server() {
        containment::an_escaped_transaction_is_found_by_asking_the_server(Dialect::Postgres);
    }

    /// Only MariaDB commits DDL as it runs, and has `PREPARE … FROM @var`.
    #[test]
    #[cfg_attr(
        not(retort_test_mysql),
        ignore = "set RETORT_TEST_MYSQL_URL (e.g. mysql://root@127.0.0.1:3306/test) to run"
    )]
    fn mysql_dynamic_sql_runs_as_real_histories_write_it() {
        containment::mysql_dynamic_sql_runs_as_real_histories_write_it(Dialect::Mysql);
    }

    #[test]
    #[cfg_attr(
        not(retort_test_mysql),
        ignore = "set RETORT_TEST_MYSQL_URL (e.g. mysql://root@127.0.0.1:3306/test) to run"
    )]
    fn mysql_hidden_commits_are_journaled_where_they_happened() {
        containment::mysql_hidden_commits_are_journaled_where_they_happened(Dialect::Mysql);
    }

    #[test]
    #[cfg_attr(
        not(retort_test_mysql),
        ignore = "set RETORT_TEST_MYSQL_URL (e.g. mysql://root@127.0.0.1:3306/test) to run"
    )]
    fn mysql_a_repeated_statement_that_commits_splits_its_journal_entry() {
        containment::mysql_a_repeated_statement_that_commits_splits_its_journal_entry(
            Dialect::Mysql,
        );
    }

    #[test]
    #[cfg_attr(
        not(retort_test_mysql),
        ignore = "set RETORT_TEST_MYSQL_URL (e.g. mysql://root@127.0.0.1:3306/test) to run"
    )]
    fn mysql_a_failure_before_any_commit_rolls_back_whole() {
        containment::mysql_a_failure_before_any_commit_rolls_back_whole(Dialect::Mysql);
    }

    #[test]
    #[cfg_attr(
        not(retort_test_mysql),
        ignore = "set RETORT_TEST_MYSQL_URL (e.g. mysql://root@127.0.0.1:3306/test) to run"
    )]
    fn mysql_backslashes_under_no_backslash_escapes() {
        containment::mysql_backslashes_under_no_backslash_escapes(Dialect::Mysql);
    }

    #[test]
    #[cfg_attr(
        not(retort_test_mysql),
        ignore = "set RETORT_TEST_MYSQL_URL (e.g. mysql://root@127.0.0.1:3306/test) to run"
    )]
    fn mysql_a_script_in_one_call_runs_statement_by_statement() {
        containment::mysql_a_script_in_one_call_runs_statement_by_statement(Dialect::Mysql);
    }

    #[test]
    #[cfg_attr(
        not(retort_test_mysql),
        ignore = "set RETORT_TEST_MYSQL_URL (e.g. mysql://root@127.0.0.1:3306/test) to run"
    )]
    fn mysql_a_committed_change_to_the_bookkeeping_is_reported_as_such() {
        containment::mysql_a_committed_change_to_the_bookkeeping_is_reported_as_such(
            Dialect::Mysql,
        );
    }
}

mod import_once {
    use crate::sql;

    /// The message depends on files only.
    #[test]
    fn an_import_that_finds_nothing_says_why() {
        sql::an_import_that_finds_nothing_says_why();
    }

    /// SQLite's pragma.
    #[test]
    fn sqlite_foreign_key_pragmas_run_as_sqlite_runs_them() {
        sql::sqlite_foreign_key_pragmas_run_as_sqlite_runs_them();
    }

    /// Only SQLite runs in Retort's process.
    #[test]
    fn sqlite_deep_statements_run_or_fail_never_crash() {
        sql::sqlite_deep_statements_run_or_fail_never_crash();
    }

    /// SQLite's authorizer decides when its session is put back.
    #[test]
    fn sqlite_session_reset_follows_what_sqlite_reports() {
        crate::containment::sqlite_session_reset_follows_what_sqlite_reports();
    }
}

mod sqlite_rebuild {
    use crate::schema_ops;

    /// Only SQLite rebuilds tables, and only its foreign keys are a connection setting.
    #[test]
    fn a_rebuild_never_cascades_into_referencing_rows() {
        schema_ops::a_rebuild_never_cascades_into_referencing_rows();
    }

    #[test]
    fn keeping_too_much_is_a_trap() {
        schema_ops::keeping_too_much_is_a_trap();
    }

    #[test]
    fn awkward_sqlite_tables_rebuild_intact() {
        schema_ops::awkward_sqlite_tables_rebuild_intact();
    }

    #[test]
    #[cfg_attr(
        not(retort_test_polyglot),
        ignore = "set RETORT_COMPONENTIZE_PY and RETORT_COMPONENTIZE_JS (see docs/development.md) to run"
    )]
    fn a_batch_rebuild_of_a_referenced_sqlite_table_runs_outside_a_transaction() {
        crate::alembic::a_batch_rebuild_of_a_referenced_sqlite_table_runs_outside_a_transaction();
    }
}

mod portable {
    use crate::scenarios;

    /// Building does not depend on the database or the engine.
    #[test]
    fn a_scaffolded_project_builds_anywhere() {
        scenarios::a_scaffolded_project_builds_anywhere();
    }
}
