//! Rows of the junction tables (issue 17): `movements`, `turning_counts`, `queues`,
//! `queue_samples`, `lane_metrics`, `signal_performance`. Each is keyed as its doc says; a row
//! that late data changes is written again with the next `revision` (readers keep the highest
//! revision per key, like `traffic_metrics`).

use serde::{Deserialize, Serialize};

/// A row of `movements`: one track that entered a junction approach (key: camera, track).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MovementRow {
    /// Camera id.
    pub camera_id: String,
    /// Track id.
    pub track_id: u64,
    /// COCO class name (the track's majority class).
    pub class: String,
    /// The approach it came from.
    pub entry_approach: String,
    /// The approach whose exit gate it crossed; null when it was lost inside the junction.
    pub exit_approach: Option<String>,
    /// The lane it was in at the stop line (or when last in a lane of the approach).
    pub entry_lane: Option<String>,
    /// The exit lane it was in at the exit gate.
    pub exit_lane: Option<String>,
    /// `left`, `through`, `right`, `u_turn` or `unknown` (never guessed).
    pub movement: String,
    /// Entry gate crossing (or the first point on the approach when it appeared past the gate).
    pub entry_ts_ms: u64,
    /// Stop line crossing (the bin of `turning_counts`).
    pub stop_line_ts_ms: Option<u64>,
    /// Exit gate crossing.
    pub exit_ts_ms: Option<u64>,
    /// Exit minus entry, ms.
    pub travel_time_ms: Option<u64>,
    /// Times it fell below `queue_speed_kmh` (re-armed above `stop_rearm_kmh`).
    pub stops: u32,
    /// Travel time minus the free-flow travel time over the same path, s.
    pub control_delay_s: Option<f64>,
    /// 0, then each correction the next.
    pub revision: u32,
}

/// Whether a `turning_counts` row counts vehicles on an approach or people on a crosswalk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountSite {
    /// `approach` = an approach id, `movement` = a movement.
    Approach,
    /// `approach` = a crosswalk id, `movement` = `northbound|southbound|eastbound|westbound`.
    Crosswalk,
}

impl CountSite {
    /// Its name in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            CountSite::Approach => "approach",
            CountSite::Crosswalk => "crosswalk",
        }
    }
}

/// A row of `turning_counts` (key: camera, bin, site, approach, movement, class).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TurningCountRow {
    /// Camera id.
    pub camera_id: String,
    /// Bin start (inclusive), event time.
    pub bin_start_ms: u64,
    /// Bin end (exclusive).
    pub bin_end_ms: u64,
    /// `approach` or `crosswalk`.
    pub site: String,
    /// Approach id (or crosswalk id).
    pub approach: String,
    /// Movement (or walking direction).
    pub movement: String,
    /// COCO class name.
    pub class: String,
    /// Vehicles (people) in the bin: a vehicle counts in the bin of its stop-line time.
    pub count: u64,
    /// 0, then each correction the next.
    pub revision: u32,
}

/// A row of `queues`: one lane × signal cycle (red start to the next red start).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueRow {
    /// Camera id.
    pub camera_id: String,
    /// Approach id.
    pub approach: String,
    /// Lane id.
    pub lane_id: String,
    /// The lane's signal.
    pub signal_id: String,
    /// Red start.
    pub cycle_start_ms: u64,
    /// Green start within the cycle.
    pub green_start_ms: Option<u64>,
    /// The next red start.
    pub cycle_end_ms: u64,
    /// Longest queue of the cycle, m from the stop line.
    pub max_queue_m: f64,
    /// Most queued vehicles of the cycle.
    pub max_queue_veh: u32,
    /// The queue was empty at some sample between green start and the cycle's end.
    pub cleared: bool,
    /// Occupancy of the lane's first metres behind the stop line at the start of red (0..1).
    pub red_start_occupancy: Option<f64>,
    /// Not cleared and `red_start_occupancy` ≥ `split_failure_occupancy`.
    pub split_failure: bool,
    /// 0, then each correction the next.
    pub revision: u32,
}

/// A row of `queue_samples`: one lane every `queue_sample_ms`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueSampleRow {
    /// Camera id.
    pub camera_id: String,
    /// Approach id.
    pub approach: String,
    /// Lane id.
    pub lane_id: String,
    /// Sample time.
    pub ts_ms: u64,
    /// Queue length, m from the stop line to the back of the last queued vehicle.
    pub queue_m: f64,
    /// Queued vehicles.
    pub queue_veh: u32,
}

/// A row of `lane_metrics`: one lane × bin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaneMetricRow {
    /// Camera id.
    pub camera_id: String,
    /// Approach id.
    pub approach: String,
    /// Lane id.
    pub lane_id: String,
    /// Bin start.
    pub bin_start_ms: u64,
    /// Bin end.
    pub bin_end_ms: u64,
    /// Vehicles that crossed the stop line from this lane.
    pub volume: u64,
    /// Share of the bin a vehicle covered the lane's detection zone (the metres behind the stop
    /// line), 0..1, like a loop detector.
    pub occupancy: f64,
    /// Mean time between consecutive vehicles' stop-line crossings (front to front), s.
    pub mean_headway_s: Option<f64>,
    /// Mean gap: headway minus the leader's occupancy time (back to front), s.
    pub mean_gap_s: Option<f64>,
    /// Mean speed of the vehicles at the stop line, km/h.
    pub mean_speed_kmh: Option<f64>,
    /// 0, then each correction the next.
    pub revision: u32,
}

/// Whether a `signal_performance` row is one cycle or one bin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// One cycle of the approach's signal (red start to red start).
    Cycle,
    /// One `bin_ms` bin.
    Bin,
}

impl Period {
    /// Its name in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Cycle => "cycle",
            Period::Bin => "bin",
        }
    }
}

/// A row of `signal_performance`: one approach × cycle or bin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignalPerformanceRow {
    /// Camera id.
    pub camera_id: String,
    /// Approach id.
    pub approach: String,
    /// The approach's signal.
    pub signal_id: String,
    /// `cycle` or `bin`.
    pub period: String,
    /// Start (red start of the cycle, or bin start).
    pub period_start_ms: u64,
    /// End.
    pub period_end_ms: u64,
    /// Motor vehicles that arrived (entry gate time projected to the stop line at free flow).
    pub vehicles: u64,
    /// … of them in green.
    pub arrivals_on_green: u64,
    /// … in yellow.
    pub arrivals_on_yellow: u64,
    /// … in red.
    pub arrivals_on_red: u64,
    /// `arrivals_on_green / vehicles`.
    pub aog_share: Option<f64>,
    /// Cycle rows: whether a lane of the approach had a split failure.
    pub split_failure: Option<bool>,
    /// Cycles with a split failure (1/0 on cycle rows).
    pub split_failures: u64,
    /// Mean control delay of the motor vehicles that crossed the stop line in the period, s.
    pub mean_control_delay_s: Option<f64>,
    /// HCM level of service of signalised intersections from the mean delay: A ≤ 10 s,
    /// B ≤ 20, C ≤ 35, D ≤ 55, E ≤ 80, else F.
    pub los: Option<String>,
    /// 0, then each correction the next.
    pub revision: u32,
}

/// HCM level of service for a signalised intersection's control delay, s.
pub fn level_of_service(delay_s: f64) -> &'static str {
    match delay_s {
        d if d <= 10.0 => "A",
        d if d <= 20.0 => "B",
        d if d <= 35.0 => "C",
        d if d <= 55.0 => "D",
        d if d <= 80.0 => "E",
        _ => "F",
    }
}
