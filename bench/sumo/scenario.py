#!/usr/bin/env python3
"""Builds and runs the SUMO scenario of the accuracy benchmark (seeded, deterministic).

A 4-arm signalized intersection (node `c` at x=400): the eastbound approach `wc` (2 lanes,
50 km/h limit) is the one the camera watches. Traffic on it: ordinary drivers (~45 km/h),
speeders (~70 km/h), red-light runners (ignore red), and vehicles that stop for 15 s in a
no-stopping stretch (x 310..330 on lane 0). Output: FCD (positions, speeds every 0.1 s) and
the traffic-light program, in OUT.

usage: scenario.py OUT [--minutes 20] [--seed 7]
"""
import argparse, os, random, subprocess

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--minutes", type=float, default=20.0)
p.add_argument("--seed", type=int, default=7)
a = p.parse_args()
os.makedirs(a.out, exist_ok=True)
o = lambda f: os.path.join(a.out, f)

open(o("net.nod.xml"), "w").write("""<nodes>
  <node id="w" x="0" y="0"/>
  <node id="c" x="400" y="0" type="traffic_light" tl="tl-1"/>
  <node id="e" x="800" y="0"/>
  <node id="n" x="400" y="400"/>
  <node id="s" x="400" y="-400"/>
</nodes>
""")
open(o("net.edg.xml"), "w").write("""<edges>
  <edge id="wc" from="w" to="c" numLanes="2" speed="13.89"/>
  <edge id="ce" from="c" to="e" numLanes="2" speed="13.89"/>
  <edge id="nc" from="n" to="c" numLanes="1" speed="13.89"/>
  <edge id="cs" from="c" to="s" numLanes="1" speed="13.89"/>
</edges>
""")
subprocess.run(["netconvert", "--node-files", o("net.nod.xml"), "--edge-files", o("net.edg.xml"),
                "--tls.default-type", "static", "--tls.green.time", "27", "--tls.yellow.time", "3",
                "--no-turnarounds", "true", "-o", o("net.net.xml"), "--no-warnings"], check=True)

rng = random.Random(a.seed)
end = int(a.minutes * 60)
vehicles = []
t = 0.0
n = 0
while t < end - 40:
    t += rng.expovariate(1 / 3.2)  # ~0.3 vehicles/s on the approach
    r = rng.random()
    kind = "normal" if r < 0.75 else "speeder" if r < 0.92 else "stopper"
    vtype = {"normal": rng.choice(["car", "car", "car", "truck", "bus"]), "speeder": "speeder", "runner": "runner", "stopper": "car"}[kind]
    vehicles.append((round(t, 1), f"v{n}", vtype, kind))
    n += 1
# Red-light runners: timed to reach the stop line (392.8 m at ~13 m/s) 1-10 s into a red phase
# (red from each full minute for 30 s), in the left lane, where nobody has stopped yet.
for k in range(1, int(end // 60)):
    vehicles.append((round(k * 60 - 30.0 + rng.uniform(1, 10), 1), f"r{k}", "runner", "runner"))
vehicles.sort()
cross = []
t = 0.0
while t < end - 40:
    t += rng.expovariate(1 / 8.0)
    cross.append((round(t, 1), f"x{len(cross)}"))

with open(o("routes.rou.xml"), "w") as f:
    f.write("""<routes>
  <vType id="car" vClass="passenger" length="4.5" width="1.8" height="1.5" speedFactor="0.9" speedDev="0.05" sigma="0.3"/>
  <vType id="truck" vClass="truck" length="9.0" width="2.5" height="3.2" speedFactor="0.85" speedDev="0.05" sigma="0.3"/>
  <vType id="bus" vClass="bus" length="12.0" width="2.5" height="3.2" speedFactor="0.8" speedDev="0.05" sigma="0.3"/>
  <vType id="speeder" vClass="passenger" length="4.5" width="1.8" height="1.5" speedFactor="1.4" speedDev="0.03" sigma="0.2" lcSpeedGain="0.1"/>
  <vType id="runner" vClass="passenger" length="4.5" width="1.8" height="1.5" speedFactor="0.95" speedDev="0.05" sigma="0.2"
         jmDriveAfterRedTime="300" jmDriveAfterYellowTime="300" jmIgnoreFoeProb="1" jmIgnoreFoeSpeed="100"/>
  <route id="we" edges="wc ce"/>
  <route id="ns" edges="nc cs"/>
""")
    events = [(t, f'  <vehicle id="{vid}" type="{vt}" route="we" depart="{t}" departLane="{"0" if kind == "stopper" else "1" if kind == "runner" else "best"}" departSpeed="max">'
               + (f'<stop lane="wc_0" startPos="312" endPos="328" duration="15"/>' if kind == "stopper" else "") + "</vehicle>\n")
              for t, vid, vt, kind in vehicles]
    events += [(t, f'  <vehicle id="{vid}" type="car" route="ns" depart="{t}" departSpeed="max"/>\n') for t, vid in cross]
    for _, line in sorted(events):
        f.write(line)
    f.write("</routes>\n")
with open(o("kinds.csv"), "w") as f:
    f.write("vehicle,type,kind\n")
    for _, vid, vt, kind in vehicles:
        f.write(f"{vid},{vt},{kind}\n")

subprocess.run(["sumo", "-n", o("net.net.xml"), "-r", o("routes.rou.xml"), "--step-length", "0.1",
                "--begin", "0", "--end", str(end), "--fcd-output", o("fcd.xml"), "--fcd-output.geo", "false",
                "--seed", str(a.seed), "--no-step-log", "true", "--no-warnings", "true", "--collision.action", "none",
                "--time-to-teleport", "-1"], check=True)
print(f"scenario: {len(vehicles)} vehicles on the approach, {len(cross)} crossing, {end} s")
