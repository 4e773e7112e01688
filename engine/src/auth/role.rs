//! The roles, lowest first: each may do what the ones below it may.

use serde::{Deserialize, Serialize};

/// A user's role (README "Security"; the routes' permission table is in the HTTP module).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Health, cameras, zones, rules, metrics, alerts, SQL over the aggregate tables.
    Viewer,
    /// + SQL over every table but `audit`.
    Analyst,
    /// + acknowledge and resolve alerts, push detections and signal states.
    Operator,
    /// + cameras, rules, users, API keys, the `audit` table.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Analyst, Role::Operator, Role::Admin];

    /// Its name in config, tokens and answers.
    pub fn name(self) -> &'static str {
        itscam_types::config::ROLE_NAMES[self as usize]
    }

    /// Whether this role may read `table` with SQL: viewers the aggregates (and alerts, which
    /// they see over the API anyway), analysts and operators every table but `audit`, admins all.
    pub fn may_read_table(self, table: &str) -> bool {
        const AGGREGATES: [&str; 8] =
            ["traffic_metrics", "anomalies", "alerts", "turning_counts", "queues", "queue_samples", "lane_metrics", "signal_performance"];
        match table {
            "audit" => self >= Role::Admin,
            t if AGGREGATES.contains(&t) => true,
            _ => self >= Role::Analyst,
        }
    }

    /// The role named `name`.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_is_privilege() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.name()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), serde_json::json!(r.name()));
        }
        assert!(Role::Viewer < Role::Analyst && Role::Analyst < Role::Operator && Role::Operator < Role::Admin);
        assert_eq!(Role::parse("root"), None);
    }
}
