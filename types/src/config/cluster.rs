//! `[cluster]`: several `itscam` processes running one dataflow (timely's own cluster over TCP).
//! README "Scaling out".

use super::Problem;
use serde::{Deserialize, Serialize};

/// `[cluster]`: the processes of one timely cluster. Every process runs the same config with
/// its own `process` index (`--process` overrides it, `--cluster FILE` overrides `hosts`);
/// each runs `[pipeline] workers` worker threads, so the cluster has `hosts.len() × workers`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// `host:port` of every process, in process order: process `i` listens on `hosts[i]` and
    /// connects to the others. Empty: one process, no cluster.
    pub hosts: Vec<String>,
    /// This process's index into `hosts`.
    pub process: Option<usize>,
}

impl ClusterConfig {
    /// Whether a cluster is configured.
    pub fn is_set(&self) -> bool {
        !self.hosts.is_empty()
    }

    pub(crate) fn check(&self, out: &mut Vec<Problem>) {
        out.extend(check_hosts(&self.hosts).into_iter().map(|m| Problem::new("cluster.hosts", m)));
        match (self.process, self.hosts.len()) {
            (Some(p), n) if n > 0 && p >= n => out.push(Problem::new("cluster.process", format!("is {p}, but hosts lists {n} processes (0..={})", n - 1))),
            (Some(_), 0) => out.push(Problem::new("cluster.process", "needs cluster.hosts")),
            _ => {}
        }
    }
}

/// Every problem of a list of peers: each must be `host:port`, and none may repeat.
pub fn check_hosts(hosts: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for h in hosts {
        match h.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {}
            _ => out.push(format!("{h:?} is not host:port")),
        }
        if !seen.insert(h.as_str()) {
            out.push(format!("{h:?} is listed twice"));
        }
    }
    out
}

/// Reads a cluster file: one `host:port` per line, in process order; blank lines and `#`
/// comments are skipped.
pub fn parse_hosts_file(text: &str) -> Vec<String> {
    text.lines().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hosts_file_skips_comments_and_blank_lines() {
        assert_eq!(parse_hosts_file("# peers\nitscam-0.itscam:2101\n\n 10.0.0.2:2101  # second\n"), vec!["itscam-0.itscam:2101", "10.0.0.2:2101"]);
    }

    #[test]
    fn every_problem_is_listed() {
        let c = ClusterConfig { hosts: vec!["a:1".into(), "a:1".into(), "b".into(), "c:0".into()], process: Some(4) };
        let mut out = Vec::new();
        c.check(&mut out);
        let text: Vec<String> = out.iter().map(|p| p.to_string()).collect();
        assert_eq!(out.len(), 4, "{text:?}");
        assert!(text.iter().any(|t| t.contains("\"a:1\" is listed twice")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("\"b\" is not host:port")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("\"c:0\" is not host:port")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("cluster.process") && t.contains("0..=3")), "{text:?}");
        let mut out = Vec::new();
        ClusterConfig::default().check(&mut out);
        assert!(out.is_empty());
    }
}
