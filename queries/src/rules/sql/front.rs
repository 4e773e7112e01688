//! The front of the rule language: the parts SQL has no syntax for (`EXPLAIN`,
//! `CREATE RULE name SEVERITY s AS`, `WINDOW d` in `GROUP BY`, a trailing `FOR d`) are taken
//! out of the token stream and blanked in the text, which keeps every other character where it
//! was; sqlparser then parses the rest as a `SELECT`, and every position it or the binder
//! reports is a position in the rule's own text.

use super::RuleProblem;
use sqlparser::ast::{Query, Statement};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

/// Longest `FOR` and `WINDOW`, ms.
pub const MAX_FOR_MS: u64 = 24 * 3_600_000;
/// Longest `WINDOW`, ms (a window's rows are kept in memory).
pub const MAX_WINDOW_MS: u64 = 3_600_000;

/// What the front found.
#[derive(Debug)]
pub struct Front {
    /// `EXPLAIN` before the rule.
    pub explain: bool,
    /// `CREATE RULE name`: the name and where it is.
    pub name: Option<(String, Location)>,
    /// `SEVERITY s`: the word and where it is.
    pub severity: Option<(String, Location)>,
    /// `FOR d`, ms.
    pub for_ms: Option<u64>,
    /// `WINDOW d`, ms, and where it is.
    pub window: Option<(u64, Location)>,
    /// The `SELECT`.
    pub query: Box<Query>,
}

fn problem(at: Location, message: impl Into<String>) -> RuleProblem {
    RuleProblem { line: at.line.max(1), column: at.column.max(1), message: message.into() }
}

fn is_word(t: &Token, w: &str) -> bool {
    matches!(t, Token::Word(word) if word.quote_style.is_none() && word.value.eq_ignore_ascii_case(w))
}

/// Milliseconds of `n unit`.
fn duration(tokens: &[&TokenWithSpan], at: usize, what: &str) -> Result<u64, RuleProblem> {
    let here = tokens.get(at.saturating_sub(1)).map_or(Location::new(1, 1), |t| t.span.start);
    let (Some(n), Some(unit)) = (tokens.get(at), tokens.get(at + 1)) else {
        return Err(problem(here, format!("{what} needs a duration such as `5 s`")));
    };
    let Token::Number(digits, _) = &n.token else { return Err(problem(n.span.start, format!("{what} needs a number, then a unit (ms, s, min, h)"))) };
    let factor = match &unit.token {
        Token::Word(w) => match w.value.to_ascii_lowercase().as_str() {
            "ms" | "millisecond" | "milliseconds" => 1.0,
            "s" | "sec" | "second" | "seconds" => 1_000.0,
            "min" | "minute" | "minutes" => 60_000.0,
            "h" | "hour" | "hours" => 3_600_000.0,
            _ => return Err(problem(unit.span.start, format!("{:?} is not a unit: ms, s, min or h", w.value))),
        },
        _ => return Err(problem(unit.span.start, "a unit is needed: ms, s, min or h")),
    };
    let ms = digits.parse::<f64>().map(|v| v * factor).unwrap_or(f64::NAN);
    let max = if what == "WINDOW" { MAX_WINDOW_MS } else { MAX_FOR_MS };
    if !(ms >= 0.0 && ms <= max as f64) || (what == "WINDOW" && ms < 1.0) {
        return Err(problem(n.span.start, format!("{what} must be {} and at most {} s", if what == "WINDOW" { "at least 1 ms" } else { "≥ 0" }, max / 1000)));
    }
    Ok(ms.round() as u64)
}

/// Byte offset of a location (1-based line and column, columns counted in characters).
fn offset(line_starts: &[usize], text: &str, at: Location) -> usize {
    let Some(&start) = line_starts.get(at.line.saturating_sub(1) as usize) else { return text.len() };
    text[start..].char_indices().nth(at.column.saturating_sub(1) as usize).map_or(text.len(), |(i, _)| start + i)
}

/// The text with the tokens `blank` replaced by spaces (newlines kept).
fn blanked(text: &str, blank: &[&TokenWithSpan]) -> String {
    let mut line_starts = vec![0];
    line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
    let mut bytes = text.as_bytes().to_vec();
    for t in blank {
        let (a, b) = (offset(&line_starts, text, t.span.start), offset(&line_starts, text, t.span.end));
        for i in a..b.min(bytes.len()) {
            if bytes[i] != b'\n' {
                bytes[i] = b' ';
            }
        }
    }
    // Only whole ASCII tokens (words, numbers, punctuation) are blanked, byte for byte.
    String::from_utf8(bytes).unwrap_or_else(|_| text.to_string())
}

/// `EXPLAIN`, `CREATE RULE name [SEVERITY s] AS`: consumed from `tokens[0..]`.
fn header<'t>(tokens: &[&'t TokenWithSpan], front: &mut Front, blank: &mut Vec<&'t TokenWithSpan>) -> Result<usize, RuleProblem> {
    let mut i = 0;
    if tokens.first().is_some_and(|t| is_word(&t.token, "EXPLAIN")) {
        front.explain = true;
        blank.push(tokens[0]);
        i = 1;
    }
    if !tokens.get(i).is_some_and(|t| is_word(&t.token, "CREATE")) {
        return Ok(i);
    }
    let at = tokens[i].span.start;
    if !tokens.get(i + 1).is_some_and(|t| is_word(&t.token, "RULE")) {
        return Err(problem(at, "expected CREATE RULE name [SEVERITY level] AS SELECT …"));
    }
    let Some(Token::Word(name)) = tokens.get(i + 2).map(|t| &t.token) else {
        return Err(problem(tokens[i + 1].span.end, "CREATE RULE needs a name"));
    };
    front.name = Some((name.value.clone(), tokens[i + 2].span.start));
    let mut j = i + 3;
    if tokens.get(j).is_some_and(|t| is_word(&t.token, "SEVERITY")) {
        let Some(Token::Word(level)) = tokens.get(j + 1).map(|t| &t.token) else {
            return Err(problem(tokens[j].span.end, "SEVERITY needs low, medium, high or critical"));
        };
        front.severity = Some((level.value.to_ascii_lowercase(), tokens[j + 1].span.start));
        j += 2;
    }
    if !tokens.get(j).is_some_and(|t| is_word(&t.token, "AS")) {
        let at = tokens.get(j).map_or(tokens[j - 1].span.end, |t| t.span.start);
        return Err(problem(at, "expected AS, then the rule's SELECT"));
    }
    blank.extend(&tokens[i..=j]);
    Ok(j + 1)
}

/// Reads a rule's text: see the module docs.
pub fn read(text: &str) -> Result<Front, RuleProblem> {
    let all = Tokenizer::new(&GenericDialect {}, text)
        .tokenize_with_location()
        .map_err(|e| problem(e.location, e.message.clone()))?;
    let tokens: Vec<&TokenWithSpan> = all.iter().filter(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF)).collect();
    let placeholder = Parser::new(&GenericDialect {}).try_with_sql("SELECT 1").and_then(|mut p| p.parse_query()).expect("a constant query parses");
    let mut front = Front { explain: false, name: None, severity: None, for_ms: None, window: None, query: placeholder };
    let mut blank = Vec::new();
    let start = header(&tokens, &mut front, &mut blank)?;
    if start >= tokens.len() {
        return Err(problem(tokens.last().map_or(Location::new(1, 1), |t| t.span.end), "the rule's SELECT is missing"));
    }
    let mut depth = 0i32;
    let mut i = start;
    while i < tokens.len() {
        let t = &tokens[i].token;
        match t {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ if depth > 0 => {}
            Token::Word(_) if is_word(t, "FOR") => {
                front.for_ms = Some(duration(&tokens, i + 1, "FOR")?);
                blank.extend(&tokens[i..i + 3]);
                let rest = tokens[i + 3..].iter().find(|t| !matches!(t.token, Token::SemiColon));
                if let Some(extra) = rest {
                    return Err(problem(extra.span.start, "FOR d ends the rule: nothing may follow it"));
                }
                break;
            }
            Token::Word(_) if is_word(t, "WINDOW") => {
                let ms = duration(&tokens, i + 1, "WINDOW")?;
                front.window = Some((ms, tokens[i].span.start));
                blank.extend(&tokens[i..i + 3]);
                window_glue(&tokens, i, &mut blank)?;
                i += 3;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    let masked = blanked(text, &blank);
    front.query = select(&masked)?;
    Ok(front)
}

/// The comma before `WINDOW` (or after it, or the `GROUP BY` before it when it is the only
/// group key) goes with it.
fn window_glue<'t>(tokens: &[&'t TokenWithSpan], i: usize, blank: &mut Vec<&'t TokenWithSpan>) -> Result<(), RuleProblem> {
    let prev = i.checked_sub(1).map(|p| &tokens[p].token);
    let next = tokens.get(i + 3).map(|t| &t.token);
    match (prev, next) {
        (Some(Token::Comma), _) => blank.push(tokens[i - 1]),
        (Some(p), Some(Token::Comma)) if is_word(p, "BY") => blank.push(tokens[i + 3]),
        (Some(p), _) if is_word(p, "BY") && i >= 2 && is_word(&tokens[i - 2].token, "GROUP") => blank.extend(&tokens[i - 2..i]),
        _ => return Err(problem(tokens[i].span.start, "WINDOW d belongs in GROUP BY: GROUP BY camera_id, zone_id, WINDOW 10 s")),
    }
    Ok(())
}

/// Parses the (blanked) text as one `SELECT`.
fn select(masked: &str) -> Result<Box<Query>, RuleProblem> {
    let parsed = Parser::new(&GenericDialect {}).try_with_sql(masked).and_then(|mut p| p.parse_statements());
    let statements = parsed.map_err(|e| {
        let message = e.to_string();
        problem(location_in(&message).unwrap_or_else(|| end_of(masked)), message.trim_start_matches("sql parser error: ").to_string())
    })?;
    let mut statements = statements.into_iter();
    match (statements.next(), statements.next()) {
        (Some(Statement::Query(q)), None) => Ok(q),
        (Some(Statement::Query(_)), Some(_)) => Err(problem(Location::new(1, 1), "one rule per text")),
        _ => Err(problem(Location::new(1, 1), "a rule is a SELECT (optionally CREATE RULE name AS SELECT …)")),
    }
}

/// sqlparser's errors end with `at Line: L, Column: C` (but at the end of the text).
fn location_in(message: &str) -> Option<Location> {
    let number_after = |key: &str| message.rfind(key).and_then(|i| message[i + key.len()..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok());
    Some(Location::new(number_after("Line: ")?, number_after("Column: ")?))
}

/// Just after the last character that is not blank.
fn end_of(text: &str) -> Location {
    let trimmed = text.trim_end();
    let line = trimmed.lines().count().max(1);
    let column = trimmed.lines().last().map_or(0, |l| l.chars().count()) + 1;
    Location::new(line as u64, column as u64)
}
