"""`swarm doctor`: will joining work from here? Each check PASS or FAIL, with the fix.

    results = asyncio.run(run_doctor(config, identity_path=Path("~/.config/sapo-swarm/identity.pem"), out=Path("node")))
    print(doctor_table(results)); sys.exit(0 if all(r.ok for r in results) else 1)

Checks, in order: the identity file (present, mode 0600); the listen port (free); free disk for
checkpoints; the model (loadable offline, fits this device's memory); the bootstrap peers (and which
failure, `swarm.diagnose`); whether peers can dial this machine (a bootstrap peer connects back to the
port at the address it sees us at, `transports.hivemind.hello`); the clock offset to the peers (bootstrap and DHT
neighbours) against ``transport.max_clock_skew_s``; and versions against what those peers run.
The network checks go through one throwaway p2p daemon that dials out only and announces nothing
(`swarm.transports.hivemind.probe`).
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from protocol.messages import PROTOCOL_VERSION
from protocol.versions import package_version
from swarm import checks
from swarm.config import RunConfig
from swarm.doctor_local import disk_check, identity_check, memory_check, model_check, port_check
from swarm.ports import listen_ports
from swarm.preflight import dial_back, reachability_line
from swarm.transports.hivemind.hello import HelloReply
from swarm.transports.hivemind.probe import BootstrapProbe

@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


async def run_doctor(config: RunConfig, identity_path: Path, out: Path, timeout_s: float = 5.0) -> list[CheckResult]:
    """Every check; see the module docstring."""
    t = config.transport
    results = [CheckResult(*identity_check(identity_path)), *(CheckResult(*r) for r in port_check(list(t.host_maddrs))),
               CheckResult(*disk_check(out, config.node.model.name)), CheckResult(*model_check(config.node.model)),
               CheckResult(*memory_check(config.node))]
    return results + await network_checks(config, timeout_s)


async def network_checks(config: RunConfig, timeout_s: float) -> list[CheckResult]:
    t = config.transport
    async with BootstrapProbe(timeout_s) as probe:
        bootstraps = await probe.check(list(t.initial_peers))
        good = [c for c in bootstraps if c.ok]
        lines = "; ".join(c.explain() for c in bootstraps if not c.ok)
        results = [CheckResult("bootstrap reachable", bool(good),
                               f"{len(good)} of {len(bootstraps)} bootstrap addresses answer" + (f"; {lines}" if lines else ""),
                               "" if good else "fix the addresses as said, or ask for the bootstrap's current address")]
        if not good:
            return results + [CheckResult(n, False, "not checked: no bootstrap peer answers", "fix the bootstrap first")
                              for n in ("dialable from outside", "clock offset", "versions")]
        ports = listen_ports(list(t.announce_maddrs)) or listen_ports(list(t.host_maddrs))
        results.append(_dialable(await _dial_back_or_busy(probe, good, config, ports), ports))
        replies = await probe.ask_neighbours(good, t.swarm_id)
    return results + [_clock(replies, t.max_clock_skew_s), _versions(replies)]


async def _dial_back_or_busy(probe: BootstrapProbe, good: list, config: RunConfig, ports: list[int]) -> tuple[bool, str] | None:
    """The dial-back verdict; if our port is taken (a node of ours may be running there), ask without holding it."""
    try:
        return await dial_back(probe, good, config.transport, ports)
    except OSError:
        replies = [await probe.hello(c, swarm_id=config.transport.swarm_id, ports=ports) for c in good[:2]]
        answered = [r for r in replies if r is not None and r.dialback]
        return (any(answered[0].dialback.values()), answered[0].observed) if answered else None


def _dialable(verdict: tuple[bool, str] | None, ports: list[int]) -> CheckResult:
    if not ports:
        return CheckResult("dialable from outside", False, "no fixed TCP port to check (listening on port 0)",
                           "pin a port with --port (and forward it on your router if you are behind NAT)")
    if verdict is None:
        return CheckResult("dialable from outside", False, "could not check: no bootstrap peer answers sapo-swarm/hello",
                           "ask the bootstrap operator to run `swarm bootstrap` from this version")
    dialable, observed = verdict
    line = reachability_line(dialable, observed, ports)
    head, _, fix = line.partition(". To serve others, ")
    return CheckResult("dialable from outside", dialable, "dialable" + line.removeprefix("dialable") if dialable else head,
                       "" if dialable else fix[:1].upper() + fix[1:])


def _clock(replies: list[HelloReply], tolerance_s: float) -> CheckResult:
    if not replies:
        return CheckResult("clock offset", False, "no peer answered with its clock", "check the bootstrap peers first")
    offset = statistics.median(r.clock_offset_s for r in replies)
    detail = f"{offset:+.1f} s to the median of {len(replies)} peers (tolerated: {tolerance_s:g} s)"
    ok = abs(offset) <= tolerance_s
    return CheckResult("clock offset", ok, detail,
                       "" if ok else "set this machine's clock right (e.g. `timedatectl set-ntp true`, or chrony)")


def _versions(replies: list[HelloReply]) -> CheckResult:
    ours = (package_version(), PROTOCOL_VERSION)
    if not replies:
        return CheckResult("versions", False, "no peer answered with its version", "check the bootstrap peers first")
    protocols = sorted({r.protocol for r in replies})
    softwares = sorted({r.software for r in replies})
    other_major = [p for p in protocols if p[0] != PROTOCOL_VERSION[0]]
    newer = [s for s in softwares if checks.version_key(s) > checks.version_key(ours[0])]
    detail = (f"this node: software {ours[0]}, protocol {'.'.join(map(str, ours[1]))}; peers: software "
              f"{', '.join(softwares)}, protocol {', '.join('.'.join(map(str, p)) for p in protocols)}")
    if other_major:
        return CheckResult("versions", False, detail, "peers speak another protocol major version: upgrade (git pull && make venv)")
    return CheckResult("versions", True, detail + (" (peers run a newer release: consider upgrading)" if newer else ""))


def doctor_table(results: list[CheckResult]) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="swarm doctor")
    for col in ("", "check", "found", "fix"):
        table.add_column(col)
    for r in results:
        table.add_row(Text("PASS", style="green") if r.ok else Text("FAIL", style="bold red"), r.name, Text(r.detail), Text(r.fix))
    return table


def show_doctor(results: list[CheckResult], as_json: bool, console: Any) -> int:
    """Print the results (a table, or JSON); returns the exit code: 0 only if every check passed."""
    import json
    import sys

    ok = all(r.ok for r in results)
    if as_json:
        sys.stdout.write(json.dumps({"ok": ok, "checks": [r.to_json() for r in results]}, indent=2) + "\n")
    else:
        console.print(doctor_table(results))
    return 0 if ok else 1
