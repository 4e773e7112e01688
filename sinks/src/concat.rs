//! Several encoded Parquet files of one schema → one file holding their row groups in order,
//! column chunks copied as they are (no decoding, no re-encoding; statistics and page indexes
//! kept). The writer uses it to lay out a `date` partition's file with one camera after the
//! other, each camera's rows encoded as they arrived (see `writer.rs`).

use bytes::Bytes;
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use std::sync::Arc;

/// The row groups of `files`, in order, as one file encoded with `properties` (which only set
/// what the footer says: the chunks keep their own compression). The key-value metadata (the
/// Arrow schema) is the first file's. Files of other schemas are refused.
pub(crate) fn concat_row_groups(files: &[Bytes], properties: WriterProperties) -> Result<Bytes> {
    let Some(first) = files.first() else {
        return Err(ParquetError::General("no file to concatenate".into()));
    };
    let read = |f: &Bytes| ParquetMetaDataReader::new().with_page_index_policy(PageIndexPolicy::Optional).parse_and_finish(f);
    if files.len() == 1 {
        return Ok(first.clone());
    }
    let head = read(first)?;
    let schema = head.file_metadata().schema_descr().root_schema_ptr();
    let mut out = SerializedFileWriter::new(Vec::new(), schema, Arc::new(properties))?;
    for file in files {
        let meta = read(file)?;
        if meta.file_metadata().schema() != head.file_metadata().schema() {
            return Err(ParquetError::General("the files to concatenate have different schemas (this is a bug)".into()));
        }
        for (g, group) in meta.row_groups().iter().enumerate() {
            let mut group_out = out.next_row_group()?;
            for (c, column) in group.columns().iter().enumerate() {
                let column_index = meta.column_index().and_then(|i| i.get(g)).and_then(|i| i.get(c)).cloned();
                let offset_index = meta.offset_index().and_then(|i| i.get(g)).and_then(|i| i.get(c)).cloned();
                let close = ColumnCloseResult {
                    bytes_written: column.compressed_size() as u64,
                    rows_written: group.num_rows() as u64,
                    metadata: column.clone(),
                    bloom_filter: None,
                    column_index,
                    offset_index,
                };
                group_out.append_column(file, close)?;
            }
            group_out.close()?;
        }
    }
    for kv in head.file_metadata().key_value_metadata().into_iter().flatten() {
        out.append_key_value_metadata(kv.clone());
    }
    Ok(Bytes::from(out.into_inner()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::statistics::Statistics;

    fn file(camera: &str, values: std::ops::Range<i64>) -> Bytes {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false), Field::new("camera_id", DataType::Utf8, false)]));
        let n = values.end - values.start;
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from_iter_values(values)), Arc::new(StringArray::from_iter_values((0..n).map(|_| camera)))],
        )
        .unwrap();
        let mut w = ArrowWriter::try_new(Vec::new(), schema, None).unwrap();
        w.write(&batch).unwrap();
        Bytes::from(w.into_inner().unwrap())
    }

    /// The output has every row in order, one row group per input, each with its own camera's
    /// statistics: what a camera filter prunes by.
    #[test]
    fn row_groups_are_copied_in_order_with_their_statistics() {
        let out = concat_row_groups(&[file("cam-1", 0..3), file("cam-2", 3..10), file("cam-3", 10..12)], WriterProperties::default()).unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(out).unwrap();
        let cameras: Vec<(String, String)> = builder
            .metadata()
            .row_groups()
            .iter()
            .map(|g| match g.column(1).statistics() {
                Some(Statistics::ByteArray(s)) => (s.min_opt().unwrap().as_utf8().unwrap().to_string(), s.max_opt().unwrap().as_utf8().unwrap().to_string()),
                other => panic!("no string statistics: {other:?}"),
            })
            .collect();
        assert_eq!(cameras, [("cam-1", "cam-1"), ("cam-2", "cam-2"), ("cam-3", "cam-3")].map(|(a, b)| (a.to_string(), b.to_string())));
        let values: Vec<i64> = builder
            .build()
            .unwrap()
            .flat_map(|b| b.unwrap().column(0).as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec())
            .collect();
        assert_eq!(values, (0..12).collect::<Vec<_>>());
    }

    #[test]
    fn files_of_other_schemas_are_refused() {
        let other = {
            let schema = Arc::new(Schema::new(vec![Field::new("w", DataType::Int64, false)]));
            let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![1]))]).unwrap();
            let mut w = ArrowWriter::try_new(Vec::new(), schema, None).unwrap();
            w.write(&batch).unwrap();
            Bytes::from(w.into_inner().unwrap())
        };
        let e = concat_row_groups(&[file("cam-1", 0..3), other], WriterProperties::default()).unwrap_err();
        assert!(e.to_string().contains("different schemas"), "{e}");
    }
}
