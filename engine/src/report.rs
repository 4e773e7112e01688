//! The turning movement count report traffic engineers exchange, from `turning_counts`: one
//! row per bin and class, one column per approach × movement (left, through, right, U-turn,
//! then the approach's total), pedestrians per crosswalk, and the intersection total. The
//! newest revision of each count is taken (a bin corrected by late data shows its corrected
//! count). Served by `itscam export turning-counts` and `GET /api/v1/cameras/{id}/turning-counts`.

use crate::sql::{QueryEngine, QueryError, Scope};
use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use std::collections::{BTreeMap, BTreeSet};

/// The movements in the order the columns show them.
const MOVEMENTS: [&str; 4] = ["left", "through", "right", "u_turn"];

/// (bin start, bin end, class) → (site, approach, movement) → count.
pub type Counts = BTreeMap<(u64, u64, String), BTreeMap<(String, String, String), u64>>;

/// The newest counts of `camera`'s bins that start in `[from, to)`, as `scope` may read them.
pub async fn turning_counts(engine: &QueryEngine, scope: &Scope, camera: &str, from: u64, to: u64) -> Result<Counts, QueryError> {
    let sql = format!(
        "SELECT bin_start_ms, bin_end_ms, site, approach, movement, class, count FROM (
           SELECT *, ROW_NUMBER() OVER (PARTITION BY bin_start_ms, site, approach, movement, class ORDER BY revision DESC) AS newest
           FROM turning_counts WHERE camera_id = '{}' AND bin_start_ms >= {from} AND bin_start_ms < {to}
         ) WHERE newest = 1",
        camera.replace('\'', "''")
    );
    let mut counts = Counts::new();
    engine
        .export_as(&sql, None, scope, |b| {
            let i = |c: usize| b.column(c).as_primitive::<Int64Type>().clone();
            let s = |c: usize| b.column(c).as_string::<i32>().clone();
            let (start, end, site, approach, movement, class, count) = (i(0), i(1), s(2), s(3), s(4), s(5), i(6));
            for r in 0..b.num_rows() {
                if count.is_null(r) {
                    continue;
                }
                let key = (start.value(r) as u64, end.value(r) as u64, class.value(r).to_string());
                let col = (site.value(r).to_string(), approach.value(r).to_string(), movement.value(r).to_string());
                *counts.entry(key).or_default().entry(col).or_default() += count.value(r) as u64;
            }
            Ok(())
        })
        .await?;
    Ok(counts)
}

/// The approaches and crosswalks found in `counts`, sorted (the column order when no config
/// gives one).
pub fn sites_of(counts: &Counts) -> (Vec<String>, Vec<String>) {
    let found = |site: &str| -> Vec<String> { counts.values().flat_map(|m| m.keys()).filter(|k| k.0 == site).map(|k| k.1.clone()).collect::<BTreeSet<_>>().into_iter().collect() };
    (found("approach"), found("crosswalk"))
}

/// The CSV text: a header, then per bin one row per class found and an `all` row (every class
/// but `person`).
pub fn render(counts: &Counts, approaches: &[String], crosswalks: &[String]) -> String {
    let mut out = String::from("bin_start,bin_end,class");
    for a in approaches {
        for m in MOVEMENTS {
            out.push_str(&format!(",{a} {m}"));
        }
        out.push_str(&format!(",{a} total"));
    }
    for w in crosswalks {
        out.push_str(&format!(",{w} pedestrians"));
    }
    out.push_str(",intersection total\n");
    let bins: BTreeSet<(u64, u64)> = counts.keys().map(|k| (k.0, k.1)).collect();
    for (start, end) in bins {
        let mut all: BTreeMap<(String, String, String), u64> = BTreeMap::new();
        let classes: Vec<&String> = counts.keys().filter(|k| (k.0, k.1) == (start, end)).map(|k| &k.2).collect();
        for class in classes {
            let cells = &counts[&(start, end, class.clone())];
            if class != "person" {
                for (k, v) in cells {
                    *all.entry(k.clone()).or_default() += v;
                }
            }
            out.push_str(&row(start, end, class, cells, approaches, crosswalks));
        }
        out.push_str(&row(start, end, "all", &all, approaches, crosswalks));
    }
    out
}

fn row(start: u64, end: u64, class: &str, cells: &BTreeMap<(String, String, String), u64>, approaches: &[String], crosswalks: &[String]) -> String {
    let get = |site: &str, a: &str, m: &str| cells.get(&(site.to_string(), a.to_string(), m.to_string())).copied().unwrap_or(0);
    let mut line = format!("{},{},{class}", iso(start), iso(end));
    let mut total = 0;
    for a in approaches {
        let mut approach_total = 0;
        for m in MOVEMENTS.iter().chain(["unknown"].iter()) {
            let n = get("approach", a, m);
            approach_total += n;
            if *m != "unknown" {
                line.push_str(&format!(",{n}"));
            }
        }
        total += approach_total;
        line.push_str(&format!(",{approach_total}"));
    }
    for w in crosswalks {
        let n: u64 = cells.iter().filter(|(k, _)| k.0 == "crosswalk" && k.1 == *w).map(|(_, v)| v).sum();
        line.push_str(&format!(",{n}"));
    }
    line.push_str(&format!(",{total}\n"));
    line
}

/// RFC 3339 in UTC.
fn iso(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64).map_or_else(|| ms.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bin_has_a_row_per_class_and_an_all_row_with_the_approach_totals() {
        let mut counts = Counts::new();
        let mut car = BTreeMap::new();
        car.insert(("approach".into(), "north".into(), "left".into()), 3);
        car.insert(("approach".into(), "north".into(), "unknown".into()), 1);
        car.insert(("approach".into(), "south".into(), "through".into()), 5);
        counts.insert((0, 900_000, "car".into()), car);
        let mut truck = BTreeMap::new();
        truck.insert(("approach".into(), "north".into(), "left".into()), 2);
        counts.insert((0, 900_000, "truck".into()), truck);
        let mut person = BTreeMap::new();
        person.insert(("crosswalk".into(), "cw-n".into(), "eastbound".into()), 4);
        person.insert(("crosswalk".into(), "cw-n".into(), "westbound".into()), 1);
        counts.insert((0, 900_000, "person".into()), person);
        let text = render(&counts, &["north".into(), "south".into()], &["cw-n".into()]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "bin_start,bin_end,class,north left,north through,north right,north u_turn,north total,south left,south through,south right,south u_turn,south total,cw-n pedestrians,intersection total");
        assert_eq!(lines[1], "1970-01-01T00:00:00Z,1970-01-01T00:15:00Z,car,3,0,0,0,4,0,5,0,0,5,0,9", "unknown counts in the approach's total only");
        assert_eq!(lines[2], "1970-01-01T00:00:00Z,1970-01-01T00:15:00Z,person,0,0,0,0,0,0,0,0,0,0,5,0");
        assert_eq!(lines[4], "1970-01-01T00:00:00Z,1970-01-01T00:15:00Z,all,5,0,0,0,6,0,5,0,0,5,0,11", "all = every class but person");
    }
}
