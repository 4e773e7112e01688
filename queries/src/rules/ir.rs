//! The rule IR: what a rule asks, with no dataflow in it. The rule language
//! (`rules::sql`) and the six built-in kinds ([`RuleIr::from_config`]) both produce it; the
//! half-join in `mod.rs` and [`super::Episodes`] render it. Serializable, compared by value (a
//! change of any part is a new rule), shown by [`RuleIr::explain`].
//!
//! A rule reads one relation ([`Source`]) of one or every camera, keeps the rows its condition
//! ([`Expr`], three-valued like SQL) holds for, and turns them into violations ([`Output`]):
//! each row, an episode per track that lasts `FOR` a duration, or an episode per group whose
//! windowed aggregates satisfy `HAVING` for a duration.

use crate::facts::{Place, PlaceKind, from_ck, to_ck, unit_milli};
use itscam_types::ObjectClass;
use itscam_types::config::{RuleConfig, RuleKind, RuleParams, Severity};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A compiled rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleIr {
    /// Rule id (unique in the pipeline).
    #[serde(with = "itscam_types::serde_arc::arc_str")]
    pub id: Arc<str>,
    /// `violations.kind`: the built-in kind, or `sql`.
    pub kind: RuleKind,
    /// Severity of its violations.
    pub severity: Severity,
    /// The cameras it watches: `None`, every camera.
    pub cameras: Option<Vec<String>>,
    /// The relation it reads.
    pub source: Source,
    /// The condition on each row (`WHERE`).
    pub filter: Expr,
    /// How matching rows become violations.
    pub output: Output,
    /// `violations.limit_value` (km/h for speeds, s for durations).
    pub limit: Option<f64>,
}

/// The relations a rule can read.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Source {
    /// `track_points`: every point of a confirmed track.
    TrackPoints,
    /// `zone_presence`: every point of a track inside a zone (and its leaving), of one zone or
    /// of all.
    ZonePresence(Option<String>),
    /// `line_crossings`: every crossing of one line or of all.
    LineCrossings(Option<String>),
    /// `queue_samples`: each junction lane's queue every `queue_sample_ms` (of one lane or all).
    QueueSamples(Option<String>),
    /// `queues`: each finished signal cycle of a junction lane (of one lane or all).
    LaneCycles(Option<String>),
}

impl Source {
    /// The table name in the rule language.
    pub fn name(&self) -> &'static str {
        match self {
            Source::TrackPoints => "track_points",
            Source::ZonePresence(_) => "zone_presence",
            Source::LineCrossings(_) => "line_crossings",
            Source::QueueSamples(_) => "queue_samples",
            Source::LaneCycles(_) => "queues",
        }
    }

    /// Whether its rows are a junction lane's (no track, class or speed).
    pub fn of_lanes(&self) -> bool {
        matches!(self, Source::QueueSamples(_) | Source::LaneCycles(_))
    }
}

/// How matching rows become violations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Output {
    /// One violation per matching row (a crossing).
    Each,
    /// An episode per track: the condition holds for at least `min_ms` (with the grace).
    Episode {
        /// `FOR`, ms.
        min_ms: u64,
        /// `violations.value`.
        value: Measure,
    },
    /// An episode per group: the windowed condition holds for at least `min_ms`.
    Window(Box<WindowIr>),
}

/// What `violations.value` holds for an episode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Measure {
    /// The highest speed of the episode, km/h.
    MaxSpeed,
    /// The lowest speed of the episode, km/h.
    MinSpeed,
    /// Its length, s.
    Duration,
    /// The highest value of the first aggregate (windows).
    FirstAggregate,
    /// The longest queue of the episode, m (`queue_samples`).
    MaxQueue,
}

/// `GROUP BY …, WINDOW d HAVING … FOR d`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowIr {
    /// The window's length, ms: a row counts while it is younger than this.
    pub size_ms: u64,
    /// Group columns (the camera always, implicitly).
    pub group: Vec<Column>,
    /// The aggregates `HAVING` refers to ([`Expr::Agg`] indexes them).
    pub aggs: Vec<Agg>,
    /// The condition on the aggregates.
    pub having: Expr,
    /// `FOR`, ms.
    pub min_ms: u64,
}

/// An aggregate over a group's rows in the window.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Agg {
    /// Which.
    pub func: AggFunc,
    /// Over which column (`None`: `count(*)`).
    pub arg: Option<Column>,
}

/// Aggregate functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AggFunc {
    /// `count(*)`, `count(col)`: rows (with a value).
    Count,
    /// `count(DISTINCT track_id)`: tracks.
    CountDistinct,
    /// `sum(col)`.
    Sum,
    /// `avg(col)`.
    Avg,
    /// `min(col)`.
    Min,
    /// `max(col)`.
    Max,
}

/// The columns of the relations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Column {
    /// Camera id (text).
    CameraId,
    /// Track id.
    TrackId,
    /// COCO class name (text; the track's majority class so far).
    Class,
    /// Event time, ms since the Unix epoch.
    Ts,
    /// Ground x, m (calibrated cameras).
    X,
    /// Ground y, m (calibrated cameras).
    Y,
    /// The causal filter's speed, km/h (calibrated cameras, once warm).
    SpeedKmh,
    /// Its standard deviation, km/h.
    SpeedStdKmh,
    /// Direction of motion in the image, degrees (0 = right, 90 = down).
    HeadingDeg,
    /// Whether the track moves (≥ 3 km/h, or ≥ 5 px/s uncalibrated).
    Moving,
    /// Zone id (zone_presence).
    ZoneId,
    /// Line id (line_crossings).
    LineId,
    /// `forward` or `backward` (line_crossings).
    Direction,
    /// Approach id (queue_samples, queues).
    Approach,
    /// Lane id (queue_samples, queues).
    LaneId,
    /// Queue length, m (queues: the cycle's longest).
    QueueM,
    /// Queued vehicles (queues: the cycle's most).
    QueueVeh,
    /// The cycle's queue cleared in the green (queues).
    Cleared,
    /// The cycle was a split failure (queues).
    SplitFailure,
}

impl Column {
    /// Every column, with its name.
    pub const ALL: [(Column, &'static str); 19] = [
        (Column::CameraId, "camera_id"),
        (Column::TrackId, "track_id"),
        (Column::Class, "class"),
        (Column::Ts, "ts"),
        (Column::X, "x"),
        (Column::Y, "y"),
        (Column::SpeedKmh, "speed_kmh"),
        (Column::SpeedStdKmh, "speed_std_kmh"),
        (Column::HeadingDeg, "heading_deg"),
        (Column::Moving, "moving"),
        (Column::ZoneId, "zone_id"),
        (Column::LineId, "line_id"),
        (Column::Direction, "direction"),
        (Column::Approach, "approach"),
        (Column::LaneId, "lane_id"),
        (Column::QueueM, "queue_m"),
        (Column::QueueVeh, "queue_veh"),
        (Column::Cleared, "cleared"),
        (Column::SplitFailure, "split_failure"),
    ];

    /// The name in the rule language.
    pub fn name(self) -> &'static str {
        Column::ALL.iter().find(|(c, _)| *c == self).map_or("?", |(_, n)| n)
    }

    /// Whether `source`'s rows have it.
    pub fn in_source(self, source: &Source) -> bool {
        if source.of_lanes() {
            return match self {
                Column::CameraId | Column::Ts | Column::Approach | Column::LaneId | Column::QueueM | Column::QueueVeh => true,
                Column::Cleared | Column::SplitFailure => matches!(source, Source::LaneCycles(_)),
                _ => false,
            };
        }
        match self {
            Column::Approach | Column::LaneId | Column::QueueM | Column::QueueVeh | Column::Cleared | Column::SplitFailure => false,
            Column::CameraId | Column::TrackId | Column::Class | Column::Ts | Column::SpeedKmh => true,
            Column::SpeedStdKmh | Column::HeadingDeg | Column::Moving => !matches!(source, Source::LineCrossings(_)),
            Column::X | Column::Y => matches!(source, Source::TrackPoints),
            Column::ZoneId => matches!(source, Source::ZonePresence(_)),
            Column::LineId | Column::Direction => matches!(source, Source::LineCrossings(_)),
        }
    }
}

/// A constant, or what an expression evaluates to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// Unknown.
    Null,
    /// A truth value.
    Bool(bool),
    /// A number.
    Num(f64),
    /// Text.
    Str(#[serde(with = "itscam_types::serde_arc::arc_str")] Arc<str>),
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// Arithmetic operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (NULL on division by zero)
    Div,
    /// `%`
    Rem,
}

/// A three-valued expression over one row (or, in `HAVING`, a group's aggregates).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    /// A constant.
    Lit(Value),
    /// A column of the row.
    Col(Column),
    /// The `i`-th aggregate of the window.
    Agg(usize),
    /// `NOT e`.
    Not(Box<Expr>),
    /// `a AND b`.
    And(Box<Expr>, Box<Expr>),
    /// `a OR b`.
    Or(Box<Expr>, Box<Expr>),
    /// A comparison.
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    /// Arithmetic.
    Arith(ArithOp, Box<Expr>, Box<Expr>),
    /// `-e`.
    Neg(Box<Expr>),
    /// `e [NOT] IN (constants)`.
    In(Box<Expr>, Vec<Value>, bool),
    /// `e IS [NOT] NULL`.
    IsNull(Box<Expr>, bool),
    /// A function.
    Call(Func),
}

/// The rule language's functions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Func {
    /// `in_zone('z')`: the track is in zone `z` (its stay, with the exit grace).
    InZone(String),
    /// `crossed('l')`: the crossing is of line `l`.
    Crossed(String),
    /// `signal_state('s')`: `'red'`, `'yellow'` or `'green'` at the row's time (NULL before
    /// the first state).
    SignalState(String),
    /// `speed_over(limit)`: TRUE when the speed is above `limit` by more than its standard
    /// deviation, FALSE when at or below it by as much, NULL in between or without a speed. On
    /// `zone_presence` a rule that calls it reads the smoothed speed, `smooth_lag_ms` late
    /// ([`RuleIr::reads_smoothed_speed`]).
    SpeedOver(Box<Expr>),
    /// `against(dx, dy)`: the track moves more than 120° away from the image direction
    /// `(dx, dy)`; NULL while it does not move. Unit vector × 1000.
    Against(i32, i32),
    /// `hour_of_day()`: 0–23 in `[analytics] time_zone`.
    HourOfDay,
    /// `minute_of_day()`: 0–1439 in `[analytics] time_zone`.
    MinuteOfDay,
    /// `day_of_week()`: 1 (Monday) – 7 (Sunday) in `[analytics] time_zone`.
    DayOfWeek,
    /// `abs(e)`.
    Abs(Box<Expr>),
}

impl Expr {
    /// `a AND b`.
    pub fn and(a: Expr, b: Expr) -> Expr {
        Expr::And(Box::new(a), Box::new(b))
    }

    /// `a op b`.
    pub fn cmp(op: CmpOp, a: Expr, b: Expr) -> Expr {
        Expr::Cmp(op, Box::new(a), Box::new(b))
    }

    /// A number.
    pub fn num(v: f64) -> Expr {
        Expr::Lit(Value::Num(v))
    }

    /// A text.
    pub fn text(s: &str) -> Expr {
        Expr::Lit(Value::Str(s.into()))
    }
}

impl RuleIr {
    /// A built-in rule (validated) as IR; its rule-language equivalent is in `docs/rules.md`.
    /// `None` for an `sql` rule, which the rule language compiles.
    pub fn from_config(r: &RuleConfig) -> Option<RuleIr> {
        let zone = |z: &Option<String>| Source::ZonePresence(Some(z.clone().unwrap_or_default()));
        let line = |l: &Option<String>| Source::LineCrossings(Some(l.clone().unwrap_or_default()));
        let episode = |min_ms, value| Output::Episode { min_ms, value };
        let (source, filter, output, limit) = match &r.params {
            RuleParams::Speeding(s) => {
                let l = s.limit_kmh.unwrap_or(0.0);
                let threshold = from_ck(to_ck(l + s.tolerance()));
                let filter = Expr::Call(Func::SpeedOver(Box::new(Expr::num(threshold))));
                (zone(&s.zone), filter, episode(s.min_duration(), Measure::MaxSpeed), Some(from_ck(to_ck(l))))
            }
            RuleParams::StoppedVehicle(s) => {
                let max = from_ck(to_ck(s.max_speed()));
                let filter = Expr::cmp(CmpOp::Le, Expr::Col(Column::SpeedKmh), Expr::num(max));
                (zone(&s.zone), filter, episode(s.min_duration(), Measure::MinSpeed), Some(max))
            }
            RuleParams::WrongWay(w) => {
                let (dx, dy) = match w.allowed_direction.as_ref().filter(|d| d.len() == 2) {
                    Some(d) => unit_milli(d[1][0] - d[0][0], d[1][1] - d[0][1]),
                    None => (0, 0),
                };
                let filter = Expr::Call(Func::Against(dx, dy));
                (zone(&w.zone), filter, episode(w.min_duration(), Measure::Duration), Some(w.min_duration() as f64 / 1000.0))
            }
            RuleParams::ZoneIntrusion(z) => {
                let mut classes: Vec<ObjectClass> = z.classes.iter().flatten().filter_map(|c| ObjectClass::from_name(c)).collect();
                classes.sort();
                classes.dedup();
                let list = classes.iter().map(|c| Value::Str(c.name().into())).collect();
                let filter = Expr::In(Box::new(Expr::Col(Column::Class)), list, false);
                (zone(&z.zone), filter, episode(z.min_duration(), Measure::Duration), Some(z.min_duration() as f64 / 1000.0))
            }
            RuleParams::RedLight(l) => {
                let signal = Expr::Call(Func::SignalState(l.signal.clone().unwrap_or_default()));
                (line(&l.line), Expr::cmp(CmpOp::Eq, signal, Expr::text("red")), Output::Each, None)
            }
            RuleParams::LaneViolation(l) => (line(&l.line), Expr::Lit(Value::Bool(true)), Output::Each, None),
            RuleParams::Sql(_) => return None,
        };
        Some(RuleIr {
            id: r.id.as_str().into(),
            kind: r.kind(),
            severity: r.severity,
            cameras: Some(vec![r.camera.clone()]),
            source,
            filter,
            output,
            limit,
        })
    }

    /// A built-in rule in the rule language: the same violations, row for row, but for
    /// `kind` (`sql`) and `limit_value` (none). `None` for an `sql` rule.
    pub fn sql_equivalent(r: &RuleConfig) -> Option<String> {
        let zone = |z: &Option<String>| format!("SELECT * FROM zone_presence WHERE zone_id = '{}'", z.as_deref().unwrap_or_default());
        let line = |l: &Option<String>| format!("SELECT * FROM line_crossings WHERE line_id = '{}'", l.as_deref().unwrap_or_default());
        Some(match &r.params {
            RuleParams::Speeding(s) => {
                let t = from_ck(to_ck(s.limit_kmh.unwrap_or(0.0) + s.tolerance()));
                format!("{} AND speed_over({t}) FOR {} ms", zone(&s.zone).replace("SELECT *", "SELECT max(speed_kmh)"), s.min_duration())
            }
            RuleParams::StoppedVehicle(s) => {
                let max = from_ck(to_ck(s.max_speed()));
                format!("{} AND speed_kmh <= {max} FOR {} ms", zone(&s.zone).replace("SELECT *", "SELECT min(speed_kmh)"), s.min_duration())
            }
            RuleParams::WrongWay(w) => {
                let d = w.allowed_direction.as_ref().filter(|d| d.len() == 2).map_or([0.0, 0.0], |d| [d[1][0] - d[0][0], d[1][1] - d[0][1]]);
                format!("{} AND against({}, {}) FOR {} ms", zone(&w.zone), d[0], d[1], w.min_duration())
            }
            RuleParams::ZoneIntrusion(z) => {
                let mut known: Vec<ObjectClass> = z.classes.iter().flatten().filter_map(|c| ObjectClass::from_name(c)).collect();
                known.sort();
                known.dedup();
                let classes: Vec<String> = known.iter().map(|c| format!("'{}'", c.name())).collect();
                format!("{} AND class IN ({}) FOR {} ms", zone(&z.zone), classes.join(", "), z.min_duration())
            }
            RuleParams::RedLight(l) => format!("{} AND signal_state('{}') = 'red'", line(&l.line), l.signal.as_deref().unwrap_or_default()),
            RuleParams::LaneViolation(l) => line(&l.line),
            RuleParams::Sql(_) => return None,
        })
    }

    /// The place its facts come from on `camera`, when it reads one zone or line.
    pub fn place(&self, camera: &str) -> Option<Place> {
        let (kind, id) = match &self.source {
            Source::ZonePresence(Some(z)) => (PlaceKind::Zone, z),
            Source::LineCrossings(Some(l)) => (PlaceKind::Line, l),
            _ => return None,
        };
        Some(Place { camera: camera.into(), kind, id: id.as_str().into() })
    }

    /// The zone a `track_points` rule's condition requires (a top-level `in_zone('z')`):
    /// `violations.place` of its episodes.
    pub fn zone_of_condition(&self) -> Option<&str> {
        fn find(e: &Expr) -> Option<&str> {
            match e {
                Expr::Call(Func::InZone(z)) => Some(z),
                Expr::And(a, b) => find(a).or_else(|| find(b)),
                _ => None,
            }
        }
        find(&self.filter)
    }

    /// Whether its `WHERE` calls `speed_over`: on `zone_presence` such a rule reads the
    /// smoothed facts (`ZonePoint::smoothed`), `[analytics.speed] smooth_lag_ms` late, whose
    /// speed neither trails acceleration and braking nor has half the causal filter's noise.
    pub fn reads_smoothed_speed(&self) -> bool {
        fn calls(e: &Expr) -> bool {
            match e {
                Expr::Call(Func::SpeedOver(_)) => true,
                Expr::Call(Func::Abs(a)) | Expr::Not(a) | Expr::Neg(a) | Expr::In(a, _, _) | Expr::IsNull(a, _) => calls(a),
                Expr::And(a, b) | Expr::Or(a, b) | Expr::Cmp(_, a, b) | Expr::Arith(_, a, b) => calls(a) || calls(b),
                Expr::Lit(_) | Expr::Col(_) | Expr::Agg(_) | Expr::Call(_) => false,
            }
        }
        calls(&self.filter)
    }

    /// Whether it watches `camera`.
    pub fn watches(&self, camera: &str) -> bool {
        self.cameras.as_ref().is_none_or(|cs| cs.iter().any(|c| c == camera))
    }
}
