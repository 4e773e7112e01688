#!/usr/bin/env python3
"""Builds and runs the SUMO junction scenario of issue 17 (seeded, deterministic).

A 4-leg signalised intersection, centre node `c` at (250, 250) of the SUMO network (the ground
frame of project.py has its origin there, x east, y north). Each approach (edges nc, ec, sc, wc)
has 3 lanes plus a sidewalk: lane 1 (curb) right + through, lane 2 through, lane 3 left + U-turn;
each exit (cn, ce, cs, cw) 2 lanes plus a sidewalk. The signal program is netconvert's
"opposites" layout with the major road (N/S) favoured: N/S 40 s green with permitted lefts
(crosswalks beside it green the first 35 s), 3 s yellow, a 10 s protected left, 3 s yellow; then
E/W the same with 20 s (15 s walk); cycle 92 s. Signalised crosswalks on all four legs.

Demand: Poisson arrivals per approach (N/S 600 veh/h, E/W 450 veh/h, times a random factor
0.8-1.25 per 15-min bin) for --minutes, then DRAIN_S more seconds simulated without departures;
movements left 18 %, through 65 %, right 15 %, U-turn 2 %; classes car 82 %, truck 7 %, bus 3 %,
motorcycle 4 %, bicycle 4 %; ~200 pedestrians/h on the crosswalks.

Outputs in OUT: scenario.json (minutes, seed, ends), net.net.xml, routes.rou.xml, fcd.xml (0.1 s), queues.xml (--queue-output, 1 s),
tripinfo.xml (timeLoss), tls.xml (SaveTLSSwitchStates), and free/tripinfo.xml: the same
routes and types driven alone on an all-green signal (the free-flow time loss per route and
type that truth.py subtracts to get control delay).

usage: scenario.py OUT [--minutes 30] [--seed 7]
"""
import argparse, json, os, random, re, subprocess

APPROACHES = ["n", "e", "s", "w"]          # clockwise; approach X enters on edge Xc, exits on cX
DIRS = {"right": -1, "through": 2, "left": 1, "u_turn": 0}   # exit = approach index + offset
SHARES = [("left", 0.18), ("through", 0.65), ("right", 0.15), ("u_turn", 0.02)]
CLASSES = [("car", 0.82), ("truck", 0.07), ("bus", 0.03), ("motorcycle", 0.04), ("bicycle", 0.04)]
PHASES = [35, 5, 3, 10, 3, 15, 5, 3, 10, 3]    # durations of netconvert's 10 phases, in its order
PROFILE = [0.7, 1.25, 1.0, 1.15]           # demand factor per 15-min bin, repeated
DRAIN_S = 180                            # simulated after the last departure, so that all trips end
RATES = {"n": 600, "s": 600, "e": 450, "w": 450}   # veh/h
VTYPES = """  <vType id="car" vClass="passenger" length="4.5" width="1.8" height="1.5" speedFactor="1.0" speedDev="0.08" sigma="0.3"/>
  <vType id="truck" vClass="truck" length="10.0" width="2.5" height="3.4" speedFactor="0.9" speedDev="0.05" sigma="0.3"/>
  <vType id="bus" vClass="bus" length="12.0" width="2.55" height="3.2" speedFactor="0.9" speedDev="0.05" sigma="0.3"/>
  <vType id="motorcycle" vClass="motorcycle" length="2.2" width="0.9" height="1.4" speedFactor="1.05" speedDev="0.08" sigma="0.3"/>
  <vType id="bicycle" vClass="bicycle" length="1.8" width="0.65" height="1.7" maxSpeed="5.5" speedDev="0.1" sigma="0.3"/>
  <vType id="ped" vClass="pedestrian" length="0.5" width="0.6" height="1.75"/>
"""


def route_edges(appr, move):
    i = APPROACHES.index(appr)
    return f"{appr}c c{APPROACHES[(i + DIRS[move]) % 4]}"


def pick(rng, table):
    r, acc = rng.random(), 0.0
    for name, share in table:
        acc += share
        if r < acc:
            return name
    return table[-1][0]


def build_net(o):
    open(o("net.nod.xml"), "w").write("""<nodes>
  <node id="c" x="250" y="250" type="traffic_light" tl="c"/>
  <node id="n" x="250" y="500"/><node id="s" x="250" y="0"/>
  <node id="e" x="500" y="250"/><node id="w" x="0" y="250"/>
</nodes>
""")
    edges = "".join(f'  <edge id="{a}c" from="{a}" to="c" numLanes="3" speed="13.89" sidewalkWidth="3"/>\n'
                    f'  <edge id="c{a}" from="c" to="{a}" numLanes="2" speed="13.89" sidewalkWidth="3"/>\n' for a in APPROACHES)
    open(o("net.edg.xml"), "w").write(f"<edges>\n{edges}</edges>\n")
    subprocess.run(["netconvert", "--node-files", o("net.nod.xml"), "--edge-files", o("net.edg.xml"),
                    "--offset.disable-normalization", "true", "--crossings.guess", "true",
                    "--tls.green.time", "30", "--tls.left-green.time", "10", "--tls.yellow.time", "3",
                    "-o", o("net.net.xml"), "--no-warnings"], check=True, capture_output=True)
    net = open(o("net.net.xml")).read()
    head, rest = net.split("<tlLogic", 1)
    block, tail = rest.split("</tlLogic>", 1)
    assert block.count("<phase ") == len(PHASES), "netconvert's signal program changed"
    durations = iter(PHASES)
    block = re.sub(r'duration="[0-9.]+"', lambda m: f'duration="{next(durations)}"', block)
    open(o("net.net.xml"), "w").write(head + "<tlLogic" + block + "</tlLogic>" + tail)


def demand(rng, end):
    """Vehicles (depart, id, type, approach, movement) and pedestrians (depart, id, from, to)."""
    factors = [PROFILE[k % len(PROFILE)] * rng.uniform(0.95, 1.05) for k in range(end // 900 + 1)]
    veh = []
    for appr in APPROACHES:
        t = 0.0
        while True:
            t += rng.expovariate(RATES[appr] * factors[int(t) // 900] / 3600)
            if t >= end:
                break
            cls, move = pick(rng, CLASSES), pick(rng, SHARES)
            while cls == "bicycle" and move == "u_turn":
                move = pick(rng, SHARES)
            veh.append((round(t, 1), appr, cls, move))
    veh.sort()
    veh = [(t, f"v{k}", cls, appr, move) for k, (t, appr, cls, move) in enumerate(veh)]
    peds, t = [], 0.0
    sides = [f"{a}c" for a in APPROACHES] + [f"c{a}" for a in APPROACHES]
    while True:
        t += rng.expovariate(200 / 3600)
        if t >= end:
            break
        src, dst = rng.sample(sides, 2)
        peds.append((round(t, 1), f"p{len(peds)}", src, dst))
    return veh, peds


def write_routes(path, veh, peds):
    ev = [(t, f'  <vehicle id="{vid}" type="{cls}" depart="{t}" departLane="best" departSpeed="max">'
              f'<route edges="{route_edges(appr, move)}"/></vehicle>\n') for t, vid, cls, appr, move in veh]
    near = lambda e: "215" if e.endswith("c") else "20"    # 20 m from the junction on either edge
    ev += [(t, f'  <person id="{pid}" type="ped" depart="{t}" departPos="{near(a)}">'
               f'<walk from="{a}" to="{b}" arrivalPos="{near(b)}"/></person>\n') for t, pid, a, b in peds]
    with open(path, "w") as f:
        f.write("<routes>\n" + VTYPES)
        for _, line in sorted(ev):
            f.write(line)
        f.write("</routes>\n")


def free_flow(o, seed):
    """Each route × vehicle type, 3 times, alone on an all-green signal."""
    os.makedirs(o("free"), exist_ok=True)
    veh, t = [], 0.0
    for rep in range(3):
        for cls, _ in CLASSES:
            for move in DIRS:
                for appr in APPROACHES:
                    if not (cls == "bicycle" and move == "u_turn"):
                        veh.append((t, f"f{len(veh)}", cls, appr, move))
                        t += 120.0
    write_routes(o("free/routes.rou.xml"), veh, [])
    links = len(open(o("net.net.xml")).read().split('<tlLogic id="c"')[1].split('state="')[1].split('"')[0])
    open(o("free/green.add.xml"), "w").write(f'<additional><tlLogic id="c" type="static" programID="free" offset="0">'
                                             f'<phase duration="1000" state="{"G" * links}"/></tlLogic></additional>\n')
    sumo(o, "free/routes.rou.xml", int(t) + 200, seed, ["-a", o("free/green.add.xml"), "--tripinfo-output", o("free/tripinfo.xml")])


def sumo(o, routes, end, seed, extra):
    subprocess.run(["sumo", "-n", o("net.net.xml"), "-r", o(routes), "--step-length", "0.1", "--begin", "0",
                    "--end", str(end), "--seed", str(seed), "--no-step-log", "true", "--no-warnings", "true",
                    "--collision.action", "none", "--time-to-teleport", "-1", "--tripinfo-output.write-unfinished", "true"]
                   + extra, check=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    o = lambda f: os.path.join(a.out, f)
    end = int(a.minutes * 60)
    build_net(o)
    veh, peds = demand(random.Random(a.seed), end)
    write_routes(o("routes.rou.xml"), veh, peds)
    open(o("tls.add.xml"), "w").write(f'<additional><timedEvent type="SaveTLSSwitchStates" source="c" dest="tls.xml"/></additional>\n')
    sumo(o, "routes.rou.xml", end + DRAIN_S, a.seed, ["-a", o("tls.add.xml"), "--fcd-output", o("fcd.xml"), "--fcd-output.geo", "false",
                                            "--queue-output", o("queues.xml"), "--queue-output.period", "1",
                                            "--tripinfo-output", o("tripinfo.xml")])
    free_flow(o, a.seed)
    json.dump({"minutes": a.minutes, "seed": a.seed, "demand_end_s": end, "sim_end_s": end + DRAIN_S, "vehicles": len(veh),
               "pedestrians": len(peds)}, open(o("scenario.json"), "w"))
    print(f"scenario: {len(veh)} vehicles, {len(peds)} pedestrians, {end} s of demand + {DRAIN_S} s")


if __name__ == "__main__":
    main()
