//! Small bridges between timely streams and differential collections.

use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

/// Each record becomes an insertion at its own time: a collection that only grows.
pub fn inserts<'s, D, D2, F>(stream: Stream<'s, u64, Vec<D>>, name: &str, mut f: F) -> VecCollection<'s, u64, D2, isize>
where
    D: 'static,
    D2: Clone + 'static,
    F: FnMut(D) -> Option<D2> + 'static,
{
    stream
        .unary(Pipeline, name, move |_, _| {
            move |input, output| {
                input.for_each(|cap, data| {
                    let t = *cap.least().expect("time");
                    let mut session = output.session(&cap);
                    for d in data.drain(..) {
                        if let Some(d2) = f(d) {
                            session.give((d2, t, 1isize));
                        }
                    }
                });
            }
        })
        .as_collection()
}
