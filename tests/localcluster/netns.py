"""A network namespace of the run's own, in which a whole cluster lives.

Pod and Service addresses, the node's address, kube-proxy's rules and every listening port
exist only inside it; nothing reaches the machine's own network, and two runs (or a run and a
`make demo`) never see each other's ports or addresses. Optionally a veth pair links it to the
machine, so that `kubectl` outside can reach the API server (the demo), and only that: no
route to the pod or Service ranges is added outside.

    python tests/localcluster/netns.py run [--host-link] -- COMMAND...

runs COMMAND inside a fresh namespace (with `nsenter --net`, not `ip netns exec`: the latter
remounts /sys, which hides the cgroup mounts from kubelet and runc) and removes the namespace,
and every process still in it, afterwards.

Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

NETNS_DIR = Path("/var/run/netns")
PREFIX = "eoe-"
# The node's address inside every namespace: the same in each, since none sees another.
NODE_IP = "10.201.0.2"
NODE_PREFIX_LENGTH = 24
NODE_INTERFACE = "eoe-node"
# The veth pairs to the machine: 10.200.<n>.1 outside, 10.200.<n>.2 inside.
HOST_LINK_PREFIX = "10.200"
ENV_NAME = "EOE_NETNS"
ENV_HOST_LINK = "EOE_NETNS_HOST_IP"


@dataclass(frozen=True)
class Namespace:
    name: str
    # The namespace's end of the veth pair, reachable from the machine; None without a link.
    host_link_ip: str | None = None

    @property
    def path(self) -> Path:
        return NETNS_DIR / self.name

    def enter_prefix(self) -> list[str]:
        return ["nsenter", f"--net={self.path}", "--"]


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=30, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.strip()}")
    return result


def _inside(namespace: Namespace, *args: str, check: bool = True) -> None:
    _run(*namespace.enter_prefix(), *args, check=check)


def current() -> Namespace | None:
    """The namespace this process was started in by `run`, if it is really inside it."""
    name = os.environ.get(ENV_NAME)
    if not name:
        return None
    path = NETNS_DIR / name
    try:
        if os.stat(path).st_ino != os.stat("/proc/self/ns/net").st_ino:
            return None
    except OSError:
        return None
    return Namespace(name, os.environ.get(ENV_HOST_LINK) or None)


def _owner_alive(name: str) -> bool:
    try:
        pid = int(name.removeprefix(PREFIX).split("-")[-1])
    except ValueError:
        return True  # not one of ours: leave it alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_processes_in(name: str) -> None:
    pids = _run("ip", "netns", "pids", name, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def remove(name: str) -> None:
    _kill_processes_in(name)
    # The veth pair goes with the namespace; the machine's end disappears by itself.
    _run("ip", "netns", "delete", name, check=False)


def remove_stale() -> None:
    """Namespaces left by a run that was killed: their owner's pid is gone."""
    if not NETNS_DIR.is_dir():
        return
    for path in NETNS_DIR.glob(f"{PREFIX}*"):
        if not _owner_alive(path.name):
            remove(path.name)


def _free_link_index() -> int:
    used = set()
    for line in _run("ip", "-o", "-4", "addr", "show").stdout.splitlines():
        parts = line.split()
        if "inet" in parts:
            address = parts[parts.index("inet") + 1]
            if address.startswith(HOST_LINK_PREFIX + "."):
                used.add(int(address.split(".")[2]))
    for index in range(1, 255):
        if index not in used:
            return index
    raise RuntimeError(f"no free {HOST_LINK_PREFIX}.N.0/30 subnet for the host link")


def create(label: str = "run", *, host_link: bool = False) -> Namespace:
    remove_stale()
    name = f"{PREFIX}{label}-{os.getpid()}"
    if (NETNS_DIR / name).exists():
        remove(name)
    _run("ip", "netns", "add", name)
    namespace = Namespace(name)
    try:
        _inside(namespace, "ip", "link", "set", "lo", "up")
        # A veth pair with both ends inside carries the node's address (this kernel has no
        # dummy interfaces): kubelet refuses a loopback node IP, and the default route through
        # it gives every destination a route (kube-proxy rewrites Service addresses after
        # routing has picked one), while packets that no rule rewrites vanish there instead
        # of leaving the namespace.
        _inside(
            namespace,
            "ip",
            "link",
            "add",
            NODE_INTERFACE,
            "type",
            "veth",
            "peer",
            "name",
            NODE_INTERFACE + "-end",
        )
        _inside(namespace, "ip", "link", "set", NODE_INTERFACE + "-end", "up")
        _inside(
            namespace, "ip", "addr", "add", f"{NODE_IP}/{NODE_PREFIX_LENGTH}", "dev", NODE_INTERFACE
        )
        _inside(namespace, "ip", "link", "set", NODE_INTERFACE, "up")
        _inside(namespace, "ip", "route", "add", "default", "dev", NODE_INTERFACE)
        _inside(namespace, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        # Pod-to-Service traffic whose backend sits on the same bridge: without this the
        # reply bypasses the rules that undo the address translation (kube-proxy also
        # masquerades such traffic, so a kernel without the per-namespace knob still works).
        _inside(namespace, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1", check=False)
        if host_link:
            index = _free_link_index()
            outside, inside = f"eoe-h{index}", f"eoe-c{index}"
            _run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
            _run("ip", "link", "set", inside, "netns", name)
            _run("ip", "addr", "add", f"{HOST_LINK_PREFIX}.{index}.1/30", "dev", outside)
            _run("ip", "link", "set", outside, "up")
            host_ip = f"{HOST_LINK_PREFIX}.{index}.2"
            _inside(namespace, "ip", "addr", "add", f"{host_ip}/30", "dev", inside)
            _inside(namespace, "ip", "link", "set", inside, "up")
            namespace = Namespace(name, host_ip)
    except BaseException:
        remove(name)
        raise
    return namespace


@contextlib.contextmanager
def created(label: str = "run", *, host_link: bool = False) -> Iterator[Namespace]:
    namespace = create(label, host_link=host_link)
    try:
        yield namespace
    finally:
        remove(namespace.name)


def run(command: Sequence[str], *, label: str, host_link: bool) -> int:
    """COMMAND inside a fresh namespace; the namespace and its processes removed afterwards."""
    if os.geteuid() != 0:
        print("error: a network namespace needs root (run as root or with sudo)", file=sys.stderr)
        return 1
    with created(label, host_link=host_link) as namespace:
        env = {**os.environ, ENV_NAME: namespace.name}
        if namespace.host_link_ip:
            env[ENV_HOST_LINK] = namespace.host_link_ip
        child = subprocess.Popen([*namespace.enter_prefix(), *command], env=env)

        def forward(signum: int, _frame: object) -> None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, forward)
        while True:
            try:
                code = child.wait()
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
                time.sleep(0.1)
        return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run a command inside a fresh namespace")
    run_parser.add_argument("--label", default="run", help="part of the namespace's name")
    run_parser.add_argument(
        "--host-link", action="store_true", help="link the namespace to the machine (veth)"
    )
    run_parser.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        parser.error("no command given")
    try:
        return run(command, label=args.label, host_link=args.host_link)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
