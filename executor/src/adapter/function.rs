//! The DDL that creates a user-defined SQL function (dbt 1.11's `functions/`) on each
//! database, replacing the previous version of it.
//!
//! PostgreSQL gets dbt-postgres's statement (`CREATE OR REPLACE FUNCTION ... AS $$ body $$
//! LANGUAGE SQL`), which swaps the function in one step and keeps the views that call it.
//! MariaDB has `CREATE OR REPLACE FUNCTION` too; MySQL has not, so there the function is
//! dropped and created, and callers may fail between the two statements. SQLite has no
//! SQL functions at all.

use dvt_core::dialect::{Dialect, Relation};
use dvt_core::manifest::{FunctionInfo, FunctionVolatility};

use crate::error::{Error, Result};

/// Which database a function is created in: the dialect, and for MySQL whether the
/// server is MariaDB (`CREATE OR REPLACE FUNCTION` exists there only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FunctionHost {
    pub(crate) dialect: Dialect,
    pub(crate) mariadb: bool,
}

/// The statements that create `relation` as a function with `info`'s signature and
/// `body` (its compiled SQL: a query returning one value), replacing any previous one,
/// in order.
pub(crate) fn create_function_statements(
    target: &str,
    host: FunctionHost,
    name: &str,
    relation: &Relation,
    info: &FunctionInfo,
    body: &str,
) -> Result<Vec<String>> {
    let rendered = host.dialect.render(relation);
    match host.dialect {
        Dialect::Postgres => {
            let args: Vec<String> = info
                .arguments
                .iter()
                .map(|a| match &a.default_value {
                    Some(d) => format!("{} {} DEFAULT {d}", a.name, a.data_type),
                    None => format!("{} {}", a.name, a.data_type),
                })
                .collect();
            let volatility = match info.volatility {
                Some(FunctionVolatility::Deterministic) => "\nIMMUTABLE",
                Some(FunctionVolatility::Stable) => "\nSTABLE",
                Some(FunctionVolatility::NonDeterministic) => "\nVOLATILE",
                None => "",
            };
            let quote = dollar_quote(body);
            Ok(vec![format!(
                "CREATE OR REPLACE FUNCTION {rendered}({})\nRETURNS {}{volatility}\nAS {quote}\n{body}\n{quote} LANGUAGE SQL",
                args.join(", "),
                info.returns
            )])
        }
        Dialect::Mysql => {
            if let Some(a) = info.arguments.iter().find(|a| a.default_value.is_some()) {
                return Err(Error::unsupported(
                    target,
                    format!(
                        "a default value for argument `{}` of function `{name}`: MySQL and MariaDB functions take every argument",
                        a.name
                    ),
                ));
            }
            let args: Vec<String> = info
                .arguments
                .iter()
                .map(|a| format!("{} {}", a.name, a.data_type))
                .collect();
            // Without a declared volatility the database's default stands, as in dbt
            // (`NOT DETERMINISTIC` here). `READS SQL DATA` is true of a body that is a
            // query, and lets the function be created where binary logging is on.
            let determinism = match info.volatility {
                Some(FunctionVolatility::Deterministic) => "DETERMINISTIC",
                _ => "NOT DETERMINISTIC",
            };
            let create = format!(
                "FUNCTION {rendered}({})\nRETURNS {}\n{determinism} READS SQL DATA\nRETURN (\n{body}\n)",
                args.join(", "),
                info.returns
            );
            Ok(if host.mariadb {
                vec![format!("CREATE OR REPLACE {create}")]
            } else {
                vec![
                    format!("DROP FUNCTION IF EXISTS {rendered}"),
                    format!("CREATE {create}"),
                ]
            })
        }
        Dialect::Sqlite | Dialect::Datafusion => Err(Error::unsupported(
            target,
            format!(
                "function `{name}`: SQLite has no SQL functions (`CREATE FUNCTION`); give the function a PostgreSQL or MySQL/MariaDB `target:`"
            ),
        )),
    }
}

/// A dollar quote that does not occur in `body` (`$$` unless the body holds it).
fn dollar_quote(body: &str) -> String {
    let mut quote = "$$".to_owned();
    let mut n = 0;
    while body.contains(&quote) {
        quote = if n == 0 {
            "$dvt$".to_owned()
        } else {
            format!("$dvt{n}$")
        };
        n += 1;
    }
    quote
}

#[cfg(test)]
mod tests {
    use dvt_core::manifest::FunctionArgument;

    use super::*;

    fn info(volatility: Option<FunctionVolatility>, default: Option<&str>) -> FunctionInfo {
        FunctionInfo {
            arguments: vec![
                FunctionArgument {
                    name: "price".into(),
                    data_type: "numeric".into(),
                    description: None,
                    default_value: None,
                },
                FunctionArgument {
                    name: "rate".into(),
                    data_type: "numeric".into(),
                    description: None,
                    default_value: default.map(str::to_owned),
                },
            ],
            returns: "numeric".into(),
            returns_description: None,
            volatility,
        }
    }

    fn relation() -> Relation {
        let mut r = Relation::new("analytics", "with_tax");
        r.database = Some("db".into());
        r
    }

    #[test]
    fn postgres_gets_dbt_postgres_statement() {
        let host = FunctionHost {
            dialect: Dialect::Postgres,
            mariadb: false,
        };
        let sql = create_function_statements(
            "pg",
            host,
            "with_tax",
            &relation(),
            &info(Some(FunctionVolatility::Deterministic), Some("1.2")),
            "select price * rate",
        )
        .unwrap();
        assert_eq!(
            sql,
            [
                "CREATE OR REPLACE FUNCTION \"db\".\"analytics\".\"with_tax\"(price numeric, rate numeric DEFAULT 1.2)\nRETURNS numeric\nIMMUTABLE\nAS $$\nselect price * rate\n$$ LANGUAGE SQL"
            ]
        );
        let sql = create_function_statements(
            "pg",
            host,
            "f",
            &relation(),
            &info(None, None),
            "select '$$'",
        )
        .unwrap();
        assert!(
            sql[0].contains("AS $dvt$\nselect '$$'\n$dvt$ LANGUAGE SQL"),
            "{}",
            sql[0]
        );
        assert!(!sql[0].contains("VOLATILE"), "{}", sql[0]);
    }

    #[test]
    fn mysql_drops_and_creates_mariadb_replaces() {
        let mysql = FunctionHost {
            dialect: Dialect::Mysql,
            mariadb: false,
        };
        let sql = create_function_statements(
            "my",
            mysql,
            "with_tax",
            &relation(),
            &info(Some(FunctionVolatility::Deterministic), None),
            "select price * rate",
        )
        .unwrap();
        assert_eq!(
            sql,
            [
                "DROP FUNCTION IF EXISTS `analytics`.`with_tax`",
                "CREATE FUNCTION `analytics`.`with_tax`(price numeric, rate numeric)\nRETURNS numeric\nDETERMINISTIC READS SQL DATA\nRETURN (\nselect price * rate\n)"
            ]
        );
        let maria = FunctionHost {
            dialect: Dialect::Mysql,
            mariadb: true,
        };
        let sql = create_function_statements(
            "my",
            maria,
            "with_tax",
            &relation(),
            &info(Some(FunctionVolatility::Stable), None),
            "select 1",
        )
        .unwrap();
        assert_eq!(sql.len(), 1);
        assert!(
            sql[0].starts_with("CREATE OR REPLACE FUNCTION `analytics`.`with_tax`(")
                && sql[0].contains("NOT DETERMINISTIC"),
            "{}",
            sql[0]
        );
        let err = create_function_statements(
            "my",
            maria,
            "with_tax",
            &relation(),
            &info(None, Some("1")),
            "select 1",
        )
        .unwrap_err();
        assert_eq!(err.code(), "DVT306");
    }

    #[test]
    fn sqlite_has_no_functions() {
        let err = create_function_statements(
            "lite",
            FunctionHost {
                dialect: Dialect::Sqlite,
                mariadb: false,
            },
            "with_tax",
            &relation(),
            &info(None, None),
            "select 1",
        )
        .unwrap_err();
        assert_eq!(err.code(), "DVT306");
        assert!(err.to_string().contains("`with_tax`"), "{err}");
    }
}
