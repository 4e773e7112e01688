//! What several query tests share: one calibrated camera (1000 × 1000 px over a 50 m square).

/// Capture time of the first frame.
pub const T0: u64 = 1_767_225_600_000;

/// The TOML of camera `cam-1` (stdin detections) with its calibration; a test appends its zones,
/// lines and rules: `concat!(calibrated_camera!(), r#"…"#)`.
macro_rules! calibrated_camera {
    () => {
        r#"
[[camera]]
id = "cam-1"
source = "detections:-"
[camera.calibration]
image = [[0, 0], [1000, 0], [1000, 1000], [0, 1000]]
world = [[0, 50], [50, 50], [50, 0], [0, 0]]
"#
    };
}
pub(crate) use calibrated_camera;
