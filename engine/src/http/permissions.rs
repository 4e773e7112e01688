//! Who may call which route: the one permission table ([`PERMISSIONS`]), read by the guard of
//! every request (the guard in `guard.rs`), rendered into README ("Security") and checked against the
//! router by a test that calls every route as every role. A route not in the table answers 403
//! to everyone: nothing unlisted is reachable.
//!
//! The tables each role may read with SQL: [`Role::may_read_table`]. Camera scopes come on top:
//! a user limited to some cameras sees only those, SQL included (`Scope` of the SQL module).

use crate::auth::Role;

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without credentials.
    Public,
    /// A caller of at least this role.
    Least(Role),
}

/// One row of the table.
#[derive(Clone, Copy, Debug)]
pub struct Permission {
    /// HTTP method (`GET` also covers `HEAD`).
    pub method: &'static str,
    /// The route as the router names it (`/api/v1/alerts/{id}`).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

const fn p(method: &'static str, path: &'static str, access: Access) -> Permission {
    Permission { method, path, access }
}

use Access::{Least, Public};
use Role::{Admin, Operator, Viewer};

/// Every route of the API and who may call it.
pub const PERMISSIONS: &[Permission] = &[
    p("POST", "/api/v1/auth/login", Public),
    p("POST", "/api/v1/auth/refresh", Public),
    p("GET", "/api/v1/openapi.json", Public),
    // The dashboard's page and files hold no data: each API call it makes needs credentials.
    p("GET", "/", Public),
    p("GET", "/assets/{file}", Public),
    p("GET", "/health", Least(Viewer)),
    p("GET", "/metrics", Least(Viewer)),
    p("GET", "/api/v1/auth/me", Least(Viewer)),
    p("POST", "/api/v1/auth/logout", Least(Viewer)),
    p("POST", "/api/v1/auth/totp", Least(Viewer)),
    p("GET", "/api/v1/cameras", Least(Viewer)),
    p("GET", "/api/v1/cameras/{id}", Least(Viewer)),
    p("GET", "/api/v1/cameras/{id}/frame", Least(Viewer)),
    p("GET", "/api/v1/cameras/{id}/live", Least(Viewer)),
    // An aggregate (turning_counts is one of the viewers' tables).
    p("GET", "/api/v1/cameras/{id}/turning-counts", Least(Viewer)),
    p("GET", "/api/v1/zones", Least(Viewer)),
    p("GET", "/api/v1/rules", Least(Viewer)),
    p("GET", "/api/v1/rules/{id}", Least(Viewer)),
    p("GET", "/api/v1/rules/{id}/plan", Least(Viewer)),
    // Compiling a rule changes nothing; its text is bounded (16 KiB).
    p("POST", "/api/v1/rules/{id}/check", Least(Viewer)),
    p("GET", "/api/v1/alerts", Least(Viewer)),
    p("GET", "/api/v1/alerts/stream", Least(Viewer)),
    p("GET", "/api/v1/alerts/{id}", Least(Viewer)),
    p("GET", "/api/v1/tables", Least(Viewer)),
    // Viewers query the aggregate tables only, analysts every table but `audit`.
    p("POST", "/api/v1/query", Least(Viewer)),
    // Evidence shows vehicles and plates: for those who handle alerts.
    p("GET", "/api/v1/alerts/{id}/evidence", Least(Operator)),
    p("GET", "/api/v1/alerts/{id}/evidence/{name}", Least(Operator)),
    p("POST", "/api/v1/alerts/{id}/acknowledge", Least(Operator)),
    p("POST", "/api/v1/alerts/{id}/resolve", Least(Operator)),
    p("POST", "/api/v1/cameras/{id}/detections", Least(Operator)),
    p("POST", "/api/v1/ingest", Least(Operator)),
    p("POST", "/api/v1/signals", Least(Operator)),
    p("POST", "/api/v1/cameras", Least(Admin)),
    p("PUT", "/api/v1/cameras/{id}", Least(Admin)),
    p("DELETE", "/api/v1/cameras/{id}", Least(Admin)),
    p("PUT", "/api/v1/rules/{id}", Least(Admin)),
    p("DELETE", "/api/v1/rules/{id}", Least(Admin)),
    p("GET", "/api/v1/rules/{id}/backfill", Least(Admin)),
    p("POST", "/api/v1/rules/{id}/backfill", Least(Admin)),
    p("GET", "/api/v1/users", Least(Admin)),
    p("POST", "/api/v1/users", Least(Admin)),
    p("GET", "/api/v1/users/{name}", Least(Admin)),
    p("PATCH", "/api/v1/users/{name}", Least(Admin)),
    p("POST", "/api/v1/users/{name}/keys", Least(Admin)),
    p("DELETE", "/api/v1/users/{name}/keys/{id}", Least(Admin)),
    p("GET", "/api/v1/models", Least(Viewer)),
    p("GET", "/api/v1/models/{model}", Least(Viewer)),
    p("PUT", "/api/v1/models/{model}", Least(Admin)),
    p("POST", "/api/v1/models/{model}/promote", Least(Admin)),
    p("POST", "/api/v1/models/{model}/rollback", Least(Admin)),
    // Erasure: a scoped admin only for their cameras.
    p("POST", "/api/v1/lake/forget", Least(Admin)),
];

/// What `method` on the route `path` needs; `None`: the route is not in the table (refused).
/// The unversioned paths of earlier releases only redirect to their v1 path, so they are
/// public (the v1 path asks for credentials).
pub fn access(method: &str, path: &str) -> Option<Access> {
    if super::UNVERSIONED.contains(&path) {
        return Some(Public);
    }
    let method = if method == "HEAD" { "GET" } else { method };
    PERMISSIONS.iter().find(|p| p.method == method && p.path == path).map(|p| p.access)
}

/// The table as Markdown (README "Security"): route, then who may call it.
pub fn markdown() -> String {
    let mut out = String::from("| Route | Needs |\n|---|---|\n");
    for p in PERMISSIONS {
        let needs = match p.access {
            Public => "anyone (no credentials)".to_string(),
            Least(r) => format!("{r} or above"),
        };
        out.push_str(&format!("| `{} {}` | {needs} |\n", p.method, p.path));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::Analyst;

    #[test]
    fn each_route_is_listed_once_and_reads_need_no_more_than_changes() {
        let mut seen = std::collections::HashSet::new();
        for p in PERMISSIONS {
            assert!(seen.insert((p.method, p.path)), "{} {} is listed twice", p.method, p.path);
        }
        assert_eq!(access("HEAD", "/health"), access("GET", "/health"));
        assert_eq!(access("GET", "/api/v1/nothing"), None);
        assert!(Viewer.may_read_table("traffic_metrics") && !Viewer.may_read_table("detections"));
        assert!(Analyst.may_read_table("detections") && !Operator.may_read_table("audit") && Admin.may_read_table("audit"));
    }
}
