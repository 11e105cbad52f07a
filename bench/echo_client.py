"""The floor of the Matrix round trip: a minimal client that answers `!echo` at once.

Run as its own process, like sigbot, through the same homeserver:
    python echo_client.py HOMESERVER USER_ID PASSWORD ROOM_ID
"""

import asyncio
import sys

from nio import AsyncClient


async def main(homeserver: str, user_id: str, password: str, room_id: str) -> None:
    client = AsyncClient(homeserver, user_id)
    await client.login(password)
    await client.join(room_id)
    resp = await client.sync(timeout=0)
    token = resp.next_batch
    print("echo ready", flush=True)
    while True:
        resp = await client.sync(timeout=30_000, since=token)
        token = getattr(resp, "next_batch", token)
        for room in getattr(getattr(resp, "rooms", None), "join", {}).values():
            for event in room.timeline.events:
                body = event.source.get("content", {}).get("body", "")
                if event.source.get("sender") != user_id and body.startswith("!echo"):
                    await client.room_send(room_id, "m.room.message", {"msgtype": "m.notice", "body": body[1:]})


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
