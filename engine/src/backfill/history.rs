//! What a camera was, and what its signals said, when its rows were made: the config's camera,
//! then every change of it in the lake's control log at the event time it took effect; the
//! config's signal files and the signal states pushed over the API (also in the control log).

use itscam_sinks::{ControlKind, ControlOp, Lake};
use itscam_queries::signals::SignalLine;
use itscam_types::config::{CameraConfig, PipelineConfig};
use itscam_types::{CameraChange, Tracked};

/// A camera's configurations over event time: `(since_ms, camera)` in order (`None`: removed).
#[derive(Clone, Debug, Default)]
pub struct CameraHistory(Vec<(u64, Option<CameraConfig>)>);

impl CameraHistory {
    /// The camera at `t`.
    pub fn at(&self, t: u64) -> Option<&CameraConfig> {
        self.0.iter().rev().find(|(since, _)| *since <= t).and_then(|(_, c)| c.as_ref())
    }

    /// The changes after `from` and before `to`, as the tracker hands them on, at their times.
    pub fn changes(&self, id: &str, from: u64, to: u64) -> Vec<(u64, Tracked)> {
        self.0
            .iter()
            .filter(|(since, _)| (from + 1..to).contains(since))
            .map(|(since, camera)| (*since, Tracked::Scene(Box::new(CameraChange { camera_id: id.to_string(), camera: camera.clone() }))))
            .collect()
    }
}

/// The history of every camera of `config` and of the control log, and the pushed signal lines.
pub async fn read(lake: &Lake, config: &PipelineConfig) -> anyhow::Result<(std::collections::BTreeMap<String, CameraHistory>, Vec<SignalLine>)> {
    let mut cameras: std::collections::BTreeMap<String, CameraHistory> = config.camera.iter().map(|c| (c.id.clone(), CameraHistory(vec![(0, Some(c.clone()))]))).collect();
    let mut pushed = Vec::new();
    for e in lake.read_control().await? {
        match e.kind {
            ControlKind::Camera => {
                let camera = match (&e.op, &e.after) {
                    (ControlOp::Put, Some(after)) => Some(serde_json::from_value::<CameraConfig>(after.clone())?),
                    _ => None,
                };
                cameras.entry(e.id.clone()).or_default().0.push((e.since_ms, camera));
            }
            ControlKind::Signal => {
                if let Some(after) = &e.after {
                    pushed.extend(serde_json::from_value::<Vec<SignalLine>>(after.clone())?);
                }
            }
            _ => {}
        }
    }
    Ok((cameras, pushed))
}


#[cfg(test)]
mod tests {
    use super::*;

    fn camera(zone: &str) -> CameraConfig {
        let text = format!("[[camera]]\nid = \"cam-1\"\nsource = \"detections:-\"\n[[camera.zone]]\nid = \"{zone}\"\npolygon = [[0, 0], [10, 0], [10, 10]]\n");
        PipelineConfig::from_toml(&text).expect("valid").camera.remove(0)
    }

    #[test]
    fn a_camera_is_what_it_was_at_each_time_and_its_changes_come_at_theirs() {
        let h = CameraHistory(vec![(0, Some(camera("a"))), (1_000, Some(camera("b"))), (2_000, None), (3_000, Some(camera("c")))]);
        let zone = |t| h.at(t).map(|c| c.zone[0].id.clone());
        assert_eq!((zone(999), zone(1_000), zone(2_500), zone(3_000)), (Some("a".into()), Some("b".into()), None, Some("c".into())));
        let times: Vec<u64> = h.changes("cam-1", 1_000, 3_001).iter().map(|c| c.0).collect();
        assert_eq!(times, [2_000, 3_000], "after the first row's time, before the end");
        assert!(matches!(&h.changes("cam-1", 1_500, 2_001)[0].1, Tracked::Scene(c) if c.camera.is_none()));
    }
}
