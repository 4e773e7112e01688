//! A group's rows in a sliding window (`GROUP BY …, WINDOW d`): the rows younger than `d`
//! before the newest, and the aggregates over them. Count, sum and distinct tracks are kept
//! as rows come and go; min and max scan the window (a window holds a few thousand rows).

use super::ir::{Agg, AggFunc};
use std::collections::{HashMap, VecDeque};

/// One group's window.
#[derive(Debug, Default)]
pub struct WindowState {
    /// (ts, track, one value per aggregate).
    rows: VecDeque<(u64, u64, Vec<Option<f64>>)>,
    /// Rows per track in the window.
    tracks: HashMap<u64, u32>,
    /// Per aggregate: sum and count of its non-null values.
    sums: Vec<(f64, u64)>,
}

impl WindowState {
    /// Adds a row at `ts` (rows come in time order) and drops those `size_ms` or more older.
    pub fn push(&mut self, ts: u64, track: u64, values: Vec<Option<f64>>, size_ms: u64) {
        if self.sums.len() < values.len() {
            self.sums.resize(values.len(), (0.0, 0));
        }
        for (s, v) in self.sums.iter_mut().zip(&values) {
            if let Some(v) = v {
                s.0 += v;
                s.1 += 1;
            }
        }
        *self.tracks.entry(track).or_default() += 1;
        self.rows.push_back((ts, track, values));
        while let Some((old, _, _)) = self.rows.front() {
            if old + size_ms > ts {
                break;
            }
            let (_, t, vals) = self.rows.pop_front().expect("front");
            for (s, v) in self.sums.iter_mut().zip(&vals) {
                if let Some(v) = v {
                    s.0 -= v;
                    s.1 -= 1;
                }
            }
            if let Some(n) = self.tracks.get_mut(&t) {
                *n -= 1;
                if *n == 0 {
                    self.tracks.remove(&t);
                }
            }
        }
    }

    /// The aggregates over the window (NULL where no row has a value).
    pub fn aggregates(&self, aggs: &[Agg]) -> Vec<Option<f64>> {
        aggs.iter()
            .enumerate()
            .map(|(i, a)| {
                let (sum, n) = self.sums.get(i).copied().unwrap_or((0.0, 0));
                match (a.func, a.arg) {
                    (AggFunc::Count, None) => Some(self.rows.len() as f64),
                    (AggFunc::Count, Some(_)) => Some(n as f64),
                    (AggFunc::CountDistinct, _) => Some(self.tracks.len() as f64),
                    (AggFunc::Sum, _) => (n > 0).then_some(sum),
                    (AggFunc::Avg, _) => (n > 0).then(|| sum / n as f64),
                    (AggFunc::Min, _) => self.rows.iter().filter_map(|r| r.2[i]).reduce(f64::min),
                    (AggFunc::Max, _) => self.rows.iter().filter_map(|r| r.2[i]).reduce(f64::max),
                }
            })
            .collect()
    }

    /// Whether no row is left.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::ir::Column;

    #[test]
    fn rows_leave_the_window_as_it_slides() {
        let aggs = [
            Agg { func: AggFunc::Count, arg: None },
            Agg { func: AggFunc::CountDistinct, arg: Some(Column::TrackId) },
            Agg { func: AggFunc::Avg, arg: Some(Column::SpeedKmh) },
            Agg { func: AggFunc::Max, arg: Some(Column::SpeedKmh) },
        ];
        let mut w = WindowState::default();
        let v = |s: f64| vec![None, None, Some(s), Some(s)];
        w.push(0, 1, v(10.0), 1_000);
        w.push(500, 2, v(30.0), 1_000);
        w.push(900, 1, v(20.0), 1_000);
        assert_eq!(w.aggregates(&aggs), [Some(3.0), Some(2.0), Some(20.0), Some(30.0)]);
        // At 1500 the rows at 0 and 500 are 1000 ms old or more.
        w.push(1_500, 1, v(40.0), 1_000);
        assert_eq!(w.aggregates(&aggs), [Some(2.0), Some(1.0), Some(30.0), Some(40.0)]);
        w.push(5_000, 3, vec![None; 4], 1_000);
        assert_eq!(w.aggregates(&aggs), [Some(1.0), Some(1.0), None, None]);
    }
}
