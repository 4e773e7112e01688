//! `EXPLAIN`: a rule's plan as text — what it reads, how facts find it, the condition as
//! bound, and how rows become violations.

use crate::rules::ir::{AggFunc, ArithOp, CmpOp, Expr, Func, Output, RuleIr, Source, Value};
use std::fmt::Write;

/// The plan of `ir`, one step per line.
pub fn explain(ir: &RuleIr, grace_ms: u64) -> String {
    let mut s = String::new();
    let cameras = ir.cameras.as_ref().map_or("every camera".to_string(), |c| format!("camera {}", c.join(", ")));
    let _ = writeln!(s, "rule {} (kind {}, severity {})", ir.id, ir.kind.as_str(), ir.severity.as_str());
    let read = match &ir.source {
        Source::TrackPoints => format!("track_points of {cameras}: each point of a confirmed track, on the camera's worker"),
        Source::ZonePresence(Some(z)) => format!("zone_presence of zone {z} on {cameras}: looked up by (camera, zone)"),
        Source::ZonePresence(None) => format!("zone_presence of every zone on {cameras}"),
        Source::LineCrossings(Some(l)) => format!("line_crossings of line {l} on {cameras}: looked up by (camera, line)"),
        Source::LineCrossings(None) => format!("line_crossings of every line on {cameras}"),
        Source::QueueSamples(Some(l)) => format!("queue_samples of lane {l} on {cameras}: the lane's queue every queue_sample_ms, on the camera's worker"),
        Source::QueueSamples(None) => format!("queue_samples of every junction lane on {cameras}"),
        Source::LaneCycles(Some(l)) => format!("queues of lane {l} on {cameras}: each finished cycle of the lane's signal"),
        Source::LaneCycles(None) => format!("queues of every junction lane on {cameras}: each finished signal cycle"),
    };
    let _ = writeln!(s, "  read    {read}");
    let _ = writeln!(s, "  where   {}", show(&ir.filter, &[]));
    match &ir.output {
        Output::Each => {
            let _ = writeln!(s, "  emit    one violation per row where the condition is TRUE");
        }
        Output::Episode { min_ms, .. } if ir.source.of_lanes() => {
            let _ = writeln!(s, "  episode per (camera, lane): TRUE for ≥ {min_ms} ms confirms; FALSE for {grace_ms} ms ends it; NULL says nothing");
        }
        Output::Episode { min_ms, .. } => {
            let _ = writeln!(s, "  episode per (camera, track): TRUE for ≥ {min_ms} ms confirms; FALSE for {grace_ms} ms, the track's end or leaving ends it; NULL says nothing");
        }
        Output::Window(w) => {
            let groups: Vec<&str> = std::iter::once("camera_id").chain(w.group.iter().map(|c| c.name()).filter(|n| *n != "camera_id")).collect();
            let aggs: Vec<String> = w.aggs.iter().map(agg_name).collect();
            let _ = writeln!(s, "  window  {} ms sliding, per ({}): {}", w.size_ms, groups.join(", "), aggs.join(", "));
            let _ = writeln!(s, "  having  {}", show(&w.having, &aggs));
            let _ = writeln!(s, "  episode per group: HAVING TRUE for ≥ {} ms confirms; FALSE for {grace_ms} ms ends it", w.min_ms);
        }
    }
    s
}

fn agg_name(a: &crate::rules::ir::Agg) -> String {
    let arg = a.arg.map_or("*", |c| c.name());
    match a.func {
        AggFunc::Count => format!("count({arg})"),
        AggFunc::CountDistinct => format!("count(DISTINCT {arg})"),
        AggFunc::Sum => format!("sum({arg})"),
        AggFunc::Avg => format!("avg({arg})"),
        AggFunc::Min => format!("min({arg})"),
        AggFunc::Max => format!("max({arg})"),
    }
}

fn value(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Bool(b) => if *b { "TRUE" } else { "FALSE" }.into(),
        Value::Num(n) => format!("{n}"),
        Value::Str(s) => format!("'{}'", s.replace('\'', "''")),
    }
}

/// An expression in the rule language (fully parenthesised).
pub fn show(e: &Expr, aggs: &[String]) -> String {
    let op = |o: CmpOp| match o {
        CmpOp::Eq => "=",
        CmpOp::Ne => "<>",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    };
    let ar = |o: ArithOp| match o {
        ArithOp::Add => "+",
        ArithOp::Sub => "-",
        ArithOp::Mul => "*",
        ArithOp::Div => "/",
        ArithOp::Rem => "%",
    };
    match e {
        Expr::Lit(v) => value(v),
        Expr::Col(c) => c.name().into(),
        Expr::Agg(i) => aggs.get(*i).cloned().unwrap_or_else(|| format!("agg#{i}")),
        Expr::Not(a) => format!("NOT {}", show(a, aggs)),
        Expr::And(a, b) => format!("({} AND {})", show(a, aggs), show(b, aggs)),
        Expr::Or(a, b) => format!("({} OR {})", show(a, aggs), show(b, aggs)),
        Expr::Cmp(o, a, b) => format!("{} {} {}", show(a, aggs), op(*o), show(b, aggs)),
        Expr::Arith(o, a, b) => format!("({} {} {})", show(a, aggs), ar(*o), show(b, aggs)),
        Expr::Neg(a) => format!("-{}", show(a, aggs)),
        Expr::In(a, list, negated) => {
            let items: Vec<String> = list.iter().map(value).collect();
            format!("{} {}IN ({})", show(a, aggs), if *negated { "NOT " } else { "" }, items.join(", "))
        }
        Expr::IsNull(a, negated) => format!("{} IS {}NULL", show(a, aggs), if *negated { "NOT " } else { "" }),
        Expr::Call(f) => match f {
            Func::InZone(z) => format!("in_zone('{z}')"),
            Func::Crossed(l) => format!("crossed('{l}')"),
            Func::SignalState(s) => format!("signal_state('{s}')"),
            Func::SpeedOver(x) => format!("speed_over({})", show(x, aggs)),
            Func::Against(dx, dy) => format!("against({}, {})", f64::from(*dx) / 1000.0, f64::from(*dy) / 1000.0),
            Func::HourOfDay => "hour_of_day()".into(),
            Func::MinuteOfDay => "minute_of_day()".into(),
            Func::DayOfWeek => "day_of_week()".into(),
            Func::Abs(x) => format!("abs({})", show(x, aggs)),
        },
    }
}
