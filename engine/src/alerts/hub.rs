//! The alert hub task: takes alerts from the dataflow, runs the [`Book`], writes each change
//! to the `alerts` table, publishes raised and escalated alerts to the outlets and every change
//! to SSE subscribers, and fires escalation timers.

use super::book::{Book, Effects, HubCounters};
use super::view::{AlertFilter, AlertView, HubEvent, HubEventKind};
use itscam_sinks::alerts::{AlertOutlet, AlertStream};
use itscam_sinks::{LakeSink, SinkError, SinkRows};
use itscam_types::analytics::Alert;
use itscam_types::config::AlertsConfig;
use itscam_types::{Blame, Blamed};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// SSE events buffered per subscriber; a subscriber further behind gets a `lagged` event.
pub const SSE_BUFFER: usize = 1_024;

/// Why a hub request failed. Each variant's doc says who is to blame ([`Blamed`]).
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// No alert with this id is held.
    ///
    /// Blame: user — the id asked for.
    #[error("no alert {id:?}{}", hint.as_deref().map(|h| format!(": {h}")).unwrap_or_default())]
    NotFound {
        /// The id asked for.
        id: String,
        /// Where it went, when known.
        hint: Option<String>,
    },
    /// `[alerts] max_stream_clients` clients stream already.
    ///
    /// Blame: external (load); another client may go.
    #[error("{max} clients stream alerts already ([alerts] max_stream_clients); try again later")]
    TooManyClients {
        /// The limit.
        max: usize,
    },
    /// The change is not allowed in the alert's state (acknowledging a resolved alert, …).
    ///
    /// Blame: user — the same request fails again.
    #[error("alert {id:?} cannot change: {reason}")]
    Conflict {
        /// The alert.
        id: String,
        /// Why not.
        reason: String,
    },
    /// The alert's state contradicts itself (a status without its change record).
    ///
    /// Blame: bug; the reason says "this is a bug".
    #[error("alert {id:?} cannot change: {reason}")]
    Inconsistent {
        /// The alert.
        id: String,
        /// What is contradictory.
        reason: String,
    },
    /// The hub has finished (the pipeline ended).
    ///
    /// Blame: external to the request — the pipeline is gone; a restarted service answers.
    #[error("the alert hub has stopped (the pipeline finished)")]
    Stopped,
    /// Writing the `alerts` table failed (or the hub task panicked: a bug).
    ///
    /// Blame: the lake error's own.
    #[error("writing alert rows failed: {0}")]
    Lake(#[from] SinkError),
}

impl Blamed for HubError {
    fn blame(&self) -> Blame {
        match self {
            HubError::NotFound { .. } | HubError::Conflict { .. } => Blame::User,
            HubError::Inconsistent { .. } => Blame::Bug,
            HubError::Stopped | HubError::TooManyClients { .. } => Blame::External,
            HubError::Lake(e) => e.blame(),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            HubError::Lake(e) => e.retry_after(),
            HubError::TooManyClients { .. } => Some(Duration::from_secs(5)),
            _ => None,
        }
    }
}

/// What the hub did over its life, returned by [`AlertHubTask::finish`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubSummary {
    /// Lifecycle counts.
    pub counters: HubCounters,
    /// Rows sent to the `alerts` table.
    pub rows: u64,
    /// Names of the outlets.
    pub outlets: Vec<String>,
    /// Outlets that still held undelivered alerts after `flush_timeout_ms`.
    pub unflushed: Vec<String>,
}

enum Command {
    List(AlertFilter, oneshot::Sender<Vec<AlertView>>),
    Get(String, oneshot::Sender<Result<AlertView, HubError>>),
    Acknowledge { id: String, by: String, note: Option<String>, reply: oneshot::Sender<Result<AlertView, HubError>> },
    Resolve { id: String, by: String, note: Option<String>, reply: oneshot::Sender<Result<AlertView, HubError>> },
    Subscribe(oneshot::Sender<Result<broadcast::Receiver<Arc<HubEvent>>, HubError>>),
    Counters(oneshot::Sender<HubCounters>),
}

enum Msg {
    /// An alert, with the dataflow time it was raised at in a checkpointed run.
    Raise(Box<Alert>, Option<u64>),
    Replay(Box<Alert>),
    Checkpoint(u64, serde_json::Value),
    Command(Command),
    Finish,
}

/// The dataflow's and the HTTP API's handle on the hub. Cheap to clone.
#[derive(Clone)]
pub struct AlertHubHandle {
    tx: mpsc::UnboundedSender<Msg>,
}

impl std::fmt::Debug for AlertHubHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertHubHandle").field("running", &!self.tx.is_closed()).finish()
    }
}

impl AlertHubHandle {
    /// Hands an alert to the hub. Never blocks (an unbounded channel: alerts are few and none
    /// may be lost), so timely workers call it directly; false once the hub has finished.
    pub fn raise(&self, alert: Alert) -> bool {
        self.tx.send(Msg::Raise(Box::new(alert), None)).is_ok()
    }

    /// In a checkpointed run: an alert raised by the dataflow at time `t`. Its `alerts` rows
    /// wait for the first checkpoint above `t` (they are committed with the rows of the
    /// violation that raised it); outlets and SSE get it at once.
    pub fn raise_at(&self, alert: Alert, t: u64) -> bool {
        self.tx.send(Msg::Raise(Box::new(alert), Some(t))).is_ok()
    }

    /// An alert a restarted run raises again below its last checkpoint: the book takes it in
    /// (suppression, dedupe), outlets that skip published ids get it again (in case the crash
    /// came before they had it), nothing else does — its rows are in the lake.
    pub fn replay(&self, alert: Alert) -> bool {
        self.tx.send(Msg::Replay(Box::new(alert))).is_ok()
    }

    /// A checkpoint at `t`: the `alerts` rows raised below `t` go to the lake, then the
    /// checkpoint itself — in order after every alert handed over before this call.
    pub fn checkpoint(&self, t: u64, value: serde_json::Value) -> bool {
        self.tx.send(Msg::Checkpoint(t, value)).is_ok()
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, HubError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Msg::Command(make(reply))).map_err(|_| HubError::Stopped)?;
        answer.await.map_err(|_| HubError::Stopped)
    }

    /// Held alerts passing `filter`, newest event time first.
    pub async fn list(&self, filter: AlertFilter) -> Result<Vec<AlertView>, HubError> {
        self.ask(|reply| Command::List(filter, reply)).await
    }

    /// One held alert.
    pub async fn get(&self, id: &str) -> Result<AlertView, HubError> {
        self.ask(|reply| Command::Get(id.to_string(), reply)).await?
    }

    /// Open → acknowledged (cancels the escalation).
    pub async fn acknowledge(&self, id: &str, by: &str, note: Option<String>) -> Result<AlertView, HubError> {
        self.ask(|reply| Command::Acknowledge { id: id.to_string(), by: by.to_string(), note, reply }).await?
    }

    /// Open or acknowledged → resolved.
    pub async fn resolve(&self, id: &str, by: &str, note: Option<String>) -> Result<AlertView, HubError> {
        self.ask(|reply| Command::Resolve { id: id.to_string(), by: by.to_string(), note, reply }).await?
    }

    /// Every change from now on (alerts raised after this returns are seen). The channel closes
    /// when the hub finishes.
    pub async fn subscribe(&self) -> Result<broadcast::Receiver<Arc<HubEvent>>, HubError> {
        self.ask(Command::Subscribe).await?
    }

    /// What the hub did so far.
    pub async fn counters(&self) -> Result<HubCounters, HubError> {
        self.ask(Command::Counters).await
    }
}

/// The running hub; [`finish`](AlertHubTask::finish) stops it.
#[derive(Debug)]
pub struct AlertHubTask {
    tx: mpsc::UnboundedSender<Msg>,
    task: JoinHandle<Result<HubSummary, HubError>>,
}

impl AlertHubTask {
    /// Takes in everything raised before the call, flushes the outlets (each delivers or gives
    /// up what it holds, within `flush_timeout_ms`) and the `alerts` rows to the lake, and stops. Pending escalations are
    /// dropped; later calls on handles answer [`HubError::Stopped`].
    pub async fn finish(self) -> Result<HubSummary, HubError> {
        let _ = self.tx.send(Msg::Finish);
        self.task.await.map_err(|source| HubError::Lake(SinkError::Panicked { task: "alert hub", source }))?
    }
}

/// The alert hub (see the module docs of [`crate::alerts`]).
#[derive(Debug)]
pub struct AlertHub;

impl AlertHub {
    /// Starts the hub on `runtime` with `[alerts]` settings, the outlets that receive raised and
    /// escalated alerts, and the lake writer that takes the `alerts` rows. Callable from any
    /// thread.
    pub fn start(
        config: &AlertsConfig,
        outlets: Vec<Arc<dyn AlertOutlet>>,
        lake: LakeSink,
        runtime: &tokio::runtime::Handle,
    ) -> (AlertHubHandle, AlertHubTask) {
        Self::start_with(config, outlets, lake, false, runtime)
    }

    /// [`AlertHub::start`] for a checkpointed run (`checkpointed`): rows of alerts raised with
    /// [`AlertHubHandle::raise_at`] wait for [`AlertHubHandle::checkpoint`].
    pub fn start_with(
        config: &AlertsConfig,
        outlets: Vec<Arc<dyn AlertOutlet>>,
        lake: LakeSink,
        checkpointed: bool,
        runtime: &tokio::runtime::Handle,
    ) -> (AlertHubHandle, AlertHubTask) {
        let (tx, rx) = mpsc::unbounded_channel();
        let book = Book::new(config.lifecycle.clone());
        let retain = config.lifecycle.retain_resolved_ms;
        let flush_timeout = Duration::from_millis(config.lifecycle.flush_timeout_ms);
        let max_stream_clients = config.max_stream_clients.max(1);
        let task = runtime.spawn(async move {
            let (events, _) = broadcast::channel(SSE_BUFFER);
            let held = checkpointed.then(Vec::new);
            let state = HubState { book, outlets, lake, events, clock: Clock::start(), rows: 0, lake_down: false, max_stream_clients, held };
            state.run(rx, retain, flush_timeout).await
        });
        (AlertHubHandle { tx: tx.clone() }, AlertHubTask { tx, task })
    }
}

/// Wall-clock milliseconds that advance with Tokio's clock, so `tokio::time::pause`/`advance`
/// drive escalation in tests, and timestamps never go backwards.
struct Clock {
    wall0_ms: u64,
    t0: Instant,
}

impl Clock {
    fn start() -> Clock {
        let wall0_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        Clock { wall0_ms, t0: Instant::now() }
    }

    fn now_ms(&self) -> u64 {
        self.wall0_ms + self.t0.elapsed().as_millis() as u64
    }

    fn instant_at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms.saturating_sub(self.wall0_ms))
    }
}

struct HubState {
    book: Book,
    outlets: Vec<Arc<dyn AlertOutlet>>,
    lake: LakeSink,
    events: broadcast::Sender<Arc<HubEvent>>,
    clock: Clock,
    rows: u64,
    lake_down: bool,
    /// `[alerts] max_stream_clients`.
    max_stream_clients: usize,
    /// Checkpointed runs: `alerts` rows of raises, with their dataflow time, until a checkpoint
    /// passes it.
    held: Option<Vec<(u64, itscam_types::analytics::AlertRow)>>,
}

impl HubState {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>, retain_ms: u64, flush_timeout: Duration) -> Result<HubSummary, HubError> {
        let mut sweep = tokio::time::interval(Duration::from_millis((retain_ms / 4).clamp(1_000, 60_000)));
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = self.book.next_escalation().map(|ms| self.clock.instant_at(ms));
            let escalation = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = escalation => {
                    let fx = self.book.escalate_due(self.clock.now_ms());
                    self.apply(fx);
                }
                _ = sweep.tick() => self.book.sweep(self.clock.now_ms()),
                msg = rx.recv() => match msg {
                    Some(Msg::Raise(alert, at)) => {
                        let mut fx = self.book.raise(*alert, self.clock.now_ms());
                        if let (Some(held), Some(t)) = (&mut self.held, at) {
                            held.extend(fx.rows.drain(..).map(|r| (t, r)));
                        }
                        self.apply(fx);
                    }
                    Some(Msg::Replay(alert)) => {
                        let alert = *alert;
                        if self.book.replay(alert.clone(), self.clock.now_ms()) {
                            for outlet in self.outlets.iter().filter(|o| o.skips_published()) {
                                outlet.publish(&alert, AlertStream::Raised);
                            }
                        }
                    }
                    Some(Msg::Checkpoint(t, value)) => {
                        if let Some(held) = &mut self.held {
                            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(held).into_iter().partition(|(at, _)| *at < t);
                            *held = later;
                            let rows: Vec<_> = due.into_iter().map(|(_, r)| r).collect();
                            self.send_rows(rows);
                        }
                        if !self.lake.checkpoint_at(t, value) && !self.lake_down {
                            self.lake_down = true;
                            tracing::error!("the lake writer stopped: checkpoints are no longer taken (its error is reported when the run ends)");
                        }
                    }
                    Some(Msg::Command(c)) => self.command(c),
                    Some(Msg::Finish) | None => break,
                },
            }
        }
        // Outlets flush side by side, each within the same deadline.
        let flushes = self.outlets.iter().map(|o| async move { tokio::time::timeout(flush_timeout, o.flush()).await.is_ok() });
        let flushed = futures::future::join_all(flushes).await;
        let unflushed: Vec<String> =
            self.outlets.iter().zip(flushed).filter(|(_, done)| !done).map(|(o, _)| o.name().to_string()).collect();
        for name in &unflushed {
            tracing::warn!(outlet = %name, timeout_ms = flush_timeout.as_millis() as u64, "alert outlet still held undelivered alerts at the end of the run (flush_timeout_ms)");
        }
        self.lake.flush().await?;
        let outlets = self.outlets.iter().map(|o| o.name().to_string()).collect();
        Ok(HubSummary { counters: self.book.counters(), rows: self.rows, outlets, unflushed })
    }

    fn command(&mut self, command: Command) {
        let now = self.clock.now_ms();
        match command {
            Command::List(filter, reply) => {
                let _ = reply.send(self.book.list(&filter));
            }
            Command::Get(id, reply) => {
                let _ = reply.send(self.book.get(&id));
            }
            Command::Acknowledge { id, by, note, reply } => {
                let result = self.book.acknowledge(&id, &by, note, now).map(|fx| self.apply_and_view(fx));
                let _ = reply.send(result);
            }
            Command::Resolve { id, by, note, reply } => {
                let result = self.book.resolve(&id, &by, note, now).map(|fx| self.apply_and_view(fx));
                let _ = reply.send(result);
            }
            Command::Subscribe(reply) => {
                let full = self.events.receiver_count() >= self.max_stream_clients;
                let _ = reply.send(if full { Err(HubError::TooManyClients { max: self.max_stream_clients }) } else { Ok(self.events.subscribe()) });
            }
            Command::Counters(reply) => {
                let _ = reply.send(self.book.counters());
            }
        }
    }

    fn apply_and_view(&mut self, fx: Effects) -> AlertView {
        let view = fx.events.last().map(|e| e.view.clone()).expect("a status change has an event");
        self.apply(fx);
        view
    }

    fn send_rows(&mut self, rows: Vec<itscam_types::analytics::AlertRow>) {
        if !rows.is_empty() {
            self.rows += rows.len() as u64;
            if !self.lake.send(SinkRows::Alerts(rows)) && !self.lake_down {
                self.lake_down = true;
                tracing::error!("the lake writer stopped: alert rows are no longer written (its error is reported when the run ends)");
            }
        }
    }

    fn apply(&mut self, fx: Effects) {
        self.send_rows(fx.rows);
        for event in fx.events {
            if let HubEventKind::Published(stream) = event.kind {
                for outlet in &self.outlets {
                    outlet.publish(&event.view.alert, stream);
                }
            }
            // No subscriber is fine: SSE is best effort.
            let _ = self.events.send(Arc::new(event));
        }
    }
}
