//! Small bridges between timely streams and differential collections.

use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

/// Each record becomes an insertion at its own time: a collection that only grows.
pub fn inserts<'s, D, D2, F>(stream: Stream<'s, u64, Vec<D>>, name: &str, f: F) -> VecCollection<'s, u64, D2, isize>
where
    D: 'static,
    D2: Clone + 'static,
    F: FnMut(D) -> Option<D2> + 'static,
{
    updates(stream, name, false, f)
}

/// Each record is inserted at its time `t` and retracted at `t + 1`: a collection that holds
/// only what happens *now*. Joining it with a slowly changing collection (rules, signal
/// states) matches each event with the state at its time, and a change of that state later
/// never revisits past events — so its cost does not grow with history.
pub fn transient<'s, D, D2, F>(stream: Stream<'s, u64, Vec<D>>, name: &str, f: F) -> VecCollection<'s, u64, D2, isize>
where
    D: 'static,
    D2: Clone + 'static,
    F: FnMut(D) -> Option<D2> + 'static,
{
    updates(stream, name, true, f)
}

fn updates<'s, D, D2, F>(stream: Stream<'s, u64, Vec<D>>, name: &str, retract_next: bool, mut f: F) -> VecCollection<'s, u64, D2, isize>
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
                            if retract_next {
                                session.give((d2.clone(), t + 1, -1isize));
                            }
                            session.give((d2, t, 1isize));
                        }
                    }
                });
            }
        })
        .as_collection()
}
