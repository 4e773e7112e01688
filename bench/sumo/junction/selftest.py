"""score.py --self-test: writes the truth CSVs as the engine's proposed junction tables
(schemas below, the same as README.md) into a lake with a commit log, for score.py to read.
"""
import collections, csv, json, os
import pyarrow as pa, pyarrow.parquet as pq

S, I, F, B = pa.string(), pa.int64(), pa.float64(), pa.bool_()
SCHEMAS = {
    "movements": [("track_id", I), ("class", S), ("entry_approach", S), ("exit_approach", S), ("entry_lane", S),
                  ("exit_lane", S), ("movement", S), ("entry_ts_ms", I), ("stop_line_ts_ms", I), ("exit_ts_ms", I),
                  ("travel_time_ms", I), ("stops", pa.int32()), ("control_delay_s", F), ("revision", I)],
    "turning_counts": [("bin_start_ms", I), ("bin_end_ms", I), ("site", S), ("approach", S), ("movement", S), ("class", S),
                       ("count", I), ("revision", I)],
    "queues": [("approach", S), ("lane_id", S), ("signal_id", S), ("cycle_start_ms", I), ("green_start_ms", I),
               ("cycle_end_ms", I), ("max_queue_m", F), ("max_queue_veh", I), ("cleared", B), ("revision", I)],
    "signal_performance": [("approach", S), ("signal_id", S), ("period", S), ("period_start_ms", I), ("period_end_ms", I),
                           ("vehicles", I), ("arrivals_on_green", I), ("arrivals_on_yellow", I), ("arrivals_on_red", I),
                           ("aog_share", F), ("split_failure", B), ("split_failures", I), ("mean_control_delay_s", F),
                           ("los", S), ("revision", I)],
}
CAMERA = "junction-cam"


def rows_of(truth, name):
    return list(csv.DictReader(open(os.path.join(truth, name))))


def cast(rows, table):
    cols = SCHEMAS[table]
    conv = {I: int, F: float, S: str, B: lambda v: v in (True, "1", "true"), pa.int32(): int}
    data = {c: [None if r.get(c) in (None, "") else conv[t](r[c]) for r in rows] for c, t in cols}
    return pa.table(data, schema=pa.schema([pa.field(c, t) for c, t in cols]))


def movements(truth):
    out = []
    for r in rows_of(truth, "movements.csv"):
        out.append({**r, "track_id": r["vehicle"][1:], "revision": 0})
    return out


def signal_performance(truth):
    bins = collections.defaultdict(dict)
    for name in ("arrivals_on_green.csv", "delay.csv", "los.csv"):
        for r in rows_of(truth, name):
            bins[(r["approach"], r["bin_start_ms"])].update(r)
    out = []
    for r in bins.values():
        out.append({**r, "signal_id": f"tl-{r['approach']}", "period": "bin", "period_start_ms": r["bin_start_ms"],
                    "period_end_ms": r["bin_end_ms"], "split_failures": 0, "revision": 0})
    return out


def write_lake(truth, lake):
    """One Parquet file per table under <table>/camera_id=…/date=…/ and a commit that lists them.
    turning_counts gets a stale revision 0 of every row (count + 1) that revision 1 corrects."""
    tc = rows_of(truth, "turning_counts.csv")
    tables = {"movements": movements(truth),
              "turning_counts": [{**r, "count": int(r["count"]) + 1, "revision": 0} for r in tc] + [{**r, "revision": 1} for r in tc],
              "queues": [{**r, "revision": 0} for r in rows_of(truth, "queues.csv")],
              "signal_performance": signal_performance(truth)}
    added = []
    for table, rows in tables.items():
        rel = f"{table}/camera_id={CAMERA}/date=2026-01-01/part-selftest-000000.parquet"
        os.makedirs(os.path.dirname(os.path.join(lake, rel)), exist_ok=True)
        pq.write_table(cast(rows, table), os.path.join(lake, rel))
        added.append({"table": table, "path": rel, "rows": len(rows), "bytes": os.path.getsize(os.path.join(lake, rel))})
    os.makedirs(os.path.join(lake, "_itscam", "commits"))
    for seq, files in enumerate(([], added)):
        json.dump({"seq": seq, "run_id": "selftest", "at_ms": 0, "added": files, "removed": []},
                  open(os.path.join(lake, "_itscam", "commits", f"{seq:020d}.json"), "w"))
    # An orphan file (uploaded, never committed) that a reader must not see.
    pq.write_table(cast([{**r, "count": 999, "revision": 9} for r in tc[:3]], "turning_counts"),
                   os.path.join(lake, "turning_counts", f"camera_id={CAMERA}", "date=2026-01-01", "part-orphan.parquet"))
