//! Camera calibration: a homography from image pixels to ground metres.
//!
//! The ground is taken as a plane. Four or more image ↔ ground point pairs determine the
//! homography `H` with `[X, Y, 1]ᵀ ~ H · [x, y, 1]ᵀ` (image `x, y` in pixels, ground `X, Y` in
//! metres). [`Homography::fit`] uses the *normalized direct linear transform* (Hartley &
//! Zisserman, alg. 4.2): both point sets are translated to their centroid and scaled to a mean
//! distance of √2, each pair contributes two rows of a 2n×9 system `A h = 0`, and `h` is the
//! unit vector minimizing `‖A h‖`, i.e. the eigenvector of the smallest eigenvalue of `AᵀA`.
//! With exactly 4 pairs the system is exactly determined (the fit passes through all four);
//! with more it is a least-squares fit of the algebraic error. The normalization is what makes
//! this well conditioned with pixels in the thousands and metres in the tens.
//!
//! Degenerate input is rejected with a reason ([`CalibrationError`]): a homography needs four
//! points in general position in *both* sets, which fails exactly when some line holds all the
//! points or all but one of them (then every choice of four has three on a line).

use crate::linalg::{Mat3, adjugate3, det3, frobenius3, mul3, symmetric_eigen};
use serde::Serialize;
use std::fmt;

/// A set holds (nearly) collinear points when its perpendicular spread is below this fraction of
/// its spread along the best-fit line (square root of the ratio of the scatter matrix's
/// eigenvalues). 0.5 %: a 3.5 m wide, 600 m long strip is the limit; a few pixels off a line
/// across a whole image is pure noise and would make the fit meaningless.
pub const COLLINEAR_TOLERANCE: f64 = 5e-3;

/// Two points of one set closer than this fraction of the set's RMS radius count as duplicates.
pub const DUPLICATE_TOLERANCE: f64 = 1e-6;

/// [`Homography::project`] answers `None` for image points whose homogeneous `w` is below this
/// fraction of the calibration points' mean `w` — on or beyond the horizon, or so close to it
/// that the ground point would lie about a thousand times farther than the calibration points.
pub const HORIZON_MARGIN: f64 = 1e-3;

/// Which of the two point lists an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PointSet {
    /// The image points (pixels): `[camera.calibration] image`.
    Image,
    /// The ground points (metres): `[camera.calibration] world`.
    World,
}

impl PointSet {
    fn name(self) -> &'static str {
        match self {
            PointSet::Image => "image",
            PointSet::World => "world",
        }
    }
}

/// Why a set of point pairs gives no usable homography. Every variant is the calibration
/// author's to fix (the input), indices are 0-based positions in the lists.
#[derive(Clone, Debug, PartialEq)]
pub enum CalibrationError {
    /// Fewer than 4 pairs: a homography has 8 degrees of freedom, each pair gives 2.
    TooFewPairs {
        /// Pairs given.
        pairs: usize,
    },
    /// The image and world lists differ in length.
    CountMismatch {
        /// Image points given.
        image: usize,
        /// World points given.
        world: usize,
    },
    /// A coordinate is NaN or infinite.
    NonFinite {
        /// The list holding it.
        set: PointSet,
        /// Its index.
        index: usize,
    },
    /// Two points of one list coincide (within [`DUPLICATE_TOLERANCE`] of the list's size).
    DuplicatePoints {
        /// The list holding them.
        set: PointSet,
        /// The first index.
        first: usize,
        /// The second index.
        second: usize,
    },
    /// The points of `indices` lie (nearly, see [`COLLINEAR_TOLERANCE`]) on one line and hold all
    /// points of the list or all but one, so no four of them are in general position.
    Collinear {
        /// The list holding them.
        set: PointSet,
        /// The points on the line.
        indices: Vec<usize>,
    },
    /// The pairs do not determine a unique homography (the DLT system has a null space of more
    /// than one dimension), although no line holds too many points.
    Underdetermined,
    /// The fitted homography maps the plane onto a line or a point (its determinant vanishes):
    /// the pairs contradict each other.
    Singular,
    /// The horizon of the fitted homography passes between the calibration points, so some of
    /// them would lie behind the camera: the two lists are most likely in different orders.
    HorizonBetweenPoints {
        /// A calibration point on the minority side.
        index: usize,
    },
}

impl fmt::Display for CalibrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalibrationError::TooFewPairs { pairs } => {
                write!(f, "a calibration needs at least 4 image↔world point pairs, got {pairs}")
            }
            CalibrationError::CountMismatch { image, world } => {
                write!(f, "image has {image} points but world has {world}: each image point needs its world point")
            }
            CalibrationError::NonFinite { set, index } => {
                write!(f, "{}[{index}] is not a finite number", set.name())
            }
            CalibrationError::DuplicatePoints { set, first, second } => {
                write!(f, "{}[{first}] and {}[{second}] are the same point", set.name(), set.name())
            }
            CalibrationError::Collinear { set, indices } => write!(
                f,
                "{} points {indices:?} lie on one line: a homography needs 4 points with no 3 on a line \
                 (spread the points over the road, e.g. the corners of a lane segment)",
                set.name()
            ),
            CalibrationError::Underdetermined => {
                write!(f, "the point pairs do not determine a unique homography (degenerate configuration)")
            }
            CalibrationError::Singular => {
                write!(f, "the fitted homography is singular: the point pairs contradict each other")
            }
            CalibrationError::HorizonBetweenPoints { index } => write!(
                f,
                "pair {index} falls on the other side of the horizon than the rest: \
                 the image and world points are probably not listed in the same order"
            ),
        }
    }
}

impl std::error::Error for CalibrationError {}

/// Reprojection error of a calibration: each calibration image point is projected to the
/// ground and compared with its world point, in metres.
///
/// With exactly 4 pairs the fit passes through all of them, so the error is ~0 and says
/// nothing about the calibration's quality; with more pairs it measures their consistency.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ReprojectionError {
    /// Root mean square distance, metres.
    pub rms_m: f64,
    /// Largest distance, metres.
    pub max_m: f64,
    /// The pair with the largest distance (0-based). A hint, not a verdict: least squares
    /// spreads one wrong pair's error over the others, far pairs most.
    pub worst_pair: usize,
}

/// A fitted image → ground homography with its inverse and its calibration pairs.
#[derive(Clone, Debug, PartialEq)]
pub struct Homography {
    /// Image → ground, scaled so that `w > 0` at the calibration image points.
    h: Mat3,
    /// Ground → image, scaled so that `w > 0` at the calibration ground points.
    inv: Mat3,
    /// Mean `w` of `h` over the calibration image points.
    w_mean: f64,
    /// Mean `w` of `inv` over the calibration ground points.
    w_inv_mean: f64,
    image: Vec<[f64; 2]>,
    world: Vec<[f64; 2]>,
    error: ReprojectionError,
}

impl Homography {
    /// Fits the homography mapping `image[i]` (pixels) to `world[i]` (metres): exactly for 4
    /// pairs, least squares for more. See the module docs for the method.
    pub fn fit(image: &[[f64; 2]], world: &[[f64; 2]]) -> Result<Homography, CalibrationError> {
        if image.len() != world.len() {
            return Err(CalibrationError::CountMismatch { image: image.len(), world: world.len() });
        }
        if image.len() < 4 {
            return Err(CalibrationError::TooFewPairs { pairs: image.len() });
        }
        for (set, pts) in [(PointSet::Image, image), (PointSet::World, world)] {
            if let Some(index) = pts.iter().position(|p| !p[0].is_finite() || !p[1].is_finite()) {
                return Err(CalibrationError::NonFinite { set, index });
            }
        }
        let ti = check_and_normalize(PointSet::Image, image)?;
        let tw = check_and_normalize(PointSet::World, world)?;

        // AᵀA of the normalized DLT system, accumulated row by row (A itself is never stored).
        let mut ata = [[0.0; 9]; 9];
        for (p, q) in image.iter().zip(world) {
            let (x, y) = apply_similarity(&ti, *p);
            let (u, v) = apply_similarity(&tw, *q);
            let rows = [
                [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, -u],
                [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, -v],
            ];
            for r in &rows {
                for i in 0..9 {
                    for j in 0..9 {
                        ata[i][j] += r[i] * r[j];
                    }
                }
            }
        }
        let (values, vectors) = symmetric_eigen(ata);
        // The second-smallest eigenvalue measures how well the smallest one's vector is pinned
        // down; near zero, a whole family of homographies fits equally well.
        if values[1] <= values[8] * 1e-12 {
            return Err(CalibrationError::Underdetermined);
        }
        let hv = vectors[0];
        let hn: Mat3 = [[hv[0], hv[1], hv[2]], [hv[3], hv[4], hv[5]], [hv[6], hv[7], hv[8]]];
        // In normalized coordinates the entries are O(1), so an absolute test is meaningful.
        if det3(&hn).abs() < 1e-10 * frobenius3(&hn).powi(3) {
            return Err(CalibrationError::Singular);
        }
        // H = Tw⁻¹ · Hn · Ti.
        let tw_inv = [[1.0 / tw.s, 0.0, tw.cx], [0.0, 1.0 / tw.s, tw.cy], [0.0, 0.0, 1.0]];
        let ti_m = [[ti.s, 0.0, -ti.s * ti.cx], [0.0, ti.s, -ti.s * ti.cy], [0.0, 0.0, 1.0]];
        let mut h = mul3(&tw_inv, &mul3(&hn, &ti_m));
        let norm = frobenius3(&h);
        h.iter_mut().flatten().for_each(|v| *v /= norm);

        let w_mean = orient(&mut h, image)?;
        let mut inv = adjugate3(&h);
        let norm = frobenius3(&inv);
        if norm == 0.0 || !norm.is_finite() {
            return Err(CalibrationError::Singular);
        }
        inv.iter_mut().flatten().for_each(|v| *v /= norm);
        let w_inv_mean = orient(&mut inv, world)?;

        let mut out = Homography {
            h,
            inv,
            w_mean,
            w_inv_mean,
            image: image.to_vec(),
            world: world.to_vec(),
            error: ReprojectionError { rms_m: 0.0, max_m: 0.0, worst_pair: 0 },
        };
        out.error = out.measure_error();
        Ok(out)
    }

    /// Ground position (metres) of image point `(x, y)` (pixels); `None` when the point is on or
    /// beyond the horizon (see [`HORIZON_MARGIN`]) — the ground there is not visible.
    /// Inlined across crates: called per point, and per footprint 20 times.
    #[inline]
    pub fn project(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        apply(&self.h, x, y, self.w_mean * HORIZON_MARGIN)
    }

    /// Image position (pixels) of ground point `(x, y)` (metres); `None` when the ground point is
    /// behind the camera or in its focal plane (its image would be at infinity).
    #[inline]
    pub fn image_of(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        apply(&self.inv, x, y, self.w_inv_mean * HORIZON_MARGIN)
    }

    /// [`Homography::image_of`] for the points `(x, y) + d` of a few fixed ground offsets `d`,
    /// at many `(x, y)`: the offsets' shares of the homogeneous coordinates (linear in the
    /// point) are computed once here, so each [`OffsetImages::at`] costs one matrix product
    /// for `(x, y)` and one division per offset instead of one product per offset. The same
    /// images up to floating-point rounding (the sum is associated differently).
    pub fn offset_images<const N: usize>(&self, d: [[f64; 2]; N]) -> OffsetImages<'_, N> {
        let m = &self.inv;
        let parts = d.map(|[dx, dy]| [0, 1, 2].map(|r| m[r][0] * dx + m[r][1] * dy));
        OffsetImages { m, parts, min_w: self.w_inv_mean * HORIZON_MARGIN }
    }

    /// Reprojection error over the calibration pairs (image → ground, metres), computed once
    /// by [`Homography::fit`].
    pub fn reprojection_error(&self) -> ReprojectionError {
        self.error
    }

    /// `d(ground) / d(image)` at image point `(x, y)`: `[[dX/dx, dX/dy], [dY/dx, dY/dy]]` in
    /// metres per pixel; `None` where [`Homography::project`] is `None`. It turns pixel jitter
    /// into metres: far from the camera one pixel covers much more ground.
    pub fn jacobian(&self, x: f64, y: f64) -> Option<[[f64; 2]; 2]> {
        let h = &self.h;
        let w = h[2][0] * x + h[2][1] * y + h[2][2];
        if w.is_nan() || w <= self.w_mean * HORIZON_MARGIN {
            return None;
        }
        let gx = (h[0][0] * x + h[0][1] * y + h[0][2]) / w;
        let gy = (h[1][0] * x + h[1][1] * y + h[1][2]) / w;
        Some([
            [(h[0][0] - gx * h[2][0]) / w, (h[0][1] - gx * h[2][1]) / w],
            [(h[1][0] - gy * h[2][0]) / w, (h[1][1] - gy * h[2][1]) / w],
        ])
    }

    /// Ground-plane standard deviation (metres) of a point whose image position has isotropic
    /// noise `pixel_std`: the largest singular value of the [`jacobian`](Self::jacobian) times
    /// `pixel_std`, i.e. the noise along the worst direction (usually the viewing direction).
    /// Meant for [`GroundFilter::update_with_noise`](crate::GroundFilter::update_with_noise).
    pub fn ground_std_m(&self, x: f64, y: f64, pixel_std: f64) -> Option<f64> {
        let j = self.jacobian(x, y)?;
        // Largest eigenvalue of JᵀJ (symmetric 2×2, closed form).
        let a = j[0][0] * j[0][0] + j[1][0] * j[1][0];
        let b = j[0][0] * j[0][1] + j[1][0] * j[1][1];
        let d = j[0][1] * j[0][1] + j[1][1] * j[1][1];
        let largest = 0.5 * (a + d) + (0.25 * (a - d) * (a - d) + b * b).sqrt();
        Some(largest.sqrt() * pixel_std)
    }

    /// The image → ground matrix (row-major, scaled to unit Frobenius norm, `w > 0` in front).
    pub fn matrix(&self) -> [[f64; 3]; 3] {
        self.h
    }

    /// The calibration image points (pixels) the homography was fitted to.
    pub fn image_points(&self) -> &[[f64; 2]] {
        &self.image
    }

    /// The calibration ground points (metres) the homography was fitted to.
    pub fn world_points(&self) -> &[[f64; 2]] {
        &self.world
    }

    fn measure_error(&self) -> ReprojectionError {
        let mut sum_sq = 0.0;
        let mut max_m = 0.0;
        let mut worst_pair = 0;
        for (i, (p, q)) in self.image.iter().zip(&self.world).enumerate() {
            let d = match self.project(p[0], p[1]) {
                Some((x, y)) => (x - q[0]).hypot(y - q[1]),
                None => f64::INFINITY,
            };
            sum_sq += d * d;
            if d > max_m {
                max_m = d;
                worst_pair = i;
            }
        }
        ReprojectionError { rms_m: (sum_sq / self.image.len() as f64).sqrt(), max_m, worst_pair }
    }
}

/// Images of fixed offsets around ground points ([`Homography::offset_images`]).
#[derive(Clone, Debug)]
pub struct OffsetImages<'a, const N: usize> {
    m: &'a Mat3,
    /// Per offset, its share of the homogeneous `(u, v, w)`.
    parts: [[f64; 3]; N],
    min_w: f64,
}

impl<const N: usize> OffsetImages<'_, N> {
    /// The image of `(x, y) + d` for each offset `d`; `None` where any of them is `None` for
    /// [`Homography::image_of`].
    #[inline]
    pub fn at(&self, x: f64, y: f64) -> Option<[(f64, f64); N]> {
        let m = self.m;
        let base = [0, 1, 2].map(|r| m[r][0] * x + m[r][1] * y + m[r][2]);
        let mut out = [(0.0, 0.0); N];
        for (o, part) in out.iter_mut().zip(&self.parts) {
            let w = base[2] + part[2];
            if w.is_nan() || w <= self.min_w {
                return None;
            }
            let (u, v) = ((base[0] + part[0]) / w, (base[1] + part[1]) / w);
            if !(u.is_finite() && v.is_finite()) {
                return None;
            }
            *o = (u, v);
        }
        Some(out)
    }
}

/// Applies `m` to `(x, y)`; `None` unless `w > min_w`.
#[inline]
fn apply(m: &Mat3, x: f64, y: f64, min_w: f64) -> Option<(f64, f64)> {
    let w = m[2][0] * x + m[2][1] * y + m[2][2];
    if w.is_nan() || w <= min_w {
        return None;
    }
    let u = (m[0][0] * x + m[0][1] * y + m[0][2]) / w;
    let v = (m[1][0] * x + m[1][1] * y + m[1][2]) / w;
    (u.is_finite() && v.is_finite()).then_some((u, v))
}

/// Flips the sign of `m` so that `w > 0` at `pts` and returns the mean `w`; the pairs are
/// inconsistent when the signs differ.
fn orient(m: &mut Mat3, pts: &[[f64; 2]]) -> Result<f64, CalibrationError> {
    let ws: Vec<f64> = pts.iter().map(|p| m[2][0] * p[0] + m[2][1] * p[1] + m[2][2]).collect();
    let positive = ws.iter().filter(|&&w| w > 0.0).count();
    if positive * 2 < ws.len() {
        m.iter_mut().flatten().for_each(|v| *v = -*v);
    }
    let sign = if positive * 2 < ws.len() { -1.0 } else { 1.0 };
    let mean = ws.iter().map(|w| w * sign).sum::<f64>() / ws.len() as f64;
    // A point on the wrong side, or one so close to the horizon that it is numerically there.
    if let Some(index) = ws.iter().position(|&w| w.is_nan() || w * sign <= mean * HORIZON_MARGIN) {
        return Err(CalibrationError::HorizonBetweenPoints { index });
    }
    Ok(mean)
}

/// Hartley normalization `p ↦ s · (p − c)`: centroid to the origin, mean distance √2.
struct Similarity {
    cx: f64,
    cy: f64,
    s: f64,
}

fn apply_similarity(t: &Similarity, p: [f64; 2]) -> (f64, f64) {
    (t.s * (p[0] - t.cx), t.s * (p[1] - t.cy))
}

/// Rejects duplicate and (nearly) collinear configurations, then returns the normalization.
fn check_and_normalize(set: PointSet, pts: &[[f64; 2]]) -> Result<Similarity, CalibrationError> {
    let n = pts.len() as f64;
    let cx = pts.iter().map(|p| p[0]).sum::<f64>() / n;
    let cy = pts.iter().map(|p| p[1]).sum::<f64>() / n;
    let rms = (pts.iter().map(|p| (p[0] - cx).powi(2) + (p[1] - cy).powi(2)).sum::<f64>() / n).sqrt();
    for i in 0..pts.len() {
        for j in i + 1..pts.len() {
            if (pts[i][0] - pts[j][0]).hypot(pts[i][1] - pts[j][1]) <= rms * DUPLICATE_TOLERANCE {
                return Err(CalibrationError::DuplicatePoints { set, first: i, second: j });
            }
        }
    }
    // Work relative to the centroid and radius so the test is scale free.
    let rel: Vec<[f64; 2]> = pts.iter().map(|p| [(p[0] - cx) / rms, (p[1] - cy) / rms]).collect();
    let all: Vec<usize> = (0..pts.len()).collect();
    if is_collinear(&rel, None) {
        return Err(CalibrationError::Collinear { set, indices: all });
    }
    for skip in 0..pts.len() {
        if is_collinear(&rel, Some(skip)) {
            return Err(CalibrationError::Collinear { set, indices: all.into_iter().filter(|&i| i != skip).collect() });
        }
    }
    let mean_dist = pts.iter().map(|p| (p[0] - cx).hypot(p[1] - cy)).sum::<f64>() / n;
    Ok(Similarity { cx, cy, s: std::f64::consts::SQRT_2 / mean_dist })
}

/// Whether the points (all, or all but `skip`) lie within [`COLLINEAR_TOLERANCE`] of a line:
/// the ratio of the scatter matrix's eigenvalues is the squared ratio of the spreads across and
/// along the best-fit line.
fn is_collinear(pts: &[[f64; 2]], skip: Option<usize>) -> bool {
    let kept = || pts.iter().enumerate().filter(|(i, _)| Some(*i) != skip).map(|(_, p)| p);
    let n = kept().count() as f64;
    let mx = kept().map(|p| p[0]).sum::<f64>() / n;
    let my = kept().map(|p| p[1]).sum::<f64>() / n;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for p in kept() {
        let (dx, dy) = (p[0] - mx, p[1] - my);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    let mean = 0.5 * (sxx + syy);
    let dev = (0.25 * (sxx - syy).powi(2) + sxy * sxy).sqrt();
    let (big, small) = (mean + dev, (mean - dev).max(0.0));
    big <= 0.0 || small <= big * COLLINEAR_TOLERANCE * COLLINEAR_TOLERANCE
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The images of offsets around a point are those of the offset points, up to rounding;
    /// past the horizon, `None` as for `image_of`.
    #[test]
    fn offset_images_are_the_images_of_the_offset_points() {
        let image = [[600.0, 900.0], [1300.0, 900.0], [1050.0, 400.0], [850.0, 400.0]];
        let world = [[-3.5, 10.0], [3.5, 10.0], [3.5, 60.0], [-3.5, 60.0]];
        let h = Homography::fit(&image, &world).unwrap();
        let d = [[2.25, 0.9], [-2.25, 0.9], [0.0, -6.0]];
        let images = h.offset_images(d);
        for (x, y) in [(0.0, 20.0), (-5.0, 35.0), (7.5, 12.0)] {
            let got = images.at(x, y).unwrap();
            for (g, o) in got.iter().zip(&d) {
                let (u, v) = h.image_of(x + o[0], y + o[1]).unwrap();
                assert!((g.0 - u).abs() < 1e-9 && (g.1 - v).abs() < 1e-9, "{g:?} vs ({u}, {v})");
            }
        }
        assert!(h.image_of(0.0, -1e6).is_none());
        assert!(images.at(0.0, -1e6).is_none());
    }

    /// A made-up but plausible road homography, checked through its own inverse.
    #[test]
    fn four_pairs_are_reproduced_exactly() {
        let image = [[600.0, 900.0], [1300.0, 900.0], [1050.0, 400.0], [850.0, 400.0]];
        let world = [[-3.5, 10.0], [3.5, 10.0], [3.5, 60.0], [-3.5, 60.0]];
        let h = Homography::fit(&image, &world).unwrap();
        for (p, q) in image.iter().zip(&world) {
            let (x, y) = h.project(p[0], p[1]).unwrap();
            assert!((x - q[0]).abs() < 1e-9 && (y - q[1]).abs() < 1e-9, "{p:?} → ({x}, {y}), want {q:?}");
            let (u, v) = h.image_of(q[0], q[1]).unwrap();
            assert!((u - p[0]).abs() < 1e-7 && (v - p[1]).abs() < 1e-7, "{q:?} → ({u}, {v}), want {p:?}");
        }
        assert!(h.reprojection_error().max_m < 1e-9);
        // The lane edges meet at (950, 200) and the crosswise edges are horizontal, so the horizon
        // is the line y = 200: below it the ground goes on beyond 60 m, above it there is none.
        let (_, far) = h.project(950.0, 300.0).unwrap();
        assert!(far > 60.0, "{far}");
        assert_eq!(h.project(950.0, 100.0), None);
        assert_eq!(h.project(950.0, 200.0), None);
    }
}
