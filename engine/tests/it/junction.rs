//! The junction scenario through the CLI's report commands: the turning movement count CSV of
//! `itscam export turning-counts` and the `od_matrix` view agree with the tables they come from.

use crate::support::*;

const T0: u64 = 1_767_225_600_000;

#[test]
fn the_turning_count_report_and_the_od_matrix_add_up_to_the_movements() {
    let dir = scratch("junction-export");
    copy_dir(&repo_root().join("engine/tests/scenarios/junction-four-legs"), &dir);
    itscam_ok(&dir, &["run", "--config", "config.toml", "--no-progress"]);
    let from = T0.to_string();
    let to = (T0 + 180_000).to_string();
    let csv = itscam_ok(&dir, &["export", "turning-counts", "--camera", "cam-1", "--from", &from, "--to", &to, "--config", "config.toml"]);
    let lines: Vec<&str> = csv.lines().collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(&header[..8], ["bin_start", "bin_end", "class", "north left", "north through", "north right", "north u_turn", "north total"], "{csv}");
    assert_eq!(header[header.len() - 2..], ["crosswalk-north pedestrians", "intersection total"], "the config's approach order, then the crosswalks: {csv}");
    // Each bin's `all` row: its intersection total is every vehicle counted in the bin.
    let newest = "SELECT *, row_number() OVER (PARTITION BY bin_start_ms, site, approach, movement, class ORDER BY revision DESC) AS k FROM turning_counts";
    for (bin, start) in [(0u64, "2026-01-01T00:00:00Z"), (1, "2026-01-01T00:01:00Z")] {
        let want = query_int(&dir, &format!("SELECT coalesce(sum(count), 0) AS n FROM ({newest}) WHERE k = 1 AND site = 'approach' AND class <> 'person' AND bin_start_ms = {}", T0 + 60_000 * bin));
        let all = lines.iter().find(|l| l.starts_with(start) && l.split(',').nth(2) == Some("all")).unwrap_or_else(|| panic!("no all row for {start}: {csv}"));
        assert_eq!(all.rsplit(',').next().unwrap().parse::<i64>().unwrap(), want, "{all}");
    }
    let person = lines.iter().find(|l| l.split(',').nth(2) == Some("person")).expect("the pedestrian's row");
    assert_eq!(person.split(',').nth(header.len() - 2), Some("1"), "one pedestrian on the north crosswalk: {person}");
    // od_matrix: the movements that reached an exit, per entry × exit approach.
    let od = query_json(&dir, "SELECT entry_approach, exit_approach, sum(count) AS n FROM od_matrix GROUP BY 1, 2 ORDER BY 1, 2");
    let moved = query_json(
        &dir,
        "SELECT entry_approach, exit_approach, count(*) AS n FROM (SELECT *, row_number() OVER (PARTITION BY track_id ORDER BY revision DESC) AS k FROM movements) \
         WHERE k = 1 AND stop_line_ts_ms IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2",
    );
    assert_eq!(od, moved);
    assert!(od.iter().any(|r| r["entry_approach"] == "north" && r["exit_approach"] == "north"), "the U-turn: {od:?}");
    // Over HTTP (a viewer's aggregate): the same report, approaches sorted without a config.
    let sorted = itscam_ok(&dir, &["export", "turning-counts", "--camera", "cam-1", "--from", &from, "--to", &to]);
    let served = Served::start(&dir, &["--lake", "file://./lake", "--listen", "127.0.0.1:0"]);
    let (status, body) = http(&served.addr, "GET", &format!("/api/v1/cameras/cam-1/turning-counts?from={from}&to={to}"), "");
    assert_eq!((status, body.as_str()), (200, sorted.as_str()));
    let (status, _) = http(&served.addr, "GET", &format!("/api/v1/cameras/cam-1/turning-counts?from={to}&to={from}"), "");
    assert_eq!(status, 422, "a well-formed range that cannot be");
    for query in ["from=soon&to=1", "from=0"] {
        let (status, body) = http(&served.addr, "GET", &format!("/api/v1/cameras/cam-1/turning-counts?{query}"), "");
        assert_eq!((status, body.contains("\"bad_request\"")), (400, true), "{query}: {body}");
    }
    let (status, _) = served.terminate();
    assert!(status.success());
    // A camera with no junction rows gives a header and nothing else.
    let empty = itscam_ok(&dir, &["export", "turning-counts", "--camera", "cam-9", "--from", &from, "--to", &to]);
    assert_eq!(empty.lines().count(), 1, "{empty}");
    let bad = itscam(&dir, &["export", "turning-counts", "--camera", "cam-1", "--from", &to, "--to", &from]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("must be before"));
}
