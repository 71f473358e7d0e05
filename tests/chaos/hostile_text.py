"""Records whose ids and subkeys are hostile text (issue 23, item 5): to flood or take over a node's log.

Each record comes from a fresh signing key (a fresh peer id per record: a log deduplicated by claimed
peer id writes one line per record), and carries text meant for a terminal: ESC sequences that clear
the screen, a newline followed by a forged log line, 10 kB ids. Four kinds, in turn:

- ``fresh_signer``: a valid batch signed by a fresh key, stored under its own subkey and the current
  window's key but naming an older window: refused as wrong_window after its signature verified;
- ``escape_slot``: a valid batch under ``<peer id>.<ESC, newline, 10 kB>``: refused as schema (slot);
- ``escape_owner``: junk under a subkey that is all hostile text (the claimed owner): malformed;
- ``escape_key``: a valid batch pushed under a key with hostile text after it: wrong_swarm (push only).

    records = hostile_text_records("t", window=123, num_shards=2, count=400)
    for r in records: ...store (r.key, r.subkey, r.value) and/or push it
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from protocol import Identity, seal
from protocol.keys import record_key, record_subkey, shard_of
from tests.chaos.flood import small_batch

ESC = "\x1b"
FORGED_LINE = "\nround 999 reward 1.000 external 8/8 peers 99"
SCREEN = f"{ESC}[2J{ESC}[H{ESC}]0;owned\x07"
"""Clear the screen, home the cursor, set the window title."""
KINDS = ("fresh_signer", "escape_slot", "escape_owner", "escape_key")


@dataclass(frozen=True)
class HostileText:
    kind: str
    key: str
    subkey: str
    value: bytes
    push_only: bool = False


def hostile_text_records(swarm_id: str, window: int, num_shards: int, count: int, tag: str = "t") -> list[HostileText]:
    out = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        fresh = Identity.generate()
        key = record_key(swarm_id, window, shard_of(fresh.peer_id, num_shards))
        batch_id = f"hostile-text-{tag}-{i}{SCREEN}{FORGED_LINE}"
        if kind == "fresh_signer":
            value = seal(small_batch(fresh, swarm_id, window - 10, batch_id), fresh)
            out.append(HostileText(kind, key, record_subkey(fresh.peer_id, 0), value))
        elif kind == "escape_slot":
            value = seal(small_batch(fresh, swarm_id, window, batch_id), fresh)
            out.append(HostileText(kind, key, f"{fresh.peer_id}.{SCREEN}{FORGED_LINE}" + "9" * 10_000, value))
        elif kind == "escape_owner":
            junk = f"{SCREEN}{FORGED_LINE}".encode() + os.urandom(64)
            out.append(HostileText(kind, key, f"sw{SCREEN}{FORGED_LINE}" + "A" * 10_000, junk))
        else:
            value = seal(small_batch(fresh, swarm_id, window, batch_id), fresh)
            out.append(HostileText(kind, key + SCREEN + FORGED_LINE + "B" * 10_000, record_subkey(fresh.peer_id, 0), value,
                                   push_only=True))
    return out
