"""Shared by project.py and truth.py: the camera, the junction geometry read from SUMO's
network, the signal states, and the definitions both sides must agree on.

Ground frame (the calibration's `world`, and junction.toml): metres, origin at the junction
centre (SUMO (250, 250)), x east, y north. Times: ms since the Unix epoch, sim time 0 = T0.
"""
import math, xml.etree.ElementTree as ET

T0 = 1767225600000                      # 2026-01-01 00:00 UTC, on a 15-min boundary
BIN_MS = 900_000
CX, CY = 250.0, 250.0                   # junction centre in SUMO coordinates
NAMES = {"n": "north", "e": "east", "s": "south", "w": "west"}
ENTRY_M = 50.0                          # entry gate (= advance detector) upstream of the stop line
EXIT_M = 25.0                           # exit gate downstream of the junction, on the exit edge
LANE_M = 80.0                           # lane polygons: this far upstream of the stop line
LIMIT_MS = 13.89                        # speed limit (50 km/h): arrival = gate time + ENTRY_M / LIMIT_MS
QUEUE_KMH = 5.0                         # queue: vehicles slower than this (SUMO queueing_length_experimental)

# Camera: 40 m up (a high mast or a rooftop) south-west of the junction, 75 m out on both axes,
# looking at the centre.
W, H, F = 1920, 1080, 650.0
CAM = (-75.0, -75.0, 40.0)
LOOK = (0.0, 0.0)


def _unit(v):
    n = math.sqrt(sum(c * c for c in v))
    return tuple(c / n for c in v)


FWD = _unit((LOOK[0] - CAM[0], LOOK[1] - CAM[1], -CAM[2]))
RIGHT = _unit((FWD[1], -FWD[0], 0.0))
DOWN = (FWD[1] * RIGHT[2] - FWD[2] * RIGHT[1], FWD[2] * RIGHT[0] - FWD[0] * RIGHT[2], FWD[0] * RIGHT[1] - FWD[1] * RIGHT[0])


def dot(u, v):
    return u[0] * v[0] + u[1] * v[1] + u[2] * v[2]


def ground(x, y):
    """SUMO coordinates → ground frame."""
    return x - CX, y - CY


def project(gx, gy, z=0.0):
    """Ground frame point (m) and height → pixel, or None behind the camera."""
    d = (gx - CAM[0], gy - CAM[1], z - CAM[2])
    zc = dot(d, FWD)
    if zc < 1.0:
        return None
    return F * dot(d, RIGHT) / zc + W / 2, F * dot(d, DOWN) / zc + H / 2


def state_of(ch):
    return "green" if ch in "Gg" else "yellow" if ch in "yY" else "red"


def load_net(path):
    """Lane shapes (ground frame), lane widths/lengths, and the tls link index per (edge, dir)."""
    root = ET.parse(path).getroot()
    lanes, links, crossings = {}, {}, {}
    for edge in root.iter("edge"):
        for ln in edge.iter("lane"):
            pts = [ground(*map(float, p.split(","))) for p in ln.get("shape").split()]
            lanes[ln.get("id")] = {"shape": pts, "width": float(ln.get("width", "3.2")), "length": float(ln.get("length"))}
            if edge.get("function") == "crossing":
                crossings[edge.get("id")] = ln.get("id")
    for c in root.iter("connection"):
        if c.get("tl") == "c":
            links.setdefault((c.get("from"), c.get("dir")), int(c.get("linkIndex")))
    return lanes, links, crossings


def offset_line(a, b, d):
    """The segment a→b shifted d metres to its right."""
    ux, uy = _unit((b[0] - a[0], b[1] - a[1], 0.0))[:2]
    return (a[0] + uy * d, a[1] - ux * d), (b[0] + uy * d, b[1] - ux * d)


def along(a, b, s):
    """Point s metres from b back towards a (s < 0: beyond b)."""
    ux, uy = _unit((b[0] - a[0], b[1] - a[1], 0.0))[:2]
    return b[0] - ux * s, b[1] - uy * s


def across(lanes, ids, a_at):
    """A gate across lanes `ids` (curb first): their outer edges at the station a_at(shape)."""
    first, last = lanes[ids[0]], lanes[ids[-1]]
    p_curb = a_at(first["shape"], first["width"] / 2)
    p_mid = a_at(last["shape"], -last["width"] / 2)
    return [list(map(lambda c: round(c, 2), p_curb)), list(map(lambda c: round(c, 2), p_mid))]


def _station(dist_from_end):
    def f(shape, side):
        a, b = offset_line(shape[0], shape[-1], side)
        return along(a, b, dist_from_end)
    return f


def _station_from_start(dist):
    def f(shape, side):
        a, b = offset_line(shape[0], shape[-1], side)
        return along(b, a, dist)
    return f


def lane_polygon(ln, s0, s1=0.0):
    """The lane's strip from s0 to s1 metres before its end."""
    a, b = ln["shape"][0], ln["shape"][-1]
    l1, l2 = offset_line(a, b, -ln["width"] / 2), offset_line(a, b, ln["width"] / 2)
    pts = [along(*l1, s0), along(*l1, s1), along(*l2, s1), along(*l2, s0)]
    return [[round(x, 2), round(y, 2)] for x, y in pts]


def junction(lanes, crossings):
    """Approaches (entry/exit gates, lanes, stop line, signals) and crosswalks, ground frame."""
    apps = []
    for k, name in NAMES.items():
        inc = [f"{k}c_{i}" for i in (1, 2, 3)]
        out = [f"c{k}_{i}" for i in (1, 2)]
        apps.append({"id": name, "signal": f"tl-{name}", "left_signal": f"tl-{name}-left",
                     "entry": across(lanes, inc, _station(ENTRY_M)), "exit": across(lanes, out, _station_from_start(EXIT_M)),
                     "stop_line": across(lanes, inc, _station(0.0)),
                     "lanes": [{"id": f"{name}-{i}", "polygon": lane_polygon(lanes[f"{k}c_{i}"], LANE_M)} for i in (1, 2, 3)],
                     "exit_lanes": [{"id": f"{name}-out-{i}", "polygon": lane_polygon(lanes[f"c{k}_{i}"], lanes[f"c{k}_{i}"]["length"], lanes[f"c{k}_{i}"]["length"] - EXIT_M - 5)} for i in (1, 2)]})
    walks = []
    for cid, lid in sorted(crossings.items()):
        name = NAMES["nesw"[int(cid[-1])]]
        walks.append({"id": f"crosswalk-{name}", "polygon": lane_polygon(lanes[lid], lanes[lid]["length"])})
    return apps, walks


def tls_changes(tls_xml, links):
    """Per signal id, [(ts_ms, state)] at each change: tl-<approach> follows the through
    movement of the approach, tl-<approach>-left its left turn."""
    sig = {}
    for k, name in NAMES.items():
        sig[f"tl-{name}"] = links[(f"{k}c", "s")]
        sig[f"tl-{name}-left"] = links[(f"{k}c", "l")]
    out = {s: [] for s in sig}
    for el in ET.parse(tls_xml).getroot().iter("tlsState"):
        ms = T0 + round(float(el.get("time")) * 1000)
        for s, i in sig.items():
            st = state_of(el.get("state")[i])
            if not out[s] or out[s][-1][1] != st:
                out[s].append((ms, st))
    return out


def state_at(changes, ms):
    st = "red"
    for t, s in changes:
        if t > ms:
            break
        st = s
    return st


def los(delay_s):
    for grade, limit in zip("ABCDE", (10, 20, 35, 55, 80)):
        if delay_s <= limit:
            return grade
    return "F"
