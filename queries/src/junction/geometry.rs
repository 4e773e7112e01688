//! A camera's junction, compiled from its `[[camera.approach]]` and `[[camera.crosswalk]]`
//! entries: ground polylines and polygons, each approach's direction of travel, and the
//! movement of every entry → exit pair.
//!
//! Movements follow from the directions: an approach's inbound direction points from its entry
//! gate towards the junction's centre (the mean of the stop lines' and exit gates' midpoints),
//! an exit's outbound direction from the centre to its exit gate. The signed angle between the
//! two says the movement: within ±45° through, beyond ±135° (or the approach's own leg) a
//! U-turn, else left (counter-clockwise on a map with y north) or right. A skewed junction
//! overrides pairs in the config.

use itscam_geo::{Polygon, distance_to_segment, segments_intersect};
use itscam_types::config::{ApproachConfig, CameraConfig, JunctionConfig, Movement, YAxis};
use std::sync::Arc;

/// A ground point, m.
pub type P = [f64; 2];

/// A lane: its polygon and the signal that controls it.
#[derive(Clone, Debug)]
pub struct LaneGeom {
    /// Lane id.
    pub id: Arc<str>,
    /// Ground polygon.
    pub polygon: Polygon,
    /// The lane's own signal, else the approach's.
    pub signal: Option<Arc<str>>,
}

/// One leg of the junction.
#[derive(Clone, Debug)]
pub struct ApproachGeom {
    /// Approach id.
    pub id: Arc<str>,
    /// The through movement's signal.
    pub signal: Option<Arc<str>>,
    /// Entry gate.
    pub entry: Vec<P>,
    /// Exit gate.
    pub exit: Vec<P>,
    /// Stop line.
    pub stop_line: Option<Vec<P>>,
    /// Inbound lanes.
    pub lanes: Vec<LaneGeom>,
    /// Outbound lanes.
    pub exit_lanes: Vec<LaneGeom>,
    /// Unit vector of travel towards the junction.
    pub inbound: P,
    /// Unit vector of travel away from the junction on this leg.
    pub outbound: P,
    /// Distance from the entry gate to the stop line (midpoints), m.
    pub entry_to_stop_m: f64,
}

impl ApproachGeom {
    /// The signal of a lane (its own, else the approach's).
    pub fn lane_signal(&self, lane: usize) -> Option<&Arc<str>> {
        self.lanes[lane].signal.as_ref().or(self.signal.as_ref())
    }

    /// The inbound lane containing a point.
    pub fn lane_at(&self, p: P) -> Option<usize> {
        self.lanes.iter().position(|l| l.polygon.contains(p[0], p[1]))
    }

    /// The outbound lane containing a point.
    pub fn exit_lane_at(&self, p: P) -> Option<usize> {
        self.exit_lanes.iter().position(|l| l.polygon.contains(p[0], p[1]))
    }

    /// Distance from a point to the stop line, m (`None` without a stop line).
    pub fn to_stop_line(&self, p: P) -> Option<f64> {
        self.stop_line.as_ref().map(|s| distance_to_polyline(p, s))
    }
}

/// A crosswalk.
#[derive(Clone, Debug)]
pub struct CrosswalkGeom {
    /// Crosswalk id.
    pub id: Arc<str>,
    /// Ground polygon.
    pub polygon: Polygon,
    /// Its pedestrian signal.
    pub signal: Option<Arc<str>>,
}

/// A camera's compiled junction.
#[derive(Clone, Debug)]
pub struct JunctionGeom {
    /// Camera id.
    pub camera: Arc<str>,
    /// Legs, in config order.
    pub approaches: Vec<ApproachGeom>,
    /// Crosswalks.
    pub crosswalks: Vec<CrosswalkGeom>,
    /// `movements[entry][exit]`: the movement of each pair (approach indexes).
    pub movements: Vec<Vec<Movement>>,
    /// Centre of the junction, m.
    pub centre: P,
    /// Settings.
    pub settings: JunctionConfig,
    /// The camera's calibration (image → ground), when it has one: the lane tables move a
    /// box's ground point (its bottom centre, the end nearest the camera) to the vehicle's
    /// footprint centre (`footprint::footprint_centre`).
    pub homography: Option<Arc<itscam_geo::Homography>>,
}

/// Whether the step `from → to` crosses a polyline.
pub fn crosses(polyline: &[P], from: P, to: P) -> bool {
    polyline.windows(2).any(|w| segments_intersect(from, to, w[0], w[1]))
}

/// Distance from a point to a polyline, m.
pub fn distance_to_polyline(p: P, polyline: &[P]) -> f64 {
    polyline.windows(2).map(|w| distance_to_segment(p, w[0], w[1])).fold(f64::INFINITY, f64::min)
}

/// Midpoint of a polyline's end points.
fn mid(line: &[P]) -> P {
    let (a, b) = (line[0], line[line.len() - 1]);
    [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0]
}

fn unit(v: P) -> P {
    let n = v[0].hypot(v[1]);
    if n < 1e-9 { [0.0, 0.0] } else { [v[0] / n, v[1] / n] }
}

/// The movement from an inbound direction to an outbound one.
pub fn movement_of(inbound: P, outbound: P, y_axis: YAxis) -> Movement {
    let cross = inbound[0] * outbound[1] - inbound[1] * outbound[0];
    let dot = inbound[0] * outbound[0] + inbound[1] * outbound[1];
    let mut angle = cross.atan2(dot).to_degrees();
    if y_axis == YAxis::South {
        angle = -angle;
    }
    match angle {
        a if a.abs() <= 45.0 => Movement::Through,
        a if a.abs() >= 135.0 => Movement::UTurn,
        a if a > 0.0 => Movement::Left,
        _ => Movement::Right,
    }
}

impl JunctionGeom {
    /// Compiles a camera's junction (`None` when it has no approach and no crosswalk). The
    /// config was validated: a bad polygon here is skipped, not a panic.
    pub fn build(cam: &CameraConfig, settings: &JunctionConfig) -> Option<JunctionGeom> {
        if cam.approach.is_empty() && cam.crosswalk.is_empty() {
            return None;
        }
        let arc = |s: &Option<String>| s.as_deref().map(Arc::<str>::from);
        let lanes = |ls: &[itscam_types::config::LaneConfig]| -> Vec<LaneGeom> {
            ls.iter().filter_map(|l| Some(LaneGeom { id: l.id.as_str().into(), polygon: Polygon::new(&l.polygon).ok()?, signal: arc(&l.signal) })).collect()
        };
        let anchors: Vec<P> = cam.approach.iter().flat_map(|a: &ApproachConfig| [mid(a.stop_line.as_deref().unwrap_or(&a.entry)), mid(&a.exit)]).collect();
        let centre = if anchors.is_empty() {
            [0.0, 0.0]
        } else {
            let n = anchors.len() as f64;
            [anchors.iter().map(|p| p[0]).sum::<f64>() / n, anchors.iter().map(|p| p[1]).sum::<f64>() / n]
        };
        let approaches: Vec<ApproachGeom> = cam.approach.iter().map(|a| {
            let entry_mid = mid(&a.entry);
            let stop_mid = a.stop_line.as_deref().map(mid);
            let exit_mid = mid(&a.exit);
            ApproachGeom {
                id: a.id.as_str().into(),
                signal: arc(&a.signal),
                entry: a.entry.clone(),
                exit: a.exit.clone(),
                stop_line: a.stop_line.clone(),
                lanes: lanes(&a.lanes),
                exit_lanes: lanes(&a.exit_lanes),
                inbound: unit([centre[0] - entry_mid[0], centre[1] - entry_mid[1]]),
                outbound: unit([exit_mid[0] - centre[0], exit_mid[1] - centre[1]]),
                entry_to_stop_m: stop_mid.map_or(0.0, |s| (s[0] - entry_mid[0]).hypot(s[1] - entry_mid[1])),
            }
        }).collect();
        let movements = cam.approach.iter().enumerate().map(|(i, a)| {
            approaches.iter().enumerate().map(|(j, b)| {
                if let Some(o) = a.movement.iter().find(|m| *m.to == *b.id) {
                    o.movement
                } else if i == j {
                    Movement::UTurn
                } else {
                    movement_of(approaches[i].inbound, b.outbound, settings.y_axis)
                }
            }).collect()
        }).collect();
        let crosswalks = cam.crosswalk.iter().filter_map(|c| Some(CrosswalkGeom { id: c.id.as_str().into(), polygon: Polygon::new(&c.polygon).ok()?, signal: arc(&c.signal) })).collect();
        let homography = cam.calibration.as_ref().and_then(|c| itscam_geo::Homography::fit(&c.image, &c.world).ok()).map(Arc::new);
        Some(JunctionGeom { camera: cam.id.as_str().into(), approaches, crosswalks, movements, centre, settings: settings.clone(), homography })
    }

    /// One line per approach for `itscam check`: its lanes and the movement to every exit, so
    /// a user sees what the geometry made of each pair.
    pub fn report(&self) -> Vec<String> {
        let mut out = vec![format!("junction {}: {} approach(es), {} crosswalk(s)", self.camera, self.approaches.len(), self.crosswalks.len())];
        for (i, a) in self.approaches.iter().enumerate() {
            let pairs: Vec<String> = self.approaches.iter().enumerate().map(|(j, b)| format!("{} {}", b.id, self.movements[i][j].as_str())).collect();
            out.push(format!("  {}: {} lane(s); to {}", a.id, a.lanes.len(), pairs.join(", ")));
        }
        out
    }

    /// The approach whose entry gate the step `from → to` crosses towards the junction.
    pub fn entering(&self, from: P, to: P) -> Option<usize> {
        self.approaches.iter().position(|a| crosses(&a.entry, from, to) && dot(sub(to, from), a.inbound) > 0.0)
    }

    /// The approach whose exit gate the step `from → to` crosses away from the junction.
    pub fn exiting(&self, from: P, to: P) -> Option<usize> {
        self.approaches.iter().position(|a| crosses(&a.exit, from, to) && dot(sub(to, from), a.outbound) > 0.0)
    }
}

fn sub(a: P, b: P) -> P {
    [a[0] - b[0], a[1] - b[1]]
}

fn dot(a: P, b: P) -> f64 {
    a[0] * b[0] + a[1] * b[1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_angle_between_inbound_and_outbound_is_the_movement() {
        // Coming from the south, heading north.
        let north = [0.0, 1.0];
        assert_eq!(movement_of(north, [0.0, 1.0], YAxis::North), Movement::Through);
        assert_eq!(movement_of(north, [-1.0, 0.0], YAxis::North), Movement::Left, "west is left when heading north");
        assert_eq!(movement_of(north, [1.0, 0.0], YAxis::North), Movement::Right);
        assert_eq!(movement_of(north, [0.0, -1.0], YAxis::North), Movement::UTurn);
        assert_eq!(movement_of(north, [-1.0, 0.0], YAxis::South), Movement::Right, "a y-south frame is mirrored");
        assert_eq!(movement_of(north, [0.5, 0.866], YAxis::North), Movement::Through, "30° off is still through");
    }
}
