//! A camera's scene: its calibration (homography), counting lines and zones, built from the
//! config and checked. `itscam check` reports each camera's reprojection error from here.

use crate::facts::{Place, PlaceKind};
use itscam_geo::{CalibrationError, CountingLine, Homography, Polygon};
use itscam_types::config::{CameraConfig, PipelineConfig, Problem};
use std::collections::HashMap;
use std::sync::Arc;

/// A counting line `a → b` in pixels.
#[derive(Clone, Debug)]
pub struct LineGeom {
    /// Line id.
    pub id: String,
    /// The line as the place its facts carry.
    pub place: Place,
    /// The line, with its crossing rule.
    pub line: CountingLine,
}

/// A zone polygon in pixels.
#[derive(Clone, Debug)]
pub struct ZoneGeom {
    /// Zone id.
    pub id: String,
    /// The zone as the place its facts carry.
    pub place: Place,
    /// The polygon.
    pub polygon: Polygon,
}

/// Everything the queries know about one camera's view.
#[derive(Clone, Debug)]
pub struct CameraScene {
    /// Camera id.
    pub camera_id: Arc<str>,
    /// Image → ground, when calibrated.
    pub homography: Option<Homography>,
    /// Counting lines.
    pub lines: Vec<LineGeom>,
    /// Zones.
    pub zones: Vec<ZoneGeom>,
    /// Metres of road in view (density).
    pub road_length_m: Option<f64>,
    /// The camera has junction geometry (approaches or crosswalks): its points also go to the
    /// junction tables.
    pub junction: bool,
}

/// The calibration of one camera, as `itscam check` reports it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct CalibrationReport {
    /// Camera id.
    pub camera_id: String,
    /// Point pairs used.
    pub points: usize,
    /// Root-mean-square distance, in metres, between each ground point and its image point
    /// projected through the fitted homography.
    pub rms_error_m: f64,
    /// The largest such distance.
    pub max_error_m: f64,
}

impl CameraScene {
    /// Builds a camera's scene; a degenerate calibration or shape is an error with the key and
    /// the reason.
    pub fn build(cam: &CameraConfig) -> Result<CameraScene, (String, String)> {
        let homography = match &cam.calibration {
            Some(c) => Some(Homography::fit(&c.image, &c.world).map_err(|e: CalibrationError| ("calibration".to_string(), e.to_string()))?),
            None => None,
        };
        let camera_id: Arc<str> = cam.id.as_str().into();
        let mut zones = Vec::new();
        for (j, z) in cam.zone.iter().enumerate() {
            let polygon = Polygon::new(&z.polygon).map_err(|e| (format!("zone[{j}].polygon"), e.to_string()))?;
            let place = Place { camera: camera_id.clone(), kind: PlaceKind::Zone, id: z.id.as_str().into() };
            zones.push(ZoneGeom { id: z.id.clone(), place, polygon });
        }
        let mut lines = Vec::new();
        for (j, l) in cam.line.iter().enumerate() {
            let bad = |reason: String| (format!("line[{j}].points"), reason);
            let [a, b] = l.points[..] else { return Err(bad(format!("a line needs exactly 2 points, got {}", l.points.len()))) };
            let line = CountingLine::new(a, b).map_err(|e| bad(e.to_string()))?;
            let place = Place { camera: camera_id.clone(), kind: PlaceKind::Line, id: l.id.as_str().into() };
            lines.push(LineGeom { id: l.id.clone(), place, line });
        }
        Ok(CameraScene {
            camera_id,
            homography,
            lines,
            zones,
            road_length_m: cam.road_length_m,
            junction: !cam.approach.is_empty() || !cam.crosswalk.is_empty(),
        })
    }

    /// The calibration's fit, when calibrated.
    pub fn report(&self) -> Option<CalibrationReport> {
        let h = self.homography.as_ref()?;
        let e = h.reprojection_error();
        Some(CalibrationReport { camera_id: self.camera_id.to_string(), points: h.image_points().len(), rms_error_m: e.rms_m, max_error_m: e.max_m })
    }
}

/// Every camera's scene, by camera id.
#[derive(Clone, Debug, Default)]
pub struct Scenes {
    by_camera: HashMap<Arc<str>, Arc<CameraScene>>,
}

impl Scenes {
    /// Builds every camera's scene, or every problem of a calibration or shape (`camera[i].calibration`, …).
    pub fn build(config: &PipelineConfig) -> Result<Scenes, Vec<Problem>> {
        let mut by_camera = HashMap::new();
        let mut problems = Vec::new();
        for (i, cam) in config.camera.iter().enumerate() {
            match CameraScene::build(cam) {
                Ok(scene) => {
                    by_camera.insert(scene.camera_id.clone(), Arc::new(scene));
                }
                Err((key, reason)) => problems.push(Problem::new(format!("camera[{i}].{key}"), reason)),
            }
        }
        if problems.is_empty() { Ok(Scenes { by_camera }) } else { Err(problems) }
    }

    /// The scene of a camera.
    pub fn get(&self, camera: &str) -> Option<&Arc<CameraScene>> {
        self.by_camera.get(camera)
    }

    /// Sets a camera's scene (`None`: the camera has none any more).
    pub fn set(&mut self, camera: &str, scene: Option<Arc<CameraScene>>) {
        match scene {
            Some(scene) => self.by_camera.insert(camera.into(), scene),
            None => self.by_camera.remove(camera),
        };
    }

    /// Calibration reports of the calibrated cameras, sorted by camera id.
    pub fn reports(&self) -> Vec<CalibrationReport> {
        let mut out: Vec<CalibrationReport> = self.by_camera.values().filter_map(|s| s.report()).collect();
        out.sort_by(|a, b| a.camera_id.cmp(&b.camera_id));
        out
    }
}
