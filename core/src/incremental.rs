//! dbt's incremental materialization, as plain data and SQL text: the model's
//! `incremental_strategy` and related configs, the column comparison behind
//! `on_schema_change`, and the statements each strategy runs on the destination.
//!
//! Every strategy reads from a staged table that already holds the model's new rows
//! (built by `CREATE TABLE AS` on the pushdown path, bulk-loaded on the federated
//! path), so both paths share what happens on the destination. The executor runs the
//! statements; nothing here connects.

use serde_json::{Map, Value as Json};

use crate::dialect::Dialect;
use crate::error::{Error, Location, Result};

/// How new rows reach an existing table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `append`: insert every new row.
    Append,
    /// `merge`: update rows whose `unique_key` matches, insert the others.
    Merge,
    /// `delete+insert`: delete rows whose `unique_key` matches, insert every new row.
    DeleteInsert,
    /// `microbatch`: rebuild one `event_time` window per batch.
    Microbatch,
}

impl Strategy {
    /// dbt's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Append => "append",
            Strategy::Merge => "merge",
            Strategy::DeleteInsert => "delete+insert",
            Strategy::Microbatch => "microbatch",
        }
    }
}

/// What happens when the model's columns no longer match its table's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnSchemaChange {
    /// Keep the table's columns; new columns are not loaded.
    Ignore,
    /// Stop with an error.
    Fail,
    /// Add the new columns; keep the ones the model no longer selects.
    AppendNewColumns,
    /// Add new columns, drop missing ones, change changed types.
    SyncAllColumns,
}

/// The size of one microbatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    /// One hour.
    Hour,
    /// One day.
    Day,
    /// One calendar month.
    Month,
    /// One calendar year.
    Year,
}

/// A microbatch model's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Microbatch {
    /// The model's own event-time column.
    pub event_time: String,
    /// Where the first full build starts.
    pub begin: chrono::NaiveDateTime,
    /// One batch.
    pub batch_size: BatchSize,
    /// Batches before the current one an incremental run rebuilds (default 1).
    pub lookback: u32,
}

/// An incremental model's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncrementalConfig {
    /// The strategy (dbt's adapter default when not set: `delete+insert` with a
    /// `unique_key`, else `append`).
    pub strategy: Strategy,
    /// `unique_key`: one column or several.
    pub unique_key: Vec<String>,
    /// `on_schema_change` (default `ignore`).
    pub on_schema_change: OnSchemaChange,
    /// `incremental_predicates`: SQL conditions added to the match.
    pub predicates: Vec<String>,
    /// `merge_update_columns`: the only columns a merge updates.
    pub merge_update_columns: Option<Vec<String>>,
    /// `merge_exclude_columns`: columns a merge never updates.
    pub merge_exclude_columns: Vec<String>,
    /// `full_refresh`: `false` keeps the table even under `--full-refresh`.
    pub full_refresh: Option<bool>,
    /// Microbatch settings.
    pub microbatch: Option<Microbatch>,
}

impl IncrementalConfig {
    /// Reads the configs of an incremental model; a wrong value is a DVT115 at `file`.
    pub fn from_config(config: &Map<String, Json>, file: &std::path::Path) -> Result<Self> {
        let bad = |key: &str, message: String| Error::InvalidConfig {
            location: Location::file(file),
            key: key.into(),
            message,
        };
        let text = |key: &str| -> Result<Option<String>> {
            match config.get(key) {
                None | Some(Json::Null) => Ok(None),
                Some(Json::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(bad(key, format!("expected a string, got `{other}`"))),
            }
        };
        let list = |key: &str| -> Result<Option<Vec<String>>> {
            match config.get(key) {
                None | Some(Json::Null) => Ok(None),
                Some(Json::String(s)) => Ok(Some(vec![s.clone()])),
                Some(Json::Array(items)) => items
                    .iter()
                    .map(|v| match v {
                        Json::String(s) => Ok(s.clone()),
                        other => Err(bad(key, format!("expected strings, got `{other}`"))),
                    })
                    .collect::<Result<Vec<_>>>()
                    .map(Some),
                Some(other) => Err(bad(
                    key,
                    format!("expected a string or a list, got `{other}`"),
                )),
            }
        };
        let unique_key = list("unique_key")?.unwrap_or_default();
        let strategy = match text("incremental_strategy")?.as_deref() {
            None => {
                if unique_key.is_empty() {
                    Strategy::Append
                } else {
                    Strategy::DeleteInsert
                }
            }
            Some("append") => Strategy::Append,
            Some("merge") => Strategy::Merge,
            Some("delete+insert") => Strategy::DeleteInsert,
            Some("microbatch") => Strategy::Microbatch,
            Some("insert_overwrite") => {
                return Err(bad(
                    "incremental_strategy",
                    "`insert_overwrite` replaces partitions, which none of DVT's targets (PostgreSQL, MySQL/MariaDB, SQLite) has; use `delete+insert` with a `unique_key`, or `microbatch`".into(),
                ));
            }
            Some(other) => {
                return Err(bad(
                    "incremental_strategy",
                    format!(
                        "`{other}` is not a strategy; use `append`, `merge`, `delete+insert` or `microbatch`"
                    ),
                ));
            }
        };
        let on_schema_change = match text("on_schema_change")?.as_deref() {
            None | Some("ignore") => OnSchemaChange::Ignore,
            Some("fail") => OnSchemaChange::Fail,
            Some("append_new_columns") => OnSchemaChange::AppendNewColumns,
            Some("sync_all_columns") => OnSchemaChange::SyncAllColumns,
            Some(other) => {
                return Err(bad(
                    "on_schema_change",
                    format!(
                        "`{other}` is not one of `ignore`, `fail`, `append_new_columns`, `sync_all_columns`"
                    ),
                ));
            }
        };
        let full_refresh = match config.get("full_refresh") {
            None | Some(Json::Null) => None,
            Some(v) => Some(crate::manifest::config_bool(v).ok_or_else(|| {
                bad("full_refresh", format!("expected true or false, got `{v}`"))
            })?),
        };
        let microbatch = if strategy == Strategy::Microbatch {
            let need = |key: &str| -> Result<String> {
                text(key)?.ok_or_else(|| {
                    bad(
                        key,
                        format!("a `microbatch` model needs `{key}` in its config"),
                    )
                })
            };
            let event_time = need("event_time")?;
            let begin_text = need("begin")?;
            let begin = parse_timestamp(&begin_text).ok_or_else(|| {
                bad(
                    "begin",
                    format!("`{begin_text}` is not a date or timestamp (YYYY-MM-DD[ HH:MM:SS])"),
                )
            })?;
            let batch_size = match need("batch_size")?.as_str() {
                "hour" => BatchSize::Hour,
                "day" => BatchSize::Day,
                "month" => BatchSize::Month,
                "year" => BatchSize::Year,
                other => {
                    return Err(bad(
                        "batch_size",
                        format!("`{other}` is not one of `hour`, `day`, `month`, `year`"),
                    ));
                }
            };
            let lookback = match config.get("lookback") {
                None | Some(Json::Null) => 1,
                Some(v) => v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| bad("lookback", format!("expected a count, got `{v}`")))?,
            };
            Some(Microbatch {
                event_time,
                begin,
                batch_size,
                lookback,
            })
        } else {
            None
        };
        Ok(IncrementalConfig {
            strategy,
            unique_key,
            on_schema_change,
            predicates: list("incremental_predicates")?.unwrap_or_default(),
            merge_update_columns: list("merge_update_columns")?,
            merge_exclude_columns: list("merge_exclude_columns")?.unwrap_or_default(),
            full_refresh,
            microbatch,
        })
    }
}

/// `2020-01-01`, `2020-01-01 10:00:00`, `2020-01-01T10:00:00[.ffffff][Z]` (Python's
/// `datetime.isoformat()`, which dbt_artifacts' `begin` uses).
pub fn parse_timestamp(text: &str) -> Option<chrono::NaiveDateTime> {
    let t = text.trim().trim_end_matches('Z');
    let t = t.strip_suffix("+00:00").unwrap_or(t);
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(ts) = chrono::NaiveDateTime::parse_from_str(t, fmt) {
            return Some(ts);
        }
    }
    chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// One microbatch: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    /// First instant inside.
    pub start: chrono::NaiveDateTime,
    /// First instant after.
    pub end: chrono::NaiveDateTime,
}

impl Batch {
    /// How dbt names the batch in compiled file names (`2020-01-01`).
    pub fn id(&self, size: BatchSize) -> String {
        match size {
            BatchSize::Hour => self.start.format("%Y-%m-%dT%H").to_string(),
            _ => self.start.format("%Y-%m-%d").to_string(),
        }
    }

    /// The bounds as SQL timestamps: as dbt-postgres renders them
    /// (`2020-01-01 00:00:00+00:00`) when `utc_offset`, else without the offset, which
    /// MySQL's and SQLite's comparisons with naive timestamps need.
    pub fn sql_bounds(&self, utc_offset: bool) -> (String, String) {
        let fmt = if utc_offset {
            "%Y-%m-%d %H:%M:%S+00:00"
        } else {
            "%Y-%m-%d %H:%M:%S"
        };
        let f = |t: chrono::NaiveDateTime| t.format(fmt).to_string();
        (f(self.start), f(self.end))
    }
}

fn truncate(t: chrono::NaiveDateTime, size: BatchSize) -> chrono::NaiveDateTime {
    use chrono::{Datelike, NaiveDate, Timelike};
    let day = t.date();
    let date = match size {
        BatchSize::Hour => return t.date().and_hms_opt(t.hour(), 0, 0).unwrap_or(t),
        BatchSize::Day => day,
        BatchSize::Month => NaiveDate::from_ymd_opt(day.year(), day.month(), 1).unwrap_or(day),
        BatchSize::Year => NaiveDate::from_ymd_opt(day.year(), 1, 1).unwrap_or(day),
    };
    date.and_hms_opt(0, 0, 0).unwrap_or(t)
}

fn step(t: chrono::NaiveDateTime, size: BatchSize, n: i32) -> chrono::NaiveDateTime {
    use chrono::Months;
    let months = |m: i32| {
        if m >= 0 {
            t.checked_add_months(Months::new(m.unsigned_abs()))
        } else {
            t.checked_sub_months(Months::new(m.unsigned_abs()))
        }
    };
    match size {
        BatchSize::Hour => t + chrono::Duration::hours(i64::from(n)),
        BatchSize::Day => t + chrono::Duration::days(i64::from(n)),
        BatchSize::Month => months(n).unwrap_or(t),
        BatchSize::Year => months(n.saturating_mul(12)).unwrap_or(t),
    }
}

/// The batches of one run, as dbt plans them: from `--event-time-start` (else `begin`
/// on a first or full build, else `lookback` batches before now's) to
/// `--event-time-end` (else now), whole batches only.
pub fn plan_batches(
    mb: &Microbatch,
    is_incremental: bool,
    start: Option<chrono::NaiveDateTime>,
    end: Option<chrono::NaiveDateTime>,
    now: chrono::NaiveDateTime,
) -> Vec<Batch> {
    let end = end.unwrap_or(now);
    let start = match start {
        Some(s) => truncate(s, mb.batch_size),
        None if is_incremental => step(
            truncate(now, mb.batch_size),
            mb.batch_size,
            -i32::try_from(mb.lookback).unwrap_or(i32::MAX),
        ),
        None => truncate(mb.begin, mb.batch_size),
    };
    let mut out = Vec::new();
    let mut t = start;
    // A bound on the count keeps a typo in `begin` (year 20) from planning forever.
    while t < end && out.len() < 100_000 {
        let next = step(t, mb.batch_size, 1);
        out.push(Batch {
            start: t,
            end: next,
        });
        t = next;
    }
    out
}

/// A column of a relation: its name and its SQL type on the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Name.
    pub name: String,
    /// SQL type, as DDL writes it.
    pub data_type: String,
}

/// How the model's new columns differ from its table's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaChanges {
    /// In the model, not in the table.
    pub added: Vec<Column>,
    /// In the table, not in the model.
    pub removed: Vec<Column>,
    /// In both, with another type (the model's).
    pub changed: Vec<Column>,
}

impl SchemaChanges {
    /// Compares the model's columns (`new`) with its table's (`old`).
    pub fn between(new: &[Column], old: &[Column]) -> Self {
        let find = |cols: &[Column], name: &str| cols.iter().find(|c| c.name == name).cloned();
        let mut out = SchemaChanges::default();
        for c in new {
            match find(old, &c.name) {
                None => out.added.push(c.clone()),
                Some(o) if o.data_type != c.data_type => out.changed.push(c.clone()),
                Some(_) => {}
            }
        }
        out.removed = old
            .iter()
            .filter(|c| find(new, &c.name).is_none())
            .cloned()
            .collect();
        out
    }

    /// Whether anything differs.
    pub fn any(&self) -> bool {
        !(self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty())
    }

    /// One line for an error: what was added, removed and changed.
    pub fn describe(&self) -> String {
        let names = |cols: &[Column]| {
            cols.iter()
                .map(|c| format!("`{}` {}", c.name, c.data_type))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        if !self.added.is_empty() {
            parts.push(format!("new in the model: {}", names(&self.added)));
        }
        if !self.removed.is_empty() {
            parts.push(format!("missing from the model: {}", names(&self.removed)));
        }
        if !self.changed.is_empty() {
            parts.push(format!("type changed: {}", names(&self.changed)));
        }
        parts.join("; ")
    }

    /// The DDL that applies the changes `mode` allows to `target`, in dbt's order: add
    /// new columns, drop missing ones, then change types (PostgreSQL and SQLite move the
    /// changed column to the end, as dbt's add-copy-drop-rename does).
    pub fn ddl(&self, mode: OnSchemaChange, dialect: Dialect, target: &str) -> Vec<String> {
        let q = |n: &str| dialect.quote(n);
        let mut out = Vec::new();
        if matches!(
            mode,
            OnSchemaChange::AppendNewColumns | OnSchemaChange::SyncAllColumns
        ) {
            for c in &self.added {
                out.push(format!(
                    "alter table {target} add column {} {}",
                    q(&c.name),
                    c.data_type
                ));
            }
        }
        if mode == OnSchemaChange::SyncAllColumns {
            for c in &self.removed {
                out.push(format!("alter table {target} drop column {}", q(&c.name)));
            }
            for c in &self.changed {
                match dialect {
                    Dialect::Mysql => out.push(format!(
                        "alter table {target} modify column {} {}",
                        q(&c.name),
                        c.data_type
                    )),
                    _ => {
                        let tmp = q(&format!("{}__dbt_alter", c.name));
                        let cast = match dialect {
                            Dialect::Postgres => format!("{}::{}", q(&c.name), c.data_type),
                            _ => format!("cast({} as {})", q(&c.name), c.data_type),
                        };
                        out.push(format!(
                            "alter table {target} add column {tmp} {}",
                            c.data_type
                        ));
                        out.push(format!("update {target} set {tmp} = {cast}"));
                        out.push(format!("alter table {target} drop column {}", q(&c.name)));
                        out.push(format!(
                            "alter table {target} rename column {tmp} to {}",
                            q(&c.name)
                        ));
                    }
                }
            }
        }
        out
    }
}

/// The statements that apply `cfg.strategy` from the staged table `source` (rendered)
/// to `target` (rendered), writing `columns`. `window` narrows a microbatch to its
/// batch (`[start, end)` on `event_time`). They run in one transaction.
pub fn strategy_sql(
    dialect: Dialect,
    cfg: &IncrementalConfig,
    target: &str,
    source: &str,
    columns: &[String],
    window: Option<(&str, &str, &str)>,
) -> Vec<String> {
    let q = |n: &str| dialect.quote(n);
    let cols = columns.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
    let insert_all = format!("insert into {target} ({cols}) select {cols} from {source}");
    let keys = cfg.unique_key.iter().map(|k| q(k)).collect::<Vec<_>>();
    let predicates = |prefix: &str| -> String {
        cfg.predicates
            .iter()
            .map(|p| format!("{prefix}({p})"))
            .collect::<String>()
    };
    match cfg.strategy {
        Strategy::Append => vec![insert_all],
        Strategy::DeleteInsert if keys.is_empty() => vec![insert_all],
        Strategy::DeleteInsert => {
            let tuple = |ks: &[String]| {
                if ks.len() == 1 {
                    ks[0].clone()
                } else {
                    format!("({})", ks.join(", "))
                }
            };
            vec![
                format!(
                    "delete from {target} where {} in (select {} from {source}){}",
                    tuple(&keys),
                    keys.join(", "),
                    predicates(" and ")
                ),
                insert_all,
            ]
        }
        Strategy::Merge => merge_sql(dialect, cfg, target, source, columns),
        Strategy::Microbatch => {
            let Some((start, end, event_time)) = window else {
                return vec![insert_all];
            };
            if keys.is_empty() {
                let et = q(event_time);
                vec![
                    format!(
                        "delete from {target} where {et} >= '{start}' and {et} < '{end}'{}",
                        predicates(" and ")
                    ),
                    insert_all,
                ]
            } else {
                // dbt-postgres merges each batch on the key alone: a row whose event
                // time moved to a later batch replaces its earlier version.
                merge_sql(dialect, cfg, target, source, columns)
            }
        }
    }
}

/// dbt's merge: `MERGE` on PostgreSQL; on MySQL and SQLite, which have none, the same
/// outcome as an update of the matching rows followed by an insert of the others.
fn merge_sql(
    dialect: Dialect,
    cfg: &IncrementalConfig,
    target: &str,
    source: &str,
    columns: &[String],
) -> Vec<String> {
    let q = |n: &str| dialect.quote(n);
    let (src, dest) = ("DBT_INTERNAL_SOURCE", "DBT_INTERNAL_DEST");
    let mut conditions: Vec<String> = cfg.predicates.iter().map(|p| format!("({p})")).collect();
    if cfg.unique_key.is_empty() {
        conditions.push("false".into());
    } else {
        for k in &cfg.unique_key {
            conditions.push(format!("{src}.{k} = {dest}.{k}", k = q(k)));
        }
    }
    let on = conditions.join(" and ");
    let update: Vec<&String> = match &cfg.merge_update_columns {
        Some(only) => columns.iter().filter(|c| only.contains(c)).collect(),
        None => columns
            .iter()
            .filter(|c| !cfg.merge_exclude_columns.contains(c))
            .collect(),
    };
    let cols = columns.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
    let src_cols = columns
        .iter()
        .map(|c| format!("{src}.{}", q(c)))
        .collect::<Vec<_>>()
        .join(", ");
    let set = |qualify: bool| {
        update
            .iter()
            .map(|c| {
                let lhs = if qualify {
                    format!("{dest}.{}", q(c))
                } else {
                    q(c)
                };
                format!("{lhs} = {src}.{}", q(c))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match dialect {
        Dialect::Postgres | Dialect::Datafusion => {
            let mut sql = format!("merge into {target} as {dest} using {source} as {src} on {on}");
            if !update.is_empty() && !cfg.unique_key.is_empty() {
                sql.push_str(&format!(" when matched then update set {}", set(false)));
            }
            sql.push_str(&format!(
                " when not matched then insert ({cols}) values ({src_cols})"
            ));
            vec![sql]
        }
        Dialect::Mysql | Dialect::Sqlite => {
            let mut out = Vec::new();
            if !update.is_empty() && !cfg.unique_key.is_empty() {
                out.push(match dialect {
                    Dialect::Mysql => format!(
                        "update {target} as {dest} join {source} as {src} on {on} set {}",
                        set(true)
                    ),
                    _ => format!(
                        "update {target} as {dest} set {} from {source} as {src} where {on}",
                        set(false)
                    ),
                });
            }
            out.push(format!(
                "insert into {target} ({cols}) select {src_cols} from {source} as {src} where not exists (select 1 from {target} as {dest} where {on})"
            ));
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: serde_json::Value) -> Result<IncrementalConfig> {
        IncrementalConfig::from_config(
            pairs.as_object().expect("object"),
            std::path::Path::new("models/m.sql"),
        )
    }

    #[test]
    fn defaults_follow_dbt_postgres() {
        assert_eq!(
            cfg(serde_json::json!({})).expect("ok").strategy,
            Strategy::Append
        );
        let keyed = cfg(serde_json::json!({"unique_key": ["a", "b"]})).expect("ok");
        assert_eq!(keyed.strategy, Strategy::DeleteInsert);
        assert_eq!(keyed.unique_key, vec!["a", "b"]);
        let err = cfg(serde_json::json!({"incremental_strategy": "upsert"})).expect_err("bad");
        assert_eq!(err.code(), "DVT115");
        assert!(err.to_string().contains("upsert"), "{err}");
        let err = cfg(serde_json::json!({"incremental_strategy": "microbatch"})).expect_err("bad");
        assert!(err.to_string().contains("event_time"), "{err}");
    }

    #[test]
    fn batches_cover_the_window_in_whole_periods() {
        let mb = cfg(serde_json::json!({
            "incremental_strategy": "microbatch", "event_time": "t",
            "begin": "2020-01-01", "batch_size": "day"
        }))
        .expect("ok")
        .microbatch
        .expect("microbatch");
        let ts = |s: &str| parse_timestamp(s).expect("ts");
        // Python's `isoformat()` (dbt_artifacts' `begin`) keeps microseconds.
        assert_eq!(
            ts("2026-11-28T06:00:00.631147"),
            ts("2026-11-28 06:00:00") + chrono::Duration::microseconds(631_147)
        );
        let b = plan_batches(
            &mb,
            false,
            Some(ts("2020-01-01")),
            Some(ts("2020-01-08")),
            ts("2026-01-01"),
        );
        assert_eq!(b.len(), 7);
        assert_eq!(b[0].id(BatchSize::Day), "2020-01-01");
        assert_eq!(
            b[6].sql_bounds(true),
            (
                "2020-01-07 00:00:00+00:00".to_owned(),
                "2020-01-08 00:00:00+00:00".to_owned()
            )
        );
        // An incremental run without bounds rebuilds the lookback batch and today's.
        let b = plan_batches(&mb, true, None, None, ts("2026-03-05 10:30:00"));
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].start, ts("2026-03-04"));
    }

    #[test]
    fn schema_changes_in_dbt_order() {
        let col = |n: &str, t: &str| Column {
            name: n.into(),
            data_type: t.into(),
        };
        let old = [
            col("id", "integer"),
            col("a", "numeric(10,2)"),
            col("gone", "text"),
        ];
        let new = [
            col("id", "integer"),
            col("a", "numeric(14,3)"),
            col("b", "text"),
        ];
        let ch = SchemaChanges::between(&new, &old);
        assert!(ch.any());
        assert_eq!(ch.added, vec![col("b", "text")]);
        assert_eq!(ch.removed, vec![col("gone", "text")]);
        assert_eq!(ch.changed, vec![col("a", "numeric(14,3)")]);
        let ddl = ch.ddl(OnSchemaChange::SyncAllColumns, Dialect::Postgres, "t");
        assert_eq!(ddl.len(), 6, "{ddl:?}");
        assert!(ddl[0].contains("add column \"b\" text"));
        assert!(ddl[1].contains("drop column \"gone\""));
        assert_eq!(
            ch.ddl(OnSchemaChange::AppendNewColumns, Dialect::Postgres, "t")
                .len(),
            1
        );
        assert!(
            ch.ddl(OnSchemaChange::Ignore, Dialect::Postgres, "t")
                .is_empty()
        );
    }
}
