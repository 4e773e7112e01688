//! Rectangular assignment of tracks (rows) to detections (columns) on a cost matrix.
//!
//! Both solvers only ever return pairs with a finite `cost <= max_cost` (NaN and infinite costs
//! mark forbidden pairs). The optimal one minimises
//! `Σ cost(matched) + max_cost · (unmatched rows)`, i.e. it maximises `Σ (max_cost - cost)` over
//! matched pairs. This is ByteTrack's `lapjv(cost_limit = max_cost)` rule: a pair is taken only
//! when it pays off, so one strong match is never broken up to make two weak ones (a
//! "most pairs first" rule would, and swap identities in crowds). It is solved by clamping every
//! cost above `max_cost` (and NaN) to `max_cost`, running a full O(n³) Hungarian / shortest
//! augmenting path solver, and dropping the pairs whose real cost exceeds `max_cost`.
//!
//! **Small groups first.** Gated costs leave most pairs forbidden: in a frame of traffic a
//! track can take one detection or two, and the allowed pairs fall apart into small connected
//! groups (a track and its detection; two neighbours and their two detections). The objective
//! is a sum over the groups, so the optimum is each group's optimum: a group of at most 12
//! allowed pairs is solved by trying every matching of its pairs, and its best is taken when it
//! beats every other matching of the group by a clear margin (1e-9, far above the full solver's
//! rounding) — then it is the optimum the full solver finds too. Anything else — a larger
//! group, a near-tie, a pair at exactly the cap (taking it or not is a tie), no cost limit —
//! goes to the full solver for the whole matrix, so the answer is always the one it gives.

/// Reusable buffers for both solvers, so that per-frame association does not allocate.
#[derive(Debug, Default)]
pub struct Solver {
    clamped: Vec<f64>,
    u: Vec<f64>,
    v: Vec<f64>,
    minv: Vec<f64>,
    col_row: Vec<usize>,
    way: Vec<usize>,
    used: Vec<bool>,
    row_used: Vec<bool>,
    candidates: Vec<(f64, u32, u32)>,
    /// The forced-answer check (module docs): union-find parents of rows and columns, the
    /// allowed pairs, and (component root, pair index).
    parent: Vec<u32>,
    pairs: Vec<(u32, u32)>,
    grouped: Vec<(u32, u32)>,
}

/// Minimum-cost assignment (see the module docs for the exact objective). `cost` is row-major,
/// `rows x cols`. Returns `(row, col)` pairs sorted by row, each with `cost <= max_cost`.
pub fn optimal(cost: &[f64], rows: usize, cols: usize, max_cost: f64) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    Solver::default().optimal(cost, rows, cols, max_cost, &mut out);
    out
}

/// Greedy assignment: pairs with `cost <= max_cost` taken lowest cost first (ties by row, then
/// column). Returns `(row, col)` pairs sorted by row.
pub fn greedy(cost: &[f64], rows: usize, cols: usize, max_cost: f64) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    Solver::default().greedy(cost, rows, cols, max_cost, &mut out);
    out
}

/// Whether a pair may be matched at all.
fn allowed(cost: f64, max_cost: f64) -> bool {
    cost.is_finite() && cost <= max_cost
}

impl Solver {
    /// [`optimal`] into `out` (cleared first), reusing this solver's buffers.
    pub fn optimal(&mut self, cost: &[f64], rows: usize, cols: usize, max_cost: f64, out: &mut Vec<(usize, usize)>) {
        out.clear();
        assert_eq!(cost.len(), rows * cols, "cost matrix is rows x cols");
        if rows == 0 || cols == 0 {
            return;
        }
        if self.forced(cost, rows, cols, max_cost, out) {
            return;
        }
        self.full(cost, rows, cols, max_cost, out);
    }

    /// [`optimal`] by the full solver (module docs).
    fn full(&mut self, cost: &[f64], rows: usize, cols: usize, max_cost: f64, out: &mut Vec<(usize, usize)>) {
        out.clear();
        // The solver needs n <= m: transpose when there are more rows than columns.
        let transposed = rows > cols;
        let (n, m) = if transposed { (cols, rows) } else { (rows, cols) };
        // Clamp to a finite cap: max_cost, or (without a limit) a cost above the spread of every
        // matching's total, so that the most allowed pairs win, then the cheapest.
        let cap = if max_cost.is_finite() {
            max_cost
        } else {
            let top = cost.iter().filter(|c| c.is_finite()).fold(0.0f64, |a, c| a.max(c.abs()));
            (top + 1.0) * 2.0 * (n as f64 + 1.0)
        };
        self.clamped.clear();
        self.clamped.resize(n * m, cap);
        for r in 0..rows {
            for c in 0..cols {
                let x = cost[r * cols + c];
                let x = if allowed(x, max_cost) { x.min(cap) } else { cap };
                let (i, j) = if transposed { (c, r) } else { (r, c) };
                self.clamped[i * m + j] = x;
            }
        }
        self.hungarian(n, m);
        // col_row[j] (1-based) is the row given column j.
        for j in 1..=m {
            let i = self.col_row[j];
            if i == 0 {
                continue;
            }
            let (r, c) = if transposed { (j - 1, i - 1) } else { (i - 1, j - 1) };
            if allowed(cost[r * cols + c], max_cost) {
                out.push((r, c));
            }
        }
        out.sort_unstable();
    }

    /// The answer when every group of allowed pairs (a connected component of the bipartite
    /// graph) is small and has one best matching by a clear margin (module docs), into `out`
    /// (sorted by row); `false` (and `out` left empty) when the full solver must decide.
    fn forced(&mut self, cost: &[f64], rows: usize, cols: usize, max_cost: f64, out: &mut Vec<(usize, usize)>) -> bool {
        if !max_cost.is_finite() {
            return false;
        }
        // Union-find over rows (0..rows) and columns (rows..rows + cols).
        let parent = &mut self.parent;
        parent.clear();
        parent.extend(0..(rows + cols) as u32);
        fn find(parent: &mut [u32], mut x: u32) -> u32 {
            while parent[x as usize] != x {
                let up = parent[parent[x as usize] as usize];
                parent[x as usize] = up;
                x = up;
            }
            x
        }
        self.pairs.clear();
        for r in 0..rows {
            for (c, &x) in cost[r * cols..(r + 1) * cols].iter().enumerate() {
                if !allowed(x, max_cost) {
                    continue;
                }
                // At the cap, taking the pair or not is a tie.
                if x >= max_cost {
                    return false;
                }
                self.pairs.push((r as u32, c as u32));
                let (a, b) = (find(parent, r as u32), find(parent, (rows + c) as u32));
                if a != b {
                    parent[a.max(b) as usize] = a.min(b);
                }
            }
        }
        // Pairs grouped by component (their root), rows in order within each.
        for i in 0..self.pairs.len() {
            let r = self.pairs[i].0;
            let root = find(parent, r);
            self.grouped.push((root, i as u32));
        }
        self.grouped.sort_unstable();
        let mut ok = true;
        let mut start = 0;
        while start < self.grouped.len() {
            let root = self.grouped[start].0;
            let end = start + self.grouped[start..].iter().take_while(|g| g.0 == root).count();
            if !self.component(cost, cols, max_cost, start, end, out) {
                ok = false;
                break;
            }
            start = end;
        }
        self.grouped.clear();
        if !ok {
            out.clear();
            return false;
        }
        out.sort_unstable();
        true
    }

    /// The best matching of one component (`self.grouped[start..end]`, indices into
    /// `self.pairs`), by exhaustive search, appended to `out`; `false` when the component is too
    /// large for that or its best matching is not ahead of every other by a clear margin.
    fn component(&mut self, cost: &[f64], cols: usize, max_cost: f64, start: usize, end: usize, out: &mut Vec<(usize, usize)>) -> bool {
        /// Pairs, and distinct columns, of a component searched exhaustively.
        const MAX_PAIRS: usize = 12;
        const MAX_COLS: usize = 16;
        /// A best matching must beat every other by this much (costs are in [0, max_cost]; the
        /// full solver's rounding is many orders of magnitude below it).
        const MARGIN: f64 = 1e-9;
        let n = end - start;
        if n > MAX_PAIRS {
            return false;
        }
        // (row, column, gain) in row order, columns numbered within the component.
        let mut items = [(0u32, 0u32, 0u8, 0.0f64); MAX_PAIRS];
        let mut col_ids = [0u32; MAX_COLS];
        let mut ncols = 0;
        for (k, g) in self.grouped[start..end].iter().enumerate() {
            let (r, c) = self.pairs[g.1 as usize];
            let local = match col_ids[..ncols].iter().position(|&x| x == c) {
                Some(i) => i,
                None if ncols < MAX_COLS => {
                    col_ids[ncols] = c;
                    ncols += 1;
                    ncols - 1
                }
                None => return false,
            };
            items[k] = (r, c, local as u8, max_cost - cost[r as usize * cols + c as usize]);
        }
        let items = &items[..n];
        // Exhaustive search over matchings, row by row (items are sorted by row): the best total
        // gain, its pairs (a bit per item), and the best total of any other matching.
        struct Search<'a> {
            items: &'a [(u32, u32, u8, f64)],
            best: f64,
            best_set: u32,
            second: f64,
        }
        fn go(s: &mut Search, i: usize, cols_used: u32, set: u32, gain: f64) {
            // `i`: the first item of the next row to decide.
            if i == s.items.len() {
                if gain > s.best {
                    s.second = s.best;
                    s.best = gain;
                    s.best_set = set;
                } else if gain > s.second {
                    s.second = gain;
                }
                return;
            }
            let row = s.items[i].0;
            let next = i + s.items[i..].iter().take_while(|it| it.0 == row).count();
            // The row unmatched.
            go(s, next, cols_used, set, gain);
            for k in i..next {
                let (_, _, local, g) = s.items[k];
                if cols_used & (1 << local) == 0 {
                    go(s, next, cols_used | (1 << local), set | (1 << k), gain + g);
                }
            }
        }
        let mut search = Search { items, best: f64::NEG_INFINITY, best_set: 0, second: f64::NEG_INFINITY };
        go(&mut search, 0, 0, 0, 0.0);
        if !(search.best - search.second > MARGIN) {
            return false;
        }
        for (k, it) in items.iter().enumerate() {
            if search.best_set & (1 << k) != 0 {
                out.push((it.0 as usize, it.1 as usize));
            }
        }
        true
    }

    /// Shortest augmenting path with potentials (the e-maxx formulation of Hungarian / JV) on
    /// `self.clamped`, `n x m`, `n <= m`, all finite. Leaves the result in `self.col_row`.
    fn hungarian(&mut self, n: usize, m: usize) {
        let a = &self.clamped;
        let (u, v, p, way, minv, used) =
            (&mut self.u, &mut self.v, &mut self.col_row, &mut self.way, &mut self.minv, &mut self.used);
        for buf in [&mut *u, &mut *v] {
            buf.clear();
            buf.resize(m + 1, 0.0);
        }
        for buf in [&mut *p, &mut *way] {
            buf.clear();
            buf.resize(m + 1, 0);
        }
        for i in 1..=n {
            p[0] = i;
            let mut j0 = 0;
            minv.clear();
            minv.resize(m + 1, f64::INFINITY);
            used.clear();
            used.resize(m + 1, false);
            loop {
                used[j0] = true;
                let i0 = p[j0];
                let row = &a[(i0 - 1) * m..i0 * m];
                let mut delta = f64::INFINITY;
                let mut j1 = 0;
                for j in 1..=m {
                    if !used[j] {
                        let cur = row[j - 1] - u[i0] - v[j];
                        if cur < minv[j] {
                            minv[j] = cur;
                            way[j] = j0;
                        }
                        if minv[j] < delta {
                            delta = minv[j];
                            j1 = j;
                        }
                    }
                }
                debug_assert!(j1 != 0, "finite costs always leave a free column");
                for j in 0..=m {
                    if used[j] {
                        u[p[j]] += delta;
                        v[j] -= delta;
                    } else {
                        minv[j] -= delta;
                    }
                }
                j0 = j1;
                if p[j0] == 0 {
                    break;
                }
            }
            // Flip the augmenting path.
            loop {
                let j1 = way[j0];
                p[j0] = p[j1];
                j0 = j1;
                if j0 == 0 {
                    break;
                }
            }
        }
    }

    /// [`greedy`] into `out` (cleared first), reusing this solver's buffers.
    pub fn greedy(&mut self, cost: &[f64], rows: usize, cols: usize, max_cost: f64, out: &mut Vec<(usize, usize)>) {
        out.clear();
        assert_eq!(cost.len(), rows * cols, "cost matrix is rows x cols");
        self.candidates.clear();
        for r in 0..rows {
            for c in 0..cols {
                let x = cost[r * cols + c];
                if allowed(x, max_cost) {
                    self.candidates.push((x, r as u32, c as u32));
                }
            }
        }
        self.candidates.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        self.row_used.clear();
        self.row_used.resize(rows, false);
        self.used.clear();
        self.used.resize(cols, false);
        for &(_, r, c) in &self.candidates {
            let (r, c) = (r as usize, c as usize);
            if !self.row_used[r] && !self.used[c] {
                self.row_used[r] = true;
                self.used[c] = true;
                out.push((r, c));
            }
        }
        out.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// The objective both sides must agree on: Σ (cost - max_cost) over pairs (lower is better).
    fn objective(cost: &[f64], cols: usize, max_cost: f64, pairs: &[(usize, usize)]) -> f64 {
        pairs.iter().map(|&(r, c)| cost[r * cols + c] - max_cost).sum()
    }

    fn check_valid(cost: &[f64], rows: usize, cols: usize, max_cost: f64, pairs: &[(usize, usize)]) {
        let mut rs = vec![false; rows];
        let mut cs = vec![false; cols];
        for &(r, c) in pairs {
            assert!(r < rows && c < cols);
            assert!(!rs[r] && !cs[c], "row or column used twice: {pairs:?}");
            rs[r] = true;
            cs[c] = true;
            assert!(cost[r * cols + c] <= max_cost, "pair above max_cost");
        }
    }

    /// Best objective over every partial matching of allowed pairs.
    fn brute(cost: &[f64], rows: usize, cols: usize, max_cost: f64, row: usize, used: &mut [bool]) -> f64 {
        if row == rows {
            return 0.0;
        }
        let mut best = brute(cost, rows, cols, max_cost, row + 1, used);
        for c in 0..cols {
            let x = cost[row * cols + c];
            if !used[c] && x <= max_cost {
                used[c] = true;
                best = best.min(x - max_cost + brute(cost, rows, cols, max_cost, row + 1, used));
                used[c] = false;
            }
        }
        best
    }

    #[test]
    fn square_known_answer() {
        let cost = [4.0, 1.0, 3.0, 2.0, 0.0, 5.0, 3.0, 2.0, 2.0];
        assert_eq!(optimal(&cost, 3, 3, 10.0), vec![(0, 1), (1, 0), (2, 2)]);
    }

    #[test]
    fn rectangular_both_ways() {
        // 2 rows, 3 columns.
        let cost = [0.9, 0.1, 0.5, 0.2, 0.15, 0.9];
        assert_eq!(optimal(&cost, 2, 3, 1.0), vec![(0, 1), (1, 0)]);
        // Its transpose: 3 rows, 2 columns.
        let t = [0.9, 0.2, 0.1, 0.15, 0.5, 0.9];
        assert_eq!(optimal(&t, 3, 2, 1.0), vec![(0, 1), (1, 0)]);
        assert!(optimal(&[], 0, 4, 1.0).is_empty());
        assert!(optimal(&[], 3, 0, 1.0).is_empty());
    }

    #[test]
    fn drops_pairs_above_max_cost() {
        let cost = [0.1, 0.95, 0.95, 0.97];
        assert_eq!(optimal(&cost, 2, 2, 0.8), vec![(0, 0)]);
        assert_eq!(greedy(&cost, 2, 2, 0.8), vec![(0, 0)]);
        let none = [f64::INFINITY, f64::NAN, 0.9, 2.0];
        assert!(optimal(&none, 2, 2, 0.8).is_empty());
        assert!(greedy(&none, 2, 2, 0.8).is_empty());
    }

    #[test]
    fn keeps_a_strong_match_over_two_weak_ones() {
        // Row 0 fits column 0 very well and column 1 barely; row 1 barely fits column 0.
        let cost = [0.1, 0.75, 0.75, f64::INFINITY];
        assert_eq!(optimal(&cost, 2, 2, 0.8), vec![(0, 0)]);
    }

    #[test]
    fn greedy_is_not_optimal_but_valid() {
        let cost = [0.1, 0.2, 0.2, 0.9];
        assert_eq!(greedy(&cost, 2, 2, 1.0), vec![(0, 0), (1, 1)]);
        assert_eq!(optimal(&cost, 2, 2, 1.0), vec![(0, 1), (1, 0)]);
    }

    /// Gated matrices (most pairs forbidden, as in traffic): the answers of the small groups,
    /// where they are taken, are the full solver's.
    #[test]
    fn forced_answers_are_the_full_solvers() {
        let mut rng = SmallRng::seed_from_u64(12);
        let mut solver = Solver::default();
        let (mut out, mut full) = (Vec::new(), Vec::new());
        let mut forced = 0;
        for round in 0..20_000 {
            let rows = rng.random_range(0..=8);
            let cols = rng.random_range(0..=8);
            let max_cost = if round % 7 == 0 { f64::INFINITY } else { 1.0 };
            let density = rng.random_range(0.02..0.4);
            let cost: Vec<f64> = (0..rows * cols)
                .map(|_| match rng.random_range(0.0..1.0) {
                    p if p < density => match rng.random_range(0..20) {
                        0 => 0.5, // ties
                        1 => 1.0, // at the cap
                        2 => f64::NAN,
                        _ => rng.random_range(0.0..1.0),
                    },
                    _ => f64::INFINITY,
                })
                .collect();
            out.clear();
            let took = rows > 0 && cols > 0 && solver.forced(&cost, rows, cols, max_cost, &mut out);
            solver.full(&cost, rows, cols, max_cost, &mut full);
            if took {
                forced += 1;
                assert_eq!(out, full, "round {round}: {rows}x{cols} {cost:?}");
            } else {
                assert!(out.is_empty(), "round {round}: nothing left behind");
            }
            solver.optimal(&cost, rows, cols, max_cost, &mut out);
            assert_eq!(out, full, "round {round}");
        }
        assert!(forced > 5_000, "{forced} forced");
    }

    #[test]
    fn matches_brute_force_on_random_matrices() {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut solver = Solver::default();
        let mut out = Vec::new();
        for round in 0..3000 {
            let rows = rng.random_range(0..=5);
            let cols = rng.random_range(0..=5);
            let max_cost = if round % 5 == 0 { f64::INFINITY } else { rng.random_range(0.1..1.0) };
            let cost: Vec<f64> = (0..rows * cols)
                .map(|_| match rng.random_range(0..10) {
                    0 => f64::INFINITY,
                    1 => 0.5, // ties
                    _ => rng.random_range(0.0..1.2),
                })
                .collect();
            solver.optimal(&cost, rows, cols, max_cost, &mut out);
            check_valid(&cost, rows, cols, max_cost, &out);
            let fresh = optimal(&cost, rows, cols, max_cost);
            assert_eq!(out, fresh, "buffers reused across calls must not change the answer");
            let want = if max_cost.is_finite() {
                brute(&cost, rows, cols, max_cost, 0, &mut vec![false; cols])
            } else {
                // No limit: the most pairs, then the lowest total.
                let big = 1e6;
                let capped: Vec<f64> = cost.iter().map(|&c| if c.is_finite() { c } else { big }).collect();
                let best = brute(&capped, rows, cols, big, 0, &mut vec![false; cols]);
                let got: f64 = out.iter().map(|&(r, c)| capped[r * cols + c] - big).sum();
                assert!((got - best).abs() < 1e-6, "round {round}: {got} vs {best}");
                continue;
            };
            let got = objective(&cost, cols, max_cost, &out);
            assert!((got - want).abs() < 1e-9, "round {round}: {rows}x{cols} {cost:?} -> {out:?}: {got} vs {want}");

            solver.greedy(&cost, rows, cols, max_cost, &mut out);
            check_valid(&cost, rows, cols, max_cost, &out);
            // Greedy is maximal: no allowed pair is left with both ends free.
            for r in 0..rows {
                for c in 0..cols {
                    if cost[r * cols + c] <= max_cost {
                        assert!(out.iter().any(|&(a, b)| a == r || b == c), "greedy left ({r},{c}) open");
                    }
                }
            }
        }
    }
}
