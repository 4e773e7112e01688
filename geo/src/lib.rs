//! Geometry core of the itscam traffic queries, pure arithmetic with no dataflow dependency:
//!
//! - [`homography`]: per-camera calibration, ≥ 4 image ↔ ground point pairs → a homography
//!   (normalized DLT), its reprojection error in metres, and its Jacobian;
//! - [`polygon`]: zones (point in polygon) and counting lines (side of a line, crossings with
//!   hysteresis), in image pixels;
//! - [`speed`]: a constant-velocity Kalman filter on the ground plane that turns a track's noisy
//!   ground positions into speed and heading;
//! - [`smooth`]: a fixed-lag Rauch–Tung–Striebel smoother behind that filter, for speeds that
//!   may wait half a second.
//!
//! The ground point of a detection box is its bottom centre ([`ground_point`]).
#![warn(missing_docs)]

pub mod homography;
mod linalg;
pub mod polygon;
pub mod smooth;
pub mod speed;

pub use homography::{CalibrationError, Homography, OffsetImages, PointSet, ReprojectionError};
pub use polygon::{CountingLine, LineMemory, LineSide, Polygon, ShapeError, distance_to_segment, segments_intersect, side_of};
pub use smooth::{FixedLagSmoother, Smoothed};
pub use speed::{FilterConfig, GroundFilter, Update, ground_point};
