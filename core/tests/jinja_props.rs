//! Property tests of the Jinja front end through dvt-core's public API: a project whose
//! model and macro files hold arbitrary text loads (and its models compile) or fails
//! with a registered error code; it never panics.
//!
//! Each case renders on a thread with the main thread's stack size (8 MiB), as `dvt`
//! loads projects on its main thread; the cases are bounded so the whole file runs in a
//! few seconds.

use dvt_core::codes::{CodeKind, lookup};
use dvt_core::manifest::{LoadOptions, Manifest};
use proptest::prelude::*;

const STACK: usize = 8 << 20;

/// Writes a project with `model` as `models/m.sql` and `macros` as `macros/m.sql`,
/// loads it and compiles every model. Returns the code of the first error, if any.
fn load_and_compile(model: &str, macros: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = [
        ("dbt_project.yml", "name: p\nprofile: p\n"),
        (
            "profiles.yml",
            "p:\n  outputs:\n    main: {type: sqlite, path: x.db}\n",
        ),
        ("seeds/s.csv", "id\n1\n"),
        ("models/base.sql", "select id from {{ ref('s') }}"),
        ("models/m.sql", model),
        ("macros/m.sql", macros),
    ];
    for (rel, text) in files {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    let project_dir = dir.path().to_path_buf();
    let outcome = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || -> Result<(), dvt_core::error::Error> {
            let m = Manifest::load(&LoadOptions {
                project_dir,
                ..LoadOptions::default()
            })?;
            for id in m.nodes.keys() {
                if id.starts_with("model.") {
                    m.compile(id)?;
                }
            }
            Ok(())
        })
        .expect("spawn")
        .join();
    match outcome {
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!("panicked on model {model:?} / macros {macros:?}: {msg}")
        }
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(check_error(&e)),
    }
}

/// The error's code, after checking that it is a registered error code and that the
/// error names a file of the project.
fn check_error(e: &dvt_core::error::Error) -> String {
    let doc = lookup(e.code()).unwrap_or_else(|| panic!("`{}` is not registered: {e}", e.code()));
    assert_eq!(doc.kind, CodeKind::Error, "{e}");
    let text = e.to_string();
    let named = ["models/", "macros/"].iter().any(|dir| text.contains(dir));
    assert!(named, "the error names no project file: {text}");
    e.code().to_owned()
}

/// Pieces of dbt-flavoured Jinja, glued together in any order.
fn jinja_text() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "{{",
        "}}",
        "{%",
        "%}",
        "{#",
        "#}",
        "{%-",
        "-%}",
        " ",
        "\n",
        "if ",
        "endif",
        "else",
        "for x in [1, 2] ",
        "endfor",
        "set y = 1",
        "macro m(a) ",
        "macro m() ",
        "endmacro",
        "m(1)",
        "m()",
        "n()",
        "ref('base')",
        "ref('s')",
        "ref('nope')",
        "ref(",
        "source('a', 'b')",
        "config(materialized='table')",
        "config(materialized=1)",
        "config(enabled=false)",
        "return(1)",
        "var('v', 2)",
        "var('v')",
        "env_var('DVT_PROP_SURELY_UNSET', 'd')",
        "env_var('DVT_PROP_SURELY_UNSET')",
        "this",
        "target.name",
        "execute",
        "is_incremental()",
        "log('x')",
        "caller()",
        "call m()",
        "endcall",
        "raw",
        "endraw",
        "select 1 as id",
        "(",
        ")",
        "'",
        "\"",
        ",",
        "|",
        "~",
        "+",
        "1",
        "x",
        "|upper",
        "loop.index",
        "1 / 0",
        "range(3)",
    ]);
    prop::collection::vec(token, 0..24).prop_map(|t| t.concat())
}

/// A macro file: well-formed macro blocks around arbitrary bodies.
fn macro_file() -> impl Strategy<Value = String> {
    (jinja_text(), jinja_text(), any::<bool>()).prop_map(|(a, b, close)| {
        let end = if close { "{% endmacro %}" } else { "" };
        format!("{{% macro m(a=1) %}}{a}{{% endmacro %}}\n{{% macro k() %}}{b}{end}\n")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn arbitrary_model_text_loads_or_fails_with_a_code(model in any::<String>()) {
        let _ = load_and_compile(&model, "");
    }

    #[test]
    fn jinja_like_model_text_loads_or_fails_with_a_code(model in jinja_text()) {
        let _ = load_and_compile(&model, "{% macro m(a=1) %}{{ a }}{% endmacro %}");
    }

    #[test]
    fn jinja_like_macro_text_loads_or_fails_with_a_code(
        macros in prop_oneof![jinja_text(), macro_file()],
        model in prop::sample::select(vec![
            "select 1 as id", "select {{ m() }} as id", "select {{ k() }} as id",
            "select {{ m(ref('base')) }} as id",
        ]),
    ) {
        let _ = load_and_compile(model, &macros);
    }
}

#[test]
fn the_harness_sees_errors_and_successes() {
    assert_eq!(load_and_compile("select 1 as id", ""), Ok(()));
    assert_eq!(
        load_and_compile("select {{ ref('nope') }}", "").unwrap_err(),
        "DVT106"
    );
    assert_eq!(load_and_compile("{% if %}", "").unwrap_err(), "DVT109");
    assert_eq!(
        load_and_compile(
            "select {{ m() }}",
            "{% macro m() %}{{ 1 / 0 }}{% endmacro %}"
        )
        .unwrap_err(),
        "DVT109"
    );
}
