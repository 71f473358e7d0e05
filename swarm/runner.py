"""Run one node process: identity, transport, policy, node; until its rounds are done or it is stopped.

    asyncio.run(run_node(load_config("configs/testnet.yaml"), Path("runs/x/nodes/n0"), identity))

Writes ``out_dir/metrics.jsonl``, ``out_dir/health.json`` (`node.health`), ``out_dir/checkpoint/`` and
``out_dir/node.json`` (peer id, multiaddrs, model) and resumes from the checkpoint when one is there.

A generate-only node is paced to its publish cap (`publish_pace_s`): rounds faster than the cap allows
would generate groups that the transport may not publish (the issue saw 7% published at 0.2 s rounds).
"""

from __future__ import annotations

import asyncio
import json
import logging
import platform
from pathlib import Path

from protocol import Identity
from swarm.config import RunConfig
from swarm.secret_watch import watch_secret
from swarm.shutdown import stop_within
from swarm.transports.hivemind.logs import adopt_hivemind

logger = logging.getLogger(__name__)

def prepare_model(config: RunConfig) -> Path | None:
    """Build (or find) a preset's cached model exactly as `build_node` will load it; None for paths/hub ids.

    The build seed is `model.build_seed` (default 0): nodes with the same preset, warm-start families and
    build seed start from the same cached model, so a testnet builds each model once."""
    from node.models import MODEL_PRESETS, ensure_model

    model = config.node.model
    if model.name not in MODEL_PRESETS:
        return None
    return ensure_model(model, families=model.warm_start_families, seed=model.build_seed)


def _hardware() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda {torch.cuda.get_device_name(0)}"
    return f"cpu {platform.machine()} x{torch.get_num_threads()}"


PACE_MARGIN = 1.05
"""Publish slots are spaced a little wider than window / cap, so jitter in round times never fits one
record more into a window than the cap (the extra one would be held back, unpublished)."""


def publish_pace_s(config: RunConfig) -> float:
    """Shortest round of a generate-only node: one record per slot of the per-peer cap (0 for others)."""
    node, transport = config.node, config.transport
    if node.round.train or not node.round.publish or transport.type == "none":
        return 0.0
    return PACE_MARGIN * transport.window_seconds / transport.max_records_per_peer_per_window


def paced(config: RunConfig) -> RunConfig:
    """`config` with a generate-only node's `round.min_round_s` raised to its publish pace."""
    pace = publish_pace_s(config)
    if pace <= config.node.round.min_round_s:
        return config
    logger.info("generate-only: one round every %.2f s at least, so every round's record fits the publish cap "
                "(%d records per %g s window)", pace, config.transport.max_records_per_peer_per_window,
                config.transport.window_seconds)
    round_cfg = config.node.round.model_copy(update={"min_round_s": pace})
    return config.model_copy(update={"node": config.node.model_copy(update={"round": round_cfg})})


def build_node(config: RunConfig, out_dir: Path, identity: Identity, transport=None):
    """Assemble a `Node` from a config (no network I/O)."""
    import torch

    from node.algorithms import build_algorithm
    from node.health import HealthFile
    from node.metrics import JsonlMetrics
    from node.policy import Policy
    from node.rewards import build_reward_fn
    from node.round import Node
    from node.tasks import build_task_source

    cfg = paced(config).node
    if cfg.model.threads:
        torch.set_num_threads(cfg.model.threads)
    torch.manual_seed(cfg.round.seed)
    policy = Policy.load(cfg.model, seed=cfg.model.build_seed, families=cfg.model.warm_start_families)
    algorithm = build_algorithm(cfg.algorithm, policy) if cfg.round.train else None
    return Node(cfg, identity, policy, build_task_source(cfg.tasks), build_reward_fn(cfg.rewards), algorithm,
                transport, swarm_id=config.transport.swarm_id, window_seconds=config.transport.window_seconds,
                checkpoint_dir=out_dir / "checkpoint", metrics=JsonlMetrics(out_dir / "metrics.jsonl"),
                health=HealthFile(out_dir / "health.json"), name=out_dir.name)


async def run_node(config: RunConfig, out_dir: Path, identity: Identity) -> None:
    """Run a node to completion (see module docstring)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    transport, pending, reachability = await _start_transport(config, identity)
    adopt_hivemind()  # imported by now: its records go through our handlers, at our level
    node = build_node(config, out_dir, identity, transport)
    for t in (transport, pending):
        if t is not None:
            t.model, t.hardware = node.policy.name, _hardware()
    rejoin = asyncio.create_task(_rejoin(node, pending)) if pending is not None else None
    swarm = pending or transport
    secret = asyncio.create_task(watch_secret(swarm, config.transport.window_seconds)) if hasattr(swarm, "stats") else None
    try:
        if node.restore():
            node.restore_metrics()
        _write_node_info(out_dir, identity, config, transport, node.policy.name, reachability)
        await node.run()
    finally:
        node.metrics.close()
        for task in (rejoin, secret):
            if task is not None:
                task.cancel()
        for t in {id(x): x for x in (node.transport, transport, pending) if x is not None}.values():
            await stop_within(t.stop(), config.transport.shutdown_timeout_s, f"the {type(t).__name__}")


async def _start_transport(config: RunConfig, identity: Identity):
    """(transport to use now, transport still to join, reachability): `swarm.preflight` refuses what cannot
    work (`JoinError`); a swarm that may only be out of reach for now leaves the node training in silo
    while `_rejoin` keeps trying."""
    from swarm.transports import build_transport
    from swarm.transports.hivemind.startup import TransportStartupError

    transport_config, joinable, reachability = config.transport, True, ""
    if transport_config.type == "hivemind":
        from swarm.preflight import preflight

        plan = await preflight(transport_config)
        for note in plan.notes:
            logger.warning("%s", note)
        transport_config, joinable, reachability = plan.config, plan.joinable, plan.reachability
    transport = build_transport(transport_config, identity)
    try:
        if not joinable:
            raise TransportStartupError("no_initial_peer", "no bootstrap peer answers yet", tuple(transport_config.initial_peers))
        await transport.start()
        return transport, None, reachability
    except TransportStartupError as exc:
        logger.warning("cannot join the swarm (%s); training alone (silo) and retrying in the background", exc)
        silo = build_transport(transport_config.model_copy(update={"type": "none"}), identity)
        await silo.start()
        return silo, transport, reachability


async def _rejoin(node, transport, first_delay_s: float = 10.0, max_delay_s: float = 300.0) -> None:
    """Retry joining with backoff; once joined, the node's next round gossips again."""
    from swarm.transports.hivemind.startup import TransportStartupError

    delay = first_delay_s
    while True:
        await asyncio.sleep(delay)  # backoff between attempts: there is no event to await
        try:
            await transport.start()
        except TransportStartupError as exc:
            logger.info("still cannot join the swarm: %s", exc)
            delay = min(2 * delay, max_delay_s)
            continue
        node.transport = transport
        logger.warning("joined the swarm at round %d; no longer in silo", node.round)
        return


def _write_node_info(out_dir: Path, identity: Identity, config: RunConfig, transport, model: str, reachability: str = "") -> None:
    info = {
        "peer_id": identity.peer_id,
        "model": model,
        "model_build": _model_build(config),
        "hardware": _hardware(),
        "swarm_id": config.transport.swarm_id,
        "multiaddrs": [str(a) for a in getattr(transport, "visible_maddrs", [])],
        "reachability": reachability,
    }
    tmp = out_dir / ".node.json.tmp"
    tmp.write_text(json.dumps(info, indent=2))
    tmp.replace(out_dir / "node.json")
    logger.info("node %s (%s) running; info in %s", identity.peer_id, model, out_dir / "node.json")


def _model_build(config: RunConfig) -> dict | None:
    """The preset's build record (weights' sha256, package versions, build seed); None for a folder or hub id."""
    from node.models import build_info

    path = prepare_model(config)  # a cache hit: the node has loaded it already
    if path is None:
        return None
    info = build_info(path)
    return {"path": str(path), "build_seed": config.node.model.build_seed, "weights": info["weights"],
            "versions": info["versions"]}
