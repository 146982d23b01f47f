//! Errors of the executor, each with a stable `DVTnnn` code.

use datafusion::error::DataFusionError;

/// Any error a driver or library hands back, kept as the `source` of a DVT error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The executor's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An executor error. Messages name the target (and relation) involved and never carry a
/// password: connection settings reach the drivers only through [`dvt_core::secret::Secret`].
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A connection to a target could not be made (DVT300).
    #[error("cannot connect to target `{target}`: {source}")]
    Connection {
        /// Target name.
        target: String,
        /// Driver error.
        #[source]
        source: BoxError,
    },

    /// A target name is not among the profile's outputs (DVT300).
    #[error("unknown target `{target}` (known targets: {known})")]
    UnknownTarget {
        /// The name asked for.
        target: String,
        /// Comma-separated known names.
        known: String,
    },

    /// The Ballista executor process stopped with an error, e.g. the scheduler is
    /// unreachable (DVT300).
    #[error("executor process failed: {source}")]
    ExecutorProcess {
        /// Ballista's error.
        #[source]
        source: BoxError,
    },

    /// A statement failed on a target (DVT301).
    #[error("sql failed on target `{target}` while {action}: {source}")]
    Sql {
        /// Target name.
        target: String,
        /// What DVT was doing, naming the relation (`creating "s"."t__dvt_tmp"`).
        action: String,
        /// Driver error.
        #[source]
        source: BoxError,
    },

    /// DataFusion could not plan a federated query (DVT302).
    #[error("federation planning failed: {source}")]
    FederationPlanning {
        /// DataFusion's error.
        #[source]
        source: Box<DataFusionError>,
    },

    /// A federated query failed while running (DVT303).
    #[error("federation execution failed: {source}")]
    FederationExecution {
        /// DataFusion's error.
        #[source]
        source: Box<DataFusionError>,
    },

    /// A source returned a value that the Arrow type DVT reads its column as cannot hold
    /// exactly: never rounded, cut or turned into NULL (DVT303). `row` counts from 1 in
    /// the rows of the query.
    #[error("cannot read column `{column}` at row {row} of a query on target `{target}`: {reason}")]
    ReadValue {
        /// Target name.
        target: String,
        /// Column name.
        column: String,
        /// Row of the query's result, from 1.
        row: u64,
        /// Why the value does not fit.
        reason: String,
    },

    /// Streaming rows into a target failed (DVT304).
    #[error("bulk load into `{relation}` on target `{target}` failed: {source}")]
    BulkLoad {
        /// Target name.
        target: String,
        /// Destination relation.
        relation: String,
        /// Underlying error.
        #[source]
        source: BoxError,
    },

    /// Writing or reading the staging bucket failed (DVT305).
    #[error("staging failed at `{location}`: {source}")]
    Staging {
        /// Path inside the bucket (or the bucket root).
        location: String,
        /// Underlying error.
        #[source]
        source: BoxError,
    },

    /// Something the target or DVT does not support yet (DVT306).
    #[error("unsupported on target `{target}`: {feature}")]
    Unsupported {
        /// Target name (or `datafusion` for the engine).
        target: String,
        /// What is not supported.
        feature: String,
    },

    /// A bucket of a type that cannot stage extracts yet (DVT306): `buckets.yml` accepts
    /// every type the issue names, runs stage only where a store is implemented.
    #[error(
        "bucket `{bucket}` is of type `{kind}`, which cannot stage extracts yet; use a `filesystem` or `s3` bucket"
    )]
    UnsupportedBucket {
        /// The bucket's name in `buckets.yml`.
        bucket: String,
        /// Its `type:`.
        kind: &'static str,
    },

    /// A project, parse or compile error raised while running a node (its own code).
    #[error(transparent)]
    Project(Box<dvt_core::error::Error>),

    /// An incremental model's columns differ from its table's and its
    /// `on_schema_change` is `fail` (DVT309).
    #[error(
        "the columns of incremental model `{relation}` no longer match its table ({changes}); `on_schema_change: fail` stops here: rebuild it with `--full-refresh`, or set `on_schema_change` to `append_new_columns` or `sync_all_columns`"
    )]
    SchemaChanged {
        /// The model's relation.
        relation: String,
        /// What differs.
        changes: String,
    },

    /// A model's enforced contract does not match the columns its SQL returns (DVT310).
    #[error(
        "model `{model}` has an enforced contract that failed: {message}; make the contract's column names and data types match the model's columns"
    )]
    ContractMismatch {
        /// The model.
        model: String,
        /// What differs.
        message: String,
    },

    /// The run was cancelled while the node ran (DVT308).
    #[error("cancelled while running")]
    Cancelled,

    /// A bug in DVT (DVT399).
    #[error("internal error: {message}; please file a bug report")]
    Internal {
        /// What went wrong.
        message: String,
    },

    /// An error raised by a task on a cluster executor, which Ballista returns as text;
    /// its code is read back from that text (the `Debug` text of a DVT error carries it).
    #[error("{message}")]
    Remote {
        /// The task's error code.
        code: &'static str,
        /// The task's message and causes.
        message: String,
    },
}

/// Opens the code and message of a DVT error in its `Debug` text. Ballista sends a failed
/// task's error to the client only as that text, so the client can recover the code.
pub(crate) const REMOTE_OPEN: &str = "\u{27e6}";
/// Closes what [`REMOTE_OPEN`] opened.
pub(crate) const REMOTE_CLOSE: &str = "\u{27e7}";

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{REMOTE_OPEN}{}: {}{REMOTE_CLOSE}",
            self.code(),
            self.message_chain()
        )
    }
}

/// The first DVT error carried in a remote failure's text, as a [`Error::Remote`].
fn remote_error(text: &str) -> Option<Error> {
    let start = text.find(REMOTE_OPEN)? + REMOTE_OPEN.len();
    let rest = &text[start..];
    let end = rest.find(REMOTE_CLOSE).unwrap_or(rest.len());
    let (code, message) = rest[..end].split_once(": ")?;
    let doc = dvt_core::codes::lookup(code)?;
    Some(Error::Remote {
        code: doc.code,
        message: message.to_owned(),
    })
}

impl Error {
    /// The stable code users and tooling match on.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Connection { .. }
            | Error::UnknownTarget { .. }
            | Error::ExecutorProcess { .. } => "DVT300",
            Error::Sql { .. } => "DVT301",
            Error::FederationPlanning { .. } => "DVT302",
            Error::FederationExecution { .. } | Error::ReadValue { .. } => "DVT303",
            Error::BulkLoad { .. } => "DVT304",
            Error::Staging { .. } => "DVT305",
            Error::Unsupported { .. } | Error::UnsupportedBucket { .. } => "DVT306",
            Error::Project(e) => e.code(),
            Error::Cancelled => "DVT308",
            Error::SchemaChanged { .. } => "DVT309",
            Error::ContractMismatch { .. } => "DVT310",
            Error::Internal { .. } => dvt_core::codes::INTERNAL,
            Error::Remote { code, .. } => code,
        }
    }

    /// The message followed by its causes, each once (drivers often repeat their cause
    /// inside their own message).
    pub fn message_chain(&self) -> String {
        let mut msg = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            let text = c.to_string();
            if !msg.contains(&text) {
                msg.push_str(": ");
                msg.push_str(&text);
            }
            cause = c.source();
        }
        msg
    }

    pub(crate) fn sql(
        target: &str,
        action: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        Error::Sql {
            target: target.to_owned(),
            action: action.into(),
            source: source.into(),
        }
    }

    pub(crate) fn connection(target: &str, source: impl Into<BoxError>) -> Self {
        Error::Connection {
            target: target.to_owned(),
            source: source.into(),
        }
    }

    pub(crate) fn bulk_load(
        target: &str,
        relation: &impl std::fmt::Display,
        source: impl Into<BoxError>,
    ) -> Self {
        Error::BulkLoad {
            target: target.to_owned(),
            relation: relation.to_string(),
            source: source.into(),
        }
    }

    pub(crate) fn staging(location: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Staging {
            location: location.into(),
            source: source.into(),
        }
    }

    pub(crate) fn unsupported(target: &str, feature: impl Into<String>) -> Self {
        Error::Unsupported {
            target: target.to_owned(),
            feature: feature.into(),
        }
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Error::Internal {
            message: message.into(),
        }
    }

    /// Wraps a DataFusion error from planning, unwrapping a DVT error carried inside it so
    /// its own code survives the trip through DataFusion.
    pub(crate) fn planning(e: DataFusionError) -> Self {
        match unwrap_dvt(e) {
            Ok(dvt) => dvt,
            Err(e) => Error::FederationPlanning {
                source: Box::new(e),
            },
        }
    }

    /// Like [`Error::planning`], for errors raised while a plan runs.
    pub(crate) fn execution(e: DataFusionError) -> Self {
        match unwrap_dvt(e) {
            Ok(dvt) => dvt,
            Err(e) => match remote_error(&e.to_string()) {
                Some(remote) => remote,
                None => Error::FederationExecution {
                    source: Box::new(e),
                },
            },
        }
    }

    /// Carries this error through DataFusion, which only knows its own error type.
    pub(crate) fn into_datafusion(self) -> DataFusionError {
        DataFusionError::External(Box::new(self))
    }
}

fn unwrap_dvt(e: DataFusionError) -> std::result::Result<Error, DataFusionError> {
    match e {
        DataFusionError::External(boxed) => match boxed.downcast::<Error>() {
            Ok(dvt) => Ok(*dvt),
            Err(other) => Err(DataFusionError::External(other)),
        },
        DataFusionError::Context(ctx, inner) => {
            unwrap_dvt(*inner).map_err(|e| DataFusionError::Context(ctx, Box::new(e)))
        }
        other => Err(other),
    }
}

impl From<dvt_core::error::Error> for Error {
    fn from(e: dvt_core::error::Error) -> Self {
        Error::Project(Box::new(e))
    }
}

impl From<Error> for DataFusionError {
    fn from(e: Error) -> Self {
        e.into_datafusion()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One value of every variant. The match has no wildcard, so a new variant does not
    /// compile until it is added here, and so checked against the registry.
    fn every_error() -> Vec<Error> {
        let df = || Box::new(DataFusionError::Plan("x".into()));
        let all = vec![
            Error::connection("t", "x"),
            Error::UnknownTarget {
                target: "t".into(),
                known: "a".into(),
            },
            Error::ExecutorProcess { source: "x".into() },
            Error::sql("t", "x", "x"),
            Error::FederationPlanning { source: df() },
            Error::FederationExecution { source: df() },
            Error::ReadValue {
                target: "t".into(),
                column: "c".into(),
                row: 1,
                reason: "x".into(),
            },
            Error::bulk_load("t", &"r", "x"),
            Error::staging("x", "x"),
            Error::unsupported("t", "x"),
            Error::UnsupportedBucket {
                bucket: "b".into(),
                kind: "gcs",
            },
            Error::from(dvt_core::error::Error::Profile {
                message: "x".into(),
            }),
            Error::Cancelled,
            Error::SchemaChanged {
                relation: "r".into(),
                changes: "x".into(),
            },
            Error::ContractMismatch {
                model: "m".into(),
                message: "x".into(),
            },
            Error::internal("x"),
            Error::Remote {
                code: "DVT304",
                message: "x".into(),
            },
        ];
        for e in &all {
            match e {
                Error::Connection { .. }
                | Error::UnknownTarget { .. }
                | Error::ExecutorProcess { .. }
                | Error::Sql { .. }
                | Error::FederationPlanning { .. }
                | Error::FederationExecution { .. }
                | Error::ReadValue { .. }
                | Error::BulkLoad { .. }
                | Error::Staging { .. }
                | Error::Unsupported { .. }
                | Error::UnsupportedBucket { .. }
                | Error::Project(_)
                | Error::Cancelled
                | Error::SchemaChanged { .. }
                | Error::ContractMismatch { .. }
                | Error::Internal { .. }
                | Error::Remote { .. } => {}
            }
        }
        all
    }

    #[test]
    fn a_task_error_keeps_its_code_through_ballistas_text() {
        let e = Error::bulk_load(
            "pg",
            &"\"s\".\"t\"",
            Error::ReadValue {
                target: "maria".into(),
                column: "c".into(),
                row: 1,
                reason: "out of range".into(),
            },
        );
        // What Ballista sends back: the Debug text of the task's error, wrapped.
        let text = format!(
            "Job j failed: Task failed due to runtime execution error: DataFusionError({:?})",
            DataFusionError::External(Box::new(e))
        );
        let remote = Error::execution(DataFusionError::Execution(text));
        assert_eq!(remote.code(), "DVT304");
        assert!(remote.to_string().contains("`c`"), "{remote}");
        assert!(remote.to_string().starts_with("bulk load"), "{remote}");
        // Text without a DVT error stays a federation execution error.
        let plain = Error::execution(DataFusionError::Execution("boom".into()));
        assert_eq!(plain.code(), "DVT303");
    }

    #[test]
    fn every_executor_error_code_is_a_registered_error() {
        for e in every_error() {
            let doc = dvt_core::codes::lookup(e.code())
                .unwrap_or_else(|| panic!("`{}` of {e:?} is not in `codes::CODES`", e.code()));
            assert_eq!(doc.kind, dvt_core::codes::CodeKind::Error, "{e:?}");
        }
        assert_eq!(Error::internal("x").code(), dvt_core::codes::INTERNAL);
    }

    #[test]
    fn dvt_errors_survive_a_trip_through_datafusion() {
        let e = Error::sql("pg", "creating `s.t`", "boom");
        let df = DataFusionError::Context("scan".into(), Box::new(e.into_datafusion()));
        let back = Error::execution(df);
        assert_eq!(back.code(), "DVT301");
        assert_eq!(
            back.to_string(),
            "sql failed on target `pg` while creating `s.t`: boom"
        );
    }
}
