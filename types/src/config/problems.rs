//! Config problems with their locations.

/// One problem in a config: where, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Key path such as `camera[0].zone[1].polygon`; empty for the whole file.
    pub key: String,
    /// 1-based line in the file, when it could be found.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// A problem at a key path, without a line.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Problem { key: key.into(), line: None, message: message.into() }
    }

    /// A problem at a key path, with the line where that key is written in `text`.
    pub fn located(text: &str, key: &str, message: String) -> Self {
        Problem { key: key.to_string(), line: find_key_line(text, key), message }
    }

    /// A TOML syntax error.
    pub fn syntax(text: &str, e: &toml::de::Error) -> Self {
        let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        Problem { key: String::new(), line, message: format!("TOML syntax error: {}", e.message().trim()) }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.line, self.key.is_empty()) {
            (Some(l), false) => write!(f, "line {l}: {}: {}", self.key, self.message),
            (Some(l), true) => write!(f, "line {l}: {}", self.message),
            (None, false) => write!(f, "{}: {}", self.key, self.message),
            (None, true) => write!(f, "{}", self.message),
        }
    }
}

/// A config that failed to load: every problem found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    /// The config file.
    pub file: String,
    /// Every problem found.
    pub problems: Vec<Problem>,
}

/// `camera.0.zone.1.x` → `camera[0].zone[1].x`.
pub(crate) fn index_path(dotted: &str) -> String {
    let mut out = String::new();
    for part in dotted.split('.').filter(|p| !p.is_empty() && *p != "?") {
        if part.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(part);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}

/// Best-effort line of a key path: walks `[[array]]` headers and `[table]` headers to the n-th
/// element, then finds `key =` below it. Returns `None` when the layout is too unusual.
fn find_key_line(text: &str, key: &str) -> Option<usize> {
    // Split `camera[1].zone[0].polygon` into segments with optional indexes.
    let segments: Vec<(&str, Option<usize>)> = key
        .split('.')
        .map(|s| match s.find('[') {
            Some(i) => (&s[..i], s[i + 1..s.len() - 1].parse().ok()),
            None => (s, None),
        })
        .collect();
    let lines: Vec<&str> = text.lines().collect();
    let mut start = 0usize;
    let mut header = String::new();
    for (depth, (name, index)) in segments.iter().enumerate() {
        let last = depth + 1 == segments.len();
        if !header.is_empty() {
            header.push('.');
        }
        header.push_str(name);
        if let Some(n) = index {
            let want = format!("[[{header}]]");
            let mut seen = 0;
            let mut found = None;
            for (i, l) in lines.iter().enumerate().skip(start) {
                if l.trim() == want {
                    if seen == *n {
                        found = Some(i);
                        break;
                    }
                    seen += 1;
                }
            }
            start = found?;
            if last {
                return Some(start + 1);
            }
        } else if last {
            return lines.iter().enumerate().skip(start).find_map(|(i, l)| {
                let t = l.trim_start();
                let is_key = t.strip_prefix(*name).is_some_and(|rest| rest.trim_start().starts_with('='));
                let is_table = t == format!("[{header}]") || t == format!("[[{header}]]");
                (is_key || is_table).then_some(i + 1)
            });
        } else {
            let want = format!("[{header}]");
            if let Some(i) = lines.iter().enumerate().skip(start).find(|(_, l)| l.trim() == want).map(|(i, _)| i) {
                start = i;
            }
        }
    }
    None
}
