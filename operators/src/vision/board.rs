//! Which model each camera's frames go through, changed while the pipeline runs.
//!
//! The engine publishes a [`Routing`] on the [`ModelBoard`] (at start, and on every promotion,
//! canary or rollback); each inference thread's bank of models reads the board's
//! generation before every batch. A new routing is *adopted* only once every model it needs is
//! open and warmed — loaded on a loader thread, off the inference path — so frames in flight
//! finish on the old model and the first batch after adoption runs on the new one. No frame is
//! lost or run twice, and no batch waits for a model to load.
//!
//! ```
//! use itscam_operators::vision::board::{canary_camera, ModelSpec, Routing};
//! use itscam_types::config::ModelConfig;
//!
//! let spec = |v: &str| ModelSpec::new(v, ModelConfig::default());
//! let routing = Routing { production: Some(spec("detector@1.0.0")), canary: Some((spec("detector@1.1.0"), 50)), ..Routing::default() };
//! // Half of the cameras following production go to the canary, the same ones every time.
//! let canaries = (0..1000).filter(|i| canary_camera(&format!("cam-{i}"), 50)).count();
//! assert!((400..600).contains(&canaries));
//! let cam = (0..).map(|i| format!("cam-{i}")).find(|c| canary_camera(c, 50)).unwrap();
//! assert_eq!(&*routing.route(&cam).unwrap().0.version, "detector@1.1.0");
//! ```

use itscam_types::config::ModelConfig;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One model a camera can run: its registry name (`name@version`, or the file name of an
/// unregistered `[model] path`) and the settings to open it (with `path` a local file).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// `detections.model_version` of its rows.
    pub version: Arc<str>,
    /// How to open and run it.
    pub config: ModelConfig,
}

impl ModelSpec {
    /// A spec.
    pub fn new(version: &str, config: ModelConfig) -> ModelSpec {
        ModelSpec { version: version.into(), config }
    }
}

/// Why a frame goes through its model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteKind {
    /// The production version (cameras following the registry, or the `[model] path`).
    Production,
    /// The canary version (a share of the cameras following production).
    Canary,
    /// The camera pins a version (`[[camera]] model = "name@version"`).
    Pinned,
}

/// The assignment of models to cameras at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Routing {
    /// The model of cameras that follow production; `None`: the registry has no production
    /// version yet (their frames fail with a clear reason until one is promoted).
    pub production: Option<ModelSpec>,
    /// Cameras pinned to a version.
    pub pinned: BTreeMap<String, ModelSpec>,
    /// A canary version and the share of following cameras (percent) that run it.
    pub canary: Option<(ModelSpec, u8)>,
    /// A candidate run beside production on a sample (0..=1) of production cameras' frames,
    /// without affecting outputs.
    pub shadow: Option<(ModelSpec, f32)>,
    /// The registry name cameras follow (for error messages), if any.
    pub follows: Option<String>,
}

impl Routing {
    /// A fixed routing: every camera runs `spec`.
    pub fn fixed(spec: ModelSpec) -> Routing {
        Routing { production: Some(spec), ..Routing::default() }
    }

    /// The model for `camera`'s frames and why.
    pub fn route(&self, camera: &str) -> Option<(&ModelSpec, RouteKind)> {
        if let Some(spec) = self.pinned.get(camera) {
            return Some((spec, RouteKind::Pinned));
        }
        if let Some((spec, percent)) = &self.canary
            && canary_camera(camera, *percent)
        {
            return Some((spec, RouteKind::Canary));
        }
        self.production.as_ref().map(|s| (s, RouteKind::Production))
    }

    /// Every model it needs open, by version (the shadow candidate included).
    pub fn specs(&self) -> BTreeMap<Arc<str>, &ModelSpec> {
        let all = self.production.iter().chain(self.pinned.values()).chain(self.canary.iter().map(|(s, _)| s)).chain(self.shadow.iter().map(|(s, _)| s));
        all.map(|s| (s.version.clone(), s)).collect()
    }

    /// The versions it runs, shadow included.
    pub fn versions(&self) -> BTreeSet<Arc<str>> {
        self.specs().into_keys().collect()
    }
}

/// Whether `camera` runs the canary at `percent`: a stable hash of its id (FNV-1a), so the same
/// cameras are canaries on every process and after every restart.
pub fn canary_camera(camera: &str, percent: u8) -> bool {
    stable_hash(camera.as_bytes()) % 100 < u64::from(percent.min(100))
}

/// Whether frame `frame` of `camera` is in a shadow sample of share `sample` (stable).
pub fn shadow_frame(camera: &str, frame: u64, sample: f32) -> bool {
    let mut bytes = camera.as_bytes().to_vec();
    bytes.extend_from_slice(&frame.to_le_bytes());
    ((stable_hash(&bytes) % 10_000) as f32) < sample.clamp(0.0, 1.0) * 10_000.0
}

fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // FNV's low bits mix poorly for short keys: fold the high half in.
    h ^ (h >> 29)
}

/// An inference thread's adoption of a routing: the generation, and when (wall clock, ms).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adoption {
    /// The routing's generation.
    pub generation: u64,
    /// Wall-clock time of adoption.
    pub at_ms: u64,
}

#[derive(Debug, Default)]
struct BoardState {
    routing: Arc<Routing>,
    /// Per inference thread (worker index): the generation it runs.
    adopted: BTreeMap<usize, Adoption>,
    /// The latest generation that could not be adopted, and why.
    failed: Option<(u64, String)>,
}

/// The published routing, shared by the engine (writer) and every inference thread (readers).
#[derive(Debug, Default)]
pub struct ModelBoard {
    generation: AtomicU64,
    state: Mutex<BoardState>,
}

impl ModelBoard {
    /// A board publishing `routing` as generation 0.
    pub fn new(routing: Routing) -> Arc<ModelBoard> {
        Arc::new(ModelBoard { generation: AtomicU64::new(0), state: Mutex::new(BoardState { routing: Arc::new(routing), ..BoardState::default() }) })
    }

    /// Publishes a new routing; returns its generation.
    pub fn publish(&self, routing: Routing) -> u64 {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.routing = Arc::new(routing);
        self.generation.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The generation last published (cheap: read before every batch).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The routing last published, with its generation.
    pub fn current(&self) -> (u64, Arc<Routing>) {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (self.generation(), state.routing.clone())
    }

    /// Records that inference thread `thread` runs `generation` from now on.
    pub fn adopted(&self, thread: usize, generation: u64) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.adopted.insert(thread, Adoption { generation, at_ms: itscam_types::time::now_ms() });
    }

    /// Records that `generation` could not be adopted (a model did not open).
    pub fn failed(&self, generation: u64, reason: String) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.failed = Some((generation, reason));
    }

    /// What each inference thread runs.
    pub fn adoptions(&self) -> BTreeMap<usize, Adoption> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).adopted.clone()
    }

    /// The latest generation that failed to load, and why.
    pub fn failure(&self) -> Option<(u64, String)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).failed.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_cameras_win_then_canaries_then_production() {
        let spec = |v: &str| ModelSpec::new(v, ModelConfig::default());
        let mut routing = Routing::fixed(spec("m@1.0.0"));
        routing.pinned.insert("cam-p".into(), spec("m@0.9.0"));
        routing.canary = Some((spec("m@2.0.0"), 100));
        assert_eq!(routing.route("cam-p").map(|(s, k)| (&*s.version, k)), Some(("m@0.9.0", RouteKind::Pinned)));
        assert_eq!(routing.route("cam-x").map(|(s, k)| (&*s.version, k)), Some(("m@2.0.0", RouteKind::Canary)));
        routing.canary = Some((spec("m@2.0.0"), 0));
        assert_eq!(routing.route("cam-x").map(|(s, k)| (&*s.version, k)), Some(("m@1.0.0", RouteKind::Production)));
        assert_eq!(routing.versions().len(), 3);
    }

    #[test]
    fn shadow_samples_are_stable_and_near_their_share() {
        let hits = (0..10_000u64).filter(|f| shadow_frame("cam-1", *f, 0.1)).count();
        assert!((800..1200).contains(&hits), "{hits}");
        assert_eq!(shadow_frame("cam-1", 7, 0.1), shadow_frame("cam-1", 7, 0.1));
        assert!(!(0..1000u64).any(|f| shadow_frame("cam-1", f, 0.0)));
    }

    #[test]
    fn the_board_counts_generations_and_adoptions() {
        let board = ModelBoard::new(Routing::default());
        assert_eq!(board.generation(), 0);
        assert_eq!(board.publish(Routing::fixed(ModelSpec::new("m@1.0.0", ModelConfig::default()))), 1);
        board.adopted(0, 1);
        assert_eq!(board.adoptions()[&0].generation, 1);
        assert_eq!(board.current().1.production.as_ref().map(|s| &*s.version), Some("m@1.0.0"));
    }
}
