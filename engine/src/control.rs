//! The control plane's durable half: every change made to a running pipeline is an entry of the
//! lake's control log (`itscam_sinks::ControlEntry`, `_itscam/control/<seq>.json`) before it
//! takes effect, and a starting run enters the logged changes at the event times they took
//! effect: rules put or deleted over HTTP, cameras added, changed or removed, and pushed
//! signal changes.
//!
//! **Order of a change** ([`ControlLog::put_rule`], [`ControlLog::delete_rule`]), one at a time:
//! the change is checked and its effective time fixed and reserved (the rule collection waits
//! there, see `itscam_queries::RuleChange`) → the entry is appended to the log → the change is
//! applied at exactly that time. A change whose entry could not be written is not applied, and
//! nothing is acknowledged that is not durable. A crash between the append and the apply loses
//! nothing: the next start enters the change from the log at the same time.
//!
//! **At start** ([`replay`]): the config's rules apply from the start of event time; then each
//! logged rule change, in log order, at its `since_ms` — for the ids it mentions the log wins
//! from that moment on (a rule deleted over HTTP stays deleted, a rule put over HTTP comes
//! back). A logged rule that no longer fits the config is left out with a warning. A
//! checkpointed run's resume time is a floor: no new change takes effect below it, so the rows
//! already in the lake stay true.

use itscam_queries::signals::SignalLine;
use itscam_queries::{LoggedRule, RuleChange, RuleControl, RuleEntry, RuleError, SignalControl};
use itscam_sinks::{ControlChange, ControlEntry, ControlKind, ControlOp, Lake, SinkError};
use itscam_types::config::{CameraConfig, PipelineConfig, RuleConfig};
use itscam_types::{Blame, Blamed};
use std::sync::Arc;
use std::time::Duration;

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The change was refused (the caller's: see [`RuleError`]).
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// The control log could not be written: the change was not applied.
    #[error("the change was not applied: the control log could not record it ({0})")]
    Log(SinkError),
    /// A logged object could not be encoded (this is a bug).
    #[error("encoding the control log entry failed (this is a bug): {0}")]
    Encode(serde_json::Error),
    /// In a cluster, another process logged a change at the same moment: this one was not
    /// made (the other's is followed now); retrying it makes it against the other's.
    #[error("the change was not made: another process of the cluster changed the control log at the same moment; retry it")]
    Raced,
}

/// A refused change is the caller's; a log that cannot be written is the storage's — the change
/// was not applied, so retrying it after a moment is safe.
impl Blamed for ControlError {
    fn blame(&self) -> Blame {
        match self {
            ControlError::Rule(e) => e.blame(),
            ControlError::Log(e) => match e.blame() {
                Blame::User => Blame::External,
                b => b,
            },
            ControlError::Encode(_) => Blame::Bug,
            ControlError::Raced => Blame::External,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ControlError::Log(e) => Some(e.retry_after().unwrap_or(Duration::from_secs(1))),
            ControlError::Raced => Some(Duration::from_secs(1)),
            _ => None,
        }
    }
}

/// The writer of a running pipeline's control log. Cloning shares it (and its one-at-a-time
/// order).
///
/// **In a cluster** ([`ControlLog::in_cluster`]) every process changes rules through its own API
/// and its own worker enters them (see `RuleControl::enter_on_worker`); the log is what keeps
/// the processes' rule books one: before a change, a process reads the entries the others
/// appended since it last looked and follows them ([`RuleControl::follow`]), then appends its
/// own at exactly the next seq — if another process took that seq first, the prepared change
/// is dropped, the new entry followed, and the change made again against it. So every change
/// is made against every change before it in the log (a retraction retracts what the log says
/// is live), in the log's order, and the log stays the replay of the run.
#[derive(Clone, Debug)]
pub struct ControlLog {
    lake: Lake,
    /// One change at a time: check → log → apply, so the log's order is the order of effect.
    serial: Arc<tokio::sync::Mutex<()>>,
    /// In a cluster: what this process follows of the others' changes.
    cluster: Option<Arc<Following>>,
}

/// Applies a camera change that another process of the cluster logged (add, scene change or
/// removal) to this process's book of cameras.
pub type CameraFollower = Box<dyn Fn(&ControlEntry) + Send + Sync>;

/// What a process of a cluster follows of the control log.
struct Following {
    /// The first seq not followed yet (changed under `serial` only).
    next_seq: std::sync::atomic::AtomicU64,
    /// This process's rule book.
    rules: RuleControl,
    /// This process's pushed signal states.
    signals: SignalControl,
    /// This process's book of cameras, when cameras change while it runs.
    cameras: std::sync::OnceLock<CameraFollower>,
}

impl std::fmt::Debug for Following {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Following").field("next_seq", &self.next_seq).finish_non_exhaustive()
    }
}

/// How often a process of a cluster reads the control log for the changes the others made
/// (so its `GET /api/v1/rules` lists them); a change made here always reads it first.
pub const CLUSTER_FOLLOW_INTERVAL: Duration = Duration::from_secs(1);

impl ControlLog {
    /// The lake it logs to.
    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    /// The control log of `lake`.
    pub fn new(lake: Lake) -> ControlLog {
        ControlLog { lake, serial: Arc::default(), cluster: None }
    }

    /// The control log of `lake` for a process of a cluster that has replayed (followed) the
    /// entries below `next_seq` into `rules` and `signals` (see the type's docs).
    pub fn in_cluster(lake: Lake, next_seq: u64, rules: RuleControl, signals: SignalControl) -> ControlLog {
        let following = Following { next_seq: std::sync::atomic::AtomicU64::new(next_seq), rules, signals, cameras: std::sync::OnceLock::new() };
        ControlLog { lake, serial: Arc::default(), cluster: Some(Arc::new(following)) }
    }

    /// Whether this is a process of a cluster.
    pub fn in_a_cluster(&self) -> bool {
        self.cluster.is_some()
    }

    /// In a cluster: where the camera changes other processes log are applied (set once).
    pub fn follow_cameras_with(&self, follower: CameraFollower) {
        if let Some(c) = &self.cluster {
            let _ = c.cameras.set(follower);
        }
    }

    /// Puts rule `id`, logged first. Returns the published entry and whether it replaced a rule.
    pub async fn put_rule(&self, rules: &RuleControl, who: &str, id: &str, rule: RuleConfig) -> Result<(ControlEntry, bool), ControlError> {
        let _one = self.serial.lock().await;
        loop {
            self.follow_locked().await?;
            let change = rules.prepare_put(id, rule.clone())?;
            if let Some(entry) = self.record(&change, who, ControlOp::Put).await? {
                return Ok((entry, change.apply().is_some()));
            }
        }
    }

    /// Deletes rule `id`, logged first. Returns the published entry and the removed rule.
    pub async fn delete_rule(&self, rules: &RuleControl, who: &str, id: &str) -> Result<(ControlEntry, Option<RuleEntry>), ControlError> {
        let _one = self.serial.lock().await;
        loop {
            self.follow_locked().await?;
            let change = rules.prepare_delete(id)?;
            if let Some(entry) = self.record(&change, who, ControlOp::Delete).await? {
                return Ok((entry, change.apply()));
            }
        }
    }

    /// In a cluster: follows the rule and camera changes the other processes logged since this
    /// one last looked (nothing outside a cluster). Returns how many entries it read.
    pub async fn follow(&self) -> Result<usize, ControlError> {
        let _one = self.serial.lock().await;
        self.follow_locked().await
    }

    /// [`ControlLog::follow`], under [`ControlLog::one_at_a_time`] (a camera change follows
    /// the others' before it is checked).
    pub async fn follow_held(&self, _one: &tokio::sync::MutexGuard<'_, ()>) -> Result<usize, ControlError> {
        self.follow_locked().await
    }

    async fn follow_locked(&self) -> Result<usize, ControlError> {
        use std::sync::atomic::Ordering;
        let Some(following) = &self.cluster else { return Ok(0) };
        let (next, rules) = (&following.next_seq, &following.rules);
        let entries = self.lake.read_control_from(next.load(Ordering::Relaxed)).await.map_err(ControlError::Log)?;
        for e in &entries {
            if e.kind == ControlKind::Rule {
                let rule = match (&e.op, &e.after) {
                    (ControlOp::Put, Some(after)) => match serde_json::from_value::<RuleConfig>(after.clone()) {
                        Ok(rule) => Some(rule),
                        Err(err) => {
                            tracing::warn!(seq = e.seq, id = %e.id, error = %err, "control log: a rule another process logged cannot be read; left out");
                            next.store(e.seq + 1, Ordering::Relaxed);
                            continue;
                        }
                    },
                    _ => None,
                };
                match rules.follow(LoggedRule { id: e.id.clone(), rule, since_ms: e.since_ms }) {
                    Ok(()) => tracing::info!(seq = e.seq, id = %e.id, op = e.op.name(), since_ms = e.since_ms, who = %e.who, "control log: followed a rule change another process of the cluster made"),
                    Err(problems) => tracing::warn!(seq = e.seq, %problems, "control log: a rule another process logged does not fit this process's config; left out"),
                }
            } else if e.kind == ControlKind::Signal {
                match e.after.clone().map(serde_json::from_value::<Vec<SignalLine>>) {
                    Some(Ok(lines)) => {
                        let left_out = following.signals.follow(&lines);
                        if left_out > 0 {
                            tracing::warn!(seq = e.seq, left_out, "control log: signal changes another process logged do not apply to this process's signals");
                        }
                    }
                    _ => tracing::warn!(seq = e.seq, id = %e.id, "control log: signal changes another process logged cannot be read; left out"),
                }
            } else if e.kind == ControlKind::Camera
                && let Some(follow) = following.cameras.get()
            {
                follow(e);
                tracing::info!(seq = e.seq, id = %e.id, op = e.op.name(), who = %e.who, "control log: followed a camera change another process of the cluster made");
            }
            next.store(e.seq + 1, Ordering::Relaxed);
        }
        Ok(entries.len())
    }

    /// Holds every other change off (rules' and cameras'): check → log → apply under it.
    pub async fn one_at_a_time(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.serial.lock().await
    }

    /// Appends a camera change (under [`ControlLog::one_at_a_time`], checked, before it is
    /// applied). `reached_ms`: the event time the pipeline had reached; a camera change takes
    /// effect at the frontier its camera's tracker finds at or after it.
    /// In a cluster, at exactly the next seq after the changes followed (call
    /// [`ControlLog::follow_held`] first): [`ControlError::Raced`] when another process took it.
    pub async fn record_camera(&self, who: &str, id: &str, before: Option<&CameraConfig>, after: Option<&CameraConfig>, reached_ms: u64) -> Result<ControlEntry, ControlError> {
        let json = |c: Option<&CameraConfig>| c.map(serde_json::to_value).transpose().map_err(ControlError::Encode);
        let entry = ControlChange {
            who: who.to_string(),
            kind: ControlKind::Camera,
            id: id.to_string(),
            op: if after.is_some() { ControlOp::Put } else { ControlOp::Delete },
            before: json(before)?,
            after: json(after)?,
            since_ms: reached_ms,
            at_ms: None,
        };
        self.append(&entry).await?.ok_or(ControlError::Raced)
    }

    /// Appends `entry`: anywhere after the newest entry on one process; in a cluster at exactly
    /// the next seq (`None` when another process took it).
    async fn append(&self, entry: &ControlChange) -> Result<Option<ControlEntry>, ControlError> {
        let Some(following) = &self.cluster else { return self.lake.append_control(entry).await.map(Some).map_err(ControlError::Log) };
        let seq = following.next_seq.load(std::sync::atomic::Ordering::Relaxed);
        let published = self.lake.create_control_at(seq, entry).await.map_err(ControlError::Log)?;
        if published.is_some() {
            following.next_seq.store(seq + 1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(published)
    }

    /// Appends a push of signal changes (under [`ControlLog::one_at_a_time`], prepared with
    /// `SignalControl::prepare`, before it is applied): one entry, `id` the signals it changes,
    /// `after` the changes, `since_ms` the earliest.
    pub async fn record_signals(&self, who: &str, changes: &[SignalLine]) -> Result<ControlEntry, ControlError> {
        let mut ids: Vec<&str> = changes.iter().map(|c| c.signal_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let entry = ControlChange {
            who: who.to_string(),
            kind: ControlKind::Signal,
            id: ids.join(","),
            op: ControlOp::Put,
            before: None,
            after: Some(serde_json::to_value(changes).map_err(ControlError::Encode)?),
            since_ms: changes.iter().map(|c| c.ts_ms).min().unwrap_or(0),
            at_ms: None,
        };
        self.append(&entry).await?.ok_or(ControlError::Raced)
    }

    /// Appends the entry of a prepared change (dropping `change` on failure releases its time).
    /// In a cluster, at exactly the next seq: `None` when another process took it first.
    async fn record(&self, change: &RuleChange, who: &str, op: ControlOp) -> Result<Option<ControlEntry>, ControlError> {
        let json = |r: &Option<RuleConfig>| r.as_ref().map(serde_json::to_value).transpose().map_err(ControlError::Encode);
        let entry = ControlChange {
            who: who.to_string(),
            kind: ControlKind::Rule,
            id: change.id.clone(),
            op,
            before: json(&change.before)?,
            after: json(&change.after)?,
            since_ms: change.since_ms,
            at_ms: None,
        };
        self.append(&entry).await
    }
}

/// A process of a cluster follows the rule changes the other processes log, every
/// [`CLUSTER_FOLLOW_INTERVAL`], until its rule collection ends (a change made through its own
/// API reads the log first anyway: this keeps what it lists current in between).
pub async fn follow_the_cluster(control: ControlLog, rules: RuleControl) {
    let mut said = false;
    while !rules.is_ended() {
        tokio::time::sleep(CLUSTER_FOLLOW_INTERVAL).await;
        match control.follow().await {
            Ok(_) => said = false,
            Err(e) if !std::mem::replace(&mut said, true) => tracing::warn!(error = %e, "control log: cannot read the other processes' changes (trying again; a change made here reads them first)"),
            Err(_) => {}
        }
    }
}

/// `config` with the cameras of the lake's control log: each camera put over the API is added or
/// replaced, each one deleted is left out (the log wins for the ids it mentions, as for rules).
/// A restarted `itscam serve` so comes back with the cameras it had.
pub async fn with_logged_cameras(lake: &Lake, config: &PipelineConfig) -> Result<PipelineConfig, ControlError> {
    let entries = lake.read_control().await.map_err(ControlError::Log)?;
    let mut config = config.clone();
    for e in entries.iter().filter(|e| e.kind == ControlKind::Camera) {
        config.camera.retain(|c| c.id != e.id);
        if let (ControlOp::Put, Some(after)) = (&e.op, &e.after) {
            match serde_json::from_value::<CameraConfig>(after.clone()) {
                Ok(camera) => config.camera.push(camera),
                Err(err) => tracing::warn!(seq = e.seq, id = %e.id, error = %err, "control log: a logged camera cannot be read; left out"),
            }
        }
    }
    Ok(config)
}

/// Enters the lake's logged rule changes into `rules` and its pushed signal changes into
/// `signals` (before the dataflow starts), with `floor` (a checkpointed run's resume time) below
/// which no new rule change takes effect (signal changes enter at their own times: the states
/// before the floor are what the replayed crossings are judged against). Returns how many
/// entries were replayed.
pub async fn replay(lake: &Lake, rules: &RuleControl, signals: &SignalControl, floor: u64) -> Result<usize, ControlError> {
    let entries = lake.read_control().await.map_err(ControlError::Log)?;
    let mut pushed: Vec<SignalLine> = Vec::new();
    for e in entries.iter().filter(|e| e.kind == ControlKind::Signal) {
        match e.after.clone().map(serde_json::from_value::<Vec<SignalLine>>) {
            Some(Ok(mut lines)) => pushed.append(&mut lines),
            _ => tracing::warn!(seq = e.seq, id = %e.id, "control log: logged signal changes cannot be read; left out"),
        }
    }
    let left_out = signals.replay(&pushed);
    if left_out > 0 {
        tracing::warn!(left_out, "control log: logged signal changes of signals that no longer take pushes (or out of order); left out");
    }
    let mut logged = Vec::new();
    for e in entries.iter().filter(|e| e.kind == ControlKind::Rule) {
        let rule = match (&e.op, &e.after) {
            (ControlOp::Put, Some(after)) => match serde_json::from_value::<RuleConfig>(after.clone()) {
                Ok(rule) => Some(rule),
                Err(err) => {
                    tracing::warn!(seq = e.seq, id = %e.id, error = %err, "control log: a logged rule cannot be read; left out");
                    continue;
                }
            },
            _ => None,
        };
        logged.push(LoggedRule { id: e.id.clone(), rule, since_ms: e.since_ms });
    }
    for skipped in rules.replay(logged) {
        tracing::warn!(change = %skipped, "control log: a logged rule no longer fits the config; left out");
    }
    rules.set_floor(floor);
    if !entries.is_empty() {
        tracing::info!(entries = entries.len(), lake = lake.url(), "control log replayed");
    }
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline() -> Arc<PipelineConfig> {
        let text = "[lake]\nurl = \"file:///tmp/unused\"\n[[camera]]\nid = \"cam-1\"\nsource = \"push\"\n\
                    [[camera.zone]]\nid = \"z\"\npolygon = [[0, 0], [10, 0], [10, 10], [0, 10]]\n";
        Arc::new(PipelineConfig::from_toml(text).unwrap())
    }

    fn rule(severity: &str) -> RuleConfig {
        serde_json::from_value(serde_json::json!({"id": "r", "kind": "zone_intrusion", "camera": "cam-1", "zone": "z", "classes": ["car"], "severity": severity})).unwrap()
    }

    /// Two processes of a cluster, each with its own rule book, change the same rule: the
    /// second, whose book has not seen the first's change, follows the first's entry before it
    /// appends and makes its change against it (a replacement, not a second rule). (Losing the
    /// race for a seq between the two steps leads to the same: `Lake::create_control_at`
    /// refuses the taken seq, and the loop follows again.)
    #[tokio::test]
    async fn a_process_follows_the_others_changes_before_its_own_and_changes_after_them() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(&format!("file://{}", dir.path().display())).unwrap();
        let books: Vec<RuleControl> = (0..2).map(|_| RuleControl::new(pipeline()).unwrap()).collect();
        let logs: Vec<ControlLog> = books.iter().map(|b| ControlLog::in_cluster(lake.clone(), 0, b.clone(), SignalControl::new(&pipeline(), Vec::new()))).collect();
        let (first, replaced) = logs[0].put_rule(&books[0], "p0", "r", rule("low")).await.unwrap();
        assert_eq!((first.seq, replaced), (0, false), "a new rule");
        assert!(books[1].get("r").is_none(), "process 1 has not read the log yet");
        let (second, replaced) = logs[1].put_rule(&books[1], "p1", "r", rule("high")).await.unwrap();
        assert_eq!((second.seq, replaced), (1, true), "process 1 followed seq 0 first: its put replaces process 0's rule");
        assert_eq!(second.before.as_ref().unwrap()["severity"], "low");
        // Process 0 follows process 1's change: both books hold the same rule.
        assert_eq!(logs[0].follow().await.unwrap(), 1);
        for book in &books {
            assert_eq!(book.get("r").unwrap().rule, rule("high"));
        }
        let (deleted, gone) = logs[0].delete_rule(&books[0], "p0", "r").await.unwrap();
        assert_eq!((deleted.seq, gone.map(|e| e.rule)), (2, Some(rule("high"))));
        assert_eq!(lake.read_control().await.unwrap().len(), 3, "every change once, in order");
    }
}

#[cfg(test)]
mod signal_tests {
    use super::*;

    /// A process pushes a signal state after another process's push: it follows that push
    /// first, so a change before it is refused as late there too (one signal history).
    #[tokio::test]
    async fn a_process_pushes_signal_states_after_the_others_pushes() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(&format!("file://{}", dir.path().display())).unwrap();
        let text = "[[camera]]\nid = \"c\"\nsource = \"push\"\n[[signal]]\nid = \"s\"\nsource = \"push\"\n";
        let config = Arc::new(PipelineConfig::from_toml(text).unwrap());
        let signals: Vec<SignalControl> = (0..2).map(|_| SignalControl::new(&config, Vec::new())).collect();
        let logs: Vec<ControlLog> = signals.iter().map(|s| ControlLog::in_cluster(lake.clone(), 0, RuleControl::new(config.clone()).unwrap(), s.clone())).collect();
        let push = |p: usize, body: &'static str| {
            let (log, signals) = (logs[p].clone(), signals[p].clone());
            async move {
                let one = log.one_at_a_time().await;
                log.follow_held(&one).await.unwrap();
                let prepared = signals.prepare(body.as_bytes()).unwrap();
                if !prepared.changes().is_empty() {
                    log.record_signals("test", prepared.changes()).await.unwrap();
                }
                prepared.apply()
            }
        };
        assert_eq!(push(0, "{\"signal_id\":\"s\",\"ts_ms\":100,\"state\":\"red\"}\n").await.accepted, 1);
        let late = push(1, "{\"signal_id\":\"s\",\"ts_ms\":50,\"state\":\"green\"}\n").await;
        assert_eq!((late.accepted, late.rejected.len()), (0, 1), "process 1 knows process 0's change at 100: {late:?}");
        assert_eq!(push(1, "{\"signal_id\":\"s\",\"ts_ms\":200,\"state\":\"green\"}\n").await.accepted, 1);
        let entries = lake.read_control().await.unwrap();
        assert_eq!(entries.iter().map(|e| (e.seq, e.since_ms)).collect::<Vec<_>>(), vec![(0, 100), (1, 200)]);
    }
}
