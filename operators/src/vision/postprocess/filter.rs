//! Which classes to keep and at what confidence.

use itscam_types::config::ModelConfig;
use itscam_types::{COCO_CLASSES, ObjectClass};

/// Number of COCO classes, the index space of the thresholds.
const CLASSES: usize = COCO_CLASSES.len();

/// Which classes to keep and their minimum confidence (built from [`ModelConfig`]).
///
/// A dropped class has threshold `+inf`, so one `score >= threshold` comparison answers both
/// "kept?" and "confident enough?" in the decoders' inner loops.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassFilter {
    /// Minimum confidence per COCO index; `+inf` for dropped classes.
    thresholds: [f32; CLASSES],
    /// Indices of the kept classes, ascending: decoders visit only these heatmap channels.
    kept: Vec<usize>,
}

impl ClassFilter {
    /// `classes` (empty: all 80) at `class_confidence` or else `confidence`. Unknown class
    /// names are ignored here: config validation reports them.
    pub fn from_config(c: &ModelConfig) -> Self {
        let mut thresholds = [f32::INFINITY; CLASSES];
        let mut kept = Vec::new();
        for (i, name) in COCO_CLASSES.iter().enumerate() {
            if c.classes.is_empty() || c.classes.iter().any(|k| k == name) {
                thresholds[i] = c.class_confidence.get(*name).copied().unwrap_or(c.confidence);
                kept.push(i);
            }
        }
        ClassFilter { thresholds, kept }
    }

    /// Whether a detection of `class` with `score` is kept (`score >= threshold`; NaN never is).
    pub fn keep(&self, class: ObjectClass, score: f32) -> bool {
        self.thresholds.get(class.0 as usize).is_some_and(|t| score >= *t)
    }

    /// Lowest threshold of the kept classes, for early exits (`+inf` when none is kept).
    pub fn min_threshold(&self) -> f32 {
        self.kept.iter().map(|&i| self.thresholds[i]).fold(f32::INFINITY, f32::min)
    }

    /// The kept classes, ascending.
    pub fn classes(&self) -> impl Iterator<Item = ObjectClass> + '_ {
        self.kept.iter().map(|&i| ObjectClass(i as u8))
    }

    /// Kept COCO indices, ascending (for the decoders' channel loops).
    pub(super) fn kept_indices(&self) -> &[usize] {
        &self.kept
    }

    /// Threshold per COCO index, `+inf` for dropped classes.
    pub(super) fn thresholds(&self) -> &[f32; CLASSES] {
        &self.thresholds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str) -> ObjectClass {
        ObjectClass::from_name(name).unwrap()
    }

    #[test]
    fn default_config_keeps_road_users_at_the_global_threshold() {
        let f = ClassFilter::from_config(&ModelConfig::default());
        let names: Vec<&str> = f.classes().map(|c| c.name()).collect();
        assert_eq!(names, ["person", "bicycle", "car", "motorcycle", "bus", "truck"]);
        assert!(f.keep(class("car"), 0.3));
        assert!(!f.keep(class("car"), 0.29));
        assert!(!f.keep(class("dog"), 0.99));
        assert!(!f.keep(class("car"), f32::NAN));
        assert!(!f.keep(ObjectClass(200), 1.0));
        assert_eq!(f.min_threshold(), 0.3);
    }

    #[test]
    fn per_class_thresholds_override_and_set_the_minimum() {
        let mut c = ModelConfig { confidence: 0.4, classes: vec!["person".into(), "car".into()], ..Default::default() };
        c.class_confidence.insert("car".into(), 0.7);
        c.class_confidence.insert("person".into(), 0.25);
        // A threshold for a class that is not kept must not lower the minimum.
        c.class_confidence.insert("dog".into(), 0.05);
        let f = ClassFilter::from_config(&c);
        assert!(f.keep(class("person"), 0.25));
        assert!(!f.keep(class("car"), 0.69));
        assert!(f.keep(class("car"), 0.7));
        assert!(!f.keep(class("dog"), 0.9));
        assert_eq!(f.min_threshold(), 0.25);
    }

    #[test]
    fn empty_class_list_keeps_all_80() {
        let c = ModelConfig { classes: vec![], confidence: 0.5, ..Default::default() };
        let f = ClassFilter::from_config(&c);
        assert_eq!(f.classes().count(), 80);
        assert!(f.keep(class("toothbrush"), 0.5));
    }

    #[test]
    fn nothing_kept_gives_an_infinite_minimum() {
        let c = ModelConfig { classes: vec!["not a class".into()], ..Default::default() };
        let f = ClassFilter::from_config(&c);
        assert_eq!(f.classes().count(), 0);
        assert_eq!(f.min_threshold(), f32::INFINITY);
    }
}
