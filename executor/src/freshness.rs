//! `dvt source freshness`: how long ago each source table last received rows, measured
//! where the source lives (`max(<loaded_at_field>)`, narrowed by the rule's `filter`),
//! against its `warn_after`/`error_after`. A timestamp without a zone is taken as UTC,
//! as dbt takes it; the age is measured against this machine's clock.

use std::time::Instant;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use dvt_core::manifest::{Freshness, FreshnessAge, Manifest, SourceTable};
use serde_json::{Value as Json, json};

use crate::error::{Error, Result};
use crate::registry::TargetRegistry;

/// What a freshness check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreshnessStatus {
    /// Younger than both limits.
    Pass,
    /// Older than `warn_after`.
    Warn,
    /// Older than `error_after` ("stale").
    Error,
    /// The check could not run (a query failed, no rows).
    RuntimeError,
}

impl FreshnessStatus {
    /// dbt's word in `sources.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            FreshnessStatus::Pass => "pass",
            FreshnessStatus::Warn => "warn",
            FreshnessStatus::Error => "error",
            FreshnessStatus::RuntimeError => "runtime error",
        }
    }
}

/// One source table's check.
#[derive(Debug, Clone)]
pub struct FreshnessResult {
    /// `source.<project>.<source>.<table>`.
    pub unique_id: String,
    /// The outcome.
    pub status: FreshnessStatus,
    /// The newest `loaded_at_field` value (UTC, RFC 3339), when there is one.
    pub max_loaded_at: Option<String>,
    /// When the check measured (UTC, RFC 3339).
    pub snapshotted_at: String,
    /// Seconds between the two.
    pub age_seconds: Option<f64>,
    /// Why a check could not run.
    pub error: Option<String>,
    /// Seconds the check took.
    pub execution_time: f64,
    /// The rule it was held to.
    pub criteria: Json,
}

/// Checks source table `s` against its rule.
pub async fn check(m: &Manifest, registry: &TargetRegistry, s: &SourceTable) -> FreshnessResult {
    let clock = Instant::now();
    let criteria = s.freshness.as_ref().map(criteria).unwrap_or(Json::Null);
    let measured = match &s.freshness {
        Some(rule) => measure(m, registry, s, rule).await,
        None => Err(Error::internal(format!(
            "{} has no freshness rule",
            s.unique_id
        ))),
    };
    // dbt measures the age on the database's clock (`current_timestamp` beside the
    // `max()`): a column written in the server's local time, read back without a zone,
    // then ages right, as in dbt, and the two clocks' skew does not count.
    let now = match &measured {
        Ok((_, Some(now))) => *now,
        _ => chrono::Utc::now(),
    };
    let measured = measured.map(|(newest, _)| newest);
    let mut result = FreshnessResult {
        unique_id: s.unique_id.clone(),
        status: FreshnessStatus::RuntimeError,
        max_loaded_at: None,
        snapshotted_at: now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        age_seconds: None,
        error: None,
        execution_time: 0.0,
        criteria,
    };
    match (measured, &s.freshness) {
        (Ok(Some(newest)), Some(rule)) => {
            let age = (now - newest).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
            let over =
                |limit: Option<FreshnessAge>| limit.is_some_and(|l| age > l.seconds() as f64);
            result.status = if over(rule.error_after) {
                FreshnessStatus::Error
            } else if over(rule.warn_after) {
                FreshnessStatus::Warn
            } else {
                FreshnessStatus::Pass
            };
            result.max_loaded_at =
                Some(newest.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
            result.age_seconds = Some(age);
        }
        (Ok(_), rule) => {
            result.error = Some(format!(
                "no rows to measure: `max({})` is null",
                rule.as_ref()
                    .and_then(|r| r.loaded_at_field.as_deref())
                    .unwrap_or_default()
            ));
        }
        (Err(e), _) => result.error = Some(format!("{}: {}", e.code(), e.message_chain())),
    }
    result.execution_time = clock.elapsed().as_secs_f64();
    result
}

/// An instant as the freshness check reads it.
type Utc = chrono::DateTime<chrono::Utc>;

/// The newest `loaded_at_field` of the table (`None` when it has no rows) and the
/// database's `current_timestamp`, both in UTC, a value without a zone taken as UTC
/// (dbt's `_utc`).
async fn measure(
    m: &Manifest,
    registry: &TargetRegistry,
    s: &SourceTable,
    rule: &Freshness,
) -> Result<(Option<Utc>, Option<Utc>)> {
    let Some(field) = rule.loaded_at_field.as_deref() else {
        return Err(dvt_core::error::Error::InvalidConfig {
            location: dvt_core::error::Location::file(&s.original_file_path),
            key: "loaded_at_field".into(),
            message: format!(
                "{} has a freshness rule but no `loaded_at_field`: DVT measures freshness from a column (no target offers dbt's metadata-based freshness)",
                s.unique_id
            ),
        }
        .into());
    };
    let relation = m.target(&s.connection).dialect().render(&s.relation);
    let filter = rule
        .filter
        .as_ref()
        .map(|f| format!(" where {f}"))
        .unwrap_or_default();
    let sql = format!(
        "select max({field}) as max_loaded_at, current_timestamp as snapshotted_at from {relation}{filter}"
    );
    let adapter = registry.adapter(&s.connection).await?;
    let batches = crate::federation::collect_stream(adapter.query(&sql).await?).await?;
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok((None, None));
    };
    let instant = |index: usize, what: &str| -> Result<Option<Utc>> {
        let column = batch.column(index);
        if column.is_null(0) {
            return Ok(None);
        }
        // Timestamps of any unit and zone, dates and text all become UTC microseconds.
        let micros =
            arrow::compute::cast(column, &DataType::Timestamp(TimeUnit::Microsecond, None))
                .map_err(|e| {
                    Error::internal(format!(
                        "{what} of {} is not a timestamp ({}): {e}",
                        s.unique_id,
                        column.data_type()
                    ))
                })?;
        let micros = micros.as_primitive::<TimestampMicrosecondType>();
        if micros.is_null(0) {
            return Err(Error::internal(format!(
                "{what} of {} holds a value that is not a timestamp",
                s.unique_id
            )));
        }
        Ok(chrono::DateTime::from_timestamp_micros(micros.value(0)))
    };
    let newest = instant(0, &format!("`{field}`"))?;
    // The database's clock is a convenience: without it, the local one.
    let now = instant(1, "`current_timestamp`").ok().flatten();
    Ok((newest, now))
}

/// The rule as `sources.json` writes it.
fn criteria(rule: &Freshness) -> Json {
    let age = |a: Option<FreshnessAge>| match a {
        Some(a) => json!({"count": a.count, "period": a.period}),
        None => json!({"count": null, "period": null}),
    };
    json!({
        "warn_after": age(rule.warn_after),
        "error_after": age(rule.error_after),
        "filter": rule.filter,
    })
}

/// `target/sources.json`, dbt's freshness artifact.
pub fn sources_json(
    results: &[FreshnessResult],
    elapsed: f64,
    invocation_id: &str,
    generated_at: &str,
) -> Json {
    let results: Vec<Json> = results
        .iter()
        .map(|r| match r.status {
            FreshnessStatus::RuntimeError => json!({
                "unique_id": r.unique_id,
                "status": r.status.as_str(),
                "error": r.error,
            }),
            _ => json!({
                "unique_id": r.unique_id,
                "max_loaded_at": r.max_loaded_at,
                "snapshotted_at": r.snapshotted_at,
                "max_loaded_at_time_ago_in_s": r.age_seconds,
                "status": r.status.as_str(),
                "criteria": r.criteria,
                "adapter_response": {},
                "timing": [],
                "thread_id": "main",
                "execution_time": r.execution_time,
            }),
        })
        .collect();
    json!({
        "metadata": dvt_core::artifacts::metadata(dvt_core::artifacts::SOURCES_SCHEMA, invocation_id, generated_at),
        "results": results,
        "elapsed_time": elapsed,
    })
}
