#!/usr/bin/env python3
"""Peer for bench/spine.sh: the same detections JSONL through supervision's ByteTrack.

Question: how many detections/s does the Python tracking stack sustain on the same input?
Timed: only the tracker calls (JSON parsing and array building happen before the clock starts),
which favours the peer. Prints one JSON line: {"detections": N, "seconds": S, "per_s": R}.
Run with: python3 bench/peer_supervision.py FILE.jsonl [--max-frames N]
"""
import argparse
import json
import time

import numpy as np
import supervision as sv

COCO = ["person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--max-frames", type=int, default=0)
    args = ap.parse_args()
    frames = []
    with open(args.path) as f:
        for line in f:
            if args.max_frames and len(frames) >= args.max_frames:
                break
            fr = json.loads(line)
            dets = fr["detections"]
            xyxy = np.array([d["bbox"] for d in dets], dtype=np.float32).reshape(-1, 4)
            conf = np.array([d["confidence"] for d in dets], dtype=np.float32)
            cls = np.array([COCO.index(d["class"]) if d["class"] in COCO else 0 for d in dets], dtype=int)
            frames.append((fr["camera_id"], sv.Detections(xyxy=xyxy, confidence=conf, class_id=cls)))
    trackers = {}
    n = sum(len(d) for _, d in frames)
    start = time.perf_counter()
    for cam, det in frames:
        t = trackers.get(cam)
        if t is None:
            t = trackers[cam] = sv.ByteTrack(frame_rate=30, minimum_consecutive_frames=3)
        t.update_with_detections(det)
    secs = time.perf_counter() - start
    print(json.dumps({"detections": n, "frames": len(frames), "seconds": secs, "per_s": n / secs}))


if __name__ == "__main__":
    main()
