//! The homography against an analytic pinhole camera, and its rejection of bad calibrations.

mod common;

use common::{Pinhole, Rng};
use itscam_geo::{CalibrationError, Homography, PointSet};

/// Ground points spread over the visible road, including ones away from the calibration points.
fn check_grid() -> Vec<[f64; 2]> {
    let mut out = Vec::new();
    for xi in 0..7 {
        for yi in 0..11 {
            out.push([-6.0 + 2.0 * xi as f64, 10.0 + 5.0 * yi as f64]);
        }
    }
    out
}

fn calibrate(cam: &Pinhole, world: &[[f64; 2]]) -> (Vec<[f64; 2]>, Homography) {
    let image: Vec<[f64; 2]> = world.iter().map(|g| cam.image_of(g[0], g[1]).unwrap()).collect();
    let h = Homography::fit(&image, world).unwrap();
    (image, h)
}

/// Largest ground error (metres) over the check grid.
fn worst_ground_error(cam: &Pinhole, h: &Homography) -> f64 {
    check_grid()
        .iter()
        .map(|g| {
            let p = cam.image_of(g[0], g[1]).unwrap();
            let (x, y) = h.project(p[0], p[1]).unwrap();
            (x - g[0]).hypot(y - g[1])
        })
        .fold(0.0, f64::max)
}

const FOUR: [[f64; 2]; 4] = [[-3.5, 15.0], [3.5, 15.0], [3.5, 45.0], [-3.5, 45.0]];
const EIGHT: [[f64; 2]; 8] =
    [[-3.5, 12.0], [3.5, 12.0], [3.5, 50.0], [-3.5, 50.0], [0.0, 20.0], [-5.0, 30.0], [5.0, 35.0], [1.0, 42.0]];

#[test]
fn pinhole_helper_is_self_consistent() {
    let cam = Pinhole::roadside();
    for g in check_grid() {
        let p = cam.image_of(g[0], g[1]).unwrap();
        let back = cam.ground_of(p[0], p[1]).unwrap();
        assert!((back[0] - g[0]).abs() < 1e-9 && (back[1] - g[1]).abs() < 1e-9);
    }
}

#[test]
fn four_pairs_reproduce_the_camera() {
    for cam in [Pinhole::roadside(), Pinhole::new(1000.0, [1280.0, 720.0], [2.0, -3.0], 8.0, 33.0, -12.0)] {
        let (image, h) = calibrate(&cam, &FOUR);
        let worst = worst_ground_error(&cam, &h);
        assert!(worst < 1e-3, "ground error {worst} m");
        assert!(h.reprojection_error().max_m < 1e-6);
        // The inverse maps ground back to the same pixels.
        for g in check_grid() {
            let want = cam.image_of(g[0], g[1]).unwrap();
            let (u, v) = h.image_of(g[0], g[1]).unwrap();
            assert!((u - want[0]).hypot(v - want[1]) < 1e-6, "{g:?}: ({u}, {v}) vs {want:?}");
        }
        assert_eq!(h.image_points(), &image[..]);
        assert_eq!(h.world_points(), &FOUR[..]);
    }
}

#[test]
fn eight_pairs_reproduce_the_camera() {
    let cam = Pinhole::roadside();
    let (_, h) = calibrate(&cam, &EIGHT);
    let worst = worst_ground_error(&cam, &h);
    assert!(worst < 1e-3, "ground error {worst} m");
    let err = h.reprojection_error();
    assert!(err.rms_m < 1e-6 && err.max_m < 1e-6, "{err:?}");
}

#[test]
fn noisy_pairs_report_their_reprojection_error() {
    let cam = Pinhole::roadside();
    let mut rms_all = Vec::new();
    for seed in 1..=20 {
        let mut rng = Rng::new(seed);
        let image: Vec<[f64; 2]> = EIGHT
            .iter()
            .map(|g| {
                let p = cam.image_of(g[0], g[1]).unwrap();
                [p[0] + 0.5 * rng.normal(), p[1] + 0.5 * rng.normal()]
            })
            .collect();
        let h = Homography::fit(&image, &EIGHT).unwrap();
        let err = h.reprojection_error();
        // Half a pixel is 1 cm of ground at 12 m and 11 cm at 50 m along the viewing direction:
        // the least-squares residual shows the noise, at that scale.
        assert!(err.rms_m > 1e-3, "seed {seed}: noise must show in the error: {err:?}");
        assert!(err.rms_m < 0.2, "seed {seed}: {err:?}");
        assert!(err.max_m >= err.rms_m && err.max_m < 0.4, "seed {seed}: {err:?}");
        // The reported worst pair really is the worst.
        let (x, y) = h.project(image[err.worst_pair][0], image[err.worst_pair][1]).unwrap();
        let w = EIGHT[err.worst_pair];
        assert!(((x - w[0]).hypot(y - w[1]) - err.max_m).abs() < 1e-12);
        // Inside the calibrated area the map stays accurate to centimetres.
        for g in [[0.0, 15.0], [-2.0, 25.0], [2.0, 40.0]] {
            let p = cam.image_of(g[0], g[1]).unwrap();
            let (x, y) = h.project(p[0], p[1]).unwrap();
            assert!((x - g[0]).hypot(y - g[1]) < 0.3, "seed {seed}: {g:?} → ({x}, {y})");
        }
        rms_all.push(err.rms_m);
    }
    let mean = rms_all.iter().sum::<f64>() / rms_all.len() as f64;
    assert!(mean < 0.08, "mean reprojection RMS {mean} m");
    eprintln!("0.5 px noise on 8 pairs: reprojection RMS {mean:.3} m on average, {:.3} m at most",
        rms_all.iter().cloned().fold(0.0, f64::max));
}

#[test]
fn a_wrong_pair_shows_in_the_error() {
    let cam = Pinhole::roadside();
    let mut world = EIGHT.to_vec();
    let image: Vec<[f64; 2]> = world.iter().map(|g| cam.image_of(g[0], g[1]).unwrap()).collect();
    assert!(Homography::fit(&image, &world).unwrap().reprojection_error().max_m < 1e-6);
    world[5][1] += 2.0; // a 2 m typo
    let err = Homography::fit(&image, &world).unwrap().reprojection_error();
    // Least squares spreads the typo over the other pairs, so it is not necessarily the worst
    // one, but the calibration no longer looks clean.
    assert!(err.rms_m > 0.3 && err.max_m > 0.5, "{err:?}");
}

#[test]
fn horizon_and_behind_the_camera_have_no_answer() {
    let cam = Pinhole::roadside();
    let (_, h) = calibrate(&cam, &FOUR);
    // Tilted 25° with a 540 px half-height at f = 1400: the horizon is 653 px above the centre,
    // i.e. at y ≈ −113 (above the image). Just below it the ground is far away; above it, none.
    let horizon = 540.0 - 1400.0 * 25f64.to_radians().tan();
    let (x0, _) = (960.0, 0.0);
    let (_, far) = h.project(x0, horizon + 20.0).unwrap();
    assert!(far > 300.0, "{far}");
    assert_eq!(h.project(x0, horizon - 1.0), None);
    assert_eq!(h.project(x0, horizon - 500.0), None);
    assert_eq!(h.jacobian(x0, horizon - 1.0), None);
    // Ground behind the camera (it stands at Y = 0 looking towards +Y) has no image.
    assert_eq!(h.image_of(-5.0, -30.0), None);
    assert!(h.image_of(-5.0, 30.0).is_some());
}

#[test]
fn jacobian_matches_finite_differences_and_grows_with_distance() {
    let cam = Pinhole::roadside();
    let (_, h) = calibrate(&cam, &EIGHT);
    let mut last_std = 0.0;
    for y in [10.0, 20.0, 40.0, 80.0] {
        let p = cam.image_of(0.0, y).unwrap();
        let j = h.jacobian(p[0], p[1]).unwrap();
        let d = 1e-3;
        let gx = (cam.ground_of(p[0] + d, p[1]).unwrap(), cam.ground_of(p[0] - d, p[1]).unwrap());
        let gy = (cam.ground_of(p[0], p[1] + d).unwrap(), cam.ground_of(p[0], p[1] - d).unwrap());
        let num = [
            [(gx.0[0] - gx.1[0]) / (2.0 * d), (gy.0[0] - gy.1[0]) / (2.0 * d)],
            [(gx.0[1] - gx.1[1]) / (2.0 * d), (gy.0[1] - gy.1[1]) / (2.0 * d)],
        ];
        for r in 0..2 {
            for c in 0..2 {
                assert!((j[r][c] - num[r][c]).abs() < 1e-6 * (1.0 + num[r][c].abs()), "y={y}: {j:?} vs {num:?}");
            }
        }
        let std = h.ground_std_m(p[0], p[1], 1.0).unwrap();
        // At least the metres per pixel along the image column (the viewing direction).
        assert!(std >= num[1][1].abs() * 0.999 && std > last_std, "y={y}: {std}");
        last_std = std;
    }
    // Roughly D²/(f·h) per pixel along the road far away: 80²/(1400·8) ≈ 0.57 m.
    assert!(last_std > 0.3 && last_std < 1.0, "{last_std}");
}

fn fit_err(image: &[[f64; 2]], world: &[[f64; 2]]) -> CalibrationError {
    Homography::fit(image, world).expect_err("must be rejected")
}

#[test]
fn bad_calibrations_are_rejected_with_a_reason() {
    let cam = Pinhole::roadside();
    let image: Vec<[f64; 2]> = EIGHT.iter().map(|g| cam.image_of(g[0], g[1]).unwrap()).collect();

    assert_eq!(fit_err(&image[..3], &EIGHT[..3]), CalibrationError::TooFewPairs { pairs: 3 });
    assert_eq!(fit_err(&image[..5], &EIGHT[..4]), CalibrationError::CountMismatch { image: 5, world: 4 });

    let mut nan = EIGHT.to_vec();
    nan[2][1] = f64::NAN;
    assert_eq!(fit_err(&image, &nan), CalibrationError::NonFinite { set: PointSet::World, index: 2 });
    let mut inf = image.clone();
    inf[6][0] = f64::INFINITY;
    assert_eq!(fit_err(&inf, &EIGHT), CalibrationError::NonFinite { set: PointSet::Image, index: 6 });

    let mut dup = image.clone();
    dup[3] = dup[1];
    assert_eq!(fit_err(&dup, &EIGHT), CalibrationError::DuplicatePoints { set: PointSet::Image, first: 1, second: 3 });

    // Three world points on one line (a lane edge) while their image points are not: the lists
    // contradict each other, and the world list is named.
    let world = [[-3.5, 10.0], [-3.5, 20.0], [-3.5, 30.0], [3.5, 20.0]];
    assert_eq!(fit_err(&image[..4], &world), CalibrationError::Collinear { set: PointSet::World, indices: vec![0, 1, 2] });
    // Consistent lists (the image of a line is a line): the image list is checked first.
    let img: Vec<[f64; 2]> = world.iter().map(|g| cam.image_of(g[0], g[1]).unwrap()).collect();
    assert_eq!(fit_err(&img, &world), CalibrationError::Collinear { set: PointSet::Image, indices: vec![0, 1, 2] });

    // Nearly collinear: 1 cm off a 20 m line is no better.
    let world = [[-3.5, 10.0], [-3.49, 20.0], [-3.5, 30.0], [3.5, 20.0]];
    assert!(matches!(fit_err(&image[..4], &world), CalibrationError::Collinear { set: PointSet::World, .. }));

    // Six image points on one line (all of them).
    let line_img: Vec<[f64; 2]> = (0..6).map(|i| [100.0 + 150.0 * i as f64, 900.0 - 80.0 * i as f64]).collect();
    assert_eq!(
        fit_err(&line_img, &EIGHT[..6]),
        CalibrationError::Collinear { set: PointSet::Image, indices: vec![0, 1, 2, 3, 4, 5] }
    );

    // Five pairs, four on a line: every choice of four has three on it.
    let mut five = line_img[..5].to_vec();
    five[2] = [700.0, 200.0];
    assert_eq!(fit_err(&five, &EIGHT[..5]), CalibrationError::Collinear { set: PointSet::Image, indices: vec![0, 1, 3, 4] });

    // The same four points, world listed in a crossed order: the fit would put the horizon
    // through the calibration area.
    let (_, good) = calibrate(&cam, &FOUR);
    let crossed = [FOUR[0], FOUR[1], FOUR[3], FOUR[2]];
    let err = fit_err(good.image_points(), &crossed);
    assert!(matches!(err, CalibrationError::HorizonBetweenPoints { .. }), "{err:?}");
    assert!(err.to_string().contains("same order"), "{err}");
}

#[test]
fn error_messages_name_the_points() {
    let msg = CalibrationError::DuplicatePoints { set: PointSet::World, first: 0, second: 2 }.to_string();
    assert!(msg.contains("world[0]") && msg.contains("world[2]"), "{msg}");
    let msg = CalibrationError::TooFewPairs { pairs: 3 }.to_string();
    assert!(msg.contains("at least 4") && msg.contains("got 3"), "{msg}");
}
