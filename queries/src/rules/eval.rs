//! Evaluating a rule's [`Expr`] on one row, SQL's three-valued way: a comparison with NULL is
//! NULL, `AND` is FALSE if either side is, `OR` TRUE if either side is. A `WHERE` that is NULL
//! says nothing about the episode (it neither extends nor ends it); FALSE ends it after the
//! grace.
//!
//! Values borrow from the row and the rule ([`V`]): evaluating allocates nothing.

use super::book::RuleBook;
use super::ir::{ArithOp, CmpOp, Column, Expr, Func, Value};
use crate::facts::{CrossPoint, LaneFact, Place, SignalState, TrackPoint, ZonePoint, from_ck, to_ck};
use chrono::{Datelike, TimeZone, Timelike};
use chrono_tz::Tz;
use std::sync::Arc;

/// A row of one of the relations.
#[derive(Clone, Copy, Debug)]
pub enum Row<'a> {
    /// `track_points`: the camera and the point.
    Point(&'a Arc<str>, &'a TrackPoint),
    /// `zone_presence`.
    Zone(&'a Place, &'a ZonePoint),
    /// `line_crossings`.
    Cross(&'a Place, &'a CrossPoint),
    /// `queue_samples` or `queues`: the camera and the lane's fact.
    Lane(&'a Arc<str>, &'a LaneFact),
}

impl<'a> Row<'a> {
    /// The row's camera.
    pub fn camera(&self) -> &'a str {
        self.camera_id()
    }

    /// The row's camera, shared (cloning it copies no text).
    pub fn camera_id(&self) -> &'a Arc<str> {
        match self {
            Row::Point(c, _) | Row::Lane(c, _) => c,
            Row::Zone(p, _) | Row::Cross(p, _) => &p.camera,
        }
    }

    /// Event time.
    pub fn ts(&self) -> u64 {
        match self {
            Row::Point(_, p) => p.ts,
            Row::Zone(_, p) => p.ts,
            Row::Cross(_, c) => c.ts,
            Row::Lane(_, l) => l.ts,
        }
    }

    /// Track id.
    pub fn track(&self) -> u64 {
        match self {
            Row::Point(_, p) => p.track,
            Row::Zone(_, p) => p.track,
            Row::Cross(_, c) => c.track,
            Row::Lane(..) => 0,
        }
    }

    /// Speed, centi-km/h.
    pub fn speed_ck(&self) -> Option<i64> {
        match self {
            Row::Point(_, p) => p.speed_ck,
            Row::Zone(_, p) => p.speed_ck,
            Row::Cross(_, c) => c.speed_ck,
            Row::Lane(..) => None,
        }
    }

    fn speed_std_ck(&self) -> Option<i64> {
        match self {
            Row::Point(_, p) => p.speed_std_ck,
            Row::Zone(_, p) => p.speed_std_ck,
            Row::Cross(..) | Row::Lane(..) => None,
        }
    }

    fn motion(&self) -> Option<(bool, (i32, i32))> {
        match self {
            Row::Point(_, p) => Some((p.moving, p.dir)),
            Row::Zone(_, p) => Some((p.moving, p.dir)),
            Row::Cross(..) | Row::Lane(..) => None,
        }
    }

    /// The class (`unknown` for a lane's row).
    pub fn class(&self) -> itscam_types::ObjectClass {
        match self {
            Row::Point(_, p) => p.class,
            Row::Zone(_, p) => p.class,
            Row::Cross(_, c) => c.class,
            Row::Lane(..) => itscam_types::ObjectClass(u8::MAX),
        }
    }

    /// A column's value.
    pub fn column(&self, c: Column) -> V<'a> {
        match c {
            Column::CameraId => V::Str(self.camera()),
            Column::TrackId | Column::Class if matches!(self, Row::Lane(..)) => V::Null,
            Column::TrackId => V::Num(self.track() as f64),
            Column::Class => V::Str(self.class().name()),
            Column::Approach | Column::LaneId | Column::QueueM | Column::QueueVeh | Column::Cleared | Column::SplitFailure => match self {
                Row::Lane(_, l) => match c {
                    Column::Approach => V::Str(&l.approach),
                    Column::LaneId => V::Str(&l.lane),
                    Column::QueueM => V::Num(l.queue_m),
                    Column::QueueVeh => V::Num(f64::from(l.queue_veh)),
                    Column::Cleared => l.cycle.as_ref().map_or(V::Null, |c| V::Bool(c.cleared)),
                    _ => l.cycle.as_ref().map_or(V::Null, |c| V::Bool(c.split_failure)),
                },
                _ => V::Null,
            },
            Column::Ts => V::Num(self.ts() as f64),
            Column::X | Column::Y => match self {
                Row::Point(_, p) => p.ground.map_or(V::Null, |(x, y)| V::Num(if c == Column::X { x } else { y })),
                _ => V::Null,
            },
            Column::SpeedKmh => self.speed_ck().map_or(V::Null, |s| V::Num(from_ck(s))),
            Column::SpeedStdKmh => self.speed_std_ck().map_or(V::Null, |s| V::Num(from_ck(s))),
            Column::HeadingDeg => match self.motion() {
                Some((_, (0, 0))) | None => V::Null,
                Some((_, (dx, dy))) => V::Num(f64::from(dy).atan2(f64::from(dx)).to_degrees().rem_euclid(360.0)),
            },
            Column::Moving => self.motion().map_or(V::Null, |(m, _)| V::Bool(m)),
            Column::ZoneId => match self {
                Row::Zone(p, _) => V::Str(&p.id),
                _ => V::Null,
            },
            Column::LineId => match self {
                Row::Cross(p, _) => V::Str(&p.id),
                _ => V::Null,
            },
            Column::Direction => match self {
                Row::Cross(_, c) => V::Str(c.direction.as_str()),
                _ => V::Null,
            },
        }
    }
}

/// A value during evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum V<'a> {
    /// Unknown.
    Null,
    /// Truth.
    Bool(bool),
    /// Number.
    Num(f64),
    /// Text.
    Str(&'a str),
}

impl<'a> V<'a> {
    fn of(v: &'a Value) -> V<'a> {
        match v {
            Value::Null => V::Null,
            Value::Bool(b) => V::Bool(*b),
            Value::Num(n) => V::Num(*n),
            Value::Str(s) => V::Str(s),
        }
    }

    /// As a truth value (`None`: NULL, or not a truth value).
    pub fn truth(self) -> Option<bool> {
        match self {
            V::Bool(b) => Some(b),
            _ => None,
        }
    }

    fn num(self) -> Option<f64> {
        match self {
            V::Num(n) => Some(n),
            _ => None,
        }
    }
}

/// What an expression may consult besides the row: the signal states at the row's time,
/// the time zone, and (in `HAVING`) the group's aggregates.
pub struct Env<'a> {
    /// Signal states now.
    pub book: &'a RuleBook,
    /// `[analytics] time_zone`.
    pub tz: Tz,
    /// The window's aggregates (`HAVING`).
    pub aggs: &'a [Option<f64>],
}

fn compare(op: CmpOp, a: V<'_>, b: V<'_>) -> V<'static> {
    let ord = match (a, b) {
        (V::Num(x), V::Num(y)) => x.partial_cmp(&y),
        (V::Str(x), V::Str(y)) => Some(x.cmp(y)),
        (V::Bool(x), V::Bool(y)) => Some(x.cmp(&y)),
        _ => None,
    };
    let Some(o) = ord else { return V::Null };
    use std::cmp::Ordering::*;
    V::Bool(match op {
        CmpOp::Eq => o == Equal,
        CmpOp::Ne => o != Equal,
        CmpOp::Lt => o == Less,
        CmpOp::Le => o != Greater,
        CmpOp::Gt => o == Greater,
        CmpOp::Ge => o != Less,
    })
}

fn arith(op: ArithOp, a: f64, b: f64) -> V<'static> {
    let v = match op {
        ArithOp::Add => a + b,
        ArithOp::Sub => a - b,
        ArithOp::Mul => a * b,
        ArithOp::Div if b == 0.0 => return V::Null,
        ArithOp::Div => a / b,
        ArithOp::Rem if b == 0.0 => return V::Null,
        ArithOp::Rem => a % b,
    };
    if v.is_finite() { V::Num(v) } else { V::Null }
}

/// Evaluates `e` on `row`.
pub fn eval<'a>(e: &'a Expr, row: &Row<'a>, env: &Env<'a>) -> V<'a> {
    match e {
        Expr::Lit(v) => V::of(v),
        Expr::Col(c) => row.column(*c),
        Expr::Agg(i) => env.aggs.get(*i).copied().flatten().map_or(V::Null, V::Num),
        Expr::Not(a) => eval(a, row, env).truth().map_or(V::Null, |b| V::Bool(!b)),
        Expr::And(a, b) => match eval(a, row, env).truth() {
            Some(false) => V::Bool(false),
            l => match (l, eval(b, row, env).truth()) {
                (_, Some(false)) => V::Bool(false),
                (Some(true), Some(true)) => V::Bool(true),
                _ => V::Null,
            },
        },
        Expr::Or(a, b) => match eval(a, row, env).truth() {
            Some(true) => V::Bool(true),
            l => match (l, eval(b, row, env).truth()) {
                (_, Some(true)) => V::Bool(true),
                (Some(false), Some(false)) => V::Bool(false),
                _ => V::Null,
            },
        },
        Expr::Cmp(op, a, b) => compare(*op, eval(a, row, env), eval(b, row, env)),
        Expr::Arith(op, a, b) => match (eval(a, row, env).num(), eval(b, row, env).num()) {
            (Some(x), Some(y)) => arith(*op, x, y),
            _ => V::Null,
        },
        Expr::Neg(a) => eval(a, row, env).num().map_or(V::Null, |x| V::Num(-x)),
        Expr::In(a, list, negated) => {
            let v = eval(a, row, env);
            if v == V::Null {
                return V::Null;
            }
            let found = list.iter().any(|l| compare(CmpOp::Eq, v, V::of(l)) == V::Bool(true));
            V::Bool(found != *negated)
        }
        Expr::IsNull(a, negated) => V::Bool((eval(a, row, env) == V::Null) != *negated),
        Expr::Call(f) => call(f, row, env),
    }
}

fn call<'a>(f: &'a Func, row: &Row<'a>, env: &Env<'a>) -> V<'a> {
    match f {
        Func::InZone(z) => match row {
            Row::Point(_, p) => V::Bool(p.zones.iter().any(|s| **s == **z)),
            Row::Zone(place, _) => V::Bool(*place.id == **z),
            Row::Cross(..) | Row::Lane(..) => V::Null,
        },
        Func::Crossed(l) => match row {
            Row::Cross(place, _) => V::Bool(*place.id == **l),
            _ => V::Bool(false),
        },
        Func::SignalState(s) => env.book.signal_state(s).map_or(V::Null, |st| V::Str(state_name(st))),
        Func::SpeedOver(limit) => {
            let (Some(limit), Some(s)) = (eval(limit, row, env).num(), row.speed_ck()) else { return V::Null };
            speed_over(s, row.speed_std_ck().unwrap_or(0), to_ck(limit))
        }
        Func::Against(dx, dy) => match row.motion() {
            Some((true, dir)) => {
                let dot = i64::from(dir.0) * i64::from(*dx) + i64::from(dir.1) * i64::from(*dy);
                // More than 120° away from the direction.
                V::Bool(dot < -500_000)
            }
            _ => V::Null,
        },
        Func::HourOfDay | Func::MinuteOfDay | Func::DayOfWeek => {
            let Some(t) = env.tz.timestamp_millis_opt(row.ts() as i64).single() else { return V::Null };
            V::Num(match f {
                Func::HourOfDay => t.hour(),
                Func::MinuteOfDay => t.hour() * 60 + t.minute(),
                _ => t.weekday().number_from_monday(),
            } as f64)
        }
        Func::Abs(a) => eval(a, row, env).num().map_or(V::Null, |x| V::Num(x.abs())),
    }
}

/// Standard deviations of its speed by which a point must clear a speed limit
/// (`speed_over`).
///
/// On `zone_presence` the speed is the fixed-lag smoother's (`ZonePoint::smoothed`): σ about
/// 0.5–2 km/h per point at 30–130 m and 10 fps, half the causal filter's, and no lag behind
/// braking or acceleration, where the causal filter trails by `a·τ` (3 m/s² × 0.4 s ≈ 4 km/h).
/// One σ either side of the threshold is the band where a point says little: above it the
/// vehicle is speeding with ~84 % confidence, below it it is not; inside it neither starts,
/// extends nor ends an episode.
pub const SPEEDING_SIGMAS: f64 = 1.0;

/// `speed_over`, in centi-km/h.
fn speed_over(s: i64, std: i64, threshold: i64) -> V<'static> {
    let margin = (SPEEDING_SIGMAS * std as f64).round() as i64;
    if s - margin > threshold {
        V::Bool(true)
    } else if s + margin <= threshold {
        V::Bool(false)
    } else {
        V::Null
    }
}

/// The name of a signal state in the rule language.
pub fn state_name(s: SignalState) -> &'static str {
    match s {
        SignalState::Red => "red",
        SignalState::Yellow => "yellow",
        SignalState::Green => "green",
    }
}
