"""A poisoning swarm node as a process: a normal `swarm run` node whose published batches are rewritten first.

    python tests/swarm/poison_node.py CONFIG.yaml OUT_DIR IDENTITY.pem b_prefix

The node follows the honest recipe (draws its tasks, samples, scores), then `benchmarks/poison/attacks.py`'s
`Rewriter` turns half of each shared group into the attack's completions before the transport signs and
publishes the batch: valid, signed records whose completions earn reward and carry something else.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from benchmarks.poison.attacks import Rewriter  # noqa: E402
from protocol import Identity  # noqa: E402
from swarm import runner  # noqa: E402
from swarm.config import load_config  # noqa: E402


def poisoning(attack: str):
    honest_build = runner.build_node

    def build(config, out_dir, identity, transport=None):
        node = honest_build(config, out_dir, identity, transport)
        rewrite = Rewriter(attack, node.tasks, share=0.5, seed=0, max_tokens=config.node.model.max_new_tokens)
        publish = node.transport.publish
        node.transport.publish = lambda batch: publish(rewrite(batch))
        return node

    return build


def main() -> None:
    config_path, out_dir, identity_path, attack = sys.argv[1:5]
    logging.basicConfig(level=os.environ.get("SAPO_LOG", "WARNING"), stream=sys.stderr)
    runner.build_node = poisoning(attack)
    asyncio.run(runner.run_node(load_config(config_path), Path(out_dir), Identity.load(identity_path)))


if __name__ == "__main__":
    main()
