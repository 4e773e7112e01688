//! Binding: sqlparser's `SELECT` against the pipeline, into the rule IR. Every name is checked
//! here — relation, column, function, camera, zone, line, signal, class — and each problem is
//! reported with its place in the text; binding goes on after a problem, so one check lists
//! them all.

use super::RuleProblem;
use crate::facts::unit_milli;
use crate::rules::ir::{Agg, AggFunc, ArithOp, CmpOp, Column, Expr, Func, Source, Value};
use itscam_types::ObjectClass;
use itscam_types::config::{CameraConfig, PipelineConfig};
use sqlparser::ast::{self as sql, BinaryOperator as B, Spanned, UnaryOperator as U};
use sqlparser::tokenizer::Location;

/// The type of a bound expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// Truth value.
    Bool,
    /// Number.
    Num,
    /// Text.
    Text,
    /// `NULL`: fits any.
    Null,
}

impl Ty {
    fn fits(self, other: Ty) -> bool {
        self == other || self == Ty::Null || other == Ty::Null
    }

    fn name(self) -> &'static str {
        match self {
            Ty::Bool => "a truth value",
            Ty::Num => "a number",
            Ty::Text => "text",
            Ty::Null => "NULL",
        }
    }
}

/// What a text literal is compared with, to check it names something real.
enum Domain {
    Column(Column),
    SignalState,
}

/// Binds the expressions of one rule.
pub struct Binder<'c> {
    /// The pipeline.
    pub config: &'c PipelineConfig,
    /// The relation the rule reads.
    pub source: Source,
    /// The cameras it watches (`None`: all).
    pub cameras: Option<Vec<String>>,
    /// Aggregates met so far (`HAVING`, then the select list).
    pub aggs: Vec<Agg>,
    /// Whether aggregates are allowed here.
    pub aggregates_allowed: bool,
    /// Problems so far.
    pub problems: Vec<RuleProblem>,
}

fn at(e: &impl Spanned) -> Location {
    e.span().start
}

impl<'c> Binder<'c> {
    fn bad(&mut self, at: Location, message: impl Into<String>) {
        self.problems.push(RuleProblem { line: at.line.max(1), column: at.column.max(1), message: message.into() });
    }

    /// The cameras in scope.
    fn scope(&self) -> Vec<&'c CameraConfig> {
        let cams = &self.config.camera;
        match &self.cameras {
            Some(ids) => cams.iter().filter(|c| ids.contains(&c.id)).collect(),
            None => cams.iter().collect(),
        }
    }

    fn scope_names(&self) -> String {
        match &self.cameras {
            Some(ids) => format!("camera {}", ids.join(", ")),
            None => "any camera".into(),
        }
    }

    /// Binds a condition (its type must be a truth value).
    pub fn condition(&mut self, e: &sql::Expr, what: &str) -> Expr {
        match self.expr(e) {
            Some((x, Ty::Bool | Ty::Null)) => x,
            Some((_, ty)) => {
                self.bad(at(e), format!("{what} must be a truth value, not {}", ty.name()));
                Expr::Lit(Value::Null)
            }
            None => Expr::Lit(Value::Null),
        }
    }

    /// A column by name.
    pub fn column(&mut self, ident: &sql::Ident) -> Option<Column> {
        let name = ident.value.to_ascii_lowercase();
        let Some((c, _)) = Column::ALL.iter().find(|(_, n)| *n == name) else {
            let names: Vec<&str> = Column::ALL.iter().filter(|(c, _)| c.in_source(&self.source)).map(|(_, n)| *n).collect();
            self.bad(ident.span.start, format!("no column {:?} in {}: its columns are {}", ident.value, self.source.name(), names.join(", ")));
            return None;
        };
        if !c.in_source(&self.source) {
            self.bad(ident.span.start, format!("{} has no column {name}", self.source.name()));
            return None;
        }
        Some(*c)
    }

    fn column_type(c: Column) -> Ty {
        match c {
            Column::CameraId | Column::Class | Column::ZoneId | Column::LineId | Column::Direction | Column::Approach | Column::LaneId => Ty::Text,
            Column::Moving | Column::Cleared | Column::SplitFailure => Ty::Bool,
            _ => Ty::Num,
        }
    }

    /// Binds an expression.
    pub fn expr(&mut self, e: &sql::Expr) -> Option<(Expr, Ty)> {
        match e {
            sql::Expr::Identifier(id) => self.column(id).map(|c| (Expr::Col(c), Self::column_type(c))),
            sql::Expr::CompoundIdentifier(ids) if ids.len() == 2 && ids[0].value.eq_ignore_ascii_case(self.source.name()) => {
                self.column(&ids[1]).map(|c| (Expr::Col(c), Self::column_type(c)))
            }
            sql::Expr::Value(v) => self.literal(v).map(|v| {
                let ty = match &v {
                    Value::Null => Ty::Null,
                    Value::Bool(_) => Ty::Bool,
                    Value::Num(_) => Ty::Num,
                    Value::Str(_) => Ty::Text,
                };
                (Expr::Lit(v), ty)
            }),
            sql::Expr::Nested(inner) => self.expr(inner),
            sql::Expr::UnaryOp { op, expr } => self.unary(*op, expr, e),
            sql::Expr::BinaryOp { left, op, right } => self.binary(left, op, right, e),
            sql::Expr::InList { expr, list, negated } => self.in_list(expr, list, *negated),
            sql::Expr::Between { expr, negated, low, high } => {
                let ge = sql::Expr::BinaryOp { left: expr.clone(), op: B::GtEq, right: low.clone() };
                let le = sql::Expr::BinaryOp { left: expr.clone(), op: B::LtEq, right: high.clone() };
                let (a, _) = self.expr(&ge)?;
                let (b, _) = self.expr(&le)?;
                let both = Expr::and(a, b);
                Some((if *negated { Expr::Not(Box::new(both)) } else { both }, Ty::Bool))
            }
            sql::Expr::IsNull(inner) | sql::Expr::IsNotNull(inner) => {
                let (x, _) = self.expr(inner)?;
                Some((Expr::IsNull(Box::new(x), matches!(e, sql::Expr::IsNotNull(_))), Ty::Bool))
            }
            sql::Expr::Function(f) => self.function(f),
            other => {
                self.bad(at(other), format!("not in the rule language: {other}"));
                None
            }
        }
    }

    fn literal(&mut self, v: &sql::ValueWithSpan) -> Option<Value> {
        match &v.value {
            sql::Value::Number(n, _) => match n.parse::<f64>() {
                Ok(x) if x.is_finite() => Some(Value::Num(x)),
                _ => {
                    self.bad(v.span.start, format!("{n} is not a number"));
                    None
                }
            },
            sql::Value::SingleQuotedString(s) => Some(Value::Str(s.as_str().into())),
            sql::Value::Boolean(b) => Some(Value::Bool(*b)),
            sql::Value::Null => Some(Value::Null),
            other => {
                self.bad(v.span.start, format!("not in the rule language: {other} (numbers, 'text', TRUE, FALSE, NULL)"));
                None
            }
        }
    }

    fn unary(&mut self, op: U, inner: &sql::Expr, whole: &sql::Expr) -> Option<(Expr, Ty)> {
        let (x, ty) = self.expr(inner)?;
        match op {
            U::Not if ty.fits(Ty::Bool) => Some((Expr::Not(Box::new(x)), Ty::Bool)),
            U::Minus if ty.fits(Ty::Num) => Some((Expr::Neg(Box::new(x)), Ty::Num)),
            U::Plus if ty.fits(Ty::Num) => Some((x, Ty::Num)),
            _ => {
                self.bad(at(whole), format!("{op} does not apply to {}", ty.name()));
                None
            }
        }
    }

    fn binary(&mut self, left: &sql::Expr, op: &B, right: &sql::Expr, whole: &sql::Expr) -> Option<(Expr, Ty)> {
        let l = self.expr(left);
        let r = self.expr(right);
        let ((a, ta), (b, tb)) = (l?, r?);
        let logic = |op: &B| match op {
            B::And => Some(true),
            B::Or => Some(false),
            _ => None,
        };
        if let Some(and) = logic(op) {
            for (t, side) in [(ta, left), (tb, right)] {
                if !t.fits(Ty::Bool) {
                    self.bad(at(side), format!("{op} needs truth values on both sides, not {}", t.name()));
                }
            }
            let (a, b) = (Box::new(a), Box::new(b));
            return Some((if and { Expr::And(a, b) } else { Expr::Or(a, b) }, Ty::Bool));
        }
        let cmp = match op {
            B::Eq => Some(CmpOp::Eq),
            B::NotEq => Some(CmpOp::Ne),
            B::Lt => Some(CmpOp::Lt),
            B::LtEq => Some(CmpOp::Le),
            B::Gt => Some(CmpOp::Gt),
            B::GtEq => Some(CmpOp::Ge),
            _ => None,
        };
        if let Some(cmp) = cmp {
            if !ta.fits(tb) {
                self.bad(at(whole), format!("cannot compare {} with {}", ta.name(), tb.name()));
            }
            self.check_literal_pair(&a, &b, right);
            self.check_literal_pair(&b, &a, left);
            return Some((Expr::cmp(cmp, a, b), Ty::Bool));
        }
        let arith = match op {
            B::Plus => ArithOp::Add,
            B::Minus => ArithOp::Sub,
            B::Multiply => ArithOp::Mul,
            B::Divide => ArithOp::Div,
            B::Modulo => ArithOp::Rem,
            other => {
                self.bad(at(whole), format!("the operator {other} is not in the rule language"));
                return None;
            }
        };
        for (t, side) in [(ta, left), (tb, right)] {
            if !t.fits(Ty::Num) {
                self.bad(at(side), format!("{op} needs numbers, not {}", t.name()));
            }
        }
        Some((Expr::Arith(arith, Box::new(a), Box::new(b)), Ty::Num))
    }

    /// `x = 'text'`: the text must name something `x` can be.
    fn check_literal_pair(&mut self, x: &Expr, lit: &Expr, lit_ast: &sql::Expr) {
        let domain = match x {
            Expr::Col(c) => Domain::Column(*c),
            Expr::Call(Func::SignalState(_)) => Domain::SignalState,
            _ => return,
        };
        if let Expr::Lit(Value::Str(s)) = lit {
            self.check_text(&domain, s, at(lit_ast));
        }
    }

    fn check_text(&mut self, domain: &Domain, s: &str, place: Location) {
        let scope = self.scope();
        let problem = match domain {
            Domain::Column(Column::Class) if ObjectClass::from_name(s).is_none() => Some(format!("{s:?} is not a COCO class name (such as car, truck, bus, bicycle, person)")),
            Domain::Column(Column::CameraId) if self.config.camera(s).is_none() => Some(format!("no camera {s:?}")),
            Domain::Column(Column::ZoneId) if !scope.iter().any(|c| c.zone.iter().any(|z| z.id == s)) => Some(format!("{} has no zone {s:?}", self.scope_names())),
            Domain::Column(Column::LineId) if !scope.iter().any(|c| c.line.iter().any(|l| l.id == s)) => Some(format!("{} has no line {s:?}", self.scope_names())),
            Domain::Column(Column::Approach) if !scope.iter().any(|c| c.approach.iter().any(|a| a.id == s)) => Some(format!("{} has no approach {s:?}", self.scope_names())),
            Domain::Column(Column::LaneId) if !scope.iter().any(|c| c.approach.iter().any(|a| a.lanes.iter().any(|l| l.id == s))) => {
                Some(format!("{} has no approach lane {s:?}", self.scope_names()))
            }
            Domain::Column(Column::Direction) if !matches!(s, "forward" | "backward") => Some(format!("{s:?} is not a direction: 'forward' or 'backward'")),
            Domain::SignalState if !matches!(s, "red" | "yellow" | "green") => Some(format!("{s:?} is not a signal state: 'red', 'yellow' or 'green'")),
            _ => None,
        };
        if let Some(p) = problem {
            self.bad(place, p);
        }
    }

    fn in_list(&mut self, inner: &sql::Expr, list: &[sql::Expr], negated: bool) -> Option<(Expr, Ty)> {
        let (x, tx) = self.expr(inner)?;
        let domain = match &x {
            Expr::Col(c) => Some(Domain::Column(*c)),
            Expr::Call(Func::SignalState(_)) => Some(Domain::SignalState),
            _ => None,
        };
        let mut values = Vec::new();
        for item in list {
            let lit = match item {
                sql::Expr::Value(v) => self.literal(v),
                sql::Expr::UnaryOp { op: U::Minus, expr } => match &**expr {
                    sql::Expr::Value(v) => self.literal(v).map(|v| if let Value::Num(n) = v { Value::Num(-n) } else { v }),
                    _ => None,
                },
                _ => None,
            };
            let Some(lit) = lit else {
                self.bad(at(item), "IN takes a list of constants");
                continue;
            };
            let ty = match &lit {
                Value::Str(_) => Ty::Text,
                Value::Num(_) => Ty::Num,
                Value::Bool(_) => Ty::Bool,
                Value::Null => Ty::Null,
            };
            if !tx.fits(ty) {
                self.bad(at(item), format!("cannot compare {} with {}", tx.name(), ty.name()));
            }
            if let (Some(d), Value::Str(s)) = (&domain, &lit) {
                self.check_text(d, s, at(item));
            }
            values.push(lit);
        }
        Some((Expr::In(Box::new(x), values, negated), Ty::Bool))
    }

    /// The function's name and its plain arguments (`None` for `*`).
    fn args<'f>(&mut self, f: &'f sql::Function) -> Option<(String, Vec<Option<&'f sql::Expr>>, bool)> {
        let name = f.name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.to_ascii_lowercase()).unwrap_or_default();
        if f.over.is_some() || f.filter.is_some() {
            self.bad(at(f), "OVER and FILTER are not in the rule language: a window is GROUP BY …, WINDOW d");
            return None;
        }
        let (args, distinct) = match &f.args {
            sql::FunctionArguments::None => (Vec::new(), false),
            sql::FunctionArguments::List(list) => {
                let mut args = Vec::new();
                for a in &list.args {
                    match a {
                        sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(e)) => args.push(Some(e)),
                        sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Wildcard) => args.push(None),
                        other => {
                            self.bad(at(f), format!("not in the rule language: the argument {other}"));
                            return None;
                        }
                    }
                }
                (args, matches!(list.duplicate_treatment, Some(sql::DuplicateTreatment::Distinct)))
            }
            sql::FunctionArguments::Subquery(_) => {
                self.bad(at(f), "subqueries are not in the rule language");
                return None;
            }
        };
        Some((name, args, distinct))
    }

    fn function(&mut self, f: &sql::Function) -> Option<(Expr, Ty)> {
        let (name, args, distinct) = self.args(f)?;
        let place = at(f);
        if matches!(name.as_str(), "count" | "sum" | "avg" | "min" | "max") {
            return self.aggregate(&name, &args, distinct, place);
        }
        let arity = match name.as_str() {
            "in_zone" | "crossed" | "signal_state" | "speed_over" | "abs" => 1,
            "against" => 2,
            "hour_of_day" | "minute_of_day" | "day_of_week" => 0,
            _ => {
                self.bad(place, format!("no function {name}(): the rule language has in_zone, crossed, signal_state, speed_over, against, hour_of_day, minute_of_day, day_of_week, abs, and count, sum, avg, min, max in HAVING"));
                return None;
            }
        };
        if args.len() != arity || args.iter().any(Option::is_none) {
            self.bad(place, format!("{name}() takes {arity} argument{}", if arity == 1 { "" } else { "s" }));
            return None;
        }
        let args: Vec<&sql::Expr> = args.into_iter().flatten().collect();
        match name.as_str() {
            "in_zone" | "crossed" | "signal_state" => self.named(&name, args[0]),
            "speed_over" | "abs" => {
                let (x, ty) = self.expr(args[0])?;
                if !ty.fits(Ty::Num) {
                    self.bad(at(args[0]), format!("{name}() takes a number, not {}", ty.name()));
                }
                Some(if name == "abs" { (Expr::Call(Func::Abs(Box::new(x))), Ty::Num) } else { (Expr::Call(Func::SpeedOver(Box::new(x))), Ty::Bool) })
            }
            "against" => {
                if matches!(self.source, Source::LineCrossings(_)) {
                    self.bad(place, "against() needs motion: line_crossings rows have none");
                }
                let nums: Vec<Option<f64>> = args.iter().map(|a| constant_number(a)).collect();
                let (Some(dx), Some(dy)) = (nums[0], nums[1]) else {
                    self.bad(place, "against(dx, dy) takes two constant numbers: the allowed direction in the image");
                    return None;
                };
                let dir = unit_milli(dx, dy);
                if dir == (0, 0) {
                    self.bad(place, "against(dx, dy) needs a direction that is not (0, 0)");
                }
                Some((Expr::Call(Func::Against(dir.0, dir.1)), Ty::Bool))
            }
            "hour_of_day" => Some((Expr::Call(Func::HourOfDay), Ty::Num)),
            "minute_of_day" => Some((Expr::Call(Func::MinuteOfDay), Ty::Num)),
            _ => Some((Expr::Call(Func::DayOfWeek), Ty::Num)),
        }
    }

    /// `in_zone('z')`, `crossed('l')`, `signal_state('s')`: a constant name, checked.
    fn named(&mut self, name: &str, arg: &sql::Expr) -> Option<(Expr, Ty)> {
        let text = match arg {
            sql::Expr::Value(sql::ValueWithSpan { value: sql::Value::SingleQuotedString(s), .. }) => s.clone(),
            other => {
                self.bad(at(other), format!("{name}() takes a constant name in quotes, such as {name}('id')"));
                return None;
            }
        };
        let scope = self.scope();
        let place = at(arg);
        match name {
            "in_zone" => {
                if matches!(self.source, Source::LineCrossings(_)) {
                    self.bad(place, "in_zone() reads track_points or zone_presence, not line_crossings");
                } else if !scope.iter().any(|c| c.zone.iter().any(|z| z.id == text)) {
                    self.bad(place, format!("{} has no zone {text:?}", self.scope_names()));
                }
                Some((Expr::Call(Func::InZone(text)), Ty::Bool))
            }
            "crossed" => {
                if !matches!(self.source, Source::LineCrossings(_)) {
                    self.bad(place, "crossed() reads line_crossings");
                } else if !scope.iter().any(|c| c.line.iter().any(|l| l.id == text)) {
                    self.bad(place, format!("{} has no line {text:?}", self.scope_names()));
                }
                Some((Expr::Call(Func::Crossed(text)), Ty::Bool))
            }
            _ => {
                if !self.config.signal.iter().any(|s| s.id == text) {
                    self.bad(place, format!("no signal {text:?} (signals are declared with [[signal]])"));
                }
                Some((Expr::Call(Func::SignalState(text)), Ty::Text))
            }
        }
    }

    fn aggregate(&mut self, name: &str, args: &[Option<&sql::Expr>], distinct: bool, place: Location) -> Option<(Expr, Ty)> {
        if !self.aggregates_allowed {
            self.bad(place, format!("{name}() is an aggregate: it belongs in HAVING (and the select list) of a rule with GROUP BY …, WINDOW d"));
            return None;
        }
        let arg = match args {
            [None] if name == "count" && !distinct => None,
            [Some(sql::Expr::Identifier(id))] => Some(self.column(id)?),
            _ => {
                self.bad(place, format!("{name}() takes one column{}", if name == "count" { " or *" } else { "" }));
                return None;
            }
        };
        let func = match (name, distinct) {
            ("count", true) if arg == Some(Column::TrackId) => AggFunc::CountDistinct,
            ("count", true) => {
                self.bad(place, "count(DISTINCT …) counts tracks: count(DISTINCT track_id)");
                return None;
            }
            ("count", false) => AggFunc::Count,
            (_, true) => {
                self.bad(place, format!("{name}(DISTINCT …) is not in the rule language"));
                return None;
            }
            ("sum", _) => AggFunc::Sum,
            ("avg", _) => AggFunc::Avg,
            ("min", _) => AggFunc::Min,
            _ => AggFunc::Max,
        };
        if let Some(c) = arg.filter(|_| func != AggFunc::Count && func != AggFunc::CountDistinct)
            && Self::column_type(c) != Ty::Num
        {
            self.bad(place, format!("{name}() needs a numeric column, not {}", c.name()));
        }
        let agg = Agg { func, arg };
        let i = match self.aggs.iter().position(|a| *a == agg) {
            Some(i) => i,
            None => {
                self.aggs.push(agg);
                self.aggs.len() - 1
            }
        };
        Some((Expr::Agg(i), Ty::Num))
    }
}

/// A constant number (`3`, `-1.5`).
fn constant_number(e: &sql::Expr) -> Option<f64> {
    match e {
        sql::Expr::Value(sql::ValueWithSpan { value: sql::Value::Number(n, _), .. }) => n.parse().ok(),
        sql::Expr::UnaryOp { op: U::Minus, expr } => constant_number(expr).map(|v| -v),
        sql::Expr::Nested(inner) => constant_number(inner),
        _ => None,
    }
}
