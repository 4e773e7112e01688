//! What one caller's query may read: the tables of their role
//! ([`Role::may_read_table`]) and, for a user limited to some cameras, only
//! those cameras' rows — a filter on `camera_id` added to every scan of the plan (subqueries
//! included) before it is optimized, so no query text can get around it. A camera-scoped user
//! cannot read a table without a `camera_id` column (`changes`, `audit`).

use crate::auth::Role;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, lit};

/// The caller of a query.
#[derive(Clone, Debug)]
pub struct Scope {
    /// Their role.
    pub role: Role,
    /// The cameras they see (empty: all).
    pub cameras: Vec<String>,
}

impl Scope {
    /// No limits (the command line, auth off).
    pub fn all() -> Scope {
        Scope { role: Role::Admin, cameras: Vec::new() }
    }

    /// The plan with the caller's limits applied, or the table they may not read.
    pub fn apply(&self, plan: LogicalPlan) -> Result<LogicalPlan, String> {
        let mut refused = None;
        let out = plan.transform_up_with_subqueries(|node| {
            let LogicalPlan::TableScan(scan) = &node else { return Ok(Transformed::no(node)) };
            let name = scan.table_name.table().to_string();
            if scan.table_name.schema() == Some("information_schema") {
                return Ok(Transformed::no(node));
            }
            if !self.role.may_read_table(&name) {
                refused = Some(format!("the table {name} is not readable by the role {}", self.role));
                return Ok(Transformed::no(node));
            }
            if self.cameras.is_empty() {
                return Ok(Transformed::no(node));
            }
            if scan.source.schema().field_with_name("camera_id").is_err() {
                refused = Some(format!("the table {name} is not per camera, and this user sees only the cameras {}", self.cameras.join(", ")));
                return Ok(Transformed::no(node));
            }
            let column = Expr::Column(Column::new(Some(scan.table_name.clone()), "camera_id"));
            let allowed: Vec<Expr> = self.cameras.iter().map(|c| lit(ScalarValue::Utf8(Some(c.clone())))).collect();
            let filtered = LogicalPlanBuilder::from(node).filter(column.in_list(allowed, false))?.build()?;
            Ok(Transformed::yes(filtered))
        });
        match (refused, out) {
            (Some(why), _) => Err(why),
            (None, Ok(t)) => Ok(t.data),
            (None, Err(e)) => Err(scope_error(e)),
        }
    }
}

fn scope_error(e: DataFusionError) -> String {
    format!("limiting the query to the caller's cameras failed: {e}")
}
