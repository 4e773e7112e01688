//! Zones and counting lines in image pixels.
//!
//! **Orientation convention.** Image coordinates have `x` to the right and `y` *down*. "Left of
//! `a → b`" means left as seen on the screen by someone standing at `a` and looking towards `b`:
//! for `a = (0, 0)`, `b = (1, 0)` (pointing right), the left side is *up*, i.e. `y < 0`.
//! [`side_of`] is positive there. (It is the negated textbook cross product, which assumes `y`
//! up.) The `line_crossings` table calls a crossing from the right of `a → b` to its left
//! `forward`: [`CountingLine::crossing`] (and [`CountingLine::track`]) answering [`LineSide::Left`].

use serde::Serialize;
use std::fmt;

/// Points within this many pixels of a polygon's edge count as inside.
pub const EDGE_TOLERANCE: f64 = 1e-9;

/// Why a polygon or line is unusable; the zone or line author's to fix.
#[derive(Clone, Debug, PartialEq)]
pub enum ShapeError {
    /// A polygon needs 3 vertices.
    TooFewVertices {
        /// Vertices given.
        got: usize,
    },
    /// A coordinate is NaN or infinite.
    NonFinite {
        /// Index of the vertex.
        index: usize,
    },
    /// The polygon encloses no area (all vertices on a line).
    ZeroArea,
    /// The two end points of a line coincide.
    DegenerateLine,
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShapeError::TooFewVertices { got } => write!(f, "a polygon needs at least 3 points, got {got}"),
            ShapeError::NonFinite { index } => write!(f, "point {index} is not a finite number"),
            ShapeError::ZeroArea => write!(f, "the polygon has zero area"),
            ShapeError::DegenerateLine => write!(f, "the two points of the line are the same"),
        }
    }
}

impl std::error::Error for ShapeError {}

/// Signed side of `p` relative to the directed line `a → b`, in image coordinates (`y` down):
/// `> 0` when `p` is left of `a → b` as seen on the screen, `< 0` right, `0` on the line. The
/// magnitude is `|b − a|` times the distance of `p` from the line (pixels²).
pub fn side_of(a: [f64; 2], b: [f64; 2], p: [f64; 2]) -> f64 {
    (b[1] - a[1]) * (p[0] - a[0]) - (b[0] - a[0]) * (p[1] - a[1])
}

/// Whether the closed segments `p1–p2` and `a–b` share a point (touching at an end point or
/// overlapping along a common line counts). Exact in floating point: no tolerance.
pub fn segments_intersect(p1: [f64; 2], p2: [f64; 2], a: [f64; 2], b: [f64; 2]) -> bool {
    let d1 = side_of(a, b, p1);
    let d2 = side_of(a, b, p2);
    let d3 = side_of(p1, p2, a);
    let d4 = side_of(p1, p2, b);
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0)) && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0)) {
        return true;
    }
    (d1 == 0.0 && in_box(a, b, p1))
        || (d2 == 0.0 && in_box(a, b, p2))
        || (d3 == 0.0 && in_box(p1, p2, a))
        || (d4 == 0.0 && in_box(p1, p2, b))
}

/// Whether `p`, known to be on the line through `a` and `b`, lies between them.
fn in_box(a: [f64; 2], b: [f64; 2], p: [f64; 2]) -> bool {
    p[0] >= a[0].min(b[0]) && p[0] <= a[0].max(b[0]) && p[1] >= a[1].min(b[1]) && p[1] <= a[1].max(b[1])
}

/// Euclidean distance from `p` to the closed segment `a–b`.
pub fn distance_to_segment(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    distance2_to_segment(p, a, b).sqrt()
}

/// The square of [`distance_to_segment`] (no square root: for comparisons).
fn distance2_to_segment(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 { (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
    let (ex, ey) = (p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy));
    ex * ex + ey * ey
}

/// Whether `p` is within `tol` of the bounding box of `a` and `b`.
fn near_box(a: [f64; 2], b: [f64; 2], p: [f64; 2], tol: f64) -> bool {
    p[0] >= a[0].min(b[0]) - tol && p[0] <= a[0].max(b[0]) + tol && p[1] >= a[1].min(b[1]) - tol && p[1] <= a[1].max(b[1]) + tol
}

/// A simple polygon (a zone) in pixels, vertices in order (either winding).
#[derive(Clone, Debug, PartialEq)]
pub struct Polygon {
    vertices: Vec<[f64; 2]>,
    /// Bounding box `(min, max)`: points outside it (by more than [`EDGE_TOLERANCE`]) are
    /// outside without testing an edge — most points of a scene, for most zones.
    bounds: ([f64; 2], [f64; 2]),
}

impl Polygon {
    /// A polygon from ≥ 3 finite vertices enclosing a non-zero area. Self-intersection is not
    /// checked here (the config validation does); [`Polygon::contains`] applies the even-odd
    /// rule either way.
    pub fn new(vertices: &[[f64; 2]]) -> Result<Polygon, ShapeError> {
        if vertices.len() < 3 {
            return Err(ShapeError::TooFewVertices { got: vertices.len() });
        }
        if let Some(index) = vertices.iter().position(|p| !p[0].is_finite() || !p[1].is_finite()) {
            return Err(ShapeError::NonFinite { index });
        }
        let min = vertices.iter().fold([f64::INFINITY; 2], |m, p| [m[0].min(p[0]), m[1].min(p[1])]);
        let max = vertices.iter().fold([f64::NEG_INFINITY; 2], |m, p| [m[0].max(p[0]), m[1].max(p[1])]);
        let polygon = Polygon { vertices: vertices.to_vec(), bounds: (min, max) };
        if polygon.area() == 0.0 {
            return Err(ShapeError::ZeroArea);
        }
        Ok(polygon)
    }

    /// The vertices, as given.
    pub fn vertices(&self) -> &[[f64; 2]] {
        &self.vertices
    }

    /// Whether `(x, y)` is inside (even-odd rule). Points on an edge or a vertex (within
    /// [`EDGE_TOLERANCE`]) are inside, whichever polygon they belong to: two zones sharing an
    /// edge both contain it.
    pub fn contains(&self, x: f64, y: f64) -> bool {
        let p = [x, y];
        if !near_box(self.bounds.0, self.bounds.1, p, EDGE_TOLERANCE) {
            return false;
        }
        let n = self.vertices.len();
        let mut inside = false;
        for i in 0..n {
            let (a, b) = (self.vertices[i], self.vertices[(i + 1) % n]);
            if near_box(a, b, p, EDGE_TOLERANCE) && distance2_to_segment(p, a, b) <= EDGE_TOLERANCE * EDGE_TOLERANCE {
                return true;
            }
            // Half-open in y, so a ray through a vertex is counted once.
            if (a[1] > y) != (b[1] > y) {
                let x_cross = a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
                if x < x_cross {
                    inside = !inside;
                }
            }
        }
        inside
    }

    /// Enclosed area in pixels² (shoelace formula, absolute value).
    pub fn area(&self) -> f64 {
        let n = self.vertices.len();
        let twice: f64 = (0..n)
            .map(|i| {
                let (a, b) = (self.vertices[i], self.vertices[(i + 1) % n]);
                a[0] * b[1] - b[0] * a[1]
            })
            .sum();
        0.5 * twice.abs()
    }
}

/// A side of a directed line, in the convention of [`side_of`] (image `y` down).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineSide {
    /// Left of `a → b` as seen on the screen (`side_of > 0`).
    Left,
    /// Right of `a → b` as seen on the screen (`side_of < 0`).
    Right,
}

/// A counting line segment `a → b` in pixels, with hysteresis against box jitter.
///
/// Use per track: remember the last position that was clearly on one side ([`side`](Self::side)
/// is `Some`); for each new position call [`crossing`](Self::crossing) with that remembered
/// position. A crossing counts once the point is at least `hysteresis_px` beyond the line on the
/// other side *and* its movement crosses the segment itself (passing beyond an end of the line
/// does not count). Positions inside the band never replace the remembered one, so a box
/// wobbling on the line counts nothing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CountingLine {
    a: [f64; 2],
    b: [f64; 2],
    len: f64,
}

impl CountingLine {
    /// The line from `a` to `b` (finite, distinct).
    pub fn new(a: [f64; 2], b: [f64; 2]) -> Result<CountingLine, ShapeError> {
        for (index, p) in [a, b].iter().enumerate() {
            if !p[0].is_finite() || !p[1].is_finite() {
                return Err(ShapeError::NonFinite { index });
            }
        }
        let len = (b[0] - a[0]).hypot(b[1] - a[1]);
        if len == 0.0 {
            return Err(ShapeError::DegenerateLine);
        }
        Ok(CountingLine { a, b, len })
    }

    /// Signed distance in pixels from the (infinite) line: `> 0` left of `a → b`.
    pub fn signed_distance(&self, p: [f64; 2]) -> f64 {
        side_of(self.a, self.b, p) / self.len
    }

    /// The side `p` is clearly on: `None` within `hysteresis_px` of the line.
    pub fn side(&self, p: [f64; 2], hysteresis_px: f64) -> Option<LineSide> {
        let d = self.signed_distance(p);
        if d >= hysteresis_px && d > 0.0 {
            Some(LineSide::Left)
        } else if d <= -hysteresis_px && d < 0.0 {
            Some(LineSide::Right)
        } else {
            None
        }
    }

    /// The side crossed *to*, when moving from `from` to `to` crosses the line: both points at
    /// least `hysteresis_px` from the line on opposite sides, and the movement segment meets the
    /// line segment. [`LineSide::Left`] is the `forward` direction of `line_crossings`.
    pub fn crossing(&self, from: [f64; 2], to: [f64; 2], hysteresis_px: f64) -> Option<LineSide> {
        let start = self.side(from, hysteresis_px)?;
        let end = self.side(to, hysteresis_px)?;
        (start != end && segments_intersect(from, to, self.a, self.b)).then_some(end)
    }

    /// Follows one track across this line: `memory` holds the last position that was clearly
    /// on a side. Returns the side crossed *to* when `p` completes a crossing (see
    /// [`crossing`](Self::crossing)); a position clearly on a side replaces the remembered one,
    /// a position within the band leaves it as it was.
    pub fn track(&self, memory: &mut LineMemory, p: [f64; 2], hysteresis_px: f64) -> Option<LineSide> {
        let side = self.side(p, hysteresis_px)?;
        let crossed = memory
            .last
            .filter(|&(was, anchor)| was != side && segments_intersect(anchor, p, self.a, self.b))
            .map(|_| side);
        memory.last = Some((side, p));
        crossed
    }
}

/// One track's memory of one [`CountingLine`]: the side it was last clearly on, and where.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LineMemory {
    last: Option<(LineSide, [f64; 2])>,
}

impl LineMemory {
    /// The side the track was last clearly on (`None` before its first such point).
    pub fn side(&self) -> Option<LineSide> {
        self.last.map(|(s, _)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_of_follows_the_screen_convention() {
        // a → b points right on the screen; up on the screen (smaller y) is its left.
        let (a, b) = ([0.0, 0.0], [10.0, 0.0]);
        assert!(side_of(a, b, [5.0, -3.0]) > 0.0, "above a rightward line is left");
        assert!(side_of(a, b, [5.0, 3.0]) < 0.0, "below a rightward line is right");
        assert_eq!(side_of(a, b, [20.0, 0.0]), 0.0);
        // a → b points down the screen: left as seen by the walker is +x (the screen's right).
        let (a, b) = ([0.0, 0.0], [0.0, 10.0]);
        assert!(side_of(a, b, [4.0, 5.0]) > 0.0);
        assert!(side_of(a, b, [-4.0, 5.0]) < 0.0);
        // Magnitude: |b − a| · distance.
        assert_eq!(side_of([0.0, 0.0], [0.0, 10.0], [4.0, 5.0]), 40.0);
    }

    #[test]
    fn segment_intersection_edge_cases() {
        let (a, b) = ([0.0, 0.0], [10.0, 0.0]);
        assert!(segments_intersect([5.0, -1.0], [5.0, 1.0], a, b), "proper crossing");
        assert!(!segments_intersect([11.0, -1.0], [11.0, 1.0], a, b), "passes beyond the end");
        assert!(segments_intersect([10.0, -1.0], [10.0, 1.0], a, b), "through the end point");
        assert!(segments_intersect([5.0, 0.0], [5.0, 4.0], a, b), "touches with an end");
        assert!(!segments_intersect([5.0, 0.5], [5.0, 4.0], a, b), "stops short");
        assert!(segments_intersect([8.0, 0.0], [15.0, 0.0], a, b), "collinear overlap");
        assert!(!segments_intersect([11.0, 0.0], [15.0, 0.0], a, b), "collinear, disjoint");
        assert!(segments_intersect([10.0, 0.0], [15.0, 0.0], a, b), "collinear, sharing an end");
        assert!(!segments_intersect([0.0, 1.0], [10.0, 1.0], a, b), "parallel");
        assert!(segments_intersect([3.0, 0.0], [3.0, 0.0], a, b), "a point segment on the line");
        // Symmetric in its two segments.
        assert!(segments_intersect(a, b, [5.0, -1.0], [5.0, 1.0]));
        assert!(!segments_intersect(a, b, [11.0, -1.0], [11.0, 1.0]));
    }

    #[test]
    fn distance_to_segment_clamps_to_the_ends() {
        let (a, b) = ([0.0, 0.0], [10.0, 0.0]);
        assert_eq!(distance_to_segment([5.0, 3.0], a, b), 3.0);
        assert_eq!(distance_to_segment([13.0, 4.0], a, b), 5.0);
        assert_eq!(distance_to_segment([-3.0, -4.0], a, b), 5.0);
        assert_eq!(distance_to_segment([1.0, 1.0], a, a), 2f64.sqrt());
    }

    #[test]
    fn convex_polygon_contains() {
        let square = Polygon::new(&[[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]]).unwrap();
        assert_eq!(square.area(), 100.0);
        assert!(square.contains(5.0, 5.0));
        assert!(!square.contains(15.0, 5.0));
        assert!(!square.contains(-0.001, 5.0));
        assert!(!square.contains(5.0, 10.001));
        // Edges and vertices are inside.
        for (x, y) in [(0.0, 5.0), (10.0, 5.0), (5.0, 0.0), (5.0, 10.0), (0.0, 0.0), (10.0, 10.0)] {
            assert!(square.contains(x, y), "({x}, {y}) is on the boundary");
        }
        // Winding does not matter.
        let reversed = Polygon::new(&[[0.0, 10.0], [10.0, 10.0], [10.0, 0.0], [0.0, 0.0]]).unwrap();
        assert_eq!(reversed.area(), 100.0);
        assert!(reversed.contains(5.0, 5.0) && !reversed.contains(11.0, 5.0));
    }

    #[test]
    fn concave_polygon_contains() {
        // A "U": the notch (4..6, 4..10) is outside.
        let u = Polygon::new(&[
            [0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [6.0, 10.0], [6.0, 4.0], [4.0, 4.0], [4.0, 10.0], [0.0, 10.0],
        ])
        .unwrap();
        assert_eq!(u.area(), 100.0 - 12.0);
        assert!(u.contains(2.0, 8.0), "left arm");
        assert!(u.contains(8.0, 8.0), "right arm");
        assert!(u.contains(5.0, 2.0), "base");
        assert!(!u.contains(5.0, 8.0), "the notch");
        assert!(u.contains(5.0, 4.0), "the notch's bottom edge");
        // A horizontal ray through the notch's corners (y = 4) and one through the arms' tops
        // (y = 10) must not double count vertices.
        assert!(u.contains(1.0, 4.0) && u.contains(9.0, 4.0) && !u.contains(-1.0, 4.0) && !u.contains(11.0, 4.0));
        assert!(!u.contains(-1.0, 10.0) && !u.contains(5.0, 10.0) && u.contains(2.0, 10.0));
    }

    #[test]
    fn bad_shapes_are_rejected() {
        assert_eq!(Polygon::new(&[[0.0, 0.0], [1.0, 1.0]]), Err(ShapeError::TooFewVertices { got: 2 }));
        assert_eq!(Polygon::new(&[[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]), Err(ShapeError::ZeroArea));
        assert_eq!(Polygon::new(&[[0.0, 0.0], [f64::NAN, 1.0], [2.0, 0.0]]), Err(ShapeError::NonFinite { index: 1 }));
        assert_eq!(CountingLine::new([1.0, 1.0], [1.0, 1.0]), Err(ShapeError::DegenerateLine));
        assert_eq!(CountingLine::new([1.0, 1.0], [f64::INFINITY, 1.0]), Err(ShapeError::NonFinite { index: 1 }));
    }

    #[test]
    fn counting_line_hysteresis() {
        // A line across the road, a → b pointing right: "up the screen" is Left.
        let line = CountingLine::new([100.0, 500.0], [900.0, 500.0]).unwrap();
        let h = 5.0;
        assert_eq!(line.side([500.0, 520.0], h), Some(LineSide::Right));
        assert_eq!(line.side([500.0, 480.0], h), Some(LineSide::Left));
        assert_eq!(line.side([500.0, 503.0], h), None, "inside the band");
        // Driving up the screen through the line: counts, towards Left (forward).
        assert_eq!(line.crossing([500.0, 520.0], [500.0, 480.0], h), Some(LineSide::Left));
        assert_eq!(line.crossing([500.0, 480.0], [500.0, 520.0], h), Some(LineSide::Right));
        // Jitter from clearly below to within the band does not count.
        assert_eq!(line.crossing([500.0, 520.0], [500.0, 497.0], h), None);
        // Passing beyond the end of the segment does not count.
        assert_eq!(line.crossing([950.0, 520.0], [950.0, 480.0], h), None);
        // Staying on one side does not count.
        assert_eq!(line.crossing([500.0, 520.0], [600.0, 540.0], h), None);
        // Zero hysteresis still needs a strict side on both ends.
        assert_eq!(line.crossing([500.0, 500.0], [500.0, 480.0], 0.0), None);
        assert_eq!(line.crossing([500.0, 501.0], [500.0, 499.0], 0.0), Some(LineSide::Left));
    }

    #[test]
    fn a_tracked_line_counts_each_crossing_once() {
        let line = CountingLine::new([100.0, 500.0], [900.0, 500.0]).unwrap();
        let h = 5.0;
        let mut m = LineMemory::default();
        let mut walk = |y: f64, x: f64| line.track(&mut m, [x, y], h);
        assert_eq!(walk(520.0, 500.0), None, "the first point only sets the side");
        assert_eq!(walk(503.0, 500.0), None, "inside the band");
        assert_eq!(walk(497.0, 500.0), None, "inside the band, other side");
        assert_eq!(walk(480.0, 500.0), Some(LineSide::Left), "crossed up the screen: forward");
        assert_eq!(walk(470.0, 500.0), None, "staying on the new side");
        assert_eq!(walk(520.0, 2000.0), None, "back, passing beyond the end of the segment");
        assert_eq!(m.side(), Some(LineSide::Right), "but the side follows the point");
        assert_eq!(line.track(&mut m, [500.0, 470.0], h), None, "from (2000, 520): beyond the end again");
        assert_eq!(line.track(&mut m, [500.0, 520.0], h), Some(LineSide::Right), "down the screen: backward");
        // The band never replaces the remembered point: wobbling on the line counts nothing.
        let mut m = LineMemory::default();
        for y in [520.0, 502.0, 498.0, 502.0, 498.0, 521.0] {
            assert_eq!(line.track(&mut m, [500.0, y], h), None);
        }
        // Zero hysteresis: a point exactly on the line is on no side.
        let mut m = LineMemory::default();
        assert_eq!(line.track(&mut m, [500.0, 501.0], 0.0), None);
        assert_eq!(line.track(&mut m, [500.0, 500.0], 0.0), None);
        assert_eq!(m.side(), Some(LineSide::Right));
        assert_eq!(line.track(&mut m, [500.0, 499.0], 0.0), Some(LineSide::Left));
    }
}
