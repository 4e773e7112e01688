//! CenterNet (MobileNetV3, COCO-80): class heatmaps plus per-cell box extents at stride 4.

use super::{ClassFilter, OutputDecoder, TensorView, frame_box};
use crate::vision::preprocess::Geometry;
use itscam_types::{Detection, ObjectClass};

/// Heatmap output: `[N, H/4, W/4, 80]` sigmoid class scores, NHWC.
const HEATMAP: &str = "tower_0/keypoints:0";
/// Box output: `[N, H/4, W/4, 4]` extents at each cell.
const WH: &str = "tower_0/wh:0";
/// Outputs in the order `decode` reads them.
const OUTPUTS: [&str; 2] = [HEATMAP, WH];

/// Decodes CenterNet heads: 3×3 max-pool peaks of the class heatmaps, the `top_k` best over all
/// classes, each box from the `wh` extents at its peak cell.
///
/// Follows the model's own in-graph decode (`max_pool == heat`, `top_k`, gather) with two
/// deliberate differences: the class filter applies *before* the top-k, so dropped classes
/// (traffic lights, cones seen as fire hydrants) do not take slots from kept ones; and on exact
/// ties two equal neighbouring cells yield one peak (the first in raster order), not two, so a
/// flat top does not spend two slots on one object.
#[derive(Clone, Debug)]
pub struct CenterNetDecoder {
    /// Peaks kept per image at most (the model's graph uses 100).
    top_k: usize,
    /// Input pixels per heatmap cell.
    stride: f32,
}

impl Default for CenterNetDecoder {
    fn default() -> Self {
        Self::new()
    }
}

/// A heatmap peak that passed its class threshold.
#[derive(Clone, Copy, Debug)]
struct Peak {
    score: f32,
    /// Cell index `y * W + x`.
    cell: usize,
    class: usize,
}

impl CenterNetDecoder {
    /// Top 100 peaks at stride 4, as the model was trained and exported.
    pub fn new() -> Self {
        CenterNetDecoder { top_k: 100, stride: 4.0 }
    }

    /// The same with at most `top_k` peaks per image.
    pub fn with_top_k(self, top_k: usize) -> Self {
        CenterNetDecoder { top_k, ..self }
    }
}

/// The box of a peak at heatmap cell (`x`, `y`) in model-input pixels, `[x1, y1, x2, y2]`.
///
/// `wh` holds the distances from the cell's top-left corner `(x·stride, y·stride)` (no
/// half-cell offset, no offset head) to the left, top, right and bottom edges, in input pixels.
/// Verified against the model's own in-graph decoder `tower_0/detections` (0.000 px difference
/// on vtest frames, see `models/centernet-mbv3/README.md`).
fn peak_box(x: usize, y: usize, stride: f32, wh: &[f32]) -> [f32; 4] {
    let (cx, cy) = (x as f32 * stride, y as f32 * stride);
    [cx - wh[0], cy - wh[1], cx + wh[2], cy + wh[3]]
}

/// One image's heatmap, `[H, W, C]`.
struct Heatmap<'a> {
    data: &'a [f32],
    h: usize,
    w: usize,
    c: usize,
}

impl Heatmap<'_> {
    /// Whether `s`, the score of class `k` at (`x`, `y`), is the maximum of its 3×3
    /// neighbourhood in channel `k` (cells outside the map do not count, as with SAME
    /// max-pooling). Ties go to the cell first in raster order: a neighbour before it must be
    /// strictly lower, one after it at most equal. NaN neighbours never suppress.
    #[inline]
    fn is_peak(&self, x: usize, y: usize, k: usize, s: f32) -> bool {
        for yy in y.saturating_sub(1)..=(y + 1).min(self.h - 1) {
            for xx in x.saturating_sub(1)..=(x + 1).min(self.w - 1) {
                let n = self.data[(yy * self.w + xx) * self.c + k];
                let before = (yy, xx) < (y, x);
                if n > s || (before && n == s) {
                    return false;
                }
            }
        }
        true
    }
}

impl OutputDecoder for CenterNetDecoder {
    fn output_names(&self) -> &[&'static str] {
        &OUTPUTS
    }

    fn check_outputs(&self, outputs: &[TensorView<'_>]) -> Result<(), String> {
        let [hm, wh] = outputs else {
            return Err(format!("CenterNet needs 2 outputs ({OUTPUTS:?}), got {}", outputs.len()));
        };
        hm.expect(HEATMAP, &[None, None, None, None])?;
        let (n, h, w) = (hm.shape[0], hm.shape[1], hm.shape[2]);
        if h == 0 || w == 0 || hm.shape[3] == 0 {
            return Err(format!("output {HEATMAP}: empty shape {:?}", hm.shape));
        }
        wh.expect(WH, &[Some(n), Some(h), Some(w), Some(4)])
    }

    fn decode(&self, outputs: &[TensorView<'_>], item: usize, geometry: &Geometry, filter: &ClassFilter, out: &mut Vec<Detection>) {
        if let Err(e) = self.check_outputs(outputs) {
            panic!("{e}");
        }
        let (hm_view, wh_view) = (&outputs[0], &outputs[1]);
        let (h, w, c) = (hm_view.shape[1], hm_view.shape[2], hm_view.shape[3]);
        let (hm, wh) = (Heatmap { data: hm_view.item(item), h, w, c }, wh_view.item(item));
        if self.top_k == 0 || filter.min_threshold() > 1.0 {
            // Sigmoid scores never exceed 1: nothing can pass.
            return;
        }
        let thresholds = filter.thresholds();
        // Channels beyond the model's class count cannot be read.
        let kept = filter.kept_indices();
        let kept = &kept[..kept.partition_point(|&k| k < c)];

        // One pass over the cells, reading only the kept classes' channels; almost every value
        // fails its threshold on the first comparison, and only survivors pay the 3×3 check.
        let mut peaks: Vec<Peak> = Vec::new();
        for (cell, scores) in hm.data.chunks_exact(c).enumerate() {
            for &k in kept {
                let s = scores[k];
                if s >= thresholds[k] && hm.is_peak(cell % w, cell / w, k, s) {
                    peaks.push(Peak { score: s, cell, class: k });
                }
            }
        }

        // Best first; equal scores in (cell, class) order, which the pass above produced, so
        // the selection is deterministic.
        let order = |a: &Peak, b: &Peak| b.score.total_cmp(&a.score).then(a.cell.cmp(&b.cell)).then(a.class.cmp(&b.class));
        if peaks.len() > self.top_k {
            peaks.select_nth_unstable_by(self.top_k - 1, order);
            peaks.truncate(self.top_k);
        }
        peaks.sort_unstable_by(order);

        out.reserve(peaks.len());
        for p in peaks {
            let [x1, y1, x2, y2] = peak_box(p.cell % w, p.cell / w, self.stride, &wh[p.cell * 4..p.cell * 4 + 4]);
            if let Some(bbox) = frame_box(geometry, x1, y1, x2, y2) {
                out.push(Detection { class: ObjectClass(p.class as u8), confidence: p.score, bbox });
            }
        }
    }
}
