//! dbt's constraints: `constraints:` on a contracted model's columns and on the model
//! itself, as the DDL a table is created with. One renderer serves the runs (pushed
//! down, federated, incremental) and the `adapter.render_raw_*_constraints` a
//! package's materialization calls, so both write the same text.
//!
//! dbt-adapters leave out of the DDL the types an adapter does not support and warn
//! about those it does not enforce. DVT's three databases enforce every type:
//! PostgreSQL (as dbt-postgres declares), MariaDB (checks since 10.2) and SQLite (its
//! bundled build checks foreign keys on every connection), so nothing is left out.
//!
//! A foreign key's `to:` is a `ref()` or `source()` call read without Jinja, as dbt
//! reads it (`parse::deps::call_text`): its target becomes a dependency of the model at
//! parse time and is named as a relation when the table is built.

use serde_json::Value as Json;

/// The constraint types dbt knows.
pub const TYPES: [&str; 6] = [
    "check",
    "not_null",
    "unique",
    "primary_key",
    "foreign_key",
    "custom",
];

/// The constraint's `type`.
pub fn kind(c: &Json) -> &str {
    c.get("type").and_then(Json::as_str).unwrap_or("")
}

fn text<'a>(c: &'a Json, key: &str) -> Option<&'a str> {
    c.get(key).and_then(Json::as_str).filter(|s| !s.is_empty())
}

fn names(c: &Json, key: &str) -> Vec<String> {
    match c.get(key) {
        Some(Json::Array(items)) => items
            .iter()
            .filter_map(|v| match v {
                Json::String(s) => Some(s.clone()),
                Json::Null => None,
                other => Some(other.to_string()),
            })
            .collect(),
        Some(Json::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// A foreign key's referenced relation and columns: `to:` (already named as a
/// relation) with `to_columns:`, else the `expression:` written after `references`.
fn references(c: &Json, to: Option<&str>) -> Option<String> {
    let to_columns = names(c, "to_columns");
    match to {
        Some(to) if !to_columns.is_empty() => {
            Some(format!("references {to} ({})", to_columns.join(", ")))
        }
        _ => text(c, "expression").map(|e| format!("references {e}")),
    }
}

/// A column constraint as DDL after the column's type, or `None` when it writes
/// nothing (a `check` without expression, a type the adapter does not support).
/// `to` is the foreign key's referenced relation, already named.
pub fn column_ddl(c: &Json, to: Option<&str>) -> Option<String> {
    let kind = kind(c);
    let expression = text(c, "expression");
    let with_expression = |word: &str| match expression {
        Some(e) => format!("{word} {e}"),
        None => word.to_owned(),
    };
    match kind {
        "check" => expression.map(|e| format!("check ({e})")),
        "not_null" => Some(with_expression("not null")),
        "unique" => Some(with_expression("unique")),
        "primary_key" => Some(with_expression("primary key")),
        "foreign_key" => references(c, to),
        "custom" => expression.map(str::to_owned),
        _ => None,
    }
}

/// A model constraint as a `CREATE TABLE` takes it, its name apart from the rest: a
/// table built under a staging name can hold the constraint under a name of its own
/// until it is swapped in (PostgreSQL names a key's index after the constraint, and
/// index names are unique in a schema).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableConstraint {
    /// `name:`, if given.
    pub name: Option<String>,
    /// dbt's constraint type.
    pub kind: String,
    /// The DDL after `constraint <name>`.
    pub body: String,
}

impl TableConstraint {
    /// The DDL under its own name.
    pub fn ddl(&self) -> String {
        self.ddl_named(self.name.as_deref())
    }

    /// The DDL under `name` (unnamed with `None`).
    pub fn ddl_named(&self, name: Option<&str>) -> String {
        match name {
            Some(n) => format!("constraint {n} {}", self.body),
            None => self.body.clone(),
        }
    }
}

/// A model constraint as a table constraint, or `None` when it writes nothing.
pub fn model_constraint(c: &Json, to: Option<&str>) -> Option<TableConstraint> {
    let kind = kind(c);
    let columns = names(c, "columns").join(", ");
    let expression = text(c, "expression");
    let keyed = |word: &str| match expression {
        Some(e) => format!("{word} {e} ({columns})"),
        None => format!("{word} ({columns})"),
    };
    let body = match kind {
        "check" => expression.map(|e| format!("check ({e})")),
        "unique" => Some(keyed("unique")),
        "primary_key" => Some(keyed("primary key")),
        "foreign_key" => references(c, to).map(|r| format!("foreign key ({columns}) {r}")),
        "custom" => expression.map(str::to_owned),
        _ => None,
    }?;
    Some(TableConstraint {
        name: text(c, "name").map(str::to_owned),
        kind: kind.to_owned(),
        body,
    })
}

/// A model constraint as DDL (`constraint <name>` first when named), as dbt's
/// `render_raw_model_constraints` writes it.
pub fn model_ddl(c: &Json, to: Option<&str>) -> Option<String> {
    model_constraint(c, to).map(|t| t.ddl())
}

/// Every constraint of a model: its own, then its columns' (dbt's `all_constraints`).
pub fn all<'a>(
    model: &'a [Json],
    columns: &'a serde_json::Map<String, Json>,
) -> impl Iterator<Item = &'a Json> {
    model.iter().chain(
        columns
            .values()
            .filter_map(|c| c.get("constraints").and_then(Json::as_array))
            .flatten(),
    )
}

/// Every foreign key's `to:` of a model: its own constraints', then its columns'.
pub fn foreign_key_targets<'a>(
    model: &'a [Json],
    columns: &'a serde_json::Map<String, Json>,
) -> impl Iterator<Item = &'a str> {
    all(model, columns)
        .filter(|c| kind(c) == "foreign_key")
        .filter_map(|c| text(c, "to"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn column_constraints_render_as_dbt_writes_them() {
        let cases = [
            (json!({"type": "not_null"}), Some("not null")),
            (json!({"type": "unique"}), Some("unique")),
            (
                json!({"type": "primary_key", "expression": "deferrable"}),
                Some("primary key deferrable"),
            ),
            (
                json!({"type": "check", "expression": "id > 0"}),
                Some("check (id > 0)"),
            ),
            (json!({"type": "check"}), None),
            (
                json!({"type": "foreign_key", "expression": "other (id)"}),
                Some("references other (id)"),
            ),
            (
                json!({"type": "custom", "expression": "default 0"}),
                Some("default 0"),
            ),
            (json!({"type": "whatever"}), None),
        ];
        for (c, want) in cases {
            assert_eq!(column_ddl(&c, None).as_deref(), want, "{c}");
        }
        let fk = json!({"type": "foreign_key", "to": "ref('a')", "to_columns": ["id"]});
        assert_eq!(
            column_ddl(&fk, Some("\"s\".\"a\"")).as_deref(),
            Some("references \"s\".\"a\" (id)")
        );
    }

    #[test]
    fn model_constraints_render_with_their_names_and_columns() {
        let pk = json!({"type": "primary_key", "columns": ["a", "b"], "name": "pk_ab"});
        assert_eq!(
            model_ddl(&pk, None).as_deref(),
            Some("constraint pk_ab primary key (a, b)")
        );
        let check = json!({"type": "check", "expression": "a < b", "columns": ["a", "b"]});
        assert_eq!(model_ddl(&check, None).as_deref(), Some("check (a < b)"));
        let fk = json!({"type": "foreign_key", "columns": ["a"], "to": "ref('p')", "to_columns": ["id"]});
        assert_eq!(
            model_ddl(&fk, Some("p_rel")).as_deref(),
            Some("foreign key (a) references p_rel (id)")
        );
    }
}
