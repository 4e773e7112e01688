//! Hands a stream's data to a non-blocking callback (a channel into an off-worker sink).

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

/// Delivers batches of a stream to `f`, which must not block (e.g. an unbounded channel send).
pub trait Deliver<'s, D> {
    /// Calls `f` with each batch of data and its time as it arrives. Returns a stream that
    /// carries no data: its frontier passes a time once every batch before it was delivered
    /// (probe it to know what the sinks have).
    fn deliver<F: FnMut(u64, Vec<D>) + 'static>(self, name: &str, f: F) -> Stream<'s, u64, Vec<()>>;
}

impl<'s, D: 'static> Deliver<'s, D> for Stream<'s, u64, Vec<D>> {
    fn deliver<F: FnMut(u64, Vec<D>) + 'static>(self, name: &str, mut f: F) -> Stream<'s, u64, Vec<()>> {
        self.unary::<timely::container::CapacityContainerBuilder<Vec<()>>, _, _, _>(Pipeline, name, move |_cap, _info| {
            move |input, output| {
                input.for_each(|cap, data| f(*cap.least().expect("a batch has a time"), std::mem::take(data)));
                // Nothing goes out: the output exists for its frontier.
                let _ = output;
            }
        })
    }
}
