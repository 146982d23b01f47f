//! DVT against dbt-core's own output: every fixture of `tests/fixtures/dbt/` is replayed
//! step by step (its `steps.yml`) on PostgreSQL, and what DVT compiled, the statuses it
//! reported and every relation it left are compared with the goldens dbt-core wrote
//! (`tests/dbt_golden/README.md` has their format; `regenerate.sh` makes them).
//!
//! Every comparison is an *item* (`<step> compiled <path>`, `<step> table <relation>`,
//! `<step> status <node>`, `<step> exit`). `tests/dbt_golden/dvt/<fixture>.txt` lists the
//! items DVT matches today: the test fails when one of them stops matching, and prints
//! the items that match and are not listed yet. `DVT_UPDATE_GOLDEN=1` rewrites the lists
//! (after a change that makes more items match; review the diff).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value as Json;

use crate::common::*;

#[derive(Debug, Default, Deserialize)]
struct Steps {
    #[serde(default)]
    setup_sql: Vec<String>,
    #[serde(default)]
    teardown_sql: Vec<String>,
    steps: Vec<Step>,
    #[serde(default)]
    golden_ignore_columns: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct Step {
    name: Option<String>,
    command: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    vars: serde_json::Map<String, Json>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    copy: BTreeMap<String, String>,
    #[serde(default)]
    delete: Vec<String>,
}

fn fixtures_root() -> PathBuf {
    repo_root().join("tests/fixtures/dbt")
}

/// Runs SQL outside DVT (psql), as the golden generator's `setup_sql` does.
fn psql(sql: &str) {
    let out = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "test",
            "-q",
            "-c",
        ])
        .arg(sql)
        .output()
        .unwrap_or_else(|e| panic!("{PG_HINT}: psql: {e}"));
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Compiled SQL as a list of tokens: dbt leaves blank lines where tags were.
fn words(sql: &str) -> Vec<&str> {
    sql.split_whitespace().collect()
}

/// A unique id without the hash dbt appends to a generic test's, to name its item in
/// the lists (the lookup uses the whole id, so a different hash fails the item).
fn node_key(id: &str) -> &str {
    match id.rsplit_once('.') {
        Some((head, tail))
            if id.starts_with("test.")
                && tail.len() == 10
                && tail.chars().all(|c| c.is_ascii_hexdigit()) =>
        {
            head
        }
        _ => id,
    }
}

/// One field as the goldens write it.
fn csv_field(v: Option<&str>) -> String {
    match v {
        None => "\\N".into(),
        Some(s) if s.is_empty() || s == "\\N" || s.contains([',', '"', '\r', '\n']) => {
            format!("\"{}\"", s.replace('"', "\"\""))
        }
        Some(s) => s.to_owned(),
    }
}

/// Column names and rows (`None` is NULL).
type Rows = (Vec<String>, Vec<Vec<Option<String>>>);

/// A relation's rows, or why it could not be read.
type Relation = Result<Rows, String>;

/// Every relation in the PostgreSQL schemas of the run (`<base>` and `<base>_*`), as the
/// goldens name them (`@<suffix>.<relation>`), with its rows as PostgreSQL's text.
async fn pg_relations(client: &tokio_postgres::Client, base: &str) -> BTreeMap<String, Relation> {
    client
        .batch_execute(
            "set TimeZone = 'UTC'; set DateStyle = 'ISO, MDY'; set IntervalStyle = 'postgres'; set extra_float_digits = 1",
        )
        .await
        .expect("session settings");
    let rels = client
        .query(
            "select n.nspname, c.relname, c.oid::int8 from pg_class c join pg_namespace n on n.oid = c.relnamespace \
             where c.relkind in ('r', 'v', 'm', 'p') and (n.nspname = $1 or n.nspname like $2) \
             and not c.relispartition",
            &[&base, &format!("{}\\_%", base.replace('_', "\\_"))],
        )
        .await
        .expect("relations");
    let mut out = BTreeMap::new();
    for r in rels {
        let (schema, name, oid): (String, String, i64) = (r.get(0), r.get(1), r.get(2));
        let cols: Vec<String> = client
            .query(
                "select attname::text from pg_attribute where attrelid = $1::int8::oid and attnum > 0 and not attisdropped order by attnum",
                &[&oid],
            )
            .await
            .expect("columns")
            .iter()
            .map(|c| c.get(0))
            .collect();
        let q = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
        let select: Vec<String> = cols.iter().map(|c| format!("{}::text", q(c))).collect();
        let sql = format!(
            "select {} from {}.{}",
            select.join(", "),
            q(&schema),
            q(&name)
        );
        let rows = match client.simple_query(&sql).await {
            Ok(msgs) => Ok((
                cols,
                msgs.iter()
                    .filter_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                            (0..row.len())
                                .map(|i| row.get(i).map(str::to_owned))
                                .collect(),
                        ),
                        _ => None,
                    })
                    .collect(),
            )),
            // A relation DVT left that cannot be read (a view over a missing table, a
            // collation error): a difference like any other.
            Err(e) => Err(e
                .as_db_error()
                .map_or(e.to_string(), |d| d.message().to_owned())),
        };
        out.insert(format!("@{}.{name}", &schema[base.len()..]), rows);
    }
    out
}

/// The same for MariaDB, where a schema is a database; values as its text protocol sends them.
async fn maria_relations(base: &str) -> BTreeMap<String, Relation> {
    use mysql_async::prelude::Queryable;
    let mut conn = maria().await;
    let pattern = format!("{}\\_%", base.replace('_', "\\_"));
    let rels: Vec<(String, String)> = conn
        .exec(
            "select table_schema, table_name from information_schema.tables where table_schema = ? or table_schema like ?",
            (base, &pattern),
        )
        .await
        .expect("relations");
    let mut out = BTreeMap::new();
    for (schema, name) in rels {
        let cols: Vec<String> = conn
            .exec(
                "select column_name from information_schema.columns where table_schema = ? and table_name = ? order by ordinal_position",
                (&schema, &name),
            )
            .await
            .expect("columns");
        let sql = format!(
            "select * from `{}`.`{}`",
            schema.replace('`', "``"),
            name.replace('`', "``")
        );
        let rows = match conn.query::<mysql_async::Row, _>(sql).await {
            Ok(rows) => Ok((
                cols,
                rows.into_iter()
                    .map(|r| {
                        r.unwrap()
                            .into_iter()
                            .map(|v| match v {
                                mysql_async::Value::NULL => None,
                                mysql_async::Value::Bytes(b) => {
                                    Some(String::from_utf8_lossy(&b).into_owned())
                                }
                                other => Some(other.as_sql(true).trim_matches('\'').to_owned()),
                            })
                            .collect()
                    })
                    .collect(),
            )),
            Err(e) => Err(e.to_string()),
        };
        out.insert(format!("@{}.{name}", &schema[base.len()..]), rows);
    }
    out
}

/// The same for an SQLite file, whose only schema is `main` (`@`).
fn sqlite_relations(db: &Path) -> BTreeMap<String, Relation> {
    let mut out = BTreeMap::new();
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return out;
    };
    let names: Vec<String> = conn
        .prepare("select name from sqlite_master where type in ('table', 'view') and name not like 'sqlite\\_%' escape '\\'")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .unwrap_or_default();
    for name in names {
        let read = || -> rusqlite::Result<Rows> {
            let mut stmt =
                conn.prepare(&format!("select * from \"{}\"", name.replace('"', "\"\"")))?;
            let cols: Vec<String> = stmt
                .column_names()
                .iter()
                .map(|c| (*c).to_owned())
                .collect();
            let n = cols.len();
            let rows = stmt
                .query_map([], |r| {
                    (0..n)
                        .map(|i| {
                            Ok(match r.get_ref(i)? {
                                rusqlite::types::ValueRef::Null => None,
                                rusqlite::types::ValueRef::Integer(v) => Some(v.to_string()),
                                rusqlite::types::ValueRef::Real(v) => Some(v.to_string()),
                                rusqlite::types::ValueRef::Text(t)
                                | rusqlite::types::ValueRef::Blob(t) => {
                                    Some(String::from_utf8_lossy(t).into_owned())
                                }
                            })
                        })
                        .collect()
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok((cols, rows))
        };
        out.insert(format!("@.{name}"), read().map_err(|e| e.to_string()));
    }
    out
}

/// A relation in the goldens' CSV form: masked columns first, then rows sorted as the
/// generator sorts them (bytes, NULL last), so a clock value never decides the order.
/// With `canon`, names and values are first put in one form for every database
/// ([`canon`]), so the rows of MariaDB, SQLite and PostgreSQL compare.
fn render(rel: &Relation, masked: &BTreeSet<String>, canon_values: bool) -> String {
    let (cols, rows) = match rel {
        Ok(r) => r,
        Err(why) => return format!("<unreadable: {why}>"),
    };
    let cols: Vec<String> = if canon_values {
        cols.iter().map(|c| c.to_lowercase()).collect()
    } else {
        cols.clone()
    };
    let mut values: Vec<Vec<Option<String>>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Some(_) if cols.get(i).is_some_and(|c| masked.contains(c)) => {
                        Some("*".to_owned())
                    }
                    Some(v) if canon_values => Some(canon(v)),
                    v => v.clone(),
                })
                .collect()
        })
        .collect();
    values.sort_by(|a, b| {
        let key = |r: &Vec<Option<String>>| {
            r.iter()
                .map(|v| (v.is_none(), v.clone().unwrap_or_default().into_bytes()))
                .collect::<Vec<_>>()
        };
        key(a).cmp(&key(b))
    });
    let mut text = cols
        .iter()
        .map(|c| csv_field(Some(c)))
        .collect::<Vec<_>>()
        .join(",");
    text.push('\n');
    for r in values {
        let fields: Vec<String> = r.iter().map(|v| csv_field(v.as_deref())).collect();
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    text
}

/// A golden table file back into names and rows (the inverse of [`render`]).
fn parse_csv(text: &str) -> Relation {
    let mut rows: Vec<Vec<Option<String>>> = Vec::new();
    let (mut row, mut field, mut quoted, mut in_quotes) = (Vec::new(), String::new(), false, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if in_quotes && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' if in_quotes => in_quotes = false,
            '"' if field.is_empty() => (in_quotes, quoted) = (true, true),
            ',' | '\n' if !in_quotes => {
                let value = std::mem::take(&mut field);
                row.push((quoted || value != "\\N").then_some(value));
                quoted = false;
                if c == '\n' {
                    rows.push(std::mem::take(&mut row));
                }
            }
            c => field.push(c),
        }
    }
    if rows.is_empty() {
        return Err("empty golden file".into());
    }
    let cols = rows
        .remove(0)
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    Ok((cols, rows))
}

/// One form for a value whatever database it came from: booleans as `1`/`0`, numbers
/// without trailing zeros (to 6 decimals), timestamps without a UTC offset, a `T` or
/// zero fractions (a midnight timestamp as its date), JSON without spaces. What is left
/// different is a different value, or a type the database does not have.
fn canon(v: &str) -> String {
    match v {
        "true" | "t" => return "1".into(),
        "false" | "f" => return "0".into(),
        _ => {}
    }
    let numeric = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        && v.chars().any(|c| c.is_ascii_digit());
    if numeric && let Ok(f) = v.parse::<f64>() {
        let s = format!("{f:.6}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        return if s == "-0" { "0".into() } else { s.to_owned() };
    }
    let b = v.as_bytes();
    let is_date = |b: &[u8]| {
        b.len() >= 10
            && b[..4].iter().all(u8::is_ascii_digit)
            && b[4] == b'-'
            && b[7] == b'-'
            && b[8..10].iter().all(u8::is_ascii_digit)
    };
    if is_date(b) && b.len() >= 19 && matches!(b[10], b' ' | b'T') && b[13] == b':' {
        let mut s = format!("{} {}", &v[..10], &v[11..]);
        for zone in ["+00:00", "+00", "Z"] {
            if let Some(t) = s.strip_suffix(zone) {
                s = t.to_owned();
            }
        }
        if let Some((whole, frac)) = s.split_once('.')
            && frac.chars().all(|c| c == '0')
        {
            s = whole.to_owned();
        }
        return match s.strip_suffix(" 00:00:00") {
            Some(date) => date.to_owned(),
            None => s,
        };
    }
    if (v.starts_with('{') || v.starts_with('['))
        && let Ok(j) = serde_json::from_str::<Json>(v)
    {
        // Keys sorted: PostgreSQL's jsonb orders them its own way, MariaDB keeps the text's.
        fn sorted(j: Json) -> Json {
            match j {
                Json::Object(m) => {
                    let m: BTreeMap<String, Json> =
                        m.into_iter().map(|(k, v)| (k, sorted(v))).collect();
                    Json::Object(m.into_iter().collect())
                }
                Json::Array(a) => Json::Array(a.into_iter().map(sorted).collect()),
                j => j,
            }
        }
        return sorted(j).to_string();
    }
    v.to_owned()
}

/// dbt-core's catalogue lines of one relation, as `generate.py` writes them: kind,
/// comment, columns (type, not null, comment), grants, constraints, indexes.
async fn catalog_entry(client: &tokio_postgres::Client, schema: &str, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(row) = client
        .query_one(
            "select c.oid::int8, c.relkind::text, c.relpersistence::text, obj_description(c.oid, 'pg_class'), pg_get_userbyid(c.relowner)::text \
             from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = $2",
            &[&schema, &name],
        )
        .await
    else {
        return vec!["<missing>".into()];
    };
    let (oid, kind, persistence, comment, owner): (i64, String, String, Option<String>, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    let json = |s: &str| serde_json::to_string(s).unwrap_or_default();
    out.push(format!(
        "kind {kind}{}",
        if persistence == "u" { " unlogged" } else { "" }
    ));
    if let Some(c) = comment {
        out.push(format!("comment {}", json(&c)));
    }
    for r in client
        .query(
            "select a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, col_description(a.attrelid, a.attnum) \
             from pg_attribute a where a.attrelid = $1::int8::oid and a.attnum > 0 and not a.attisdropped order by a.attnum",
            &[&oid],
        )
        .await
        .unwrap_or_default()
    {
        let (col, ty, notnull, cc): (String, String, bool, Option<String>) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        let mut line = format!(
            "column {} {ty}{}",
            json(&col),
            if notnull { " not null" } else { "" }
        );
        if let Some(c) = cc {
            line.push_str(&format!(" comment {}", json(&c)));
        }
        out.push(line);
    }
    for r in client
        .query(
            "select grantee::text, privilege_type::text from information_schema.role_table_grants \
             where table_schema = $1 and table_name = $2 and grantee <> $3 order by 1, 2",
            &[&schema, &name, &owner],
        )
        .await
        .unwrap_or_default()
    {
        out.push(format!(
            "grant {} {}",
            r.get::<_, String>(0),
            r.get::<_, String>(1)
        ));
    }
    for r in client
        .query(
            "select pg_get_constraintdef(oid) from pg_constraint where conrelid = $1::int8::oid order by 1",
            &[&oid],
        )
        .await
        .unwrap_or_default()
    {
        out.push(format!("constraint {}", r.get::<_, String>(0)));
    }
    let mut idx: Vec<String> = client
        .query(
            "select pg_get_indexdef(indexrelid) from pg_index where indrelid = $1::int8::oid",
            &[&oid],
        )
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let def: String = r.get(0);
            let unique = def.starts_with("CREATE UNIQUE");
            let using = def.find(" USING ").map_or(def.as_str(), |i| &def[i + 1..]);
            format!("index {}{using}", if unique { "unique " } else { "" })
        })
        .collect();
    idx.sort();
    out.extend(idx);
    out
}

/// Files under `dir`, as paths relative to it.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(rel.to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// Where a replay builds the fixture. The goldens are dbt-postgres's, so only
/// [`Variant::Postgres`] compares compiled SQL and catalogues; the others compare
/// statuses and rows, values put in one form first ([`canon`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Postgres,
    /// Every node on MariaDB.
    Mariadb,
    /// Every node in one SQLite file.
    Sqlite,
    /// Models on PostgreSQL, seeds and sources on MariaDB: the federated path.
    Federated,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Postgres => "postgres",
            Variant::Mariadb => "mariadb",
            Variant::Sqlite => "sqlite",
            Variant::Federated => "federated",
        }
    }

    /// The file listing the items that match (`dvt/<fixture>.txt` for PostgreSQL).
    fn list(self, fixture: &str) -> PathBuf {
        let dir = repo_root().join("tests/dbt_golden/dvt");
        match self {
            Variant::Postgres => dir.join(format!("{fixture}.txt")),
            v => dir.join(v.name()).join(format!("{fixture}.txt")),
        }
    }

    fn uses_pg(self) -> bool {
        matches!(self, Variant::Postgres | Variant::Federated)
    }

    fn uses_maria(self) -> bool {
        matches!(self, Variant::Mariadb | Variant::Federated)
    }

    fn profile(self, schema: &str) -> String {
        let pg = format!(
            "{{type: postgres, host: 127.0.0.1, port: 5432, user: postgres, dbname: test, schema: {schema}, threads: 1}}"
        );
        let maria = format!(
            "{{type: mysql, server: 127.0.0.1, port: 3306, username: root, schema: {schema}, threads: 1}}"
        );
        let outputs = match self {
            Variant::Postgres => format!("dev: {pg}"),
            Variant::Mariadb => format!("dev: {maria}"),
            Variant::Sqlite => format!("dev: {{type: sqlite, path: {schema}.db, threads: 1}}"),
            Variant::Federated => format!("dev: {pg}\n    maria: {maria}"),
        };
        format!("golden:\n  target: dev\n  outputs:\n    {outputs}\n")
    }
}

/// Moves a fixture's inputs to MariaDB as a user would: `+target: maria` for every seed
/// (root and packages) in `dbt_project.yml`, `connection: maria` on every source. The
/// fixtures write these files in one layout (`seeds:` at the top, two-space indents,
/// `  - name:` for each source), which this relies on.
fn federate(project: &Path) {
    let path = project.join("dbt_project.yml");
    let text = std::fs::read_to_string(&path).expect("dbt_project.yml");
    let text = match text.find("\nseeds:\n") {
        Some(at) => format!(
            "{}\nseeds:\n  +target: maria\n{}",
            &text[..at],
            &text[at + 8..]
        ),
        None => format!("{text}\nseeds:\n  +target: maria\n"),
    };
    std::fs::write(&path, text).expect("dbt_project.yml");
    for rel in files(project) {
        let is_yml = rel.extension().is_some_and(|e| e == "yml" || e == "yaml");
        if !is_yml || rel.starts_with("dbt_packages") || rel.starts_with("golden") {
            continue;
        }
        let path = project.join(&rel);
        let text = std::fs::read_to_string(&path).expect("yml");
        let mut out = String::new();
        let mut in_sources = false;
        for line in text.lines() {
            out.push_str(line);
            out.push('\n');
            if !line.starts_with(' ') && !line.is_empty() {
                in_sources = line.trim_end() == "sources:";
            } else if in_sources && line.starts_with("  - name:") {
                out.push_str("    connection: maria\n");
            }
        }
        std::fs::write(&path, out).expect("yml");
    }
}

/// Replays one fixture; returns every item with whether DVT matches it, and why not.
async fn replay(fixture: &str, variant: Variant) -> BTreeMap<String, Option<String>> {
    let client = pg().await;
    let golden_schema = format!("golden_{fixture}");
    let schema = unique("dvt_g");
    let _cleanup = SchemaFamily(schema.clone(), variant);
    let work = tempfile::tempdir().expect("tempdir");
    copy_tree(&fixtures_root(), work.path());
    let project = work.path().join(fixture);
    // `DVT_GOLDEN_KEEP=1`: leave the project (its target/ and logs) to look into.
    let _work = if std::env::var_os("DVT_GOLDEN_KEEP").is_some() {
        println!(
            "{fixture} on {}: project kept in {}",
            variant.name(),
            project.display()
        );
        Err(work.keep())
    } else {
        Ok(work)
    };
    if variant == Variant::Federated {
        federate(&project);
    }
    let steps: Steps = dvt_core::yaml::from_yaml(
        Path::new("steps.yml"),
        &std::fs::read_to_string(project.join("steps.yml")).expect("steps.yml"),
    )
    .expect("steps.yml parses");
    let golden_dir = project.join("golden");
    let results: Json = serde_json::from_str(
        &std::fs::read_to_string(golden_dir.join("results.json")).expect("results.json"),
    )
    .expect("results.json parses");
    std::fs::write(project.join("profiles.yml"), variant.profile(&schema)).expect("profiles.yml");
    // The fixtures' setup is PostgreSQL's (a role to grant to).
    let setup: &[String] = if variant.uses_pg() {
        &steps.setup_sql
    } else {
        &[]
    };
    for sql in setup {
        psql(&sql.replace(&golden_schema, &schema));
    }
    let ours = |text: &str| text.replace(&golden_schema, &schema);
    let project_name = {
        let text = std::fs::read_to_string(project.join("dbt_project.yml")).expect("project");
        text.lines()
            .find_map(|l| l.strip_prefix("name:"))
            .map(|n| n.trim().trim_matches(['"', '\'']).to_owned())
            .expect("a name")
    };

    // As the generator does: `deps` first when the project has packages.
    if project.join("packages.yml").exists() || project.join("dependencies.yml").exists() {
        let deps = dvt(&project, &["deps"], &[]);
        assert!(
            matches!(deps.code, 0..=2) && (deps.code == 0 || deps.stderr.contains("error[DVT")),
            "{fixture} deps exited {}:\n{}",
            deps.code,
            deps.stderr
        );
    }
    let mut items: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (i, step) in steps.steps.iter().enumerate() {
        let name = step
            .name
            .clone()
            .unwrap_or_else(|| format!("step{}", i + 1));
        for (dest, src) in &step.copy {
            std::fs::copy(project.join(src), project.join(dest)).expect("copy");
        }
        for path in &step.delete {
            let _ = std::fs::remove_file(project.join(path));
        }
        let _ = std::fs::remove_dir_all(project.join("target"));
        let mut args: Vec<&str> = vec![step.command.as_str()];
        args.extend(step.args.iter().map(String::as_str));
        let vars = serde_json::to_string(&step.vars).expect("vars");
        if !step.vars.is_empty() {
            args.extend(["--vars", vars.as_str()]);
        }
        let env: Vec<(&str, &str)> = step
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let run = dvt(&project, &args, &env);
        // Whatever DVT does not support yet, it must refuse with a coded error, never
        // crash: this holds for every step of every fixture, matched or not.
        assert!(
            matches!(run.code, 0..=2) && !run.stderr.contains("panicked"),
            "{fixture} step {name}: dvt {args:?} exited {}:\n{}",
            run.code,
            run.stderr
        );
        assert!(
            run.code == 0 || run.stderr.contains("error[DVT"),
            "{fixture} step {name}: failed without a coded error:\n{}",
            run.stderr
        );
        let golden = &results["steps"][i];
        let want_exit = golden["exit_code"].as_i64().unwrap_or(0);
        items.insert(
            format!("{name} exit"),
            (i64::from(run.code) != want_exit).then(|| {
                format!(
                    "exit {} instead of {want_exit}: {}",
                    run.code,
                    run.stderr.lines().next().unwrap_or_default()
                )
            }),
        );

        // Statuses.
        let ran: BTreeMap<String, (String, Option<i64>)> =
            std::fs::read_to_string(project.join("target/run_results.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<Json>(&t).ok())
                .and_then(|v| v["results"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .map(|r| {
                    (
                        r["unique_id"].as_str().unwrap_or_default().to_owned(),
                        (
                            r["status"].as_str().unwrap_or_default().to_owned(),
                            r["failures"].as_i64(),
                        ),
                    )
                })
                .collect();
        for (id, want) in golden["nodes"].as_object().into_iter().flatten() {
            let want_status = want["status"].as_str().unwrap_or_default();
            let want_failures = want["failures"].as_i64();
            let got = ran.get(id.as_str());
            let wrong = match got {
                None => Some("not run".to_owned()),
                Some((s, f))
                    if s == want_status && (want_failures.is_none() || *f == want_failures) =>
                {
                    None
                }
                Some((s, f)) => Some(format!(
                    "{s} ({f:?} failures) instead of {want_status} ({want_failures:?})"
                )),
            };
            items.insert(format!("{name} status {}", node_key(id)), wrong);
        }

        // Compiled SQL: the project's under `compiled/`, each installed package's under
        // `compiled_packages/<package>/` (dbt writes them to `compiled/<package>/`).
        let golden_compiled = golden_dir.join(&name).join("compiled");
        let golden_packages = golden_dir.join(&name).join("compiled_packages");
        let mut compiled: Vec<(PathBuf, PathBuf, String)> = if variant != Variant::Postgres {
            Vec::new()
        } else {
            files(&golden_compiled)
                .into_iter()
                .map(|rel| {
                    (
                        golden_compiled.join(&rel),
                        project
                            .join("target/compiled")
                            .join(&project_name)
                            .join(&rel),
                        rel.display().to_string(),
                    )
                })
                .collect()
        };
        for rel in files(&golden_packages)
            .into_iter()
            .filter(|_| variant == Variant::Postgres)
        {
            compiled.push((
                golden_packages.join(&rel),
                project.join("target/compiled").join(&rel),
                format!("packages/{}", rel.display()),
            ));
        }
        for (golden_file, path, label) in compiled {
            let want = ours(&std::fs::read_to_string(&golden_file).expect("golden"));
            let wrong = match std::fs::read_to_string(&path) {
                Err(_) => Some("not compiled".to_owned()),
                Ok(got) if words(&got) == words(&want) => None,
                Ok(got) => {
                    let (g, w) = (words(&got), words(&want));
                    let at = g.iter().zip(&w).take_while(|(a, b)| a == b).count();
                    Some(format!(
                        "differs at word {at}: dvt `{}` dbt `{}`",
                        g[at.min(g.len())..]
                            .iter()
                            .take(8)
                            .copied()
                            .collect::<Vec<_>>()
                            .join(" "),
                        w[at.min(w.len())..]
                            .iter()
                            .take(8)
                            .copied()
                            .collect::<Vec<_>>()
                            .join(" ")
                    ))
                }
            };
            items.insert(format!("{name} compiled {label}"), wrong);
        }

        // Relations and their rows.
        let mut tables = BTreeMap::new();
        if variant.uses_pg() {
            tables.extend(pg_relations(&client, &schema).await);
        }
        if variant.uses_maria() {
            tables.extend(maria_relations(&schema).await);
        }
        if variant == Variant::Sqlite {
            tables.extend(sqlite_relations(&project.join(format!("{schema}.db"))));
        }
        let exact = variant == Variant::Postgres;
        let golden_tables = golden_dir.join(&name).join("tables");
        for rel in files(&golden_tables) {
            let file = rel.to_string_lossy().into_owned();
            let key = file.trim_end_matches(".csv").to_owned();
            let masked: BTreeSet<String> = key
                .split_once('.')
                .and_then(|(_, name)| {
                    steps
                        .golden_ignore_columns
                        .get(&key)
                        .or_else(|| steps.golden_ignore_columns.get(name))
                })
                .into_iter()
                .flatten()
                .cloned()
                .collect();
            let golden = ours(&std::fs::read_to_string(golden_tables.join(&rel)).expect("golden"));
            let want = if exact {
                golden
            } else {
                render(&parse_csv(&golden), &BTreeSet::new(), true)
            };
            let wrong = match tables.get(&key).map(|r| render(r, &masked, !exact)) {
                None => Some("relation missing".to_owned()),
                Some(got) if got == want => None,
                Some(got) => {
                    let first = got
                        .lines()
                        .zip(want.lines())
                        .position(|(a, b)| a != b)
                        .unwrap_or(got.lines().count().min(want.lines().count()));
                    Some(format!(
                        "line {}: dvt `{}` dbt `{}`",
                        first + 1,
                        got.lines().nth(first).unwrap_or("<end>"),
                        want.lines().nth(first).unwrap_or("<end>")
                    ))
                }
            };
            items.insert(format!("{name} table {key}"), wrong);
        }

        // The catalogue: types, comments, grants, constraints of each relation (dbt-postgres's).
        let golden_catalog = if exact {
            std::fs::read_to_string(golden_dir.join(&name).join("catalog.txt")).unwrap_or_default()
        } else {
            String::new()
        };
        let mut entries: Vec<(String, Vec<String>)> = Vec::new();
        for line in golden_catalog.lines() {
            match line.strip_prefix("  ") {
                Some(rest) => {
                    if let Some(last) = entries.last_mut() {
                        last.1.push(ours(rest));
                    }
                }
                None => entries.push((line.to_owned(), Vec::new())),
            }
        }
        for (key, want) in entries {
            let Some((suffix, rel)) = key.strip_prefix('@').and_then(|k| k.split_once('.')) else {
                continue;
            };
            let got = catalog_entry(&client, &format!("{schema}{suffix}"), rel).await;
            let wrong = (got != want).then(|| {
                let at = got
                    .iter()
                    .zip(&want)
                    .position(|(a, b)| a != b)
                    .unwrap_or(got.len().min(want.len()));
                format!(
                    "line {}: dvt `{}` dbt `{}`",
                    at + 1,
                    got.get(at).map_or("<end>", String::as_str),
                    want.get(at).map_or("<end>", String::as_str)
                )
            });
            items.insert(format!("{name} catalog {key}"), wrong);
        }
    }
    // The run's schemas go first: a role the teardown drops may hold grants in them.
    drop_schema_family(&schema, variant);
    let teardown: &[String] = if variant.uses_pg() {
        &steps.teardown_sql
    } else {
        &[]
    };
    for sql in teardown {
        psql(&sql.replace(&golden_schema, &schema));
    }
    items
}

/// Drops `<base>` and every `<base>_*` schema (or MariaDB database) when the test ends.
struct SchemaFamily(String, Variant);

impl Drop for SchemaFamily {
    fn drop(&mut self) {
        drop_schema_family(&self.0, self.1);
    }
}

fn drop_schema_family(base: &str, variant: Variant) {
    if variant.uses_pg() {
        let _ = std::process::Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-q", "-c"])
            .arg(format!(
                "do $$ declare s text; begin for s in select nspname from pg_namespace where nspname = '{base}' or nspname like '{base}\\_%' loop execute format('drop schema %I cascade', s); end loop; end $$"
            ))
            .output();
    }
    if variant.uses_maria() {
        let list = std::process::Command::new("mariadb")
            .args(["-h127.0.0.1", "-uroot", "-N", "-e"])
            .arg(format!(
                "select schema_name from information_schema.schemata where schema_name = '{base}' or schema_name like '{base}\\_%'"
            ))
            .output();
        for db in list
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
            .lines()
        {
            let _ = std::process::Command::new("mariadb")
                .args(["-h127.0.0.1", "-uroot", "-e"])
                .arg(format!("drop database if exists `{db}`"))
                .output();
        }
    }
}

async fn check(fixture: &str, variant: Variant) {
    let items = replay(fixture, variant).await;
    let list = variant.list(fixture);
    let listed: BTreeSet<String> = std::fs::read_to_string(&list)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let matching: BTreeSet<String> = items
        .iter()
        .filter(|(_, wrong)| wrong.is_none())
        .map(|(k, _)| k.clone())
        .collect();
    println!(
        "{fixture} on {}: {} of {} items match dbt-core",
        variant.name(),
        matching.len(),
        items.len()
    );
    for (item, wrong) in &items {
        if let Some(why) = wrong {
            println!("  differs: {item}: {why}");
        }
    }
    if std::env::var_os("DVT_UPDATE_GOLDEN").is_some() {
        let mut text = format!(
            "# Items of fixture `{fixture}` where DVT on {} matches dbt-core (cli/tests/it/dbt_golden.rs).\n",
            variant.name()
        );
        for m in &matching {
            text.push_str(m);
            text.push('\n');
        }
        std::fs::create_dir_all(list.parent().expect("parent")).expect("mkdir");
        std::fs::write(&list, text).expect("write list");
        return;
    }
    let new: Vec<&String> = matching.difference(&listed).collect();
    if !new.is_empty() {
        println!(
            "{fixture}: {} more items match than listed (DVT_UPDATE_GOLDEN=1 to record them)",
            new.len()
        );
    }
    let lost: Vec<String> = listed
        .iter()
        .filter(|l| !matching.contains(*l))
        .map(|l| {
            let why = items
                .get(l)
                .cloned()
                .flatten()
                .unwrap_or_else(|| "no such item any more".into());
            format!("{l}: {why}")
        })
        .collect();
    assert!(
        lost.is_empty(),
        "{fixture}: {} items that matched dbt-core no longer do:\n{}",
        lost.len(),
        lost.join("\n")
    );
}

macro_rules! fixtures {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                check(stringify!($name), Variant::Postgres).await;
            }
        )*

        /// The same fixtures with every node on MariaDB.
        mod on_mariadb {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    super::check(stringify!($name), super::Variant::Mariadb).await;
                }
            )*
        }

        /// The same fixtures in one SQLite file.
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    super::check(stringify!($name), super::Variant::Sqlite).await;
                }
            )*
        }

        /// The same fixtures with seeds and sources on MariaDB and models on PostgreSQL.
        mod federated {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    super::check(stringify!($name), super::Variant::Federated).await;
                }
            )*
        }

        #[test]
        fn every_fixture_has_a_test() {
            let tested: BTreeSet<&str> = [$(stringify!($name)),*].into_iter().collect();
            let on_disk: BTreeSet<String> = std::fs::read_dir(fixtures_root())
                .expect("fixtures")
                .flatten()
                .filter(|e| e.path().join("steps.yml").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            let on_disk: BTreeSet<&str> = on_disk.iter().map(String::as_str).collect();
            assert_eq!(tested, on_disk);
        }
    };
}

fixtures!(
    tests_generic_singular,
    materializations_basic,
    jinja_context,
    hooks_configs,
    incremental,
    snapshots,
    packages_local,
    jinja_in_project_yml,
    model_versions,
    portable,
    package_idioms,
    connector_idioms,
);

#[test]
fn golden_tables_read_back_and_values_compare_across_databases() {
    let text = "id,note,\"a,b\"\n1,\"x, \"\"y\"\"\",\\N\n2,\"\",\"\\N\"\n";
    let rel = parse_csv(text);
    let (cols, rows) = rel.as_ref().expect("parses");
    assert_eq!(cols, &["id", "note", "a,b"]);
    assert_eq!(rows[0], [Some("1".into()), Some("x, \"y\"".into()), None]);
    assert_eq!(
        rows[1],
        [Some("2".into()), Some(String::new()), Some("\\N".into())]
    );
    assert_eq!(render(&rel, &BTreeSet::new(), false), text);
    for (a, b) in [
        ("true", "1"),
        ("30.00", "30"),
        ("2.50", "2.5"),
        ("2020-01-01 00:00:00+00", "2020-01-01"),
        ("2020-01-01T10:30:00.000000", "2020-01-01 10:30:00"),
        ("{\"k\": 1, \"a\": [1, 2]}", "{\"a\":[1,2],\"k\":1}"),
    ] {
        assert_eq!(canon(a), canon(b), "{a} vs {b}");
    }
    for (a, b) in [
        ("2.5", "2.6"),
        ("2020-01-01 10:30:00", "2020-01-01"),
        ("abc", "ABC"),
    ] {
        assert_ne!(canon(a), canon(b), "{a} vs {b}");
    }
}
