//! `dvt init NAME`: scaffolds the embedded demo (two SQLite targets, no server needed).

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::printer;

/// The demo project's files, embedded from `examples/demo` so `dvt init` and the
/// committed example can never drift apart.
const FILES: &[(&str, &str)] = &[
    (
        "dbt_project.yml",
        include_str!("../../examples/demo/dbt_project.yml"),
    ),
    (
        "profiles.yml",
        include_str!("../../examples/demo/profiles.yml"),
    ),
    (".gitignore", include_str!("../../examples/demo/.gitignore")),
    ("README.md", include_str!("../../examples/demo/README.md")),
    (
        "seeds/customers.csv",
        include_str!("../../examples/demo/seeds/customers.csv"),
    ),
    (
        "seeds/orders.csv",
        include_str!("../../examples/demo/seeds/orders.csv"),
    ),
    (
        "macros/money.sql",
        include_str!("../../examples/demo/macros/money.sql"),
    ),
    (
        "models/schema.yml",
        include_str!("../../examples/demo/models/schema.yml"),
    ),
    (
        "models/staging/stg_orders.sql",
        include_str!("../../examples/demo/models/staging/stg_orders.sql"),
    ),
    (
        "models/marts/customer_revenue.sql",
        include_str!("../../examples/demo/models/marts/customer_revenue.sql"),
    ),
    (
        "models/marts/revenue_by_country.sql",
        include_str!("../../examples/demo/models/marts/revenue_by_country.sql"),
    ),
];

pub(crate) fn init(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        bail!(dvt_core::error::Error::InvalidConfig {
            location: dvt_core::error::Location::file("dvt init"),
            key: "name".into(),
            message: format!(
                "`{name}` is not a valid project name: use letters, digits and `_`, not starting with a digit"
            ),
        });
    }
    let root = Path::new(name);
    if root.exists() {
        bail!(dvt_core::error::Error::InvalidConfig {
            location: dvt_core::error::Location::file("dvt init"),
            key: "name".into(),
            message: format!("`{name}` already exists; choose another name"),
        });
    }
    for (rel, text) in FILES {
        let path = root.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create `{}`", dir.display()))?;
        }
        let text = if *rel == "dbt_project.yml" || *rel == "profiles.yml" {
            rename_project(text, name)
        } else {
            text.replace("ref('demo',", &format!("ref('{name}',"))
        };
        std::fs::write(&path, text)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    printer::out(&format!(
        "Created project `{name}` (two SQLite targets: `warehouse` and `crm`)."
    ));
    printer::out(&format!("Next: cd {name} && dvt build"));
    Ok(())
}

/// Replaces the demo's project and profile name (`demo`) in YAML keys and values.
fn rename_project(text: &str, name: &str) -> String {
    text.lines()
        .map(|l| {
            let trimmed = l.trim_start();
            let indent = &l[..l.len() - trimmed.len()];
            if let Some(rest) = trimmed.strip_prefix("demo:") {
                format!("{indent}{name}:{rest}")
            } else if let Some((key, value)) = trimmed.split_once(':')
                && matches!(key, "name" | "profile")
                && value.trim().trim_matches(['\'', '"']) == "demo"
            {
                format!("{indent}{key}: {name}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}
