"""The ``swarm`` command: thin typer commands that parse, load the config and call one function.

    swarm testnet --nodes 4 --rounds 30        # a private swarm on this machine, live table, report
    swarm join --peers /ip4/1.2.3.4/tcp/31337/p2p/Qm...   # join a public swarm
    swarm identity show                          # where the key is and how to back it up

torch and hivemind are imported inside command bodies only, so ``--help`` is instant (prime-rl
`entrypoints/trainer.py`). Option help is the config field's docstring (one source, `doc`). A bad
config exits with status 2 and names the key; a runtime failure exits with 1.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, NoReturn, Optional

import typer
from pydantic import BaseModel
from rich.console import Console
from typing_extensions import Annotated

from node.config import ModelConfig, RoundConfig
from protocol import Identity, IdentityError
from swarm import logs, paths
from swarm.locks import STATE_LOCK, LockHeld, hold, key_lock_path
from swarm.config import ConfigError, RunConfig, TestnetConfig, load_config
from swarm.transports.config import TransportConfig

app = typer.Typer(help="sapo-swarm: swarm RL post-training of language models (SAPO).",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
identity_app = typer.Typer(help="Create, show, back up and restore this node's Ed25519 key.", no_args_is_help=True)
app.add_typer(identity_app, name="identity")
console = Console()
err = Console(stderr=True)


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


def doc(model: type[BaseModel], field: str) -> str:
    """A config field's docstring, used as the help of the option that sets it."""
    return model.model_fields[field].description or ""


SetOpt = Annotated[List[str], typer.Option("--set", help="Override any config key: section.key=value (repeatable).")]
IdentityOpt = Annotated[Optional[Path], typer.Option("--identity", help=doc(TransportConfig, "identity_path"))]
PeersOpt = Annotated[Optional[List[str]], typer.Option("--peers", help=doc(TransportConfig, "initial_peers"))]


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def load(path: Optional[Path], sets: list[str], options: dict[str, object] | None = None) -> RunConfig:
    """Load a config; command options first, then ``--set``, so ``--set`` has the last word."""
    overrides = [f"{k}={json.dumps(v)}" for k, v in (options or {}).items() if v not in (None, [])]
    try:
        return load_config(path, overrides + list(sets))
    except ConfigError as exc:
        fail(str(exc))


def identity_path(path: Optional[Path], config: RunConfig) -> Path:
    """The key file a command uses: --identity, else transport.identity_path, else the default."""
    return (path or Path(config.transport.identity_path or paths.default_identity_path())).expanduser()


@contextmanager
def node_locks(key: Path, out: Path) -> Iterator[None]:
    """Hold the identity's and the state folder's locks (`swarm.locks`); a second process is refused (exit 2)."""
    try:
        held = hold([key_lock_path(key), out / STATE_LOCK])
        held.__enter__()
    except LockHeld as exc:
        fail(str(exc))
    try:
        yield
    finally:
        held.__exit__(None, None, None)


def open_identity(path: Optional[Path], config: RunConfig, create: bool) -> Identity:
    path = identity_path(path, config)
    try:
        if create and not path.exists():
            Identity.generate().save(path)
            console.print(f"created a new identity at {path}; back it up with `swarm identity export --path {path}`",
                          highlight=False, soft_wrap=True)
        ident = Identity.load(path)
    except IdentityError as exc:
        fail(str(exc))
    console.print(f"identity {ident.peer_id} (key file {path})", highlight=False, soft_wrap=True)
    return ident


def check_peers(config: RunConfig) -> None:
    """Refuse placeholder or malformed multiaddrs before anything starts, naming the key."""
    from swarm.transports.hivemind.multiaddr import multiaddr_error

    for i, maddr in enumerate(config.transport.initial_peers):
        if "<" in maddr:
            fail(f"transport.initial_peers[{i}] is a placeholder ({maddr}): pass --peers with a real address")
        if (error := multiaddr_error(maddr)) is not None:
            fail(f"transport.initial_peers[{i}] is not a multiaddr: {error}")


def run_or_explain(fn, *args, stopped: str = "stopped") -> None:
    """Run a network function; a failed start becomes one clear line (exit 1), Ctrl-C/SIGTERM exit 130."""
    from swarm.transports import TransportStartupError

    try:
        fn(*args)
    except TransportStartupError as exc:
        fail(f"could not join the swarm ({exc.reason}): {exc}", code=1)
    except (KeyboardInterrupt, asyncio.CancelledError):
        err.print(stopped)
        raise typer.Exit(130)


RESUME = "stopped; rerun the same command to resume from the last checkpoint"


def show_up(info: dict) -> None:
    console.print(f"[bold green]up:[/] peer {info['peer_id']} ({info.get('model')}, {info.get('hardware')})")
    for maddr in info.get("multiaddrs", []):
        console.print(f"  {maddr}", highlight=False, soft_wrap=True)


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
    logs.configure(None, node=out.name, log_file=out / "node.log")  # the terminal and OUT/node.log
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
    set_: SetOpt = [],
) -> None:
    """Join an existing swarm and run unattended: the node runs as a supervised child process (restarted after
    a crash, resumed from its checkpoint); its per-round lines show here and in OUT/node.log."""
    options = {"transport.initial_peers": peers, "node.model.device": device, "transport.swarm_secret": secret,
               "node.round.train": False if generate_only else None, "node.model.name": None if model == "auto" else model}
    cfg = load(config or paths.shipped_config("join.yaml"), set_, options)
    if not cfg.transport.initial_peers:
        fail("swarm join needs --peers (or transport.initial_peers); to start a new swarm run `swarm bootstrap`")
    check_peers(cfg)
    from swarm import join as joining

    if model == "auto":
        from node.models import fit

        devices = [f"cuda:{g.strip()}" for g in gpus.split(",") if g.strip()] if gpus else [cfg.node.model.device]
        memory, kind = min(fit.device_memory(d) for d in devices)  # the smallest GPU decides for all
        choice = fit.pick_model(memory, kind, fit.round_shape(cfg.node, kind), force_lora=cfg.node.model.lora is not None)
        picked = {"node.model.name": choice.name, "node.model.lora": {} if choice.lora and cfg.node.model.lora is None else None,
                  "node.algorithm.micro_batch": choice.micro_batch if choice.micro_batch < cfg.node.algorithm.micro_batch else None}
        cfg = load(config or paths.shipped_config("join.yaml"), set_, {**options, **picked})
        console.print(f"--model auto: {choice.name}{' with LoRA' if choice.lora else ''}, {choice.reason}",
                      highlight=False, soft_wrap=True)
    out = out or paths.default_node_dir()
    logs.configure(None, node="join", log_file=out / "supervisor.log")
    try:
        if gpus:
            ids = [int(g) for g in gpus.split(",") if g.strip()]
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
    announce_maddr: Annotated[Optional[List[str]], typer.Option("--announce-maddr", help=doc(TransportConfig, "announce_maddrs"))] = None,
    peers: PeersOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Also write the multiaddrs to OUT/bootstrap.json.")] = None,
    set_: SetOpt = [],
) -> None:
    """Run a lightweight peer (no model, DHT only) and print the multiaddrs others join through."""
    cfg = load(config, set_, {"transport.host_maddrs": host_maddr, "transport.announce_maddrs": announce_maddr,
                              "transport.initial_peers": peers})
    check_peers(cfg)
    from swarm.bootstrap import serve

    def ready(maddrs: list[str]) -> None:
        console.print("[bold green]bootstrap peer up.[/] Share one of these with `swarm join --peers ...`:")
        for maddr in maddrs:
            console.print(f"  {maddr}", highlight=False, soft_wrap=True)

    run_or_explain(lambda: asyncio.run(_until_signal(serve(cfg.transport, out, ready))))


async def _until_signal(coro) -> None:
    import signal

    task = asyncio.ensure_future(coro)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await task


@app.command()
def status(
    run_dir: Annotated[Optional[Path], typer.Argument(help="A run folder: show each local node's progress.")] = None,
    peers: PeersOpt = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config (its transport section).")] = None,
    secret: Annotated[Optional[str], typer.Option("--secret", help=doc(TransportConfig, "swarm_secret"))] = None,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to listen for peer announcements.")] = 5.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print every local node's health.json (with stalled / "
                                                         "collapsing flags) under RUN_DIR as JSON, and nothing else.")] = False,
    set_: SetOpt = [],
) -> None:
    """Live peers of a swarm (model, software version, last window) and/or local nodes' progress and health."""
    from swarm.status import collect_peers, health_json, live_testnet, peers_table, progress_table

    if run_dir is None and not peers:
        fail("give --peers MADDR (a swarm to look at) and/or a RUN_DIR (local nodes)")
    if run_dir is not None:
        if not run_dir.is_dir():
            fail(f"no run folder at {run_dir}")
        if as_json:
            sys.stdout.write(health_json(run_dir) + "\n")
            return
        console.print(progress_table(run_dir))
        if not peers and (testnet := live_testnet(run_dir)):  # a running testnet: ask its swarm too
            config, peers = config or testnet[0], testnet[1]
    if peers:
        cfg = load(config, set_, {"transport.initial_peers": peers, "transport.swarm_secret": secret,
                                  "transport.type": "hivemind"})
        check_peers(cfg)
        found: list = []
        run_or_explain(lambda: found.extend(asyncio.run(collect_peers(cfg.transport, wait))))
        console.print(peers_table(found))


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


# ------------------------------------------------------------------ identity

PathOpt = Annotated[Optional[Path], typer.Option("--path", help="Key file (default: $SAPO_SWARM_HOME/identity.pem).")]
BACKUP = "Back it up with `swarm identity export{}` and keep the line like a password."


def _key_path(path: Optional[Path]) -> Path:
    return (path or paths.default_identity_path()).expanduser()


def _where(path: Path) -> str:
    flag = "" if path == paths.default_identity_path() else f" --path {path}"
    return f"key file: {path} (mode 0600). " + BACKUP.format(flag)


@identity_app.command("new")
def identity_new(path: PathOpt = None) -> None:
    """Create a new key; refuses to overwrite an existing one."""
    path = _key_path(path)
    try:
        ident = Identity.generate()
        ident.save(path)
    except IdentityError as exc:
        fail(str(exc), code=1)
    console.print(f"peer id: {ident.peer_id}\n{_where(path)}", highlight=False)


@identity_app.command("show")
def identity_show(path: PathOpt = None) -> None:
    """Print the peer id and where the key is stored."""
    path = _key_path(path)
    try:
        ident = Identity.load(path)
    except IdentityError as exc:
        fail(str(exc), code=1)
    console.print(f"peer id: {ident.peer_id}\n{_where(path)}", highlight=False)


@identity_app.command("export")
def identity_export(path: PathOpt = None) -> None:
    """Print the private key as one line (stdout) to store somewhere safe."""
    path = _key_path(path)
    try:
        line = Identity.load(path).export()
    except IdentityError as exc:
        fail(str(exc), code=1)
    err.print(f"private key of {path} follows; anyone holding it can sign as this node. "
              "Restore with `swarm identity import`.", highlight=False)
    sys.stdout.write(line + "\n")


@identity_app.command("import")
def identity_import(
    text: Annotated[Optional[str], typer.Argument(help="The exported line; read from stdin when left out.")] = None,
    path: PathOpt = None,
) -> None:
    """Restore a key from an exported line; refuses to overwrite an existing key file."""
    path = _key_path(path)
    try:
        ident = Identity.from_export(text if text is not None else sys.stdin.read())
        ident.save(path)
    except IdentityError as exc:
        fail(str(exc), code=1)
    console.print(f"restored peer id: {ident.peer_id}\n{_where(path)}", highlight=False)


if __name__ == "__main__":
    app()
