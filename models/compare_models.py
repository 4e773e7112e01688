#!/usr/bin/env python3
"""Compare the float CenterNet with the int8-quantized one on real footage (ONNX Runtime, CPU).

Models (defaults):
  float  models/centernet-mbv3/centernet.onnx
  int8   models/centernet-mbv3-int8/centernet-int8.onnx   (made by models/quantize_centernet.py)

For the first --frames frames (default 100) of vtest.avi (768x576), each whole frame is stretched to
512x512 (bilinear, half-pixel centers), fed as NHWC RGB float32 0..255 at batch 1, and the two heads
are decoded exactly like models/verify_centernet.py (3x3 max-pool peaks, top-100 over (y, x, class),
boxes from wh, score > --threshold, default 0.3; no NMS).

Printed (markdown):
  * speed: frames/s of session.run alone (preprocessing and decoding excluded), batch 1, with
    intra_op_num_threads=1 and with ORT's default thread count; median ms/frame as well;
  * per COCO class: detections per frame and mean confidence for each model, and agreement of the
    int8 model with the float model;
  * overall agreement, mean |score difference| and mean IoU of matched pairs.

Agreement: in every frame and class, float detections (by descending score) are greedily matched to
the unmatched int8 detection of the same class with the highest IoU, if that IoU >= 0.5.
  agreement(class) = sum_frames matched / sum_frames max(n_float, n_int8)
  overall          = sum_frames,classes matched / sum_frames,classes max(n_float, n_int8)
so a missed detection and an extra detection both lower it; 100% means the same boxes in every frame.

Needs: pip install onnxruntime==1.32.0 numpy; the `ffmpeg`/`ffprobe` CLI on PATH.
Usage:
  python models/compare_models.py [--video .assets/vtest.avi] [--frames 100] [--threshold 0.3]
      [--float PATH] [--int8 PATH] [--skip-speed]
"""

import argparse
import os
import sys
import time

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from verify_centernet import COCO, INPUT, OUTPUTS, decode, default_video, preprocess, read_frames  # noqa: E402

# always listed (traffic-relevant), even with zero detections
ALWAYS = ["person", "bicycle", "car", "motorcycle", "bus", "truck"]



def session(path, threads):
    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def run_model(path, xs, fw, fh, threshold, threads=0, keep=True):
    """Runs every frame at batch 1. Returns (per-frame detections or None, per-frame seconds)."""
    sess = session(path, threads)
    sess.run(OUTPUTS, {INPUT: xs[0:1]})  # warm-up
    sess.run(OUTPUTS, {INPUT: xs[0:1]})
    dets, times = [], []
    for i in range(len(xs)):
        t0 = time.perf_counter()
        heat, wh = sess.run(OUTPUTS, {INPUT: xs[i:i + 1]})
        times.append(time.perf_counter() - t0)
        if keep:
            dets.append([d for d in decode(heat[0], wh[0], fw, fh) if d[1] > threshold])
    return (dets if keep else None), times


def iou(a, b):
    ix = max(0.0, min(a[4], b[4]) - max(a[2], b[2]))
    iy = max(0.0, min(a[5], b[5]) - max(a[3], b[3]))
    inter = ix * iy
    ua = (a[4] - a[2]) * (a[5] - a[3]) + (b[4] - b[2]) * (b[5] - b[3]) - inter
    return inter / ua if ua > 0 else 0.0


def match(fd, qd, thr=0.5):
    """Greedy same-class matching. Returns list of (float_det, int8_det, iou)."""
    used = set()
    pairs = []
    for a in sorted(fd, key=lambda d: -d[1]):
        best, bi = thr, None
        for j, b in enumerate(qd):
            if j in used or b[0] != a[0]:
                continue
            v = iou(a, b)
            if v >= best:
                best, bi = v, j
        if bi is not None:
            used.add(bi)
            pairs.append((a, qd[bi], best))
    return pairs


def pct(a, b):
    return f"{100.0 * a / b:.1f}%" if b else "n/a"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--float", dest="fp", default=os.path.join(HERE, "centernet-mbv3", "centernet.onnx"))
    ap.add_argument("--int8", dest="q", default=os.path.join(HERE, "centernet-mbv3-int8", "centernet-int8.onnx"))
    ap.add_argument("--video", default=default_video())
    ap.add_argument("--frames", type=int, default=100, help="first N frames")
    ap.add_argument("--threshold", type=float, default=0.3)
    ap.add_argument("--skip-speed", action="store_true", help="no single-thread timing pass")
    args = ap.parse_args()

    n = args.frames
    frames = read_frames(args.video, list(range(n)))
    fh, fw = frames[0].shape[:2]
    xs = preprocess([frames[i] for i in range(n)])
    del frames

    models = [("float32", args.fp), ("int8", args.q)]
    dets, speed = {}, {}
    for name, path in models:
        d, t_def = run_model(path, xs, fw, fh, args.threshold, threads=0)
        dets[name] = d
        speed[name] = {"default": t_def}
    if not args.skip_speed:
        for name, path in models:
            _, t1 = run_model(path, xs, fw, fh, args.threshold, threads=1, keep=False)
            speed[name]["1"] = t1

    print(f"video {args.video} ({fw}x{fh}), first {n} frames, threshold {args.threshold}; "
          f"onnxruntime {ort.__version__} CPUExecutionProvider, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} at the end")
    for name, path in models:
        print(f"- {name}: `{os.path.relpath(path, ROOT)}` ({os.path.getsize(path)} bytes)")
    print()

    print("| model | threads | frames/s | ms/frame median | ms/frame best |")
    print("|---|---|---|---|---|")
    for name, _ in models:
        for key, label in (("1", "1"), ("default", f"default ({os.cpu_count()})")):
            if key not in speed[name]:
                continue
            t = np.array(speed[name][key])
            print(f"| {name} | {label} | {len(t) / t.sum():.2f} | {1000 * np.median(t):.1f} | "
                  f"{1000 * t.min():.1f} |")
    print()

    # per-class statistics
    fd_all, qd_all = dets["float32"], dets["int8"]
    stats = {}  # cls -> [n_f, n_q, sum_conf_f, sum_conf_q, matched, denom]
    pairs_all = []
    for fd, qd in zip(fd_all, qd_all):
        classes = {d[0] for d in fd} | {d[0] for d in qd}
        pairs = match(fd, qd)
        pairs_all += pairs
        for c in classes:
            f_c = [d for d in fd if d[0] == c]
            q_c = [d for d in qd if d[0] == c]
            s = stats.setdefault(c, [0, 0, 0.0, 0.0, 0, 0])
            s[0] += len(f_c)
            s[1] += len(q_c)
            s[2] += sum(d[1] for d in f_c)
            s[3] += sum(d[1] for d in q_c)
            s[4] += sum(1 for p in pairs if p[0][0] == c)
            s[5] += max(len(f_c), len(q_c))
    for name in ALWAYS:
        stats.setdefault(COCO.index(name), [0, 0, 0.0, 0.0, 0, 0])
    order = sorted(stats, key=lambda c: (-(stats[c][0] + stats[c][1]), c))

    print("| class | float32 det/frame | int8 det/frame | float32 mean conf | int8 mean conf | agreement |")
    print("|---|---|---|---|---|---|")
    tot = [0, 0, 0.0, 0.0, 0, 0]
    for c in order:
        s = stats[c]
        tot = [a + b for a, b in zip(tot, s)]
        mf = f"{s[2] / s[0]:.3f}" if s[0] else "-"
        mq = f"{s[3] / s[1]:.3f}" if s[1] else "-"
        print(f"| {COCO[c]} | {s[0] / n:.2f} | {s[1] / n:.2f} | {mf} | {mq} | {pct(s[4], s[5])} "
              f"({s[4]}/{s[5]}) |")
    mf = f"{tot[2] / tot[0]:.3f}" if tot[0] else "-"
    mq = f"{tot[3] / tot[1]:.3f}" if tot[1] else "-"
    print(f"| **all** | {tot[0] / n:.2f} | {tot[1] / n:.2f} | {mf} | {mq} | **{pct(tot[4], tot[5])}** "
          f"({tot[4]}/{tot[5]}) |")
    print()
    if pairs_all:
        ds = np.array([p[1][1] - p[0][1] for p in pairs_all])
        ious = np.array([p[2] for p in pairs_all])
        print(f"matched pairs: {len(pairs_all)}; int8 - float32 score: mean {ds.mean():+.4f}, "
              f"mean |diff| {np.abs(ds).mean():.4f}, max |diff| {np.abs(ds).max():.4f}; "
              f"IoU mean {ious.mean():.3f}, min {ious.min():.3f}")


if __name__ == "__main__":
    main()
