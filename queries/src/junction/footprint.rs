//! The centre of a vehicle's footprint from its box's ground point.
//!
//! The ground point of a track is the calibration's image → ground mapping of its box's bottom
//! centre. Seen from above at an angle, the bottom of a vehicle's box is the lowest image point
//! of its footprint — the part nearest the camera — not its centre: the ground point lies up to
//! half the footprint's extent towards the camera (over a metre on an oblique view, enough to
//! put a vehicle in the next lane, and up to half a length along the lane). Given the direction
//! of travel (the approach's) and the class's typical length and width, the footprint centre `c`
//! is the point whose footprint's four corners, projected into the image, have the bottom centre
//! of their bounding box where the box's was: `F(c) = g` with `F(c)` = ground of that bottom
//! centre, solved by the fixed-point steps `c ← c + (g − F(c))` (F is close to a shift, so a few
//! steps converge). The vehicle's height is ignored: the top of the box does not move its
//! bottom, only (a little) its horizontal centre.

use super::geometry::P;
use itscam_geo::Homography;
use itscam_types::ObjectClass;

/// Typical width of a vehicle of a COCO class, m (car 1.8, also the default; truck 2.5, bus
/// 2.55, motorcycle 0.8, bicycle 0.6).
pub fn class_width_m(class: ObjectClass) -> f64 {
    // By class index, not name: asked for every track point.
    match class {
        ObjectClass::TRUCK => 2.5,
        ObjectClass::BUS => 2.55,
        ObjectClass::MOTORCYCLE => 0.8,
        ObjectClass::BICYCLE => 0.6,
        _ => 1.8,
    }
}

/// Fixed-point steps, at most.
const STEPS: usize = 4;
/// A step that moves the centre by less than this (m, along each axis) is the last: the
/// ones left would move it by less again (F is close to a shift), far below the ground a
/// pixel of a box covers. On the queries benchmark's junctions this cut the junction
/// operator's largest cost with the same 4,290 rows (floats equal to 4e-15).
const CONVERGED_M: f64 = 1e-3;

/// The footprint centre of a vehicle whose box's ground point is `g`, travelling along the unit
/// vector `heading`, `length_m` × `width_m` (`None` where the homography cannot project).
pub fn footprint_centre(h: &Homography, g: P, heading: P, length_m: f64, width_m: f64) -> Option<P> {
    centre_within(h, g, heading, (length_m, width_m), CONVERGED_M)
}

/// [`footprint_centre`], stopping after the step that moves the centre by less than
/// `converged_m` along each axis.
fn centre_within(h: &Homography, g: P, heading: P, (length_m, width_m): (f64, f64), converged_m: f64) -> Option<P> {
    let n = [-heading[1], heading[0]];
    let (hl, hw) = (length_m / 2.0, width_m / 2.0);
    // The corners' offsets from the centre are the same at every step: their images are
    // taken with the offsets' parts of the homography computed once (20 projections a point
    // otherwise, the junction tables' largest cost).
    let corners = [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)].map(|(sl, sw)| [sl * hl * heading[0] + sw * hw * n[0], sl * hl * heading[1] + sw * hw * n[1]]);
    let images = h.offset_images(corners);
    let mut c = g;
    for _ in 0..STEPS {
        let (mut umin, mut umax, mut vmax) = (f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
        for (u, v) in images.at(c[0], c[1])? {
            umin = umin.min(u);
            umax = umax.max(u);
            vmax = vmax.max(v);
        }
        let (fx, fy) = h.project((umin + umax) / 2.0, vmax)?;
        let e = [g[0] - fx, g[1] - fy];
        c = [c[0] + e[0], c[1] + e[1]];
        if !(c[0].is_finite() && c[1].is_finite()) {
            return None;
        }
        if e[0].abs() < converged_m && e[1].abs() < converged_m {
            break;
        }
    }
    Some(c)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A camera 40 m up at ground (−75, −75), looking at the origin (f = 650 px, 1920 × 1080):
    /// its homography from 4 ground points projected by hand.
    pub(crate) fn camera() -> (Homography, impl Fn(f64, f64, f64) -> (f64, f64)) {
        let cam = [-75.0f64, -75.0, 40.0];
        let fwd = {
            let d: [f64; 3] = [75.0, 75.0, -40.0];
            let n = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
            [d[0] / n, d[1] / n, d[2] / n]
        };
        let right = {
            let r: [f64; 3] = [fwd[1], -fwd[0], 0.0];
            let n = (r[0] * r[0] + r[1] * r[1]).sqrt();
            [r[0] / n, r[1] / n, 0.0]
        };
        let down = [fwd[1] * right[2] - fwd[2] * right[1], fwd[2] * right[0] - fwd[0] * right[2], fwd[0] * right[1] - fwd[1] * right[0]];
        let project = move |x: f64, y: f64, z: f64| {
            let d = [x - cam[0], y - cam[1], z - cam[2]];
            let dot = |a: [f64; 3]| a[0] * d[0] + a[1] * d[1] + a[2] * d[2];
            let zc = dot(fwd);
            (960.0 + 650.0 * dot(right) / zc, 540.0 + 650.0 * dot(down) / zc)
        };
        let world = [[-30.0, -30.0], [40.0, -20.0], [30.0, 40.0], [-25.0, 35.0], [0.0, 0.0]];
        let image: Vec<[f64; 2]> = world.iter().map(|w| {
            let (u, v) = project(w[0], w[1], 0.0);
            [u, v]
        }).collect();
        (Homography::fit(&image, &world).unwrap(), project)
    }

    #[test]
    fn the_footprint_centre_is_recovered_from_the_bottom_centre_of_its_box() {
        let (h, project) = camera();
        // Cars on each leg, heading towards the junction, 30 m out.
        for (centre, heading) in [([5.0, -30.0], [0.0, 1.0]), ([-5.0, 30.0], [0.0, -1.0]), ([30.0, 5.0], [-1.0, 0.0]), ([-30.0, -5.0], [1.0, 0.0])] {
            let (l, w) = (4.5, 1.8);
            let n = [-heading[1], heading[0]];
            let corners: Vec<(f64, f64)> = [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)]
                .iter()
                .map(|(a, b)| project(centre[0] + a * l / 2.0 * heading[0] + b * w / 2.0 * n[0], centre[1] + a * l / 2.0 * heading[1] + b * w / 2.0 * n[1], 0.0))
                .collect();
            let umin = corners.iter().map(|c| c.0).fold(f64::INFINITY, f64::min);
            let umax = corners.iter().map(|c| c.0).fold(f64::NEG_INFINITY, f64::max);
            let vmax = corners.iter().map(|c| c.1).fold(f64::NEG_INFINITY, f64::max);
            let (gx, gy) = h.project((umin + umax) / 2.0, vmax).unwrap();
            let off = (gx - centre[0]).hypot(gy - centre[1]);
            assert!(off > 0.8, "the box's ground point is off the centre ({off} m at {centre:?})");
            let c = footprint_centre(&h, [gx, gy], heading, l, w).unwrap();
            let err = (c[0] - centre[0]).hypot(c[1] - centre[1]);
            assert!(err < 0.05, "recovered {c:?} for {centre:?} ({err} m)");
        }
    }

    /// Stopping once a step moves the centre by under a millimetre lands within a millimetre
    /// of every step taken, for each class's size, heading and place on the four legs.
    #[test]
    fn stopping_at_a_millimetre_stays_within_a_millimetre_of_all_the_steps() {
        let (h, _) = camera();
        let mut stopped_early = 0;
        for (g, heading) in [([5.0, -30.0], [0.0, 1.0]), ([-5.0, 30.0], [0.0, -1.0]), ([30.0, 5.0], [-1.0, 0.0]), ([-30.0, -5.0], [1.0, 0.0]), ([-12.0, 7.0], [0.6, 0.8]), ([3.0, -8.0], [0.8, -0.6])] {
            for size in [(4.5, 1.8), (12.0, 2.55), (10.0, 2.5), (2.2, 0.8)] {
                let all = centre_within(&h, g, heading, size, 0.0).unwrap();
                let early = footprint_centre(&h, g, heading, size.0, size.1).unwrap();
                let apart = (all[0] - early[0]).hypot(all[1] - early[1]);
                assert!(apart < 1e-3, "{g:?} {size:?}: {early:?} vs {all:?} ({apart} m)");
                stopped_early += usize::from(early != all);
            }
        }
        assert!(stopped_early > 0, "some centres stop before the last step");
    }

    /// The lane book computes one centre for opposite approaches: it must be the same.
    #[test]
    fn a_heading_and_its_opposite_give_the_same_centre() {
        let (h, _) = camera();
        for (g, heading) in [([5.0, -30.0], [0.0, 1.0]), ([30.0, 5.0], [-1.0, 0.0]), ([-12.0, 7.0], [0.6, 0.8])] {
            let back = [-heading[0], -heading[1]];
            assert_eq!(footprint_centre(&h, g, heading, 4.5, 1.8), footprint_centre(&h, g, back, 4.5, 1.8));
        }
    }
}
