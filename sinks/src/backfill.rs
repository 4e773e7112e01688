//! Rows computed after the fact (`itscam rules backfill`): each part of a backfill is one file
//! with a name the part chooses, committed alone. A part whose file is in the lake's state is
//! done: a backfill resumed after a crash skips it and redoes the others (a crash between the
//! upload and the commit leaves an orphan that no reader sees, which `vacuum` deletes).

use crate::batch::violations_batch_of;
use crate::commit_log::{Change, FileEntry, LakeState};
use crate::error::SinkError;
use crate::lake::Lake;
use crate::schema::{PartitionBy, Table};
use crate::writer::writer_properties;
use arrow::array::{ArrayRef, StringArray};
use arrow::record_batch::RecordBatch;
use itscam_types::analytics::ViolationRow;
use parquet::arrow::ArrowWriter;
use std::sync::Arc;

/// Where the part `name` of `camera`'s violations of the UTC day of `day_ms` goes, relative to
/// the lake root.
pub fn backfill_path(lake: &Lake, camera: &str, day_ms: u64, name: &str) -> String {
    let date = itscam_types::time::utc_date(day_ms);
    match lake.partition_by() {
        PartitionBy::CameraDate => format!("violations/camera_id={camera}/date={date}/{name}.parquet"),
        PartitionBy::Date => format!("violations/date={date}/{name}.parquet"),
    }
}

/// Whether the part at `path` is committed.
pub fn is_committed(state: &LakeState, path: &str) -> bool {
    state.files.contains_key(path)
}

/// Writes `rows` (one camera, one UTC day; `origin = 'backfill'`) to `path` and commits that
/// file alone, by `run_id`.
pub async fn commit_backfill(lake: &Lake, camera: &str, rows: &[ViolationRow], path: &str, run_id: &str) -> Result<FileEntry, SinkError> {
    let table = Table::Violations;
    let fail = |e: Box<dyn std::error::Error + Send + Sync>| SinkError::encode(table.name(), e);
    let batch = violations_batch_of(rows, "backfill").map_err(|e| fail(e.into()))?;
    let layout = lake.partition_by();
    let schema = table.file_schema_of(layout);
    let batch = match layout {
        PartitionBy::Date => {
            let mut columns = batch.columns().to_vec();
            columns.push(Arc::new(StringArray::from_iter_values(std::iter::repeat_n(camera, batch.num_rows()))) as ArrayRef);
            RecordBatch::try_new(schema.clone(), columns).map_err(|e| fail(e.into()))?
        }
        PartitionBy::CameraDate => batch,
    };
    let mut writer = ArrowWriter::try_new(Vec::new(), schema, Some(writer_properties())).map_err(|e| fail(e.into()))?;
    writer.write(&batch).map_err(|e| fail(e.into()))?;
    let bytes = bytes::Bytes::from(writer.into_inner().map_err(|e| fail(e.into()))?);
    let entry = FileEntry { table: table.name().into(), path: path.to_string(), rows: rows.len() as u64, bytes: bytes.len() as u64 };
    lake.put_file(&lake.path_of(path), bytes).await?;
    lake.publish(&Change { run_id: run_id.to_string(), added: vec![entry.clone()], ..Change::default() }, None).await?;
    Ok(entry)
}
