//! The alert hub: the lifecycle of alerts raised from violations and anomalies.
//!
//! - **Dedupe**: one alert per `alert_id`. A violation is emitted when confirmed and again when
//!   its episode closes, with the same id; the second copy updates the alert's value and message
//!   and raises nothing.
//! - **Suppression**: a repeat (same key: rule, camera and track for violations; kind, camera and zone
//!   for anomalies) within `[alerts.lifecycle] suppress_ms` of event time of a published,
//!   unresolved alert, and not more severe, is not published: it is counted on that alert
//!   (`suppressed_count`, one `alerts` row per repeat).
//! - **Lifecycle**: open → acknowledged → resolved (or open → resolved), through the HTTP API.
//!   Every change appends a row to the `alerts` table.
//! - **Escalation**: a high/critical alert still open `escalate_high_ms`/`escalate_critical_ms`
//!   after it was raised is published again on the escalation stream (every outlet, SSE).
//! - **Bounded memory**: resolved alerts leave the in-memory book after `retain_resolved_ms`;
//!   the book holds at most `max_alerts`.
//!
//! The hub is one Tokio task; [`AlertHubHandle::raise`] never blocks, so timely workers call it.
//! SSE is built in (a broadcast channel); Kafka and webhooks are [`AlertOutlet`]s.

mod book;
mod hub;
mod view;

pub use book::{ENGINE, HubCounters};
pub use hub::{AlertHub, AlertHubHandle, AlertHubTask, HubError, HubSummary, SSE_BUFFER};
pub use view::{AlertFilter, AlertView, Change, HubEvent, HubEventKind};

use itscam_sinks::SinkError;
use itscam_sinks::alerts::AlertOutlet;
use itscam_sinks::alerts::webhook::WebhookOutlet;
use itscam_types::config::AlertsConfig;
use std::sync::Arc;

/// Starts one [`WebhookOutlet`] per `[[alerts.webhook]]` on `runtime` (their counters stay
/// readable through the returned handles; pass them to [`AlertHub::start`] with [`as_outlets`]).
pub fn webhook_outlets(config: &AlertsConfig, runtime: &tokio::runtime::Handle) -> Result<Vec<Arc<WebhookOutlet>>, SinkError> {
    config.webhook.iter().map(|w| WebhookOutlet::start(w, runtime)).collect()
}

/// The webhooks as outlets for [`AlertHub::start`].
pub fn as_outlets(webhooks: &[Arc<WebhookOutlet>]) -> Vec<Arc<dyn AlertOutlet>> {
    webhooks.iter().map(|w| w.clone() as Arc<dyn AlertOutlet>).collect()
}

#[cfg(test)]
mod tests;
