#!/usr/bin/env python3
"""Renders `foresight plan`'s report.html in headless Chromium and checks it.

Usage: browser_check.py FORESIGHT_BINARY WORK_DIR

Runs `foresight plan` with its defaults into WORK_DIR/plan, then:
  * --dump-dom: every <svg> in the rendered DOM has drawing children (path
    with data or rect), and there are as many as report.html contains;
  * --screenshot at 1400x3000: the PNG has those dimensions and is not blank
    (enough non-white pixels, several colours);
  * --enable-logging=stderr: no console errors (CONSOLE / Uncaught lines).
Exits 77 (ctest: skipped) with a message when no Chromium is installed.
"""
import html.parser
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def png_pixels(path):
    """Decodes an 8-bit RGB/RGBA non-interlaced PNG: (width, height, rows of bytes, channels)."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, width = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or colour not in (2, 6) or interlace:
                raise ValueError(f"{path}: unsupported PNG (depth {depth}, colour {colour})")
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows, channels


class SvgCounter(html.parser.HTMLParser):
    """Counts <svg> elements and, per svg, its drawing children."""

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.drawn = []  # per svg: number of path-with-data / rect / circle children

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg":
            self.depth += 1
            self.drawn.append(0)
        elif self.depth and ((tag == "path" and a.get("d", "").startswith("M")) or
                             tag in ("rect", "circle")):
            self.drawn[-1] += 1

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag == "svg":
            self.depth -= 1

    def handle_endtag(self, tag):
        if tag == "svg":
            self.depth -= 1


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    foresight, work = sys.argv[1], sys.argv[2]
    chromium = find_chromium()
    if not chromium:
        print("SKIPPED: no chromium installed (apt-get install chromium); the HTML report "
              "was not checked in a browser")
        return 77
    out = os.path.join(work, "plan")
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([foresight, "plan", "--quiet", "--out", out], check=True,
                   stdout=subprocess.DEVNULL)
    report = os.path.join(out, "report.html")
    url = "file://" + os.path.abspath(report)
    src = SvgCounter()
    src.feed(open(report, encoding="utf-8").read())
    failures = []

    with tempfile.TemporaryDirectory() as profile:
        base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                f"--user-data-dir={profile}", "--window-size=1400,3000"]
        dom = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True,
                             timeout=90)
        shot = os.path.join(work, "report.png")
        if os.path.exists(shot):
            os.remove(shot)
        logged = subprocess.run(base + ["--enable-logging=stderr", "--v=0",
                                        f"--screenshot={shot}", url],
                                capture_output=True, text=True, timeout=90)

    rendered = SvgCounter()
    rendered.feed(dom.stdout)
    print(f"report.html: {len(src.drawn)} svg; rendered DOM: {len(rendered.drawn)} svg, "
          f"{sum(1 for d in rendered.drawn if d > 0)} with drawing children")
    if len(src.drawn) < 10:
        failures.append(f"report.html has only {len(src.drawn)} plots")
    if len(rendered.drawn) != len(src.drawn):
        failures.append("the browser's DOM does not hold every svg of report.html")
    empty = [i for i, d in enumerate(rendered.drawn) if d == 0]
    if empty:
        failures.append(f"svg number(s) {empty} rendered with no drawing children")

    console = [l for l in (logged.stderr + dom.stderr).splitlines()
               if "CONSOLE" in l or "Uncaught" in l or "Failed to load resource" in l]
    if console:
        failures.append("console errors:\n  " + "\n  ".join(console))

    if not os.path.exists(shot):
        failures.append("no screenshot written:\n" + logged.stderr[-2000:])
    else:
        w, h, rows, ch = png_pixels(shot)
        colours, ink = set(), 0
        for row in rows[::4]:
            for x in range(0, w * ch, ch * 4):
                px = row[x:x + 3]
                colours.add(px)
                if px != b"\xff\xff\xff":
                    ink += 1
        sampled = len(rows[::4]) * len(range(0, w * ch, ch * 4))
        print(f"screenshot {shot}: {w}x{h}, {len(colours)} colours, "
              f"{100.0 * ink / sampled:.1f}% non-white")
        if (w, h) != (1400, 3000):
            failures.append(f"screenshot is {w}x{h}, expected 1400x3000")
        if len(colours) < 16 or ink < 0.05 * sampled:
            failures.append("screenshot looks blank")
    if failures:
        print("FAILED:\n" + "\n".join(failures))
        return 1
    print("OK: the report renders in Chromium with every plot drawn")
    return 0


if __name__ == "__main__":
    sys.exit(main())
