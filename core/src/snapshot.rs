//! dbt's snapshots as plain data and SQL text: the configs (`strategy`, `unique_key`,
//! `updated_at`, `check_cols`, `hard_deletes`, `snapshot_meta_column_names`,
//! `dbt_valid_to_current`) and the statements that build and update a snapshot table
//! from a staged copy of the snapshot query's rows. The executor runs them.

use serde_json::{Map, Value as Json};

use crate::dialect::Dialect;
use crate::error::{Error, Location, Result};

/// How a snapshot detects a changed row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotStrategy {
    /// A newer `updated_at` value.
    Timestamp {
        /// The source column holding the row's last change.
        updated_at: String,
    },
    /// A different value in one of these columns (`None`: every column).
    Check {
        /// `check_cols`.
        columns: Option<Vec<String>>,
    },
}

/// What happens to rows that disappear from the snapshot query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HardDeletes {
    /// Nothing: their last version stays current.
    Ignore,
    /// Their current version gets a `dbt_valid_to`.
    Invalidate,
    /// As `Invalidate`, plus a new current version with `dbt_is_deleted = 'True'`.
    NewRecord,
}

/// The names of the columns dbt adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaColumns {
    /// `dbt_scd_id`.
    pub scd_id: String,
    /// `dbt_updated_at`.
    pub updated_at: String,
    /// `dbt_valid_from`.
    pub valid_from: String,
    /// `dbt_valid_to`.
    pub valid_to: String,
    /// `dbt_is_deleted`.
    pub is_deleted: String,
}

/// A snapshot's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotConfig {
    /// `unique_key`: one column or several.
    pub unique_key: Vec<String>,
    /// `strategy`.
    pub strategy: SnapshotStrategy,
    /// `hard_deletes` (or the legacy `invalidate_hard_deletes: true`).
    pub hard_deletes: HardDeletes,
    /// `snapshot_meta_column_names`.
    pub meta: MetaColumns,
    /// `dbt_valid_to_current`: the SQL expression current rows carry instead of NULL.
    pub valid_to_current: Option<String>,
}

impl SnapshotConfig {
    /// Reads a snapshot's configs; a missing or wrong value is a DVT115 at `file`.
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
        let strings = |key: &str, v: &Json| -> Result<Vec<String>> {
            match v {
                Json::String(s) => Ok(vec![s.clone()]),
                Json::Array(items) => items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| bad(key, format!("expected strings, got `{i}`")))
                    })
                    .collect(),
                other => Err(bad(
                    key,
                    format!("expected a string or a list, got `{other}`"),
                )),
            }
        };
        let unique_key = match config.get("unique_key") {
            None | Some(Json::Null) => {
                return Err(bad(
                    "unique_key",
                    "a snapshot needs a `unique_key` (a column or a list of columns)".into(),
                ));
            }
            Some(v) => strings("unique_key", v)?,
        };
        let strategy = match text("strategy")?.as_deref() {
            Some("timestamp") => SnapshotStrategy::Timestamp {
                updated_at: text("updated_at")?.ok_or_else(|| {
                    bad(
                        "updated_at",
                        "the `timestamp` strategy needs `updated_at` (the column of the row's last change)".into(),
                    )
                })?,
            },
            Some("check") => SnapshotStrategy::Check {
                columns: match config.get("check_cols") {
                    Some(Json::String(s)) if s == "all" => None,
                    Some(v @ Json::Array(_)) => Some(strings("check_cols", v)?),
                    _ => {
                        return Err(bad(
                            "check_cols",
                            "the `check` strategy needs `check_cols`: `all` or a list of columns"
                                .into(),
                        ));
                    }
                },
            },
            Some(other) => {
                return Err(bad(
                    "strategy",
                    format!("`{other}` is not a snapshot strategy; use `timestamp` or `check`"),
                ));
            }
            None => {
                return Err(bad(
                    "strategy",
                    "a snapshot needs a `strategy`: `timestamp` or `check`".into(),
                ));
            }
        };
        let legacy_invalidate = matches!(
            config.get("invalidate_hard_deletes"),
            Some(Json::Bool(true))
        ) || matches!(config.get("invalidate_hard_deletes"), Some(Json::String(s)) if s.eq_ignore_ascii_case("true"));
        let hard_deletes = match text("hard_deletes")?.as_deref() {
            None if legacy_invalidate => HardDeletes::Invalidate,
            None | Some("ignore") => HardDeletes::Ignore,
            Some("invalidate") => HardDeletes::Invalidate,
            Some("new_record") => HardDeletes::NewRecord,
            Some(other) => {
                return Err(bad(
                    "hard_deletes",
                    format!("`{other}` is not one of `ignore`, `invalidate`, `new_record`"),
                ));
            }
        };
        let names = config
            .get("snapshot_meta_column_names")
            .and_then(Json::as_object);
        let name = |key: &str| {
            names
                .and_then(|m| m.get(key))
                .and_then(Json::as_str)
                .map_or_else(|| key.to_owned(), str::to_owned)
        };
        Ok(SnapshotConfig {
            unique_key,
            strategy,
            hard_deletes,
            meta: MetaColumns {
                scd_id: name("dbt_scd_id"),
                updated_at: name("dbt_updated_at"),
                valid_from: name("dbt_valid_from"),
                valid_to: name("dbt_valid_to"),
                is_deleted: name("dbt_is_deleted"),
            },
            valid_to_current: text("dbt_valid_to_current")?,
        })
    }
}

/// The statements of one snapshot, for one dialect, one run's timestamp and one staged
/// copy of the snapshot query's rows.
#[derive(Debug)]
pub struct SnapshotSql<'a> {
    /// The database's dialect.
    pub dialect: Dialect,
    /// The snapshot's config.
    pub cfg: &'a SnapshotConfig,
    /// The staged rows, rendered.
    pub source: &'a str,
    /// The run's timestamp, `YYYY-MM-DD HH:MM:SS.ffffff` (UTC).
    pub now: &'a str,
}

impl SnapshotSql<'_> {
    fn q(&self, name: &str) -> String {
        self.dialect.quote(name)
    }

    /// The run's timestamp as a typed SQL value (dbt's `snapshot_get_time()`).
    fn now_sql(&self) -> String {
        match self.dialect {
            Dialect::Postgres => format!("'{}'::timestamp without time zone", self.now),
            Dialect::Mysql => format!("cast('{}' as datetime(6))", self.now),
            _ => format!("'{}'", self.now),
        }
    }

    /// dbt's `snapshot_hash_arguments`: md5 of the values joined by `|`.
    fn hash(&self, args: &[String]) -> String {
        match self.dialect {
            Dialect::Mysql => format!(
                "md5(concat({}))",
                args.iter()
                    .map(|a| format!("coalesce(cast({a} as char), '')"))
                    .collect::<Vec<_>>()
                    .join(", '|', ")
            ),
            _ => {
                let ty = if self.dialect == Dialect::Postgres {
                    "varchar"
                } else {
                    "text"
                };
                format!(
                    "md5({})",
                    args.iter()
                        .map(|a| format!("coalesce(cast({a} as {ty}), '')"))
                        .collect::<Vec<_>>()
                        .join(" || '|' || ")
                )
            }
        }
    }

    /// The row's change time, on the source row aliased `src`.
    fn updated_at(&self) -> String {
        match &self.cfg.strategy {
            SnapshotStrategy::Timestamp { updated_at } => format!("src.{}", self.q(updated_at)),
            SnapshotStrategy::Check { .. } => self.now_sql(),
        }
    }

    fn scd_id(&self, alias: &str, time: &str) -> String {
        let mut args: Vec<String> = self
            .cfg
            .unique_key
            .iter()
            .map(|k| format!("{alias}.{}", self.q(k)))
            .collect();
        args.push(time.to_owned());
        self.hash(&args)
    }

    /// What a current row's `dbt_valid_to` holds.
    fn current_to(&self, time: &str) -> String {
        match &self.cfg.valid_to_current {
            Some(expr) => format!("coalesce(nullif({time}, {time}), {expr})"),
            // Typed like the timestamp, so `CREATE TABLE AS` gives the column its type.
            None => format!("nullif({time}, {time})"),
        }
    }

    /// Whether the snapshot row `alias` is current.
    fn is_current(&self, alias: &str) -> String {
        let to = format!("{alias}.{}", self.q(&self.cfg.meta.valid_to));
        match &self.cfg.valid_to_current {
            Some(expr) => format!("({to} is null or {to} = {expr})"),
            None => format!("{to} is null"),
        }
    }

    fn keys_match(&self, a: &str, b: &str) -> String {
        self.cfg
            .unique_key
            .iter()
            .map(|k| format!("{a}.{k} = {b}.{k}", k = self.q(k)))
            .collect::<Vec<_>>()
            .join(" and ")
    }

    fn row_changed(&self, source_columns: &[String]) -> String {
        match &self.cfg.strategy {
            SnapshotStrategy::Timestamp { updated_at } => format!(
                "snap.{} < src.{}",
                self.q(&self.cfg.meta.valid_from),
                self.q(updated_at)
            ),
            SnapshotStrategy::Check { columns } => {
                let cols = columns.clone().unwrap_or_else(|| source_columns.to_vec());
                let parts: Vec<String> = cols
                    .iter()
                    .map(|c| {
                        let (s, n) = (format!("snap.{}", self.q(c)), format!("src.{}", self.q(c)));
                        format!("({s} <> {n} or ({s} is null) <> ({n} is null))")
                    })
                    .collect();
                if parts.is_empty() {
                    "false".into()
                } else {
                    format!("({})", parts.join(" or "))
                }
            }
        }
    }

    fn deleted(&self, alias: &str) -> String {
        format!(
            "coalesce({alias}.{}, 'False') = 'True'",
            self.q(&self.cfg.meta.is_deleted)
        )
    }

    /// The first build: every row of the query with its meta columns (a `SELECT` for
    /// `CREATE TABLE AS`).
    pub fn first_build(&self) -> String {
        let m = &self.cfg.meta;
        let upd = self.updated_at();
        let mut sql = format!(
            "select src.*, {} as {}, {upd} as {}, {upd} as {}, {} as {}",
            self.scd_id("src", &upd),
            self.q(&m.scd_id),
            self.q(&m.updated_at),
            self.q(&m.valid_from),
            self.current_to(&upd),
            self.q(&m.valid_to)
        );
        if self.cfg.hard_deletes == HardDeletes::NewRecord {
            sql.push_str(&format!(", 'False' as {}", self.q(&m.is_deleted)));
        }
        sql.push_str(&format!(" from {} src", self.source));
        sql
    }

    /// The statements of a later run against the snapshot table `target`, whose
    /// columns (besides dbt's) are `target_columns`; `source_columns` are the query's.
    /// They run in one transaction, in this order: new versions are inserted first
    /// (they equal their source rows, so the updates that follow never close them),
    /// then changed and deleted rows are closed.
    pub fn apply(
        &self,
        target: &str,
        source_columns: &[String],
        target_columns: &[String],
    ) -> Vec<String> {
        let m = &self.cfg.meta;
        let q = |n: &str| self.q(n);
        let shared: Vec<&String> = source_columns
            .iter()
            .filter(|c| target_columns.contains(c))
            .collect();
        let new_record = self.cfg.hard_deletes == HardDeletes::NewRecord;
        let mut meta_cols = vec![
            q(&m.scd_id),
            q(&m.updated_at),
            q(&m.valid_from),
            q(&m.valid_to),
        ];
        if new_record {
            meta_cols.push(q(&m.is_deleted));
        }
        let cols = shared
            .iter()
            .map(|c| q(c))
            .chain(meta_cols.iter().cloned())
            .collect::<Vec<_>>()
            .join(", ");
        let upd = self.updated_at();
        let changed = self.row_changed(source_columns);
        let reopened = if new_record {
            format!(" or {}", self.deleted("snap"))
        } else {
            String::new()
        };
        let src_cols = |alias: &str| {
            shared
                .iter()
                .map(|c| format!("{alias}.{}", q(c)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let current_snap = self.is_current("snap");
        let mut out = Vec::new();
        // New keys, and new versions of changed (or deleted and back) rows.
        out.push(format!(
            "insert into {target} ({cols}) select {}, {}, {upd}, {upd}, {}{} from {} src where not exists (select 1 from {target} snap where {current_snap} and {keys}) or exists (select 1 from {target} snap where {current_snap} and {keys} and ({changed}{reopened}))",
            src_cols("src"),
            self.scd_id("src", &upd),
            self.current_to(&upd),
            if new_record { ", 'False'" } else { "" },
            self.source,
            keys = self.keys_match("snap", "src"),
        ));
        if new_record {
            // A current version that records the deletion.
            let now = self.now_sql();
            let keep = src_cols("snap");
            out.push(format!(
                "insert into {target} ({cols}) select {keep}, {}, {now}, {now}, {}, 'True' from {target} snap where {current_snap} and not ({}) and not exists (select 1 from {} src where {})",
                self.scd_id("snap", &now),
                self.current_to(&now),
                self.deleted("snap"),
                self.source,
                self.keys_match("snap", "src"),
            ));
        }
        // Close the versions that changed: their end is the new version's start.
        out.push(format!(
            "update {target} as snap set {to} = (select {upd} from {} src where {keys}) where {current_snap} and exists (select 1 from {} src where {keys} and ({changed}{reopened}))",
            self.source,
            self.source,
            to = q(&m.valid_to),
            keys = self.keys_match("snap", "src"),
        ));
        if self.cfg.hard_deletes != HardDeletes::Ignore {
            let live = if new_record {
                format!(" and not ({})", self.deleted("snap"))
            } else {
                String::new()
            };
            out.push(format!(
                "update {target} as snap set {} = {} where {current_snap}{live} and not exists (select 1 from {} src where {})",
                q(&m.valid_to),
                self.now_sql(),
                self.source,
                self.keys_match("snap", "src"),
            ));
        }
        out
    }

    /// dbt's meta column names, for telling them from the query's columns.
    pub fn meta_columns(&self) -> Vec<String> {
        let m = &self.cfg.meta;
        let mut v = vec![
            m.scd_id.clone(),
            m.updated_at.clone(),
            m.valid_from.clone(),
            m.valid_to.clone(),
        ];
        if self.cfg.hard_deletes == HardDeletes::NewRecord {
            v.push(m.is_deleted.clone());
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(v: serde_json::Value) -> Result<SnapshotConfig> {
        SnapshotConfig::from_config(
            v.as_object().expect("object"),
            std::path::Path::new("s.sql"),
        )
    }

    #[test]
    fn configs_as_dbt_reads_them() {
        let c = cfg(serde_json::json!({
            "unique_key": ["a", "b"], "strategy": "check", "check_cols": "all",
            "invalidate_hard_deletes": true,
            "snapshot_meta_column_names": {"dbt_valid_to": "valid_to"}
        }))
        .expect("ok");
        assert_eq!(c.unique_key, vec!["a", "b"]);
        assert_eq!(c.strategy, SnapshotStrategy::Check { columns: None });
        assert_eq!(c.hard_deletes, HardDeletes::Invalidate);
        assert_eq!(c.meta.valid_to, "valid_to");
        assert_eq!(c.meta.valid_from, "dbt_valid_from");
        for (v, key) in [
            (
                serde_json::json!({"strategy": "timestamp", "updated_at": "u"}),
                "unique_key",
            ),
            (
                serde_json::json!({"unique_key": "id", "strategy": "timestamp"}),
                "updated_at",
            ),
            (
                serde_json::json!({"unique_key": "id", "strategy": "check"}),
                "check_cols",
            ),
            (
                serde_json::json!({"unique_key": "id", "strategy": "newest"}),
                "newest",
            ),
        ] {
            let err = cfg(v).expect_err("bad config");
            assert_eq!(err.code(), "DVT115");
            assert!(err.to_string().contains(key), "{err}");
        }
    }

    #[test]
    fn the_timestamp_hash_is_dbts() {
        let c = cfg(
            serde_json::json!({"unique_key": "id", "strategy": "timestamp", "updated_at": "u"}),
        )
        .expect("ok");
        let s = SnapshotSql {
            dialect: Dialect::Postgres,
            cfg: &c,
            source: "s",
            now: "2026-01-01 00:00:00",
        };
        assert!(
            s.first_build().contains(
                "md5(coalesce(cast(src.\"id\" as varchar), '') || '|' || coalesce(cast(src.\"u\" as varchar), ''))"
            ),
            "{}",
            s.first_build()
        );
        let stmts = s.apply("t", &["id".into(), "u".into()], &["id".into(), "u".into()]);
        assert_eq!(stmts.len(), 2, "ignore: insert and close changed rows only");
    }
}
