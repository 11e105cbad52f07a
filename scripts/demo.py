"""The local demo: sample meetings into notes/demo/, then sigbot live on a local Synapse.

Started by `make demo`. It installs Synapse into .venv-synapse the first time
(about half a minute), starts it on 127.0.0.1, registers the bot and a demo
user, creates a team room, and runs `sigbot run` in it until Ctrl-C. State
lives in var/demo/, so a second run reuses the users, the room and the notes.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from servers.synapse import Synapse, ensure_synapse, synapse_venv  # noqa: E402

STATE = ROOT / "var" / "demo"


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def api(base: str, method: str, path: str, token: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body or {}).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"{}")


def prepare(synapse: Synapse) -> dict:
    """Users and room, made once and remembered in var/demo/demo.json."""
    saved = STATE / "demo.json"
    if saved.exists():
        return json.loads(saved.read_text())
    demo = {"bot_password": secrets.token_hex(12), "user_password": secrets.token_hex(6)}
    demo["bot_id"] = synapse.register("sigbot", demo["bot_password"])
    demo["user_id"] = synapse.register("demo", demo["user_password"], admin=True)
    token = synapse.login("demo", demo["user_password"])
    room = api(synapse.base_url, "POST", "/_matrix/client/v3/createRoom", token,
               {"name": "Demo WG", "preset": "private_chat", "invite": [demo["bot_id"]]})
    demo["room_id"] = room["room_id"]
    saved.write_text(json.dumps(demo))
    return demo


def main() -> None:
    STATE.mkdir(parents=True, exist_ok=True)
    step("replaying the sample meetings into notes/demo/")
    subprocess.run([sys.executable, "-m", "bot", "demo"], cwd=ROOT, check=True)
    step("installing Synapse into .venv-synapse (first run only)")
    synapse = Synapse(ensure_synapse(synapse_venv()), STATE / "synapse")
    step("starting Synapse on 127.0.0.1")
    synapse.start()
    try:
        demo = prepare(synapse)
        config = STATE / "sigbot.toml"
        config.write_text(
            f'[bot]\ndata_dir = "."\nnotes_dir = "{ROOT / "notes"}"\n\n'
            f'[matrix]\nhomeserver = "{synapse.base_url}"\nuser_id = "{demo["bot_id"]}"\n'
            f'password_env = "SIGBOT_DEMO_PASSWORD"\n\n'
            f'[[teams]]\nname = "demo"\nmatrix_room = "{demo["room_id"]}"\ntimezone = "Europe/Berlin"\n')
        print(f"""
sigbot is starting in a local Matrix room. Take part with any Matrix client:
  homeserver: {synapse.base_url}
  user:       demo      password: {demo["user_password"]}
  room:       "Demo WG" ({demo["room_id"]}), already joined by the demo user
Say !help, then #startmeeting Demo, #topic ..., #info ..., #action ..., #endmeeting.
Minutes appear in notes/demo/. Ctrl-C stops sigbot and Synapse.
""", flush=True)
        env = {**os.environ, "SIGBOT_DEMO_PASSWORD": demo["bot_password"]}
        try:
            subprocess.run([sys.executable, "-m", "bot", "--config", str(config), "run"], cwd=STATE, env=env)
        except KeyboardInterrupt:
            pass
    finally:
        step("stopping Synapse")
        synapse.stop()


if __name__ == "__main__":
    main()
