"""The pieces behind issue 23's one-line errors: ports, model/device/GPU checks, the secret verdict, the hello
RPC's answer and reply checks, the stable libp2p id, and doctor's local checks. No daemon, loopback only."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from node.config import ModelConfig, NodeConfig
from protocol import Identity
from swarm import checks
from swarm.doctor_local import disk_check, identity_check, memory_check, params_estimate, port_check
from swarm.transports.hivemind.hello import HelloServer, parse_reply
from swarm.transports.hivemind.libp2p_key import ensure_libp2p_key, libp2p_key_path, libp2p_peer_id
from swarm.maddr import check_peer_id
from swarm.ports import PortInUseError, claim_listen_ports, port_in_use
from swarm.secret_watch import secret_verdict


@pytest.fixture
def listener():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


# ------------------------------------------------------------------ ports (item 4)


def test_a_port_in_use_is_seen_and_a_free_one_named(listener: int) -> None:
    assert port_in_use("127.0.0.1", listener)
    with pytest.raises(PortInUseError) as err:
        claim_listen_ports([f"/ip4/127.0.0.1/tcp/{listener}"])
    suggested = int(str(err.value).split("--port ")[1].split()[0])
    assert suggested > listener and not port_in_use("127.0.0.1", suggested)


def test_so_reuseport_listeners_are_caught_too() -> None:
    """go-libp2p listens with SO_REUSEPORT: a second such node would bind; our plain bind must not."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("0.0.0.0", 0))
        s.listen()
        assert port_in_use("0.0.0.0", s.getsockname()[1])


# ------------------------------------------------------------------ common mistakes (item 6)


def test_model_mistakes() -> None:
    assert checks.model_problem("tiny-6m") is None
    assert "did you mean tiny-6m?" in checks.model_problem("tiny-6M")
    assert "did you mean tiny-16m?" in checks.model_problem("tiny16m")
    assert "--model is empty" in checks.model_problem("")
    assert "no model folder there" in checks.model_problem("./no/such/folder")


def test_model_folder_without_config(tmp_path: Path) -> None:
    assert "no config.json" in checks.model_problem(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    assert checks.model_problem(str(tmp_path)) is None


def test_presets_listed_without_torch_match_the_registry() -> None:
    from node.models import MODEL_PRESETS

    assert sorted(checks.PRESETS) == sorted(MODEL_PRESETS)


def test_device_and_gpu_mistakes() -> None:
    assert checks.device_problem("cuda:1") is None and checks.device_problem("auto") is None
    assert checks.device_problem("tpu") == "--device tpu is not supported: use auto, cpu, cuda, cuda:N or mps"
    assert checks.parse_gpus("0, 1") == [0, 1]
    for bad in ("a,b", "", "0,0", "-1"):
        with pytest.raises(ValueError):
            checks.parse_gpus(bad)


@pytest.mark.skipif(checks.torch_cuda_build() is not False, reason="this torch is a CUDA build")
def test_cuda_flags_on_the_cpu_build_point_at_the_readme() -> None:
    problem = checks.cuda_problem("--gpus 0,1", [0, 1])
    assert "CPU build" in problem and 'section "GPU nodes"' in problem


def test_another_model_on_a_state_folder(tmp_path: Path) -> None:
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "checkpoint.pt").write_bytes(b"x")
    (tmp_path / "node.json").write_text(json.dumps({"model": "tiny-6m"}))
    assert checks.state_problem(tmp_path, "tiny-6m") is None
    problem = checks.state_problem(tmp_path, "tiny-16m")
    assert "holds a checkpoint of model tiny-6m" in problem and "--model tiny-6m" in problem
    assert checks.state_problem(tmp_path / "fresh", "tiny-16m") is None


# ------------------------------------------------------------------ the secret verdict (item 7)


def _transport(secret: str | None, refused: int, accepted: int = 0, peers: list | None = None):
    return SimpleNamespace(config=SimpleNamespace(swarm_secret=secret), peers=lambda: peers or [],
                           stats=SimpleNamespace(rejections=Counter(wrong_secret=refused), accepted=accepted))


def test_the_secret_verdict_needs_evidence_and_no_record_passing() -> None:
    assert secret_verdict(_transport("s", 2)) is None
    line = secret_verdict(_transport("s", 12))
    assert line.startswith("your secret does not match the records in this swarm (12 records failed")
    assert secret_verdict(_transport("s", 12, accepted=1)) is None
    assert secret_verdict(_transport("s", 12, peers=["someone"])) is None
    assert "a secret you do not have" in secret_verdict(_transport(None, 5))


# ------------------------------------------------------------------ hello (dial-back, versions, clock)


def test_hello_dials_back_only_the_observed_ip(listener: int) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # bound, not listening: refused
    answer = asyncio.run(HelloServer("public-demo", dial_back_timeout_s=1).answer(
        {"ports": [listener, closed, "x", 70000, 1, 2, 3]}, ("127.0.0.1", 5555)))
    reply = parse_reply(answer, 0.0, 0.0)
    assert reply.dialback == {listener: True, closed: False, 1: False, 2: False}  # the first MAX_PORTS valid ports
    assert reply.swarm_id == "public-demo" and reply.observed == "127.0.0.1:5555"


def test_a_hostile_hello_reply_is_bounded_and_printable() -> None:
    reply = parse_reply({"swarm_id": "\x1b[2J" + "x" * 500, "software": "0.1\n", "protocol": [1, 1], "time": 1.0,
                         "dialback": [[1, True], ["x", True]]}, 0.0, 0.0)
    assert reply.swarm_id.startswith("?[2J") and len(reply.swarm_id) == 64 and reply.software == "0.1?"
    assert reply.dialback == {1: True}
    with pytest.raises(ValueError):
        parse_reply({"swarm_id": 3}, 0.0, 0.0)


# ------------------------------------------------------------------ the bootstrap's stable libp2p id (item 2)


def test_libp2p_id_is_derived_from_the_identity_and_stable(tmp_path: Path) -> None:
    ident = Identity.from_seed(b"boot")
    pid = libp2p_peer_id(ident)
    assert pid.startswith("12D3KooW") and check_peer_id(pid) is None
    assert pid == libp2p_peer_id(Identity.from_seed(b"boot")) != libp2p_peer_id(Identity.from_seed(b"other"))
    key = ensure_libp2p_key(ident, libp2p_key_path(tmp_path / "boot.pem"))
    assert key.name == "boot.pem.libp2p" and os.stat(key).st_mode & 0o777 == 0o600
    assert ident.export().split(":")[1] not in key.read_bytes().hex()  # derived, not the identity key itself


# ------------------------------------------------------------------ doctor's local checks


def test_doctor_identity_check(tmp_path: Path) -> None:
    name, ok, detail, fix = identity_check(tmp_path / "missing.pem")
    assert not ok and "swarm identity new" in fix
    path = Identity.generate().save(tmp_path / "id.pem")
    assert identity_check(path)[1]
    path.chmod(0o644)
    name, ok, detail, fix = identity_check(path)
    assert not ok and "chmod 600" in fix


def test_doctor_port_disk_and_memory_checks(listener: int, tmp_path: Path) -> None:
    (result,) = port_check([f"/ip4/127.0.0.1/tcp/{listener}"])
    assert not result[1] and "--port" in result[3]
    assert port_check(["/ip4/127.0.0.1/tcp/0"])[0][1]
    assert params_estimate("tiny-6m") == 6_000_000 and params_estimate("smollm2-135m") == 135_000_000
    assert disk_check(tmp_path / "not" / "yet", "tiny-0.5m")[1]
    assert memory_check(NodeConfig(model=ModelConfig(name="tiny-0.5m", device="cpu")))[1]


def test_doctor_memory_check_uses_the_fit_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    """The doctor's verdict is `node.models.fit`'s (what --model auto picks by): a small GPU fails a large preset."""
    from node.models import fit

    monkeypatch.setattr(fit, "device_memory", lambda device: (GIB_SMALL, "cuda"))
    name, ok, detail, fix = memory_check(NodeConfig(model=ModelConfig(name="smollm2-135m", device="cuda")))
    assert not ok and "GiB per round" in detail and "--model auto" in fix
    monkeypatch.setattr(fit, "device_memory", lambda device: (80 * fit.GIB, "cuda"))
    assert memory_check(NodeConfig(model=ModelConfig(name="smollm2-135m", device="cuda")))[1]


GIB_SMALL = 256 * 1024**2


def test_run_per_gpu_gives_each_child_its_own_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from swarm import join as joining
    from swarm.config import load_config

    spawned = []
    monkeypatch.setattr(joining, "supervise", lambda nodes, config, out, console: spawned.extend(n.argv for n in nodes) or 0)
    config = load_config(None, ["transport.host_maddrs=[/ip4/0.0.0.0/tcp/31337]"])
    assert joining.run_per_gpu(config, [0, 1], tmp_path, [tmp_path / "a.pem", tmp_path / "b.pem"], Console(quiet=True)) == 0
    ports = [load_config(Path(argv[argv.index("--config") + 1]), []).transport.host_maddrs for argv in spawned]
    assert ports == [["/ip4/0.0.0.0/tcp/31337"], ["/ip4/0.0.0.0/tcp/31338"]]


def test_doctor_clock_and_versions_verdicts() -> None:
    from swarm.doctor import _clock, _versions
    from swarm.transports.hivemind.hello import HelloReply

    def reply(offset: float, protocol=(1, 1), software="0.1.0") -> HelloReply:
        return HelloReply("s", software, protocol, 1000.0 + offset, "", sent_at=999.0, received_at=1001.0)

    assert _clock([reply(0.4), reply(-0.2), reply(0.1)], 60).ok
    late = _clock([reply(90.0), reply(95.0)], 60)
    assert not late.ok and "+92.5 s" in late.detail and "timedatectl" in late.fix
    assert _versions([reply(0)]).ok
    assert not _versions([reply(0, protocol=(2, 0))]).ok
    assert "newer release" in _versions([reply(0, software="9.0.0")]).detail
