//! Models as versioned data: a registry in the lake ([`registry`]: `_itscam/models/<name>/
//! <version>/model.onnx` + `manifest.json`), validation at registration ([`validate`]), stages
//! in the control log ([`stages`]: development → staging → canary → production → retired),
//! and the registry inside a running pipeline ([`live`]: hot swap through the inference
//! threads' board, canary share, shadow runs, monitoring tables, the canary guard, drift).

pub mod guard;
pub mod live;
pub mod manifest;
pub mod registry;
pub mod stages;
pub mod validate;

pub use live::ModelsLive;
pub use manifest::{Manifest, Stage, ValidationReport};
pub use registry::{Registry, RegistryError, Stored};

use crate::auth::secrets::sha256_hex;
use itscam_types::config::{ModelConfig, ModelFamily, check_model_name, parse_model_version};
use std::path::PathBuf;

/// The largest model file the registry takes.
pub const MAX_MODEL_BYTES: u64 = 1 << 30;

/// A registration request.
#[derive(Clone, Debug)]
pub struct Registration {
    /// The ONNX file.
    pub file: PathBuf,
    /// Registry name.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// Output layout.
    pub family: ModelFamily,
    /// Input size, px (default 512×512, or the model's own where it fixes one).
    pub input: Option<(u32, u32)>,
    /// Free text.
    pub notes: Option<String>,
    /// Who registers it.
    pub who: String,
    /// The validation video and how many of its frames to run.
    pub video: PathBuf,
    /// Frames of it.
    pub frames: usize,
    /// `[model]` settings for thresholds and the runtime library.
    pub base: ModelConfig,
}

/// Validates and stores a model. A file that is not ONNX, that ONNX Runtime does not load, whose
/// input is not an image or whose outputs do not fit the family is refused with the reason; one
/// that loads but finds nothing on the validation frames is registered with a failed validation
/// (it cannot leave `development`).
pub async fn register(registry: &Registry, reg: Registration) -> Result<(Manifest, Stored), RegistryError> {
    let invalid = RegistryError::Invalid;
    check_model_name(&reg.name).map_err(invalid)?;
    parse_model_version(&reg.version).map_err(invalid)?;
    let meta = std::fs::metadata(&reg.file).map_err(|e| invalid(format!("cannot read {}: {e}", reg.file.display())))?;
    if meta.len() > MAX_MODEL_BYTES {
        return Err(invalid(format!("{} is {} bytes; the registry takes models up to {MAX_MODEL_BYTES} bytes", reg.file.display(), meta.len())));
    }
    let bytes = std::fs::read(&reg.file).map_err(|e| invalid(format!("cannot read {}: {e}", reg.file.display())))?;
    let facts = validate::onnx_facts(&bytes).map_err(|e| invalid(format!("{}: {e}", reg.file.display())))?;
    let sha256 = sha256_hex(&bytes);
    let id = format!("{}@{}", reg.name, reg.version);
    if let Some(existing) = registry.manifest(&id).await? {
        return if existing.sha256 == sha256 { Ok((existing, Stored::Same)) } else { Err(RegistryError::Exists { id, existing: existing.sha256 }) };
    }
    let production = match registry.stages().await?.production(&reg.name) {
        Some(p) => {
            let m = registry.require(&p).await?;
            let path = registry.local_file(&m).await?;
            Some((p, ModelConfig { path: path.display().to_string(), family: m.family, input_width: m.input_width, input_height: m.input_height, registry: None, ..reg.base.clone() }))
        }
        None => None,
    };
    let job = reg.clone();
    let (validation, classes, size) = tokio::task::spawn_blocking(move || run_validation(&job, production))
        .await
        .map_err(|e| invalid(format!("the validation stopped: {e}")))?
        .map_err(|e| invalid(format!("{id} was not registered: {e}")))?;
    let manifest = Manifest {
        name: reg.name,
        version: reg.version,
        sha256,
        size: meta.len(),
        family: reg.family,
        input_width: size.0,
        input_height: size.1,
        classes,
        opset: facts.opset,
        registered_by: reg.who,
        registered_at_ms: itscam_types::time::now_ms(),
        notes: reg.notes,
        validation,
    };
    let stored = registry.store(bytes.into(), &manifest).await?;
    Ok((manifest, stored))
}

/// Loads the model, runs it on the validation frames and, when there is one, the production
/// version on the same frames. Returns the report, its class count and input size.
fn run_validation(reg: &Registration, production: Option<(String, ModelConfig)>) -> Result<(ValidationReport, u32, (u32, u32)), String> {
    let config = ModelConfig { ..validate::model_config(&reg.file, reg.family, reg.input) };
    let config = ModelConfig { confidence: reg.base.confidence, classes: reg.base.classes.clone(), runtime_library: reg.base.runtime_library.clone(), ..config };
    let detector = itscam_operators::vision::detector::Detector::open(&config).map_err(|e| e.to_string())?;
    let classes = class_count(reg.family, detector.output_shapes());
    drop(detector);
    let frames = validate::sample_frames(&reg.video, reg.frames)?;
    let (dets, fps) = validate::run_on(&config, &frames)?;
    let prod = match production {
        Some((id, cfg)) => Some((id, validate::run_on(&cfg, &frames)?.0)),
        None => None,
    };
    let source = format!("{} ({} frames)", reg.video.display(), frames.len());
    let report = validate::report(source, &dets, fps, prod.as_ref().map(|(id, d)| (id.clone(), d.as_slice())));
    Ok((report, classes, (config.input_width, config.input_height)))
}

/// Classes a model's heads score: CenterNet's heatmap channels, YOLO's rows after the 4 box rows.
fn class_count(family: ModelFamily, outputs: &[(String, Vec<i64>)]) -> u32 {
    let dim = |i: usize| outputs.first().and_then(|(_, s)| s.get(i).copied()).filter(|d| *d > 0);
    match family {
        ModelFamily::Centernet => outputs.iter().find(|(n, _)| n.contains("keypoints")).and_then(|(_, s)| s.last().copied()).filter(|d| *d > 0).unwrap_or(80) as u32,
        ModelFamily::Yolo => dim(1).map_or(80, |d| (d - 4).max(0)) as u32,
    }
}
