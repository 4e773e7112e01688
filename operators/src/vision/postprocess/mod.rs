//! Model outputs → [`Detection`]s in frame pixels.
//!
//! A decoder reads one image's slice of the batch outputs, keeps what passes the
//! [`ClassFilter`], and maps boxes from model-input pixels back to the frame through the
//! [`Geometry`] the preprocessor recorded. Class-aware [`nms()`] runs afterwards, separately,
//! so decoders stay single-pass and allocation-light.

mod centernet;
mod filter;
mod nms;
mod yolo;

#[cfg(test)]
mod tests;

pub use centernet::CenterNetDecoder;
pub use filter::ClassFilter;
pub use nms::{nms, nms_cross_class};
pub use yolo::YoloDecoder;

use crate::vision::preprocess::Geometry;
use itscam_types::config::ModelFamily;
use itscam_types::{BBox, Detection};

/// A model output as ONNX Runtime returns it: row-major f32 with its shape.
#[derive(Clone, Copy, Debug)]
pub struct TensorView<'a> {
    /// Dimensions, outermost (the batch) first.
    pub shape: &'a [usize],
    /// `shape.iter().product()` values, row-major.
    pub data: &'a [f32],
}

impl<'a> TensorView<'a> {
    /// A view of `data` with `shape`.
    pub fn new(shape: &'a [usize], data: &'a [f32]) -> Self {
        TensorView { shape, data }
    }

    /// The `item`-th slice along the batch axis.
    ///
    /// # Panics
    /// When `item` is outside the batch or `data` is shorter than `shape` says; decoders call
    /// this only after [`OutputDecoder::check_outputs`]-style shape checks.
    pub fn item(&self, item: usize) -> &'a [f32] {
        let per_item: usize = self.shape.iter().skip(1).product();
        &self.data[item * per_item..(item + 1) * per_item]
    }

    /// Checks the shape against `expected` (`None`: any size) and the data length against the
    /// shape, so decoders can index without further bounds surprises.
    fn expect(&self, name: &str, expected: &[Option<usize>]) -> Result<(), String> {
        let fits = self.shape.len() == expected.len() && self.shape.iter().zip(expected).all(|(d, e)| e.is_none_or(|e| e == *d));
        if !fits {
            let want: Vec<String> = expected.iter().map(|e| e.map_or("?".into(), |e| e.to_string())).collect();
            return Err(format!("output {name}: shape {:?}, expected [{}]", self.shape, want.join(", ")));
        }
        let len: usize = self.shape.iter().product();
        if self.data.len() != len {
            return Err(format!("output {name}: {} values for shape {:?} ({len})", self.data.len(), self.shape));
        }
        Ok(())
    }
}

/// Turns one image's outputs into detections in frame pixels (before NMS).
pub trait OutputDecoder: Send + Sync + std::fmt::Debug {
    /// Output names the decoder needs, in the order `decode` receives them.
    fn output_names(&self) -> &[&'static str];

    /// Whether `outputs` (in [`output_names`](Self::output_names) order) have the shapes this
    /// decoder reads; the error names the output and both shapes. Cheap: call it per batch, or
    /// once on the first batch, so a wrong model is reported instead of panicking in `decode`.
    fn check_outputs(&self, outputs: &[TensorView<'_>]) -> Result<(), String>;

    /// Appends to `out` the detections of batch item `item` that pass `filter`, boxes mapped
    /// to frame pixels with `geometry` (boxes that end up empty are dropped). Not sorted, no NMS.
    ///
    /// # Panics
    /// When the outputs fail [`check_outputs`](Self::check_outputs) or `item` is outside the batch.
    fn decode(&self, outputs: &[TensorView<'_>], item: usize, geometry: &Geometry, filter: &ClassFilter, out: &mut Vec<Detection>);
}

/// The decoder for a model family, with its default settings.
pub fn decoder_for(family: ModelFamily) -> Box<dyn OutputDecoder> {
    match family {
        ModelFamily::Centernet => Box::new(CenterNetDecoder::new()),
        ModelFamily::Yolo => Box::new(YoloDecoder::new()),
    }
}

/// Maps a box in model-input pixels to frame pixels; `None` when it is empty there (wholly in
/// the letterbox padding or off the frame, degenerate, or not finite).
fn frame_box(geometry: &Geometry, x1: f32, y1: f32, x2: f32, y2: f32) -> Option<BBox> {
    let (fx1, fy1) = geometry.to_frame(x1, y1);
    let (fx2, fy2) = geometry.to_frame(x2, y2);
    // Written as a negated `>` so NaN (from a broken output) also counts as empty.
    if !(fx2 > fx1 && fy2 > fy1) {
        return None;
    }
    Some(BBox { x1: fx1, y1: fy1, x2: fx2, y2: fy2 })
}
