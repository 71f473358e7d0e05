"""The ``swarm`` command: thin typer commands that parse, load the config and call one function.

    swarm testnet --nodes 4 --rounds 30        # a private swarm on this machine, live table, report
    swarm join --peers /ip4/1.2.3.4/tcp/31337/p2p/Qm...   # join a public swarm
    swarm doctor --peers /ip4/1.2.3.4/tcp/31337/p2p/Qm... # will joining work from here?

torch and hivemind are imported inside command bodies only, so ``--help`` is instant (prime-rl
`entrypoints/trainer.py`). Option help is the config field's docstring (one source, `doc`). A bad
config exits with status 2 and names the key; a runtime failure exits with 1. What the commands share
(consoles, options, loading, the checks before anything heavy) is in `swarm.cli_base`.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer
from typing_extensions import Annotated

from node.config import ModelConfig, RoundConfig
from swarm import logs, paths
from swarm.cli_base import (RESUME, AnnounceOpt, IdentityOpt, PeersOpt, PortOpt, SetOpt, auto_model_config,
                            check_bootstraps_reachable, check_node, check_peers, console, doc, err, fail, gpu_ids,
                            identity_path, listen_on, load, node_locks, open_identity, prepare_model, run_or_explain,
                            show_up)
from swarm.config import RunConfig, TestnetConfig
from swarm.identity_cli import identity_app
from swarm.locks import LockHeld
from swarm.transports.config import TransportConfig

app = typer.Typer(help="sapo-swarm: swarm RL post-training of language models (SAPO).",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
app.add_typer(identity_app, name="identity")


@app.callback()
def main(log_level: Annotated[Optional[str], typer.Option(
        "--log-level", help=f"debug, info, warning or error (default: ${logs.ENV_LEVEL}, else info).")] = None) -> None:
    """Configure logging once for every command (node processes started from here inherit the level)."""
    try:
        logs.configure(log_level)
    except ValueError as exc:
        fail(str(exc))
    if log_level:
        os.environ[logs.ENV_LEVEL] = log_level


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="YAML config file.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for metrics.jsonl, node.json and checkpoints.")],
    identity: IdentityOpt = None,
    set_: SetOpt = [],
) -> None:
    """Run ONE node in this process until its rounds are done (what `swarm testnet` and `swarm join` spawn)."""
    cfg = load(config, set_)
    check_peers(cfg)
    check_node(cfg, [out], [])
    logs.configure(None, node=out.name, log_file=out / "node.log")  # the terminal and OUT/node.log
    prepare_model(cfg)
    ident = open_identity(identity, cfg, create=True)
    from swarm.join import run_here

    with node_locks(identity_path(identity, cfg), out):
        run_or_explain(run_here, cfg, out, ident, show_up, stopped=RESUME)


@app.command()
def testnet(
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config (default: configs/testnet.yaml).")] = None,
    nodes: Annotated[Optional[int], typer.Option("--nodes", help=doc(TestnetConfig, "nodes"))] = None,
    rounds: Annotated[Optional[int], typer.Option("--rounds", help=doc(RoundConfig, "rounds"))] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Run folder (default: runs/<timestamp>).")] = None,
    set_: SetOpt = [],
) -> None:
    """Start a private swarm on this machine: a bootstrap peer and N node processes on loopback."""
    cfg = load(config or paths.shipped_config("testnet.yaml"), set_, {"testnet.nodes": nodes, "node.round.rounds": rounds})
    if out is not None and out.is_dir() and any(out.iterdir()):
        fail(f"{out} is not empty; a testnet writes fresh identities and metrics: choose a new --out")
    from swarm.testnet import Testnet

    raise typer.Exit(Testnet(cfg, out or paths.new_run_dir(), console).run())


@app.command()
def join(
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config (default: configs/join.yaml).")] = None,
    peers: PeersOpt = None,
    model: Annotated[Optional[str], typer.Option("--model", help=doc(ModelConfig, "name") + " Or auto: fits this device.")] = None,
    device: Annotated[Optional[str], typer.Option("--device", help=doc(ModelConfig, "device"))] = None,
    identity: IdentityOpt = None,
    secret: Annotated[Optional[str], typer.Option("--secret", help=doc(TransportConfig, "swarm_secret"))] = None,
    gpus: Annotated[Optional[str], typer.Option("--gpus", help="One node per GPU, e.g. 0,1 (each its own identity).")] = None,
    generate_only: Annotated[bool, typer.Option("--generate-only", help="Generate and publish only; never train.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="State folder; a restart resumes from it (default: $SAPO_SWARM_HOME/node).")] = None,
    port: PortOpt = None,
    announce_maddr: AnnounceOpt = None,
    set_: SetOpt = [],
) -> None:
    """Join an existing swarm and run unattended: the node runs as a supervised child process (restarted after
    a crash, resumed from its checkpoint); its per-round lines show here and in OUT/node.log."""
    options = {"transport.initial_peers": peers, "node.model.device": device, "transport.swarm_secret": secret,
               "node.round.train": False if generate_only else None, "node.model.name": None if model == "auto" else model,
               "transport.host_maddrs": listen_on(port),
               "transport.announce_maddrs": announce_maddr}
    cfg = load(config or paths.shipped_config("join.yaml"), set_, options)
    if not cfg.transport.initial_peers:
        fail("swarm join needs --peers (or transport.initial_peers); to start a new swarm run `swarm bootstrap`")
    check_peers(cfg)
    out = out or paths.default_node_dir()
    ids = gpu_ids(gpus)
    folders = [out / f"gpu{g}" for g in ids] if ids else [out]
    check_node(cfg, folders, ids, model_named=model != "auto")
    check_bootstraps_reachable(cfg)
    if model == "auto":
        cfg = auto_model_config(cfg, config, set_, options, folders, ids)
    from swarm import join as joining

    prepare_model(cfg)
    logs.configure(None, node="join", log_file=out / "supervisor.log")
    try:
        if ids:
            base = identity or paths.swarm_home() / "identity.pem"
            keys = [base.with_name(f"{base.stem}-gpu{g}{base.suffix}") for g in ids]
            for key in keys:
                open_identity(key, cfg, create=True)
            raise typer.Exit(joining.run_per_gpu(cfg, ids, out, keys, console))
        key = identity_path(identity, cfg)
        ident = open_identity(key, cfg, create=True)
        console.print(f"joining swarm {cfg.transport.swarm_id} as {ident.peer_id} (state in {out}; log {out / 'node.log'})",
                      highlight=False, soft_wrap=True)
        code = joining.run_supervised(cfg, out, key, console)
    except LockHeld as exc:
        fail(str(exc))
    if code == 130:
        err.print(RESUME)
    raise typer.Exit(code)


@app.command()
def bootstrap(
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config (its transport section).")] = None,
    host_maddr: Annotated[Optional[List[str]], typer.Option("--host-maddr", help=doc(TransportConfig, "host_maddrs"))] = None,
    announce_maddr: AnnounceOpt = None,
    port: PortOpt = None,
    identity: Annotated[Optional[Path], typer.Option("--identity", help="Key file this peer's id is derived from, "
                                                     "so its address survives restarts (created if missing).")] = None,
    peers: PeersOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Also write the multiaddrs to OUT/bootstrap.json.")] = None,
    set_: SetOpt = [],
) -> None:
    """Run a lightweight peer (no model, DHT only) and print the multiaddrs others join through."""
    options = {"transport.host_maddrs": host_maddr or listen_on(port),
               "transport.announce_maddrs": announce_maddr, "transport.initial_peers": peers,
               "transport.identity_path": str(identity.expanduser()) if identity else None,
               "transport.stable_peer_id": True if identity else None}
    defaults = ["transport.shutdown_timeout_s=0.5"]  # nothing to save: leave at once
    if config is None:  # the swarm id `swarm join` and `swarm status` default to
        defaults.append(f"transport.swarm_id={load(paths.shipped_config('join.yaml'), []).transport.swarm_id}")
    cfg = load(config, [*defaults, *set_], options)
    check_peers(cfg)
    if identity is not None:
        open_identity(identity, cfg, create=True)
    from swarm.ports import taken_port

    if (taken := taken_port(list(cfg.transport.host_maddrs))) is not None:
        fail(f"{taken} is already in use (another bootstrap or node?): choose another with --port", code=1)
    from swarm.bootstrap import listen_notes, run_until_signal, serve

    def ready(maddrs: list[str]) -> None:
        console.print("[bold green]bootstrap peer up.[/] Share one of these with `swarm join --peers ...`:")
        for maddr in maddrs:
            console.print(f"  {maddr}", highlight=False, soft_wrap=True)
        for note in listen_notes(cfg.transport, maddrs, stable_id=identity is not None):
            err.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)

    run_or_explain(lambda: asyncio.run(run_until_signal(serve(cfg.transport, out, ready))))


@app.command()
def status(
    run_dir: Annotated[Optional[Path], typer.Argument(help="A run folder: show each local node's progress.")] = None,
    peers: PeersOpt = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config (default: configs/join.yaml, as `swarm join`).")] = None,
    secret: Annotated[Optional[str], typer.Option("--secret", help=doc(TransportConfig, "swarm_secret"))] = None,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to listen for peer announcements.")] = 5.0,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of tables: the peers seen (with --peers), else "
                                          "every local node's health.json under RUN_DIR (stalled / collapsing flags).")] = False,
    set_: SetOpt = [],
) -> None:
    """Live peers of a swarm (model, software version, last window) and/or local nodes' progress and health."""
    from swarm.status import health_json, live_testnet, progress_table

    if run_dir is None and not peers:
        fail("give --peers MADDR (a swarm to look at) and/or a RUN_DIR (local nodes)")
    if run_dir is not None:
        if not run_dir.is_dir():
            fail(f"no run folder at {run_dir}")
        if as_json and not peers:
            sys.stdout.write(health_json(run_dir) + "\n")
            return
        if not as_json:
            console.print(progress_table(run_dir))
        if not peers and (testnet := live_testnet(run_dir)):  # a running testnet: ask its swarm too
            config, peers = config or testnet[0], testnet[1]
    if peers:
        cfg = load(config or paths.shipped_config("join.yaml"), set_, {"transport.initial_peers": peers,
                                                                     "transport.swarm_secret": secret})
        check_peers(cfg)
        status_peers(cfg, wait, as_json)


def status_peers(cfg: RunConfig, wait: float, as_json: bool) -> None:
    """`swarm status --peers` (`swarm.live_peers`): exit 1 when no bootstrap peer answers."""
    from swarm.live_peers import look, show

    views: list = []
    run_or_explain(lambda: views.append(asyncio.run(look(cfg.transport, wait))))
    if (message := show(views[0], as_json, console, err)) is not None:
        fail(f"could not join the swarm: {message}", code=1)
    raise typer.Exit(0 if any(c.ok for c in views[0].checks) else 1)


@app.command()
def doctor(
    peers: PeersOpt = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config (default: configs/join.yaml, as `swarm join`).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help=doc(ModelConfig, "name"))] = None,
    device: Annotated[Optional[str], typer.Option("--device", help=doc(ModelConfig, "device"))] = None,
    identity: IdentityOpt = None,
    secret: Annotated[Optional[str], typer.Option("--secret", help=doc(TransportConfig, "swarm_secret"))] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="State folder the node would use (default: $SAPO_SWARM_HOME/node).")] = None,
    port: PortOpt = None,
    announce_maddr: AnnounceOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    set_: SetOpt = [],
) -> None:
    """Check that joining works from here: PASS/FAIL with the fix for each check; exit 0 only if all pass."""
    options = {"transport.initial_peers": peers, "node.model.name": model, "node.model.device": device,
               "transport.swarm_secret": secret, "transport.announce_maddrs": announce_maddr,
               "transport.host_maddrs": listen_on(port)}
    cfg = load(config or paths.shipped_config("join.yaml"), set_, options)
    if not cfg.transport.initial_peers:
        fail("swarm doctor needs --peers (the bootstrap addresses you would join through)")
    check_peers(cfg)
    from swarm.doctor import run_doctor, show_doctor

    key = (identity or Path(cfg.transport.identity_path or paths.default_identity_path())).expanduser()
    found: list = []
    run_or_explain(lambda: found.extend(asyncio.run(run_doctor(cfg, key, out or paths.default_node_dir()))))
    raise typer.Exit(show_doctor(found, as_json, console))


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="A run folder (swarm testnet) or a node's --out folder.")]) -> None:
    """Summary table, summary.json and PNG plots from a run's metrics."""
    from swarm.report import build_report, node_dirs, summary_table

    if not run_dir.is_dir() or not node_dirs(run_dir):
        fail(f"no node metrics under {run_dir} (expected nodes/<name>/metrics.jsonl or metrics.jsonl)")
    summary, plots = build_report(run_dir)
    console.print(summary_table(summary))
    console.print(f"wrote {run_dir / 'summary.json'}, " + ", ".join(str(p) for p in plots), highlight=False)


@app.command("config")
def config_(
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config (default: all defaults).")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Also list each plug-in (sampler strategy, split, "
                                          "algorithm): every option with its value and docstring, and the types it may take.")] = False,
    set_: SetOpt = [],
) -> None:
    """Validate a config (unknown keys, types and options are refused, named) and print it resolved; starts nothing."""
    import yaml

    cfg = load(config, set_)
    console.print(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), markup=False, highlight=False, soft_wrap=True)
    if explain:
        from swarm.explain import catalogue, explain as explain_plugins

        console.print(explain_plugins(cfg) + "\n\n" + catalogue(), markup=False, highlight=False, soft_wrap=True)


if __name__ == "__main__":
    app()
