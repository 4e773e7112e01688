//! The junction tables (issue 17): `movements`, `turning_counts`, `queues`, `queue_samples`,
//! `lane_metrics` and `signal_performance`, from the points of confirmed tracks, the signal
//! states and each camera's junction geometry (`[[camera.approach]]`, `[[camera.crosswalk]]`).
//!
//! Every operator here keeps state per camera on the camera's worker (the points stay where the
//! tracker put them), processes event times in order once the inputs' frontier has passed them,
//! and drops a track's state when the track ends: nothing per track outlives it.

pub mod footprint;
pub mod geometry;
pub mod lane_facts;
pub mod lane_book;
pub mod lanes;
pub mod queue;
pub mod movement_tables;
pub mod movements;
pub mod performance;
mod stash;
pub mod tables;
pub mod timeline;

use crate::facts::{SignalUpdate, TrackPoint};
pub use geometry::JunctionGeom;
use itscam_types::config::{JunctionConfig, PipelineConfig};
use itscam_types::junction_rows::{LaneMetricRow, MovementRow, QueueRow, QueueSampleRow, SignalPerformanceRow, TurningCountRow};
use std::collections::HashMap;
use std::sync::Arc;
use timely::dataflow::Stream;

/// A camera's junction changed (or went: `None`) at the update's time.
pub type GeomChange = (Arc<str>, Option<Arc<JunctionGeom>>);

/// The junctions of the config's cameras, compiled once per run.
#[derive(Clone, Debug, Default)]
pub struct JunctionPlan {
    /// Junction per camera (cameras without approaches and crosswalks are absent).
    pub initial: HashMap<Arc<str>, Arc<JunctionGeom>>,
    /// `[analytics.junction]`.
    pub settings: JunctionConfig,
}

impl JunctionPlan {
    /// Compiles every camera's junction.
    pub fn new(config: &PipelineConfig) -> JunctionPlan {
        let settings = config.analytics.junction.clone();
        let initial = config.camera.iter().filter_map(|c| Some((Arc::<str>::from(c.id.as_str()), Arc::new(JunctionGeom::build(c, &settings)?)))).collect();
        JunctionPlan { initial, settings }
    }

    /// Whether any camera has a junction (otherwise no junction operator is built).
    pub fn any(&self) -> bool {
        !self.initial.is_empty()
    }
}

/// What the junction operators read.
pub struct JunctionInputs<'s> {
    /// Every point of a confirmed track (and its end), on the camera's worker.
    pub points: Stream<'s, u64, Vec<(Arc<str>, TrackPoint)>>,
    /// The signal collection's updates, on every worker.
    pub signals: Stream<'s, u64, Vec<SignalUpdate>>,
    /// Junction changes of cameras changed at runtime, at their times, on the camera's worker.
    pub geoms: Stream<'s, u64, Vec<GeomChange>>,
}

/// The junction tables' rows.
pub struct JunctionStreams<'s> {
    /// `movements`.
    pub movements: Stream<'s, u64, Vec<MovementRow>>,
    /// `turning_counts`.
    pub turning_counts: Stream<'s, u64, Vec<TurningCountRow>>,
    /// `queues`.
    pub queues: Stream<'s, u64, Vec<QueueRow>>,
    /// `queue_samples`.
    pub queue_samples: Stream<'s, u64, Vec<QueueSampleRow>>,
    /// `lane_metrics`.
    pub lane_metrics: Stream<'s, u64, Vec<LaneMetricRow>>,
    /// `signal_performance`.
    pub signal_performance: Stream<'s, u64, Vec<SignalPerformanceRow>>,
}

/// Whether two camera ids are the same: one camera's points share its id's allocation, so
/// the pointers mostly decide without comparing the strings.
pub(crate) fn same_camera(a: &Arc<str>, b: &Arc<str>) -> bool {
    Arc::ptr_eq(a, b) || a == b
}

/// An empty stream of `D` beside `s` (placeholder outputs until an operator produces them).
#[allow(dead_code)]
pub(crate) fn nothing<'s, S: Clone + 'static, D: Clone + 'static>(s: &Stream<'s, u64, Vec<S>>) -> Stream<'s, u64, Vec<D>> {
    use timely::dataflow::channels::pact::Pipeline;
    use timely::dataflow::operators::generic::Operator;
    s.clone().unary::<timely::container::CapacityContainerBuilder<Vec<D>>, _, _, _>(Pipeline, "Nothing", |_, _| move |input, _output| input.for_each(|_, _| {}))
}

/// Every junction table: the movement tables (`movements`, `turning_counts` and the vehicle
/// records) and the lane tables (`queues`, `queue_samples`, `lane_metrics`) in one operator
/// ([`tables::movements_and_lanes`]), and [`performance::signal_performance`] over the vehicle
/// records, the `queues` rows and the signals.
pub fn junction_tables<'s>(inputs: JunctionInputs<'s>, plan: JunctionPlan) -> JunctionStreams<'s> {
    let (moves, lanes) = tables::movements_and_lanes(&inputs, &plan);
    let signal_performance = performance::signal_performance(moves.vehicles, lanes.queues.clone(), inputs.signals.clone(), &plan);
    JunctionStreams {
        movements: moves.movements,
        turning_counts: moves.turning_counts,
        queues: lanes.queues,
        queue_samples: lanes.queue_samples,
        lane_metrics: lanes.lane_metrics,
        signal_performance,
    }
}
