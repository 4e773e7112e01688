//! [`SinkRows`]: rows for one table, and what the writer needs of them — generated for every
//! table from one list, so adding a table is one line here plus its schema and batch function.

use crate::batch::*;
use crate::schema::Table;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use itscam_types::analytics::{AlertRow, AnomalyRow, LineCrossingRow, TrafficMetricRow, ViolationRow, ZoneEventRow};
use itscam_types::model_rows::{ModelMetricRow, ModelShadowRow};
use itscam_types::junction_rows::{LaneMetricRow, MovementRow, QueueRow, QueueSampleRow, SignalPerformanceRow, TurningCountRow};
use itscam_types::{DetectionRow, ErrorRow, QualityRow, TrackRow};

/// A run of rows of one partition: camera (if the table is partitioned by camera) and the
/// event time that picks the date.
pub(crate) type PartOf<'a> = (Option<&'a str>, u64);

macro_rules! sink_rows {
    ($($(#[$doc:meta])* $variant:ident($row:ty) => $batch:ident, |$r:ident| $part:expr;)*) => {
        /// Rows for one table.
        #[derive(Clone, Debug)]
        pub enum SinkRows {
            $($(#[$doc])* $variant(Vec<$row>),)*
        }

        impl SinkRows {
            /// Number of rows.
            pub fn len(&self) -> usize {
                match self { $(SinkRows::$variant(v) => v.len(),)* }
            }

            /// Whether there are none.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// The table they belong to.
            pub fn table(&self) -> Table {
                match self { $(SinkRows::$variant(_) => Table::$variant,)* }
            }

            /// The rows as one record batch of the table's file schema.
            pub fn batch(&self) -> Result<RecordBatch, ArrowError> {
                match self { $(SinkRows::$variant(v) => $batch(v),)* }
            }

            /// Memory the rows hold, roughly: their slots (heap parts of strings not counted).
            pub(crate) fn memory_bytes(&self) -> usize {
                match self { $(SinkRows::$variant(v) => v.capacity() * std::mem::size_of::<$row>(),)* }
            }

            /// No rows, of the same table.
            pub(crate) fn empty_like(&self) -> SinkRows {
                match self { $(SinkRows::$variant(_) => SinkRows::$variant(Vec::new()),)* }
            }

            /// Moves `other`'s rows (same table) to the end of these.
            pub(crate) fn append(&mut self, other: SinkRows) {
                match (self, other) {
                    $((SinkRows::$variant(a), SinkRows::$variant(mut b)) => a.append(&mut b),)*
                    (a, b) => unreachable!("appending {:?} rows to {:?} rows", b.table(), a.table()),
                }
            }

            /// Splits the rows into runs of one partition (camera and UTC day), making a key
            /// once per run.
            pub(crate) fn split<K>(self, key: impl Fn(Table, PartOf<'_>) -> K) -> Vec<(K, SinkRows)> {
                const DAY_MS: u64 = 86_400_000;
                match self {
                    $(SinkRows::$variant(rows) => {
                        let mut out: Vec<(K, SinkRows)> = Vec::new();
                        let mut last: Option<(Option<String>, u64)> = None;
                        for $r in rows {
                            let (camera, ts) = $part;
                            let day = ts / DAY_MS;
                            if !last.as_ref().is_some_and(|(c, d)| *d == day && c.as_deref() == camera) {
                                last = Some((camera.map(str::to_string), day));
                                out.push((key(Table::$variant, (camera, ts)), SinkRows::$variant(Vec::new())));
                            }
                            if let Some((_, SinkRows::$variant(v))) = out.last_mut() {
                                v.push($r);
                            }
                        }
                        out
                    })*
                }
            }
        }
    };
}

sink_rows! {
    /// `detections` rows.
    Detections(DetectionRow) => detections_batch, |r| (Some(&*r.camera_id), r.ts_ms);
    /// `tracks` rows.
    Tracks(TrackRow) => tracks_batch, |r| (Some(r.camera_id.as_str()), r.first_ts_ms);
    /// `errors` rows (partitioned by the date of rejection only).
    Errors(ErrorRow) => errors_batch, |r| (None, r.rejected_at_ms);
    /// `frame_quality` rows.
    FrameQuality(QualityRow) => quality_batch, |r| (Some(r.camera_id.as_str()), r.ts_ms);
    /// `line_crossings` rows.
    LineCrossings(LineCrossingRow) => line_crossings_batch, |r| (Some(r.camera_id.as_str()), r.ts_ms);
    /// `zone_events` rows.
    ZoneEvents(ZoneEventRow) => zone_events_batch, |r| (Some(r.camera_id.as_str()), r.enter_ts_ms);
    /// `traffic_metrics` rows.
    TrafficMetrics(TrafficMetricRow) => traffic_metrics_batch, |r| (Some(r.camera_id.as_str()), r.window_start_ms);
    /// `violations` rows.
    Violations(ViolationRow) => violations_batch, |r| (Some(r.camera_id.as_str()), r.ts_start_ms);
    /// `anomalies` rows.
    Anomalies(AnomalyRow) => anomalies_batch, |r| (Some(r.camera_id.as_str()), r.window_start_ms);
    /// `alerts` rows.
    Alerts(AlertRow) => alerts_batch, |r| (Some(r.camera_id.as_str()), r.ts_ms);
    /// `model_metrics` rows.
    ModelMetrics(ModelMetricRow) => model_metrics_batch, |r| (Some(r.camera_id.as_str()), r.window_start_ms);
    /// `model_shadow` rows.
    ModelShadow(ModelShadowRow) => model_shadow_batch, |r| (Some(r.camera_id.as_str()), r.window_start_ms);
    /// `movements` rows.
    Movements(MovementRow) => movements_batch, |r| (Some(r.camera_id.as_str()), r.entry_ts_ms);
    /// `turning_counts` rows.
    TurningCounts(TurningCountRow) => turning_counts_batch, |r| (Some(r.camera_id.as_str()), r.bin_start_ms);
    /// `queues` rows.
    Queues(QueueRow) => queues_batch, |r| (Some(r.camera_id.as_str()), r.cycle_start_ms);
    /// `queue_samples` rows.
    QueueSamples(QueueSampleRow) => queue_samples_batch, |r| (Some(r.camera_id.as_str()), r.ts_ms);
    /// `lane_metrics` rows.
    LaneMetrics(LaneMetricRow) => lane_metrics_batch, |r| (Some(r.camera_id.as_str()), r.bin_start_ms);
    /// `signal_performance` rows.
    SignalPerformance(SignalPerformanceRow) => signal_performance_batch, |r| (Some(r.camera_id.as_str()), r.period_start_ms);
}
