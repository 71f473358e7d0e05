"""`swarm identity new|show|export|import`: the node's Ed25519 key file, where it lives, and its backup.

    swarm identity new                     # $SAPO_SWARM_HOME/identity.pem, mode 0600
    swarm identity export > backup.txt     # one line; restore with `swarm identity import < backup.txt`

A failure (no key, unsafe mode, a folder that cannot be made) is one line and exit status 1.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn, Optional

import typer
from rich.console import Console
from typing_extensions import Annotated

from protocol import Identity, IdentityError
from swarm import paths

identity_app = typer.Typer(help="Create, show, back up and restore this node's Ed25519 key.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


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
        fail(str(exc))
    console.print(f"peer id: {ident.peer_id}\n{_where(path)}", highlight=False)


@identity_app.command("show")
def identity_show(path: PathOpt = None) -> None:
    """Print the peer id and where the key is stored."""
    path = _key_path(path)
    try:
        ident = Identity.load(path)
    except IdentityError as exc:
        fail(str(exc))
    console.print(f"peer id: {ident.peer_id}\n{_where(path)}", highlight=False)


@identity_app.command("export")
def identity_export(path: PathOpt = None) -> None:
    """Print the private key as one line (stdout) to store somewhere safe."""
    path = _key_path(path)
    try:
        line = Identity.load(path).export()
    except IdentityError as exc:
        fail(str(exc))
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
        fail(str(exc))
    console.print(f"restored peer id: {ident.peer_id}\n{_where(path)}", highlight=False)
