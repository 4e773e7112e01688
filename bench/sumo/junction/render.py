#!/usr/bin/env python3
"""Draws one frame of a projected run for a look: the junction geometry of junction.toml
(lanes grey, entry gates green, exit gates magenta, stop lines red, crosswalks yellow) and the
frame's noisy boxes by class, as a binary PPM (ffmpeg -i OUT.ppm OUT.png to convert).

usage: render.py RUN_DIR FRAME OUT.ppm          (Python ≥ 3.11: tomllib)
"""
import json, sys, tomllib
import geom

W, H = geom.W, geom.H
COLOURS = {"car": (0, 255, 255), "truck": (255, 160, 0), "bus": (255, 100, 0), "motorcycle": (0, 255, 120),
           "bicycle": (140, 255, 0), "person": (255, 255, 255)}


def line(img, a, b, c):
    k = int(max(abs(b[0] - a[0]), abs(b[1] - a[1]))) + 1
    for i in range(k + 1):
        x, y = int(a[0] + (b[0] - a[0]) * i / k), int(a[1] + (b[1] - a[1]) * i / k)
        if 0 <= x < W and 0 <= y < H:
            img[(y * W + x) * 3:(y * W + x) * 3 + 3] = bytes(c)


def poly(img, pts, c, closed=True):
    q = [geom.project(*p) for p in pts]
    for i in range(len(q) - (0 if closed else 1)):
        line(img, q[i], q[(i + 1) % len(q)], c)


def main():
    run, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    img = bytearray(b"\x30" * (W * H * 3))
    j = tomllib.load(open(f"{run}/junction.toml", "rb"))["camera"]
    for a in j["approach"]:
        for ln in a["lanes"] + a["exit_lanes"]:
            poly(img, ln["polygon"], (130, 130, 130))
        for key, c in (("entry", (0, 255, 0)), ("exit", (255, 0, 255)), ("stop_line", (255, 0, 0))):
            poly(img, a[key], c, closed=False)
    for w in j["crosswalk"]:
        poly(img, w["polygon"], (255, 255, 0))
    with open(f"{run}/detections.jsonl") as f:
        rec = next(json.loads(l) for i, l in enumerate(f) if i == n)
    for d in rec["detections"]:
        x1, y1, x2, y2 = d["bbox"]
        for a, b in (((x1, y1), (x2, y1)), ((x2, y1), (x2, y2)), ((x2, y2), (x1, y2)), ((x1, y2), (x1, y1))):
            line(img, a, b, COLOURS[d["class"]])
    open(out, "wb").write(f"P6 {W} {H} 255\n".encode() + img)
    print(f"frame {n}: {len(rec['detections'])} boxes")


if __name__ == "__main__":
    main()
