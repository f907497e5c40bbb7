"""A real browser for the tests: tests/support/browser_driver.mjs (playwright-core from
web/node_modules driving Debian's chromium), one JSON command per line. Selectors are
Playwright's (CSS, `text=`...). Screenshots go to the test artifacts directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLAYWRIGHT_CORE = ROOT / "web" / "node_modules" / "playwright-core"
# Where screenshots land: FERRY_TEST_ARTIFACTS, else build/test-artifacts.
ARTIFACTS = Path(os.environ.get("FERRY_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts"))


def missing() -> str:
    """Why a browser cannot start here ('' when it can)."""
    if not shutil.which("node"):
        return "node is not installed (scripts/setup.sh installs it)"
    if not (PLAYWRIGHT_CORE / "index.mjs").exists():
        return f"{PLAYWRIGHT_CORE} is missing (the build's npm ci installs it)"
    if not Path(os.environ.get("FERRY_CHROMIUM", "/usr/bin/chromium")).exists():
        return "chromium is not installed (scripts/setup.sh installs it)"
    return ""


class BrowserError(AssertionError):
    pass


class Browser:
    def __init__(self, artifacts: Path = ARTIFACTS / "studio"):
        self.artifacts = artifacts
        self.artifacts.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "FERRY_PLAYWRIGHT_CORE": str(PLAYWRIGHT_CORE)}
        self.proc = subprocess.Popen(["node", str(Path(__file__).with_name("browser_driver.mjs"))],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)

    def _call(self, op: str, **args):
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise BrowserError(f"the browser driver exited: {self.proc.stderr.read() if self.proc.stderr else ''}")
        reply = json.loads(line)
        if not reply["ok"]:
            raise BrowserError(f"{op} {args}: {reply['error']}")
        return reply["value"]

    # Navigation and waiting (timeouts in seconds).
    def goto(self, url: str):
        self._call("goto", url=url)

    def wait(self, selector: str, timeout: float = 30, state: str = "visible"):
        self._call("wait", selector=selector, timeout=int(timeout * 1000), state=state)

    def wait_fn(self, fn: str, arg=None, timeout: float = 30):
        """Waits until the JS function body `fn` (sees `arg`) returns something truthy."""
        return self._call("waitFn", fn=fn, arg=arg, timeout=int(timeout * 1000))

    # Actions and reads.
    def click(self, selector: str):
        self._call("click", selector=selector)

    def fill(self, selector: str, value: str):
        self._call("fill", selector=selector, value=value)

    def press(self, selector: str, key: str):
        self._call("press", selector=selector, key=key)

    def select(self, selector: str, value: str):
        self._call("select", selector=selector, value=value)

    def check(self, selector: str):
        self._call("check", selector=selector)

    def download(self, selector: str, path: Path) -> str:
        """Clicks selector and saves the download to path; returns the suggested file name."""
        return self._call("download", selector=selector, path=str(path))

    def text(self, selector: str) -> str:
        return self._call("text", selector=selector)

    def attr(self, selector: str, name: str):
        return self._call("attr", selector=selector, name=name)

    def count(self, selector: str) -> int:
        return self._call("count", selector=selector)

    def eval(self, fn: str, arg=None):
        return self._call("eval", fn=fn, arg=arg)

    def screenshot(self, name: str, full_page: bool = False) -> Path:
        path = self.artifacts / f"{name}.png"
        self._call("screenshot", path=str(path), fullPage=full_page)
        return path

    def viewport(self, width: int, height: int):
        self._call("viewport", width=width, height=height)

    def new_context(self):
        """A fresh profile (no stored token)."""
        self._call("newContext")

    def console_errors(self) -> list[str]:
        return self._call("consoleErrors")

    def close(self):
        try:
            self._call("close")
        except (BrowserError, BrokenPipeError, OSError):
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
