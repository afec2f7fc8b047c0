#!/usr/bin/env python3
"""The web app in a real browser: starts abc_cuda_serve on a free loopback port, opens the page
in headless Chromium, waits for its model list, types meter 6/8, key G and seed 7 into the
controls and clicks Generate (through the DevTools protocol, as a user's input would arrive),
waits until the page marks itself done (data-status="done"), and
checks the page's own verdict (data-check="ok": the stream ended with `done`, every score <img>
and <audio> element loaded), the tune's M:6/8 and K:G, and a screenshot that is not blank.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe: JSON
messages ending in a NUL byte on fds 3 and 4), so no websocket module is needed; a streamed
response keeps headless Chromium's --virtual-time-budget from waiting for it, so --dump-dom
cannot be used here.

Usage: serve_browser_test.py SERVE_BINARY RUNS_DIR [SCREENSHOT.png]
"""
import base64
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

DEADLINE = time.monotonic() + 50  # ctest's limit is 60 s


def fail(message):
    print(f"serve_browser_test: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def start_server(binary, runs):
    server = subprocess.Popen([binary, "--runs", runs, "--port", "0", "--quiet"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not match:
        server.kill()
        fail(f"the server did not say where it listens: {line!r} {server.stderr.read()}")
    return server, int(match.group(1))


class Browser:
    """Headless Chromium with the DevTools protocol on a pipe."""

    def __init__(self, profile):
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if not chromium:
            fail("chromium not found: run tools/setup.sh")
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()
        # The browser reads commands on its fd 3 and writes answers on its fd 4 (dup2 leaves
        # those two open across exec; the pipes' own descriptors close there).
        def fds():
            r, w = os.dup(to_browser_r), os.dup(from_browser_w)  # out of the way of 3 and 4
            os.dup2(r, 3)
            os.dup2(w, 4)
        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             "--window-size=1280,1500", "--hide-scrollbars", "--mute-audio", "--no-first-run",
             f"--user-data-dir={profile}", "about:blank"],
            close_fds=False, preexec_fn=fds, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.next_id = 0
        self.buffer = b""

    def call(self, method, params=None, session=None):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self.buffer:
                if time.monotonic() > DEADLINE:
                    fail(f"no answer from Chromium to {method}")
                chunk = os.read(self.from_browser, 1 << 20)
                if not chunk:
                    fail(f"Chromium closed the pipe during {method}")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    fail(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def close(self):
        try:
            os.write(self.to_browser, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            self.proc.wait(timeout=5)
        except Exception:
            self.proc.kill()


def png_colours(path):
    """Distinct colours and the share of non-white pixels of an 8-bit RGB(A) PNG (stdlib only)."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{path} is not a PNG")
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour_type = struct.unpack(">IIBB", body[:10])
            if depth != 8 or colour_type not in (2, 6):
                fail(f"unexpected PNG format (depth {depth}, colour type {colour_type})")
            channels = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    prev = bytearray(stride)
    colours, ink = set(), 0
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):  # undo the PNG filter of this row
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        prev = line
        if y % 4 == 0:  # every 4th row is plenty to count
            for x in range(0, stride, channels * 2):
                pixel = bytes(line[x:x + 3])
                colours.add(pixel)
                ink += pixel != b"\xff\xff\xff"
    sampled = (height + 3) // 4 * ((width + 1) // 2)
    return len(colours), ink / max(sampled, 1)


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    binary, runs = sys.argv[1], sys.argv[2]
    shot = sys.argv[3] if len(sys.argv) == 4 else None
    work = tempfile.mkdtemp(prefix="serve_browser_")
    server, port = start_server(binary, runs)
    browser = None
    try:
        browser = Browser(os.path.join(work, "profile"))
        url = f"http://127.0.0.1:{port}/?max_len=400"  # short tunes keep the test fast
        target = browser.call("Target.createTarget", {"url": url})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

        def evaluate(expression):
            result = browser.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
            return result.get("result", {}).get("value")

        # The page is ready when its model list has arrived; then a user's settings and click.
        while not evaluate("document.getElementById('model').options.length > 0"):
            if time.monotonic() > DEADLINE:
                fail("the page never listed the models")
            time.sleep(0.1)
        evaluate("""(() => {
            const set = (id, v) => { const e = document.getElementById(id); e.value = v;
                                     e.dispatchEvent(new Event('input', {bubbles: true})); };
            set('meter', '6/8'); set('key', 'G'); set('n', '1');
            const random = document.getElementById('random');
            if (random.checked) random.click();  // a fixed seed: the test is repeatable
            set('seed', '7');
            document.getElementById('generate').click();
        })()""")
        status = None
        while status != "done":
            if time.monotonic() > DEADLINE:
                said = evaluate("document.getElementById('status').textContent")
                fail(f"the page did not finish (status {status!r}, it says {said!r})")
            time.sleep(0.2)
            status = evaluate("document.body.dataset.status || ''")
        check = evaluate("document.body.dataset.check")
        if check != "ok":
            fail(f"the page's check: {check}")
        facts = evaluate("""(() => {
            const img = document.querySelector('.tune img.score');
            const audio = document.querySelector('.tune audio');
            return {tunes: document.querySelectorAll('.tune').length,
                    abc: (document.querySelector('.tune pre') || {}).textContent || '',
                    svgWidth: img ? img.naturalWidth : 0, svgDone: img ? img.complete : false,
                    audioState: audio ? audio.readyState : -1, audioSeconds: audio ? audio.duration : 0,
                    meter: document.getElementById('meter').value, key: document.getElementById('key').value,
                    session: document.querySelectorAll('#session li').length};
        })()""")
        if facts["tunes"] != 1 or facts["session"] != 1:
            fail(f"expected one tune on the page and in the session list: {facts}")
        if "M:6/8" not in facts["abc"] or "K:G" not in facts["abc"]:
            fail(f"the tune is not in 6/8 and G: {facts['abc'][:200]!r}")
        if not facts["svgDone"] or facts["svgWidth"] <= 0:
            fail(f"the score did not load: {facts}")
        if facts["audioState"] < 1 or not facts["audioSeconds"] > 0:
            fail(f"the audio did not load: {facts}")
        if facts["meter"] != "6/8" or facts["key"] != "G":
            fail(f"the controls lost their values: {facts}")
        png = browser.call("Page.captureScreenshot", {"format": "png"}, session)["data"]
        path = os.path.join(work, "serve.png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(png))
        size = os.path.getsize(path)
        colours, ink = png_colours(path)
        if size < 20000 or colours < 30 or ink < 0.05:
            fail(f"the screenshot looks blank: {size} bytes, {colours} colours, {ink:.1%} not white")
        if shot:
            shutil.copyfile(path, shot)
        print(f"serve_browser_test: ok: score {facts['svgWidth']} px wide, audio {facts['audioSeconds']:.1f} s, "
              f"screenshot {size} bytes with {colours} colours ({ink:.0%} not white)")
    finally:
        if browser:
            browser.close()
        server.terminate()
        try:
            code = server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            code = "no exit within 10 s"
        shutil.rmtree(work, ignore_errors=True)
    if code != 0:
        fail(f"the server did not stop cleanly on SIGTERM: {code}")


if __name__ == "__main__":
    main()
