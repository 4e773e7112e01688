//! Greedy class-aware non-maximum suppression.

use itscam_types::Detection;

/// Class-aware NMS in place: keeps, per class, boxes not overlapping a higher-scoring kept box
/// by more than `iou`; result sorted by confidence, descending.
///
/// Equal confidences keep their input order (stable sort), so the result is deterministic.
/// Runs in `O(n · kept)` without allocating: kept boxes are compacted to the front as found.
pub fn nms(dets: &mut Vec<Detection>, iou: f32) {
    nms_cross_class(dets, iou, f32::INFINITY);
}

/// [`nms`], and also suppresses a box of *another* class overlapping a higher-scoring kept box
/// by more than `cross_class_iou`: one object reported under two classes (CenterNet can score the
/// same cell as `car` and `truck`) becomes one detection, while distinct objects of different
/// classes that merely overlap survive.
pub fn nms_cross_class(dets: &mut Vec<Detection>, iou: f32, cross_class_iou: f32) {
    dets.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let mut kept = 0;
    for i in 0..dets.len() {
        let d = &dets[i];
        let suppressed = dets[..kept].iter().any(|k| {
            let overlap = k.bbox.iou(&d.bbox);
            (k.class == d.class && overlap > iou) || overlap > cross_class_iou
        });
        if !suppressed {
            // Everything in kept..i was suppressed, so swapping keeps the kept ones in order.
            dets.swap(kept, i);
            kept += 1;
        }
    }
    dets.truncate(kept);
}

#[cfg(test)]
mod cross_class_tests {
    use super::*;
    use itscam_types::{BBox, ObjectClass};

    #[test]
    fn one_object_under_two_classes_becomes_one_detection() {
        let b = BBox { x1: 10.0, y1: 10.0, x2: 110.0, y2: 60.0 };
        let near = BBox { x1: 40.0, y1: 10.0, x2: 140.0, y2: 60.0 };
        let det = |c: &str, confidence: f32, bbox: BBox| Detection { class: ObjectClass::from_name(c).unwrap(), confidence, bbox };
        let mut dets = vec![det("truck", 0.38, b), det("car", 0.43, b), det("person", 0.5, near)];
        nms_cross_class(&mut dets, 0.5, 0.9);
        let classes: Vec<&str> = dets.iter().map(|d| d.class.name()).collect();
        assert_eq!(classes, ["person", "car"]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use itscam_types::{BBox, ObjectClass};
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    fn det(class: u8, confidence: f32, x1: f32, y1: f32, x2: f32, y2: f32) -> Detection {
        Detection { class: ObjectClass(class), confidence, bbox: BBox { x1, y1, x2, y2 } }
    }

    #[test]
    fn suppresses_overlapping_same_class_keeps_other_classes_sorted() {
        let mut d = vec![
            det(2, 0.6, 0.0, 0.0, 100.0, 100.0),  // car, suppressed by the 0.9 car (IoU 0.81)
            det(0, 0.5, 5.0, 5.0, 105.0, 105.0),  // person on the same spot: other class, kept
            det(2, 0.9, 5.0, 5.0, 105.0, 105.0),  // best car
            det(2, 0.7, 300.0, 0.0, 400.0, 100.0), // car elsewhere, kept
            det(0, 0.4, 60.0, 0.0, 160.0, 100.0), // person overlapping the 0.5 person by IoU ~0.29, kept
        ];
        nms(&mut d, 0.5);
        let got: Vec<(u8, f32)> = d.iter().map(|d| (d.class.0, d.confidence)).collect();
        assert_eq!(got, [(2, 0.9), (2, 0.7), (0, 0.5), (0, 0.4)]);
    }

    #[test]
    fn threshold_is_strict_and_suppression_is_chained_only_through_kept_boxes() {
        // B overlaps A by exactly 1/3; at iou = 1/3 it survives (strictly "more than").
        let a = det(0, 0.9, 0.0, 0.0, 100.0, 100.0);
        let b = det(0, 0.8, 50.0, 0.0, 150.0, 100.0);
        let mut d = vec![b.clone(), a.clone()];
        nms(&mut d, 1.0 / 3.0);
        assert_eq!(d.len(), 2);
        // A suppresses B; C overlaps only B, and B was suppressed, so C stays.
        let c = det(0, 0.7, 100.0, 0.0, 200.0, 100.0);
        let mut d = vec![c.clone(), b, a.clone()];
        nms(&mut d, 0.3);
        assert_eq!(d, vec![a, c]);
    }

    #[test]
    fn empty_and_single_inputs() {
        let mut d: Vec<Detection> = vec![];
        nms(&mut d, 0.5);
        assert!(d.is_empty());
        let mut d = vec![det(1, 0.5, 0.0, 0.0, 1.0, 1.0)];
        nms(&mut d, 0.0);
        assert_eq!(d.len(), 1);
    }

    /// The textbook algorithm: take the best remaining box, drop its same-class overlaps, repeat.
    fn reference(mut rest: Vec<Detection>, iou: f32) -> Vec<Detection> {
        let mut out = Vec::new();
        while !rest.is_empty() {
            let best = (0..rest.len()).max_by(|&a, &b| rest[a].confidence.total_cmp(&rest[b].confidence).then(b.cmp(&a))).unwrap();
            let b = rest.remove(best);
            rest.retain(|d| d.class != b.class || d.bbox.iou(&b.bbox) <= iou);
            out.push(b);
        }
        out
    }

    #[test]
    fn matches_brute_force_on_random_boxes() {
        let mut rng = SmallRng::seed_from_u64(7);
        for round in 0..300 {
            let n = rng.random_range(0..60);
            let dets: Vec<Detection> = (0..n)
                .map(|_| {
                    let (x, y) = (rng.random_range(0.0..200.0), rng.random_range(0.0..200.0));
                    let (w, h) = (rng.random_range(1.0..80.0), rng.random_range(1.0..80.0));
                    // Coarse scores so ties occur and the tie order is exercised too.
                    let conf = rng.random_range(1..20) as f32 / 20.0;
                    det(rng.random_range(0..3), conf, x, y, x + w, y + h)
                })
                .collect();
            let iou = [0.0, 0.3, 0.5, 0.7][round % 4];
            let mut got = dets.clone();
            nms(&mut got, iou);
            assert_eq!(got, reference(dets, iou), "round {round}");
            assert!(got.windows(2).all(|w| w[0].confidence >= w[1].confidence));
        }
    }
}
