//! YOLOv8 / YOLO11 exports: one `[N, 4 + classes, anchors]` output.

use super::{ClassFilter, OutputDecoder, TensorView, frame_box};
use crate::vision::preprocess::Geometry;
use itscam_types::{Detection, ObjectClass};

/// The single output of an Ultralytics export.
const OUTPUT: &str = "output0";
/// Outputs in the order `decode` reads them.
const OUTPUTS: [&str; 1] = [OUTPUT];

/// Decodes `[N, 4 + classes, anchors]`: rows `cx, cy, w, h` in input pixels, then one row of
/// (already sigmoid) scores per class, anchors along the last axis.
///
/// Each anchor takes its best class over *all* classes, then the filter applies, as in
/// Ultralytics' own post-processing: an anchor whose best class is dropped (a train, say) is
/// dropped, not relabelled as its runner-up kept class (a bus).
#[derive(Clone, Debug)]
pub struct YoloDecoder {
    /// Class rows after the 4 box rows.
    classes: usize,
}

impl Default for YoloDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl YoloDecoder {
    /// A COCO-80 export.
    pub fn new() -> Self {
        YoloDecoder { classes: 80 }
    }
}

impl OutputDecoder for YoloDecoder {
    fn output_names(&self) -> &[&'static str] {
        &OUTPUTS
    }

    fn check_outputs(&self, outputs: &[TensorView<'_>]) -> Result<(), String> {
        let [out] = outputs else {
            return Err(format!("YOLO needs 1 output ({OUTPUT}), got {}", outputs.len()));
        };
        out.expect(OUTPUT, &[None, Some(4 + self.classes), None])
    }

    fn decode(&self, outputs: &[TensorView<'_>], item: usize, geometry: &Geometry, filter: &ClassFilter, out: &mut Vec<Detection>) {
        if let Err(e) = self.check_outputs(outputs) {
            panic!("{e}");
        }
        let anchors = outputs[0].shape[2];
        let data = outputs[0].item(item);
        if anchors == 0 || filter.min_threshold() > 1.0 {
            return;
        }
        let row = |r: usize| &data[r * anchors..(r + 1) * anchors];

        // Argmax in memory order: class row by class row, each a contiguous sweep over the
        // anchors, instead of striding `anchors` floats per score. Two small per-call buffers.
        let mut best: Vec<f32> = row(4).to_vec();
        let mut best_class = vec![0u8; anchors];
        for k in 1..self.classes {
            for ((b, bc), &s) in best.iter_mut().zip(best_class.iter_mut()).zip(row(4 + k)) {
                if s > *b {
                    *b = s;
                    *bc = k as u8;
                }
            }
        }

        let (cx, cy, bw, bh) = (row(0), row(1), row(2), row(3));
        for (a, (&score, &class)) in best.iter().zip(&best_class).enumerate() {
            let class = ObjectClass(class);
            if !filter.keep(class, score) {
                continue;
            }
            let (hw, hh) = (bw[a] / 2.0, bh[a] / 2.0);
            if let Some(bbox) = frame_box(geometry, cx[a] - hw, cy[a] - hh, cx[a] + hw, cy[a] + hh) {
                out.push(Detection { class, confidence: score, bbox });
            }
        }
    }
}
