//! The fixed-lag smoother next to the causal filter, on the same synthetic measurements the
//! filter's tests use (analytic pinhole camera, box jitter, missed frames): constant speed,
//! acceleration, braking to a stop, standstill, restarts, and the numbers its module docs quote.

mod common;

use common::{Pinhole, Rng};
use itscam_geo::{FilterConfig, FixedLagSmoother, Homography, Smoothed, Update, ground_point};

const KMH: f64 = 1.0 / 3.6;
const LAG_MS: u64 = 1000;

/// One measurement's readings: time (s), true speed, the filter's at that time, the smoother's.
#[derive(Clone, Copy, Debug)]
struct Reading {
    t: f64,
    truth: f64,
    filtered: f64,
    filter_warm: bool,
    smoothed: Option<Smoothed>,
}

fn calibrated() -> (Pinhole, Homography) {
    let cam = Pinhole::roadside();
    let world = [[-3.5, 12.0], [3.5, 12.0], [3.5, 50.0], [-3.5, 50.0], [0.0, 30.0], [-5.0, 25.0]];
    let image: Vec<[f64; 2]> = world.iter().map(|g| cam.image_of(g[0], g[1]).unwrap()).collect();
    (cam, Homography::fit(&image, &world).unwrap())
}

/// Drives `motion(t) -> (ground position, true speed m/s)` through the camera, 1.5 px of jitter
/// and 10 % missed frames, into a smoother with `lag_ms`, popping every due reading after each
/// measurement (as the observe step does) and the rest at the end (the track ended).
fn simulate(fps: f64, seconds: f64, seed: u64, lag_ms: u64, motion: impl Fn(f64) -> ([f64; 2], f64)) -> Vec<Reading> {
    let (cam, hom) = calibrated();
    let mut rng = Rng::new(seed);
    let mut s: FixedLagSmoother<(f64, f64)> = FixedLagSmoother::new(FilterConfig::vehicles(), lag_ms);
    // The filter's reading at each measurement, in order; the smoother's come back in order.
    let mut filtered = Vec::new();
    let mut out = Vec::new();
    let frames = (seconds * fps) as u32;
    for i in 0..frames {
        let t = f64::from(i) / fps;
        let (g, speed) = motion(t);
        let missed = rng.uniform() < 0.1;
        let (jx, jy) = (1.5 * rng.normal(), 1.5 * rng.normal());
        if missed {
            continue;
        }
        let p = cam.image_of(g[0], g[1]).unwrap();
        let (u, v) = (p[0] + jx, p[1] + jy);
        let (gu, gv) = ground_point([(u - 60.0) as f32, (v - 90.0) as f32, (u + 60.0) as f32, v as f32]);
        let (x, y) = hom.project(gu, gv).unwrap();
        let sigma = hom.ground_std_m(gu, gv, 1.5).unwrap();
        let ts_ms = (t * 1000.0).round() as u64;
        let what = s.update(ts_ms, x, y, sigma, (t, speed / KMH));
        assert!(matches!(what, Update::Initialized | Update::Accepted), "t={t}: {what:?}");
        filtered.push((s.filter().speed_kmh(), s.filter().is_warm()));
        out.extend(std::iter::from_fn(|| s.pop_due(ts_ms)));
        assert!(s.pending() <= (lag_ms as f64 / 1000.0 * fps) as usize + 1, "bounded by one lag of frames");
    }
    out.extend(std::iter::from_fn(|| s.pop()));
    assert_eq!(filtered.len(), out.len(), "every measurement comes back once");
    out.into_iter()
        .zip(filtered)
        .map(|(((t, truth), smoothed), (filtered, filter_warm))| Reading { t, truth, filtered, filter_warm, smoothed })
        .collect()
}

/// (MAE, p95) in km/h of `est` over the readings after 1 s of `seeds` runs.
fn pooled(seeds: std::ops::RangeInclusive<u64>, run: impl Fn(u64) -> Vec<Reading>) -> Vec<Reading> {
    let mut all = Vec::new();
    for seed in seeds {
        let r = run(seed);
        assert!(r.iter().filter(|r| r.t >= 1.0).all(|r| r.filter_warm && r.smoothed.is_some_and(|s| s.warm)), "seed {seed}: warm after 1 s");
        all.extend(r.into_iter().filter(|r| r.t >= 1.0));
    }
    all
}

fn stats(all: &[Reading], est: impl Fn(&Reading) -> f64) -> (f64, f64, f64) {
    let mut e: Vec<f64> = all.iter().map(|r| (est(r) - r.truth).abs()).collect();
    assert!(e.len() > 10);
    e.sort_by(f64::total_cmp);
    let mae = e.iter().sum::<f64>() / e.len() as f64;
    let p95 = e[((e.len() as f64 * 0.95).ceil() as usize).min(e.len()) - 1];
    let bias = all.iter().map(|r| est(r) - r.truth).sum::<f64>() / all.len() as f64;
    (mae, p95, bias)
}

fn smoothed(r: &Reading) -> f64 {
    r.smoothed.expect("a reading").speed_kmh
}

/// Filter and smoother (MAE, p95, bias) on the same runs, printed as the module docs quote them.
fn compare(name: &str, all: &[Reading]) -> ((f64, f64, f64), (f64, f64, f64)) {
    let (f, s) = (stats(all, |r| r.filtered), stats(all, smoothed));
    eprintln!("{name}: filter MAE {:.2} p95 {:.2} bias {:.2}; smoother MAE {:.2} p95 {:.2} bias {:.2} km/h", f.0, f.1, f.2, s.0, s.1, s.2);
    (f, s)
}

fn constant_50(t: f64) -> ([f64; 2], f64) {
    let v = 50.0 * KMH;
    ([1.75, 12.0 + v * t], v)
}

/// From a standstill at Y = 8 m: 2.5 m/s² up to 60 km/h, then 60 km/h.
fn accelerating(t: f64) -> ([f64; 2], f64) {
    let (a, top) = (2.5, 60.0 * KMH);
    let t_end = top / a;
    if t < t_end { ([1.75, 8.0 + 0.5 * a * t * t], a * t) } else { ([1.75, 8.0 + 0.5 * a * t_end * t_end + top * (t - t_end)], top) }
}

/// Towards the camera from Y = 60 m at 50 km/h, braking at 3 m/s² from 1.5 s to a stop
/// (4.6 s later, at Y ≈ 18 m), then standing: a car stopping at a red light.
fn braking(t: f64) -> ([f64; 2], f64) {
    let (v0, a, t0) = (50.0 * KMH, 3.0, 1.5);
    let t_stop = t0 + v0 / a;
    let y0 = 60.0 - v0 * t0;
    let y = if t < t0 {
        60.0 - v0 * t
    } else if t < t_stop {
        let d = t - t0;
        y0 - (v0 * d - 0.5 * a * d * d)
    } else {
        y0 - v0 * v0 / (2.0 * a)
    };
    let v = if t < t0 { v0 } else { (v0 - a * (t - t0)).max(0.0) };
    ([1.75, y], v)
}

#[test]
fn constant_speed_is_steadier() {
    for (fps, seeds) in [(25.0, 1..=10), (10.0, 21..=30)] {
        let all = pooled(seeds, |seed| simulate(fps, 3.5, seed, LAG_MS, constant_50));
        let (f, s) = compare(&format!("50 km/h, {fps} fps"), &all);
        assert!(s.0 < 0.75 * f.0 && s.1 < 0.75 * f.1, "{fps} fps: smoother {s:?} vs filter {f:?}");
        assert!(s.2.abs() < 0.3, "{fps} fps: bias {} km/h", s.2);
    }
}

#[test]
fn acceleration_no_longer_trails() {
    let all = pooled(31..=40, |seed| simulate(25.0, 8.0, seed, LAG_MS, accelerating));
    let (f, s) = compare("0→60 km/h at 2.5 m/s², 25 fps", &all);
    let during: Vec<Reading> = all.iter().copied().filter(|r| r.t > 2.0 && r.t < 6.5).collect();
    let (_, _, f_bias) = stats(&during, |r| r.filtered);
    let (_, _, s_bias) = stats(&during, smoothed);
    eprintln!("  mean error while accelerating: filter {f_bias:.2}, smoother {s_bias:.2} km/h");
    // The filter trails by a·τ; half a second of look-ahead centres the estimate.
    assert!(f_bias < -1.0, "the filter's lag is visible: {f_bias}");
    assert!(s_bias.abs() < 0.25 * f_bias.abs(), "smoother bias {s_bias} vs filter {f_bias}");
    assert!(s.0 < 0.5 * f.0 && s.1 < 0.6 * f.1, "smoother {s:?} vs filter {f:?}");
}

#[test]
fn braking_to_a_stop() {
    let all = pooled(41..=50, |seed| simulate(10.0, 9.0, seed, LAG_MS, braking));
    let (f, s) = compare("50→0 km/h at 3 m/s², 10 fps", &all);
    assert!(s.0 < 0.6 * f.0 && s.1 < 0.7 * f.1, "smoother {s:?} vs filter {f:?}");
    // Standing after the stop reads (near) zero: the debiasing still works after smoothing.
    let standing: Vec<f64> = all.iter().filter(|r| r.t > 7.0).map(smoothed).collect();
    let mean = standing.iter().sum::<f64>() / standing.len() as f64;
    assert!(mean < 0.5, "standing reads {mean} km/h");
}

#[test]
fn standing_car_reads_near_zero() {
    let all = pooled(51..=60, |seed| simulate(25.0, 5.0, seed, LAG_MS, |_| ([1.75, 25.0], 0.0)));
    let (f, s) = compare("standing at 25 m, 25 fps", &all);
    assert!(s.0 < 0.5 && s.1 < 1.5, "smoother {s:?} (filter {f:?})");
}

#[test]
fn zero_lag_is_the_filter() {
    let r = simulate(25.0, 3.5, 70, 0, constant_50);
    for x in &r {
        let s = x.smoothed.expect("a reading");
        assert_eq!(s.speed_kmh, x.filtered, "t={}", x.t);
        assert_eq!(s.warm, x.filter_warm, "t={}", x.t);
    }
}

#[test]
fn readings_do_not_depend_on_when_they_are_popped() {
    // Popping each reading as soon as it is due, or long after (with later measurements
    // queued), gives the same numbers: the pass never looks beyond the lag.
    let (cam, hom) = calibrated();
    let mut prompt: FixedLagSmoother<u64> = FixedLagSmoother::new(FilterConfig::vehicles(), LAG_MS);
    let mut late: FixedLagSmoother<u64> = FixedLagSmoother::new(FilterConfig::vehicles(), LAG_MS);
    let mut rng = Rng::new(80);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..100u64 {
        let (g, _) = constant_50(i as f64 / 25.0);
        let p = cam.image_of(g[0], g[1]).unwrap();
        let (u, v) = (p[0] + 1.5 * rng.normal(), p[1] + 1.5 * rng.normal());
        let (x, y) = hom.project(u, v).unwrap();
        let sigma = hom.ground_std_m(u, v, 1.5).unwrap();
        prompt.update(i * 40, x, y, sigma, i);
        late.update(i * 40, x, y, sigma, i);
        a.extend(std::iter::from_fn(|| prompt.pop_due(i * 40)));
        if i % 30 == 29 {
            b.extend(std::iter::from_fn(|| late.pop_due(i * 40)));
        }
    }
    b.extend(std::iter::from_fn(|| late.pop_due(99 * 40)));
    assert!(a.len() > 60);
    assert_eq!(a, b[..a.len()]);
}

#[test]
fn nothing_is_smoothed_across_a_restart() {
    // 50 km/h; from 2.0 s the track follows a car 20 m further on (an id switch): the filter
    // restarts after `max_gated` outliers. Readings before the jump know nothing of it.
    let cfg = FilterConfig::vehicles();
    let mut s: FixedLagSmoother<f64> = FixedLagSmoother::new(cfg, LAG_MS);
    let mut outcomes = Vec::new();
    let mut out = Vec::new();
    for i in 0..100u32 {
        let t = f64::from(i) / 25.0;
        let (g, _) = constant_50(t);
        let y = if t >= 2.0 { g[1] + 20.0 } else { g[1] };
        outcomes.push(s.update((t * 1000.0).round() as u64, g[0], y, 0.1, t));
        out.extend(std::iter::from_fn(|| s.pop_due((t * 1000.0).round() as u64)));
    }
    out.extend(std::iter::from_fn(|| s.pop()));
    assert_eq!(outcomes.iter().filter(|u| **u == Update::Reinitialized).count(), 1);
    assert_eq!(out.len(), 100);
    for (t, r) in &out {
        let r = r.expect("every measurement has a node");
        // Noise-free positions: before the jump and well after the restart, exactly 50 km/h.
        if (*t > 0.5 && *t < 2.0) || *t > 3.0 {
            assert!((r.speed_kmh - 50.0).abs() < 0.5, "t={t}: {} km/h", r.speed_kmh);
        }
    }
}

#[test]
fn skipped_and_invalid_measurements_come_back_without_a_reading() {
    let mut s: FixedLagSmoother<&str> = FixedLagSmoother::new(FilterConfig::vehicles(), 100);
    assert_eq!(s.update(0, 0.0, 0.0, 0.3, "first"), Update::Initialized);
    s.skip(40, "no ground point");
    assert_eq!(s.update(80, f64::NAN, 0.0, 0.3, "nan"), Update::Invalid);
    assert_eq!(s.update(120, 0.0, 1.0, 0.3, "second"), Update::Accepted);
    assert_eq!(s.pending(), 4);
    assert_eq!(s.oldest_ts_ms(), Some(0));
    assert!(s.pop_due(99).is_none(), "not yet a lag old");
    let (p, r) = s.pop_due(100).unwrap();
    assert_eq!(p, "first");
    assert!(r.is_some_and(|r| !r.warm), "two measurements are not enough");
    assert_eq!(s.pop_due(140).map(|(p, r)| (p, r.is_none())), Some(("no ground point", true)));
    assert_eq!(s.pop_due(180).map(|(p, r)| (p, r.is_none())), Some(("nan", true)));
    assert!(s.pop_due(180).is_none());
    assert_eq!(s.pop().map(|(p, r)| (p, r.is_some())), Some(("second", true)));
    assert_eq!(s.pending(), 0);
}

/// A car at 50 km/h from 40 to 90 m: at 10 fps, 1.5 px there is 0.6–2.4 m of road, the
/// noisiest stretch of a far-looking camera, where the filter's time constant nears 1 s.
fn far_50(t: f64) -> ([f64; 2], f64) {
    let v = 50.0 * KMH;
    ([1.75, 40.0 + v * t], v)
}

/// The gain of each lag over the filter on the far stretch (the module docs' lag choice):
/// most of it by 1 s, little more after.
#[test]
fn longer_lags_help_far_away_up_to_about_a_second() {
    let mae = |lag: u64| {
        let all = pooled(91..=100, |seed| simulate(10.0, 3.5, seed, lag, far_50));
        let (f, s) = compare(&format!("50 km/h at 40–90 m, 10 fps, lag {lag} ms"), &all);
        (f.0, s.0)
    };
    let (filter, m250) = mae(250);
    let (_, m500) = mae(500);
    let (_, m1000) = mae(1000);
    let (_, m2000) = mae(2000);
    assert!(m250 > m500 && m500 > m1000 && m1000 >= m2000 - 0.05, "{m250} {m500} {m1000} {m2000}");
    // From 0.5 to 1 s the error still drops by a tenth or more; from 1 to 2 s by much less.
    assert!(m1000 < 0.9 * m500, "0.5 → 1 s: {m500} → {m1000}");
    assert!(m500 - m1000 > 2.0 * (m1000 - m2000), "1 → 2 s gains little: {m1000} → {m2000}");
    assert!(m1000 < 0.7 * filter, "filter {filter}, lag 1 s {m1000}");
}
