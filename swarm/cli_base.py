"""What the ``swarm`` commands share: the consoles, option types, config loading, failing in one line, the
identity and its locks, and the checks that run before anything heavy (`swarm.cli` holds the commands).

    cfg = load(paths.shipped_config("join.yaml"), ["node.round.rounds=5"])
    check_peers(cfg); check_node(cfg, [out], [])        # one `error:` line and exit 2 on a mistake

Nothing here imports torch or hivemind at import time.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, NoReturn, Optional

import typer
from pydantic import BaseModel
from rich.console import Console
from typing_extensions import Annotated

from protocol import Identity, IdentityError
from swarm import paths
from swarm.config import ConfigError, RunConfig, load_config
from swarm.locks import STATE_LOCK, LockHeld, hold, key_lock_path
from swarm.maddr import AddressError, parse_peer_maddr
from swarm.transports.config import TransportConfig

console = Console()
err = Console(stderr=True)


def doc(model: type[BaseModel], field: str) -> str:
    """A config field's docstring, used as the help of the option that sets it."""
    return model.model_fields[field].description or ""


SetOpt = Annotated[List[str], typer.Option("--set", help="Override any config key: section.key=value (repeatable).")]
IdentityOpt = Annotated[Optional[Path], typer.Option("--identity", help=doc(TransportConfig, "identity_path"))]
PeersOpt = Annotated[Optional[List[str]], typer.Option("--peers", help=doc(TransportConfig, "initial_peers"))]

PortOpt = Annotated[Optional[int], typer.Option("--port", help="Listen on all interfaces on this TCP port (sets transport.host_maddrs).")]
AnnounceOpt = Annotated[Optional[List[str]], typer.Option("--announce-maddr", help=doc(TransportConfig, "announce_maddrs"))]


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
    """Refuse placeholder or incomplete multiaddrs before anything starts (no hivemind import), naming the key."""
    for i, maddr in enumerate(config.transport.initial_peers):
        try:
            parse_peer_maddr(maddr)
        except AddressError as exc:
            fail(f"transport.initial_peers[{i}] is not a full multiaddr: {exc}")


def run_or_explain(fn, *args, stopped: str = "stopped") -> None:
    """Run a network function; a failed start becomes one clear line (exit 1), Ctrl-C/SIGTERM exit 130."""
    from swarm.preflight import JoinError
    from swarm.transports import TransportStartupError

    try:
        fn(*args)
    except JoinError as exc:  # 2: refused, as a bad config (`swarm join`'s supervisor does not retry it)
        fail(f"could not join the swarm: {exc}", code=2)
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
    if info.get("reachability"):
        console.print(f"  reachability: {info['reachability']}", highlight=False, soft_wrap=True)


def listen_on(port: Optional[int]) -> Optional[list[str]]:
    if port is not None and not 0 < port < 65536:
        fail(f"--port {port} is not a TCP port (1-65535)")
    return [f"/ip4/0.0.0.0/tcp/{port}"] if port else None


def check_bootstraps_reachable(cfg: RunConfig) -> None:
    """Fail at once (exit 1) when every bootstrap address refuses or does not resolve (`swarm.diagnose`)."""
    from swarm.diagnose import dead_bootstraps

    if (message := dead_bootstraps(list(cfg.transport.initial_peers))) is not None:
        fail(f"could not join the swarm: {message}", code=1)


def gpu_ids(gpus: Optional[str]) -> list[int]:
    from swarm.checks import parse_gpus

    try:
        return parse_gpus(gpus) if gpus is not None else []
    except ValueError as exc:
        fail(str(exc))


def auto_model_config(cfg: RunConfig, config: Optional[Path], sets: list[str], options: dict, folders: list[Path],
                gpu_ids: list[int]) -> RunConfig:
    """--model auto (`swarm.join.auto_model`): reload the config with the model and settings it picked."""
    from swarm.join import auto_model

    picked, line = auto_model(cfg, folders, gpu_ids)
    console.print(f"--model auto: {line}", highlight=False, soft_wrap=True)
    return load(config or paths.shipped_config("join.yaml"), sets, {**options, **picked})


def check_node(cfg: RunConfig, folders: list[Path], gpus: list[int], model_named: bool = True) -> None:
    """The usual mistakes as one line each (exit 2), before torch or hivemind is imported (`swarm.checks`)."""
    from swarm.checks import node_problems

    for problem in node_problems(cfg, folders, gpus, model_named):
        fail(problem)


def prepare_model(cfg: RunConfig) -> None:
    """Build a preset on first use here, in the foreground, with progress lines, where Ctrl-C stops it."""
    from swarm.prepare import build_with_progress

    try:
        build_with_progress(cfg, console)
    except KeyboardInterrupt:
        err.print("stopped while building the model; nothing was cached, the next start builds it again")
        raise typer.Exit(130)
