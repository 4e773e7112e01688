//! Fixed-lag smoothing of a track's speed: the estimate at time `t` from the measurements up to
//! `t + lag`.
//!
//! # Method
//!
//! [`FixedLagSmoother`] runs the causal [`GroundFilter`] and keeps, for every measurement of
//! the last `lag`, the filter's estimate at that time (a *node*: mean and covariance; a gated
//! measurement leaves the prediction to its time, so every measurement has a node). Once a
//! measurement is `lag` old ([`pop_due`](FixedLagSmoother::pop_due)) its estimate is refined
//! by a Rauch–Tung–Striebel backward pass from the newest node within its lag down to it:
//!
//! ```text
//! G   = P(k|k) Fᵀ P(k+1|k)⁻¹
//! x(k|N) = x(k|k) + G (x(k+1|N) − F x(k|k))
//! P(k|N) = P(k|k) + G (P(k+1|N) − P(k+1|k)) Gᵀ
//! ```
//!
//! with the filter's own model (`F`, and the white-noise acceleration `Q` over each gap), so
//! irregular intervals and gaps need nothing special. The per-axis 2×2 blocks keep it at a few
//! dozen flops per node, each node's gain `G` computed once, when its successor comes. A filter
//! restart (an id switch, [`Update::Reinitialized`]) starts a new segment: nothing is smoothed
//! across it.
//!
//! **O(1) per reading.** Each backward step is an affine map of the smoothed estimate after a
//! node to the one at it — `x ↦ G x + (x(k|k) − G F x(k|k))` for the mean (per axis),
//! `P ↦ G P Gᵀ + (P(k|k) − G P(k+1|k) Gᵀ)` for the covariance — and a reading is the
//! composition of the maps from the front to the newest node within its lag, applied to that
//! node's filtered estimate. Both ends of that window only move forward, so the composition is
//! kept as a sliding-window aggregate (two stacks): the maps from the newest node's side are
//! composed as they enter the window, and when the front runs out of composed suffixes the
//! window's maps are composed once, back to front, into a suffix per node. A reading then costs
//! a few compositions (amortized) however many nodes the lag spans (30 at 30 fps and 1 s),
//! where a pass over the window cost one step per node; the numbers are the same up to float
//! rounding (the products are grouped differently; a unit test compares it with the direct
//! pass). Nothing is allocated but the queue itself, which holds one lag of measurements.
//!
//! **Why.** The causal filter must choose between lag and noise: it trails braking and
//! acceleration by `a·τ` (τ ≈ 0.4 s at 10 fps, see [`speed`](crate::speed)) and still passes
//! the jitter of far-away boxes. Half a second of look-ahead centres the estimate on its time
//! (the lag under constant acceleration all but vanishes) and multiplies the measurements
//! behind each estimate. The cost is latency: a reading is final `lag` after its frame.
//!
//! **Speed.** As the filter's, debiased: `√max(0, |v̂|² − 2σ²)`. The smoothed estimate's
//! noise-only velocity variance σ² is taken as the filter's, shrunk in the proportion the
//! smoother shrinks the whole velocity variance (an approximation: exact, it would need the
//! cross-covariances of the filter's errors over the lag). Its standard deviation is
//! [`Smoothed::speed_std_kmh`]; it is warm once the segment has `min_updates` measurements up
//! to the newest node used and the smoothed velocity's standard deviation is below
//! `warm_speed_std`, which look-ahead reaches at a track's first frames.
//!
//! # Lag
//!
//! `lag_ms` 1000 by default (`[analytics.speed] smooth_lag_ms`). A fixed-lag smoother gets
//! most of the full smoother's gain once the lag spans about two of the filter's time
//! constants, and τ grows with the measurement noise: 0.2–0.5 s near the camera (see
//! [`speed`](crate::speed)), about 1 s where a pixel covers 1–2 m of road (100 m and more
//! from a camera 8–10 m up). Measured at 10 fps on that far stretch (`tests/smooth.rs`,
//! `longer_lags_help_far_away_up_to_about_a_second`), mean absolute error of 50 km/h:
//!
//! | lag | 0 (filter) | 0.25 s | 0.5 s | 1 s | 2 s |
//! |---|---|---|---|---|---|
//! | MAE | 1.15 km/h | 1.10 | 0.98 | 0.76 | 0.71 |
//!
//! so 1 s; beyond it the rows wait longer for little. 0 turns smoothing off: every reading is
//! the filter's own, at once ([`pop_due`] with the measurement's time).
//!
//! [`pop_due`]: FixedLagSmoother::pop_due
//!
//! # Accuracy
//!
//! The simulation of [`speed`](crate::speed) (pinhole camera 8 m up, σ = 1.5 px, 10 % missed,
//! 10 seeded runs each, readings after the first second; `tests/smooth.rs`), lag 1 s, next to
//! the causal filter on the same measurements:
//!
//! | case | filter: MAE, p95 | smoother: MAE, p95 |
//! |---|---|---|
//! | 50 km/h, 25 fps | 0.74, 1.89 km/h | 0.48, 1.26 km/h |
//! | 50 km/h, 10 fps | 0.78, 2.24 km/h | 0.40, 1.07 km/h |
//! | 0 → 60 km/h at 2.5 m/s², 25 fps | 1.78, 4.00 km/h | 0.42, 1.10 km/h |
//! | 50 → 0 km/h at 3 m/s² towards the camera, 10 fps | 1.03, 3.04 km/h | 0.25, 0.97 km/h |
//! | standing at 25 m, 25 fps | 0.15, 1.05 km/h | 0.08, 0.62 km/h |
//!
//! While accelerating the smoother reads 0.05 km/h high on average where the filter reads 2.1
//! km/h low.

use crate::speed::{FilterConfig, GroundFilter, Node, Update};
use std::collections::VecDeque;

/// A smoothed reading of one measurement's time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Smoothed {
    /// Ground position, metres.
    pub position: (f64, f64),
    /// Ground velocity, m/s.
    pub velocity: (f64, f64),
    /// Debiased speed, km/h (module docs).
    pub speed_kmh: f64,
    /// Standard deviation of each velocity component, km/h.
    pub speed_std_kmh: f64,
    /// Whether the speed is meaningful (module docs).
    pub warm: bool,
}

/// One measurement waiting for its lag: the filter's node (none for an invalid or out-of-order
/// measurement) and the caller's payload.
#[derive(Clone, Debug)]
struct Step<T> {
    ts_ms: u64,
    node: Option<Node>,
    segment: u32,
    /// The smoother gain from this node to the next node of its segment, once that has come
    /// ([`Gain`]).
    gain: Option<Gain>,
    /// The composed backward maps from this node to the window's split (valid for the nodes
    /// before [`Window::split`]).
    suffix: Affine,
    payload: T,
}

/// The backward map of one or more Rauch–Tung–Striebel steps (module docs): mean per axis
/// `[pos, vel] ↦ m [pos, vel] + c[axis]`, covariance `P ↦ m P mᵀ + d` (`[xx, xv, vv]`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Affine {
    m: [[f64; 2]; 2],
    /// `[axis][pos, vel]`.
    c: [[f64; 2]; 2],
    d: [f64; 3],
}

impl Affine {
    /// The step from the smoothed estimate after `node` to the one at it: through its gain, or
    /// (a degenerate prediction, no gain) a restart at the node's filtered estimate.
    fn of(node: &Node, gain: Option<&Gain>) -> Affine {
        let Some(gain) = gain else {
            return Affine { m: [[0.0; 2]; 2], c: [[node.pos[0], node.vel[0]], [node.pos[1], node.vel[1]]], d: node.p };
        };
        let [[g00, g01], [g10, g11]] = gain.g;
        let mut c = [[0.0; 2]; 2];
        for (ax, c) in c.iter_mut().enumerate() {
            let ppos = node.pos[ax] + node.vel[ax] * gain.dt;
            let pvel = node.vel[ax];
            *c = [node.pos[ax] - (g00 * ppos + g01 * pvel), node.vel[ax] - (g10 * ppos + g11 * pvel)];
        }
        // P(k|k) − G P' Gᵀ.
        let [a, b, cc] = node.p;
        let sub = congruence(gain.g, gain.pred);
        Affine { m: gain.g, c, d: [a - sub[0], b - sub[1], cc - sub[2]] }
    }

    /// `self ∘ inner`: `inner` first.
    fn after(&self, inner: &Affine) -> Affine {
        let [[a00, a01], [a10, a11]] = self.m;
        let [[b00, b01], [b10, b11]] = inner.m;
        let m = [[a00 * b00 + a01 * b10, a00 * b01 + a01 * b11], [a10 * b00 + a11 * b10, a10 * b01 + a11 * b11]];
        let mut c = self.c;
        for (ax, c) in c.iter_mut().enumerate() {
            let [p, v] = inner.c[ax];
            c[0] += a00 * p + a01 * v;
            c[1] += a10 * p + a11 * v;
        }
        let t = congruence(self.m, inner.d);
        Affine { m, c, d: [self.d[0] + t[0], self.d[1] + t[1], self.d[2] + t[2]] }
    }

    /// The map applied to an estimate.
    fn apply(&self, pos: [f64; 2], vel: [f64; 2], p: [f64; 3]) -> ([f64; 2], [f64; 2], [f64; 3]) {
        let [[m00, m01], [m10, m11]] = self.m;
        let mut out_pos = [0.0; 2];
        let mut out_vel = [0.0; 2];
        for ax in 0..2 {
            out_pos[ax] = self.c[ax][0] + m00 * pos[ax] + m01 * vel[ax];
            out_vel[ax] = self.c[ax][1] + m10 * pos[ax] + m11 * vel[ax];
        }
        let t = congruence(self.m, p);
        (out_pos, out_vel, [self.d[0] + t[0], self.d[1] + t[1], self.d[2] + t[2]])
    }
}

/// `m s mᵀ` of a symmetric 2×2 `s = [xx, xv, vv]`, as `[xx, xv, vv]`.
fn congruence(m: [[f64; 2]; 2], s: [f64; 3]) -> [f64; 3] {
    let [[m00, m01], [m10, m11]] = m;
    let (e00, e01) = (m00 * s[0] + m01 * s[1], m00 * s[1] + m01 * s[2]);
    let (e10, e11) = (m10 * s[0] + m11 * s[1], m10 * s[1] + m11 * s[2]);
    [e00 * m00 + e01 * m01, e00 * m10 + e01 * m11, e10 * m10 + e11 * m11]
}

/// Where the backward pass of the front stands (module docs: a sliding-window aggregate). All
/// indices count from the queue's front. The window is the front's segment up to its horizon
/// (`end`); its newest node is the `anchor`, whose filtered estimate the pass starts from. The
/// nodes before `split` carry their composed suffix (their maps up to `split`); `back` is the
/// composition of the maps from `split` to the anchor.
#[derive(Clone, Copy, Debug, Default)]
struct Window {
    segment: u32,
    horizon: u64,
    /// Steps checked to be in the window.
    end: usize,
    anchor: Option<usize>,
    split: usize,
    back: Option<Affine>,
}

/// What one Rauch–Tung–Striebel step from a filtered node to the next node needs that does not
/// depend on the measurements after them: the gap, the prediction's covariance over it and the
/// gain `G = P Fᵀ (P')⁻¹`. A node's gain is fixed once its successor has come, so it is
/// computed once, not in every backward pass that goes through the node (one per reading: at
/// 30 fps and a 1 s lag, each gain serves 30 passes).
#[derive(Clone, Copy, Debug)]
struct Gain {
    dt: f64,
    /// Per-axis prediction covariance `[xx, xv, vv]` over `dt`, as the filter computed it.
    pred: [f64; 3],
    /// `[[g00, g01], [g10, g11]]`.
    g: [[f64; 2]; 2],
}

impl Gain {
    /// The gain of `node` towards a node `dt` seconds later under white acceleration `q`; none
    /// where the prediction's covariance is degenerate (the step then restarts at the node).
    fn new(node: &Node, dt: f64, q: f64) -> Option<Gain> {
        let [a, b, c] = node.p;
        let ap = a + dt * (2.0 * b + dt * c) + q * dt * dt * dt / 3.0;
        let bp = b + dt * c + q * dt * dt / 2.0;
        let cp = c + q * dt;
        let det = ap * cp - bp * bp;
        if !(det > 0.0 && det.is_finite()) {
            return None;
        }
        // G = P Fᵀ (P')⁻¹, with P Fᵀ = [[a + b dt, b], [b + c dt, c]].
        let (m00, m01, m10, m11) = (a + b * dt, b, b + c * dt, c);
        let (i00, i01, i11) = (cp / det, -bp / det, ap / det);
        let g = [[m00 * i00 + m01 * i01, m00 * i01 + m01 * i11], [m10 * i00 + m11 * i01, m10 * i01 + m11 * i11]];
        Some(Gain { dt, pred: [ap, bp, cp], g })
    }

    /// One backward step: the smoothed estimate after `node` (`pos`, `vel` per axis; per-axis
    /// covariance `p`) → the smoothed estimate at the node.
    #[cfg(test)]
    fn step(&self, node: &Node, pos: [f64; 2], vel: [f64; 2], p: [f64; 3]) -> ([f64; 2], [f64; 2], [f64; 3]) {
        let [[g00, g01], [g10, g11]] = self.g;
        let mut out_pos = [0.0; 2];
        let mut out_vel = [0.0; 2];
        for ax in 0..2 {
            let dpos = pos[ax] - (node.pos[ax] + node.vel[ax] * self.dt);
            let dvel = vel[ax] - node.vel[ax];
            out_pos[ax] = node.pos[ax] + g00 * dpos + g01 * dvel;
            out_vel[ax] = node.vel[ax] + g10 * dpos + g11 * dvel;
        }
        // P + G (P_next − P') Gᵀ.
        let [a, b, c] = node.p;
        let (d00, d01, d11) = (p[0] - self.pred[0], p[1] - self.pred[1], p[2] - self.pred[2]);
        let (e00, e01) = (g00 * d00 + g01 * d01, g00 * d01 + g01 * d11);
        let (e10, e11) = (g10 * d00 + g11 * d01, g10 * d01 + g11 * d11);
        let cov = [a + e00 * g00 + e01 * g01, b + e00 * g10 + e01 * g11, c + e10 * g10 + e11 * g11];
        (out_pos, out_vel, cov)
    }
}

/// A [`GroundFilter`] with a fixed-lag Rauch–Tung–Striebel smoother behind it (module docs).
/// Each measurement carries a payload `T` (e.g. the detection it came from), handed back with
/// its smoothed reading.
#[derive(Clone, Debug)]
pub struct FixedLagSmoother<T> {
    filter: GroundFilter,
    lag_ms: u64,
    segment: u32,
    steps: VecDeque<Step<T>>,
    /// The front's backward pass; `None` until a reading is asked for, and after anything
    /// that breaks its order (a new segment at the front, a horizon going back).
    window: Option<Window>,
}

impl<T> FixedLagSmoother<T> {
    /// A smoother that reads each measurement's time `lag_ms` later; `cfg` should pass
    /// [`FilterConfig::validate`].
    pub fn new(cfg: FilterConfig, lag_ms: u64) -> FixedLagSmoother<T> {
        FixedLagSmoother { filter: GroundFilter::new(cfg), lag_ms, segment: 0, steps: VecDeque::new(), window: None }
    }

    /// The causal filter: its estimate is the one at the latest measurement.
    pub fn filter(&self) -> &GroundFilter {
        &self.filter
    }

    /// The lag, ms.
    pub fn lag_ms(&self) -> u64 {
        self.lag_ms
    }

    /// Measurements not yet popped.
    pub fn pending(&self) -> usize {
        self.steps.len()
    }

    /// Time of the oldest measurement not yet popped.
    pub fn oldest_ts_ms(&self) -> Option<u64> {
        self.steps.front().map(|s| s.ts_ms)
    }

    /// Folds the ground position `(x, y)` observed at `ts_ms` (standard deviation `meas_std_m`
    /// metres per axis) into the filter and queues `payload` for its smoothed reading.
    pub fn update(&mut self, ts_ms: u64, x: f64, y: f64, meas_std_m: f64, payload: T) -> Update {
        let what = self.filter.update_with_noise(ts_ms, x, y, meas_std_m);
        let node = match what {
            Update::Initialized | Update::Reinitialized => {
                self.segment = self.segment.wrapping_add(1);
                self.filter.node_at(ts_ms)
            }
            Update::Accepted | Update::Gated => self.filter.node_at(ts_ms),
            Update::OutOfOrder | Update::Invalid => None,
        };
        self.push(ts_ms, node, payload);
        what
    }

    /// Queues `payload` at `ts_ms` with the filter's prediction to that time and no measurement
    /// (the box was clipped by the image border, so its bottom centre is not the object's): it
    /// comes back in order, with a reading smoothed over the measurements around it; none before
    /// the first measurement.
    pub fn predict(&mut self, ts_ms: u64, payload: T) {
        let node = self.filter.node_at(ts_ms);
        self.push(ts_ms, node, payload);
    }

    /// Queues `payload` at `ts_ms` with no measurement (no ground point): it comes back in
    /// order, without a reading.
    pub fn skip(&mut self, ts_ms: u64, payload: T) {
        self.push(ts_ms, None, payload);
    }

    /// Queues a step; a node gives the previous node of its segment its gain.
    fn push(&mut self, ts_ms: u64, node: Option<Node>, payload: T) {
        let segment = self.segment;
        if let Some(n) = &node {
            let q = self.filter.config().accel_std.powi(2);
            let prev = self.steps.iter_mut().rev().take_while(|s| s.segment == segment).find(|s| s.node.is_some());
            if let Some(prev) = prev {
                let pn = prev.node.as_ref().expect("found by its node");
                prev.gain = Gain::new(pn, n.ts_ms.saturating_sub(pn.ts_ms) as f64 / 1000.0, q);
            }
        }
        self.steps.push_back(Step { ts_ms, node, segment, gain: None, suffix: Affine::default(), payload });
    }

    /// The oldest measurement with its smoothed reading, once it is at least the lag older than
    /// `now_ms` (the event time every measurement up to which has been folded in).
    pub fn pop_due(&mut self, now_ms: u64) -> Option<(T, Option<Smoothed>)> {
        let oldest = self.steps.front()?;
        if oldest.ts_ms.saturating_add(self.lag_ms) > now_ms {
            return None;
        }
        self.pop()
    }

    /// The oldest measurement with its reading smoothed over what has arrived, however recent
    /// (the track ended).
    pub fn pop(&mut self) -> Option<(T, Option<Smoothed>)> {
        let reading = self.smoothed_front();
        let step = self.steps.pop_front()?;
        if let Some(w) = self.window.as_mut() {
            // The indices count from the front.
            w.end = w.end.saturating_sub(1);
            w.split = w.split.saturating_sub(1);
            match w.anchor {
                Some(0) => {
                    // The front was the window's only node: what follows it up to `end` has none.
                    (w.anchor, w.back, w.split) = (None, None, 0);
                }
                Some(a) => w.anchor = Some(a - 1),
                None => {}
            }
        }
        Some((step.payload, reading))
    }

    /// The backward pass from the newest node of the front's segment within its lag, kept as a
    /// sliding-window aggregate (module docs).
    fn smoothed_front(&mut self) -> Option<Smoothed> {
        let front = self.steps.front()?;
        let first = front.node?;
        let (segment, horizon) = (front.segment, front.ts_ms.saturating_add(self.lag_ms));
        let mut w = match self.window {
            Some(w) if w.segment == segment && w.horizon <= horizon => w,
            _ => Window { segment, ..Window::default() },
        };
        w.horizon = horizon;
        // Extend the window to the horizon; each node that stops being the newest adds its map
        // to the back.
        while let Some(step) = self.steps.get(w.end).filter(|s| s.segment == segment && s.ts_ms <= horizon) {
            if step.node.is_some() {
                if let Some(a) = w.anchor {
                    let prev = &self.steps[a];
                    let map = Affine::of(prev.node.as_ref().expect("an anchor has a node"), prev.gain.as_ref());
                    w.back = Some(match &w.back {
                        Some(back) => back.after(&map),
                        None => map,
                    });
                }
                w.anchor = Some(w.end);
            }
            w.end += 1;
        }
        let anchor = w.anchor.expect("the front is a node within its own horizon");
        if anchor > 0 && w.split == 0 {
            // The front has no suffix: compose the window's maps once, back to front.
            let mut acc: Option<Affine> = None;
            for i in (0..anchor).rev() {
                let step = &mut self.steps[i];
                let Some(node) = step.node.as_ref() else { continue };
                let map = Affine::of(node, step.gain.as_ref());
                let suffix = match &acc {
                    Some(acc) => map.after(acc),
                    None => map,
                };
                step.suffix = suffix;
                acc = Some(suffix);
            }
            (w.split, w.back) = (anchor, None);
        }
        self.window = Some(w);
        let a = self.steps[anchor].node.as_ref().expect("an anchor has a node");
        let updates = a.updates;
        let (mut pos, mut vel, mut p) = (a.pos, a.vel, a.p);
        if anchor > 0 {
            if let Some(back) = &w.back {
                (pos, vel, p) = back.apply(pos, vel, p);
            }
            (pos, vel, p) = self.steps[0].suffix.apply(pos, vel, p);
        }
        Some(self.reading(&first, updates, pos, vel, p))
    }

    /// The reading of a node from its smoothed estimate (`updates`: of the newest node used).
    fn reading(&self, first: &Node, updates: u32, pos: [f64; 2], vel: [f64; 2], p: [f64; 3]) -> Smoothed {
        let cfg = self.filter.config();
        let noise_vv = if first.p[2] > 0.0 { first.n_vv.max(0.0) * (p[2] / first.p[2]).clamp(0.0, 1.0) } else { 0.0 };
        let sq = vel[0] * vel[0] + vel[1] * vel[1] - 2.0 * noise_vv;
        let std = p[2].max(0.0).sqrt();
        Smoothed {
            position: (pos[0], pos[1]),
            velocity: (vel[0], vel[1]),
            speed_kmh: sq.max(0.0).sqrt() * 3.6,
            speed_std_kmh: std * 3.6,
            warm: updates >= cfg.min_updates && std <= cfg.warm_speed_std,
        }
    }

    /// The backward pass done step by step over the window (the definition the aggregate must
    /// match).
    #[cfg(test)]
    fn smoothed_front_direct(&self) -> Option<Smoothed> {
        let front = self.steps.front()?;
        let first = front.node?;
        let horizon = front.ts_ms.saturating_add(self.lag_ms);
        let in_reach = self.steps.iter().take_while(|s| s.segment == front.segment && s.ts_ms <= horizon).count();
        let mut next: Option<([f64; 2], [f64; 2], [f64; 3])> = None;
        let mut updates = first.updates;
        for step in self.steps.iter().take(in_reach).rev() {
            let Some(node) = step.node else { continue };
            next = Some(match (next, &step.gain) {
                (None, _) => {
                    updates = node.updates;
                    (node.pos, node.vel, node.p)
                }
                (Some((pos, vel, p)), Some(gain)) => gain.step(&node, pos, vel, p),
                (Some(_), None) => (node.pos, node.vel, node.p),
            });
        }
        let (pos, vel, p) = next?;
        Some(self.reading(&first, updates, pos, vel, p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn close(a: &Smoothed, b: &Smoothed) -> bool {
        let near = |x: f64, y: f64| (x - y).abs() <= 1e-9 * (1.0 + x.abs().max(y.abs()));
        near(a.position.0, b.position.0)
            && near(a.position.1, b.position.1)
            && near(a.velocity.0, b.velocity.0)
            && near(a.velocity.1, b.velocity.1)
            && near(a.speed_kmh, b.speed_kmh)
            && near(a.speed_std_kmh, b.speed_std_kmh)
            && a.warm == b.warm
    }

    /// Every reading of the sliding-window aggregate equals the direct backward pass's (up to
    /// rounding), over irregular gaps, skipped and predicted steps, invalid and out-of-order
    /// measurements, restarts, and pops due at once, late, or before their lag (a track ending).
    #[test]
    fn the_aggregate_is_the_direct_pass() {
        let mut compared = 0;
        for seed in 1..=40u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let lag = [0, 40, 200, 500, 1000, 2000][seed as usize % 6];
            let mut s: FixedLagSmoother<u32> = FixedLagSmoother::new(FilterConfig::vehicles(), lag);
            let (mut t, mut x, mut v) = (0u64, 0.0f64, 8.0 + 10.0 * rng.unit());
            for i in 0..600u32 {
                t += [33, 33, 33, 34, 0, 100, 400][(rng.next() % 7) as usize];
                x += v * 0.033;
                v += rng.unit() - 0.5;
                let noise = 0.3 * (rng.unit() - 0.5);
                match rng.next() % 40 {
                    0 => s.skip(t, i),
                    1 => s.predict(t, i),
                    2 => _ = s.update(t, f64::NAN, 0.0, 0.3, i),
                    3 => _ = s.update(t.saturating_sub(500), x, 0.0, 0.3, i),
                    4..=6 => _ = s.update(t, x + 60.0, 5.0, 0.3, i), // gated; in a row: a restart
                    _ => _ = s.update(t, x + noise, 2.0 + noise, 0.3, i),
                }
                let now = match rng.next() % 10 {
                    0 => t.saturating_sub(3000), // late
                    _ => t,
                };
                loop {
                    let due = s.oldest_ts_ms().is_some_and(|o| o.saturating_add(lag) <= now);
                    let ended = rng.next().is_multiple_of(300);
                    if !(due || ended && s.pending() > 0) {
                        break;
                    }
                    let direct = s.smoothed_front_direct();
                    let (_, got) = s.pop().expect("a step is queued");
                    match (direct, got) {
                        (Some(d), Some(g)) => {
                            assert!(close(&d, &g), "seed {seed}, step {i}: direct {d:?}, aggregate {g:?}");
                            compared += 1;
                        }
                        (d, g) => assert_eq!(d.is_some(), g.is_some(), "seed {seed}, step {i}"),
                    }
                }
            }
            while s.pending() > 0 {
                let direct = s.smoothed_front_direct();
                let (_, got) = s.pop().expect("a step is queued");
                assert_eq!(direct.is_some(), got.is_some());
                if let (Some(d), Some(g)) = (direct, got) {
                    assert!(close(&d, &g), "seed {seed}, at the end: direct {d:?}, aggregate {g:?}");
                }
            }
        }
        assert!(compared > 10_000, "{compared} readings compared");
    }
}
