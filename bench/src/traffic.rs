//! The traffic scene of the queries benchmark, as config text: each synthetic camera (1920×1080,
//! lanes at y ≈ 300…880, see [`crate::synth`]) gets a calibration, four zones, two counting
//! lines and a signal, and N rules are spread over the cameras, kinds and places.
//!
//! How rules are spread: rule `i` watches camera `i mod C`; with `j = i div C` (its index on
//! that camera) its kind is `(j + camera) mod 6` over speeding, zone_intrusion,
//! stopped_vehicle, wrong_way, lane_violation, red_light, and a zone rule watches zone
//! `(j div 6) mod 4`. So each camera holds N/C rules, 4/6 of them on zones (nearly evenly over
//! the four zones: 20–24 each with 125 rules a camera) and 1/6 on each line: with 1,000 rules on
//! 8 cameras a point in a zone meets ≈ 21 rules and a crossing of a line ≈ 21.

use crate::synth::SynthConfig;
use itscam_queries::signals::read_signals;
use itscam_queries::{AnalyticsPlan, facts::SignalState};
use itscam_types::config::{PipelineConfig, RuleConfig, RuleKeys, RuleKind, Severity};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

/// Zones: vertical strips across all five lanes, `(id, x from, x to)` in pixels.
pub const ZONES: [(&str, f64, f64); 4] = [("z-1", 80.0, 440.0), ("z-2", 560.0, 920.0), ("z-3", 1000.0, 1360.0), ("z-4", 1480.0, 1840.0)];
/// Lines across all lanes: `l-1` (a solid line: lane_violation) and `l-2` (a stop line: red_light).
pub const LINES: [(&str, f64); 2] = [("l-1", 640.0), ("l-2", 1280.0)];
/// A signal's cycle: green from 0, yellow from 8 s, red from 10 s to 20 s; camera `c`'s signal
/// is shifted by `c × 2.5 s`.
pub const SIGNAL_CYCLE_MS: u64 = 20_000;

/// Signal state updates `((signal_id, state), time, diff)`, as `AnalyticsPlan::new` takes them.
pub type SignalChanges = Vec<((String, SignalState), u64, isize)>;

const KINDS: [RuleKind; 6] =
    [RuleKind::Speeding, RuleKind::ZoneIntrusion, RuleKind::StoppedVehicle, RuleKind::WrongWay, RuleKind::LaneViolation, RuleKind::RedLight];

/// The scene: cameras and rules, over the time span of the synthetic footage.
#[derive(Clone, Debug)]
pub struct Scene {
    /// Cameras `cam-1` … `cam-C` (as the generator names them).
    pub cameras: usize,
    /// Rules spread over them.
    pub rules: usize,
    /// Start of the footage (signal states are written from a cycle before it).
    pub start_ms: u64,
    /// Seconds of footage the signals must cover.
    pub seconds: u32,
    /// The rules as their rule-language equivalents (kind `sql`) instead of built-ins.
    pub sql: bool,
    /// Each camera is also a junction ([`JUNCTION`]): the junction tables are computed.
    pub junction: bool,
}

/// A junction per camera, in the calibration's ground frame (the image is 100 m × 60 m, the
/// lanes at ground y ≈ 11…43 m): a west and an east approach over the whole road, each with
/// an entry gate, a stop line, one lane polygon 40 m long and an exit gate, controlled by the
/// camera's signal. Traffic crossing the view left to right is a west → east through movement,
/// the other way east → west: every vehicle crosses two gates and a stop line, and each lane is
/// sampled for its queue every second.
pub const JUNCTION: &str = "[[camera.approach]]\nid = \"west\"\nsignal = \"tl-{c}\"\nentry = [[10, 8], [10, 48]]\nstop_line = [[40, 8], [40, 48]]\nexit = [[10, 48], [10, 8]]\n\
lanes = [{ id = \"west-{c}\", polygon = [[0, 8], [40, 8], [40, 48], [0, 48]] }]\n\
[[camera.approach]]\nid = \"east\"\nsignal = \"tl-{c}\"\nentry = [[90, 8], [90, 48]]\nstop_line = [[60, 8], [60, 48]]\nexit = [[90, 48], [90, 8]]\n\
lanes = [{ id = \"east-{c}\", polygon = [[60, 8], [100, 8], [100, 48], [60, 48]] }]\n";

impl Scene {
    /// The scene for the generator's footage.
    pub fn for_synth(synth: &SynthConfig, rules: usize) -> Scene {
        Scene { cameras: synth.cameras, rules, start_ms: synth.start_ms, seconds: synth.seconds, sql: false, junction: false }
    }

    /// The config text; signal files are named under `signal_dir`.
    pub fn toml(&self, signal_dir: &Path) -> String {
        let mut t = String::new();
        for c in 1..=self.cameras {
            let _ = write!(
                t,
                "[[camera]]\nid = \"cam-{c}\"\nsource = \"detections:-\"\nroad_length_m = 100.0\n\
                 [camera.calibration]\nimage = [[0, 0], [1920, 0], [1920, 1080], [0, 1080]]\n\
                 world = [[0, 60], [100, 60], [100, 0], [0, 0]]\n"
            );
            for (id, x0, x1) in ZONES {
                let _ = write!(t, "[[camera.zone]]\nid = \"{id}\"\npolygon = [[{x0}, 200], [{x1}, 200], [{x1}, 1000], [{x0}, 1000]]\n");
            }
            for (id, x) in LINES {
                let _ = write!(t, "[[camera.line]]\nid = \"{id}\"\npoints = [[{x}, 200], [{x}, 1000]]\n");
            }
            if self.junction {
                t.push_str(&JUNCTION.replace("{c}", &c.to_string()));
            }
        }
        for c in 1..=self.cameras {
            let _ = write!(t, "[[signal]]\nid = \"tl-{c}\"\nsource = \"signals:{}\"\n", signal_dir.join(format!("tl-{c}.jsonl")).display());
        }
        for i in 0..self.rules {
            t.push_str(&rule_toml(&self.rule(i)));
        }
        t
    }

    /// Rule `i` of the spread described in the module docs.
    pub fn rule(&self, i: usize) -> RuleConfig {
        let camera = i % self.cameras;
        let j = i / self.cameras;
        let kind = KINDS[(j + camera) % KINDS.len()];
        let zone = ZONES[(j / KINDS.len()) % ZONES.len()].0;
        let base = RuleKeys::bare(format!("r-{i}"), kind, format!("cam-{}", camera + 1), [Severity::Low, Severity::Medium, Severity::High][i % 3]);
        let zone = Some(zone.to_string());
        let keys = match kind {
            // Cars run at 45–68 km/h, motorcycles at 51–77: some of them exceed each limit.
            RuleKind::Speeding => RuleKeys { zone, limit_kmh: Some(50.0 + 5.0 * (j % 4) as f64), min_duration_ms: Some(1_000), ..base },
            RuleKind::ZoneIntrusion => RuleKeys { zone, classes: Some(vec!["truck".into(), "bus".into()]), ..base },
            // Pedestrians walk at 9–13.5 km/h: the slow ones count as "stopped" under 10 km/h.
            RuleKind::StoppedVehicle => RuleKeys { zone, max_speed_kmh: Some(10.0), min_duration_ms: Some(2_000), ..base },
            // Traffic runs both ways: the leftward half violates.
            RuleKind::WrongWay => RuleKeys { zone, allowed_direction: Some(vec![[0.0, 540.0], [1920.0, 540.0]]), min_duration_ms: Some(500), ..base },
            RuleKind::LaneViolation => RuleKeys { line: Some(LINES[0].0.into()), ..base },
            RuleKind::RedLight => RuleKeys { line: Some(LINES[1].0.into()), signal: Some(format!("tl-{}", camera + 1)), ..base },
            RuleKind::Sql => unreachable!("KINDS lists the built-in kinds"),
        };
        let rule: RuleConfig = keys.into();
        match itscam_queries::rules::ir::RuleIr::sql_equivalent(&rule).filter(|_| self.sql) {
            Some(sql) => {
                let keys = RuleKeys { sql: Some(sql), ..RuleKeys::bare(rule.id.clone(), RuleKind::Sql, rule.camera.clone(), rule.severity) };
                keys.into()
            }
            None => rule,
        }
    }

    /// Rules per kind, and the rules a point in one zone / a crossing of one line meets (mean
    /// over the cameras' places).
    pub fn spread(&self) -> String {
        let mut per_kind = [0usize; 6];
        let mut zone_rules = 0usize;
        let mut line_rules = 0usize;
        for i in 0..self.rules {
            let kind = (i / self.cameras + i % self.cameras) % KINDS.len();
            per_kind[kind] += 1;
            if KINDS[kind].watches_line() { line_rules += 1 } else { zone_rules += 1 }
        }
        let kinds: Vec<String> = KINDS.iter().zip(per_kind).map(|(k, n)| format!("{} {n}", k.as_str())).collect();
        format!(
            "{} rules on {} cameras ({}); a point in a zone meets {:.1} rules, a crossing of a line {:.1}",
            self.rules,
            self.cameras,
            kinds.join(", "),
            zone_rules as f64 / (self.cameras * ZONES.len()) as f64,
            line_rules as f64 / (self.cameras * LINES.len()) as f64
        )
    }

    /// Writes the signal files (a red/green cycle per camera over the footage's span).
    pub fn write_signals(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let from = self.start_ms - SIGNAL_CYCLE_MS;
        let to = self.start_ms + u64::from(self.seconds) * 1_000 + SIGNAL_CYCLE_MS;
        for c in 1..=self.cameras {
            let mut lines = String::new();
            let mut cycle = from + (c as u64 - 1) * 2_500;
            while cycle < to {
                for (at, state) in [(0, "green"), (8_000, "yellow"), (10_000, "red")] {
                    let _ = writeln!(lines, "{{\"signal_id\":\"tl-{c}\",\"ts_ms\":{},\"state\":\"{state}\"}}", cycle + at);
                }
                cycle += SIGNAL_CYCLE_MS;
            }
            std::fs::write(dir.join(format!("tl-{c}.jsonl")), lines)?;
        }
        Ok(())
    }

    /// The validated config and its signal updates (signal files written under `dir`).
    pub fn config(&self, dir: &Path) -> anyhow::Result<(Arc<PipelineConfig>, SignalChanges)> {
        self.write_signals(dir)?;
        let text = self.toml(dir);
        let config = PipelineConfig::from_toml(&text).map_err(|problems| {
            anyhow::anyhow!("the bench scene is not a valid config: {}", problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))
        })?;
        let signals = read_signals(&config.signal)?;
        anyhow::ensure!(signals.errors.is_empty(), "bad signal lines: {:?}", signals.errors);
        Ok((Arc::new(config), signals.updates))
    }

    /// A fresh plan (its rule control is shared by the workers of one run).
    pub fn plan(&self, dir: &Path) -> anyhow::Result<AnalyticsPlan> {
        let (config, signals) = self.config(dir)?;
        AnalyticsPlan::new(config, signals).map_err(|problems| {
            anyhow::anyhow!("cannot plan the bench scene: {}", problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))
        })
    }
}

/// One `[[rule]]` table.
fn rule_toml(r: &RuleConfig) -> String {
    let r = RuleKeys::from(r.clone());
    let mut t = format!("[[rule]]\nid = \"{}\"\nkind = \"{}\"\ncamera = \"{}\"\nseverity = \"{}\"\n", r.id, r.kind.as_str(), r.camera, r.severity.as_str());
    if let Some(sql) = &r.sql {
        let _ = writeln!(t, "sql = {sql:?}");
    }
    let strings = [("zone", &r.zone), ("line", &r.line), ("signal", &r.signal)];
    for (key, v) in strings {
        if let Some(v) = v {
            let _ = writeln!(t, "{key} = \"{v}\"");
        }
    }
    for (key, v) in [("limit_kmh", r.limit_kmh), ("max_speed_kmh", r.max_speed_kmh)] {
        if let Some(v) = v {
            let _ = writeln!(t, "{key} = {v:?}");
        }
    }
    if let Some(v) = r.min_duration_ms {
        let _ = writeln!(t, "min_duration_ms = {v}");
    }
    if let Some(d) = &r.allowed_direction {
        let _ = writeln!(t, "allowed_direction = [[{:?}, {:?}], [{:?}, {:?}]]", d[0][0], d[0][1], d[1][0], d[1][1]);
    }
    if let Some(cs) = &r.classes {
        let quoted: Vec<String> = cs.iter().map(|c| format!("\"{c}\"")).collect();
        let _ = writeln!(t, "classes = [{}]", quoted.join(", "));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thousand_rules_make_a_valid_config_spread_over_every_camera_kind_and_place() {
        let dir = std::env::temp_dir().join(format!("itscam-traffic-scene-test-{}", std::process::id()));
        let scene = Scene { cameras: 8, rules: 1_000, start_ms: 1_767_225_600_000, seconds: 60, sql: false, junction: true };
        let (config, signals) = scene.config(&dir).expect("valid config");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(config.rule.len(), 1_000);
        for c in 1..=8 {
            let mine: Vec<_> = config.rule.iter().filter(|r| r.camera == format!("cam-{c}")).collect();
            assert_eq!(mine.len(), 125, "cam-{c}");
            for kind in KINDS {
                let n = mine.iter().filter(|r| r.kind() == kind).count();
                assert!((20..=21).contains(&n), "cam-{c} {kind:?}: {n}");
            }
            for (zone, _, _) in ZONES {
                let n = mine.iter().filter(|r| !r.kind().watches_line() && r.params.place_id() == Some(zone)).count();
                assert!((18..=24).contains(&n), "cam-{c} {zone}: {n}");
            }
        }
        // Each signal turns red once per cycle, over the whole footage.
        let reds: Vec<_> = signals.iter().filter(|((id, s), _, d)| id == "tl-1" && *s == SignalState::Red && *d > 0).map(|u| u.1).collect();
        assert!(reds.len() >= 3, "{reds:?}");
        assert!(reds.windows(2).all(|w| w[1] - w[0] == SIGNAL_CYCLE_MS));
    }
}
