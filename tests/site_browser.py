"""A real headless Chromium (Debian's `chromium`), driven over the DevTools protocol.

No browser download and no WebDriver: Chromium is started with
--remote-debugging-port=0, writes the port it chose into DevToolsActivePort in
its fresh profile folder, and we speak CDP over a websocket (aiohttp, already
installed with matrix-nio). Every JavaScript dialog is recorded and dismissed,
so a test can assert that none opened.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-debugging-port=0", "--window-size=1200,900"]


class Browser:
    def __init__(self) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="sigbot-chromium-"))
        self.process: subprocess.Popen | None = None
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = 0
        self._waiting: dict[int, asyncio.Future] = {}
        self.events: list[dict] = []
        self._reader: asyncio.Task | None = None

    async def __aenter__(self) -> Browser:
        if not Path(CHROMIUM).exists():
            raise RuntimeError("chromium is not installed: run scripts/system-deps.sh (apt-get install chromium)")
        self.process = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and len(port_file.read_text().split()) >= 2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("chromium did not start its DevTools endpoint")
            await asyncio.sleep(0.05)
        port, path = port_file.read_text().split()[:2]
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=64 * 1024 * 1024)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._reader:
            self._reader.cancel()
        if self.ws:
            await self.ws.close()
        if self.session:
            await self.session.close()
        if self.process:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self._waiting:
                self._waiting.pop(data["id"]).set_result(data)
            elif "method" in data:
                self.events.append(data)
                if data["method"] == "Page.javascriptDialogOpening":
                    asyncio.create_task(self.send("Page.handleJavaScriptDialog", {"accept": False},
                                                  data.get("sessionId")))

    async def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        assert self.ws is not None
        self._ids += 1
        future = asyncio.get_running_loop().create_future()
        self._waiting[self._ids] = future
        message: dict = {"id": self._ids, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        await self.ws.send_str(json.dumps(message))
        reply = await asyncio.wait_for(future, 60)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    async def new_page(self) -> Page:
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        page = Page(self, attached["sessionId"])
        for domain in ("Page.enable", "Runtime.enable"):
            await page.send(domain)
        return page

    def dialogs(self) -> list[dict]:
        return [e["params"] for e in self.events if e["method"] == "Page.javascriptDialogOpening"]


class Page:
    def __init__(self, browser: Browser, session: str):
        self.browser = browser
        self.session = session

    async def send(self, method: str, params: dict | None = None) -> dict:
        return await self.browser.send(method, params, self.session)

    async def goto(self, url: str) -> None:
        seen = len(self.browser.events)
        await self.send("Page.navigate", {"url": url})
        await self.wait_for_event("Page.loadEventFired", seen)

    async def wait_for_event(self, method: str, after: int = 0, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.browser.events[after:]:
                if event["method"] == method and event.get("sessionId") == self.session:
                    return event
            await asyncio.sleep(0.02)
        raise TimeoutError(f"no {method} within {timeout} s")

    async def js(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                      "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 30) -> Any:
        """Poll a JS expression until it is truthy (page scripts run asynchronously). A poll that meets a
        navigation (after a click) is answered "Inspected target navigated or closed" or "Execution context
        was destroyed": the page is changing, which is what is awaited, so it is polled again."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = await self.js(expression)
            except RuntimeError as exc:
                if not any(m in str(exc) for m in ("navigated or closed", "context was destroyed")):
                    raise
                value = None
            if value:
                return value
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{expression} stayed false for {timeout} s")

    async def set_viewport(self, width: int, height: int, dark: bool | None = None) -> None:
        """The window's size, and the system colour scheme the page sees (None: Chromium's default)."""
        await self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                                "deviceScaleFactor": 1, "mobile": False})
        if dark is not None:
            await self.send("Emulation.setEmulatedMedia", {"features": [
                {"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]})

    async def screenshot(self, path: Path, full: bool = True) -> None:
        shot = await self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": full})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    async def type_text(self, text: str) -> None:
        for ch in text:
            await self.send("Input.dispatchKeyEvent", {"type": "char", "text": ch})

    async def press_enter(self) -> None:
        for kind in ("keyDown", "keyUp"):
            await self.send("Input.dispatchKeyEvent", {"type": kind, "key": "Enter", "code": "Enter",
                                                       "windowsVirtualKeyCode": 13, "text": "\r"})
