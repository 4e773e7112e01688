"""Rows per camera of a lake's committed `detections` files, as pyarrow and DuckDB read them.

Usage: python lake_clients.py FILES_JSON   (the output of `itscam lake files --json`)
Prints {"pyarrow": {camera: rows}, "duckdb": {camera: rows}}. Files laid out by date hold
`camera_id` as a column; files laid out by camera and date have it as a hive directory.
"""
import collections
import json
import sys
from urllib.parse import urlparse

import duckdb
import pyarrow.parquet as pq

entries = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
paths = [urlparse(e["url"]).path for e in entries if e["table"] == "detections"]
by_directory = [p for p in paths if "/camera_id=" in p]
by_column = [p for p in paths if "/camera_id=" not in p]

# pyarrow: the camera from the column, or from the hive directory.
arrow = collections.Counter()
for path in by_column:
    arrow.update(pq.read_table(path, columns=["camera_id"]).column("camera_id").to_pylist())
for path in by_directory:
    camera = next(seg.split("=", 1)[1] for seg in path.split("/") if seg.startswith("camera_id="))
    arrow[camera] += pq.read_metadata(path).num_rows

# DuckDB: hive partitioning over each layout (their partition keys differ).
con = duckdb.connect()
duck = collections.Counter()
for files in (by_column, by_directory):
    if files:
        sql = "SELECT camera_id, count(*) FROM read_parquet(?, hive_partitioning = true) GROUP BY 1"
        for camera, n in con.execute(sql, [files]).fetchall():
            duck[camera] += n

print(json.dumps({"pyarrow": dict(arrow), "duckdb": dict(duck)}))
