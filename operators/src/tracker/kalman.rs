//! Constant-velocity Kalman filter on a box: centre `(cx, cy)`, size `(w, h)` and their
//! velocities, with the noise model of ByteTrack / DeepSORT's XYWH filter.
//!
//! Why four 2-state filters instead of one 8-state filter: the transition matrix
//! (`x += v` per coordinate) and the measurement matrix (observe each position) act on each
//! coordinate separately, and the process and measurement noise are diagonal. Their scales depend
//! on the *mean* box size only, never on the covariance, so a covariance that starts
//! block-diagonal per coordinate stays so through predict and update, and `S = H P Hᵀ + R` is
//! diagonal. The 8-D filter therefore decomposes exactly into four independent
//! (position, velocity) filters with 2x2 covariances: same numbers, no matrix library, no
//! inversion (the test `matches_full_8d_filter` checks this against a dense 8-D filter).

use itscam_types::BBox;

/// Process / measurement noise per pixel of box size, for positions (ByteTrack's value).
pub(crate) const STD_WEIGHT_POSITION: f64 = 1.0 / 20.0;
/// Process noise per pixel of box size, for velocities (ByteTrack's value).
pub(crate) const STD_WEIGHT_VELOCITY: f64 = 1.0 / 160.0;
/// Smallest size used to scale noise, so that a degenerate box still has non-zero noise.
const MIN_SCALE: f64 = 1.0;

/// One coordinate: position, velocity and their 2x2 covariance (symmetric, so three numbers).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Axis {
    x: f64,
    v: f64,
    pxx: f64,
    pxv: f64,
    pvv: f64,
}

impl Axis {
    fn new(z: f64, std_pos: f64, std_vel: f64) -> Self {
        Axis { x: z, v: 0.0, pxx: std_pos * std_pos, pxv: 0.0, pvv: std_vel * std_vel }
    }

    /// One step: `F = [[1, 1], [0, 1]]`, `P = F P Fᵀ + diag(q_pos, q_vel)`.
    fn predict(&mut self, q_pos: f64, q_vel: f64) {
        self.x += self.v;
        self.pxx += 2.0 * self.pxv + self.pvv + q_pos;
        self.pxv += self.pvv;
        self.pvv += q_vel;
    }

    /// Measurement `z` of the position with variance `r`.
    fn update(&mut self, z: f64, r: f64) {
        let s = self.pxx + r;
        let kx = self.pxx / s;
        let kv = self.pxv / s;
        let y = z - self.x;
        self.x += kx * y;
        self.v += kv * y;
        // P = (I - K H) P, written out; uses the old pxv in pvv.
        self.pvv -= kv * self.pxv;
        self.pxv *= 1.0 - kx;
        self.pxx *= 1.0 - kx;
    }
}

/// Kalman state of one track's box.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct BoxFilter {
    /// `cx`, `cy`, `w`, `h`.
    axes: [Axis; 4],
}

/// `(cx, cy, w, h)` of a box.
fn measure(b: &BBox) -> [f64; 4] {
    let (x1, y1, x2, y2) = (b.x1 as f64, b.y1 as f64, b.x2 as f64, b.y2 as f64);
    [(x1 + x2) / 2.0, (y1 + y2) / 2.0, x2 - x1, y2 - y1]
}

impl BoxFilter {
    /// A filter at the box, at rest, with ByteTrack's initial uncertainty.
    pub(crate) fn new(b: &BBox) -> Self {
        let z = measure(b);
        let s = scales(z[2], z[3]);
        let axes = std::array::from_fn(|i| {
            Axis::new(z[i], 2.0 * STD_WEIGHT_POSITION * s[i], 10.0 * STD_WEIGHT_VELOCITY * s[i])
        });
        BoxFilter { axes }
    }

    /// Advances `steps` frames (0 is a no-op).
    pub(crate) fn predict(&mut self, steps: u32) {
        for _ in 0..steps {
            let s = scales(self.axes[2].x, self.axes[3].x);
            for (a, s) in self.axes.iter_mut().zip(s) {
                let (qp, qv) = (STD_WEIGHT_POSITION * s, STD_WEIGHT_VELOCITY * s);
                a.predict(qp * qp, qv * qv);
            }
        }
    }

    /// Corrects the state with a detected box.
    pub(crate) fn update(&mut self, b: &BBox) {
        let z = measure(b);
        // Measurement noise scales with the predicted size, as in ByteTrack's `project`.
        let s = scales(self.axes[2].x, self.axes[3].x);
        for ((a, z), s) in self.axes.iter_mut().zip(z).zip(s) {
            let r = STD_WEIGHT_POSITION * s;
            a.update(z, r * r);
        }
    }

    /// Stops the size from drifting while a track is lost (ByteTrack zeroes the size velocity
    /// of lost tracks): a coasting box keeps moving but neither shrinks to nothing nor explodes.
    pub(crate) fn freeze_size(&mut self) {
        self.axes[2].v = 0.0;
        self.axes[3].v = 0.0;
    }

    /// The current box estimate; a negative size is clamped to an empty box.
    pub(crate) fn bbox(&self) -> BBox {
        let [cx, cy, w, h] = self.axes.map(|a| a.x);
        let (hw, hh) = (w.max(0.0) / 2.0, h.max(0.0) / 2.0);
        BBox { x1: (cx - hw) as f32, y1: (cy - hh) as f32, x2: (cx + hw) as f32, y2: (cy + hh) as f32 }
    }

    /// Variances of the centre `(cx, cy)`, for gating.
    pub(crate) fn centre_var(&self) -> [f64; 2] {
        [self.axes[0].pxx, self.axes[1].pxx]
    }

    /// Measurement variances of the centre `(cx, cy)` (ByteTrack's noise model).
    pub(crate) fn centre_meas_var(&self) -> [f64; 2] {
        let s = scales(self.axes[2].x, self.axes[3].x);
        [(STD_WEIGHT_POSITION * s[0]).powi(2), (STD_WEIGHT_POSITION * s[1]).powi(2)]
    }

    /// State `(cx, cy, w, h, vcx, vcy, vw, vh)`, for tests.
    #[cfg(test)]
    pub(crate) fn mean(&self) -> [f64; 8] {
        let a = &self.axes;
        [a[0].x, a[1].x, a[2].x, a[3].x, a[0].v, a[1].v, a[2].v, a[3].v]
    }

    /// Dense 8x8 covariance in the order of [`BoxFilter::mean`], for tests.
    #[cfg(test)]
    pub(crate) fn covariance(&self) -> [[f64; 8]; 8] {
        let mut p = [[0.0; 8]; 8];
        for (i, a) in self.axes.iter().enumerate() {
            p[i][i] = a.pxx;
            p[i][i + 4] = a.pxv;
            p[i + 4][i] = a.pxv;
            p[i + 4][i + 4] = a.pvv;
        }
        p
    }
}

/// Noise scale per coordinate: width for `cx` and `w`, height for `cy` and `h`.
pub(crate) fn scales(w: f64, h: f64) -> [f64; 4] {
    let (w, h) = (w.abs().max(MIN_SCALE), h.abs().max(MIN_SCALE));
    [w, h, w, h]
}

#[cfg(test)]
// Dense matrix code reads best with indices.
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;

    fn bbox(cx: f64, cy: f64, w: f64, h: f64) -> BBox {
        BBox { x1: (cx - w / 2.0) as f32, y1: (cy - h / 2.0) as f32, x2: (cx + w / 2.0) as f32, y2: (cy + h / 2.0) as f32 }
    }

    /// The textbook 8-D filter with dense matrices, to check the decomposition.
    struct Full {
        x: [f64; 8],
        p: [[f64; 8]; 8],
    }

    type M8 = [[f64; 8]; 8];

    fn mul<const A: usize, const B: usize, const C: usize>(l: &[[f64; B]; A], r: &[[f64; C]; B]) -> [[f64; C]; A] {
        let mut o = [[0.0; C]; A];
        for i in 0..A {
            for j in 0..C {
                o[i][j] = (0..B).map(|k| l[i][k] * r[k][j]).sum();
            }
        }
        o
    }

    fn transpose<const A: usize, const B: usize>(m: &[[f64; B]; A]) -> [[f64; A]; B] {
        let mut o = [[0.0; A]; B];
        for i in 0..A {
            for j in 0..B {
                o[j][i] = m[i][j];
            }
        }
        o
    }

    /// Gauss–Jordan inverse of a 4x4 matrix.
    fn inverse4(m: [[f64; 4]; 4]) -> [[f64; 4]; 4] {
        let mut a = m;
        let mut inv = [[0.0; 4]; 4];
        for (i, row) in inv.iter_mut().enumerate() {
            row[i] = 1.0;
        }
        for c in 0..4 {
            let piv = (c..4).max_by(|&x, &y| a[x][c].abs().total_cmp(&a[y][c].abs())).unwrap();
            a.swap(c, piv);
            inv.swap(c, piv);
            let d = a[c][c];
            for j in 0..4 {
                a[c][j] /= d;
                inv[c][j] /= d;
            }
            for r in 0..4 {
                if r != c {
                    let f = a[r][c];
                    for j in 0..4 {
                        a[r][j] -= f * a[c][j];
                        inv[r][j] -= f * inv[c][j];
                    }
                }
            }
        }
        inv
    }

    impl Full {
        fn new(b: &BBox) -> Self {
            let z = measure(b);
            let s = scales(z[2], z[3]);
            let mut p = [[0.0; 8]; 8];
            for i in 0..4 {
                p[i][i] = (2.0 * STD_WEIGHT_POSITION * s[i]).powi(2);
                p[i + 4][i + 4] = (10.0 * STD_WEIGHT_VELOCITY * s[i]).powi(2);
            }
            Full { x: [z[0], z[1], z[2], z[3], 0.0, 0.0, 0.0, 0.0], p }
        }
        fn predict(&mut self) {
            let mut f: M8 = [[0.0; 8]; 8];
            for i in 0..8 {
                f[i][i] = 1.0;
            }
            for i in 0..4 {
                f[i][i + 4] = 1.0;
            }
            let s = scales(self.x[2], self.x[3]);
            let xcol = mul(&f, &transpose(&[self.x]));
            self.x = transpose(&xcol)[0];
            let mut p = mul(&mul(&f, &self.p), &transpose(&f));
            for i in 0..4 {
                p[i][i] += (STD_WEIGHT_POSITION * s[i]).powi(2);
                p[i + 4][i + 4] += (STD_WEIGHT_VELOCITY * s[i]).powi(2);
            }
            self.p = p;
        }
        fn update(&mut self, b: &BBox) {
            let z = measure(b);
            let s = scales(self.x[2], self.x[3]);
            let mut h = [[0.0; 8]; 4];
            for (i, row) in h.iter_mut().enumerate() {
                row[i] = 1.0;
            }
            let mut sm = mul(&mul(&h, &self.p), &transpose(&h));
            for i in 0..4 {
                sm[i][i] += (STD_WEIGHT_POSITION * s[i]).powi(2);
            }
            let k = mul(&mul(&self.p, &transpose(&h)), &inverse4(sm));
            let hx = mul(&h, &transpose(&[self.x]));
            let y: [[f64; 1]; 4] = std::array::from_fn(|i| [z[i] - hx[i][0]]);
            let dx = mul(&k, &y);
            for i in 0..8 {
                self.x[i] += dx[i][0];
            }
            let kh = mul(&k, &h);
            let mut ikh = [[0.0; 8]; 8];
            for i in 0..8 {
                for j in 0..8 {
                    ikh[i][j] = f64::from(i == j) - kh[i][j];
                }
            }
            self.p = mul(&ikh, &self.p);
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
    }

    #[test]
    fn matches_full_8d_filter() {
        let mut fast = BoxFilter::new(&bbox(100.0, 50.0, 40.0, 80.0));
        let mut full = Full::new(&bbox(100.0, 50.0, 40.0, 80.0));
        for t in 1..40 {
            let t = t as f64;
            fast.predict(1);
            full.predict();
            if !(t as u32).is_multiple_of(7) {
                let b = bbox(100.0 + 3.0 * t + (t * 1.7).sin(), 50.0 - 2.0 * t, 40.0 + 0.5 * t, 80.0 + (t * 0.3).cos());
                fast.update(&b);
                full.update(&b);
            }
            let (m, p) = (fast.mean(), fast.covariance());
            for i in 0..8 {
                assert!(close(m[i], full.x[i]), "mean[{i}] at {t}: {} vs {}", m[i], full.x[i]);
                for j in 0..8 {
                    assert!(close(p[i][j], full.p[i][j]), "P[{i}][{j}] at {t}: {} vs {}", p[i][j], full.p[i][j]);
                }
            }
        }
    }

    #[test]
    fn learns_constant_velocity() {
        let mut f = BoxFilter::new(&bbox(0.0, 0.0, 50.0, 30.0));
        for t in 1..30 {
            f.predict(1);
            f.update(&bbox(5.0 * t as f64, -2.0 * t as f64, 50.0, 30.0));
        }
        let m = f.mean();
        assert!((m[4] - 5.0).abs() < 0.05 && (m[5] + 2.0).abs() < 0.05, "velocity {m:?}");
        // Three steps ahead lands where the object will be.
        f.predict(3);
        let b = f.bbox();
        let truth = bbox(5.0 * 32.0, -2.0 * 32.0, 50.0, 30.0);
        assert!(b.iou(&truth) > 0.95, "{b:?} vs {truth:?}");
    }

    #[test]
    fn multi_step_predict_equals_repeated_steps() {
        let mut a = BoxFilter::new(&bbox(10.0, 10.0, 20.0, 20.0));
        a.predict(1);
        a.update(&bbox(14.0, 12.0, 21.0, 20.0));
        let mut b = a;
        a.predict(4);
        for _ in 0..4 {
            b.predict(1);
        }
        assert_eq!(a, b);
        let before = b;
        b.predict(0);
        assert_eq!(b, before);
    }

    #[test]
    fn frozen_size_keeps_box_size() {
        let mut f = BoxFilter::new(&bbox(0.0, 0.0, 50.0, 50.0));
        for t in 1..10 {
            f.predict(1);
            f.update(&bbox(4.0 * t as f64, 0.0, 50.0 - 3.0 * t as f64, 50.0));
        }
        f.freeze_size();
        let w = f.bbox().width();
        f.predict(20);
        assert!((f.bbox().width() - w).abs() < 1e-3);
        assert!(f.bbox().x1 > 40.0, "keeps moving while lost");
    }
}
