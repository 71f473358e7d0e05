"""Identity: key files with safe permissions, derived peer ids, export/import."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from protocol import Identity, IdentityError, peer_id_from_public_key


def test_saved_key_is_private_and_loads_back(tmp_path: Path) -> None:
    ident = Identity.generate()
    path = ident.save(tmp_path / "keys" / "identity.pem")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Identity.load(path).peer_id == ident.peer_id


def test_key_readable_by_others_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = Identity.generate().save(tmp_path / "id.pem")
    os.chmod(path, 0o644)
    with pytest.raises(IdentityError, match="chmod 600"):
        Identity.load(path)


def test_save_never_overwrites(tmp_path: Path) -> None:
    path = Identity.generate().save(tmp_path / "id.pem")
    with pytest.raises(IdentityError, match="already exists"):
        Identity.generate().save(path)


def test_missing_and_corrupt_files_say_why(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="swarm identity new"):
        Identity.load(tmp_path / "nope.pem")
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    os.chmod(bad, 0o600)
    with pytest.raises(IdentityError, match="not a readable"):
        Identity.load(bad)


def test_export_import_round_trip_and_bad_export() -> None:
    ident = Identity.generate()
    assert Identity.from_export(ident.export()).peer_id == ident.peer_id
    with pytest.raises(IdentityError):
        Identity.from_export("hello")
    with pytest.raises(IdentityError):
        Identity.from_export("sapo-ed25519:!!!")


def test_peer_id_is_derived_from_public_key() -> None:
    ident = Identity.from_seed(b"a")
    assert ident.peer_id == peer_id_from_public_key(ident.public_key)
    assert Identity.from_seed(b"a").peer_id == ident.peer_id != Identity.from_seed(b"b").peer_id


def test_load_or_create_is_stable(tmp_path: Path) -> None:
    first = Identity.load_or_create(tmp_path / "id.pem")
    assert Identity.load_or_create(tmp_path / "id.pem").peer_id == first.peer_id


def test_protocol_imports_without_torch() -> None:
    code = "import sys, protocol, protocol.validation, protocol.envelope; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
