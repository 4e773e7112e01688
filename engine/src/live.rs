//! What a running pipeline shows the HTTP API: the one struct of handles every endpoint reads.
//! `itscam serve` without a pipeline has [`Live::default`] (every handle absent); `itscam run
//! --http` fills it from the run's services ([`crate::run`]). The HTTP layer reads these
//! handles only: it never touches timely or the dataflow.

use crate::alerts::AlertHubHandle;
use crate::counters::RunCounters;
use itscam_operators::source::FeedStats;
use itscam_operators::video::CameraStatuses;
use std::sync::Arc;

/// Handles of a running pipeline.
#[derive(Clone, Debug, Default)]
pub struct Live {
    /// Video cameras' health (cameras added while the pipeline runs join it).
    pub cameras: CameraStatuses,
    /// Rules, zones and calibrations of the traffic queries.
    pub analytics: Option<AnalyticsHandles>,
    /// The alert hub.
    pub alerts: Option<AlertHubHandle>,
    /// The run's row counters.
    pub counters: Option<Arc<RunCounters>>,
    /// Detections sources' counters.
    pub feeds: Vec<Arc<FeedStats>>,
    /// The lake writer (rows waiting).
    pub lake_pending: Option<itscam_sinks::PendingRows>,
    /// Whether the lake writer reaches the lake.
    pub lake_health: Option<itscam_sinks::LakeHealth>,
    /// The edge sync to a central lake (`[lake.sync]`).
    pub lake_sync: Option<crate::run::edge_sync::SyncHealth>,
    /// The push cameras' inlets, when any camera has `source = "push"`.
    pub push: Option<itscam_operators::source::PushInlets>,
    /// `[service] push_max_body_bytes`.
    pub push_max_body_bytes: usize,
    /// Cameras changed over the API (`itscam serve` with cameras).
    pub runtime_cameras: Option<RuntimeCameraHandles>,
    /// The model registry inside the pipeline (video cameras, or cameras added at runtime).
    pub models: Option<Arc<crate::models::ModelsLive>>,
    /// The evidence service (`[evidence] enabled`): each video camera's newest frame.
    pub evidence: Option<crate::evidence::EvidenceView>,
}

/// What the cameras' endpoints need to add, change and remove cameras.
#[derive(Clone, Debug)]
pub struct RuntimeCameraHandles {
    /// The book of changes and the push inlets.
    pub cameras: itscam_operators::source::RuntimeCameras,
    /// The pipeline's config as it started (every change is checked against it with the live
    /// cameras in place of its own).
    pub config: Arc<itscam_types::config::PipelineConfig>,
}

/// What the HTTP API needs of the running queries.
#[derive(Clone, Debug)]
pub struct AnalyticsHandles {
    /// The live rule set.
    pub rules: itscam_queries::RuleControl,
    /// Live zone occupancy.
    pub zones: itscam_queries::observe::LiveZones,
    /// Each calibrated camera's calibration fit.
    pub calibration: Vec<itscam_queries::CalibrationReport>,
    /// Pushed signal states.
    pub signals: itscam_queries::SignalControl,
    /// Where rule changes are logged before they apply.
    pub control: crate::control::ControlLog,
    /// Backfills started over the API, by rule id (one runs at a time).
    pub backfills: Arc<std::sync::Mutex<std::collections::BTreeMap<String, Arc<std::sync::Mutex<crate::backfill::BackfillProgress>>>>>,
}

impl AnalyticsHandles {
    /// The handles of a plan's queries, its changes logged to `control`.
    pub fn of(plan: &itscam_queries::AnalyticsPlan, control: crate::control::ControlLog) -> AnalyticsHandles {
        AnalyticsHandles { rules: plan.rules.clone(), zones: plan.live_zones.clone(), calibration: plan.scenes.reports(), signals: plan.signals.clone(), control, backfills: Arc::default() }
    }
}
