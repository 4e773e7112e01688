//! The queue of one lane at one instant, from the vehicles in it: pure geometry, no state.
//!
//! **Definition** (SUMO's `queueing_length_experimental`, made robust to a stray slow track):
//! a vehicle is *queued* when it is slower than `queue_speed_kmh`. The chain runs back from the
//! stop line through every vehicle of the lane, queued or moving, as long as the empty road in
//! front of the next one (its front to the back of the one ahead, or to the stop line) is at
//! most `queue_gap_m`; a larger gap ends it. The queue length is the distance from the stop line
//! to the back of the farthest queued vehicle of the chain (moving vehicles link the chain but do
//! not lengthen the queue: at green the head moves off while the tail still stands). The queued
//! vehicle count is the number of vehicles of the lane (any speed) whose front is within that
//! length, as the ground truth counts them. SUMO itself chains nothing ("does not check for
//! continuous queue"): the gap only drops a lone slow vehicle (or a track's bad speed) far
//! behind the queue.
//!
//! **Footprint.** The ground point of a track is its box's bottom centre projected on the
//! ground: roughly the centre of the vehicle's footprint (it is the end nearer the camera, so
//! the error is up to half a length, either way depending on the view). The vehicle covers
//! `[d − L/2, d + L/2]` metres from the stop line, `d` the ground point's distance to the stop
//! line and `L` its class's typical length ([`class_length_m`]).

use itscam_types::ObjectClass;

/// Typical length of a vehicle of a COCO class, m; `None` for classes that are not vehicles
/// (people and everything else are not in queues). Car 4.5 (also the default of an unknown
/// vehicle class), truck 10 (a single-unit truck; semitrailers are longer), bus 12 (a
/// standard city bus), motorcycle 2.2, bicycle 1.8.
pub fn class_length_m(class: ObjectClass) -> Option<f64> {
    if !class.is_vehicle() {
        return None;
    }
    // By class index, not name: asked for every track point.
    Some(match class {
        ObjectClass::TRUCK => 10.0,
        ObjectClass::BUS => 12.0,
        ObjectClass::MOTORCYCLE => 2.2,
        ObjectClass::BICYCLE => 1.8,
        _ => 4.5,
    })
}

/// A vehicle in a lane at an instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LaneVehicle {
    /// Distance from its ground point to the stop line, m.
    pub dist_m: f64,
    /// Its typical length, m.
    pub length_m: f64,
    /// Its speed, km/h (`None`: not known yet, then it is not queued).
    pub speed_kmh: Option<f64>,
}

impl LaneVehicle {
    /// Distance from the stop line to its front, m (0 when the front is past the line).
    pub fn front_m(&self) -> f64 {
        (self.dist_m - self.length_m / 2.0).max(0.0)
    }

    /// Distance from the stop line to its back, m.
    pub fn back_m(&self) -> f64 {
        self.dist_m.max(0.0) + self.length_m / 2.0
    }

    /// Whether it is queued: slower than `queue_speed_kmh`.
    pub fn queued(&self, queue_speed_kmh: f64) -> bool {
        self.speed_kmh.is_some_and(|s| s < queue_speed_kmh)
    }
}

/// A lane's queue at an instant.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Queue {
    /// From the stop line to the back of the farthest queued vehicle, m (0: no queue).
    pub length_m: f64,
    /// Vehicles whose front is within that length.
    pub vehicles: u32,
}

/// The queue of a lane's vehicles (in any order), as the module doc defines it.
pub fn measure(vehicles: &[LaneVehicle], queue_speed_kmh: f64, queue_gap_m: f64) -> Queue {
    let mut order: Vec<&LaneVehicle> = vehicles.iter().filter(|v| v.dist_m.is_finite() && v.length_m.is_finite()).collect();
    order.sort_by(|a, b| a.front_m().total_cmp(&b.front_m()));
    let mut length_m: f64 = 0.0;
    let mut reach = 0.0f64;
    for v in &order {
        if v.front_m() - reach > queue_gap_m {
            break;
        }
        reach = reach.max(v.back_m());
        if v.queued(queue_speed_kmh) {
            length_m = length_m.max(v.back_m());
        }
    }
    if length_m == 0.0 {
        return Queue::default();
    }
    // Fronts within the length (a tolerance for rounding: the farthest queued vehicle counts).
    let vehicles = order.iter().filter(|v| v.front_m() <= length_m + 1e-9).count() as u32;
    Queue { length_m, vehicles }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn car(dist_m: f64, speed: f64) -> LaneVehicle {
        LaneVehicle { dist_m, length_m: 4.5, speed_kmh: Some(speed) }
    }

    #[test]
    fn a_standing_queue_reaches_the_back_of_its_last_vehicle() {
        // Three cars nose to tail from the stop line (7 m apart: 4.5 m + 2.5 m gap).
        let q = measure(&[car(9.25, 0.0), car(2.25, 1.0), car(16.25, 2.0)], 5.0, 15.0);
        assert!((q.length_m - 18.5).abs() < 1e-9, "{q:?}");
        assert_eq!(q.vehicles, 3);
    }

    #[test]
    fn moving_vehicles_are_not_queued_but_bridge_the_chain() {
        // The head moves off at green; the two behind it still stand.
        let q = measure(&[car(2.25, 20.0), car(9.25, 3.0), car(16.25, 0.0)], 5.0, 15.0);
        assert!((q.length_m - 18.5).abs() < 1e-9, "{q:?}");
        assert_eq!(q.vehicles, 3, "the moving car's front is within the queue");
        // A moving car between two standing ones links them.
        let q = measure(&[car(2.25, 0.0), car(12.0, 30.0), car(24.0, 0.0)], 5.0, 8.0);
        assert!((q.length_m - 26.25).abs() < 1e-9, "{q:?}");
        let q = measure(&[car(2.25, 0.0), car(24.0, 0.0)], 5.0, 8.0);
        assert!((q.length_m - 4.5).abs() < 1e-9, "without it the gap ends the queue: {q:?}");
        // A lone slow vehicle 40 m back with nobody ahead of it is not a queue.
        assert_eq!(measure(&[car(40.0, 0.0)], 5.0, 15.0), Queue::default());
        // Nobody slow: no queue.
        assert_eq!(measure(&[car(2.25, 20.0), car(9.25, 30.0)], 5.0, 15.0), Queue::default());
    }

    #[test]
    fn a_gap_ends_the_chain() {
        // 2 cars at the line, then 30 m of empty road, then a slow one.
        let q = measure(&[car(2.25, 0.0), car(9.25, 0.0), car(45.0, 1.0)], 5.0, 15.0);
        assert!((q.length_m - 11.5).abs() < 1e-9, "{q:?}");
        assert_eq!(q.vehicles, 2);
    }

    #[test]
    fn unknown_speed_is_not_queued_and_lengths_follow_the_class() {
        let q = measure(&[LaneVehicle { dist_m: 3.0, length_m: 4.5, speed_kmh: None }], 5.0, 15.0);
        assert_eq!(q, Queue::default());
        assert_eq!(class_length_m(ObjectClass::from_name("bus").unwrap()), Some(12.0));
        assert_eq!(class_length_m(ObjectClass::from_name("person").unwrap()), None);
        let bus = LaneVehicle { dist_m: 7.0, length_m: 12.0, speed_kmh: Some(0.0) };
        assert!((measure(&[bus], 5.0, 15.0).length_m - 13.0).abs() < 1e-9);
    }
}
