#!/usr/bin/env python3
"""Peer for bench/vision.sh: the same model in a plain Python loop.

Question: what frames/s does the usual Python stack reach on the same video and model —
ffmpeg decode (CLI pipe), OpenCV resize, onnxruntime (same version as the engine uses), and the
same CenterNet decode + class-aware NMS written in numpy — measured end to end, like the engine?
Prints one JSON line: {"frames": N, "seconds": S, "fps": R, "detections": D}.
Run with: python3 bench/peer_onnx_python.py VIDEO MODEL LIBDIR --frames 200 --batch 4
"""
import argparse
import json
import subprocess
import time

import cv2
import numpy as np
import onnxruntime as ort

ROAD = [0, 1, 2, 3, 5, 7]  # person bicycle car motorcycle bus truck


def decode(heat, wh, w, h, thr=0.25, top_k=100):
    # 3x3 max-pool peaks
    padded = np.pad(heat, ((1, 1), (1, 1), (0, 0)), constant_values=-1)
    m = np.max(np.stack([padded[dy:dy + 128, dx:dx + 128] for dy in range(3) for dx in range(3)]), axis=0)
    peaks = np.where(heat == m, heat, 0)[:, :, ROAD]
    flat = peaks.reshape(-1)
    k = min(top_k, flat.size)
    idx = np.argpartition(-flat, k - 1)[:k]
    idx = idx[flat[idx] > thr]
    cls = np.array(ROAD)[idx % len(ROAD)]
    cell = idx // len(ROAD)
    y, x = cell // 128, cell % 128
    l, t, r, b = wh[y, x, 0], wh[y, x, 1], wh[y, x, 2], wh[y, x, 3]
    sx, sy = w / 512.0, h / 512.0
    boxes = np.stack([(4 * x - l) * sx, (4 * y - t) * sy, (4 * x + r) * sx, (4 * y + b) * sy], axis=1)
    scores = flat[idx]
    return nms(boxes, scores, cls)


def nms(boxes, scores, cls, iou=0.5):
    order = np.argsort(-scores)
    keep = []
    for i in order:
        ok = True
        for j in keep:
            if cls[i] != cls[j]:
                continue
            xx1, yy1 = max(boxes[i, 0], boxes[j, 0]), max(boxes[i, 1], boxes[j, 1])
            xx2, yy2 = min(boxes[i, 2], boxes[j, 2]), min(boxes[i, 3], boxes[j, 3])
            inter = max(0.0, xx2 - xx1) * max(0.0, yy2 - yy1)
            a = (boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1])
            c = (boxes[j, 2] - boxes[j, 0]) * (boxes[j, 3] - boxes[j, 1])
            if inter / (a + c - inter + 1e-9) > iou:
                ok = False
                break
        if ok:
            keep.append(i)
    return len(keep)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("video")
    ap.add_argument("model")
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--batch", type=int, default=4)
    a = ap.parse_args()
    w, h = 768, 576
    sess = ort.InferenceSession(a.model, providers=["CPUExecutionProvider"])
    start = time.perf_counter()
    proc = subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", "-i", a.video, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], stdout=subprocess.PIPE)
    n, dets, batch = 0, 0, []
    size = w * h * 3

    def flush(batch):
        x = np.stack(batch).astype(np.float32)
        heat, wh = sess.run(["tower_0/keypoints:0", "tower_0/wh:0"], {"tower_0/images:0": x})
        return sum(decode(heat[i], wh[i], w, h) for i in range(len(batch)))

    while n < a.frames:
        buf = proc.stdout.read(size)
        if len(buf) < size:
            break
        img = np.frombuffer(buf, np.uint8).reshape(h, w, 3)
        batch.append(cv2.resize(img, (512, 512), interpolation=cv2.INTER_LINEAR))
        n += 1
        if len(batch) == a.batch:
            dets += flush(batch)
            batch = []
    if batch:
        dets += flush(batch)
    proc.kill()
    secs = time.perf_counter() - start
    print(json.dumps({"frames": n, "seconds": secs, "fps": n / secs, "detections": dets}))


if __name__ == "__main__":
    main()
