//! Synthetic traffic: vehicles and pedestrians crossing a camera's view at constant speeds,
//! with box jitter, missed detections and false positives — seeded, so every run is the same.

use itscam_types::{BBox, Detection, Frame, ObjectClass};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// What to generate.
#[derive(Clone, Debug)]
pub struct SynthConfig {
    /// Cameras `cam-1` … `cam-N`.
    pub cameras: usize,
    /// Objects in view at any time (per camera, on average).
    pub objects: usize,
    /// Frames per second.
    pub fps: u32,
    /// Seconds of footage.
    pub seconds: u32,
    /// Capture time of the first frame.
    pub start_ms: u64,
    /// Box jitter (pixels, uniform ±).
    pub jitter_px: f32,
    /// Probability that an object is not detected in a frame.
    pub miss_rate: f64,
    /// Expected false positives per frame.
    pub false_positives: f64,
    /// Seed.
    pub seed: u64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            cameras: 1,
            objects: 20,
            fps: 30,
            seconds: 10,
            start_ms: 1_767_225_600_000,
            jitter_px: 2.0,
            miss_rate: 0.02,
            false_positives: 0.1,
            seed: 7,
        }
    }
}

const W: f32 = 1920.0;
const H: f32 = 1080.0;

#[derive(Clone, Debug)]
struct Mover {
    class: ObjectClass,
    x: f32,
    y: f32,
    vx: f32,
    w: f32,
    h: f32,
}

impl Mover {
    fn spawn(rng: &mut SmallRng, fps: u32, anywhere: bool) -> Mover {
        let lanes = [300.0f32, 420.0, 560.0, 720.0, 880.0];
        let lane = lanes[rng.random_range(0..lanes.len())];
        let pick = rng.random_range(0..10);
        let (name, w, h, speed_px_s) = match pick {
            0..=5 => ("car", 160.0, 90.0, 300.0),
            6 => ("truck", 260.0, 140.0, 220.0),
            7 => ("bus", 300.0, 150.0, 200.0),
            8 => ("motorcycle", 70.0, 60.0, 340.0),
            _ => ("person", 40.0, 110.0, 60.0),
        };
        let scale = 0.6 + lane / H; // nearer lanes (lower in the image) look bigger
        let (w, h) = (w * scale, h * scale);
        let leftwards = rng.random_bool(0.5);
        let v = speed_px_s * rng.random_range(0.8..1.2) / fps as f32;
        let x = if anywhere { rng.random_range(0.0..W - w) } else if leftwards { W } else { -w };
        Mover { class: ObjectClass::from_name(name).expect("COCO name"), x, y: lane - h, vx: if leftwards { -v } else { v }, w, h }
    }

    fn visible(&self) -> bool {
        self.x + self.w > 0.0 && self.x < W
    }
}

/// Generates every camera's frames, interleaved in time order (camera order within a time).
pub fn generate(config: &SynthConfig) -> Vec<Frame> {
    let mut rng = SmallRng::seed_from_u64(config.seed);
    let frames_per_camera = (config.fps * config.seconds) as u64;
    let mut movers: Vec<Vec<Mover>> = (0..config.cameras)
        .map(|_| (0..config.objects).map(|_| Mover::spawn(&mut rng, config.fps, true)).collect())
        .collect();
    let mut out = Vec::with_capacity(frames_per_camera as usize * config.cameras);
    for n in 0..frames_per_camera {
        let ts_ms = config.start_ms + n * 1000 / config.fps as u64;
        for (c, cam) in movers.iter_mut().enumerate() {
            let mut detections = Vec::with_capacity(cam.len() + 1);
            for m in cam.iter_mut() {
                m.x += m.vx;
                if !m.visible() {
                    *m = Mover::spawn(&mut rng, config.fps, false);
                }
                if rng.random_bool(config.miss_rate) {
                    continue;
                }
                let j = config.jitter_px;
                let mut jit = || if j > 0.0 { rng.random_range(-j..j) } else { 0.0 };
                let bbox = BBox {
                    x1: (m.x + jit()).max(0.0),
                    y1: (m.y + jit()).max(0.0),
                    x2: (m.x + m.w + jit()).min(W),
                    y2: (m.y + m.h + jit()).min(H),
                };
                if bbox.x2 - bbox.x1 < 2.0 {
                    continue;
                }
                let bbox = BBox { x1: round1(bbox.x1), y1: round1(bbox.y1), x2: round1(bbox.x2), y2: round1(bbox.y2) };
                let confidence = (rng.random_range(0.55f32..0.95) * 1000.0).round() / 1000.0;
                detections.push(Detection { class: m.class, confidence, bbox });
            }
            if rng.random_bool(config.false_positives.min(1.0)) {
                let x = rng.random_range(0.0..W - 80.0);
                let y = rng.random_range(0.0..H - 80.0);
                detections.push(Detection {
                    class: ObjectClass::from_name("car").expect("COCO name"),
                    confidence: (rng.random_range(0.3f32..0.7) * 1000.0).round() / 1000.0,
                    bbox: BBox { x1: round1(x), y1: round1(y), x2: round1(x + 80.0), y2: round1(y + 60.0) },
                });
            }
            out.push(Frame { camera_id: format!("cam-{}", c + 1), ts_ms, frame: n, width: W as u32, height: H as u32, detections, model_version: None });
        }
    }
    out
}

/// Rounds to 0.1 px, as a detector's output would be written.
fn round1(v: f32) -> f32 {
    (v * 10.0).round() / 10.0
}
