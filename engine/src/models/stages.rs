//! The stages of every registered version, folded from the control log's `model` entries
//! (`id` = `name@version`, `after` = `{"stage": …}`), and the rules for moving between them.
//! No I/O: the registry reads the log and appends what [`Stages::plan`] decides.
//!
//! - Registration enters `development`.
//! - `staging`, `canary` and `production` need a validation that passed.
//! - A name has at most one `production` and one `canary` version: promoting another moves the
//!   old one to `retired` (production) or back to `staging` (canary), each an entry of its own.
//! - The `production` version cannot be retired while it is production: promote or roll back
//!   first. Rollback promotes the version that was production before it.

use super::manifest::Stage;
use itscam_sinks::{ControlEntry, ControlKind};
use std::collections::BTreeMap;

/// One stage change of a version, as the log recorded it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct StageChange {
    /// Control log seq.
    pub seq: u64,
    /// Wall-clock time, ms.
    pub at_ms: u64,
    /// Who made it.
    pub who: String,
    /// The stage before (`None`: registration).
    pub from: Option<Stage>,
    /// The stage after.
    pub to: Stage,
}

/// Why a stage change is refused (the caller's).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StageError {
    /// No such version.
    #[error("model {0} is not registered")]
    Unknown(String),
    /// Its validation failed.
    #[error("model {id} failed validation and cannot go to {to}: {reason}")]
    FailedValidation {
        /// `name@version`.
        id: String,
        /// Target stage.
        to: Stage,
        /// The validation's reason.
        reason: String,
    },
    /// Retiring the production version.
    #[error("model {0} is in production: promote another version (or roll back) before retiring it")]
    IsProduction(String),
    /// Already there.
    #[error("model {id} is already in {stage}")]
    Already {
        /// `name@version`.
        id: String,
        /// Its stage.
        stage: Stage,
    },
    /// Registration is the only way into `development`.
    #[error("a version cannot go back to development")]
    BackToDevelopment,
    /// Nothing to roll back to.
    #[error("model {0} has no earlier production version to roll back to")]
    NoEarlierProduction(String),
}

/// Every version's stage and history.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stages {
    versions: BTreeMap<String, Vec<StageChange>>,
}

impl Stages {
    /// Folds the control log's `model` entries, in seq order.
    pub fn fold<'a>(entries: impl IntoIterator<Item = &'a ControlEntry>) -> Stages {
        let mut out = Stages::default();
        for e in entries.into_iter().filter(|e| e.kind == ControlKind::Model) {
            let stage = |v: &Option<serde_json::Value>| v.as_ref().and_then(|v| v.get("stage")).and_then(|s| s.as_str()).and_then(Stage::parse);
            if let Some(to) = stage(&e.after) {
                out.versions.entry(e.id.clone()).or_default().push(StageChange { seq: e.seq, at_ms: e.at_ms, who: e.who.clone(), from: stage(&e.before), to });
            }
        }
        out
    }

    /// The stage of `id` (`name@version`).
    pub fn stage(&self, id: &str) -> Option<Stage> {
        self.versions.get(id).and_then(|h| h.last()).map(|c| c.to)
    }

    /// The history of `id`.
    pub fn history(&self, id: &str) -> &[StageChange] {
        self.versions.get(id).map_or(&[], Vec::as_slice)
    }

    /// The versions of `name` in `stage`, oldest change first.
    pub fn in_stage(&self, name: &str, stage: Stage) -> Vec<String> {
        let mut v: Vec<(&String, u64)> = self
            .versions
            .iter()
            .filter(|(id, h)| id.split_once('@').is_some_and(|(n, _)| n == name) && h.last().is_some_and(|c| c.to == stage))
            .map(|(id, h)| (id, h.last().map_or(0, |c| c.seq)))
            .collect();
        v.sort_by_key(|(_, seq)| *seq);
        v.into_iter().map(|(id, _)| id.clone()).collect()
    }

    /// The production version of `name`.
    pub fn production(&self, name: &str) -> Option<String> {
        self.in_stage(name, Stage::Production).pop()
    }

    /// The canary version of `name`.
    pub fn canary(&self, name: &str) -> Option<String> {
        self.in_stage(name, Stage::Canary).pop()
    }

    /// The shadow candidate of `name`: its canary, else its newest `staging` version.
    pub fn candidate(&self, name: &str) -> Option<String> {
        self.canary(name).or_else(|| self.in_stage(name, Stage::Staging).pop())
    }

    /// The changes that move `id` to `to`, in order: the displaced version first (the old
    /// production to `retired`, the old canary back to `staging`), then `id` itself.
    /// `validation`: `Err(reason)` when its validation failed.
    pub fn plan(&self, id: &str, to: Stage, validation: Result<(), String>) -> Result<Vec<(String, Option<Stage>, Stage)>, StageError> {
        let from = self.stage(id).ok_or_else(|| StageError::Unknown(id.to_string()))?;
        if from == to {
            return Err(StageError::Already { id: id.to_string(), stage: from });
        }
        if to == Stage::Development {
            return Err(StageError::BackToDevelopment);
        }
        if from == Stage::Production && to != Stage::Production {
            return Err(StageError::IsProduction(id.to_string()));
        }
        if matches!(to, Stage::Staging | Stage::Canary | Stage::Production)
            && let Err(reason) = validation
        {
            return Err(StageError::FailedValidation { id: id.to_string(), to, reason });
        }
        let name = id.split_once('@').map_or(id, |(n, _)| n);
        let mut out = Vec::new();
        match to {
            Stage::Production => out.extend(self.production(name).map(|p| (p, Some(Stage::Production), Stage::Retired))),
            Stage::Canary => out.extend(self.canary(name).map(|c| (c, Some(Stage::Canary), Stage::Staging))),
            _ => {}
        }
        out.push((id.to_string(), Some(from), to));
        Ok(out)
    }

    /// The changes of a rollback of `name`: the version that was production before the current
    /// one goes back to production (the current one is retired).
    pub fn plan_rollback(&self, name: &str) -> Result<Vec<(String, Option<Stage>, Stage)>, StageError> {
        let current = self.production(name).ok_or_else(|| StageError::NoEarlierProduction(name.to_string()))?;
        // The newest retirement out of production of another version of the name.
        let previous = self
            .versions
            .iter()
            .filter(|(id, _)| **id != current && id.split_once('@').is_some_and(|(n, _)| n == name))
            .flat_map(|(id, h)| h.iter().filter(|c| c.from == Some(Stage::Production)).map(move |c| (c.seq, id)))
            .max()
            .map(|(_, id)| id.clone())
            .ok_or_else(|| StageError::NoEarlierProduction(name.to_string()))?;
        let from = self.stage(&previous);
        Ok(vec![(current, Some(Stage::Production), Stage::Retired), (previous, from, Stage::Production)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use itscam_sinks::ControlOp;
    use serde_json::json;

    fn log(changes: &[(&str, Option<Stage>, Stage)]) -> Vec<ControlEntry> {
        changes
            .iter()
            .enumerate()
            .map(|(i, (id, from, to))| ControlEntry {
                seq: i as u64,
                at_ms: 1_000 + i as u64,
                who: "admin".into(),
                kind: ControlKind::Model,
                id: id.to_string(),
                op: ControlOp::Put,
                before: from.map(|s| json!({ "stage": s })),
                after: Some(json!({ "stage": to })),
                since_ms: 0,
            })
            .collect()
    }

    fn apply(entries: &mut Vec<ControlEntry>, plan: Vec<(String, Option<Stage>, Stage)>) {
        for (id, from, to) in plan {
            let mut e = log(&[(&id, from, to)]).remove(0);
            e.seq = entries.len() as u64;
            entries.push(e);
        }
    }

    #[test]
    fn promotions_displace_the_old_production_and_rollback_restores_it() {
        use Stage::*;
        let mut entries = log(&[("d@1.0.0", None, Development), ("d@1.1.0", None, Development)]);
        let stages = Stages::fold(&entries);
        apply(&mut entries, stages.plan("d@1.0.0", Production, Ok(())).unwrap());
        let stages = Stages::fold(&entries);
        assert_eq!(stages.production("d").as_deref(), Some("d@1.0.0"));
        let plan = stages.plan("d@1.1.0", Production, Ok(())).unwrap();
        assert_eq!(plan, vec![("d@1.0.0".into(), Some(Production), Retired), ("d@1.1.0".into(), Some(Development), Production)]);
        apply(&mut entries, plan);
        let stages = Stages::fold(&entries);
        assert_eq!(stages.stage("d@1.0.0"), Some(Retired));
        apply(&mut entries, stages.plan_rollback("d").unwrap());
        let stages = Stages::fold(&entries);
        assert_eq!((stages.production("d").as_deref(), stages.stage("d@1.1.0")), (Some("d@1.0.0"), Some(Retired)));
        assert_eq!(stages.history("d@1.0.0").len(), 4, "registered, promoted, retired, promoted back: {:?}", stages.history("d@1.0.0"));
    }

    #[test]
    fn refusals_name_their_reason() {
        use Stage::*;
        let mut entries = log(&[("d@1.0.0", None, Development), ("d@2.0.0", None, Development)]);
        let stages = Stages::fold(&entries);
        assert!(matches!(stages.plan("d@2.0.0", Staging, Err("no detections".into())), Err(StageError::FailedValidation { .. })));
        assert!(matches!(stages.plan("d@9.0.0", Staging, Ok(())), Err(StageError::Unknown(_))));
        assert_eq!(stages.plan_rollback("d"), Err(StageError::NoEarlierProduction("d".into())));
        apply(&mut entries, stages.plan("d@1.0.0", Production, Ok(())).unwrap());
        let stages = Stages::fold(&entries);
        assert_eq!(stages.plan("d@1.0.0", Retired, Ok(())), Err(StageError::IsProduction("d@1.0.0".into())));
        assert_eq!(stages.plan("d@2.0.0", Retired, Ok(())).unwrap().len(), 1, "a development version can be retired");
        assert_eq!(stages.plan_rollback("d"), Err(StageError::NoEarlierProduction("d".into())), "the first production has nothing before it");
        apply(&mut entries, stages.plan("d@2.0.0", Canary, Ok(())).unwrap());
        assert_eq!(Stages::fold(&entries).candidate("d").as_deref(), Some("d@2.0.0"));
    }
}
