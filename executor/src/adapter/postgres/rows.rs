//! PostgreSQL result rows to Arrow batches: every column goes through DVT's own binary
//! decoders ([`super::types`]) into builders of the wanted Arrow types, exactly or with
//! an error naming column and row; batches are cut by rows and bytes.

use std::pin::Pin;

use arrow::array::RecordBatch;
use datafusion::error::DataFusionError;
use futures::{Stream, StreamExt};
use tokio_postgres::{Row, RowStream};

use super::types::{Decoder, Raw, decode};
use crate::adapter::types::{BatchBuilder, Cell, read_error};
use crate::error::{Error, Result};

/// The state of one result being read.
pub(super) struct Reader<G> {
    pub(super) target: String,
    pub(super) names: Vec<String>,
    pub(super) decoders: Vec<Decoder>,
    pub(super) builder: BatchBuilder,
    pub(super) rows: Pin<Box<RowStream>>,
    /// Rows read so far (the current row's number once it is read).
    pub(super) row: u64,
    pub(super) done: bool,
    /// Keeps the pooled connection checked out while the result streams.
    pub(super) _guard: G,
}

impl<G: Send + 'static> Reader<G> {
    fn append(&mut self, row: &Row) -> Result<()> {
        for (i, d) in self.decoders.iter().enumerate() {
            let name = &self.names[i];
            let raw: Option<Raw<'_>> = row.try_get(i).map_err(|e| {
                read_error(
                    &self.target,
                    name,
                    self.row,
                    format!("reading the value: {e}"),
                )
            })?;
            let cell = match raw {
                None => Cell::Null,
                Some(Raw(bytes)) => decode(d, bytes)
                    .map_err(|reason| read_error(&self.target, name, self.row, reason))?,
            };
            self.builder
                .append(i, cell)
                .map_err(|reason| read_error(&self.target, name, self.row, reason))?;
        }
        Ok(())
    }

    fn take(&mut self) -> Result<RecordBatch> {
        self.builder
            .finish()
            .map_err(|e| Error::internal(format!("building a postgres batch: {e}")))
    }

    /// The next batch, `None` at the end.
    async fn next_batch(&mut self) -> Option<Result<RecordBatch>> {
        if self.done {
            return None;
        }
        loop {
            match self.rows.next().await {
                Some(Ok(row)) => {
                    self.row += 1;
                    if let Err(e) = self.append(&row) {
                        self.done = true;
                        return Some(Err(e));
                    }
                    if self.builder.end_row() {
                        return Some(self.take());
                    }
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(Error::sql(
                        &self.target,
                        "running a query",
                        super::describe(e),
                    )));
                }
                None => {
                    self.done = true;
                    return (self.builder.rows() > 0).then(|| self.take());
                }
            }
        }
    }

    /// The batches of the result.
    pub(super) fn into_stream(
        self,
    ) -> impl Stream<Item = std::result::Result<RecordBatch, DataFusionError>> + Send + 'static
    {
        futures::stream::unfold(self, |mut reader| async move {
            let batch = reader.next_batch().await?;
            Some((batch.map_err(Error::into_datafusion), reader))
        })
    }
}
