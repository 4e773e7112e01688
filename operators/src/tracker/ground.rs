//! Ground-plane motion of a track, for cameras with a calibration: a constant-velocity Kalman
//! filter of the box's ground point in metres, and the Mahalanobis gate built on it.
//!
//! Why the ground plane: in the image a car driving at constant speed does not move at constant
//! velocity (perspective: it speeds up and grows as it approaches), and the boxes of two cars
//! at different distances can overlap as much as one car's boxes in consecutive frames, so IoU
//! alone cannot tell them apart. On the road the motion is physical: near-constant velocity with
//! bounded acceleration, and a position that says how far apart two vehicles really are.
//!
//! The measurement is the box's ground point (bottom centre) through the homography. Its
//! covariance is the pixel noise mapped through the homography's Jacobian, `R = J Σ Jᵀ`, so it
//! is long along the viewing direction far from the camera and small nearby. The pixel noise is
//! `hypot(ground_pixel_std, h / 20)` for a box `h` pixels high: a floor for the detector's
//! jitter plus ByteTrack's position weight, which also covers how the bottom centre of a box
//! wanders on a vehicle as the view angle changes. A box touching the image border has no
//! ground point: its bottom centre is not where the vehicle meets the road.
//!
//! The state is `(x, y, vx, vy)`; time steps are event time (ms), so dropped frames are
//! predicted over exactly. The process noise is white acceleration (`ground_accel_std`, m/s²),
//! `Q = σₐ² [[dt⁴/4, dt³/2], [dt³/2, dt²]]` per axis. A new filter starts at rest with a speed
//! uncertainty of [`INITIAL_SPEED_STD`].
//!
//! A pair passes the gate when `d² = yᵀ S⁻¹ y ≤ gate_chi2`, `y` the innovation and
//! `S = H P Hᵀ + R (+ r² I)`: the extra `r² I` widens it for recovery (see the module docs of
//! the tracker).

use itscam_geo::Homography;
use itscam_types::{BBox, border_margin_px};

/// Speed uncertainty (m/s, 1σ) of a new filter: any road speed up to ~110 km/h is within 3σ.
pub(crate) const INITIAL_SPEED_STD: f64 = 10.0;
/// ByteTrack's position noise weight: pixel noise per pixel of box height.
const HEIGHT_WEIGHT: f64 = 1.0 / 20.0;


/// A detection's ground point (metres) and its 2x2 covariance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct GroundPoint {
    pub(crate) z: [f64; 2],
    pub(crate) r: [[f64; 2]; 2],
}

/// A camera's view of the ground: its homography and the detector's pixel noise.
#[derive(Clone, Debug)]
pub struct GroundView {
    homography: Homography,
    pixel_std: f64,
}

impl GroundView {
    /// The ground of a camera calibrated with `homography`; `pixel_std` is the floor of the
    /// pixel noise of a box edge (`ground_pixel_std`).
    pub fn new(homography: Homography, pixel_std: f64) -> Self {
        GroundView { homography, pixel_std }
    }

    /// The ground point of `b` in a `width x height` frame; `None` when the box touches the
    /// border or its bottom centre is on or above the horizon.
    pub(crate) fn point(&self, b: &BBox, width: u32, height: u32) -> Option<GroundPoint> {
        if b.touches_border(width, height, border_margin_px(self.pixel_std)) {
            return None;
        }
        let (u, v) = ((f64::from(b.x1) + f64::from(b.x2)) / 2.0, f64::from(b.y2));
        let (x, y) = self.homography.project(u, v)?;
        let j = self.homography.jacobian(u, v)?;
        let std = self.pixel_std.hypot(HEIGHT_WEIGHT * f64::from(b.height()));
        let var = std * std;
        // R = J (var I) Jᵀ.
        let r = [
            [var * (j[0][0] * j[0][0] + j[0][1] * j[0][1]), var * (j[0][0] * j[1][0] + j[0][1] * j[1][1])],
            [var * (j[1][0] * j[0][0] + j[1][1] * j[0][1]), var * (j[1][0] * j[1][0] + j[1][1] * j[1][1])],
        ];
        let ok = x.is_finite() && y.is_finite() && r.iter().flatten().all(|v| v.is_finite());
        ok.then_some(GroundPoint { z: [x, y], r })
    }
}

/// Constant-velocity Kalman filter of a ground point: state `(x, y, vx, vy)`, metres and m/s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct GroundFilter {
    x: [f64; 4],
    p: [[f64; 4]; 4],
    ts_ms: u64,
}

// Kalman algebra on 4×4 arrays reads as the formulas with explicit indices (P[i][j] = …).
#[allow(clippy::needless_range_loop)]
impl GroundFilter {
    /// A filter at rest at `m`, seen at `ts_ms`.
    pub(crate) fn new(m: &GroundPoint, ts_ms: u64) -> Self {
        let mut p = [[0.0; 4]; 4];
        for i in 0..2 {
            for j in 0..2 {
                p[i][j] = m.r[i][j];
            }
        }
        p[2][2] = INITIAL_SPEED_STD * INITIAL_SPEED_STD;
        p[3][3] = INITIAL_SPEED_STD * INITIAL_SPEED_STD;
        GroundFilter { x: [m.z[0], m.z[1], 0.0, 0.0], p, ts_ms }
    }

    /// Advances to `ts_ms` (a time at or before the filter's is a no-op), with white
    /// acceleration noise of `accel_std` m/s².
    pub(crate) fn predict(&mut self, ts_ms: u64, accel_std: f64) {
        if ts_ms <= self.ts_ms {
            return;
        }
        let dt = (ts_ms - self.ts_ms) as f64 / 1000.0;
        self.ts_ms = ts_ms;
        let q = accel_std * accel_std;
        let (q_pp, q_pv, q_vv) = (q * dt.powi(4) / 4.0, q * dt.powi(3) / 2.0, q * dt * dt);
        for i in 0..2 {
            self.x[i] += dt * self.x[i + 2];
        }
        // P = F P Fᵀ + Q with F = [[I, dt I], [0, I]]: rows then columns.
        let p = &mut self.p;
        for i in 0..2 {
            for j in 0..4 {
                p[i][j] += dt * p[i + 2][j];
            }
        }
        for row in p.iter_mut() {
            for j in 0..2 {
                row[j] += dt * row[j + 2];
            }
        }
        for i in 0..2 {
            p[i][i] += q_pp;
            p[i][i + 2] += q_pv;
            p[i + 2][i] += q_pv;
            p[i + 2][i + 2] += q_vv;
        }
    }

    /// Innovation `z - x` and `S⁻¹` of `S = P_pos + R + extra² I`; `None` when `S` is singular.
    fn innovation(&self, m: &GroundPoint, extra: f64) -> Option<([f64; 2], [[f64; 2]; 2])> {
        let e = extra * extra;
        let s = [
            [self.p[0][0] + m.r[0][0] + e, self.p[0][1] + m.r[0][1]],
            [self.p[1][0] + m.r[1][0], self.p[1][1] + m.r[1][1] + e],
        ];
        let det = s[0][0] * s[1][1] - s[0][1] * s[1][0];
        if !(det > 0.0 && det.is_finite()) {
            return None;
        }
        let inv = [[s[1][1] / det, -s[0][1] / det], [-s[1][0] / det, s[0][0] / det]];
        Some(([m.z[0] - self.x[0], m.z[1] - self.x[1]], inv))
    }

    /// Squared Mahalanobis distance of `m` from the predicted position, the covariance widened
    /// by `extra` metres in every direction (0 for plain gating); infinite when undefined.
    pub(crate) fn distance2(&self, m: &GroundPoint, extra: f64) -> f64 {
        let Some((y, inv)) = self.innovation(m, extra) else { return f64::INFINITY };
        y[0] * (inv[0][0] * y[0] + inv[0][1] * y[1]) + y[1] * (inv[1][0] * y[0] + inv[1][1] * y[1])
    }

    /// Corrects the state with a measured ground point.
    pub(crate) fn update(&mut self, m: &GroundPoint) {
        let Some((y, inv)) = self.innovation(m, 0.0) else { return };
        // K = P Hᵀ S⁻¹ (4x2); H picks the positions, so P Hᵀ is P's first two columns.
        let mut k = [[0.0; 2]; 4];
        for (i, row) in k.iter_mut().enumerate() {
            for (j, kij) in row.iter_mut().enumerate() {
                *kij = self.p[i][0] * inv[0][j] + self.p[i][1] * inv[1][j];
            }
        }
        for (i, row) in k.iter().enumerate() {
            self.x[i] += row[0] * y[0] + row[1] * y[1];
        }
        // P = P - K H P, with H P the first two rows of P.
        let hp = [self.p[0], self.p[1]];
        for (i, row) in k.iter().enumerate() {
            for j in 0..4 {
                self.p[i][j] -= row[0] * hp[0][j] + row[1] * hp[1][j];
            }
        }
    }

    /// Position `(x, y)` and velocity `(vx, vy)`, for tests.
    #[cfg(test)]
    pub(crate) fn state(&self) -> [f64; 4] {
        self.x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(x: f64, y: f64, std: f64) -> GroundPoint {
        GroundPoint { z: [x, y], r: [[std * std, 0.0], [0.0, std * std]] }
    }

    #[test]
    fn learns_a_constant_ground_velocity() {
        // 12 m/s along x, 10 frames per second, 0.2 m of noise that alternates in sign.
        let mut f = GroundFilter::new(&point(0.0, 3.0, 0.2), 0);
        for n in 1..50u64 {
            let t = n as f64 / 10.0;
            f.predict(n * 100, 3.0);
            let noise = if n % 2 == 0 { 0.15 } else { -0.15 };
            f.update(&point(12.0 * t + noise, 3.0 - noise, 0.2));
        }
        let [x, y, vx, vy] = f.state();
        assert!((vx - 12.0).abs() < 0.5 && vy.abs() < 0.5, "velocity ({vx}, {vy})");
        assert!((x - 12.0 * 4.9).abs() < 0.3 && (y - 3.0).abs() < 0.3, "position ({x}, {y})");
        // In the next frame the true position passes the 99 % gate, a point one lane over does
        // not, unless the gate is widened by a lane's width.
        let mut next = f;
        next.predict(5_000, 3.0);
        let there = point(12.0 * 5.0, 3.0, 0.2);
        let next_lane = point(12.0 * 5.0, 3.0 + 3.5, 0.2);
        assert!(next.distance2(&there, 0.0) < 9.21, "d² {}", next.distance2(&there, 0.0));
        assert!(next.distance2(&next_lane, 0.0) > 9.21, "d² {}", next.distance2(&next_lane, 0.0));
        assert!(next.distance2(&next_lane, 3.5) < 9.21);
        // One second ahead (ten dropped frames) it is still where the vehicle will be.
        f.predict(5_900, 3.0);
        let there = point(12.0 * 5.9, 3.0, 0.2);
        assert!(f.distance2(&there, 0.0) < 1.0, "d² {}", f.distance2(&there, 0.0));
    }

    #[test]
    fn update_shrinks_and_predict_grows_the_uncertainty() {
        let mut f = GroundFilter::new(&point(0.0, 0.0, 1.0), 0);
        let far = point(3.0, 0.0, 1.0);
        let before = f.distance2(&far, 0.0);
        f.predict(100, 3.0);
        f.update(&point(0.0, 0.0, 1.0));
        let after = f.distance2(&far, 0.0);
        assert!(after > before, "a second measurement tightens the gate: {before} -> {after}");
        f.predict(3_100, 3.0);
        assert!(f.distance2(&far, 0.0) < after, "three seconds without one widen it");
        // Time never runs backwards.
        let same = f;
        f.predict(50, 3.0);
        assert_eq!(f, same);
    }

    #[test]
    fn border_boxes_have_no_ground_point() {
        let b = |x1, y1, x2, y2| BBox { x1, y1, x2, y2 };
        let m = border_margin_px(0.1);
        assert_eq!(m, 1.0, "never under a pixel");
        assert!(!b(10.0, 10.0, 100.0, 100.0).touches_border(640, 480, m));
        assert!(b(10.0, 10.0, 100.0, 479.5).touches_border(640, 480, m));
        assert!(b(0.0, 10.0, 100.0, 100.0).touches_border(640, 480, m));
        assert!(b(10.0, 10.0, 640.0, 100.0).touches_border(640, 480, m));
        assert!(!b(10.0, 10.0, 900.0, 900.0).touches_border(0, 0, m), "unknown size");
        // A box clipped at the bottom and then jittered by 1.5 px ends a pixel or two inside.
        let jittered = b(10.0, 10.0, 100.0, 478.3);
        assert!(!jittered.touches_border(640, 480, m));
        assert!(jittered.touches_border(640, 480, border_margin_px(1.5)));
        let view = GroundView::new(Homography::fit(&[[0.0, 0.0], [640.0, 0.0], [640.0, 480.0], [0.0, 480.0]], &[[0.0, 50.0], [20.0, 50.0], [20.0, 0.0], [0.0, 0.0]]).unwrap(), 1.5);
        assert!(view.point(&jittered, 640, 480).is_none(), "no ground point for a clipped box");
        assert!(view.point(&b(10.0, 10.0, 100.0, 470.0), 640, 480).is_some());
    }
}
