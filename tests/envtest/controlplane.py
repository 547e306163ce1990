"""A throwaway Kubernetes control plane (etcd + kube-apiserver) on 127.0.0.1.

There is no kubelet, scheduler or controller-manager: objects are stored and served, but
nothing acts on them. Tests play those parts by writing status subresources themselves.

Standard library plus PyYAML only, so it can run before the operator package is installed.

    python tests/envtest/controlplane.py up [--kubeconfig PATH]
    python tests/envtest/controlplane.py build
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import fcntl
import functools
import http.client
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import yaml

DEFAULT_K8S_VERSION = "v1.36.3"
CONTEXT_NAME = "eoe-envtest"
READY_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0
BUILD_SCRIPT = Path(__file__).resolve().with_name("build-control-plane.sh")
LOCALHOST = "127.0.0.1"


def k8s_version() -> str:
    return os.environ.get("K8S_VERSION") or DEFAULT_K8S_VERSION


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "orchestration-engine"


def default_kubeconfig_path() -> Path:
    return cache_root() / "envtest.kubeconfig"


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_binaries() -> tuple[Path, Path]:
    """Return (kube-apiserver, etcd), building them into the cache first if needed."""
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        bin_dir = Path(assets).expanduser()
        apiserver, etcd = bin_dir / "kube-apiserver", bin_dir / "etcd"
        missing = [str(p) for p in (apiserver, etcd) if not _is_executable(p)]
        if missing:
            raise RuntimeError(
                f"KUBEBUILDER_ASSETS={assets} does not contain executable {', '.join(missing)}"
            )
        return apiserver, etcd

    version = k8s_version()
    version_dir = cache_root() / "control-plane" / version
    bin_dir = version_dir / "bin"
    apiserver, etcd = bin_dir / "kube-apiserver", bin_dir / "etcd"
    stamp = bin_dir / ".complete"
    if not stamp.is_file():
        version_dir.mkdir(parents=True, exist_ok=True)
        # Two test sessions started on a fresh machine must not both spend 2 GB and eight
        # minutes building the same binary into the same directory.
        with (version_dir / ".build.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not stamp.is_file():
                print(
                    f"building kube-apiserver {version} with {BUILD_SCRIPT} "
                    "(about 8 minutes from a cold cache)",
                    file=sys.stderr,
                    flush=True,
                )
                result = subprocess.run(
                    ["bash", str(BUILD_SCRIPT)],
                    env={**os.environ, "K8S_VERSION": version},
                    check=False,
                )
                if result.returncode != 0:
                    raise RuntimeError(
                        f"{BUILD_SCRIPT} failed with exit code {result.returncode}; "
                        "set KUBEBUILDER_ASSETS to a directory with kube-apiserver and etcd "
                        "to use prebuilt binaries"
                    )
    missing = [str(p) for p in (apiserver, etcd, stamp) if not p.is_file()]
    if missing:
        raise RuntimeError(
            f"control plane binaries for {version} are missing after the build: "
            f"{', '.join(missing)}"
        )
    return apiserver, etcd


def _free_ports(count: int) -> list[int]:
    # All sockets stay open until every port is picked, so the kernel hands out distinct ports.
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOCALHOST, 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


@functools.cache
def _etcd_supports_no_fsync(etcd: Path) -> bool:
    # Debian's etcd 3.4 lacks the flag; 3.5 has it and it removes most of etcd's disk latency.
    result = subprocess.run(
        [str(etcd), "--help"], capture_output=True, text=True, timeout=30, check=False
    )
    return "--unsafe-no-fsync" in (result.stdout + result.stderr)


_OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no

[dn]
CN = eoe-envtest

[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash

[v3_serving]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
subjectAltName = IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc
"""


def _openssl_env(cwd: Path) -> dict[str, str]:
    # A config of our own keeps the result independent of the host's openssl.cnf.
    return {**os.environ, "OPENSSL_CONF": str(cwd / "openssl.cnf")}


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False,
        env=_openssl_env(cwd),
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{result.stderr}")


def _generate_certificates(cert_dir: Path) -> None:
    cert_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    (cert_dir / "openssl.cnf").write_text(_OPENSSL_CONFIG)
    # RSA key generation is slow and random (0.1-0.5 s a key), and this sits on the start-up
    # path: the CA and serving keys are P-256; the service-account key stays RSA (RS256 is
    # what token verifiers commonly expect) and is generated while the chain is signed.
    sa_key = subprocess.Popen(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
         "-out", "service-account.key"],
        cwd=cert_dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env=_openssl_env(cert_dir),
    )  # fmt: skip
    days = "30"
    ec_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    try:
        _openssl(
            "req", "-x509", "-config", "openssl.cnf", "-extensions", "v3_ca", *ec_key,
            "-keyout", "ca.key", "-out", "ca.crt", "-days", days, "-subj", "/CN=eoe-envtest-ca",
            cwd=cert_dir,
        )  # fmt: skip
        _openssl(
            "req", "-new", "-config", "openssl.cnf", *ec_key,
            "-keyout", "apiserver.key", "-out", "apiserver.csr", "-subj", "/CN=kube-apiserver",
            cwd=cert_dir,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-set_serial", "0x" + secrets.token_hex(16), "-days", days,
            "-extfile", "openssl.cnf", "-extensions", "v3_serving", "-out", "apiserver.crt",
            cwd=cert_dir,
        )  # fmt: skip
    finally:
        _, sa_stderr = sa_key.communicate()
    if sa_key.returncode != 0:
        raise RuntimeError(f"openssl genpkey (service-account key) failed:\n{sa_stderr.decode()}")
    _openssl(
        "pkey", "-in", "service-account.key", "-pubout", "-out", "service-account.pub",
        cwd=cert_dir,
    )  # fmt: skip


def _child_env() -> dict[str, str]:
    # etcd reads every ETCD_* variable as a flag, and duplicates of our flags make it exit.
    return {k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}


def _death_signal_prefix() -> list[str]:
    # PDEATHSIG makes the kernel kill the child if this process dies without running atexit
    # (SIGKILL, OOM, a SIGTERM with no handler). It fires when the *thread* that spawned the
    # child exits, so it is only safe from the main thread, which lives as long as the process.
    setpriv = shutil.which("setpriv")
    if setpriv and threading.current_thread() is threading.main_thread():
        return [setpriv, "--pdeathsig", "KILL", "--"]
    return []


WORKDIR_PREFIX = "eoe-envtest-"
OWNER_FILE = "owner.pid"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_workdirs() -> None:
    # A session killed with SIGKILL takes its children with it (PDEATHSIG) but cannot remove
    # its temporary directory; the next one does, so etcd data does not pile up in /tmp.
    for workdir in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        try:
            owner = int((workdir / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if not _pid_alive(owner):
            shutil.rmtree(workdir, ignore_errors=True)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


class LocalControlPlane:
    """etcd and kube-apiserver in a temporary directory, reachable with an admin token."""

    def __init__(
        self,
        *,
        apiserver_binary: Path | None = None,
        etcd_binary: Path | None = None,
        kubeconfig_path: Path | None = None,
        ready_timeout: float = READY_TIMEOUT_SECONDS,
        extra_apiserver_flags: Sequence[str] = (),
    ) -> None:
        self._apiserver_binary = apiserver_binary
        self._etcd_binary = etcd_binary
        self._kubeconfig_path = kubeconfig_path
        self._ready_timeout = ready_timeout
        self._extra_apiserver_flags = list(extra_apiserver_flags)
        self._workdir: Path | None = None
        self._etcd: subprocess.Popen[bytes] | None = None
        self._apiserver: subprocess.Popen[bytes] | None = None
        self._logs: list[IO[bytes]] = []
        self._owner_pid: int | None = None
        self._stop_lock = threading.Lock()
        self._server: str | None = None
        self._token: str | None = None
        self._ca_file: Path | None = None
        self._kubeconfig: Path | None = None
        self._startup_seconds: float | None = None
        self.apiserver_flags: list[str] = []

    # -- attributes available once started ------------------------------------------------

    def _require(self, value: Any, name: str) -> Any:
        if value is None:
            raise RuntimeError(f"LocalControlPlane.{name} is only available after start()")
        return value

    @property
    def server(self) -> str:
        return str(self._require(self._server, "server"))

    @property
    def token(self) -> str:
        return str(self._require(self._token, "token"))

    @property
    def ca_file(self) -> Path:
        return Path(self._require(self._ca_file, "ca_file"))

    @property
    def kubeconfig(self) -> Path:
        return Path(self._require(self._kubeconfig, "kubeconfig"))

    @property
    def startup_seconds(self) -> float:
        return float(self._require(self._startup_seconds, "startup_seconds"))

    @property
    def workdir(self) -> Path:
        return Path(self._require(self._workdir, "workdir"))

    @property
    def apiserver_log(self) -> Path:
        return self.workdir / "kube-apiserver.log"

    @property
    def etcd_log(self) -> Path:
        return self.workdir / "etcd.log"

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> LocalControlPlane:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        if self._workdir is not None:
            raise RuntimeError("LocalControlPlane.start() called twice")
        started = time.monotonic()
        if self._apiserver_binary is None or self._etcd_binary is None:
            apiserver_binary, etcd_binary = find_binaries()
            self._apiserver_binary = self._apiserver_binary or apiserver_binary
            self._etcd_binary = self._etcd_binary or etcd_binary
            # A first-time build can take minutes; that is not start-up time.
            started = time.monotonic()

        _remove_stale_workdirs()
        self._workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
        self._owner_pid = os.getpid()
        (self._workdir / OWNER_FILE).write_text(f"{self._owner_pid}\n")
        # Registered before anything is spawned, so a failure half-way still cleans up.
        atexit.register(self.stop)
        try:
            self._start(started)
        except BaseException:
            self.stop()
            raise

    def _start(self, started: float) -> None:
        assert self._apiserver_binary is not None
        assert self._etcd_binary is not None
        workdir = self.workdir
        deadline = started + self._ready_timeout
        etcd_client_port, etcd_peer_port, apiserver_port = _free_ports(3)
        etcd_url = f"http://{LOCALHOST}:{etcd_client_port}"
        peer_url = f"http://{LOCALHOST}:{etcd_peer_port}"

        etcd_args = [
            str(self._etcd_binary),
            "--name=default",
            f"--data-dir={workdir / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=default={peer_url}",
            "--initial-cluster-state=new",
        ]
        if _etcd_supports_no_fsync(self._etcd_binary):
            etcd_args.append("--unsafe-no-fsync")
        # etcd boots while the certificates are generated.
        self._etcd = self._spawn(etcd_args, self.etcd_log)

        cert_dir = workdir / "certs"
        _generate_certificates(cert_dir)
        self._ca_file = cert_dir / "ca.crt"
        self._token = secrets.token_urlsafe(32)
        token_file = cert_dir / "tokens.csv"
        token_file.write_text(f'{self._token},admin,admin,"system:masters"\n')
        token_file.chmod(0o600)

        self._wait_for_etcd(etcd_url, deadline)

        self._server = f"https://{LOCALHOST}:{apiserver_port}"
        self.apiserver_flags = [
            f"--bind-address={LOCALHOST}",
            f"--advertise-address={LOCALHOST}",
            f"--secure-port={apiserver_port}",
            f"--etcd-servers={etcd_url}",
            "--service-cluster-ip-range=10.0.0.0/24",
            # The default reconciler keeps logging that a loopback address cannot be an
            # endpoint of the `kubernetes` Service.
            "--endpoint-reconciler-type=none",
            "--authorization-mode=RBAC",
            f"--token-auth-file={token_file}",
            f"--cert-dir={cert_dir}",
            f"--tls-cert-file={cert_dir / 'apiserver.crt'}",
            f"--tls-private-key-file={cert_dir / 'apiserver.key'}",
            f"--client-ca-file={cert_dir / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={cert_dir / 'service-account.pub'}",
            f"--service-account-signing-key-file={cert_dir / 'service-account.key'}",
            "--allow-privileged=true",
            # Without a controller-manager no namespace gets a `default` ServiceAccount, and
            # this plugin would then reject every Pod.
            "--disable-admission-plugins=ServiceAccount",
            *self._extra_apiserver_flags,
        ]
        self._apiserver = self._spawn(
            [str(self._apiserver_binary), *self.apiserver_flags], self.apiserver_log
        )
        self._wait_for_apiserver(deadline)

        self._kubeconfig = self._kubeconfig_path or workdir / "kubeconfig"
        self.write_kubeconfig(self._kubeconfig)
        self._startup_seconds = time.monotonic() - started

    def _spawn(self, args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        log = log_path.open("wb")
        self._logs.append(log)
        return subprocess.Popen(
            [*_death_signal_prefix(), *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env=_child_env(),
            # Own process group: a terminal's Ctrl-C reaches only this process, which then
            # shuts the children down in order, and stop() can signal the whole group.
            process_group=0,
        )

    def _check_alive(self) -> None:
        for name, proc, log in (
            ("etcd", self._etcd, self.etcd_log),
            ("kube-apiserver", self._apiserver, self.apiserver_log),
        ):
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with code {proc.returncode}; last lines of {log.name}:\n"
                    + _tail(log)
                )

    def _wait_for_etcd(self, url: str, deadline: float) -> None:
        last_error = ""
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    if b'"health":"true"' in resp.read().replace(b" ", b""):
                        return
            except (OSError, http.client.HTTPException) as exc:
                last_error = str(exc)
            time.sleep(0.05)
        raise RuntimeError(
            f"etcd not healthy within {self._ready_timeout:g} s ({last_error}); "
            f"last lines of {self.etcd_log.name}:\n{_tail(self.etcd_log)}"
        )

    def _wait_for_apiserver(self, deadline: float) -> None:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        request = urllib.request.Request(
            f"{self.server}/readyz", headers={"Authorization": f"Bearer {self.token}"}
        )
        last_error = ""
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(request, context=context, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                last_error = f"/readyz answered {exc.code}"
            except (OSError, http.client.HTTPException) as exc:
                last_error = str(exc)
            time.sleep(0.05)
        raise RuntimeError(
            f"kube-apiserver not ready within {self._ready_timeout:g} s ({last_error}); "
            f"last lines of {self.apiserver_log.name}:\n{_tail(self.apiserver_log)}"
        )

    def kubeconfig_dict(self) -> dict[str, Any]:
        ca_data = base64.b64encode(self.ca_file.read_bytes()).decode()
        user = f"{CONTEXT_NAME}-admin"
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": CONTEXT_NAME,
                    "cluster": {"server": self.server, "certificate-authority-data": ca_data},
                }
            ],
            "users": [{"name": user, "user": {"token": self.token}}],
            "contexts": [
                {"name": CONTEXT_NAME, "context": {"cluster": CONTEXT_NAME, "user": user}}
            ],
            "current-context": CONTEXT_NAME,
            "preferences": {},
        }

    def write_kubeconfig(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created 0600 from the start: the file holds a cluster-admin token.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(self.kubeconfig_dict(), fh, sort_keys=False)
        return path

    def is_running(self) -> bool:
        return all(p is not None and p.poll() is None for p in (self._etcd, self._apiserver))

    def stop(self) -> None:
        # A forked child (multiprocessing, a test that forks) inherits the atexit hook; it
        # must not tear down the parent's control plane.
        if self._owner_pid is not None and self._owner_pid != os.getpid():
            return
        with self._stop_lock:
            # The apiserver first: it would otherwise log etcd errors for its whole shutdown.
            for proc in (self._apiserver, self._etcd):
                if proc is not None:
                    _terminate(proc)
            self._apiserver = self._etcd = None
            for log in self._logs:
                log.close()
            self._logs.clear()
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
            with contextlib.suppress(Exception):
                atexit.unregister(self.stop)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# -- command line ---------------------------------------------------------------------------


def _cmd_build(_args: argparse.Namespace) -> int:
    apiserver, etcd = find_binaries()
    print(f"kube-apiserver: {apiserver}")
    print(f"etcd:           {etcd}")
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    kubeconfig = Path(args.kubeconfig).expanduser() if args.kubeconfig else None
    kubeconfig = (kubeconfig or default_kubeconfig_path()).resolve()
    stop_requested = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stop_requested.set()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, request_stop)

    control_plane = LocalControlPlane(kubeconfig_path=kubeconfig)
    control_plane.start()
    try:
        print(
            f"Kubernetes {k8s_version()} API server ready at {control_plane.server} "
            f"in {control_plane.startup_seconds:.1f} s\n"
            f"logs: {control_plane.workdir}\n\n"
            f"    export KUBECONFIG={kubeconfig}\n"
            f"    kubectl get namespaces\n\n"
            f"or without the export: kubectl --kubeconfig {kubeconfig} get namespaces\n"
            "There is no kubelet or controller-manager: Pods never run and Deployments stay "
            "at 0 ready.\nPress Ctrl-C to stop.",
            flush=True,
        )
        while not stop_requested.wait(1.0):
            if not control_plane.is_running():
                control_plane._check_alive()  # raises with the log tail
        print("stopping the control plane", flush=True)
        return 0
    finally:
        control_plane.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start a control plane and wait for Ctrl-C")
    up.add_argument(
        "--kubeconfig",
        help=f"where to write the kubeconfig (default {default_kubeconfig_path()})",
    )
    up.set_defaults(func=_cmd_up)
    build = commands.add_parser("build", help="make sure the binaries exist; print their paths")
    build.set_defaults(func=_cmd_build)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
