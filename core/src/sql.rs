//! Splicing and wrapping user SQL on its tokens, never on string positions: comments
//! anywhere, an existing `WITH`, a trailing semicolon or a trailing line comment keep
//! working. The tokens come from `sqlparser`'s tokenizer in the SQL's own dialect.

use sqlparser::ast::{Expr, SelectItem, SetExpr, Statement};
use sqlparser::dialect::{
    Dialect as SqlDialect, GenericDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect,
};
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::dialect::Dialect;

fn sql_dialect(dialect: Dialect) -> Box<dyn SqlDialect> {
    match dialect {
        Dialect::Postgres => Box::new(PostgreSqlDialect {}),
        Dialect::Mysql => Box::new(MySqlDialect {}),
        Dialect::Sqlite => Box::new(SQLiteDialect {}),
        Dialect::Datafusion => Box::new(GenericDialect {}),
    }
}

/// Tokens with the byte offsets where each starts and ends.
struct Lexed<'a> {
    sql: &'a str,
    tokens: Vec<(Token, usize, usize)>,
}

fn lex(dialect: Dialect, sql: &str) -> Option<Lexed<'_>> {
    let d = sql_dialect(dialect);
    let tokens = Tokenizer::new(d.as_ref(), sql)
        .tokenize_with_location()
        .ok()?;
    // Line starts in bytes; the tokenizer reports 1-based lines and character columns.
    let mut line_starts = vec![0usize];
    for (i, b) in sql.bytes().enumerate() {
        if b == b'\n' {
            line_starts.push(i + 1);
        }
    }
    let offset = |line: u64, column: u64| -> Option<usize> {
        let start = *line_starts.get(usize::try_from(line).ok()?.checked_sub(1)?)?;
        let col = usize::try_from(column).ok()?.checked_sub(1)?;
        let rest = &sql[start..];
        Some(start + rest.char_indices().nth(col).map_or(rest.len(), |(i, _)| i))
    };
    let mut out = Vec::with_capacity(tokens.len());
    for TokenWithSpan { token, span } in tokens {
        let start = offset(span.start.line, span.start.column)?;
        let end = offset(span.end.line, span.end.column)?;
        out.push((token, start, end.max(start)));
    }
    Some(Lexed { sql, tokens: out })
}

fn significant(t: &Token) -> bool {
    !matches!(t, Token::Whitespace(_) | Token::EOF)
}

/// `sql` without the semicolons (and whatever whitespace or comments follow them) that
/// end it. Where the SQL does not tokenize, only plain trailing `;` and whitespace go.
pub fn strip_trailing_semicolons(dialect: Dialect, sql: &str) -> String {
    let Some(lexed) = lex(dialect, sql) else {
        return sql
            .trim_end_matches(|c: char| c == ';' || c.is_whitespace())
            .to_owned();
    };
    let mut end = lexed.sql.len();
    for (token, start, _) in lexed.tokens.iter().rev() {
        match token {
            Token::SemiColon => end = *start,
            t if significant(t) => break,
            _ => {}
        }
    }
    lexed.sql[..end].trim_end().to_owned()
}

/// The statements of `sql`, split at the semicolons between them (never at one inside
/// a string, a quoted name, a dollar-quoted body or a comment); a piece holding nothing
/// but whitespace and comments is left out. SQL that does not tokenize is one piece.
pub fn split_statements(dialect: Dialect, sql: &str) -> Vec<String> {
    let Some(lexed) = lex(dialect, sql) else {
        return vec![sql.to_owned()];
    };
    let mut out = Vec::new();
    let mut start = 0;
    let mut any = false;
    for (token, at, end) in &lexed.tokens {
        match token {
            Token::SemiColon => {
                if any {
                    out.push(lexed.sql[start..*at].trim().to_owned());
                }
                start = *end;
                any = false;
            }
            t if significant(t) => any = true,
            _ => {}
        }
    }
    if any {
        out.push(lexed.sql[start..].trim().to_owned());
    }
    out
}

/// dbt's rule for ephemeral models, with dbt's spacing: CTEs go right after the query's
/// own `WITH` (and `RECURSIVE`), followed by a comma; else `with` and the CTEs go before
/// the first token. Comments are tokens, never mistaken for the query.
pub fn inject_ctes(dialect: Dialect, sql: &str, ctes: &[(String, String)]) -> String {
    if ctes.is_empty() {
        return sql.to_owned();
    }
    let defs = ctes
        .iter()
        .map(|(name, body)| format!(" {name} as (\n{body}\n)"))
        .collect::<Vec<_>>()
        .join(", ");
    let lexed = lex(dialect, sql);
    let tokens: &[(Token, usize, usize)] = lexed.as_ref().map_or(&[], |l| &l.tokens);
    let mut significant_tokens = tokens.iter().filter(|(t, ..)| significant(t));
    let after_with = match significant_tokens.next() {
        Some((Token::Word(w), _, end)) if w.keyword == Keyword::WITH => {
            match significant_tokens.next() {
                Some((Token::Word(r), _, rend)) if r.keyword == Keyword::RECURSIVE => Some(*rend),
                _ => Some(*end),
            }
        }
        _ => None,
    };
    match after_with {
        Some(at) => format!("{}{defs},{}", &sql[..at], &sql[at..]),
        None => {
            // Before the first token that is not blank (a comment counts, as in dbt).
            let first = tokens
                .iter()
                .find(
                    |(t, ..)| !matches!(t, Token::Whitespace(w) if w.to_string().trim().is_empty()),
                )
                .map_or(sql.len() - sql.trim_start().len(), |(_, start, _)| *start);
            // dbt separates the last CTE from the query by one space.
            format!("{}with{defs} {}", &sql[..first], &sql[first..])
        }
    }
}

/// A query reading at most `limit` rows of `sql`, for previews. The inner SQL keeps its
/// own lines, so a trailing line comment cannot swallow the closing parenthesis.
pub fn limit_query(dialect: Dialect, sql: &str, limit: usize) -> String {
    let inner = strip_trailing_semicolons(dialect, sql);
    format!("select * from (\n{inner}\n) as dvt_preview limit {limit}")
}

/// The select-list expressions of the outermost query that have no alias and are not
/// plain column references: their column names differ between engines
/// (`sum(amount)` is `sum` in PostgreSQL, `sum(t.amount)` in DataFusion). `None` when the
/// SQL does not parse in `dialect`.
pub fn unaliased_expressions(dialect: Dialect, sql: &str) -> Option<Vec<String>> {
    let d = sql_dialect(dialect);
    let statements = Parser::parse_sql(d.as_ref(), sql).ok()?;
    let mut out = Vec::new();
    for statement in statements {
        let Statement::Query(query) = statement else {
            continue;
        };
        collect_unaliased(&query.body, &mut out);
    }
    Some(out)
}

fn collect_unaliased(body: &SetExpr, out: &mut Vec<String>) {
    match body {
        SetExpr::Select(select) => {
            for item in &select.projection {
                if let SelectItem::UnnamedExpr(expr) = item
                    && !matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
                {
                    out.push(expr.to_string());
                }
            }
        }
        // The left side names the columns of a set operation.
        SetExpr::SetOperation { left, .. } => collect_unaliased(left, out),
        SetExpr::Query(q) => collect_unaliased(&q.body, out),
        _ => {}
    }
}

/// The MD5 of `bytes` in lowercase hex, as SQL's `md5()` returns it (dbt's test names,
/// SQLite's `md5()`, which DVT registers for dbt's hashing macros and snapshots).
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex(&Md5::digest(bytes))
}

/// The SHA-256 of `bytes` in lower-case hex (dbt's node checksums).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctes() -> Vec<(String, String)> {
        vec![("__dbt__cte__e".into(), "select 1 as id".into())]
    }

    #[test]
    fn statements_split_only_at_semicolons_between_them() {
        let d = Dialect::Postgres;
        let sql = "create temp table t as select ';' as a; -- x; y\n\
                   insert into t select $b$;$b$ /* ; */;\n;  select \"a;\" from t;";
        assert_eq!(
            split_statements(d, sql),
            [
                "create temp table t as select ';' as a",
                "-- x; y\ninsert into t select $b$;$b$ /* ; */",
                "select \"a;\" from t",
            ]
        );
        assert_eq!(split_statements(d, "select 1"), ["select 1"]);
        assert!(split_statements(d, " ; -- nothing\n").is_empty());
    }

    #[test]
    fn ctes_go_after_the_query_s_own_with() {
        let d = Dialect::Postgres;
        assert_eq!(
            inject_ctes(d, "select * from __dbt__cte__e", &ctes()),
            "with __dbt__cte__e as (\nselect 1 as id\n) select * from __dbt__cte__e"
        );
        let two = vec![
            ("__dbt__cte__a".to_owned(), "select 1".to_owned()),
            ("__dbt__cte__b".to_owned(), "select 2".to_owned()),
        ];
        assert_eq!(
            inject_ctes(d, "  select 3", &two),
            "  with __dbt__cte__a as (\nselect 1\n),  __dbt__cte__b as (\nselect 2\n) select 3"
        );
        // Comments before WITH, WITH in another case, RECURSIVE.
        let sql = "-- header; with x\n/* with */ WITH x as (select 1) select * from x";
        assert_eq!(
            inject_ctes(d, sql, &ctes()),
            "-- header; with x\n/* with */ WITH __dbt__cte__e as (\nselect 1 as id\n), x as (select 1) select * from x"
        );
        let sql = "with recursive r(n) as (select 1) select * from r";
        assert!(
            inject_ctes(d, sql, &ctes()).starts_with("with recursive __dbt__cte__e as ("),
            "{}",
            inject_ctes(d, sql, &ctes())
        );
        // A column named `with_x` is not a WITH.
        let sql = "select with_x from t";
        assert!(inject_ctes(d, sql, &ctes()).starts_with("with __dbt__cte__e as"));
    }

    #[test]
    fn trailing_semicolons_and_comments_go() {
        let d = Dialect::Postgres;
        assert_eq!(strip_trailing_semicolons(d, "select 1;"), "select 1");
        assert_eq!(
            strip_trailing_semicolons(d, "select 1 ; ; -- done\n"),
            "select 1"
        );
        assert_eq!(strip_trailing_semicolons(d, "select ';'"), "select ';'");
        assert_eq!(
            strip_trailing_semicolons(d, "select 1 -- trailing; comment"),
            "select 1 -- trailing; comment"
        );
        assert_eq!(
            limit_query(d, "select 1 as a -- note", 5),
            "select * from (\nselect 1 as a -- note\n) as dvt_preview limit 5"
        );
        // MySQL backticks and `#` comments.
        assert_eq!(
            strip_trailing_semicolons(Dialect::Mysql, "select `a;b` from t; # end"),
            "select `a;b` from t"
        );
    }

    #[test]
    fn finds_unaliased_expressions() {
        let d = Dialect::Datafusion;
        let found = unaliased_expressions(
            d,
            "select a, t.b, sum(c), count(*) as n, d + 1 from t group by 1 union all select 1, 2, 3, 4, 5",
        )
        .expect("parses");
        assert_eq!(found, vec!["sum(c)".to_owned(), "d + 1".to_owned()]);
        assert!(unaliased_expressions(d, "select (").is_none());
    }
}
