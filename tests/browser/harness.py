"""What the dashboard's browser tests stand on: an itscam process with auth on and a user per
role, a headless Chromium driven by Selenium, and waits that poll a condition up to a deadline.

Run by scripts/browser.sh (which installs Chromium, chromedriver and Selenium)."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "browser-tests-password"
ROLES = ("viewer", "analyst", "operator", "admin")


def wait_for(what, condition, timeout=60.0, period=0.1):
    """Polls `condition()` until it returns something truthy (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as e:  # a DOM node replaced under us: poll again
            last_error = e
        time.sleep(period)  # polling period, not a synchronization
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}" + (f" (last error: {last_error})" if last_error else ""))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Itscam:
    """An itscam process (`run --http` fed through a FIFO held open, or `serve --config`) over a
    scratch lake, with auth on and one user per role (`itscam users add`, password on stdin)."""

    def __init__(self, binary, config_text, mode, name):
        self.binary = binary
        self.work = Path(tempfile.mkdtemp(prefix=f"itscam-browser-{name}-"))
        self.config = self.work / "config.toml"
        config_text = config_text.replace("file://./lake", f"file://{self.work}/lake")
        config_text += "\n[auth]\nenabled = true\nrate_per_s = 100000\nrate_burst = 100000\n"
        self.config.write_text(config_text)
        for role in ROLES:
            made = subprocess.run([binary, "users", "add", role, "--role", role, "--config", str(self.config)], cwd=ROOT, input=PASSWORD + "\n", text=True, capture_output=True)
            assert made.returncode == 0, f"itscam users add {role}: {made.stderr}"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(self.work / "itscam.log", "wb")
        self.feed = None
        self.tokens = {}
        if mode == "run":
            fifo = self.work / "stdin"
            os.mkfifo(fifo)
            # The shell opens the FIFO (blocking until we open its other end), then becomes itscam.
            cmd = ["sh", "-c", 'exec "$0" "$@" <"$ITSCAM_FIFO"', binary, "run", "--config", str(self.config), "--no-progress", "--http", f"127.0.0.1:{self.port}"]
            self.process = subprocess.Popen(cmd, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "ITSCAM_FIFO": str(fifo)})
            self.feed = open(fifo, "wb")
        else:
            cmd = [binary, "serve", "--config", str(self.config), "--listen", f"127.0.0.1:{self.port}"]
            self.process = subprocess.Popen(cmd, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for("itscam's API to answer", self.answers, timeout=120)

    def answers(self):
        if self.process.poll() is not None:
            raise AssertionError(f"itscam exited ({self.process.returncode}):\n{(self.work / 'itscam.log').read_text()[-4000:]}")
        try:
            urllib.request.urlopen(f"{self.base}/api/v1/openapi.json", timeout=2).read()
            return True
        except (urllib.error.URLError, ConnectionError, OSError):
            return False

    def send(self, lines):
        """Feeds detection lines to the pipeline's standard input."""
        self.feed.write(b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines))
        self.feed.flush()

    def token(self, role="admin"):
        """An access token of `role`'s user (one login per role: a login hashes a password)."""
        if role not in self.tokens:
            body = json.dumps({"user": role, "password": PASSWORD}).encode()
            req = urllib.request.Request(f"{self.base}/api/v1/auth/login", data=body, headers={"Content-Type": "application/json"})
            self.tokens[role] = json.load(urllib.request.urlopen(req, timeout=30))["access_token"]
        return self.tokens[role]

    def get(self, path, role="admin"):
        req = urllib.request.Request(f"{self.base}{path}", headers={"Authorization": f"Bearer {self.token(role)}"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def sql(self, text):
        req = urllib.request.Request(f"{self.base}/api/v1/query", data=json.dumps({"sql": text}).encode(),
                                     headers={"Authorization": f"Bearer {self.token()}", "Content-Type": "application/json"})
        return json.load(urllib.request.urlopen(req, timeout=30))["rows"]

    def stop(self):
        if self.feed:
            try:
                self.feed.close()
            except OSError:
                pass
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        if os.environ.get("ITSCAM_BROWSER_KEEP"):
            print(f"kept {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def chromium(width=1366, height=768):
    """Headless Chromium from Debian (no network here: background networking off)."""
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    profile = tempfile.mkdtemp(prefix="itscam-chromium-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.profile_dir = profile
    driver.set_window_size(width, height)
    return driver


def close(driver):
    driver.quit()
    shutil.rmtree(driver.profile_dir, ignore_errors=True)


def viewport(driver, width, height, mobile=False):
    """The page's viewport, exactly (the window's own size differs by its frame)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})


# Failed loads Chromium logs for answers the page expects and handles: the login probe's 401
# (`/auth/me` without a session tells that auth is on) and a camera or alert without a frame
# or evidence yet (404). Every other SEVERE entry fails the test.
EXPECTED_NETWORK = (
    ("/api/v1/auth/me", "401"),
    ("/frame?t=", "404"),
    ("/evidence", "404"),
)


def console_errors(driver, expected=()):
    """The browser console's SEVERE entries, less the expected failed loads and those of
    `expected` ((path, status) pairs: a test's deliberate mistakes)."""
    errors = []
    for entry in driver.get_log("browser"):
        if entry["level"] != "SEVERE":
            continue
        message = entry["message"]
        if entry.get("source") == "network" and any(path in message and f"status of {status}" in message for path, status in (*EXPECTED_NETWORK, *expected)):
            continue
        errors.append(message)
    return errors
