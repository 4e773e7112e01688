//! The quality gate operator: frames exchanged by camera, measured by that camera's
//! [`QualityMeter`], and passed on when their score reaches `min_score`. Every frame gets a
//! `frame_quality` row, skipped or not.

use super::quality::QualityMeter;
use crate::camera_route;
use itscam_types::{QualityRow, VideoFrame};
use std::collections::HashMap;
use std::sync::Arc;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::generic::Operator;

/// Measures frames and skips poor ones.
pub trait QualityGate<'s> {
    /// Returns the frames that pass, and a quality row for every frame.
    fn quality_gate(self, min_score: f32, frozen_threshold: f32) -> (Stream<'s, u64, Vec<VideoFrame>>, Stream<'s, u64, Vec<QualityRow>>);
}

impl<'s> QualityGate<'s> for Stream<'s, u64, Vec<VideoFrame>> {
    fn quality_gate(self, min_score: f32, frozen_threshold: f32) -> (Stream<'s, u64, Vec<VideoFrame>>, Stream<'s, u64, Vec<QualityRow>>) {
        type Event = Result<VideoFrame, QualityRow>;
        let pact = Exchange::new(|f: &VideoFrame| camera_route(&f.camera_id));
        let stream = self.unary::<CapacityContainerBuilder<Vec<Event>>, _, _, _>(pact, "QualityGate", move |_, _| {
            let mut meters: HashMap<Arc<str>, QualityMeter> = HashMap::new();
            move |input, output| {
                input.for_each(|cap, data| {
                    let mut session = output.session(&cap);
                    for frame in data.drain(..) {
                        let meter = meters.entry(frame.camera_id.clone()).or_insert_with(|| QualityMeter::new(frozen_threshold));
                        let quality = meter.measure(&frame.rgb, frame.width, frame.height);
                        let skipped = quality.score < min_score;
                        let row = QualityRow { camera_id: frame.camera_id.to_string(), ts_ms: frame.ts_ms, frame: frame.frame, quality, skipped };
                        session.give(Err(row));
                        if !skipped {
                            session.give(Ok(frame));
                        }
                    }
                });
            }
        });
        stream.ok_err(|e| e)
    }
}
