//! What dbt's Jinja asks of the database while compiling: `run_query`, `statement` /
//! `load_result`, and the adapter's introspection (`get_relation`,
//! `get_columns_in_relation`). The executor implements [`Database`] over its
//! connections; while parsing (`execute` is false) nothing connects and these answer
//! as dbt's parse-time stubs do.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use minijinja::value::{Kwargs, Object, ObjectRepr, Value, ValueKind};
use minijinja::{Error, ErrorKind, State};

use super::python::str_map;

/// A query's result: column names and types, and rows of JSON values.
#[derive(Debug, Clone, Default)]
pub struct QueryTable {
    /// Column names.
    pub columns: Vec<String>,
    /// Column types, as the database names them.
    pub types: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// The command tag (`SELECT`) and rows affected.
    pub code: String,
}

/// A column of a relation, as `get_columns_in_relation` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbColumn {
    /// Name.
    pub name: String,
    /// Type as the catalogue names it (`integer`, `character varying`, `numeric`).
    pub data_type: String,
    /// Declared length of a string column (`character varying(20)`).
    pub char_size: Option<i64>,
    /// Declared precision of a `numeric`/`decimal` column.
    pub numeric_precision: Option<i64>,
    /// Declared scale of a `numeric`/`decimal` column.
    pub numeric_scale: Option<i64>,
}

impl DbColumn {
    /// A column read from a type written in full (`varchar(20)`, `decimal(10,2)`), as
    /// SQLite's catalogue reports it.
    pub fn from_declared(name: String, declared: &str) -> Self {
        let declared = declared.trim();
        let (base, args) = match declared.split_once('(') {
            Some((b, rest)) => (b.trim(), rest.trim_end_matches(')')),
            None => (declared, ""),
        };
        let mut nums = args.split(',').map(|a| a.trim().parse::<i64>().ok());
        let (first, second) = (nums.next().flatten(), nums.next().flatten());
        let column = DbColumn {
            name,
            data_type: base.to_owned(),
            char_size: None,
            numeric_precision: None,
            numeric_scale: None,
        };
        match DbtColumn::kind_of(base) {
            ColumnKind::String => DbColumn {
                char_size: first,
                ..column
            },
            ColumnKind::Numeric => DbColumn {
                numeric_precision: first,
                numeric_scale: second,
                ..column
            },
            _ if args.is_empty() => column,
            // A type whose arguments mean something else keeps them in its name.
            _ => DbColumn {
                data_type: declared.to_owned(),
                ..column
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnKind {
    String,
    Integer,
    Float,
    Numeric,
    Other,
}

/// dbt's `Column` (what `adapter.get_columns_in_relation` returns): `name`/`column`,
/// `dtype`, `data_type`, `quoted`, `char_size`, `numeric_precision`/`numeric_scale`, and
/// `is_string()`, `is_number()`, `is_float()`, `is_integer()`, `is_numeric()`,
/// `string_size()`, `can_expand_to(other)`, `literal(value)`, with dbt's type lists.
#[derive(Debug, Clone)]
pub(super) struct DbtColumn {
    column: DbColumn,
    /// `target.type`: the quote of `quoted`, and MySQL's `varchar` spelling.
    adapter: String,
}

impl DbtColumn {
    fn kind_of(dtype: &str) -> ColumnKind {
        match dtype.to_ascii_lowercase().as_str() {
            "text" | "character varying" | "character" | "varchar" => ColumnKind::String,
            // dbt's list, and MySQL's names PostgreSQL never reports.
            "smallint" | "integer" | "bigint" | "smallserial" | "serial" | "bigserial" | "int2"
            | "int4" | "int8" | "int" | "tinyint" | "mediumint" => ColumnKind::Integer,
            "real" | "float4" | "float" | "double precision" | "float8" | "double" => {
                ColumnKind::Float
            }
            "numeric" | "decimal" => ColumnKind::Numeric,
            _ => ColumnKind::Other,
        }
    }

    fn kind(&self) -> ColumnKind {
        Self::kind_of(&self.column.data_type)
    }

    fn string_size(&self) -> Result<i64, Error> {
        if self.kind() != ColumnKind::String {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "Called string_size() on non-string field `{}` ({})",
                    self.column.name, self.column.data_type
                ),
            ));
        }
        Ok(self.column.char_size.unwrap_or(256))
    }

    /// dbt's `data_type`: strings with their size and decimals with precision and scale;
    /// `text` and an unsized `character varying` as they are (dbt-postgres' rule).
    fn data_type(&self) -> String {
        let c = &self.column;
        let lower = c.data_type.to_ascii_lowercase();
        match self.kind() {
            ColumnKind::String if lower == "text" || c.char_size.is_none() => c.data_type.clone(),
            ColumnKind::String if matches!(self.adapter.as_str(), "mysql" | "mariadb") => {
                format!("varchar({})", c.char_size.unwrap_or(256))
            }
            ColumnKind::String => format!("character varying({})", c.char_size.unwrap_or(256)),
            ColumnKind::Numeric => match (c.numeric_precision, c.numeric_scale) {
                (Some(p), Some(s)) => format!("{}({p},{s})", c.data_type),
                _ => c.data_type.clone(),
            },
            _ => c.data_type.clone(),
        }
    }
}

impl Object for DbtColumn {
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let c = &self.column;
        let num = |n: Option<i64>| n.map_or(Value::from(()), Value::from);
        Some(match key.as_str()? {
            "name" | "column" => Value::from(c.name.clone()),
            "dtype" => Value::from(c.data_type.clone()),
            "data_type" => Value::from(self.data_type()),
            "quoted" => Value::from(super::python::quote_ident(&self.adapter, &c.name)),
            "char_size" => num(c.char_size),
            "numeric_precision" => num(c.numeric_precision),
            "numeric_scale" => num(c.numeric_scale),
            _ => return None,
        })
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let kind = self.kind();
        Ok(Value::from(match (method, args) {
            ("is_string", []) => kind == ColumnKind::String,
            ("is_integer", []) => kind == ColumnKind::Integer,
            ("is_float", []) => kind == ColumnKind::Float,
            ("is_numeric", []) => kind == ColumnKind::Numeric,
            ("is_number", []) => matches!(
                kind,
                ColumnKind::Integer | ColumnKind::Float | ColumnKind::Numeric
            ),
            ("string_size", []) => return Ok(Value::from(self.string_size()?)),
            ("can_expand_to", [other]) => {
                let Some(other) = other.downcast_object_ref::<DbtColumn>() else {
                    return Ok(Value::from(false));
                };
                kind == ColumnKind::String
                    && other.kind() == ColumnKind::String
                    && self.string_size()? < other.string_size()?
            }
            ("literal", [v]) => return Ok(Value::from(format!("{v}::{}", self.data_type()))),
            _ => return Err(Error::from(ErrorKind::UnknownMethod)),
        }))
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<Column {} ({})>", self.column.name, self.data_type())
    }
}

/// The database a node's Jinja may query while compiling, on the node's target.
pub trait Database: Send + Sync + std::fmt::Debug {
    /// The worker thread the render runs for (`Thread-3`), dbt's `thread_id`; `None`
    /// keeps the global `MainThread`.
    fn thread_id(&self) -> Option<String> {
        None
    }

    /// Runs `sql` on `target`.
    fn run_query(&self, target: &str, sql: &str) -> Result<QueryTable, String>;
    /// `table`, `view` or `materialized_view` when the relation exists.
    fn relation_type(
        &self,
        target: &str,
        schema: &str,
        identifier: &str,
    ) -> Result<Option<String>, String>;
    /// The relation's columns, in order.
    fn columns(
        &self,
        target: &str,
        schema: &str,
        identifier: &str,
    ) -> Result<Vec<DbColumn>, String>;
}

/// A node render's connection: the database and the target it queries, plus the
/// results of its `statement` blocks.
#[derive(Debug)]
pub struct Connection {
    pub(super) db: Arc<dyn Database>,
    pub(super) target: String,
    results: Mutex<BTreeMap<String, Value>>,
}

impl Connection {
    /// A connection to `target` through `db`.
    pub fn new(db: Arc<dyn Database>, target: impl Into<String>) -> Self {
        Connection {
            db,
            target: target.into(),
            results: Mutex::new(BTreeMap::new()),
        }
    }

    /// Runs a node's query (`run_query`, `statement`). It runs on the node's target,
    /// unless it reads inputs of a federated node, named as the engine names them: then
    /// it runs where those inputs live, naming them as that database does (dbt code
    /// reads its inputs this way: `run_query('select distinct x from ' ~ ref('m'))`). A
    /// query reaches one database, so inputs on two targets are an error.
    fn query(&self, state: &State, sql: &str) -> Result<QueryTable, Error> {
        let mut target = self.target.clone();
        let mut sql = sql.to_owned();
        if let Ok(node) = super::node(state) {
            let mut inputs: Vec<(&str, &super::InputHome)> = node
                .relations
                .refs
                .values()
                .chain(node.relations.sources.values())
                .filter_map(|r| Some((r.rendered.as_str(), r.home.as_ref()?)))
                .filter(|(rendered, home)| *rendered != home.native && sql.contains(rendered))
                .collect();
            let targets: std::collections::BTreeSet<&str> =
                inputs.iter().map(|(_, h)| h.target.as_str()).collect();
            if targets.len() > 1 {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "this query reads inputs on several targets ({}); a query runs on one database",
                        targets.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            // Longest first, so a name that contains another is replaced whole.
            inputs.sort_by_key(|(rendered, _)| std::cmp::Reverse(rendered.len()));
            for (rendered, home) in &inputs {
                sql = sql.replace(rendered, &home.native);
                target.clone_from(&home.target);
            }
        }
        self.db.run_query(&target, &sql).map_err(|e| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("query on target `{target}` failed: {e}"),
            )
        })
    }
}

fn connection(state: &State) -> Option<Arc<Connection>> {
    super::node(state).ok().and_then(|n| n.connection.clone())
}

fn executing(state: &State) -> bool {
    state.lookup("execute").is_some_and(|v| v.is_true())
}

fn no_connection() -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        "this query needs a database connection, which `dvt compile` and `dvt show` of an unbuilt node do not open; run `dvt run`/`dvt build`",
    )
}

/// Registers `run_query`, `statement` and `load_result`.
pub(super) fn register(env: &mut minijinja::Environment<'static>) {
    env.add_function(
        "run_query",
        |state: &State, sql: String| -> Result<Value, Error> {
            super::record_macro_call(state, "macro.dbt.run_query");
            if !executing(state) {
                return Ok(Value::from(()));
            }
            let conn = connection(state).ok_or_else(no_connection)?;
            Ok(Value::from_object(Table(conn.query(state, &sql)?)))
        },
    );
    env.add_global("statement", Value::from_object(StatementFn));
    env.add_function(
        "load_result",
        |state: &State, name: String| -> Result<Value, Error> {
            Ok(connection(state)
                .and_then(|c| {
                    c.results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(&name)
                        .cloned()
                })
                .unwrap_or(Value::from(())))
        },
    );
}

/// `{% call statement(name, fetch_result=True) %}sql{% endcall %}`.
#[derive(Debug)]
struct StatementFn;

impl Object for StatementFn {
    fn call(self: &Arc<Self>, state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        statement(state, args)
    }
}

fn statement(state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
    let (positional, kwargs): (&[Value], Kwargs) = minijinja::value::from_args(args)?;
    let name = positional
        .first()
        .map(|v| v.to_string())
        .or(kwargs.get::<Option<String>>("name")?)
        .unwrap_or_else(|| "main".into());
    let fetch: Option<bool> = kwargs.get("fetch_result")?;
    let _: Option<Value> = kwargs.get("auto_begin")?;
    let _: Option<Value> = kwargs.get("language")?;
    let caller: Option<Value> = kwargs.get("caller")?;
    kwargs.assert_all_used()?;
    if !executing(state) {
        return Ok(Value::from(""));
    }
    let sql = match caller {
        Some(c) => c.call(state, &[])?.to_string(),
        None => String::new(),
    };
    let conn = connection(state).ok_or_else(no_connection)?;
    let table = conn.query(state, sql.trim())?;
    let data: Vec<Value> = table
        .rows
        .iter()
        .map(|r| Value::from(r.iter().map(json_value).collect::<Vec<_>>()))
        .collect();
    let response = str_map([
        ("code", Value::from(table.code.clone())),
        ("rows_affected", Value::from(table.rows.len())),
        (
            "_message",
            Value::from(format!("{} {}", table.code, table.rows.len())),
        ),
    ]);
    let fetched = fetch.unwrap_or(false);
    let result = str_map([
        ("response", response),
        ("data", Value::from(if fetched { data } else { Vec::new() })),
        (
            "table",
            if fetched {
                Value::from_object(Table(table))
            } else {
                Value::from(())
            },
        ),
    ]);
    conn.results
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name, result);
    Ok(Value::from(""))
}

/// A JSON cell as a Jinja value (numbers stay numbers, so `12.5` prints as Python would).
fn json_value(v: &serde_json::Value) -> Value {
    Value::from(minijinja::value::Serde(v))
}

/// An agate table, as dbt's `run_query` returns it: `columns`, `rows`, `column_names`,
/// `column_types`.
#[derive(Debug)]
struct Table(QueryTable);

impl Object for Table {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let t = &self.0;
        Some(match key.as_str()? {
            "columns" => Value::from_object(Row {
                names: t.columns.clone(),
                values: (0..t.columns.len())
                    .map(|i| {
                        Value::from_object(TableColumn {
                            name: t.columns[i].clone(),
                            values: t.rows.iter().map(|r| json_value(&r[i])).collect(),
                        })
                    })
                    .collect(),
            }),
            "rows" => Value::from(self.rows()),
            "column_names" => Value::from(t.columns.clone()),
            "column_types" => Value::from(t.types.clone()),
            _ => return None,
        })
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Values(self.rows())
    }

    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Iterable
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            // agate's `print_table`, on standard output as dbt prints it (audit_helper's
            // analyses print their comparison so).
            "print_table" => {
                let (max_rows, max_columns, kwargs): (Option<usize>, Option<usize>, Kwargs) =
                    minijinja::value::from_args(args)?;
                let max_rows = max_rows.or(kwargs.get::<Option<usize>>("max_rows")?);
                let max_columns = max_columns.or(kwargs.get::<Option<usize>>("max_columns")?);
                let width: Option<usize> = kwargs.get("max_column_width")?;
                let precision: Option<usize> = kwargs.get("max_precision")?;
                // Accepted, as agate takes them; DVT prints to standard output in `en_US`.
                let _: Option<Value> = kwargs.get("output")?;
                let _: Option<Value> = kwargs.get("locale")?;
                kwargs.assert_all_used()?;
                let limits = PrintLimits {
                    rows: max_rows.unwrap_or(20),
                    columns: max_columns.unwrap_or(6),
                    width: width.unwrap_or(20),
                    precision: precision.unwrap_or(3),
                };
                print!("{}", print_table(&self.0, &limits));
                Ok(Value::from(""))
            }
            // agate's `rename(column_names)`: a mapping old -> new, or the new names in
            // order (elementary lower-cases every result's columns so).
            "rename" => {
                let (names, kwargs): (Option<Value>, Kwargs) = minijinja::value::from_args(args)?;
                let names = match names {
                    Some(n) => Some(n),
                    None => kwargs.get::<Option<Value>>("column_names")?,
                };
                let _: Option<Value> = kwargs.get("row_names")?;
                kwargs.assert_all_used()?;
                let mut table = self.0.clone();
                if let Some(names) = names {
                    if names.kind() == ValueKind::Map {
                        for c in &mut table.columns {
                            let new = names.get_item(&Value::from(c.as_str()))?;
                            if let Some(n) = new.as_str() {
                                *c = n.to_owned();
                            }
                        }
                    } else {
                        for (c, n) in table.columns.iter_mut().zip(names.try_iter()?) {
                            if let Some(n) = n.as_str() {
                                *c = n.to_owned();
                            }
                        }
                    }
                }
                Ok(Value::from_object(Table(table)))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// agate's `print_table` limits: rows, columns, a value's width, decimal places.
struct PrintLimits {
    rows: usize,
    columns: usize,
    width: usize,
    precision: usize,
}

/// A table as agate's `print_table` writes it (GitHub Markdown): numbers right-aligned
/// with thousands separators and the column's decimal places (at most `precision`,
/// then `…`), other non-text values right-aligned, text left-aligned, values past
/// `width` cut with `...`, and `...` for the rows and columns left out.
fn print_table(t: &QueryTable, limits: &PrintLimits) -> String {
    use serde_json::Value as Json;
    let shown = t.columns.len().min(limits.columns);
    let cut = |v: String| {
        if v.chars().count() > limits.width {
            let keep: String = v.chars().take(limits.width.saturating_sub(3)).collect();
            format!("{keep}...")
        } else {
            v
        }
    };
    let rows: Vec<&Vec<Json>> = t.rows.iter().take(limits.rows).collect();
    fn cell(row: &[Json], i: usize) -> &Json {
        row.get(i).unwrap_or(&Json::Null)
    }
    let ty = |i: usize| {
        t.types
            .get(i)
            .map(|s| s.to_ascii_lowercase())
            .unwrap_or_default()
    };
    // A decimal arrives as text (its digits kept); the column's database type says it
    // is a number.
    let number = |i: usize, v: &Json| -> Option<String> {
        match v {
            Json::Number(n) => Some(n.to_string()),
            Json::String(s) if numeric_type(&ty(i)) && s.parse::<f64>().is_ok() => Some(s.clone()),
            _ => None,
        }
    };
    // agate's types: a column of numbers is a Number, of strings Text (unless the
    // database calls it a date or time), anything else neither.
    let numeric: Vec<bool> = (0..shown)
        .map(|i| {
            rows.iter().all(|r| {
                let v = cell(r, i);
                v.is_null() || number(i, v).is_some()
            }) && rows.iter().any(|r| !cell(r, i).is_null())
        })
        .collect();
    let text: Vec<bool> = (0..shown)
        .map(|i| {
            !numeric[i]
                && !ty(i).contains("date")
                && !ty(i).contains("time")
                && rows.iter().all(|r| {
                    let v = cell(r, i);
                    v.is_string() || v.is_null()
                })
        })
        .collect();
    let places: Vec<(usize, bool)> = (0..shown)
        .map(|i| {
            let most = rows
                .iter()
                .filter_map(|r| number(i, cell(r, i)).map(|n| decimal_places(&n)))
                .max()
                .unwrap_or(0);
            (most.min(limits.precision), most > limits.precision)
        })
        .collect();
    let show = |i: usize, v: &Json| -> String {
        if let (true, Some(n)) = (numeric[i], number(i, v)) {
            let (p, more) = places[i];
            let value = n.parse::<f64>().unwrap_or(0.0);
            let mut s = group_thousands(&format!("{value:.p$}"));
            if more {
                s.push('…');
            }
            return s;
        }
        match v {
            Json::Null => String::new(),
            Json::String(s) => s.clone(),
            Json::Bool(true) => "True".into(),
            Json::Bool(false) => "False".into(),
            other => other.to_string(),
        }
    };
    let mut header: Vec<String> = t.columns[..shown].iter().map(|c| cut(c.clone())).collect();
    let mut body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| (0..shown).map(|i| cut(show(i, cell(r, i)))).collect())
        .collect();
    let mut right: Vec<bool> = (0..shown).map(|i| !text[i]).collect();
    if t.columns.len() > shown {
        header.push("...".into());
        for row in &mut body {
            row.push("...".into());
        }
        right.push(true);
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &body {
        for (w, v) in widths.iter_mut().zip(row) {
            *w = (*w).max(v.chars().count());
        }
    }
    let line = |values: &[String]| {
        let cells: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let pad = " ".repeat(widths[i].saturating_sub(v.chars().count()));
                if right[i] {
                    format!(" {pad}{v} ")
                } else {
                    format!(" {v}{pad} ")
                }
            })
            .collect();
        format!("|{}|\n", cells.join("|"))
    };
    let mut out = line(&header);
    let dashes: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&format!("| {} |\n", dashes.join(" | ")));
    for row in &body {
        out.push_str(&line(row));
    }
    if t.rows.len() > limits.rows {
        out.push_str(&line(&vec!["...".to_owned(); header.len()]));
    }
    out
}

/// The decimal places of a number as written (`2.50` has 1, as agate normalises it).
fn decimal_places(text: &str) -> usize {
    text.split_once('.')
        .map(|(_, frac)| frac.trim_end_matches('0').len())
        .unwrap_or(0)
}

/// Whether a database type name is a number's (`numeric(12,2)`, `bigint`, `float8`,
/// `double precision`; not `interval` nor `point`).
fn numeric_type(ty: &str) -> bool {
    let base = ty.split(['(', ' ']).next().unwrap_or("");
    [
        "numeric", "decimal", "float", "double", "real", "number", "money",
    ]
    .iter()
    .any(|n| ty.contains(n))
        || (base.starts_with("int") && !base.starts_with("interval"))
        || base.ends_with("int")
        || base.ends_with("serial")
}

/// `1234567.5` as `1,234,567.5`.
fn group_thousands(number: &str) -> String {
    let (sign, rest) = match number.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", number),
    };
    let (whole, frac) = match rest.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (rest, None),
    };
    let mut grouped = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

impl Table {
    fn rows(&self) -> Vec<Value> {
        self.0
            .rows
            .iter()
            .map(|r| {
                Value::from_object(Row {
                    names: self.0.columns.clone(),
                    values: r.iter().map(json_value).collect(),
                })
            })
            .collect()
    }
}

/// A column of a [`Table`]: `name`, `values()`, and its values by position.
#[derive(Debug)]
struct TableColumn {
    name: String,
    values: Vec<Value>,
}

impl Object for TableColumn {
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if key.as_str() == Some("name") {
            return Some(Value::from(self.name.clone()));
        }
        let i = usize::try_from(key.clone()).ok()?;
        self.values.get(i).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Values(self.values.clone())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "values" => Ok(Value::from(self.values.clone())),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// A row of a [`Table`], or its `columns`: agate's mapped sequence, indexed by position
/// or by column name, iterable, with `keys()`, `values()`, `items()` and `get()`.
#[derive(Debug)]
struct Row {
    names: Vec<String>,
    values: Vec<Value>,
}

impl Object for Row {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(name) = key.as_str() {
            let i = self.names.iter().position(|n| n == name)?;
            return self.values.get(i).cloned();
        }
        let i = i64::try_from(key.clone()).ok()?;
        let i = if i < 0 {
            self.values.len() as i64 + i
        } else {
            i
        };
        usize::try_from(i)
            .ok()
            .and_then(|i| self.values.get(i).cloned())
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Values(self.values.clone())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let names = || self.names.iter().map(|n| Value::from(n.clone()));
        match (method, args) {
            ("keys", []) => Ok(Value::from(names().collect::<Vec<_>>())),
            ("values", []) => Ok(Value::from(self.values.clone())),
            ("items", []) => Ok(Value::from(
                names()
                    .zip(self.values.iter().cloned())
                    .map(|(k, v)| Value::from(vec![k, v]))
                    .collect::<Vec<_>>(),
            )),
            ("get", [key, rest @ ..]) if rest.len() <= 1 => Ok(self
                .get_value(key)
                .or_else(|| rest.first().cloned())
                .unwrap_or_default()),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// `adapter.get_relation(database, schema, identifier)` and friends, on the node's
/// target. `None` while parsing, or when no connection is open.
pub(super) fn introspect(
    state: &State,
    method: &str,
    args: &[Value],
) -> Option<Result<Value, Error>> {
    let conn = connection(state)?;
    if !executing(state) {
        return None;
    }
    Some(introspect_with(&conn, state, method, args))
}

fn part(v: &Value, key: &str) -> Option<String> {
    v.get_attr(key)
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_none())
        .map(|v| v.to_string())
}

/// The node input (`ref`/`source`) at `schema.identifier`, when it names one whose target
/// is known: introspection asks the database that holds it, which for a federated model
/// is not the model's own target.
fn input_at(state: &State, schema: &str, identifier: &str) -> Option<super::JinjaRelation> {
    let node = super::node(state).ok()?;
    // A source the node does not read yet is looked up where it lives too: connector
    // packages ask which of a source's tables exist before choosing one.
    let unseen = node
        .relations
        .unseen_sources
        .iter()
        .flat_map(|m| m.values());
    node.relations
        .refs
        .values()
        .chain(node.relations.sources.values())
        .chain(unseen)
        .find(|r| {
            r.home.is_some()
                && r.schema.eq_ignore_ascii_case(schema)
                && r.identifier.eq_ignore_ascii_case(identifier)
        })
        .cloned()
}

fn introspect_with(
    conn: &Connection,
    state: &State,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    let (positional, kwargs): (&[Value], Kwargs) = minijinja::value::from_args(args)?;
    let fail = |e: String| Error::new(ErrorKind::InvalidOperation, e);
    match method {
        "drop_relation" | "truncate_relation" => {
            let rel = positional.first().cloned().unwrap_or_default();
            let (schema, Some(identifier)) = (part(&rel, "schema"), part(&rel, "identifier"))
            else {
                return Err(fail(format!(
                    "adapter.{method}() needs a relation, got `{rel}`"
                )));
            };
            let Some(schema) = schema else {
                // A session-temporary relation (dbt-postgres's `make_temp_relation`) has
                // no schema: it is dropped by its name, as the type it says it is, on
                // the render's connection that holds it.
                let view = part(&rel, "type").as_deref() == Some("view");
                let sql = match method {
                    "drop_relation" if view => format!("drop view if exists {rel}"),
                    "drop_relation" => format!("drop table if exists {rel}"),
                    _ => format!("delete from {rel}"),
                };
                conn.db.run_query(&conn.target, &sql).map_err(fail)?;
                return Ok(Value::from(()));
            };
            let target = input_at(state, &schema, &identifier)
                .and_then(|r| r.home)
                .map_or_else(|| conn.target.clone(), |h| h.target);
            // dbt drops what is there, whatever the relation says it is.
            let Some(kind) = conn
                .db
                .relation_type(&target, &schema, &identifier)
                .map_err(fail)?
            else {
                // MySQL's catalogue does not list temporary tables, which its dbt
                // adapter drops by name all the same.
                if method == "drop_relation"
                    && matches!(
                        super::python::adapter_type(state).as_str(),
                        "mysql" | "mariadb"
                    )
                {
                    let sql = format!("drop temporary table if exists {rel}");
                    conn.db.run_query(&target, &sql).map_err(fail)?;
                }
                return Ok(Value::from(()));
            };
            let sqlite = super::python::adapter_type(state) == "sqlite";
            let sql = match method {
                "drop_relation" if kind == "view" => format!("drop view if exists {rel}"),
                "drop_relation" if kind == "materialized_view" => {
                    format!("drop materialized view if exists {rel}")
                }
                "drop_relation" => format!("drop table if exists {rel}"),
                _ if sqlite => format!("delete from {rel}"),
                _ => format!("truncate table {rel}"),
            };
            conn.db.run_query(&target, &sql).map_err(fail)?;
            Ok(Value::from(()))
        }
        "get_relation" | "load_relation" | "already_exists" => {
            let (schema, identifier, database) = if method == "load_relation" {
                let rel = positional.first().cloned().unwrap_or_default();
                (
                    part(&rel, "schema"),
                    part(&rel, "identifier"),
                    part(&rel, "database"),
                )
            } else {
                let get = |i: usize, k: &str| -> Result<Option<String>, Error> {
                    Ok(match positional.get(i) {
                        Some(v) => Some(v.to_string()),
                        None => kwargs.get::<Option<String>>(k)?,
                    })
                };
                if method == "already_exists" {
                    (get(0, "schema")?, get(1, "identifier")?, None)
                } else {
                    (
                        get(1, "schema")?,
                        get(2, "identifier")?,
                        get(0, "database")?,
                    )
                }
            };
            let _ = kwargs.get::<Option<Value>>("database");
            let (Some(schema), Some(identifier)) = (schema, identifier) else {
                return Ok(Value::from(()));
            };
            let input = input_at(state, &schema, &identifier);
            let target = input
                .as_ref()
                .and_then(|r| r.home.as_ref())
                .map(|h| h.target.as_str())
                .unwrap_or(&conn.target);
            let kind = conn
                .db
                .relation_type(target, &schema, &identifier)
                .map_err(fail)?;
            if method == "already_exists" {
                return Ok(Value::from(kind.is_some()));
            }
            let Some(kind) = kind else {
                return Ok(Value::from(()));
            };
            let target_type = super::python::adapter_type(state);
            let quoted = |s: &str| super::python::quote_ident(&target_type, s);
            // An input renders as the node reads it (on a federated path, the engine's name).
            let rendered = match (input, &database, target_type.as_str()) {
                (Some(input), _, _) => input.rendered,
                (None, Some(db), "postgres") => {
                    format!("{}.{}.{}", quoted(db), quoted(&schema), quoted(&identifier))
                }
                _ => format!("{}.{}", quoted(&schema), quoted(&identifier)),
            };
            Ok(Value::from_object(FoundRelation {
                database: database.unwrap_or_default(),
                schema,
                identifier,
                rendered,
                kind,
            }))
        }
        "get_columns_in_relation" | "get_missing_columns" => {
            let columns = |rel: &Value| -> Result<Vec<DbColumn>, Error> {
                // A relation without a schema is a session-temporary table (dbt-postgres's
                // `make_temp_relation`): the empty schema asks for it where the session
                // keeps its temporary tables.
                let (s, Some(i)) = (part(rel, "schema"), part(rel, "identifier")) else {
                    return Ok(Vec::new());
                };
                let s = s.unwrap_or_default();
                let holder = rel
                    .downcast_object_ref::<super::JinjaRelation>()
                    .and_then(|r| r.home.clone())
                    .or_else(|| input_at(state, &s, &i).and_then(|r| r.home))
                    .map(|h| h.target);
                let target = holder.as_deref().unwrap_or(&conn.target);
                conn.db.columns(target, &s, &i).map_err(fail)
            };
            let first = columns(&positional.first().cloned().unwrap_or_default())?;
            let cols = if method == "get_missing_columns" {
                let other = columns(&positional.get(1).cloned().unwrap_or_default())?;
                first
                    .into_iter()
                    .filter(|c| !other.iter().any(|o| o.name.eq_ignore_ascii_case(&c.name)))
                    .collect()
            } else {
                first
            };
            let adapter = super::python::adapter_type(state);
            Ok(Value::from(
                cols.into_iter()
                    .map(|column| {
                        Value::from_object(DbtColumn {
                            column,
                            adapter: adapter.clone(),
                        })
                    })
                    .collect::<Vec<_>>(),
            ))
        }
        "check_schema_exists" | "list_schemas" => {
            let adapter = super::python::adapter_type(state);
            let lit = |s: &str| format!("'{}'", s.replace('\'', "''"));
            let (catalog, column) = if adapter == "sqlite" {
                ("pragma_database_list", "name")
            } else {
                ("information_schema.schemata", "schema_name")
            };
            let sql = if method == "list_schemas" {
                format!("select {column} from {catalog} order by 1")
            } else {
                let schema = match positional.get(1) {
                    Some(v) => v.to_string(),
                    None => kwargs.get::<String>("schema")?,
                };
                let _ = kwargs.get::<Option<Value>>("database")?;
                format!(
                    "select {column} from {catalog} where {column} = {}",
                    lit(&schema)
                )
            };
            let found = conn.db.run_query(&conn.target, &sql).map_err(fail)?;
            let names: Vec<Value> = found
                .rows
                .iter()
                .filter_map(|r| r.first())
                .map(|v| Value::from(v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect();
            Ok(if method == "list_schemas" {
                Value::from(names)
            } else {
                Value::from(!names.is_empty())
            })
        }
        "create_schema" | "drop_schema" => {
            let rel = positional.first().cloned().unwrap_or_default();
            let Some(schema) = part(&rel, "schema") else {
                return Err(fail(format!(
                    "adapter.{method}() needs a relation with a schema, got `{rel}`"
                )));
            };
            let adapter = super::python::adapter_type(state);
            let quoted = super::python::quote_ident(&adapter, &schema);
            let sql = match (method, adapter.as_str()) {
                // SQLite has only the file's schemas.
                (_, "sqlite") => return Ok(Value::from(())),
                ("create_schema", "mysql" | "mariadb") => {
                    format!("create database if not exists {quoted}")
                }
                ("create_schema", _) => format!("create schema if not exists {quoted}"),
                (_, "mysql" | "mariadb") => format!("drop database if exists {quoted}"),
                _ => format!("drop schema if exists {quoted} cascade"),
            };
            conn.db.run_query(&conn.target, &sql).map_err(fail)?;
            Ok(Value::from(()))
        }
        "rename_relation" => {
            let (from, to) = (
                positional.first().cloned().unwrap_or_default(),
                positional.get(1).cloned().unwrap_or_default(),
            );
            let (Some(schema), Some(identifier), Some(new_name)) = (
                part(&from, "schema"),
                part(&from, "identifier"),
                part(&to, "identifier"),
            ) else {
                return Err(fail(format!(
                    "adapter.rename_relation() needs two relations, got `{from}` and `{to}`"
                )));
            };
            let adapter = super::python::adapter_type(state);
            let kind = conn
                .db
                .relation_type(&conn.target, &schema, &identifier)
                .map_err(fail)?
                .unwrap_or_else(|| "table".to_owned());
            let new_quoted = super::python::quote_ident(&adapter, &new_name);
            let sql = match adapter.as_str() {
                "mysql" | "mariadb" => format!("rename table {from} to {to}"),
                "sqlite" => format!("alter table {from} rename to {new_quoted}"),
                _ => format!(
                    "alter {} {from} rename to {new_quoted}",
                    kind.replace('_', " ")
                ),
            };
            conn.db.run_query(&conn.target, &sql).map_err(fail)?;
            Ok(Value::from(()))
        }
        _ => Err(Error::from(ErrorKind::UnknownMethod)),
    }
}

/// A relation the catalogue answered for, with its type.
#[derive(Debug)]
struct FoundRelation {
    database: String,
    schema: String,
    identifier: String,
    rendered: String,
    kind: String,
}

impl Object for FoundRelation {
    /// A relation is true in a test (`{% if rel %}`), as a Python object is; minijinja
    /// would count a map-like object without keys as empty, so false.
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    /// Its parts, so that two relations are equal, and distinct dict keys, by name.
    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Str(&["database", "schema", "identifier"])
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(match key.as_str()? {
            "database" => Value::from(self.database.clone()),
            "schema" => Value::from(self.schema.clone()),
            "identifier" | "name" | "table" => Value::from(self.identifier.clone()),
            "type" => Value::from(self.kind.clone()),
            "is_table" => Value::from(self.kind == "table"),
            "is_view" => Value::from(self.kind == "view"),
            "metadata" => crate::jinja::relation_metadata(),
            _ => return None,
        })
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.rendered)
    }

    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        if method == "render" {
            return Ok(Value::from(self.rendered.clone()));
        }
        let database = Some(self.database.clone()).filter(|d| !d.is_empty());
        super::python::relation_method(
            state,
            [
                database,
                Some(self.schema.clone()),
                Some(self.identifier.clone()),
            ],
            Some(self.kind.clone()),
            method,
            args,
        )
    }
}

#[cfg(test)]
mod tests {

    /// The text agate 1.x's `print_table` printed for the same tables (dbt-core 1.10.23's
    /// virtualenv): alignment, thousands separators, a column's decimal places capped
    /// at 3 with `…`, cut values, and the rows and columns left out.
    #[test]
    fn print_table_writes_what_agate_writes() {
        use serde_json::json;
        let t = QueryTable {
            columns: ["id", "name", "amount", "flag", "pi"]
                .map(String::from)
                .to_vec(),
            types: ["int4", "text", "numeric", "bool", "numeric"]
                .map(String::from)
                .to_vec(),
            // PostgreSQL's `numeric` arrives as text, its digits kept.
            rows: vec![
                vec![
                    json!(1),
                    json!("a"),
                    json!("1234.50"),
                    json!(true),
                    json!(null),
                ],
                vec![
                    json!(22),
                    json!("b".repeat(31)),
                    json!(-0.125),
                    json!(false),
                    json!(1.23456),
                ],
            ],
            code: "SELECT".into(),
        };
        let limits = |rows| PrintLimits {
            rows,
            columns: 6,
            width: 20,
            precision: 3,
        };
        assert_eq!(
            print_table(&t, &limits(20)),
            "| id | name                 |    amount |  flag |     pi |\n\
             | -- | -------------------- | --------- | ----- | ------ |\n\
             |  1 | a                    | 1,234.500 |  True |        |\n\
             | 22 | bbbbbbbbbbbbbbbbb... |    -0.125 | False | 1.235… |\n"
        );
        let long = QueryTable {
            columns: vec!["n".into(), "a_very_long_column_name_here".into()],
            types: vec!["int8".into(), "text".into()],
            rows: (0..25).map(|i| vec![json!(i), json!("x")]).collect(),
            code: "SELECT".into(),
        };
        assert_eq!(
            print_table(&long, &limits(3)),
            "| n | a_very_long_colum... |\n\
             | - | -------------------- |\n\
             | 0 | x                    |\n\
             | 1 | x                    |\n\
             | 2 | x                    |\n\
             | ... | ...                  |\n"
        );
        let wide = QueryTable {
            columns: ["a", "b", "c", "d", "e", "f", "g"]
                .map(String::from)
                .to_vec(),
            types: vec!["int4".into(); 7],
            rows: vec![(1..=7).map(|i| json!(i)).collect()],
            code: "SELECT".into(),
        };
        assert_eq!(
            print_table(&wide, &limits(20)),
            "| a | b | c | d | e | f | ... |\n\
             | - | - | - | - | - | - | --- |\n\
             | 1 | 2 | 3 | 4 | 5 | 6 | ... |\n"
        );
    }

    use super::*;

    #[test]
    fn tables_rename_their_columns_as_agate_does() {
        let table = Value::from_object(Table(QueryTable {
            columns: vec!["ID".into(), "Name".into()],
            types: vec!["integer".into(), "text".into()],
            rows: vec![vec![serde_json::json!(1), serde_json::json!("a")]],
            code: "SELECT 1".into(),
        }));
        let mut env = minijinja::Environment::new();
        env.add_global("t", table);
        let out = env
            .render_str(
                "{{ t.rename({'ID': 'id'}).column_names | join(',') }}|{{ t.rename(['x', 'y']).column_names | join(',') }}|{{ t.column_names | join(',') }}",
                (),
            )
            .expect("renders");
        assert_eq!(out, "id,Name|x,y|ID,Name");
    }
}
