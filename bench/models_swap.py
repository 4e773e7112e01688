#!/usr/bin/env python3
"""Hot swap under load and shadow cost (issue 19), driven from outside like an operator would.

Runs `itscam run --http` three times on CAMERAS copies of a clip, every camera following the
registry name `detector` (1.0.0 = the bundled CenterNet, 1.1.0 = its int8 quantization):

  base    no swap, no shadow
  swap    1.1.0 promoted to production over HTTP once a third of all frames are inferred
  shadow  no swap, [models] shadow_sample = 0.1 with 1.1.0 in staging

While each runs, /metrics is read every 20 ms: itscam_model_frames_total per (version, camera).
Reported: frames lost (decoded - inferred, from the lake), the longest wait between two
inferred frames of one camera in the 20 s around the swap (the same moment, by frames done, in
the base run), frames/s in that window and over the run, and the shadow run's frames/s.
Standard library only.
"""
import argparse, json, os, re, shutil, subprocess, sys, threading, time, urllib.request

SPIN = os.environ.get("SPIN_WAIT", "true")  # [model] spin_wait of every run
SERIES = re.compile(r'^itscam_model_frames_total\{model_version="([^"]+)",camera_id="([^"]+)"\} (\d+)')


def http(port, method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=body.encode() if body else None,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.read().decode()


def config(path, lake, clip, cameras, shadow):
    with open(path, "w") as f:
        f.write(f'[lake]\nurl = "file://{lake}"\n[pipeline]\nworkers = 1\n')
        f.write(f'[model]\nregistry = "detector"\nmax_batch = 4\nmax_wait_ms = 50\nconfidence = 0.25\nspin_wait = {SPIN}\n')
        f.write(f'[models]\nshadow_sample = {shadow}\nwindow_ms = 5000\n[quality]\nmin_score = 0.0\n')
        for c in range(cameras):
            f.write(f'[[camera]]\nid = "cam-{c + 1}"\nsource = "file:{clip}"\nstart_ms = 1767225600000\n')


def itscam(bin_, *args):
    out = subprocess.run([bin_, *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"itscam {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def prepare_lake(bin_, lake, stage_110):
    shutil.rmtree(lake, ignore_errors=True)
    for file, version in [("models/centernet-mbv3/centernet.onnx", "1.0.0"), ("models/centernet-mbv3-int8/centernet-int8.onnx", "1.1.0")]:
        itscam(bin_, "models", "--lake", f"file://{lake}", "register", file, "--name", "detector", "--version", version, "--frames", "8")
    itscam(bin_, "models", "--lake", f"file://{lake}", "promote", "detector@1.0.0", "production")
    if stage_110:
        itscam(bin_, "models", "--lake", f"file://{lake}", "promote", "detector@1.1.0", stage_110)


def run(bin_, work, name, clip, cameras, frames, port, shadow=0.0, swap=False):
    lake = os.path.join(work, f"lake-{name}")
    prepare_lake(bin_, lake, "staging" if shadow > 0 else None)
    cfg = os.path.join(work, f"{name}.toml")
    config(cfg, lake, clip, cameras, shadow)
    samples = []  # (t, {camera: frames})
    seen = {}  # (version, camera) -> frames
    proc = subprocess.Popen([bin_, "run", "--config", cfg, "--no-progress", "--http", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    swap_at = {"t": None, "adopted": None}
    threshold = cameras * frames // 3

    def poll():
        while proc.poll() is None:
            try:
                text = http(port, "GET", "/metrics")
            except OSError:
                time.sleep(0.02)
                continue
            # A retired version's series leave /metrics (bounded labels): keep the most seen of
            # each (version, camera) so that the counts stay cumulative.
            for line in text.splitlines():
                m = SERIES.match(line)
                if m:
                    key = (m.group(1), m.group(2))
                    seen[key] = max(seen.get(key, 0), int(m.group(3)))
            per = {}
            for (_, camera), n in seen.items():
                per[camera] = per.get(camera, 0) + n
            now = time.monotonic() - started
            samples.append((now, per))
            if swap and swap_at["t"] is None and sum(per.values()) >= threshold:
                answer = json.loads(http(port, "POST", "/api/v1/models/detector@1.1.0/promote", '{"stage":"production"}'))
                swap_at["t"], swap_at["generation"] = now, answer["generation"]
            if swap_at["t"] is not None and swap_at["adopted"] is None:
                serving = json.loads(http(port, "GET", "/api/v1/models"))["serving"]
                if serving["threads"] and all(g == swap_at["generation"] for g in serving["threads"].values()):
                    swap_at["adopted"] = now
            time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    out, err = proc.communicate()
    poller.join()
    if proc.returncode != 0:
        sys.exit(f"run {name} failed:\n{err[-3000:]}")
    wall = time.monotonic() - started
    query = lambda sql: json.loads(itscam(bin_, "query", "--lake", f"file://{lake}", "--format", "json", sql))
    decoded = query("SELECT count(*) AS n FROM frame_quality WHERE NOT skipped")[0]["n"]
    inferred = query("SELECT sum(frames) AS n FROM model_metrics")[0]["n"]
    versions = query("SELECT model_version, count(DISTINCT camera_id || ':' || CAST(frame AS VARCHAR)) AS n FROM detections GROUP BY model_version ORDER BY model_version")
    return {"name": name, "samples": samples, "wall": wall, "decoded": decoded, "inferred": inferred, "versions": versions,
            "swap": swap_at, "threshold": threshold}


def moment(r):
    """When the run had inferred a third of its frames (the swap's moment, or the same point of the base run)."""
    if r["swap"]["t"] is not None:
        return r["swap"]["t"]
    return next(t for t, per in r["samples"] if sum(per.values()) >= r["threshold"])


def window_stats(r, half=10.0):
    t0 = moment(r)
    lo, hi = t0 - half, t0 + half
    inside = [(t, per) for t, per in r["samples"] if lo <= t <= hi]
    longest = 0.0
    cameras = {c for _, per in inside for c in per}
    for c in cameras:
        last_t, last_n = None, None
        for t, per in inside:
            n = per.get(c, 0)
            if last_n is None or n > last_n:
                if last_t is not None:
                    longest = max(longest, t - last_t)
                last_t, last_n = t, n
    # The inference path as a whole: the longest time without any frame inferred.
    stall, last_t, last_n = 0.0, None, None
    for t, per in inside:
        n = sum(per.values())
        if last_n is None or n > last_n:
            if last_t is not None:
                stall = max(stall, t - last_t)
            last_t, last_n = t, n
    frames = sum(inside[-1][1].values()) - sum(inside[0][1].values()) if inside else 0
    span = inside[-1][0] - inside[0][0] if len(inside) > 1 else 1.0
    return longest, stall, frames / span


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--clip", required=True)
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--port", type=int, default=18777)
    a = ap.parse_args()
    base = run(a.bin, a.work, "base", a.clip, a.cameras, a.frames, a.port)
    swap = run(a.bin, a.work, "swap", a.clip, a.cameras, a.frames, a.port, swap=True)
    shadow = run(a.bin, a.work, "shadow", a.clip, a.cameras, a.frames, a.port, shadow=0.1)
    print(f"{a.cameras} cameras x {a.frames} frames, 1 worker, max_batch 4")
    print("| run | frames decoded | inferred | lost | frames/s (run) | frames/s (±10 s of the swap) | longest time without an inferred frame (±10 s) | longest wait between one camera's frames (±10 s) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in (base, swap, shadow):
        longest, stall, fps = window_stats(r)
        print(f"| {r['name']} | {r['decoded']} | {r['inferred']} | {r['decoded'] - r['inferred']} | {r['inferred'] / r['wall']:.1f} | {fps:.1f} | {stall * 1000:.0f} ms | {longest * 1000:.0f} ms |")
    s = swap["swap"]
    if s["adopted"] is not None:
        print(f"swap: promoted at {s['t']:.1f} s, every inference thread on the new model {1000 * (s['adopted'] - s['t']):.0f} ms later (load + warm-up off the inference path)")
    print("frames per version in the swap run:", {v["model_version"]: v["n"] for v in swap["versions"]}, "(frames with detections)")
    print(f"shadow cost: {shadow['inferred'] / shadow['wall']:.1f} vs {base['inferred'] / base['wall']:.1f} frames/s = {(shadow['inferred'] / shadow['wall']) / (base['inferred'] / base['wall']):.3f}x")


if __name__ == "__main__":
    main()
