//! The model registry in the lake, through `object_store` (so on S3/MinIO too):
//! `_itscam/models/<name>/<version>/model.onnx` and `manifest.json`, both written once. The
//! manifest is written last and is the registration: a version without one is not registered
//! (an interrupted upload is overwritten by the next attempt). Stages live in the control log
//! ([`super::stages`]).
//!
//! Running a registered version needs a local file for ONNX Runtime: on a local lake that is
//! the lake's own `model.onnx`; on S3 a copy under `[models] cache_dir/<sha256>.onnx`,
//! downloaded once and checked against the manifest's sha256.

use super::manifest::{Manifest, Stage};
use super::stages::{StageError, Stages};
use crate::auth::secrets::sha256_hex;
use itscam_sinks::{ControlChange, ControlEntry, ControlKind, ControlOp, Lake, SinkError};
use itscam_types::{Blame, Blamed};
use std::path::{Path, PathBuf};

/// Why a registry operation failed, by who is to blame.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The name or version is malformed, the file is not a usable model, or the version exists
    /// with other bytes (the caller's).
    #[error("{0}")]
    Invalid(String),
    /// The version is registered already with other bytes.
    #[error("model {id} is already registered with other bytes (sha256 {existing}); versions are immutable: register a new version")]
    Exists {
        /// `name@version`.
        id: String,
        /// The registered file's sha256.
        existing: String,
    },
    /// No such version.
    #[error("model {0} is not registered")]
    NotFound(String),
    /// A stage change refused.
    #[error(transparent)]
    Stage(#[from] StageError),
    /// The lake could not be read or written (storage).
    #[error(transparent)]
    Storage(#[from] SinkError),
    /// A local copy could not be written (the machine's).
    #[error("cannot keep a local copy of the model at {path}: {reason}")]
    Cache {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A stored model does not match its manifest (the storage's).
    #[error("the stored model {id} does not match its manifest (sha256 {found}, expected {expected})")]
    Corrupt {
        /// `name@version`.
        id: String,
        /// What the bytes hash to.
        found: String,
        /// What the manifest says.
        expected: String,
    },
}

impl Blamed for RegistryError {
    fn blame(&self) -> Blame {
        match self {
            RegistryError::Invalid(_) | RegistryError::Exists { .. } | RegistryError::NotFound(_) | RegistryError::Stage(_) => Blame::User,
            RegistryError::Storage(e) => e.blame(),
            RegistryError::Cache { .. } | RegistryError::Corrupt { .. } => Blame::External,
        }
    }
}

/// `name@version` split and checked.
pub fn parse_id(id: &str) -> Result<(String, String), RegistryError> {
    itscam_types::config::parse_model_ref(id).map_err(RegistryError::Invalid)
}

/// The registry of one lake.
#[derive(Clone, Debug)]
pub struct Registry {
    lake: Lake,
    cache_dir: PathBuf,
}

/// What [`Registry::store`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// A new version.
    New,
    /// The same bytes were registered before under this version (nothing changed).
    Same,
}

impl Registry {
    /// The registry of `lake`, keeping local copies under `cache_dir`.
    pub fn new(lake: Lake, cache_dir: impl Into<PathBuf>) -> Registry {
        Registry { lake, cache_dir: cache_dir.into() }
    }

    /// The lake.
    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    fn folder(name: &str, version: &str) -> String {
        format!("models/{name}/{version}")
    }

    /// The manifest of `name@version`.
    pub async fn manifest(&self, id: &str) -> Result<Option<Manifest>, RegistryError> {
        let (name, version) = parse_id(id)?;
        Ok(self.lake.read_json_object(&format!("{}/manifest.json", Self::folder(&name, &version))).await?)
    }

    /// The manifest of `name@version`, or [`RegistryError::NotFound`].
    pub async fn require(&self, id: &str) -> Result<Manifest, RegistryError> {
        self.manifest(id).await?.ok_or_else(|| RegistryError::NotFound(id.to_string()))
    }

    /// Every registered version, by name then version.
    pub async fn manifests(&self) -> Result<Vec<Manifest>, RegistryError> {
        let mut out = Vec::new();
        for path in self.lake.list_objects("models").await? {
            if path.ends_with("/manifest.json")
                && let Some(m) = self.lake.read_json_object::<Manifest>(&path).await?
            {
                out.push(m);
            }
        }
        out.sort_by(|a, b| (&a.name, version_key(&a.version)).cmp(&(&b.name, version_key(&b.version))));
        Ok(out)
    }

    /// The stages, from the control log.
    pub async fn stages(&self) -> Result<Stages, RegistryError> {
        Ok(Stages::fold(&self.lake.read_control().await?))
    }

    /// Stores a validated model: the file, then its manifest (the registration), then its
    /// `development` entry in the control log. Registering the same bytes again is a no-op;
    /// other bytes under a registered version are refused.
    pub async fn store(&self, bytes: bytes::Bytes, manifest: &Manifest) -> Result<Stored, RegistryError> {
        let id = manifest.id();
        if let Some(existing) = self.manifest(&id).await? {
            return if existing.sha256 == manifest.sha256 { Ok(Stored::Same) } else { Err(RegistryError::Exists { id, existing: existing.sha256 }) };
        }
        let folder = Self::folder(&manifest.name, &manifest.version);
        self.lake.put_object(&format!("{folder}/model.onnx"), bytes).await?;
        if !self.lake.create_json_object(&format!("{folder}/manifest.json"), manifest).await? {
            // Another process registered it meanwhile.
            let existing = self.require(&id).await?;
            return if existing.sha256 == manifest.sha256 { Ok(Stored::Same) } else { Err(RegistryError::Exists { id, existing: existing.sha256 }) };
        }
        self.append(&manifest.registered_by, &id, None, Stage::Development).await?;
        Ok(Stored::New)
    }

    async fn append(&self, who: &str, id: &str, from: Option<Stage>, to: Stage) -> Result<ControlEntry, RegistryError> {
        let change = ControlChange {
            who: who.to_string(),
            kind: ControlKind::Model,
            id: id.to_string(),
            op: ControlOp::Put,
            before: from.map(|s| serde_json::json!({ "stage": s })),
            after: Some(serde_json::json!({ "stage": to })),
            since_ms: itscam_types::time::now_ms(),
            at_ms: None,
        };
        Ok(self.lake.append_control(&change).await?)
    }

    /// Moves `id` to stage `to` (with the displaced versions), each change a control-log entry.
    pub async fn promote(&self, who: &str, id: &str, to: Stage) -> Result<Vec<ControlEntry>, RegistryError> {
        let manifest = self.require(id).await?;
        let validation = if manifest.validation.passed { Ok(()) } else { Err(manifest.validation.reason.clone().unwrap_or_else(|| "failed".into())) };
        let plan = self.stages().await?.plan(id, to, validation)?;
        self.apply(who, plan).await
    }

    /// Returns `name`'s production to the version that was production before.
    pub async fn rollback(&self, who: &str, name: &str) -> Result<Vec<ControlEntry>, RegistryError> {
        let plan = self.stages().await?.plan_rollback(name)?;
        self.apply(who, plan).await
    }

    async fn apply(&self, who: &str, plan: Vec<(String, Option<Stage>, Stage)>) -> Result<Vec<ControlEntry>, RegistryError> {
        let mut out = Vec::new();
        for (id, from, to) in plan {
            out.push(self.append(who, &id, from, to).await?);
        }
        Ok(out)
    }

    /// A local file holding `manifest`'s model, checked against its sha256.
    pub async fn local_file(&self, manifest: &Manifest) -> Result<PathBuf, RegistryError> {
        let id = manifest.id();
        let relative = format!("{}/model.onnx", Self::folder(&manifest.name, &manifest.version));
        if let Some(path) = self.lake.local_object_path(&relative)
            && std::fs::metadata(&path).is_ok_and(|m| m.len() == manifest.size)
        {
            return Ok(path);
        }
        let cached = self.cache_dir.join(format!("{}.onnx", manifest.sha256));
        if let Ok(bytes) = std::fs::read(&cached)
            && sha256_hex(&bytes) == manifest.sha256
        {
            return Ok(cached);
        }
        let bytes = self.lake.read_object(&relative).await?.ok_or_else(|| RegistryError::NotFound(format!("{id} (its model.onnx is missing)")))?;
        let found = sha256_hex(&bytes);
        if found != manifest.sha256 {
            return Err(RegistryError::Corrupt { id, found, expected: manifest.sha256.clone() });
        }
        write_atomically(&cached, &bytes).map_err(|reason| RegistryError::Cache { path: cached.clone(), reason })?;
        Ok(cached)
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().ok_or("no parent directory")?;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path).map_err(|e| e.to_string())
}

/// Sort key of a semantic version (numbers compare as numbers; a pre-release sorts first).
pub fn version_key(version: &str) -> (u64, u64, u64, bool, String) {
    match itscam_types::config::parse_model_version(version) {
        Ok((a, b, c, pre)) => (a, b, c, pre.is_none(), pre.unwrap_or_default()),
        Err(_) => (0, 0, 0, false, version.to_string()),
    }
}
