//! ONNX Runtime: finding and loading the shared library (load-dynamic), creating a session on
//! the configured execution provider, and running one batch. Used only on the inference
//! thread, never on a timely worker.

use super::preprocess::PreprocessError;
use itscam_types::config::{ModelConfig, Provider};
use itscam_types::{Blame, Blamed};
use ort::ep::ExecutionProvider;
use ort::session::Session;
use ort::value::TensorRef;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Why the detector could not start or run, by who is to blame.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VisionError {
    /// No ONNX Runtime library where we looked (setup).
    #[error("ONNX Runtime library not found (looked at: {}). Run scripts/setup.sh, or set ORT_DYLIB_PATH or [model].runtime_library", tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    LibraryNotFound {
        /// Paths tried, in order.
        tried: Vec<PathBuf>,
    },
    /// The library exists but does not load (wrong file, wrong version, missing dependencies).
    #[error("cannot load ONNX Runtime from {path}: {reason}")]
    LibraryLoad {
        /// The library.
        path: PathBuf,
        /// Loader's reason.
        reason: String,
    },
    /// The model file is missing (setup / config).
    #[error("model file {0} does not exist (relative paths are from the working directory: run from the repository root, or set [model].path)")]
    ModelNotFound(PathBuf),
    /// The model does not load or lacks the inputs/outputs of its family (config).
    #[error("cannot use model {path}: {reason}")]
    Model {
        /// The model.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The configured execution provider is not available (config / machine).
    #[error("execution provider {provider} is not available: {reason}. Set [model].provider = \"cpu\", or fallback_to_cpu = true to run on the CPU instead")]
    ProviderUnavailable {
        /// Provider name.
        provider: &'static str,
        /// Why.
        reason: String,
    },
    /// A batch failed in ONNX Runtime (external library); the frames are reported, not lost.
    #[error("inference failed: {0}")]
    Inference(String),
    /// A frame of the batch could not be prepared for the model.
    #[error("inference failed: {0}")]
    Preprocess(#[from] PreprocessError),
    /// The inference thread ended while the operator still had frames for it.
    #[error("the inference thread stopped (this is a bug)")]
    ThreadStopped,
    /// A detector opened on the first batch (video cameras added while the pipeline runs) could
    /// not be opened: every batch fails with this reason.
    #[error("the detector could not be opened: {0}")]
    NotOpened(String),
    /// The camera follows a registry name that has no production version (promote one).
    #[error("model {0:?} has no production version: promote one (itscam models promote)")]
    NoModel(String),
}

impl Blamed for VisionError {
    /// Setup and config (library, model, provider) are the user's; a batch that fails in ONNX
    /// Runtime is external (the next batch is tried, the failed frames become `errors` rows).
    fn blame(&self) -> Blame {
        match self {
            VisionError::LibraryNotFound { .. }
            | VisionError::LibraryLoad { .. }
            | VisionError::ModelNotFound(_)
            | VisionError::Model { .. }
            | VisionError::ProviderUnavailable { .. } => Blame::User,
            VisionError::Inference(_) => Blame::External,
            VisionError::Preprocess(e) => e.blame(),
            VisionError::ThreadStopped => Blame::Bug,
            VisionError::NotOpened(_) | VisionError::NoModel(_) => Blame::User,
        }
    }
}

/// The library path: `[model].runtime_library`, then `$ORT_DYLIB_PATH`, then
/// `.assets/libonnxruntime.so` under the working directory, then next to the executable.
pub fn resolve_library(configured: Option<&str>) -> Result<PathBuf, VisionError> {
    let mut tried = Vec::new();
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = configured {
        candidates.push(p.into());
    } else {
        if let Ok(p) = std::env::var("ORT_DYLIB_PATH") {
            candidates.push(p.into());
        }
        candidates.push(PathBuf::from(".assets/libonnxruntime.so"));
        if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
            candidates.push(dir.join("libonnxruntime.so"));
        }
    }
    for c in candidates {
        if c.is_file() {
            return Ok(c);
        }
        tried.push(c);
    }
    Err(VisionError::LibraryNotFound { tried })
}

static RUNTIME: OnceLock<Result<(PathBuf, ort::environment::Environment), VisionError>> = OnceLock::new();

/// Loads ONNX Runtime once per process; later calls must name the same library.
pub fn environment(configured: Option<&str>) -> Result<&'static ort::environment::Environment, VisionError> {
    let lib = resolve_library(configured)?;
    let loaded = RUNTIME.get_or_init(|| {
        let builder = ort::init_from(&lib).map_err(|e| VisionError::LibraryLoad { path: lib.clone(), reason: e.to_string() })?;
        let env = builder.with_name("itscam").build().map_err(|e| VisionError::LibraryLoad { path: lib.clone(), reason: e.to_string() })?;
        Ok((lib.clone(), env))
    });
    match loaded {
        Ok((path, env)) if *path == lib => Ok(env),
        Ok((path, _)) => Err(VisionError::LibraryLoad {
            path: lib,
            reason: format!("ONNX Runtime is already loaded from {} in this process", path.display()),
        }),
        Err(e) => Err(e.clone()),
    }
}

/// The provider actually in use.
pub fn provider_name(p: Provider) -> &'static str {
    match p {
        Provider::Cpu => "cpu",
        Provider::Cuda => "cuda",
        Provider::Tensorrt => "tensorrt",
    }
}

/// Opens the model on the configured provider. Returns the session and the provider used.
pub fn open_session(config: &ModelConfig) -> Result<(Session, Provider), VisionError> {
    let env = environment(config.runtime_library.as_deref())?;
    let path = PathBuf::from(&config.path);
    if !path.is_file() {
        return Err(VisionError::ModelNotFound(path));
    }
    let model_err = |reason: String| VisionError::Model { path: path.clone(), reason };
    let mut provider = config.provider;
    let available = |p: Provider| -> Result<(), String> {
        let ok = match p {
            Provider::Cpu => Ok(true),
            Provider::Cuda => ort::ep::CUDA::is_available(),
            Provider::Tensorrt => ort::ep::TensorRT::is_available(),
        };
        match ok {
            Ok(true) => Ok(()),
            Ok(false) => Err("this ONNX Runtime library was built without it (use the onnxruntime-gpu library)".into()),
            Err(e) => Err(e.to_string()),
        }
    };
    if let Err(reason) = available(provider) {
        if !config.fallback_to_cpu {
            return Err(VisionError::ProviderUnavailable { provider: provider_name(provider), reason });
        }
        tracing::warn!(provider = provider_name(provider), %reason, "execution provider unavailable; falling back to the CPU (fallback_to_cpu = true)");
        provider = Provider::Cpu;
    }
    let mut builder = Session::builder(env).map_err(|e| model_err(e.to_string()))?;
    if config.threads > 0 {
        builder = builder.with_intra_threads(config.threads).map_err(|e| model_err(e.to_string()))?;
    }
    if !config.spin_wait {
        builder = builder.with_intra_op_spinning(false).map_err(|e| model_err(e.to_string()))?;
    }
    let device = config.device_id as i32;
    let dispatch = match provider {
        Provider::Cpu => None,
        Provider::Cuda => Some(ort::ep::CUDA::default().with_device_id(device).build().error_on_failure()),
        Provider::Tensorrt => {
            let cache = path.with_extension("trt-cache");
            Some(
                ort::ep::TensorRT::default()
                    .with_device_id(device)
                    .with_engine_cache(true)
                    .with_engine_cache_path(cache.display().to_string())
                    .build()
                    .error_on_failure(),
            )
        }
    };
    if let Some(d) = dispatch {
        builder = builder.with_execution_providers([d]).map_err(|e| VisionError::ProviderUnavailable {
            provider: provider_name(provider),
            reason: e.to_string(),
        })?;
    }
    let session = builder.commit_from_file(&path).map_err(|e| model_err(e.to_string()))?;
    Ok((session, provider))
}

/// Output tensors of one batch: shapes and data, copied out of ONNX Runtime.
#[derive(Debug, Default)]
pub struct BatchOutputs {
    /// One `(shape, data)` per requested output, in the order asked for.
    pub tensors: Vec<(Vec<usize>, Vec<f32>)>,
}

/// Runs one batch: `input` holds `shape.iter().product()` floats.
pub fn run_batch(session: &mut Session, input_name: &str, shape: [usize; 4], input: &[f32], outputs: &[&str], into: &mut BatchOutputs) -> Result<(), VisionError> {
    let tensor = TensorRef::from_array_view((shape, input)).map_err(|e| VisionError::Inference(e.to_string()))?;
    let result = session.run(ort::inputs![input_name => tensor]).map_err(|e| VisionError::Inference(e.to_string()))?;
    into.tensors.resize_with(outputs.len(), Default::default);
    for (slot, name) in into.tensors.iter_mut().zip(outputs) {
        let value = result.get(*name).ok_or_else(|| VisionError::Inference(format!("the model has no output {name:?}")))?;
        let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| VisionError::Inference(e.to_string()))?;
        slot.0.clear();
        slot.0.extend(shape.iter().map(|d| *d as usize));
        slot.1.clear();
        slot.1.extend_from_slice(data);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_is_the_users_a_failed_batch_is_external_and_a_broken_invariant_is_a_bug() {
        assert_eq!(VisionError::ModelNotFound("m.onnx".into()).blame(), Blame::User);
        assert_eq!(VisionError::LibraryNotFound { tried: vec![] }.blame(), Blame::User);
        assert_eq!(VisionError::Inference("out of memory".into()).blame(), Blame::External);
        for bug in [VisionError::ThreadStopped, VisionError::from(PreprocessError::BadFrame { width: 2, height: 2, len: 5, expected: 12 })] {
            assert_eq!(bug.blame(), Blame::Bug, "{bug}");
            assert!(bug.to_string().contains("this is a bug"), "{bug}");
        }
    }
}
