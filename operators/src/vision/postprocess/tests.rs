//! Decoder tests on synthetic tensors with planted detections.

use super::*;
use itscam_types::config::ModelConfig;
use itscam_types::{BBox, ObjectClass};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn class(name: &str) -> ObjectClass {
    ObjectClass::from_name(name).unwrap()
}

fn filter(confidence: f32, classes: &[&str]) -> ClassFilter {
    let c = ModelConfig { confidence, classes: classes.iter().map(|s| s.to_string()).collect(), ..Default::default() };
    ClassFilter::from_config(&c)
}

fn assert_box(got: &BBox, want: [f32; 4]) {
    let g = [got.x1, got.y1, got.x2, got.y2];
    assert!(g.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-3), "box {g:?}, expected {want:?}");
}

/// A 768×576 frame stretched to 512×512, as CenterNet's preprocessing does.
fn stretched() -> Geometry {
    Geometry { frame_width: 768, frame_height: 576, scale_x: 512.0 / 768.0, scale_y: 512.0 / 576.0, pad_x: 0.0, pad_y: 0.0 }
}

/// CenterNet outputs for a batch of `n` 512×512 images: a 128×128×80 heatmap and 128×128×4 wh.
struct CenterNetOut {
    n: usize,
    hm: Vec<f32>,
    wh: Vec<f32>,
}

const CELLS: usize = 128;

impl CenterNetOut {
    fn new(n: usize) -> Self {
        CenterNetOut { n, hm: vec![0.0; n * CELLS * CELLS * 80], wh: vec![0.0; n * CELLS * CELLS * 4] }
    }
    fn set(&mut self, item: usize, x: usize, y: usize, class: ObjectClass, score: f32) {
        self.hm[((item * CELLS + y) * CELLS + x) * 80 + class.0 as usize] = score;
    }
    fn set_wh(&mut self, item: usize, x: usize, y: usize, wh: [f32; 4]) {
        let i = ((item * CELLS + y) * CELLS + x) * 4;
        self.wh[i..i + 4].copy_from_slice(&wh);
    }
    fn decode(&self, dec: &CenterNetDecoder, item: usize, g: &Geometry, f: &ClassFilter) -> Vec<Detection> {
        let (hs, ws) = ([self.n, CELLS, CELLS, 80], [self.n, CELLS, CELLS, 4]);
        let outs = [TensorView::new(&hs, &self.hm), TensorView::new(&ws, &self.wh)];
        dec.check_outputs(&outs).unwrap();
        let mut out = Vec::new();
        dec.decode(&outs, item, g, f, &mut out);
        out
    }
}

#[test]
fn centernet_two_peaks_of_different_classes_map_to_frame_pixels() {
    let mut t = CenterNetOut::new(1);
    // Person at cell (40, 30): anchor (160, 120) in input pixels, extents l8 t16 r12 b20.
    t.set(0, 40, 30, class("person"), 0.9);
    t.set_wh(0, 40, 30, [8.0, 16.0, 12.0, 20.0]);
    // Car at cell (100, 90): anchor (400, 360), extents l20 t10 r20 b10.
    t.set(0, 100, 90, class("car"), 0.6);
    t.set_wh(0, 100, 90, [20.0, 10.0, 20.0, 10.0]);
    let d = t.decode(&CenterNetDecoder::new(), 0, &stretched(), &filter(0.3, &["person", "car"]));
    assert_eq!(d.len(), 2);
    assert_eq!((d[0].class, d[0].confidence), (class("person"), 0.9));
    // Input (152, 104, 172, 140) × (1.5, 1.125).
    assert_box(&d[0].bbox, [228.0, 117.0, 258.0, 157.5]);
    assert_eq!((d[1].class, d[1].confidence), (class("car"), 0.6));
    // Input (380, 350, 420, 370) × (1.5, 1.125).
    assert_box(&d[1].bbox, [570.0, 393.75, 630.0, 416.25]);
}

#[test]
fn centernet_reports_local_maxima_only() {
    let mut t = CenterNetOut::new(1);
    let person = class("person");
    for (x, y) in [(10, 10), (30, 30), (31, 30), (60, 60), (61, 60), (62, 61), (90, 5)] {
        t.set_wh(0, x, y, [4.0, 4.0, 4.0, 4.0]);
    }
    // A peak with a lower neighbour (diagonal too): the neighbours are not reported.
    t.set(0, 10, 10, person, 0.8);
    t.set(0, 11, 10, person, 0.7);
    t.set(0, 11, 11, person, 0.79);
    // A flat top of two equal cells: one detection, at the first cell in raster order.
    t.set(0, 30, 30, person, 0.5);
    t.set(0, 31, 30, person, 0.5);
    // A shoulder: a plateau beside a higher peak is no peak at all.
    t.set(0, 60, 60, person, 0.9);
    t.set(0, 61, 60, person, 0.6);
    t.set(0, 62, 61, person, 0.6);
    // Max-pooling is per class: a car next to the person peak still counts.
    t.set(0, 90, 5, person, 0.95);
    t.set(0, 91, 5, class("car"), 0.4);
    t.set_wh(0, 91, 5, [4.0, 4.0, 4.0, 4.0]);
    let d = t.decode(&CenterNetDecoder::new(), 0, &stretched(), &filter(0.3, &["person", "car"]));
    let got: Vec<(ObjectClass, f32, f32)> = d.iter().map(|d| (d.class, d.confidence, d.bbox.x1)).collect();
    // x1 = (4·x − 4) · 1.5.
    let want = [(person, 0.95, 534.0), (person, 0.9, 354.0), (person, 0.8, 54.0), (person, 0.5, 174.0), (class("car"), 0.4, 540.0)];
    assert_eq!(got, want);
}

#[test]
fn centernet_respects_thresholds_and_class_filter() {
    let mut t = CenterNetOut::new(1);
    let planted = [("person", 0.31), ("person", 0.29), ("car", 0.69), ("car", 0.7), ("bus", 0.99), ("truck", 0.5)];
    for (i, (name, score)) in planted.iter().enumerate() {
        let x = 10 + 10 * i;
        t.set(0, x, 20, class(name), *score);
        t.set_wh(0, x, 20, [8.0, 8.0, 8.0, 8.0]);
    }
    let mut c = ModelConfig { confidence: 0.3, classes: vec!["person".into(), "car".into(), "truck".into()], ..Default::default() };
    c.class_confidence.insert("car".into(), 0.7);
    c.class_confidence.insert("truck".into(), 0.6);
    let d = t.decode(&CenterNetDecoder::new(), 0, &stretched(), &ClassFilter::from_config(&c));
    let got: Vec<(&str, f32)> = d.iter().map(|d| (d.class.name(), d.confidence)).collect();
    assert_eq!(got, [("car", 0.7), ("person", 0.31)]);
    // No class kept: nothing, without scanning.
    assert!(t.decode(&CenterNetDecoder::new(), 0, &stretched(), &filter(0.3, &["not a class"])).is_empty());
}

#[test]
fn centernet_keeps_the_top_k_best() {
    let mut t = CenterNetOut::new(1);
    // 150 isolated peaks (every other cell) with distinct scores in all 80 classes.
    let mut planted = Vec::new();
    for i in 0..150 {
        let (x, y) = (2 * (i % 60), 2 * (i / 60) + 40);
        let score = 0.3 + 0.004 * ((i * 67) % 150) as f32;
        t.set(0, x, y, ObjectClass((i % 80) as u8), score);
        t.set_wh(0, x, y, [2.0, 2.0, 2.0, 2.0]);
        planted.push(score);
    }
    planted.sort_by(|a, b| b.total_cmp(a));
    let all = filter(0.2, &[]);
    let d = t.decode(&CenterNetDecoder::new(), 0, &stretched(), &all);
    assert_eq!(d.iter().map(|d| d.confidence).collect::<Vec<_>>(), planted[..100]);
    let d = t.decode(&CenterNetDecoder::new().with_top_k(5), 0, &stretched(), &all);
    assert_eq!(d.iter().map(|d| d.confidence).collect::<Vec<_>>(), planted[..5]);
    assert!(t.decode(&CenterNetDecoder::new().with_top_k(0), 0, &stretched(), &all).is_empty());
}

#[test]
fn centernet_reads_the_requested_batch_item_and_drops_empty_boxes() {
    let mut t = CenterNetOut::new(2);
    t.set(1, 64, 64, class("car"), 0.8);
    t.set_wh(1, 64, 64, [16.0, 16.0, 16.0, 16.0]);
    // Peak at the corner whose box extends off the frame: clamped, still non-empty.
    t.set(1, 0, 0, class("person"), 0.7);
    t.set_wh(1, 0, 0, [10.0, 10.0, 6.0, 8.0]);
    // Zero extents: an empty box, dropped.
    t.set(1, 100, 100, class("person"), 0.9);
    let f = filter(0.3, &["person", "car"]);
    assert!(t.decode(&CenterNetDecoder::new(), 0, &stretched(), &f).is_empty());
    let d = t.decode(&CenterNetDecoder::new(), 1, &stretched(), &f);
    assert_eq!(d.len(), 2);
    assert_box(&d[0].bbox, [360.0, 270.0, 408.0, 306.0]);
    assert_box(&d[1].bbox, [0.0, 0.0, 9.0, 9.0]);
}

#[test]
fn centernet_rejects_wrong_shapes() {
    let dec = CenterNetDecoder::new();
    let (hs, ws) = ([1, 4, 4, 80], [1, 4, 4, 2]);
    let (hm, wh) = (vec![0.0; 4 * 4 * 80], vec![0.0; 4 * 4 * 2]);
    let err = dec.check_outputs(&[TensorView::new(&hs, &hm), TensorView::new(&ws, &wh)]).unwrap_err();
    assert!(err.contains("tower_0/wh:0"), "{err}");
    assert!(dec.check_outputs(&[TensorView::new(&hs, &hm)]).is_err());
    let short = vec![0.0; 10];
    assert!(dec.check_outputs(&[TensorView::new(&hs, &short), TensorView::new(&ws, &wh)]).is_err());
}

/// YOLO output `[n, 84, anchors]`.
struct YoloOut {
    n: usize,
    anchors: usize,
    data: Vec<f32>,
}

impl YoloOut {
    fn new(n: usize, anchors: usize) -> Self {
        YoloOut { n, anchors, data: vec![0.0; n * 84 * anchors] }
    }
    fn set(&mut self, item: usize, anchor: usize, row: usize, v: f32) {
        self.data[(item * 84 + row) * self.anchors + anchor] = v;
    }
    fn plant(&mut self, item: usize, anchor: usize, cxcywh: [f32; 4], scores: &[(&str, f32)]) {
        for (r, v) in cxcywh.into_iter().enumerate() {
            self.set(item, anchor, r, v);
        }
        for (name, s) in scores {
            self.set(item, anchor, 4 + class(name).0 as usize, *s);
        }
    }
    fn decode(&self, item: usize, g: &Geometry, f: &ClassFilter) -> Vec<Detection> {
        let shape = [self.n, 84, self.anchors];
        let outs = [TensorView::new(&shape, &self.data)];
        let dec = YoloDecoder::new();
        dec.check_outputs(&outs).unwrap();
        let mut out = Vec::new();
        dec.decode(&outs, item, g, f, &mut out);
        out
    }
}

/// A 1280×720 frame letterboxed into 640×640: scale 0.5, 140 rows of padding on top.
fn letterboxed() -> Geometry {
    Geometry { frame_width: 1280, frame_height: 720, scale_x: 0.5, scale_y: 0.5, pad_x: 0.0, pad_y: 140.0 }
}

#[test]
fn yolo_converts_centre_size_through_the_letterbox_and_takes_the_argmax() {
    let mut t = YoloOut::new(1, 8400);
    t.plant(0, 17, [320.0, 320.0, 100.0, 50.0], &[("car", 0.8), ("truck", 0.6), ("person", 0.1)]);
    t.plant(0, 8000, [100.0, 200.0, 40.0, 80.0], &[("person", 0.55), ("car", 0.5)]);
    let d = t.decode(0, &letterboxed(), &filter(0.3, &["person", "car", "truck"]));
    assert_eq!(d.len(), 2);
    assert_eq!((d[0].class, d[0].confidence), (class("car"), 0.8));
    // Input (270, 295, 370, 345) → frame ((x − 0) / 0.5, (y − 140) / 0.5).
    assert_box(&d[0].bbox, [540.0, 310.0, 740.0, 410.0]);
    assert_eq!((d[1].class, d[1].confidence), (class("person"), 0.55));
    // Input (80, 160, 120, 240).
    assert_box(&d[1].bbox, [160.0, 40.0, 240.0, 200.0]);
}

#[test]
fn yolo_applies_thresholds_and_drops_boxes_in_the_padding() {
    let mut t = YoloOut::new(2, 100);
    let b = [320.0, 320.0, 60.0, 60.0];
    t.plant(1, 0, b, &[("car", 0.29)]); // below threshold
    t.plant(1, 1, b, &[("car", 0.3)]); // exactly at it: kept
    t.plant(1, 2, b, &[("train", 0.9), ("bus", 0.5)]); // best class dropped: not relabelled
    t.plant(1, 3, b, &[("bus", 0.6)]); // below the bus threshold
    t.plant(1, 4, [320.0, 60.0, 100.0, 100.0], &[("car", 0.9)]); // wholly in the top padding
    t.plant(1, 5, [320.0, 150.0, 100.0, 40.0], &[("car", 0.95)]); // straddles it: clipped
    let mut c = ModelConfig { confidence: 0.3, classes: vec!["car".into(), "bus".into()], ..Default::default() };
    c.class_confidence.insert("bus".into(), 0.65);
    let f = ClassFilter::from_config(&c);
    let d = t.decode(1, &letterboxed(), &f);
    let got: Vec<(&str, f32)> = d.iter().map(|d| (d.class.name(), d.confidence)).collect();
    assert_eq!(got, [("car", 0.3), ("car", 0.95)]);
    assert_box(&d[1].bbox, [540.0, 0.0, 740.0, 60.0]);
    assert!(t.decode(0, &letterboxed(), &f).is_empty());
}

#[test]
fn yolo_rejects_wrong_shapes() {
    let dec = YoloDecoder::new();
    let data = vec![0.0; 85 * 10];
    let err = dec.check_outputs(&[TensorView::new(&[1, 85, 10], &data)]).unwrap_err();
    assert!(err.contains("output0"), "{err}");
    assert!(dec.check_outputs(&[]).is_err());
}

#[test]
fn decoder_for_picks_the_family_layout() {
    use itscam_types::config::ModelFamily;
    assert_eq!(decoder_for(ModelFamily::Centernet).output_names(), ["tower_0/keypoints:0", "tower_0/wh:0"]);
    assert_eq!(decoder_for(ModelFamily::Yolo).output_names(), ["output0"]);
}

/// Times both decoders on realistic outputs: low background noise everywhere, a few dozen
/// objects. Prints per-image times (`--nocapture`); asserts only the outcome, since debug
/// builds on a loaded machine say little about release speed.
#[test]
fn decode_timing() {
    let mut rng = SmallRng::seed_from_u64(1);
    let mut t = CenterNetOut::new(1);
    for v in t.hm.iter_mut() {
        *v = rng.random_range(0.0..0.05);
    }
    for i in 0..30 {
        let (x, y) = (4 * i + 2, 3 * i + 10);
        t.set(0, x, y, ObjectClass([0, 1, 2, 3, 5, 7][i % 6]), 0.5 + 0.01 * i as f32);
        t.set_wh(0, x, y, [10.0, 20.0, 10.0, 20.0]);
    }
    let time = |f: &dyn Fn() -> usize| {
        let runs = 20;
        let start = std::time::Instant::now();
        let mut n = 0;
        for _ in 0..runs {
            n = f();
        }
        (start.elapsed().as_secs_f64() * 1e3 / runs as f64, n)
    };
    let dec = CenterNetDecoder::new();
    let road = ClassFilter::from_config(&ModelConfig::default());
    let all = filter(0.3, &[]);
    let (ms_road, n) = time(&|| t.decode(&dec, 0, &stretched(), &road).len());
    assert_eq!(n, 30);
    let (ms_all, n) = time(&|| t.decode(&dec, 0, &stretched(), &all).len());
    assert_eq!(n, 30);

    let mut y = YoloOut::new(1, 8400);
    for v in y.data.iter_mut() {
        *v = rng.random_range(0.0..0.05);
    }
    for a in 0..30 {
        y.plant(0, a * 250, [100.0 + 10.0 * a as f32, 300.0, 40.0, 40.0], &[("car", 0.7)]);
    }
    let (ms_yolo, n) = time(&|| y.decode(0, &letterboxed(), &road).len());
    assert_eq!(n, 30);
    eprintln!("decode per image: centernet {ms_road:.3} ms (6 classes), {ms_all:.3} ms (80 classes); yolo 8400 anchors {ms_yolo:.3} ms");
}
