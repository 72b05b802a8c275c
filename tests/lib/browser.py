"""browser: real headless Chromium for the session tests (issue 17).

Debian's chromium (/usr/bin/chromium), driven by playwright-core from npm
through tests/browser/drive.mjs: a test hands Browser.run() a list of steps
(goto, fill, click, expect_text, expect_cookie, screenshot...: drive.mjs
lists them), gets each step's result back, and relays the driver's TAP
lines into its own as diagnostics. Each run is one fresh Chromium with a
private profile in the test's temporary directory; as root (CI) it runs
with --no-sandbox, otherwise sandboxed; the test certificate's errors are
ignored (only 127.0.0.1 is ever visited).

playwright-core is installed by `./quickstart check` (npm ci in
tests/browser, into tests/browser/node_modules); chromium is in its
TEST_DEPS. missing() says what is absent, for a test to skip with that
reason. Environment: ISPMAILD_NODE_MODULES (another node_modules folder),
ISPMAILD_CHROMIUM (another Chromium binary), top_srcdir, top_builddir.

Python 3 standard library only.
"""

import json
import os
import shutil
import struct
import subprocess
import time
import zlib

import ispmaild_test as T

CHROMIUM = os.environ.get("ISPMAILD_CHROMIUM", "/usr/bin/chromium")


def driver():
    """tests/browser/drive.mjs in the source tree."""
    return os.path.join(T.top_srcdir(), "tests", "browser", "drive.mjs")


def node_modules():
    """The node_modules folder that holds playwright-core, or None: the
    build tree's tests/browser (an out-of-tree build may install there),
    then the source tree's (where quickstart runs npm ci)."""
    dirs = [os.environ.get("ISPMAILD_NODE_MODULES")]
    dirs += [os.path.join(d, "tests", "browser", "node_modules")
             for d in (T.top_builddir(), T.top_srcdir())]
    for d in dirs:
        if d and os.path.isfile(os.path.join(d, "playwright-core", "package.json")):
            return d
    return None


def missing():
    """Why a browser test cannot run here (None when it can)."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return "%s not installed (Debian package chromium; ./quickstart check)" % CHROMIUM
    if shutil.which("node") is None:
        return "node not installed (Debian package nodejs; ./quickstart check)"
    if node_modules() is None:
        return ("playwright-core not installed in tests/browser/node_modules "
                "(./quickstart check runs npm ci there)")
    return None


class Run:
    """What one run of the driver did: ok (every step passed), steps (the
    driver's results: n, what, ok, error, value), output (its TAP lines),
    stderr, seconds."""

    def __init__(self, rc, steps, output, stderr, seconds):
        self.rc = rc
        self.steps = steps
        self.output = output
        self.stderr = stderr
        self.seconds = seconds
        self.ok = rc == 0 and all(s["ok"] for s in steps)

    def value(self, what):
        """The value of the step described as `what` (its "as"), or None."""
        for s in self.steps:
            if s["what"] == what:
                return s["value"]
        return None

    def failure(self):
        """The first failed step as one line, or the driver's complaint."""
        for s in self.steps:
            if not s["ok"]:
                return "step %d (%s): %s" % (s["n"], s["what"], s["error"])
        tail = (self.output + "\n" + self.stderr).strip().splitlines()[-5:]
        return "exit %d: %s" % (self.rc, " | ".join(tail))


class Browser:
    """Chromium runs for one test, with their profiles and scripts under
    workdir (the test's temporary directory)."""

    def __init__(self, workdir, timeout_ms=10000, viewport=(1024, 768)):
        reason = missing()
        if reason:
            raise T.SkipTest(reason)
        self.dir = workdir
        self.timeout_ms = timeout_ms
        self.viewport = viewport
        self.runs = 0

    def run(self, steps, tap=None, timeout=120):
        """Run the steps in a fresh Chromium; returns a Run. With tap (a
        T.Tap) the driver's lines are passed on as diagnostics."""
        self.runs += 1
        base = os.path.join(self.dir, "browser%d" % self.runs)
        script, results = base + ".json", base + "-results.json"
        with open(script, "w") as f:
            json.dump({"user_data_dir": base + "-profile",
                       "timeout_ms": self.timeout_ms,
                       "viewport": {"width": self.viewport[0],
                                    "height": self.viewport[1]},
                       "steps": steps}, f, indent=1)
        env = dict(os.environ)
        env["NODE_PATH"] = node_modules()
        env["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
        # Chromium's own files (crash reports, caches) stay in the test's folder.
        env["HOME"] = base + "-home"
        env["XDG_CONFIG_HOME"] = env["XDG_CACHE_HOME"] = env["HOME"]
        # No D-Bus here: without this Chromium tries, and complains, at start.
        env["DBUS_SESSION_BUS_ADDRESS"] = "disabled:"
        os.makedirs(env["HOME"], exist_ok=True)
        start = time.monotonic()
        try:
            p = subprocess.run(["node", driver(), script, results], env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=timeout)
            rc, out, err = p.returncode, p.stdout.decode(errors="replace"), \
                p.stderr.decode(errors="replace")
        except subprocess.TimeoutExpired as e:
            rc, out = -1, (e.stdout or b"").decode(errors="replace")
            err = "drive.mjs still running after %d s" % timeout
        seconds = time.monotonic() - start
        steps = []
        if os.path.exists(results):
            with open(results) as f:
                steps = json.load(f)
        if tap is not None:
            for line in out.splitlines():
                tap.diag("browser: " + line)
        return Run(rc, steps, out, err, seconds)


# --- screenshots ---

def docs_image(path, name):
    """Copy a screenshot to docs/images/NAME in the source tree, only when
    ISPMAILD_DOCS_IMAGES=1 (regenerating the documentation's pictures);
    an ordinary run leaves the source tree alone. The copy's path, or None."""
    if os.environ.get("ISPMAILD_DOCS_IMAGES") != "1":
        return None
    if os.sep in name or not name.endswith(".png"):
        raise ValueError("docs_image: a plain NAME.png, not %r" % name)
    d = os.path.join(T.top_srcdir(), "docs", "images")
    os.makedirs(d, exist_ok=True)
    dest = os.path.join(d, name)
    shutil.copyfile(path, dest)
    return dest


def png_rows(path):
    """(width, height, rows) of a PNG as Chromium writes it (8 bits per
    channel, not interlaced): rows are the filtered scanlines, each with
    its filter byte. Raises ValueError for anything else."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("%s: not a PNG" % path)
    pos, idat, ihdr = 8, [], None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if ihdr is None:
        raise ValueError("%s: no IHDR" % path)
    width, height, depth, colour, _, _, interlace = ihdr
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise ValueError("%s: depth %d colour type %d interlace %d not read here"
                         % (path, depth, colour, interlace))
    raw = zlib.decompress(b"".join(idat))
    stride = 1 + width * channels
    if len(raw) != stride * height:
        raise ValueError("%s: %d bytes of pixels, want %d" % (path, len(raw), stride * height))
    return width, height, [raw[i:i + stride] for i in range(0, len(raw), stride)]


def png_distinct_rows(path):
    """How many different scanlines a PNG has. A page of one colour has
    one to three whatever the PNG filters (the first row, the rest); text,
    borders and fields make tens or hundreds: a screenshot is blank when
    this is small."""
    return len(set(png_rows(path)[2]))


def png_blank(path, threshold=8):
    return png_distinct_rows(path) < threshold
