//! Whole objects under `_itscam/<folder>/…` for the engine's own stores (the model registry's
//! `_itscam/models/<name>/<version>/`): written once, read whole, listed. Paths are relative to
//! `_itscam/`.

use crate::{Lake, SinkError};
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde::Serialize;
use serde::de::DeserializeOwned;

impl Lake {
    fn itscam_path(&self, relative: &str) -> Path {
        self.path_of(&format!("{}/{relative}", crate::commit_log::LOG_DIR))
    }

    /// Stores `bytes` at `_itscam/<relative>` (a large object in parts, whole or not at all).
    pub async fn put_object(&self, relative: &str, bytes: Bytes) -> Result<(), SinkError> {
        self.put_file(&self.itscam_path(relative), bytes).await
    }

    /// The object at `_itscam/<relative>`, `None` when there is none.
    pub async fn read_object(&self, relative: &str) -> Result<Option<Bytes>, SinkError> {
        let path = self.itscam_path(relative);
        match self.store().get(&path).await {
            Ok(r) => r.bytes().await.map(Some).map_err(|e| self.storage_error(&path, e)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.storage_error(&path, e)),
        }
    }

    /// Writes `value` as JSON at `_itscam/<relative>` unless something is there (`Ok(false)`).
    pub async fn create_json_object<T: Serialize>(&self, relative: &str, value: &T) -> Result<bool, SinkError> {
        self.create_json(&self.itscam_path(relative), value).await
    }

    /// The JSON value at `_itscam/<relative>`.
    pub async fn read_json_object<T: DeserializeOwned>(&self, relative: &str) -> Result<Option<T>, SinkError> {
        self.read_json(&self.itscam_path(relative)).await
    }

    /// Every object under `_itscam/<relative>/`, as paths relative to `_itscam/`, sorted.
    pub async fn list_objects(&self, relative: &str) -> Result<Vec<String>, SinkError> {
        let dir = self.itscam_path(relative);
        let base = self.itscam_path("");
        let listed: Vec<object_store::ObjectMeta> = self.store().list(Some(&dir)).try_collect().await.map_err(|e| self.storage_error(&dir, e))?;
        let mut out: Vec<String> = listed.into_iter().filter_map(|m| m.location.as_ref().strip_prefix(base.as_ref()).map(|p| p.trim_start_matches('/').to_string())).collect();
        out.sort();
        Ok(out)
    }

    /// The local file of `_itscam/<relative>` when the lake is a local directory.
    pub fn local_object_path(&self, relative: &str) -> Option<std::path::PathBuf> {
        let root = self.url().strip_prefix("file://")?;
        Some(std::path::Path::new(root).join(crate::commit_log::LOG_DIR).join(relative))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn objects_write_once_read_and_list() {
        let dir = tempfile::Builder::new().prefix("objects").tempdir().unwrap();
        let lake = Lake::open(&format!("file://{}", dir.path().display())).unwrap();
        lake.put_object("models/d/1.0.0/model.onnx", Bytes::from_static(b"abc")).await.unwrap();
        assert!(lake.create_json_object("models/d/1.0.0/manifest.json", &serde_json::json!({"a": 1})).await.unwrap());
        assert!(!lake.create_json_object("models/d/1.0.0/manifest.json", &serde_json::json!({"a": 2})).await.unwrap(), "written once");
        assert_eq!(lake.read_object("models/d/1.0.0/model.onnx").await.unwrap().unwrap().as_ref(), b"abc");
        assert!(lake.read_object("models/x").await.unwrap().is_none());
        assert_eq!(lake.list_objects("models").await.unwrap(), vec!["models/d/1.0.0/manifest.json", "models/d/1.0.0/model.onnx"]);
        let local = lake.local_object_path("models/d/1.0.0/model.onnx").unwrap();
        assert_eq!(std::fs::read(local).unwrap(), b"abc");
    }
}
