//! The rule language: a `SELECT` over one relation of the live tracks, with `FOR d` for
//! episodes and `GROUP BY …, WINDOW d … HAVING` for windowed conditions; see `docs/rules.md`
//! for the grammar. [`compile`] parses with sqlparser (the parser DataFusion uses), binds every
//! name against the pipeline and returns the rule IR ([`RuleIr`]) or every problem with its
//! line and column. Nothing here touches the dataflow: the half-join renders the IR.

mod bind;
mod explain;
mod front;

pub use explain::explain;
pub use front::{MAX_FOR_MS, MAX_WINDOW_MS};

use crate::rules::ir::{Column, Expr, Measure, Output, RuleIr, Source, Value, WindowIr};
use bind::Binder;
use itscam_types::config::{PipelineConfig, Problem, RuleConfig, RuleKind, RuleParams, Severity};
use sqlparser::ast::{self as sql, BinaryOperator as B, Spanned};
use sqlparser::tokenizer::Location;

/// A problem in a rule's text, at a line and column (1-based) of the text.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuleProblem {
    /// Line.
    pub line: u64,
    /// Column.
    pub column: u64,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}: {}", self.line, self.column, self.message)
    }
}

/// A compiled rule, and whether its text asked for `EXPLAIN`.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The rule.
    pub ir: RuleIr,
    /// `EXPLAIN` before it.
    pub explain: bool,
}

fn problem(at: Location, message: impl Into<String>) -> RuleProblem {
    RuleProblem { line: at.line.max(1), column: at.column.max(1), message: message.into() }
}

/// Any rule (built-in or `sql`) as IR, or its problems keyed `at.sql` (an sql rule's text).
pub fn compile_rule(rule: &RuleConfig, config: &PipelineConfig, at: &str) -> Result<RuleIr, Vec<Problem>> {
    if let Some(ir) = RuleIr::from_config(rule) {
        return Ok(ir);
    }
    let RuleParams::Sql(s) = &rule.params else { unreachable!("from_config covers the built-in kinds") };
    let text = s.sql.as_deref().unwrap_or_default();
    compile(text, rule, config)
        .map(|c| c.ir)
        .map_err(|ps| ps.into_iter().map(|p| Problem::new(format!("{at}.sql"), p.to_string())).collect())
}

/// Compiles `text` for the rule `keys` (its id, severity and camera are the defaults of
/// `CREATE RULE`'s, and must agree with them when both are given).
pub fn compile(text: &str, keys: &RuleConfig, config: &PipelineConfig) -> Result<Compiled, Vec<RuleProblem>> {
    let front = front::read(text).map_err(|p| vec![p])?;
    let mut problems = Vec::new();
    let id = match &front.name {
        Some((name, at)) if !keys.id.is_empty() && *name != keys.id => {
            problems.push(problem(*at, format!("the rule is named {name:?} but its id is {:?}", keys.id)));
            keys.id.clone()
        }
        Some((name, _)) if keys.id.is_empty() => name.clone(),
        _ => keys.id.clone(),
    };
    let severity = match &front.severity {
        Some((word, at)) => match word.as_str() {
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => {
                problems.push(problem(*at, format!("{word:?} is not a severity: low, medium, high or critical")));
                keys.severity
            }
        },
        None => keys.severity,
    };
    let select = match shape(&front.query) {
        Ok(s) => s,
        Err(p) => {
            problems.push(p);
            return Err(problems);
        }
    };
    let source = match relation(select) {
        Ok(s) => s,
        Err(p) => {
            problems.push(p);
            return Err(problems);
        }
    };
    let mut conj = Vec::new();
    if let Some(w) = &select.selection {
        conjuncts(w, &mut conj);
    }
    let cameras = match scope_cameras(&conj, &keys.camera) {
        Ok(c) => c,
        Err(p) => {
            problems.push(p);
            None
        }
    };
    let source = pin_place(source, &conj);
    let mut b = Binder { config, source: source.clone(), cameras: cameras.clone(), aggs: Vec::new(), aggregates_allowed: false, problems };
    let filter = select.selection.as_ref().map_or(Expr::Lit(Value::Bool(true)), |w| b.condition(w, "WHERE"));
    let mut output = output(&mut b, select, &front);
    projection(&mut b, select, &mut output);
    let mut problems = b.problems;
    if !problems.is_empty() {
        problems.sort();
        problems.dedup();
        return Err(problems);
    }
    let ir = RuleIr { id: id.as_str().into(), kind: RuleKind::Sql, severity, cameras, source, filter, output, limit: None };
    Ok(Compiled { ir, explain: front.explain })
}

/// The query must be one plain `SELECT … FROM relation [WHERE] [GROUP BY] [HAVING]`.
fn shape(q: &sql::Query) -> Result<&sql::Select, RuleProblem> {
    let at = q.span().start;
    if q.with.is_some() || q.order_by.is_some() || q.limit_clause.is_some() || q.fetch.is_some() {
        return Err(problem(at, "WITH, ORDER BY, LIMIT and FETCH are not in the rule language"));
    }
    let sql::SetExpr::Select(select) = &*q.body else {
        return Err(problem(at, "a rule is one SELECT (no UNION, VALUES or nesting)"));
    };
    if select.distinct.is_some() || select.top.is_some() || select.into.is_some() || !select.named_window.is_empty() || select.qualify.is_some() {
        return Err(problem(at, "DISTINCT, TOP, INTO, WINDOW … AS and QUALIFY are not in the rule language"));
    }
    Ok(select)
}

/// `FROM` one relation.
fn relation(select: &sql::Select) -> Result<Source, RuleProblem> {
    let at = select.span().start;
    let [from] = select.from.as_slice() else {
        return Err(problem(at, "a rule reads one relation: FROM track_points, zone_presence, line_crossings, queue_samples or queues"));
    };
    let sql::TableFactor::Table { name, .. } = &from.relation else {
        return Err(problem(from.relation.span().start, "FROM takes a relation's name"));
    };
    if !from.joins.is_empty() {
        return Err(problem(from.joins[0].span().start, "joins are not in the rule language: zones, lines and signals are read with in_zone(), crossed() and signal_state()"));
    }
    let ident = name.0.last().and_then(|p| p.as_ident());
    let place = ident.map_or(at, |i| i.span.start);
    match ident.map(|i| i.value.to_ascii_lowercase()).as_deref() {
        Some("track_points") => Ok(Source::TrackPoints),
        Some("zone_presence") => Ok(Source::ZonePresence(None)),
        Some("line_crossings") => Ok(Source::LineCrossings(None)),
        Some("queue_samples") => Ok(Source::QueueSamples(None)),
        Some("queues") => Ok(Source::LaneCycles(None)),
        Some("signals") => Err(problem(place, "signals is read with signal_state('id') in a condition, not as a relation")),
        _ => Err(problem(place, format!("no relation {name}: the rule language reads track_points, zone_presence, line_crossings, queue_samples and queues"))),
    }
}

/// The top-level `AND`ed parts of a condition.
fn conjuncts<'e>(e: &'e sql::Expr, out: &mut Vec<&'e sql::Expr>) {
    match e {
        sql::Expr::BinaryOp { left, op: B::And, right } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        sql::Expr::Nested(inner) if matches!(**inner, sql::Expr::BinaryOp { op: B::And, .. }) => conjuncts(inner, out),
        _ => out.push(e),
    }
}

fn is_column(e: &sql::Expr, name: &str) -> bool {
    matches!(e, sql::Expr::Identifier(i) if i.value.eq_ignore_ascii_case(name))
        || matches!(e, sql::Expr::CompoundIdentifier(ids) if ids.last().is_some_and(|i| i.value.eq_ignore_ascii_case(name)))
}

fn text_of(e: &sql::Expr) -> Option<String> {
    match e {
        sql::Expr::Value(sql::ValueWithSpan { value: sql::Value::SingleQuotedString(s), .. }) => Some(s.clone()),
        _ => None,
    }
}

/// `column = 'text'` (either way round), or `f('text')` for the function `f`.
fn equals_text(e: &sql::Expr, column: &str, function: &str) -> Option<String> {
    match e {
        sql::Expr::BinaryOp { left, op: B::Eq, right } if is_column(left, column) => text_of(right),
        sql::Expr::BinaryOp { left, op: B::Eq, right } if is_column(right, column) => text_of(left),
        sql::Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case(function) => match &f.args {
            sql::FunctionArguments::List(l) if l.args.len() == 1 => match &l.args[0] {
                sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(a)) => text_of(a),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// The cameras a rule watches: its `camera` key and the `camera_id = …` / `camera_id IN (…)`
/// parts of its `WHERE` (all of them must agree).
fn scope_cameras(conj: &[&sql::Expr], key: &str) -> Result<Option<Vec<String>>, RuleProblem> {
    let mut cameras: Option<Vec<String>> = (!key.is_empty()).then(|| vec![key.to_string()]);
    for e in conj {
        let listed: Option<Vec<String>> = match e {
            sql::Expr::InList { expr, list, negated: false } if is_column(expr, "camera_id") => list.iter().map(text_of).collect(),
            _ => equals_text(e, "camera_id", "").map(|c| vec![c]),
        };
        let Some(mut listed) = listed else { continue };
        if let Some(before) = &cameras {
            listed.retain(|c| before.contains(c));
            if listed.is_empty() {
                return Err(problem(e.span().start, "no camera is left: the rule's cameras and this condition do not meet"));
            }
        }
        listed.sort();
        listed.dedup();
        cameras = Some(listed);
    }
    Ok(cameras)
}

/// A rule on one zone or one line reads only that place's rows.
fn pin_place(source: Source, conj: &[&sql::Expr]) -> Source {
    let find = |column: &str, function: &str| conj.iter().find_map(|e| equals_text(e, column, function));
    match source {
        Source::ZonePresence(None) => Source::ZonePresence(find("zone_id", "in_zone")),
        Source::LineCrossings(None) => Source::LineCrossings(find("line_id", "crossed")),
        Source::QueueSamples(None) => Source::QueueSamples(find("lane_id", "")),
        Source::LaneCycles(None) => Source::LaneCycles(find("lane_id", "")),
        other => other,
    }
}

/// `FOR`, `GROUP BY …, WINDOW`, `HAVING` → how rows become violations.
fn output(b: &mut Binder<'_>, select: &sql::Select, front: &front::Front) -> Output {
    let group: Vec<&sql::Expr> = match &select.group_by {
        sql::GroupByExpr::Expressions(exprs, mods) if mods.is_empty() => exprs.iter().collect(),
        other => {
            b.problems.push(problem(select.span().start, format!("not in the rule language: GROUP BY {other}")));
            Vec::new()
        }
    };
    let Some((size_ms, window_at)) = front.window else {
        if let Some(g) = group.first() {
            b.problems.push(problem(g.span().start, "GROUP BY needs a window: GROUP BY …, WINDOW 10 s"));
        }
        if let Some(h) = &select.having {
            b.problems.push(problem(h.span().start, "HAVING needs GROUP BY …, WINDOW d"));
        }
        if matches!(b.source, Source::LineCrossings(_)) {
            if front.for_ms.is_some() {
                b.problems.push(problem(select.span().start, "a crossing is an instant: FOR does not apply to line_crossings (count crossings in a WINDOW instead)"));
            }
            return Output::Each;
        }
        if matches!(b.source, Source::LaneCycles(_)) {
            if front.for_ms.is_some() {
                b.problems.push(problem(select.span().start, "a finished cycle is one row: FOR does not apply to queues (count cycles in a WINDOW instead)"));
            }
            return Output::Each;
        }
        return Output::Episode { min_ms: front.for_ms.unwrap_or(0), value: Measure::Duration };
    };
    let mut columns = Vec::new();
    for g in group {
        let c = match g {
            sql::Expr::Identifier(id) => b.column(id),
            other => {
                b.problems.push(problem(other.span().start, "GROUP BY takes columns"));
                None
            }
        };
        match c {
            Some(c) if matches!(c, Column::CameraId | Column::ZoneId | Column::LineId | Column::Class | Column::Direction | Column::TrackId | Column::Approach | Column::LaneId) => columns.push(c),
            Some(c) => b.problems.push(problem(g.span().start, format!("cannot group by {}: group by camera_id, zone_id, line_id, class, direction, track_id, approach or lane_id", c.name()))),
            None => {}
        }
    }
    b.aggregates_allowed = true;
    let having = match &select.having {
        Some(h) => b.condition(h, "HAVING"),
        None => {
            b.problems.push(problem(window_at, "a windowed rule needs HAVING: the condition on the window's aggregates"));
            Expr::Lit(Value::Null)
        }
    };
    Output::Window(Box::new(WindowIr { size_ms, group: columns, aggs: b.aggs.clone(), having, min_ms: front.for_ms.unwrap_or(0) }))
}

/// The select list: `*`, columns (in GROUP BY, for a windowed rule) or aggregates; for an
/// episode rule, `max(speed_kmh)` or `min(speed_kmh)` makes that the violation's value (the
/// episode's length in s otherwise).
fn projection(b: &mut Binder<'_>, select: &sql::Select, output: &mut Output) {
    for item in &select.projection {
        let e = match item {
            sql::SelectItem::Wildcard(_) => continue,
            sql::SelectItem::UnnamedExpr(e) | sql::SelectItem::ExprWithAlias { expr: e, .. } => e,
            other => {
                b.problems.push(problem(other.span().start, format!("not in the rule language: {other}")));
                continue;
            }
        };
        if let (Output::Episode { value, .. }, sql::Expr::Function(f)) = (&mut *output, e) {
            let name = f.name.to_string().to_ascii_lowercase();
            let of = |column: &str| matches!(&f.args, sql::FunctionArguments::List(l) if l.args.len() == 1 && matches!(&l.args[0], sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(a)) if is_column(a, column)));
            let lanes = b.source.of_lanes();
            match (name.as_str(), of("speed_kmh") && !lanes, of("queue_m") && lanes) {
                ("max", true, _) => *value = Measure::MaxSpeed,
                ("min", true, _) => *value = Measure::MinSpeed,
                ("max", _, true) => *value = Measure::MaxQueue,
                _ if lanes => b.problems.push(problem(f.span().start, "an episode's value on queue_samples is max(queue_m) (its length otherwise)")),
                _ => b.problems.push(problem(f.span().start, "an episode's value is max(speed_kmh) or min(speed_kmh) (its length otherwise)")),
            }
            continue;
        }
        match (&*output, e) {
            (Output::Window(w), sql::Expr::Identifier(id)) => {
                if let Some(c) = b.column(id).filter(|c| !w.group.contains(c) && *c != Column::CameraId) {
                    b.problems.push(problem(id.span.start, format!("{} is neither in GROUP BY nor an aggregate", c.name())));
                }
            }
            _ => {
                b.expr(e);
            }
        }
    }
}

#[cfg(test)]
mod tests;
