//! The `jinja_context` fixture's `sql_helpers` models, compiled for PostgreSQL, against
//! what dbt-core 1.10 + dbt-postgres compiled for them
//! (`tests/fixtures/dbt/jinja_context/golden/build/compiled/models/sql_helpers/`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::*;

/// The eight models of `models/sql_helpers/`.
const MODELS: [&str; 8] = [
    "cross_db_aggregates",
    "cross_db_dates",
    "cross_db_strings",
    "cross_db_types",
    "date_spine",
    "payments_pivot",
    "series",
    "set_operations",
];

/// Where DVT and dbt still differ, outside the cross-database macros: (model, DVT's
/// word, dbt's word). The test checks that each difference is still there, so fixing one
/// fails it until the entry goes.
const KNOWN_DIFFERENCES: [(&str, &str, &str); 0] = [];

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/dbt/jinja_context")
}

/// Copies the fixture without `golden/` and `models/context/`, whose models fail the
/// whole load here for a reason of their own: `ctx_env.sql` reads environment variables
/// the golden run set (`steps.yml`), which a test may not set.
fn copy_fixture(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("fixture folder") {
        let entry = entry.expect("fixture entry");
        let path = entry.path();
        let rel = path.strip_prefix(fixture()).expect("inside the fixture");
        if rel == Path::new("golden") || rel == Path::new("models/context") {
            continue;
        }
        let dest = to.join(entry.file_name());
        if path.is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
            copy_fixture(&path, &dest);
        } else {
            std::fs::copy(&path, &dest).expect("copy");
        }
    }
}

#[test]
fn postgres_sql_equals_dbt_postgres_for_every_sql_helpers_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_fixture(&fixture(), dir.path());
    write_files(
        dir.path(),
        &[(
            "profiles.yml",
            "golden:\n  target: pg\n  outputs:\n    pg: {type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: golden_jinja_context}\n",
        )],
    );
    let m = load(dir.path(), "pg");
    // `date_spine` asks the database how many days it spans, as dbt did when it wrote
    // the golden.
    let db: Arc<dyn Database> = Arc::new(ScratchDatabase(Arc::new(Scratch::new(Engine::Postgres))));
    let golden_dir = fixture().join("golden/build/compiled/models/sql_helpers");
    let mut matching = Vec::new();
    let mut report = String::new();
    for model in MODELS {
        let sql = compile(&m, "golden_jinja", model, Some(Arc::clone(&db)));
        let golden =
            std::fs::read_to_string(golden_dir.join(format!("{model}.sql"))).expect("golden file");
        let mut ours = words(&sql);
        for (known_model, dvt_word, dbt_word) in KNOWN_DIFFERENCES {
            if known_model == model {
                let at = ours.iter().position(|w| *w == dvt_word).unwrap_or_else(|| {
                    panic!("{model}: the known difference `{dvt_word}` is gone; remove it from KNOWN_DIFFERENCES")
                });
                ours[at] = dbt_word;
            }
        }
        let theirs = words(&golden);
        if ours == theirs {
            matching.push(model);
        } else {
            let at = ours
                .iter()
                .zip(&theirs)
                .position(|(a, b)| a != b)
                .unwrap_or(ours.len().min(theirs.len()));
            report.push_str(&format!(
                "{model}: first difference at word {at}: DVT {:?} / dbt {:?}\n--- DVT\n{sql}\n",
                &ours[at.saturating_sub(3)..(at + 5).min(ours.len())],
                &theirs[at.saturating_sub(3)..(at + 5).min(theirs.len())],
            ));
        }
    }
    assert_eq!(
        matching, MODELS,
        "models that differ from dbt-postgres:\n{report}"
    );
}
