#!/usr/bin/env python3
"""Make models/centernet-mbv3-int8/centernet-int8.onnx: an int8-quantized copy of the float CenterNet.

Input:  models/centernet-mbv3/centernet.onnx (CenterNet MobileNetV3, COCO-80, float32; see its README)
Output: models/centernet-mbv3-int8/centernet-int8.onnx, same interface as the input:
  input  tower_0/images:0     float32 [N,512,512,3]  NHWC, RGB, 0..255 (whole frame stretched)
  output tower_0/keypoints:0  float32 [N,128,128,80] sigmoid class heatmaps
  output tower_0/wh:0         float32 [N,128,128,4]  box extents (l, t, r, b) in 512x512 px
  N dynamic. Only weights and internal activations are int8; the graph input and outputs stay float32.

Method (defaults, `--mode static`): ONNX Runtime's static post-training quantization in QDQ format
(onnxruntime.quantization.quantize_static):
  * calibration: 32 frames of vtest.avi (frames 160, 180, ..., 780; deliberately disjoint from the
    first 100 frames that models/compare_models.py evaluates on), decoded with the `ffmpeg` CLI and
    preprocessed exactly like inference (stretch to 512x512, bilinear half-pixel, RGB float 0..255);
    calibration method Percentile (ORT default 99.999%; `--calib minmax|entropy` to change);
  * weights int8 symmetric, per output channel; activations uint8 asymmetric; op types: Conv only
    (`--op-types all` also quantizes Mul/Add/Resize/Concat/...: worse agreement, see README);
  * 25 of the 89 Conv nodes stay float32 (found by trying, agreement with the float model on vtest):
      - all 15 depthwise convs of the MobileNetV3 backbone (`--float-depthwise backbone`; tf2onnx named
        them Conv__NNN) - int8 depthwise convs were the largest error source;
      - the regular convs of the first 3 backbone stages (Conv, expanded_conv, expanded_conv_1;
        `--float-stem 3`);
      - the head's squeeze-excite convs and the last two convs of each output head
        (centernet_cls_output / centernet_wh_output; `--float-nodes REGEX`).
    The other 64 convs (backbone pointwise expand/project, head reverse/upsample convs) are int8.
`--mode dynamic` runs quantize_dynamic instead (int8 weights, activations quantized on the fly;
Conv becomes ConvInteger); it is kept for comparison only (no detections left, ~10x slower).

The output is byte-identical from run to run with the environment below (sha256 in the README).
The script then checks with onnxruntime that the model loads, that input/output names, dtypes and
shapes are the original ones, runs batch 1 and batch 4 (and that batch 4 equals batch 1 per image),
and prints the size and sha256.

Environment (tested, Python 3.11.7):
  python3 -m venv /tmp/q-venv
  /tmp/q-venv/bin/pip install onnxruntime==1.32.0 onnx==1.23.2 numpy==2.4.6
  (pulls protobuf 7.36.2, flatbuffers 25.12.19, ml_dtypes 0.7.0); `ffmpeg`/`ffprobe` on PATH.
Usage:
  /tmp/q-venv/bin/python models/quantize_centernet.py [--video .assets/vtest.avi]
      [--out models/centernet-mbv3-int8/centernet-int8.onnx] [--mode static|dynamic]
      [--calib percentile|minmax|entropy] [--op-types Conv|all] [--float-depthwise backbone|all|none]
      [--float-stem N] [--float-nodes REGEX] [--per-tensor]
  /tmp/q-venv/bin/python models/compare_models.py      # accuracy/speed vs. the float model
"""

import argparse
import hashlib
import os
import re
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_dynamic, quantize_static)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from verify_centernet import INPUT, OUTPUTS, default_video, preprocess, read_frames  # noqa: E402

CALIB_FRAMES = [160 + 20 * i for i in range(32)]  # 160..780 (vtest has 795 frames)



class FrameReader(CalibrationDataReader):
    def __init__(self, video, indices):
        frames = read_frames(video, indices)
        self.data = [preprocess([frames[i]]) for i in indices]  # batch 1 each
        self.pos = 0

    def get_next(self):
        if self.pos >= len(self.data):
            return None
        self.pos += 1
        return {INPUT: self.data[self.pos - 1]}

    def rewind(self):
        self.pos = 0


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def float_convs(model, depthwise, stem, regex):
    """Names of the Conv nodes that stay float32 (see --float-depthwise, --float-stem, --float-nodes)."""
    stages = ["tower_0/MobilenetV3/Conv/"] + [
        f"tower_0/MobilenetV3/expanded_conv{'' if i == 0 else f'_{i}'}/" for i in range(stem - 1)]
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    names = []
    for n in convs:
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        in_head = n.name.startswith("tower_0/CenternetHead/")
        # (tf2onnx renamed the backbone's depthwise convs to "Conv__NNN"; --float-stem matches names,
        # so it covers the stem's regular convs; its depthwise convs follow --float-depthwise.)
        if ((group > 1 and (depthwise == "all" or (depthwise == "backbone" and not in_head)))
                or (stem and n.name.startswith(tuple(stages)) and not in_head)
                or (regex and re.search(regex, n.name))):
            names.append(n.name)
    return names


def io_signature(model):
    def sig(vi):
        t = vi.type.tensor_type
        dims = [d.dim_param if d.dim_param else d.dim_value for d in t.shape.dim]
        return vi.name, t.elem_type, dims
    return [sig(v) for v in model.graph.input], [sig(v) for v in model.graph.output]


def check(src, out, video):
    m_src, m_out = onnx.load(src), onnx.load(out)
    onnx.checker.check_model(m_out)
    assert io_signature(m_src) == io_signature(m_out), (io_signature(m_src), io_signature(m_out))
    ins, outs = io_signature(m_out)
    print(f"interface: inputs {ins}; outputs {outs} (elem_type 1 = float32)")
    sess = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    frames = read_frames(video, [0, 100, 400, 700])
    x4 = preprocess([frames[i] for i in (0, 100, 400, 700)])
    h1, w1 = sess.run(OUTPUTS, {INPUT: x4[2:3]})
    h4, w4 = sess.run(OUTPUTS, {INPUT: x4})
    assert h1.dtype == np.float32 and w1.dtype == np.float32
    assert h1.shape == (1, 128, 128, 80) and w1.shape == (1, 128, 128, 4), (h1.shape, w1.shape)
    assert h4.shape == (4, 128, 128, 80) and w4.shape == (4, 128, 128, 4), (h4.shape, w4.shape)
    d = max(float(np.abs(h4[2:3] - h1).max()), float(np.abs(w4[2:3] - w1).max()))
    print(f"batch 1 {h1.shape} {w1.shape} and batch 4 {h4.shape} {w4.shape} ran; "
          f"batch-4 vs batch-1 max abs diff {d:.2e}; heat range [{h4.min():.3f}, {h4.max():.3f}]")
    fsess = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
    fh, fw = fsess.run(OUTPUTS, {INPUT: x4})
    print(f"vs float32 on frames 0,100,400,700: keypoints max abs diff {np.abs(fh - h4).max():.4f} "
          f"(mean {np.abs(fh - h4).mean():.5f}), wh max abs diff {np.abs(fw - w4).max():.2f} px "
          f"(mean {np.abs(fw - w4).mean():.3f} px)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default=os.path.join(HERE, "centernet-mbv3", "centernet.onnx"))
    ap.add_argument("--out", default=os.path.join(HERE, "centernet-mbv3-int8", "centernet-int8.onnx"))
    ap.add_argument("--video", default=default_video())
    ap.add_argument("--mode", choices=["static", "dynamic"], default="static")
    ap.add_argument("--op-types", default="Conv",
                    help="comma-separated op types to quantize (static), or 'all' for ORT's default set")
    ap.add_argument("--calib", choices=["minmax", "percentile", "entropy"], default="percentile",
                    help="calibration method (ORT Percentile default: 99.999th percentile)")
    ap.add_argument("--float-depthwise", choices=["backbone", "all", "none"], default="backbone",
                    help="depthwise Conv nodes (group > 1) kept float32: the MobileNetV3 backbone's "
                         "(default), all, or none")
    ap.add_argument("--float-stem", type=int, default=3,
                    help="the first N backbone stages (Conv, expanded_conv, expanded_conv_1, ...) keep "
                         "all their Conv nodes float32 (default 3)")
    ap.add_argument("--float-nodes", default=r"CenternetHead/(conv1x1_se_|centernet_cls_output/|centernet_wh_output/)",
                    help="regex: Conv nodes whose name matches stay float32 (default: the head's SE "
                         "convs and the last two convs of each output head)")
    ap.add_argument("--per-tensor", action="store_true", help="per-tensor weights (default per-channel)")
    args = ap.parse_args()

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    src_model = onnx.load(args.src)
    exclude = float_convs(src_model, args.float_depthwise, args.float_stem, args.float_nodes)
    op_types = None if args.op_types == "all" else args.op_types.split(",")
    print(f"onnxruntime {ort.__version__}, onnx {onnx.__version__}, numpy {np.__version__}; "
          f"mode {args.mode}, op types {op_types or 'ORT default'}, "
          f"per-channel {not args.per_tensor}, {len(exclude)} Conv nodes kept float32: {exclude}")

    if args.mode == "static":
        method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                  "entropy": CalibrationMethod.Entropy}[args.calib]
        reader = FrameReader(args.video, CALIB_FRAMES)
        print(f"calibration: {len(CALIB_FRAMES)} frames of {args.video} "
              f"({CALIB_FRAMES[0]}..{CALIB_FRAMES[-1]} step 20), {args.calib}")
        # (ORT writes its augmented calibration model into a temporary directory of its own.)
        quantize_static(
            args.src, args.out, reader,
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=op_types,
            per_channel=not args.per_tensor,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=exclude,
            calibrate_method=method,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
    else:
        quantize_dynamic(args.src, args.out, op_types_to_quantize=op_types,
                         per_channel=not args.per_tensor, weight_type=QuantType.QInt8,
                         nodes_to_exclude=exclude)

    check(args.src, args.out, args.video)
    print(f"wrote {os.path.relpath(args.out, ROOT)} ({os.path.getsize(args.out)} bytes)")
    print(f"sha256 {sha256(args.out)}")


if __name__ == "__main__":
    main()
