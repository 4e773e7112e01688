//! What the HTTP API reads of the evidence service: each video camera's newest frame,
//! annotated ([`EvidenceView::frame_jpeg`]), and the counters.

use super::service::{EvidenceCounters, Shared, scene_of};
use itscam_imaging::scene::{Scene, overlay};
use itscam_imaging::codec;
use std::sync::Arc;

/// The API's handle on the evidence service.
#[derive(Clone, Debug)]
pub struct EvidenceView {
    pub(super) shared: Arc<Shared>,
}

impl EvidenceView {
    /// `camera`'s newest kept frame as JPEG: people pixelated (the camera's privacy), its
    /// tracked objects boxed with their ids and speeds (the detector's boxes until its tracks
    /// come), its lines and zones drawn. `None` when the camera has no picture yet (or none at
    /// all: detection-only cameras). CPU work of a few milliseconds: call it off the runtime.
    pub fn frame_jpeg(&self, camera: &str) -> Option<Vec<u8>> {
        let latest = self.shared.latest.lock().ok()?.get(camera).cloned()?;
        let mut img = codec::decode_jpeg(&latest.frame.jpeg).ok()?;
        let scene = self.shared.scenes.read().ok().and_then(|s| s.get(camera).cloned()).unwrap_or_default();
        let scene = Scene { width: latest.frame.width, height: latest.frame.height, ..scene };
        overlay(&mut img, &scene, &latest.marks, None);
        codec::encode_jpeg(&img, self.shared.quality).ok()
    }

    /// The event time of `camera`'s newest kept frame.
    pub fn frame_ts(&self, camera: &str) -> Option<u64> {
        self.shared.latest.lock().ok()?.get(camera).map(|l| l.frame.ts_ms)
    }

    /// A camera added or changed over the API: its lines and zones as drawn from now on.
    pub fn set_camera(&self, camera: &itscam_types::config::CameraConfig) {
        if let Ok(mut scenes) = self.shared.scenes.write() {
            scenes.insert(camera.id.clone(), scene_of(camera));
        }
        if let Ok(mut blur) = self.shared.blur.write() {
            match camera.blur {
                Some(b) => blur.insert(camera.id.clone(), b),
                None => blur.remove(&camera.id),
            };
        }
    }

    /// The counters.
    pub fn counters(&self) -> &EvidenceCounters {
        &self.shared.counters
    }
}
