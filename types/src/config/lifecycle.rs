//! `[alerts.lifecycle]` and `[[alerts.webhook]]`: suppression, escalation, webhooks.

use super::Problem;
use serde::{Deserialize, Serialize};

/// `[alerts.lifecycle]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LifecycleConfig {
    /// Repeats of an alert key within this many ms are suppressed.
    pub suppress_ms: u64,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig { suppress_ms: 60_000 }
    }
}

impl LifecycleConfig {
    pub(crate) fn check(&self, _at: &str, _out: &mut Vec<Problem>) {}
}

/// `[[alerts.webhook]]`: an HTTP endpoint that receives every alert as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookConfig {
    /// `http://` or `https://` URL.
    pub url: String,
}

impl WebhookConfig {
    pub(crate) fn check(&self, at: &str, out: &mut Vec<Problem>) {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            out.push(Problem::new(format!("{at}.url"), "must start with http:// or https://"));
        }
    }
}
