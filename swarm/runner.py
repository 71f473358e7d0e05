"""Run one node process: identity, transport, node, until its rounds are done or it is stopped."""

from __future__ import annotations

from pathlib import Path

from protocol import Identity
from swarm.config import RunConfig


async def run_node(config: RunConfig, out_dir: Path, identity: Identity) -> None:
    """Run a node to completion. Writes ``out_dir/metrics.jsonl``, ``out_dir/checkpoint/``,
    ``out_dir/node.json`` (peer id, multiaddrs, model) and resumes from the checkpoint if present."""
    raise NotImplementedError("being written")
