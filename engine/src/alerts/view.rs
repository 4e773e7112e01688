//! What the hub shows of an alert: its state as JSON for the HTTP API and SSE, and the filters.

use itscam_sinks::alerts::AlertStream;
use itscam_types::analytics::{Alert, AlertStatus};
use itscam_types::config::Severity;
use serde::{Deserialize, Serialize};

/// Who changed an alert's status, when, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Change {
    /// The caller's name (`by` of the request).
    pub by: String,
    /// Wall-clock time of the change, unix ms.
    pub at_ms: u64,
    /// Free text given with the change.
    pub note: Option<String>,
}

/// An alert with its lifecycle state: the items of `GET /api/v1/alerts` and the data of SSE events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertView {
    /// The alert as raised (updated by the closing copy of its violation).
    #[serde(flatten)]
    pub alert: Alert,
    /// Open, acknowledged or resolved.
    pub status: AlertStatus,
    /// Whether it was escalated (not acknowledged within its severity's timeout).
    pub escalated: bool,
    /// Repeats suppressed onto it.
    pub suppressed_count: u64,
    /// Wall-clock time it was raised, unix ms.
    pub raised_at_ms: u64,
    /// Wall-clock time of its latest change (the `changed_at_ms` of its latest `alerts` row).
    pub changed_at_ms: u64,
    /// When it was escalated.
    pub escalated_at_ms: Option<u64>,
    /// The acknowledgement, once made.
    pub acknowledged: Option<Change>,
    /// The resolution, once made.
    pub resolved: Option<Change>,
}

/// What happened to an alert, as pushed to SSE subscribers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HubEventKind {
    /// Raised or escalated: published to every outlet on that stream, and to SSE (event
    /// `alert` or `escalation`).
    Published(AlertStream),
    /// Acknowledged, resolved, a repeat suppressed onto it, or updated by the closing copy of
    /// its violation: SSE only (event `update`).
    Update,
}

impl HubEventKind {
    /// Raised (SSE event `alert`).
    pub const RAISED: HubEventKind = HubEventKind::Published(AlertStream::Raised);
    /// Escalated (SSE event `escalation`).
    pub const ESCALATION: HubEventKind = HubEventKind::Published(AlertStream::Escalation);

    /// The SSE event name: the stream's name (`alert`, `escalation`) or `update`.
    pub fn as_str(self) -> &'static str {
        match self {
            HubEventKind::Published(stream) => stream.as_str(),
            HubEventKind::Update => "update",
        }
    }
}

/// One change of one alert.
#[derive(Clone, Debug, PartialEq)]
pub struct HubEvent {
    /// What happened.
    pub kind: HubEventKind,
    /// The alert after the change.
    pub view: AlertView,
}

/// Which alerts `GET /api/v1/alerts` and `GET /api/v1/alerts/stream` return; empty lists match everything.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertFilter {
    /// Any of these statuses.
    pub status: Vec<AlertStatus>,
    /// Any of these severities.
    pub severity: Vec<Severity>,
    /// This camera.
    pub camera: Option<String>,
    /// Only these cameras (the caller's camera scope; empty: every camera).
    pub scope: Vec<String>,
    /// At most this many, newest (by event time `ts_ms`) first.
    pub limit: usize,
}

impl Default for AlertFilter {
    fn default() -> Self {
        AlertFilter { status: Vec::new(), severity: Vec::new(), camera: None, scope: Vec::new(), limit: AlertFilter::DEFAULT_LIMIT }
    }
}

impl AlertFilter {
    /// `limit` when none is given.
    pub const DEFAULT_LIMIT: usize = 100;
    /// The largest `limit` accepted.
    pub const MAX_LIMIT: usize = 10_000;

    /// Whether an alert in `status` passes (the limit aside).
    pub fn matches(&self, alert: &Alert, status: AlertStatus) -> bool {
        (self.status.is_empty() || self.status.contains(&status))
            && (self.severity.is_empty() || self.severity.contains(&alert.severity))
            && self.camera.as_deref().is_none_or(|c| c == alert.camera_id)
            && (self.scope.is_empty() || self.scope.contains(&alert.camera_id))
    }
}
