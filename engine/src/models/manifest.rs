//! What the registry keeps of a model version (`_itscam/models/<name>/<version>/manifest.json`,
//! written once beside `model.onnx`) and the stages a version moves through.

use itscam_types::config::ModelFamily;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A registered model version. Immutable: a version's bytes never change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Manifest {
    /// Registry name, such as `detector`.
    pub name: String,
    /// Semantic version, such as `1.2.0`.
    pub version: String,
    /// SHA-256 of `model.onnx`, hex.
    pub sha256: String,
    /// Bytes of `model.onnx`.
    pub size: u64,
    /// Output layout.
    #[schema(value_type = String)]
    pub family: ModelFamily,
    /// Input width, px.
    pub input_width: u32,
    /// Input height, px.
    pub input_height: u32,
    /// Number of classes its heads score (COCO ids 0..classes).
    pub classes: u32,
    /// ONNX opset of the default domain (`None`: not stated in the file).
    pub opset: Option<i64>,
    /// Who registered it.
    pub registered_by: String,
    /// When, ms since the Unix epoch.
    pub registered_at_ms: u64,
    /// Free text.
    pub notes: Option<String>,
    /// The validation run at registration.
    pub validation: ValidationReport,
}

impl Manifest {
    /// `name@version`: its `model_version` in the tables.
    pub fn id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// The validation run at registration: the model on a fixed set of frames.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ValidationReport {
    /// Whether it may be promoted past `development`.
    pub passed: bool,
    /// Why not, when it did not pass.
    pub reason: Option<String>,
    /// The frames it ran on (file and count).
    pub frames_source: String,
    /// Frames run.
    pub frames: u64,
    /// Frames per second on this machine's CPU, batch 1.
    pub frames_per_s: f64,
    /// Detections per frame, all classes.
    pub detections_per_frame: f64,
    /// Detections per frame by class name.
    pub per_class: BTreeMap<String, f64>,
    /// The production version it was compared with, if there was one.
    pub compared_with: Option<String>,
    /// Agreement with it (matched by IoU ≥ 0.5 within a class ÷ the larger count), all classes.
    pub agreement: Option<f64>,
    /// The same per class.
    pub agreement_per_class: BTreeMap<String, f64>,
}

/// A version's stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Registered, not yet trusted.
    Development,
    /// Validated and proposed; shadowed when `[models] shadow_sample` > 0 and no canary runs.
    Staging,
    /// Runs on `[models] canary_percent` of the cameras following production.
    Canary,
    /// What the cameras following the name run (one per name).
    Production,
    /// Out of use.
    Retired,
}

impl Stage {
    /// Every stage.
    pub const ALL: [Stage; 5] = [Stage::Development, Stage::Staging, Stage::Canary, Stage::Production, Stage::Retired];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Development => "development",
            Stage::Staging => "staging",
            Stage::Canary => "canary",
            Stage::Production => "production",
            Stage::Retired => "retired",
        }
    }

    /// The stage called `name`.
    pub fn parse(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
