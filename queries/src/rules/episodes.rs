//! Episodes: one violation per (rule, track, episode). A zone rule's condition must hold for
//! `min_duration_ms` (event time) to confirm a violation; the episode ends when the condition
//! has stopped holding for `rule_grace_ms`, when the track leaves the zone or ends, or when the
//! rule is removed or changed. Line rules (`red_light`, `lane_violation`) are one crossing each.
//!
//! A confirmed episode is emitted twice with the same `violation_id`: when confirmed
//! (`ongoing = true`, for a prompt alert) and when it closes (`ongoing = false`, the row of the
//! `violations` table).

use crate::facts::{CrossPoint, RuleSpec, ZonePoint, from_ck};
use itscam_types::ObjectClass;
use itscam_types::analytics::ViolationRow;
use itscam_types::config::RuleKind;
use std::collections::HashMap;
use std::sync::Arc;

/// An episode's key: the rule's id (unique in the pipeline) and the track.
type Key = (Arc<str>, u64);

#[derive(Clone, Debug)]
struct Episode {
    spec: RuleSpec,
    class: ObjectClass,
    start: u64,
    last_true: u64,
    false_since: Option<u64>,
    confirmed: bool,
    /// Max speed (speeding) or min speed (stopped), km/h.
    extreme: f64,
}

/// Open episodes of the rules on one worker.
#[derive(Debug, Default)]
pub struct Episodes {
    grace_ms: u64,
    open: HashMap<Key, Episode>,
}

/// Standard deviations of its speed by which a point must clear the speeding threshold.
///
/// The causal filter's speed is noisy (σ 1.5–4 km/h per point at 30–130 m and 10 fps) and
/// trails braking by `a·τ` (3 m/s² × 0.4 s ≈ 4 km/h), both within the uncertainty it reports.
/// One σ either side of the threshold is the band where a point says little: above it the
/// vehicle is speeding with ~84 % confidence, below it it is not; inside it neither starts,
/// extends nor ends an episode.
pub const SPEEDING_SIGMAS: f64 = 1.0;

/// What a point says about a zone rule's condition (`None`: nothing).
fn condition(spec: &RuleSpec, p: &ZonePoint) -> Option<bool> {
    match spec.kind {
        RuleKind::Speeding => {
            let s = p.speed_ck?;
            let margin = (SPEEDING_SIGMAS * p.speed_std_ck.unwrap_or(0) as f64).round() as i64;
            if s - margin > spec.threshold_ck {
                Some(true)
            } else if s + margin <= spec.threshold_ck {
                Some(false)
            } else {
                None
            }
        }
        RuleKind::StoppedVehicle => p.speed_ck.map(|s| s <= spec.threshold_ck),
        RuleKind::WrongWay => {
            if !p.moving {
                return None;
            }
            let dot = i64::from(p.dir.0) * i64::from(spec.allowed_dir.0) + i64::from(p.dir.1) * i64::from(spec.allowed_dir.1);
            // More than 120° away from the allowed direction.
            Some(dot < -500_000)
        }
        RuleKind::ZoneIntrusion => Some(spec.classes.binary_search(&p.class).is_ok()),
        RuleKind::RedLight | RuleKind::LaneViolation => None,
    }
}

impl Episodes {
    /// With the grace of `[analytics].rule_grace_ms`.
    pub fn new(grace_ms: u64) -> Self {
        Episodes { grace_ms, open: HashMap::new() }
    }

    /// Open episodes.
    pub fn open(&self) -> usize {
        self.open.len()
    }

    /// A point of `track` in the rule's zone (or its leaving).
    pub fn zone_point(&mut self, spec: &RuleSpec, p: &ZonePoint, out: &mut Vec<ViolationRow>) {
        let key = (spec.id.clone(), p.track);
        if p.left {
            if let Some(e) = self.open.remove(&key) {
                close(&key, e, out);
            }
            return;
        }
        let Some(holds) = condition(spec, p) else { return };
        let speed = p.speed_ck.map(from_ck);
        match (self.open.get_mut(&key), holds) {
            (None, false) => {}
            (None, true) => {
                let mut e = Episode {
                    spec: spec.clone(),
                    class: p.class,
                    start: p.ts,
                    last_true: p.ts,
                    false_since: None,
                    confirmed: false,
                    extreme: speed.unwrap_or(0.0),
                };
                confirm_if_due(&key, &mut e, out);
                self.open.insert(key, e);
            }
            (Some(e), true) => {
                e.last_true = p.ts;
                e.false_since = None;
                e.class = p.class;
                if let Some(s) = speed {
                    e.extreme = match spec.kind {
                        RuleKind::StoppedVehicle => e.extreme.min(s),
                        _ => e.extreme.max(s),
                    };
                }
                confirm_if_due(&key, e, out);
            }
            (Some(e), false) => {
                let since = *e.false_since.get_or_insert(p.ts);
                if p.ts - since >= self.grace_ms {
                    let e = self.open.remove(&key).expect("present");
                    close(&key, e, out);
                }
            }
        }
    }

    /// A crossing of the rule's line (already matched with a red signal for `red_light`).
    pub fn crossing(&mut self, spec: &RuleSpec, c: &CrossPoint, out: &mut Vec<ViolationRow>) {
        out.push(ViolationRow {
            violation_id: format!("{}:{}:{}:{}", spec.id, spec.place.camera, c.track, c.ts),
            rule_id: spec.id.to_string(),
            kind: spec.kind,
            camera_id: spec.place.camera.to_string(),
            track_id: c.track,
            class: c.class,
            ts_start_ms: c.ts,
            ts_end_ms: c.ts,
            value: c.speed_ck.map(from_ck).unwrap_or(0.0),
            limit_value: spec.limit_value(),
            severity: spec.severity,
            place: spec.place.id.to_string(),
            ongoing: false,
            evidence: Vec::new(),
        });
    }

    /// The rule `spec` was removed (or replaced): its open episodes end now, by track.
    pub fn rule_removed(&mut self, spec: &RuleSpec, out: &mut Vec<ViolationRow>) {
        let mut keys: Vec<Key> = self.open.iter().filter(|(_, e)| &e.spec == spec).map(|(k, _)| k.clone()).collect();
        keys.sort();
        for key in keys {
            let e = self.open.remove(&key).expect("listed");
            close(&key, e, out);
        }
    }

    /// The input ended: every open episode closes, by rule and track.
    pub fn finish(&mut self, out: &mut Vec<ViolationRow>) {
        let mut open: Vec<(Key, Episode)> = self.open.drain().collect();
        open.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, e) in open {
            close(&key, e, out);
        }
    }
}

fn confirm_if_due(key: &Key, e: &mut Episode, out: &mut Vec<ViolationRow>) {
    if !e.confirmed && e.last_true - e.start >= e.spec.min_duration_ms {
        e.confirmed = true;
        out.push(row(key, e, true));
    }
}

fn close(key: &Key, e: Episode, out: &mut Vec<ViolationRow>) {
    if e.confirmed {
        out.push(row(key, &e, false));
    }
}

fn row(key: &Key, e: &Episode, ongoing: bool) -> ViolationRow {
    let spec = &e.spec;
    let value = match spec.kind {
        RuleKind::Speeding | RuleKind::StoppedVehicle => e.extreme,
        _ => (e.last_true - e.start) as f64 / 1000.0,
    };
    ViolationRow {
        violation_id: format!("{}:{}:{}:{}", key.0, spec.place.camera, key.1, e.start),
        rule_id: spec.id.to_string(),
        kind: spec.kind,
        camera_id: spec.place.camera.to_string(),
        track_id: key.1,
        class: e.class,
        ts_start_ms: e.start,
        ts_end_ms: e.last_true,
        value,
        limit_value: spec.limit_value(),
        severity: spec.severity,
        place: spec.place.id.to_string(),
        ongoing,
        evidence: Vec::new(),
    }
}

impl super::OnMatch for Episodes {
    type Out = ViolationRow;
    fn removed(&mut self, spec: &RuleSpec, out: &mut Vec<ViolationRow>) {
        self.rule_removed(spec, out);
    }
    fn zone(&mut self, spec: &Arc<RuleSpec>, p: &ZonePoint, out: &mut Vec<ViolationRow>) {
        self.zone_point(spec, p, out);
    }
    fn cross(&mut self, spec: &Arc<RuleSpec>, c: &CrossPoint, out: &mut Vec<ViolationRow>) {
        self.crossing(spec, c, out);
    }
    fn finish(&mut self, out: &mut Vec<ViolationRow>) {
        Episodes::finish(self, out);
    }
}
