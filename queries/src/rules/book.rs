//! The rule set and the signal states as one worker holds them at the frontier: the state side
//! of a half-join. Facts never enter a collection: each fact is looked up here at its own time,
//! after every change at that time has been applied, so a change never revisits a past fact and
//! nothing about facts is kept. Pure logic, fed in time order by the operator in `mod.rs`.
//!
//! The book is the rules collection (`(spec, time, diff)` updates) and the signal collection
//! (`((signal, state), time, diff)`) accumulated up to the current time: a rule matches while
//! its count is positive, a signal is red while its `red` count is.

use super::ir::{RuleIr, Source};
use crate::facts::{Place, SignalState};
use std::collections::HashMap;
use std::sync::Arc;

/// One rule of a list, with its count in the collection.
#[derive(Debug)]
struct Live {
    spec: Arc<RuleIr>,
    count: isize,
}

/// Which relation a fact belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Relation {
    /// `track_points`.
    Points,
    /// `zone_presence`.
    Zones,
    /// `line_crossings`.
    Lines,
    /// `queue_samples`.
    QueueSamples,
    /// `queues`.
    LaneCycles,
}

impl Relation {
    fn of(source: &Source) -> Relation {
        match source {
            Source::TrackPoints => Relation::Points,
            Source::ZonePresence(_) => Relation::Zones,
            Source::LineCrossings(_) => Relation::Lines,
            Source::QueueSamples(_) => Relation::QueueSamples,
            Source::LaneCycles(_) => Relation::LaneCycles,
        }
    }
}

/// Live rules indexed by what they read, and signal states.
#[derive(Debug, Default)]
pub struct RuleBook {
    /// Rules that read one zone or line of a camera, per place, sorted by id (a handful).
    by_place: HashMap<Place, Vec<Live>>,
    /// Rules that read a relation of a camera whole (`track_points`, or every zone or line).
    by_camera: HashMap<(Arc<str>, Relation), Vec<Live>>,
    /// Rules of every camera, per relation (one zone or line id: checked per fact).
    any_camera: HashMap<Relation, Vec<Live>>,
    /// Per signal, the count of each state (`Red`, `Yellow`, `Green`).
    signals: HashMap<String, [isize; 3]>,
}

fn state_index(s: SignalState) -> usize {
    match s {
        SignalState::Red => 0,
        SignalState::Yellow => 1,
        SignalState::Green => 2,
    }
}

/// Adds `diff` to `spec`'s count in a list sorted by id; drops it at zero.
fn update(list: &mut Vec<Live>, spec: &Arc<RuleIr>, diff: isize) {
    match list.iter().position(|l| *l.spec == **spec) {
        Some(i) => {
            list[i].count += diff;
            if list[i].count == 0 {
                list.remove(i);
            }
        }
        None if diff != 0 => {
            let at = list.partition_point(|l| l.spec.id < spec.id);
            list.insert(at, Live { spec: spec.clone(), count: diff });
        }
        None => {}
    }
}

fn live(list: Option<&Vec<Live>>) -> impl Iterator<Item = &Arc<RuleIr>> {
    list.into_iter().flatten().filter(|l| l.count > 0).map(|l| &l.spec)
}

impl RuleBook {
    /// An empty book.
    pub fn new() -> RuleBook {
        RuleBook::default()
    }

    /// Applies an update of the rules collection.
    pub fn update_rule(&mut self, spec: &Arc<RuleIr>, diff: isize) {
        let relation = Relation::of(&spec.source);
        match &spec.cameras {
            Some(cameras) => {
                for camera in cameras {
                    match spec.place(camera) {
                        Some(place) => {
                            let list = self.by_place.entry(place.clone()).or_default();
                            update(list, spec, diff);
                            if list.is_empty() {
                                self.by_place.remove(&place);
                            }
                        }
                        None => {
                            let key = (Arc::<str>::from(camera.as_str()), relation);
                            let list = self.by_camera.entry(key.clone()).or_default();
                            update(list, spec, diff);
                            if list.is_empty() {
                                self.by_camera.remove(&key);
                            }
                        }
                    }
                }
            }
            None => {
                let list = self.any_camera.entry(relation).or_default();
                update(list, spec, diff);
                if list.is_empty() {
                    self.any_camera.remove(&relation);
                }
            }
        }
    }

    /// Applies an update of the signal-state collection.
    pub fn update_signal(&mut self, signal: &str, state: SignalState, diff: isize) {
        let counts = match self.signals.get_mut(signal) {
            Some(c) => c,
            None => self.signals.entry(signal.to_string()).or_default(),
        };
        counts[state_index(state)] += diff;
        if counts.iter().all(|c| *c == 0) {
            self.signals.remove(signal);
        }
    }

    /// The rules that read a zone's or a line's fact at `place` now: the place's own (by id),
    /// then the camera's for every zone or line, then every camera's.
    pub fn rules_at<'a>(&'a self, place: &'a Place) -> impl Iterator<Item = &'a Arc<RuleIr>> + 'a {
        let relation = match place.kind {
            crate::facts::PlaceKind::Zone => Relation::Zones,
            crate::facts::PlaceKind::Line => Relation::Lines,
        };
        let own = live(self.by_place.get(place));
        let camera = (!self.by_camera.is_empty()).then(|| live(self.by_camera.get(&(place.camera.clone(), relation)))).into_iter().flatten();
        let any = live(self.any_camera.get(&relation)).filter(move |s| s.place(&place.camera).is_none_or(|p| p == *place));
        own.chain(camera).chain(any)
    }

    /// The rules that read `track_points` of `camera` now.
    pub fn point_rules<'a>(&'a self, camera: &'a Arc<str>) -> impl Iterator<Item = &'a Arc<RuleIr>> + 'a {
        let camera = (!self.by_camera.is_empty()).then(|| live(self.by_camera.get(&(camera.clone(), Relation::Points)))).into_iter().flatten();
        camera.chain(live(self.any_camera.get(&Relation::Points)))
    }

    /// The rules that read a junction lane's fact of `camera` now: `queue_samples` for a
    /// sample, `queues` for a finished cycle (a rule on one lane checks its lane in its `WHERE`).
    pub fn lane_rules<'a>(&'a self, camera: &'a Arc<str>, cycle: bool) -> impl Iterator<Item = &'a Arc<RuleIr>> + 'a {
        let relation = if cycle { Relation::LaneCycles } else { Relation::QueueSamples };
        let camera = (!self.by_camera.is_empty()).then(|| live(self.by_camera.get(&(camera.clone(), relation)))).into_iter().flatten();
        camera.chain(live(self.any_camera.get(&relation)))
    }

    /// Whether any rule reads `track_points`.
    pub fn reads_points(&self) -> bool {
        self.any_camera.contains_key(&Relation::Points) || self.by_camera.keys().any(|k| k.1 == Relation::Points)
    }

    /// Whether the signal is red now.
    pub fn red(&self, signal: &str) -> bool {
        self.signals.get(signal).is_some_and(|c| c[state_index(SignalState::Red)] > 0)
    }

    /// The signal's state now: red while its red count is positive, else yellow, else green;
    /// `None` before its first state.
    pub fn signal_state(&self, signal: &str) -> Option<SignalState> {
        let c = self.signals.get(signal)?;
        [SignalState::Red, SignalState::Yellow, SignalState::Green].into_iter().find(|s| c[state_index(*s)] > 0)
    }

    /// Whether no rule is live.
    pub fn is_empty(&self) -> bool {
        self.by_place.is_empty() && self.by_camera.is_empty() && self.any_camera.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::PlaceKind;
    use crate::rules::ir::{Expr, Output, Value};
    use itscam_types::config::{RuleKind, Severity};

    fn spec(id: &str, cameras: Option<&str>, source: Source) -> Arc<RuleIr> {
        Arc::new(RuleIr {
            id: id.into(),
            kind: RuleKind::Sql,
            severity: Severity::High,
            cameras: cameras.map(|c| vec![c.to_string()]),
            source,
            filter: Expr::Lit(Value::Bool(true)),
            output: Output::Each,
            limit: None,
        })
    }

    fn zone(z: &str) -> Source {
        Source::ZonePresence(Some(z.into()))
    }

    fn place(camera: &str, z: &str) -> Place {
        Place { camera: camera.into(), kind: PlaceKind::Zone, id: z.into() }
    }

    #[test]
    fn rules_are_listed_by_id_while_their_count_is_positive() {
        let mut book = RuleBook::new();
        let (b, a, c) = (spec("b", Some("cam-1"), zone("z1")), spec("a", Some("cam-1"), zone("z1")), spec("c", Some("cam-1"), zone("z2")));
        for s in [&b, &a, &c] {
            book.update_rule(s, 1);
        }
        let ids = |book: &RuleBook, z: &str| book.rules_at(&place("cam-1", z)).map(|s| s.id.to_string()).collect::<Vec<_>>();
        assert_eq!(ids(&book, "z1"), ["a", "b"]);
        assert_eq!(ids(&book, "z2"), ["c"]);
        // A replacement arrives as a retraction and an insertion at the same time.
        let mut faster = RuleIr::clone(&b);
        faster.limit = Some(90.0);
        let faster = Arc::new(faster);
        book.update_rule(&b, -1);
        book.update_rule(&faster, 1);
        assert_eq!(book.rules_at(&place("cam-1", "z1")).map(|s| s.limit).collect::<Vec<_>>(), [None, Some(90.0)], "a and the new b");
        book.update_rule(&a, -1);
        book.update_rule(&faster, -1);
        book.update_rule(&c, -1);
        assert!(book.is_empty(), "{book:?}");
    }

    #[test]
    fn rules_of_a_whole_camera_or_of_every_camera_see_every_place() {
        let mut book = RuleBook::new();
        let own = spec("own", Some("cam-1"), zone("z1"));
        let every_zone = spec("every-zone", Some("cam-1"), Source::ZonePresence(None));
        let z1_anywhere = spec("z1-anywhere", None, zone("z1"));
        let points = spec("points", None, Source::TrackPoints);
        for s in [&own, &every_zone, &z1_anywhere, &points] {
            book.update_rule(s, 1);
        }
        let ids = |camera: &str, z: &str| book.rules_at(&place(camera, z)).map(|s| s.id.to_string()).collect::<Vec<_>>();
        assert_eq!(ids("cam-1", "z1"), ["own", "every-zone", "z1-anywhere"]);
        assert_eq!(ids("cam-1", "z2"), ["every-zone"]);
        assert_eq!(ids("cam-2", "z1"), ["z1-anywhere"]);
        assert!(ids("cam-2", "z2").is_empty());
        let cam: Arc<str> = "cam-9".into();
        assert_eq!(book.point_rules(&cam).map(|s| s.id.to_string()).collect::<Vec<_>>(), ["points"]);
        assert!(book.reads_points());
    }

    #[test]
    fn a_signal_is_red_while_its_red_count_is_positive() {
        let mut book = RuleBook::new();
        assert!(!book.red("tl-1"));
        assert_eq!(book.signal_state("tl-1"), None);
        book.update_signal("tl-1", SignalState::Red, 1);
        assert!(book.red("tl-1") && !book.red("tl-2"));
        book.update_signal("tl-1", SignalState::Red, -1);
        book.update_signal("tl-1", SignalState::Green, 1);
        assert!(!book.red("tl-1"));
        assert_eq!(book.signal_state("tl-1"), Some(SignalState::Green));
    }
}
