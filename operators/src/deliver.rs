//! Hands a stream's data to a non-blocking callback (a channel into an off-worker sink).

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

/// Delivers batches of a stream to `f`, which must not block (e.g. an unbounded channel send).
pub trait Deliver<D> {
    /// Calls `f` with each batch of data as it arrives.
    fn deliver<F: FnMut(Vec<D>) + 'static>(self, name: &str, f: F);
}

impl<D: 'static> Deliver<D> for Stream<'_, u64, Vec<D>> {
    fn deliver<F: FnMut(Vec<D>) + 'static>(self, name: &str, mut f: F) {
        self.sink(Pipeline, name, move |(input, _frontier)| {
            input.for_each(|_cap, data| f(std::mem::take(data)));
        });
    }
}
