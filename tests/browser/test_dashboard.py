"""The dashboard in a real headless Chromium, against a real itscam with auth on:

- detections example (`itscam run --http`, its input fed through a FIFO held open): log in, see
  the cameras, watch a count grow in the live view as more lines are fed, acknowledge an alert
  and see its evidence panel, add a rule (and see a refused one's problem inline), run a query
  and see its chart, the traffic charts, the system page; a viewer sees no admin controls; the
  browser console stays free of errors;
- the sample video (`itscam serve --config`): the camera's health and frames, the live view,
  a camera added from the page.

Screenshots go to docs/screenshots/ (1366×768, and the alerts at phone width 390×844). The live
view's timings (first paint, SSE event → on screen) are printed.

Usage: scripts/browser.sh (installs what it needs), or
    python tests/browser/test_dashboard.py --bin target/debug/itscam
"""

import argparse
import json
import statistics
import sys
import time
import unittest
from pathlib import Path

from selenium.webdriver.common.by import By

from harness import ROOT, PASSWORD, Itscam, chromium, close, console_errors, viewport, wait_for

SHOTS = ROOT / "docs" / "screenshots"
BIN = None
REPORT = {}


def detections_config():
    text = (ROOT / "examples/detections/config.toml").read_text()
    text = text.replace("detections:examples/data/two-cameras.jsonl", "detections:-")
    text = text.replace("signals:examples/data/", f"signals:{ROOT}/examples/data/")
    # Short metric windows, so the traffic charts fill while the input is held open.
    return text + "\n[analytics]\nwindow_ms = 5000\n"


def video_config():
    text = (ROOT / "examples/video/config.toml").read_text().replace("file:.assets/vtest.avi", f"file:{ROOT}/.assets/vtest.avi")
    # A counting line and a zone across the plaza, and a rule on it, for the live view and alerts.
    return text + """
[[camera.line]]
id = "middle"
points = [[384, 0], [384, 576]]

[[camera.zone]]
id = "plaza"
polygon = [[0, 0], [768, 0], [768, 576], [0, 576]]

[[rule]]
id = "people-in-plaza"
kind = "zone_intrusion"
camera = "plaza"
zone = "plaza"
classes = ["person"]
min_duration_ms = 2000
severity = "high"
"""


def find(driver, css):
    return driver.find_elements(By.CSS_SELECTOR, css)


def text_of(driver, css):
    found = find(driver, css)
    return found[0].text if found else None


def log_in(driver, base, role):
    driver.get(f"{base}/#/cameras")
    wait_for("the login form", lambda: find(driver, "#login-form"))
    find(driver, "#login-user")[0].send_keys(role)
    find(driver, "#login-password")[0].send_keys(PASSWORD)
    find(driver, "#login-submit")[0].click()
    wait_for(f"{role} to be signed in", lambda: role in (text_of(driver, "#who") or ""))


def go(driver, route):
    driver.execute_script("location.hash = arguments[0]", route)


def shot(driver, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    wait_for("the notice to fade", lambda: driver.execute_script("return getComputedStyle(document.getElementById('toast')).opacity") == "0")
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def set_value(driver, css, value):
    el = find(driver, css)[0]
    driver.execute_script("arguments[0].value = arguments[1]", el, value)


class Detections(unittest.TestCase):
    """The detections example: counts, alerts, rules, SQL, roles."""

    @classmethod
    def setUpClass(cls):
        cls.lines = (ROOT / "examples/data/two-cameras.jsonl").read_bytes().splitlines(keepends=True)
        cls.server = Itscam(BIN, detections_config(), "run", "detections")
        cls.server.send(cls.lines[:600])  # the first 30 s of both cameras; the rest comes later
        cls.driver = chromium()
        viewport(cls.driver, 1366, 768)
        log_in(cls.driver, cls.server.base, "admin")

    @classmethod
    def tearDownClass(cls):
        errors = console_errors(cls.driver, expected=[("/api/v1/rules/speeding-nowhere", "422")])
        close(cls.driver)
        cls.server.stop()
        assert not errors, f"browser console errors: {errors}"

    def test_1_cameras(self):
        d = self.driver
        go(d, "#/cameras")
        wait_for("cam-1's card", lambda: find(d, '[data-camera="cam-1"]'))
        self.assertIn("m rms", find(d, '[data-camera="cam-1"]')[0].text)
        self.assertTrue(find(d, "#camera-add"), "an admin sees the add button")
        shot(d, "cameras")

    def test_2_live_count_grows(self):
        d = self.driver
        go(d, "#/live/cam-1")
        first = wait_for("a first live reading", lambda: d.execute_script("return window.itscamMetrics && window.itscamMetrics.liveFirstPaintMs"))
        before = int(wait_for("a count", lambda: (t := text_of(d, "#live-total")) and t.isdigit() and t))
        fed_at = time.time() * 1000
        self.server.send(self.lines[600:])
        after = int(wait_for("the count to grow", lambda: (t := text_of(d, "#live-total")) and t.isdigit() and int(t) > before and t, timeout=90))
        self.assertGreater(after, before)
        updates = d.execute_script("return window.itscamMetrics.updates")
        grown = next(u for u in updates if u["total"] > before)
        screen = [u["screenMs"] for u in updates]
        REPORT["live first paint (ms)"] = round(first, 1)
        REPORT["SSE event -> on screen, median / max (ms)"] = (round(statistics.median(screen), 1), round(max(screen), 1))
        REPORT["lines fed -> count on screen (ms)"] = round(grown["wallMs"] - fed_at)
        REPORT["live count before / after feeding"] = (before, after)
        # The page shows what SQL counts over the same window.
        view_end = wait_for("the view's event time", lambda: d.execute_script("const u = window.itscamMetrics.updates; return u[u.length - 1].ts_ms"))
        shot(d, "live")
        self.assertTrue(view_end)

    def test_3_alert_acknowledged_with_evidence(self):
        d = self.driver
        # An open alert whose evidence (a detections camera's trajectory) is committed.
        alert_id = wait_for("an open alert with evidence", self.alert_with_evidence, timeout=90)
        go(d, "#/alerts")
        row = wait_for("its row", lambda: find(d, f'tr.alert[data-alert="{alert_id}"][data-status="open"]'))[0]
        row.click()
        wait_for("the alert's panel", lambda: find(d, "#alert-ack"))
        wait_for("the evidence's pictures", lambda: d.execute_script(
            "const imgs = document.querySelectorAll('#evidence-items img'); return imgs.length > 0 && [...imgs].every((i) => i.complete && i.naturalWidth > 0)"))
        REPORT["evidence shown"] = [f.get_attribute("data-kind") for f in find(d, "#evidence-items figure")]
        set_value(d, "#alert-note", "checked from the dashboard")
        find(d, "#alert-ack")[0].click()
        wait_for("the alert to be acknowledged", lambda: find(d, f'tr.alert[data-alert="{alert_id}"][data-status="acknowledged"]'))
        wait_for("the acknowledgement in the panel", lambda: "checked from the dashboard" in (text_of(d, "#alert-detail") or ""))
        shot(d, "alerts")

    def alert_with_evidence(self):
        status, body = self.server.get("/api/v1/alerts?status=open&limit=50", role="operator")
        assert status == 200, body
        for alert in json.loads(body)["alerts"]:
            status, index = self.server.get(f"/api/v1/alerts/{alert['alert_id']}/evidence", role="operator")
            if status == 200 and any(i["content_type"].startswith("image/") for i in json.loads(index)["items"]):
                return alert["alert_id"]
        return None

    def test_4_rules(self):
        d = self.driver
        go(d, "#/rules")
        wait_for("the rules", lambda: "speeding-approach" in (text_of(d, "#rules-list") or ""))
        find(d, "#rule-add")[0].click()
        bad = {"id": "speeding-nowhere", "kind": "speeding", "camera": "cam-1", "zone": "nowhere", "limit_kmh": 30, "severity": "low"}
        set_value(d, "#rule-json", json.dumps(bad))
        find(d, "#rule-save")[0].click()
        problem = wait_for("the refused rule's problem", lambda: (t := text_of(d, "#rule-form .error")) and t)
        self.assertIn("invalid_rule", problem)
        good = {"id": "speeding-dashboard", "kind": "speeding", "camera": "cam-1", "zone": "approach", "limit_kmh": 30, "tolerance_kmh": 5, "min_duration_ms": 1000, "severity": "medium"}
        set_value(d, "#rule-json", json.dumps(good))
        find(d, "#rule-save")[0].click()
        wait_for("the new rule in the list", lambda: "speeding-dashboard" in (text_of(d, "#rules-list") or ""))
        shot(d, "rules")

    def test_5_sql_chart_and_traffic(self):
        d = self.driver
        go(d, "#/sql")
        set_value(d, "#sql-text", "SELECT window_start_ms, vehicle_count, avg_speed_kmh FROM traffic_metrics WHERE camera_id = 'cam-1' AND class = 'all' ORDER BY window_start_ms")
        wait_for("traffic windows", lambda: self.server.sql("SELECT count(*) AS n FROM traffic_metrics WHERE camera_id = 'cam-1'")[0]["n"] >= 2, timeout=90)
        find(d, "#sql-run")[0].click()
        wait_for("the result's chart", lambda: find(d, "#sql-chart svg path.series"))
        self.assertTrue(find(d, "#sql-rows table"))
        shot(d, "sql")
        # The CSV download is made in the page from the JSON answer.
        csv = d.execute_async_script("const [result, done] = arguments; import('/assets/sql.js').then((m) => done(m.toCsv(result)))",
                                     {"columns": [{"name": "a"}, {"name": "b"}], "rows": [{"a": 1, "b": 'x,"y"'}, {"a": None, "b": "z"}]})
        self.assertEqual(csv, 'a,b\r\n1,"x,""y"""\r\n,z\r\n')
        go(d, "#/traffic")
        wait_for("the traffic charts", lambda: find(d, "#traffic-charts svg path.series"))
        shot(d, "traffic")
        go(d, "#/system")
        wait_for("the version", lambda: text_of(d, "#system-version"))
        wait_for("the writer's backlog", lambda: "lake_pending_rows" in (text_of(d, "#system-counters") or ""))

    def test_6_viewer_sees_no_admin_controls(self):
        d = chromium()
        try:
            viewport(d, 390, 844, mobile=True)
            log_in(d, self.server.base, "viewer")
            wait_for("cam-1's card", lambda: find(d, '[data-camera="cam-1"]'))
            self.assertFalse(find(d, "#camera-add") or find(d, ".camera .remove") or find(d, ".camera .edit"))
            self.assertFalse(find(d, "#nav-sql"), "SQL is for analysts")
            go(d, "#/rules")
            wait_for("the rules", lambda: "speeding-approach" in (text_of(d, "#rules-list") or ""))
            self.assertFalse(find(d, "#rule-add") or find(d, "#rules-list .remove"))
            go(d, "#/alerts")
            wait_for("the alerts", lambda: find(d, "tr.alert"))
            find(d, "tr.alert")[0].click()
            wait_for("the alert's panel", lambda: find(d, "#alert-detail:not([hidden]) h2"))
            self.assertFalse(find(d, "#alert-ack") or find(d, "#alert-resolve"), "a viewer cannot change alerts")
            self.assertFalse(find(d, "#evidence"), "evidence is for operators and above")
            d.execute_script("window.scrollTo(0, 0)")
            shot(d, "phone-alerts")
            errors = console_errors(d)
            self.assertEqual(errors, [])
        finally:
            close(d)


class Video(unittest.TestCase):
    """The sample video under `itscam serve --config`: health, frames, live view, an alert's
    snapshot and clip, a camera added."""

    @classmethod
    def setUpClass(cls):
        if not (ROOT / ".assets/vtest.avi").exists():
            raise unittest.SkipTest("no .assets/vtest.avi (scripts/setup.sh)")
        cls.server = Itscam(BIN, video_config(), "serve", "video")
        cls.driver = chromium()
        viewport(cls.driver, 1366, 768)
        log_in(cls.driver, cls.server.base, "admin")

    @classmethod
    def tearDownClass(cls):
        errors = console_errors(cls.driver, expected=[("/api/v1/cameras ", "400"), ("/api/v1/cameras ", "422")])
        close(cls.driver)
        cls.server.stop()
        assert not errors, f"browser console errors: {errors}"

    def test_1_video_camera_frames_and_live_view(self):
        d = self.driver
        go(d, "#/cameras")
        frames = lambda: (t := text_of(d, '[data-camera="plaza"] .frames')) and t.isdigit() and int(t)
        wait_for("decoded frames", frames, timeout=120)
        wait_for("frames/s from two polls", lambda: (t := text_of(d, '[data-camera="plaza"] .fps')) and t != "–")
        status, _ = self.server.get("/api/v1/cameras/plaza/frame")
        REPORT["GET /cameras/{id}/frame"] = status
        if status == 200:
            wait_for("the camera's thumbnail", lambda: find(d, '[data-camera="plaza"] img.thumb:not([hidden])'))
        shot(d, "video-cameras")
        go(d, "#/live/plaza")
        wait_for("the live view's event time", lambda: "event time" in (text_of(d, "#live-clock") or ""), timeout=120)
        if status == 200:
            wait_for("the latest frame", lambda: find(d, "#live-frame:not([hidden])"))
        shot(d, "video-live")

    def test_2_alert_evidence_snapshot_and_clip(self):
        d = self.driver

        def alert_with_clip():
            status, body = self.server.get("/api/v1/alerts?limit=50", role="operator")
            for alert in json.loads(body)["alerts"] if status == 200 else []:
                status, index = self.server.get(f"/api/v1/alerts/{alert['alert_id']}/evidence", role="operator")
                if status == 200 and {"snapshot", "clip"} <= {i["kind"] for i in json.loads(index)["items"]}:
                    return alert["alert_id"]
            return None

        alert_id = wait_for("an alert with a snapshot and a clip", alert_with_clip, timeout=180, period=1)
        go(d, "#/alerts")
        wait_for("its row", lambda: find(d, f'tr.alert[data-alert="{alert_id}"]'))[0].click()
        loaded = "const i = document.querySelector(arguments[0]); return !!i && i.complete && i.naturalWidth > 0"
        wait_for("the snapshot", lambda: d.execute_script(loaded, '#evidence-items figure[data-kind="snapshot"] img'))
        flip = lambda: d.execute_script("const i = document.querySelector('.flipbook img'); return i && i.complete && i.naturalWidth > 0 ? i.src : null")
        first = wait_for("the clip's flipbook", flip)
        wait_for("the flipbook to turn a page", lambda: (src := flip()) and src != first)
        shot(d, "video-alert")

    def test_3_camera_added_from_the_page(self):
        d = self.driver
        go(d, "#/cameras")
        wait_for("the add button", lambda: find(d, "#camera-add"))
        find(d, "#camera-add")[0].click()
        set_value(d, "#camera-json", json.dumps({"id": "bad id", "source": "push"}))
        find(d, "#camera-form button[type=submit]")[0].click()
        wait_for("the refused camera's problem", lambda: (t := text_of(d, "#camera-form .error")) and t)
        set_value(d, "#camera-json", json.dumps({"id": "gate-2", "source": "push"}))
        find(d, "#camera-form button[type=submit]")[0].click()
        wait_for("the new camera's card", lambda: find(d, '[data-camera="gate-2"]'))
        # Edit: the form opens with the camera as the API has it; a counting line is added.
        find(d, '[data-camera="gate-2"] .edit')[0].click()
        config = json.loads(wait_for("the camera in the form", lambda: (f := find(d, "#camera-form textarea")) and "gate-2" in f[0].get_attribute("value") and f[0].get_attribute("value")))
        config["line"] = [{"id": "gate-line", "points": [[0, 100], [640, 100]]}]
        set_value(d, "#camera-json", json.dumps(config))
        find(d, "#camera-form button[type=submit]")[0].click()
        wait_for("the form to close", lambda: not find(d, "#camera-form"))
        status, body = self.server.get("/api/v1/cameras/gate-2")
        self.assertEqual((status, [l["id"] for l in json.loads(body)["camera"]["line"]]), (200, ["gate-line"]))
        # Remove: two clicks (arm, confirm); the card goes.
        remove = lambda: find(d, '[data-camera="gate-2"] .remove')[0]
        remove().click()
        wait_for("the remove button armed", lambda: remove().get_attribute("data-armed") == "1")
        remove().click()
        wait_for("gate-2's card gone", lambda: not find(d, '[data-camera="gate-2"]'), timeout=60)


def main():
    global BIN
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    args, rest = parser.parse_known_args()
    BIN = str(Path(args.bin).resolve())
    program = unittest.main(argv=[sys.argv[0], *rest], exit=False, verbosity=2)
    print("\nDashboard timings and facts:")
    for k, v in REPORT.items():
        print(f"  {k}: {v}")
    sys.exit(0 if program.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
