"""The `swarm` command's options and errors, through typer's CliRunner (in this process).

Commands that would run a node are checked up to the call into `swarm.join` (monkeypatched), so
these tests need no model and no network, except the one that dials an unreachable peer.
"""

from __future__ import annotations

import json
import signal
import socket
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from protocol import Identity
from swarm import checks, cli
from swarm import join as joining
from swarm.cli import app
from swarm.config import RunConfig, load_config
from node.models import fit
from swarm.join import offset_ports, per_gpu_config
from swarm.live import Board, MetricsTail
from swarm.procs import group_alive, spawn, stop_all
from swarm.report import build_report
from swarm.testnet import node_config

runner = CliRunner()
A_PEER_ID = "12D3KooWB1hQkagaJHDL3s8TAvLYHjCnweX1Yixsg1JNFwLdyrk9"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SAPO_SWARM_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def invoke(*args: str, input: str | None = None):
    result = runner.invoke(app, list(args), input=input)
    result.text = " ".join(result.output.split())  # rich wraps at 80 columns
    return result


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Replace the node runners so commands stop right before starting a node."""
    seen: dict = {}

    def run_here(config, out_dir, identity, on_up=None):
        seen.update(config=config, out=out_dir, identity=identity)

    def run_per_gpu(config, gpus, out_dir, identities, console):
        seen.update(config=config, gpus=gpus, out=out_dir, identities=identities)
        return 0

    def run_supervised(config, out_dir, key, console):
        seen.update(config=config, out=out_dir, key=key)
        return 0

    monkeypatch.setattr(joining, "run_here", run_here)
    monkeypatch.setattr(joining, "run_per_gpu", run_per_gpu)
    monkeypatch.setattr(cli, "check_bootstraps_reachable", lambda cfg: None)  # the peers here are made up
    monkeypatch.setattr(cli, "prepare_model", lambda cfg: None)  # no model build in a CLI unit test
    monkeypatch.setattr(checks, "cuda_problem", lambda flag, gpus=None: None)  # --gpus on the CPU wheel: see test_join_errors
    monkeypatch.setattr(joining, "run_supervised", run_supervised)
    return seen


# ------------------------------------------------------------------ help and config errors


@pytest.mark.parametrize("command", ["run", "testnet", "join", "bootstrap", "status", "doctor", "report", "config", "identity"])
def test_every_command_has_help(command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.text


def test_option_help_comes_from_config_docstrings() -> None:
    assert "Number of node processes on this machine" in invoke("testnet", "--help").text
    assert "Multiaddrs of peers to join through" in invoke("join", "--help").text


def test_unknown_config_key_is_refused_with_its_name(tmp_path: Path) -> None:
    config = write_yaml(tmp_path / "c.yaml", "node:\n  round:\n    roundz: 3\n")
    result = invoke("run", "--config", str(config), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "node.round.roundz: unknown key" in result.text


def test_bad_override_value_names_the_key(tmp_path: Path) -> None:
    result = invoke("testnet", "--set", "node.round.rounds=0", "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert "node.round.rounds" in result.text
    assert not (tmp_path / "run").exists()


def test_override_without_equals_is_refused(tmp_path: Path) -> None:
    result = invoke("testnet", "--set", "node.round.rounds", "--out", str(tmp_path / "run"))
    assert result.exit_code == 2 and "section.key=value" in result.text


def test_missing_config_file(tmp_path: Path) -> None:
    result = invoke("run", "--config", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "config file not found" in result.text


def test_shipped_configs_load() -> None:
    testnet = load_config("configs/testnet.yaml")
    assert testnet.testnet.nodes == 4 and len({p.model for p in testnet.testnet.profiles}) >= 2
    assert load_config("configs/join.yaml").transport.type == "hivemind"


# ------------------------------------------------------------------ run / join plumbing


def test_run_creates_identity_and_passes_config(tmp_path: Path, captured: dict, home: Path) -> None:
    config = write_yaml(tmp_path / "c.yaml", "transport: {type: none}\n")
    result = invoke("run", "--config", str(config), "--out", str(tmp_path / "out"), "--set", "node.round.rounds=2")
    assert result.exit_code == 0, result.output
    assert captured["config"].node.round.rounds == 2
    assert (home / "identity.pem").stat().st_mode & 0o777 == 0o600
    assert captured["identity"].peer_id == Identity.load(home / "identity.pem").peer_id
    assert "identity export" in result.text


def test_join_options_reach_the_config(tmp_path: Path, captured: dict) -> None:
    maddr = f"/ip4/127.0.0.1/tcp/4001/p2p/{A_PEER_ID}"
    result = invoke("join", "--peers", maddr, "--device", "cpu", "--secret", "s3", "--generate-only",
                    "--model", "tiny-1.5m", "--out", str(tmp_path / "n"), "--set", "node.round.rounds=7")
    assert result.exit_code == 0, result.output
    cfg: RunConfig = captured["config"]
    assert cfg.transport.initial_peers == [maddr]
    assert cfg.transport.swarm_secret == "s3"
    assert (cfg.node.model.device, cfg.node.model.name) == ("cpu", "tiny-1.5m")
    assert cfg.node.round.train is False and cfg.node.round.rounds == 7
    assert captured["out"] == tmp_path / "n"


def test_join_model_auto_uses_pick_model(captured: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fit, "device_memory", lambda device: (24 * fit.GIB, "cuda"))
    result = invoke("join", "--peers", f"/ip4/127.0.0.1/tcp/4001/p2p/{A_PEER_ID}", "--model", "auto")
    assert result.exit_code == 0, result.output
    assert captured["config"].node.model.name == "smollm2-135m" and captured["config"].node.model.lora is None
    assert "--model auto: smollm2-135m, the largest preset whose update fits 24.0 GiB cuda" in result.text


def test_join_model_auto_lowers_the_micro_batch_or_turns_on_lora(captured: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    peers = ["join", "--peers", f"/ip4/127.0.0.1/tcp/4001/p2p/{A_PEER_ID}", "--model", "auto"]
    memories = {"cuda:0": 24 * fit.GIB, "cuda:1": 6 * fit.GIB}
    monkeypatch.setattr(fit, "device_memory", lambda device: (memories[device], "cuda"))
    result = invoke(*peers, "--gpus", "0,1")
    assert result.exit_code == 0 and "6.0 GiB cuda" in result.text  # the smallest GPU decides for all
    cfg = captured["config"].node
    assert (cfg.model.name, cfg.algorithm.micro_batch, cfg.model.lora) == ("smollm2-135m", 8, None)
    monkeypatch.setattr(fit, "PRESET_SHAPES", {"smollm2-135m": fit.PRESET_SHAPES["smollm2-135m"]})
    monkeypatch.setattr(fit, "device_memory", lambda device: (3 * fit.GIB, "cuda"))
    result = invoke(*peers)
    assert result.exit_code == 0 and "smollm2-135m with LoRA" in result.text
    assert captured["config"].node.model.lora is not None


def test_join_gpus_gives_each_gpu_its_own_identity(captured: dict) -> None:
    result = invoke("join", "--peers", f"/ip4/127.0.0.1/tcp/4001/p2p/{A_PEER_ID}", "--gpus", "0,1")
    assert result.exit_code == 0, result.output
    assert captured["gpus"] == [0, 1]
    ids = {Identity.load(p).peer_id for p in captured["identities"]}
    assert len(ids) == 2


def test_join_refuses_placeholder_and_bad_peers() -> None:
    result = invoke("join")  # configs/join.yaml ships a placeholder address
    assert result.exit_code == 2 and "placeholder" in result.text
    result = invoke("join", "--peers", "not-an-address")
    assert result.exit_code == 2 and "transport.initial_peers[0] is not a full multiaddr" in result.text


def test_join_without_peers_explains() -> None:
    result = invoke("join", "--set", "transport.initial_peers=[]")
    assert result.exit_code == 2 and "needs --peers" in result.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(120)
def test_unreachable_peer_is_a_clear_error() -> None:
    maddr = f"/ip4/127.0.0.1/tcp/{_free_port()}/p2p/{A_PEER_ID}"
    result = invoke("status", "--peers", maddr, "--wait", "0", "--set", "transport.startup_timeout_s=2")
    assert result.exit_code == 1, result.output
    assert "could not join the swarm" in result.text and maddr in result.text


# ------------------------------------------------------------------ identity


def test_identity_round_trip(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    new = invoke("identity", "new", "--path", str(key))
    assert new.exit_code == 0, new.output
    assert str(key) in new.text and "identity export" in new.text
    assert key.stat().st_mode & 0o777 == 0o600
    peer_id = Identity.load(key).peer_id
    assert peer_id in invoke("identity", "show", "--path", str(key)).text

    again = invoke("identity", "new", "--path", str(key))
    assert again.exit_code == 1 and "refusing to overwrite" in again.text

    exported = runner.invoke(app, ["identity", "export", "--path", str(key)])
    line = [l for l in exported.stdout.splitlines() if l.startswith("sapo-ed25519:")]
    assert exported.exit_code == 0 and len(line) == 1

    restored = tmp_path / "restored.pem"
    imported = invoke("identity", "import", "--path", str(restored), input=line[0] + "\n")
    assert imported.exit_code == 0, imported.output
    assert Identity.load(restored).peer_id == peer_id and peer_id in imported.text


def test_identity_default_location_is_under_swarm_home(home: Path) -> None:
    result = invoke("identity", "new")
    assert result.exit_code == 0 and str(home / "identity.pem") in result.text


def test_identity_readable_by_others_is_refused_with_chmod_hint(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    Identity.generate().save(key)
    key.chmod(0o644)
    result = invoke("identity", "show", "--path", str(key))
    assert result.exit_code == 1 and f"chmod 600 {key}" in result.text
    config = write_yaml(tmp_path / "c.yaml", "transport: {type: none}\n")
    result = invoke("run", "--config", str(config), "--out", str(tmp_path / "o"), "--identity", str(key))
    assert result.exit_code == 2 and "chmod 600" in result.text


def test_identity_show_missing_and_bad_import(tmp_path: Path) -> None:
    result = invoke("identity", "show", "--path", str(tmp_path / "none.pem"))
    assert result.exit_code == 1 and "swarm identity new" in result.text
    result = invoke("identity", "import", "garbage", "--path", str(tmp_path / "x.pem"))
    assert result.exit_code == 1 and "not an exported sapo-swarm key" in result.text


# ------------------------------------------------------------------ report / status


def make_run(root: Path, nodes: int = 2, rounds: int = 4) -> Path:
    for n in range(nodes):
        folder = root / "nodes" / f"node{n}"
        folder.mkdir(parents=True)
        rows = [{"round": r, "time": 100.0 + r, "t_round": 1.0, "peer_id": f"sw{n}", "model": "tiny-0.5m",
                 "reward_local": 0.1 * r + n, "reward_external": None if r == 0 else 0.2, "external_groups": 2,
                 "peers_seen": nodes - 1, "rejections": {"bad_signature": n}} for r in range(rounds)]
        text = "".join(json.dumps(r) + "\n" for r in rows)
        (folder / "metrics.jsonl").write_text(text + '{"round": 9, "torn')  # a crash mid-line
    return root


def test_report_on_a_hand_made_run(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    result = invoke("report", str(run))
    assert result.exit_code == 0, result.output
    assert "node0" in result.text and "node1" in result.text
    for png in ("reward_per_node.png", "local_vs_external.png"):
        assert (run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((run / "summary.json").read_text())
    node1 = summary["nodes"]["node1"]
    assert node1["rounds"] == 4 and node1["first_reward"] == 1.0 and node1["last_reward"] == pytest.approx(1.3)
    assert node1["wall_time_s"] == pytest.approx(4.0) and node1["rejections"] == 1
    assert summary["totals"]["nodes"] == 2 and summary["totals"]["external_groups"] == 16


def test_report_on_one_node_folder(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", nodes=1)
    summary, plots = build_report(run / "nodes" / "node0")
    assert list(summary["nodes"]) == ["node0"] and all(p.exists() for p in plots)


def test_report_without_metrics(tmp_path: Path) -> None:
    result = invoke("report", str(tmp_path))
    assert result.exit_code == 2 and "no node metrics" in result.text


def test_status_of_a_run_folder(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    result = invoke("status", str(run))
    assert result.exit_code == 0, result.output
    assert "node0" in result.text and "node1" in result.text
    assert invoke("status").exit_code == 2


# ------------------------------------------------------------------ helpers behind the commands


def test_per_gpu_configs_do_not_collide(tmp_path: Path) -> None:
    cfg = load_config(None, ["transport.host_maddrs=['/ip4/0.0.0.0/tcp/31337', '/ip4/0.0.0.0/udp/31337/quic-v1']",
                             "transport.announce_maddrs=['/ip4/203.0.113.9/tcp/31337']"])
    first, second = per_gpu_config(cfg, 0), per_gpu_config(cfg, 1)
    assert first.transport.host_maddrs == cfg.transport.host_maddrs
    assert second.transport.host_maddrs == ["/ip4/0.0.0.0/tcp/31338", "/ip4/0.0.0.0/udp/31338/quic-v1"]
    assert second.transport.announce_maddrs == ["/ip4/203.0.113.9/tcp/31338"]
    assert first.node.model.device == second.node.model.device == "cuda:0"  # CUDA_VISIBLE_DEVICES picks the GPU
    assert offset_ports(["/ip4/127.0.0.1/tcp/0"], 3) == ["/ip4/127.0.0.1/tcp/0"]


def test_node_config_applies_profiles_round_robin() -> None:
    base = load_config("configs/testnet.yaml")
    peers = [f"/ip4/127.0.0.1/tcp/4001/p2p/{A_PEER_ID}"]
    configs = [node_config(base, i, peers, "secret", ["a", "b"]) for i in range(5)]
    profiles = base.testnet.profiles
    assert [c.node.model.name for c in configs] == [profiles[i % len(profiles)].model for i in range(5)]
    assert len(configs[2].node.tasks.families) == 2
    assert all(c.transport.initial_peers == peers and c.transport.swarm_secret == "secret" for c in configs)
    assert configs[0].transport.allowed_peers == ["a", "b"]
    assert configs[0].node.model.threads == base.testnet.threads_per_node
    assert configs[0].node.round.wait_for_peers == 3  # the shipped 4 nodes wait for the other 3


def test_a_smaller_testnet_waits_only_for_the_nodes_it_has() -> None:
    base = load_config("configs/testnet.yaml")
    for nodes, want in ((1, 0), (2, 1), (4, 3), (8, 3)):
        sized = base.model_copy(update={"testnet": base.testnet.model_copy(update={"nodes": nodes})})
        assert node_config(sized, 0, [], "secret", None).node.round.wait_for_peers == want


def test_metrics_tail_reads_only_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    tail = MetricsTail(path)
    assert tail.read_new() == []
    path.write_text('{"round": 0}\n{"round": 1')
    assert tail.read_new() == [{"round": 0}]
    with path.open("a") as f:
        f.write("}\n")
    assert tail.read_new() == [{"round": 1}]
    board = Board({"n": tmp_path}, rounds=3)
    board.poll()
    assert board.states["n"] == "running" and board.done["n"] == 2


def test_stop_all_ends_the_whole_group(tmp_path: Path) -> None:
    # A child that ignores SIGTERM and leaves a grandchild behind: both must be gone after stop_all.
    script = ("import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)")
    child = spawn("stubborn", [sys.executable, "-c", script], tmp_path / "log")
    time.sleep(0.5)
    assert group_alive(child.pgid)
    assert stop_all([child], grace_s=0.5) == []
    assert not group_alive(child.pgid)
    assert child.returncode == -signal.SIGKILL


def test_status_finds_a_running_testnets_bootstrap(tmp_path: Path) -> None:
    from swarm.bootstrap import write_addresses
    from swarm.status import live_testnet

    assert live_testnet(tmp_path) is None
    write_addresses(tmp_path / "bootstrap", ["/ip4/127.0.0.1/tcp/1"])  # records this (live) pid
    assert live_testnet(tmp_path) == (tmp_path / "bootstrap" / "config.yaml", ["/ip4/127.0.0.1/tcp/1"])


def test_testnet_refuses_a_used_run_folder(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("x")
    result = invoke("testnet", "--out", str(tmp_path))
    assert result.exit_code == 2 and "not empty" in result.text
