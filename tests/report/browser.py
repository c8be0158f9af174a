"""Load a local HTML file in headless Chromium and report what it requested, showed and looked like.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: the
browser reads JSON commands, each ending in a NUL byte, on file descriptor 3 and writes replies
and events on descriptor 4), so no port is opened and nothing beyond Python and the Debian
``chromium`` package is needed. ``Network.enable`` makes the browser report every request the
page makes (``Network.requestWillBeSent``), including those that would fail; the browser is also
started with its host resolver mapped to nothing and an unreachable proxy, so a request that
slipped past the check could not leave the machine either.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--remote-debugging-pipe",
)
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")

# What the page shows, read with one script once it has loaded.
_SUMMARY_JS = """JSON.stringify({
  title: document.title,
  tables: document.querySelectorAll('table').length,
  images: Array.from(document.images).map(i => ({
    src: i.currentSrc.slice(0, 30), complete: i.complete, width: i.naturalWidth})),
  svgs: document.querySelectorAll('svg').length,
  headings: Array.from(document.querySelectorAll('h1,h2,h3')).map(h => h.textContent.trim()),
  height: document.documentElement.scrollHeight,
  text: document.body.innerText.slice(0, 20000),
})"""


def chromium_path() -> str | None:
    """The Chromium binary, or None when it is not installed."""
    return CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")


@dataclass
class PageVisit:
    """What loading one page did: every requested URL, a summary of the DOM, a PNG."""

    requests: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    screenshot: bytes = b""

    @property
    def network_requests(self) -> list[str]:
        """Requested URLs that are not local (file, data, about, blob)."""
        return [u for u in self.requests if not u.startswith(LOCAL_SCHEMES)]


class _Pipe:
    """The DevTools protocol over two pipes: ``send`` a command, ``call`` and wait for its reply."""

    def __init__(self, to_browser: int, from_browser: int) -> None:
        self._out, self._in = to_browser, from_browser
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, session: str | None = None, timeout: float = 60, **params: Any):
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)
        raise TimeoutError(f"no reply to {method} in {timeout} s")

    def wait_for(self, event: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = [e for e in self.events if e.get("method") == event]
        while not seen and time.monotonic() < deadline:
            message = self._read()
            self.events.append(message)
            if message.get("method") == event:
                return message
        if seen:
            return seen[0]
        raise TimeoutError(f"no {event} in {timeout} s")

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)


def _high_pipe() -> tuple[int, int]:
    """A pipe whose ends are numbered 10 or more, so moving them onto 3 and 4 clobbers nothing."""
    ends = []
    for fd in os.pipe():
        ends.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10))
        os.close(fd)
    return ends[0], ends[1]


def visit(html: Path, *, width: int = 1280, timeout: float = 90) -> PageVisit:
    """Open ``html`` in headless Chromium; return its requests, DOM summary and a full-page PNG."""
    binary = chromium_path()
    if binary is None:
        raise FileNotFoundError("chromium is not installed")
    cmd_r, cmd_w = _high_pipe()
    res_r, res_w = _high_pipe()

    def child_fds() -> None:  # runs in the child: the browser expects the pipes on fds 3 and 4
        os.dup2(cmd_r, 3)
        os.dup2(res_w, 4)

    with tempfile.TemporaryDirectory(prefix="confalign-chromium-") as profile:
        args = [binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},900"]
        proc = subprocess.Popen(
            [*args, "about:blank"],
            preexec_fn=child_fds,  # single-threaded test helper
            close_fds=False,  # keep 3 and 4 (the parent's own pipe ends are not inheritable)
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(cmd_r)
        os.close(res_w)
        pipe = _Pipe(cmd_w, res_r)
        try:
            return _drive(pipe, html, width, timeout)
        finally:
            with contextlib.suppress(RuntimeError, TimeoutError, OSError):
                pipe.call("Browser.close", timeout=10)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            os.close(cmd_w)
            os.close(res_r)


def _drive(pipe: _Pipe, html: Path, width: int, timeout: float) -> PageVisit:
    target = pipe.call("Target.createTarget", url="about:blank")["targetId"]
    session = pipe.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    pipe.call("Network.enable", session)
    pipe.call("Page.enable", session)
    pipe.call("Page.navigate", session, timeout=timeout, url=html.resolve().as_uri())
    pipe.wait_for("Page.loadEventFired", timeout=timeout)
    time.sleep(0.5)  # let late requests (none expected) show up as events
    result = pipe.call(
        "Runtime.evaluate", session, expression=_SUMMARY_JS, returnByValue=True, timeout=timeout
    )
    summary = json.loads(result["result"]["value"])
    height = min(int(summary["height"]), 16000)
    pipe.call(
        "Emulation.setDeviceMetricsOverride",
        session,
        width=width,
        height=height,
        deviceScaleFactor=1,
        mobile=False,
    )
    shot = pipe.call("Page.captureScreenshot", session, timeout=timeout, format="png")
    requests = [
        e["params"]["request"]["url"]
        for e in pipe.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    return PageVisit(requests, summary, base64.b64decode(shot["data"]))
