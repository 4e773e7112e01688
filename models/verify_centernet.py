#!/usr/bin/env python3
"""Check models/centernet-mbv3/centernet.onnx on real footage with ONNX Runtime (CPU).

Decodes frames of vtest.avi (768x576) with the `ffmpeg` CLI to rgb24, stretches each frame to
512x512 (bilinear, half-pixel centers), feeds NHWC RGB float32 0..255, and decodes the two heads:

  heat = tower_0/keypoints:0 [N,128,128,80]  (already sigmoid)
  wh   = tower_0/wh:0        [N,128,128,4]   (l, t, r, b distances in 512x512 input pixels)
  peaks: heat where heat == maxpool3x3(heat) (stride 1, SAME), top-100 over (y, x, class)
  box (512 px) = (4*x - l, 4*y - t, 4*x + r, 4*y + b); scaled to the frame by (W/512, H/512)

Prints, per frame, the detections with score > --threshold, then the latency at batch 1 and 4.

Needs: pip install onnxruntime==1.32.0 numpy; ffmpeg on PATH.
Usage: python models/verify_centernet.py [--video .assets/vtest.avi] [--frames 0,100,400]
"""

import argparse
import os
import subprocess
import time

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
INPUT = "tower_0/images:0"
OUTPUTS = ["tower_0/keypoints:0", "tower_0/wh:0"]
SIZE = 512
STRIDE = 4

COCO = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
]


def default_video():
    """The sample video: `.assets/vtest.avi` (scripts/setup.sh), else Debian's opencv-doc copy."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for p in (os.path.join(root, ".assets", "vtest.avi"),
              "/usr/share/doc/opencv-doc/examples/data/vtest.avi"):
        if os.path.exists(p):
            return p
    return os.path.join(root, ".assets", "vtest.avi")


def probe_size(video):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=width,height", "-of", "csv=p=0", video],
                         check=True, capture_output=True, text=True).stdout.strip()
    w, h = out.split(",")[:2]
    return int(w), int(h)


def read_frames(video, indices):
    """Returns {index: uint8 [H,W,3] RGB} for the requested frame indices (streams, stops early)."""
    w, h = probe_size(video)
    fsz = w * h * 3
    want = set(indices)
    got = {}
    proc = subprocess.Popen(["ffmpeg", "-v", "error", "-i", video, "-frames:v", str(max(want) + 1),
                             "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], stdout=subprocess.PIPE)
    try:
        for i in range(max(want) + 1):
            buf = proc.stdout.read(fsz)
            if len(buf) < fsz:
                raise SystemExit(f"{video}: only {i} frames")
            if i in want:
                got[i] = np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3)
    finally:
        proc.stdout.close()
        proc.wait()
    return got


def resize_bilinear(img, out_h, out_w):
    """uint8 [H,W,3] -> float32 [out_h,out_w,3], bilinear with half-pixel centers (no antialias)."""
    h, w, _ = img.shape
    src = img.astype(np.float32)

    def coords(n_out, n_in):
        c = (np.arange(n_out, dtype=np.float32) + 0.5) * (n_in / n_out) - 0.5
        c = np.clip(c, 0, n_in - 1)
        i0 = np.floor(c).astype(np.int64)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, (c - i0).astype(np.float32)

    y0, y1, fy = coords(out_h, h)
    x0, x1, fx = coords(out_w, w)
    top = src[y0][:, x0] * (1 - fx)[None, :, None] + src[y0][:, x1] * fx[None, :, None]
    bot = src[y1][:, x0] * (1 - fx)[None, :, None] + src[y1][:, x1] * fx[None, :, None]
    return top * (1 - fy)[:, None, None] + bot * fy[:, None, None]


def preprocess(frames):
    return np.stack([resize_bilinear(f, SIZE, SIZE) for f in frames]).astype(np.float32)


def maxpool3x3(heat):
    h, w, _ = heat.shape
    pad = np.pad(heat, ((1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    out = pad[0:h, 0:w].copy()
    for dy in range(3):
        for dx in range(3):
            np.maximum(out, pad[dy:dy + h, dx:dx + w], out=out)
    return out


def decode(heat, wh, frame_w, frame_h, k=100):
    """One image: heat [128,128,80], wh [128,128,4] -> list of (class, score, x1, y1, x2, y2)."""
    hh, ww, nc = heat.shape
    peaks = np.where(heat == maxpool3x3(heat), heat, 0.0).reshape(-1)
    idx = np.argsort(-peaks, kind="stable")[:k]
    sx, sy = frame_w / SIZE, frame_h / SIZE
    dets = []
    for i in idx:
        cls, cell = int(i % nc), int(i // nc)
        y, x = divmod(cell, ww)
        l, t, r, b = (float(v) for v in wh[y, x])
        dets.append((cls, float(peaks[i]),
                     (STRIDE * x - l) * sx, (STRIDE * y - t) * sy,
                     (STRIDE * x + r) * sx, (STRIDE * y + b) * sy))
    return dets


def bench(sess, x, iters):
    sess.run(OUTPUTS, {INPUT: x})  # warm-up
    sess.run(OUTPUTS, {INPUT: x})
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        sess.run(OUTPUTS, {INPUT: x})
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times)) / x.shape[0], 1000 * float(np.min(times)) / x.shape[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(HERE, "centernet-mbv3", "centernet.onnx"))
    ap.add_argument("--video", default=os.path.join(ROOT, ".assets", "vtest.avi"))
    ap.add_argument("--frames", default="0,100,400")
    ap.add_argument("--threshold", type=float, default=0.3)
    ap.add_argument("--iters", type=int, default=20, help="timed runs per batch size (0: skip)")
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0: ORT default)")
    args = ap.parse_args()

    so = ort.SessionOptions()
    if args.threads:
        so.intra_op_num_threads = args.threads
    sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
    indices = [int(s) for s in args.frames.split(",")]
    frames = read_frames(args.video, indices)
    fh, fw = frames[indices[0]].shape[:2]
    x = preprocess([frames[i] for i in indices])
    heat, wh = sess.run(OUTPUTS, {INPUT: x})

    print(f"model {os.path.relpath(args.model)}; onnxruntime {ort.__version__}; video {args.video} "
          f"({fw}x{fh}); threshold {args.threshold}")
    for n, fi in enumerate(indices):
        dets = [d for d in decode(heat[n], wh[n], fw, fh) if d[1] > args.threshold]
        counts = {}
        for d in dets:
            counts[COCO[d[0]]] = counts.get(COCO[d[0]], 0) + 1
        print(f"frame {fi}: {len(dets)} detections {counts}")
        for cls, score, x1, y1, x2, y2 in dets:
            print(f"  {COCO[cls]:<14} {score:.3f}  box [{x1:6.1f}, {y1:6.1f}, {x2:6.1f}, {y2:6.1f}]")

    if args.iters > 0:
        x1 = x[:1]
        x4 = np.concatenate([x, x])[:4]
        # the batched output must equal the per-image output
        h4, w4 = sess.run(OUTPUTS, {INPUT: x4})
        h1, w1 = sess.run(OUTPUTS, {INPUT: x4[3:4]})
        diff = max(float(np.abs(h4[3:4] - h1).max()), float(np.abs(w4[3:4] - w1).max()))
        print(f"batch-4 vs batch-1 max abs diff: {diff:.2e}")
        for name, xb in (("batch 1", x1), ("batch 4", x4)):
            med, best = bench(sess, xb, args.iters)
            print(f"{name}: {med:.1f} ms/frame median ({best:.1f} best) over {args.iters} runs, "
                  f"{os.cpu_count()} CPUs, intra-op threads {args.threads or 'default'}")


if __name__ == "__main__":
    main()
