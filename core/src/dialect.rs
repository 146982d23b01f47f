//! SQL dialects of the targets DVT talks to: identifier quoting and relation names.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The SQL dialect a piece of SQL is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// PostgreSQL.
    Postgres,
    /// MySQL and MariaDB.
    Mysql,
    /// SQLite (the embedded default).
    Sqlite,
    /// DataFusion SQL, the dialect federated models are written in.
    Datafusion,
}

impl Dialect {
    /// Quotes one identifier, doubling any quote character inside it.
    pub fn quote(self, ident: &str) -> String {
        let q = match self {
            Dialect::Mysql => '`',
            _ => '"',
        };
        let mut out = String::with_capacity(ident.len() + 2);
        out.push(q);
        for c in ident.chars() {
            if c == q {
                out.push(q);
            }
            out.push(c);
        }
        out.push(q);
        out
    }

    /// Renders a relation name as this dialect expects it in a `FROM` clause, as dbt's
    /// adapters do: PostgreSQL with its database (`"db"."schema"."t"`), MySQL and SQLite
    /// without; each part quoted unless the relation's `quoting:` says otherwise.
    pub fn render(self, relation: &Relation) -> String {
        let part = |name: &str, quoted: bool| {
            if quoted {
                self.quote(name)
            } else {
                name.to_owned()
            }
        };
        let q = relation.quoting;
        let tail = format!(
            "{}.{}",
            part(&relation.schema, q.schema),
            part(&relation.identifier, q.identifier)
        );
        match (self, &relation.database) {
            (Dialect::Postgres, Some(db)) if !db.is_empty() => {
                format!("{}.{tail}", part(db, q.database))
            }
            _ => tail,
        }
    }

    /// The longest identifier the database keeps as written, and in what unit: PostgreSQL
    /// silently truncates names past 63 bytes (`NAMEDATALEN - 1`), MySQL rejects names
    /// past 64 characters, SQLite has no limit of its own.
    pub fn identifier_limit(self) -> Option<(usize, LengthUnit)> {
        match self {
            Dialect::Postgres => Some((63, LengthUnit::Bytes)),
            Dialect::Mysql => Some((64, LengthUnit::Chars)),
            Dialect::Sqlite | Dialect::Datafusion => None,
        }
    }

    /// Whether `ident` fits the database's identifier limit.
    pub fn identifier_fits(self, ident: &str) -> bool {
        match self.identifier_limit() {
            None => true,
            Some((max, LengthUnit::Bytes)) => ident.len() <= max,
            Some((max, LengthUnit::Chars)) => ident.chars().count() <= max,
        }
    }

    /// The dialect's name as users write it (`postgres`, `mysql`, `sqlite`, `datafusion`).
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
            Dialect::Sqlite => "sqlite",
            Dialect::Datafusion => "datafusion",
        }
    }
}

/// How an identifier limit is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthUnit {
    /// UTF-8 bytes.
    Bytes,
    /// Unicode scalar values.
    Chars,
}

impl fmt::Display for LengthUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LengthUnit::Bytes => "bytes",
            LengthUnit::Chars => "characters",
        })
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A relation (table or view) on one target.
///
/// `schema` is the PostgreSQL schema, the MySQL database, or `main` for SQLite.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Relation {
    /// Database (catalog) name where the target has one; informational only.
    pub database: Option<String>,
    /// Schema (PostgreSQL), database (MySQL) or `main` (SQLite).
    pub schema: String,
    /// Table or view name.
    pub identifier: String,
    /// Which parts are quoted when rendered (dbt's `quoting:`).
    #[serde(default, skip_serializing_if = "Quoting::is_default")]
    pub quoting: Quoting,
}

impl Relation {
    /// Builds a relation from a schema and an identifier.
    pub fn new(schema: impl Into<String>, identifier: impl Into<String>) -> Self {
        Relation {
            database: None,
            schema: schema.into(),
            identifier: identifier.into(),
            quoting: Quoting::default(),
        }
    }
}

/// dbt's `quoting:` config: which parts of a relation name are quoted. Every part is by
/// default, as in dbt-postgres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Quoting {
    /// The database part.
    pub database: bool,
    /// The schema part.
    pub schema: bool,
    /// The identifier part.
    pub identifier: bool,
}

impl Default for Quoting {
    fn default() -> Self {
        Quoting {
            database: true,
            schema: true,
            identifier: true,
        }
    }
}

impl Quoting {
    /// Whether nothing is changed from the default.
    pub fn is_default(&self) -> bool {
        *self == Quoting::default()
    }

    /// This policy with the keys of a `quoting:` mapping applied over it (other keys and
    /// non-boolean values are left alone).
    pub fn with(mut self, overrides: Option<&serde_json::Value>) -> Quoting {
        if let Some(m) = overrides.and_then(serde_json::Value::as_object) {
            for (k, v) in m {
                let Some(b) = v.as_bool() else { continue };
                match k.as_str() {
                    "database" => self.database = b,
                    "schema" => self.schema = b,
                    "identifier" => self.identifier = b,
                    _ => {}
                }
            }
        }
        self
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.identifier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_per_dialect_and_escapes_quotes() {
        let r = Relation::new("an\"alytics", "my`table");
        assert_eq!(
            Dialect::Postgres.render(&r),
            "\"an\"\"alytics\".\"my`table\""
        );
        assert_eq!(Dialect::Mysql.render(&r), "`an\"alytics`.`my``table`");
        assert_eq!(Dialect::Sqlite.quote("x"), "\"x\"");
    }
}
