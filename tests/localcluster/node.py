"""A real single-node Kubernetes cluster: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, a kubelet with containerd and runc, CNI bridge networking, kube-proxy and
CoreDNS, every one a child process, with its state in a temporary directory.

It must run inside a network namespace of its own (`netns.py run -- ...`): it binds the
fixed ports a node uses, installs kube-proxy's rules and a bridge for the pods, none of which
may touch the machine's own network. Pods then really start, pass their probes, get replaced
by their controllers, resolve Service names and send traffic through ClusterIPs.

Images cannot be pulled here: they are imported into containerd from the tarballs that
`make e2e-images` saves, and workloads use `imagePullPolicy: Never` (or IfNotPresent).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from envtest.controlplane import (
    _death_signal_prefix,
    _etcd_supports_no_fsync,
    _terminate,
    cache_root,
    find_binaries,
    k8s_version,
)
from localcluster import netns

BUILD_SCRIPT = Path(__file__).resolve().with_name("build-node.sh")
NODE_NAME = "eoe-node"
CLUSTER_DOMAIN = "cluster.local"
SERVICE_CIDR = "10.96.0.0/16"
API_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
POD_CIDR = "10.244.0.0/24"
API_PORT = 6443
CONTEXT_NAME = "eoe-local"
COMPONENTS = ("kubelet", "kube-controller-manager", "kube-scheduler", "kube-proxy", "coredns")
DEFAULT_READY_TIMEOUT = 180.0
# The pause image: every pod's sandbox. `make e2e-images` builds it from tests/e2e/images.
PAUSE_IMAGE = "docker.io/orchestration-engine-e2e/pause:1"


def images_dir() -> Path:
    return cache_root() / "images"


def node_binaries() -> Path:
    """The directory with every binary, building the missing ones first (minutes, once)."""
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        bin_dir = Path(assets).expanduser()
    else:
        apiserver, _ = find_binaries()
        bin_dir = apiserver.parent
    missing = [c for c in COMPONENTS if not (bin_dir / c).is_file()]
    if missing:
        print(
            f"building {', '.join(missing)} with {BUILD_SCRIPT} (a few minutes, once)",
            file=sys.stderr,
            flush=True,
        )
        subprocess.run(
            ["bash", str(BUILD_SCRIPT)],
            env={**os.environ, "K8S_VERSION": k8s_version()},
            check=True,
        )
    return bin_dir


_OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no

[dn]
CN = eoe-local

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
subjectAltName = {sans}

[v3_client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid,issuer
"""


def _openssl(cert_dir: Path, *args: str) -> None:
    result = subprocess.run(
        ["openssl", *args],
        cwd=cert_dir,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OPENSSL_CONF": str(cert_dir / "openssl.cnf")},
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{result.stderr}")


def _generate_certificates(cert_dir: Path, extra_ips: Sequence[str]) -> None:
    cert_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ips = ["127.0.0.1", netns.NODE_IP, API_SERVICE_IP, *extra_ips]
    names = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        f"kubernetes.default.svc.{CLUSTER_DOMAIN}",
    ]
    sans = ",".join([*(f"IP:{ip}" for ip in ips), *(f"DNS:{name}" for name in names)])
    (cert_dir / "openssl.cnf").write_text(_OPENSSL_CONFIG.format(sans=sans))
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        cert_dir,
        "req",
        "-x509",
        "-extensions",
        "v3_ca",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "30",
        "-subj",
        "/CN=eoe-local-ca",
    )
    for name, extension, subject in (
        ("apiserver", "v3_serving", "/CN=kube-apiserver"),
        # The API server's identity towards kubelets (logs, exec); kubelet authorises anyone
        # its CA vouches for.
        ("apiserver-kubelet-client", "v3_client", "/O=system:masters/CN=kube-apiserver"),
    ):
        _openssl(
            cert_dir,
            "req",
            "-new",
            *ec,
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            subject,
        )
        _openssl(
            cert_dir,
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "0x" + secrets.token_hex(16),
            "-days",
            "30",
            "-extfile",
            "openssl.cnf",
            "-extensions",
            extension,
            "-out",
            f"{name}.crt",
        )
    _openssl(
        cert_dir,
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "service-account.key",
    )
    _openssl(
        cert_dir, "pkey", "-in", "service-account.key", "-pubout", "-out", "service-account.pub"
    )


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"<cannot read {path}: {error}>"


class NodeCluster:
    """The cluster; `start()` returns once the node is Ready and DNS answers."""

    def __init__(
        self,
        *,
        images: Sequence[Path] | None = None,
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
        kubeconfig_path: Path | None = None,
    ) -> None:
        self._images = list(images) if images is not None else sorted(images_dir().glob("*.tar"))
        self._ready_timeout = ready_timeout
        self._kubeconfig_path = kubeconfig_path
        self._workdir: Path | None = None
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []
        self._owner_pid = os.getpid()
        self._stop_lock = threading.Lock()
        self.namespace: netns.Namespace | None = None
        self.token = secrets.token_urlsafe(32)
        self.startup_seconds: float | None = None

    # -- where things are ---------------------------------------------------------------------

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise RuntimeError("NodeCluster is not started")
        return self._workdir

    @property
    def server(self) -> str:
        return f"https://{netns.NODE_IP}:{API_PORT}"

    @property
    def kubeconfig(self) -> Path:
        return self._kubeconfig_path or self.workdir / "kubeconfig"

    @property
    def host_kubeconfig(self) -> Path | None:
        """A kubeconfig usable outside the namespace (through its host link), if it has one."""
        if self.namespace is None or self.namespace.host_link_ip is None:
            return None
        return self.workdir / "host.kubeconfig"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "certs" / "ca.crt"

    @property
    def containerd_socket(self) -> Path:
        return self.workdir / "containerd" / "containerd.sock"

    def log(self, component: str) -> Path:
        return self.workdir / "logs" / f"{component}.log"

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> NodeCluster:
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
        self.namespace = netns.current()
        if self.namespace is None:
            raise RuntimeError(
                "the local cluster must run inside a network namespace of its own: start it "
                "with `python tests/localcluster/netns.py run -- COMMAND` (make e2e and make "
                "demo do)"
            )
        bin_dir = node_binaries()
        missing = [str(i) for i in self._images if not i.is_file()]
        if missing or not self._images:
            raise RuntimeError(
                f"images missing ({', '.join(missing) or images_dir()}): run `make e2e-images`"
            )
        started = time.monotonic()
        self._workdir = Path(tempfile.mkdtemp(prefix="eoe-node-"))
        (self.workdir / "logs").mkdir()
        atexit.register(self.stop)
        try:
            self._start(bin_dir, started + self._ready_timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started

    def _start(self, bin_dir: Path, deadline: float) -> None:
        workdir = self.workdir
        apiserver_bin, etcd_bin = find_binaries()
        etcd_args = [
            str(etcd_bin),
            "--name=default",
            f"--data-dir={workdir / 'etcd'}",
            "--listen-client-urls=http://127.0.0.1:2379",
            "--advertise-client-urls=http://127.0.0.1:2379",
            "--listen-peer-urls=http://127.0.0.1:2380",
            "--initial-advertise-peer-urls=http://127.0.0.1:2380",
            "--initial-cluster=default=http://127.0.0.1:2380",
        ]
        if _etcd_supports_no_fsync(etcd_bin):
            etcd_args.append("--unsafe-no-fsync")
        self._spawn("etcd", etcd_args)

        certs = workdir / "certs"
        assert self.namespace is not None
        host_ip = self.namespace.host_link_ip
        _generate_certificates(certs, [host_ip] if host_ip else [])
        tokens = certs / "tokens.csv"
        tokens.write_text(f'{self.token},admin,admin,"system:masters"\n')
        tokens.chmod(0o600)
        self._spawn(
            "kube-apiserver",
            [
                str(apiserver_bin),
                "--bind-address=0.0.0.0",
                f"--advertise-address={netns.NODE_IP}",
                f"--secure-port={API_PORT}",
                "--etcd-servers=http://127.0.0.1:2379",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                f"--token-auth-file={tokens}",
                f"--cert-dir={certs}",
                f"--tls-cert-file={certs / 'apiserver.crt'}",
                f"--tls-private-key-file={certs / 'apiserver.key'}",
                f"--client-ca-file={certs / 'ca.crt'}",
                f"--kubelet-client-certificate={certs / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={certs / 'apiserver-kubelet-client.key'}",
                f"--service-account-issuer=https://kubernetes.default.svc.{CLUSTER_DOMAIN}",
                f"--service-account-key-file={certs / 'service-account.pub'}",
                f"--service-account-signing-key-file={certs / 'service-account.key'}",
                "--allow-privileged=true",
                # The node's name resolves nowhere (no DNS outside the cluster): logs and exec
                # reach the kubelet at its address.
                "--kubelet-preferred-address-types=InternalIP",
            ],
        )
        self._write_kubeconfig(self.kubeconfig, self.server)
        if host_ip and self.host_kubeconfig:
            self._write_kubeconfig(self.host_kubeconfig, f"https://{host_ip}:{API_PORT}")
        self._wait("the API server to be ready", self._api_ready, deadline)

        kubeconfig = str(self.kubeconfig)
        self._spawn(
            "kube-controller-manager",
            [
                str(bin_dir / "kube-controller-manager"),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                "--leader-elect=false",
                f"--service-account-private-key-file={certs / 'service-account.key'}",
                f"--root-ca-file={certs / 'ca.crt'}",
                "--use-service-account-credentials=false",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                str(bin_dir / "kube-scheduler"),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                "--leader-elect=false",
            ],
        )

        self._start_containerd(deadline)
        self._import_images()
        self._write_cni_config()
        self._start_kubelet(bin_dir, deadline)
        self._start_kube_proxy(bin_dir)
        self._start_dns(bin_dir, deadline)
        self._wait("the default ServiceAccount", self._default_service_account, deadline)

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = self.log(name).open("wb")
        self._logs.append(log)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}
        # The Debian runc (with seccomp) first on PATH, whatever else is installed.
        env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin:" + env.get("PATH", "")
        process = subprocess.Popen(
            [*_death_signal_prefix(), *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env=env,
            process_group=0,
        )
        self._processes[name] = process
        return process

    def _check_alive(self) -> None:
        for name, process in self._processes.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with code {process.returncode}; last lines of its log "
                    f"({self.log(name)}):\n{_tail(self.log(name))}"
                )

    def _wait(self, what: str, ready: Any, deadline: float) -> None:
        last = ""
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if ready():
                    return
            except Exception as error:  # any failure means "not yet"; the last one is shown
                last = f"{type(error).__name__}: {error}"
            time.sleep(0.2)
        raise RuntimeError(f"timed out waiting for {what} ({last})")

    def _write_kubeconfig(self, path: Path, server: str) -> None:
        ca = base64.b64encode(self.ca_file.read_bytes()).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [
                {
                    "name": CONTEXT_NAME,
                    "cluster": {"server": server, "certificate-authority-data": ca},
                }
            ],
            "users": [{"name": f"{CONTEXT_NAME}-admin", "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": CONTEXT_NAME,
                    "context": {"cluster": CONTEXT_NAME, "user": f"{CONTEXT_NAME}-admin"},
                }
            ],
            "current-context": CONTEXT_NAME,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            yaml.safe_dump(config, handle, sort_keys=False)

    # -- the API, without the operator's client (this runs before anything is installed) ----

    def api(self, method: str, path: str, body: Any = None) -> Any:
        import ssl
        import urllib.request

        request = urllib.request.Request(
            self.server + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def _api_ready(self) -> bool:
        import ssl
        import urllib.request

        request = urllib.request.Request(
            self.server + "/readyz", headers={"Authorization": f"Bearer {self.token}"}
        )
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with urllib.request.urlopen(request, context=context, timeout=2) as response:
            return bool(response.status == 200)

    def _default_service_account(self) -> bool:
        self.api("GET", "/api/v1/namespaces/default/serviceaccounts/default")
        self.api("GET", "/api/v1/namespaces/default/configmaps/kube-root-ca.crt")
        return True

    # -- the node -----------------------------------------------------------------------------

    def _start_containerd(self, deadline: float) -> None:
        base = self.workdir / "containerd"
        base.mkdir()
        config = f"""\
version = 2
root = "{base / "root"}"
state = "{base / "state"}"
[grpc]
  address = "{self.containerd_socket}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{base / "opt"}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # This machine lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj below its own.
  restrict_oom_score_adj = true
  disable_apparmor = true
  # Pod network namespaces under this cluster's own state, not /var/run/netns: a stopped
  # cluster leaves none behind, and two clusters never share the directory.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
        Root = "{base / "runc"}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{self.workdir / "cni" / "net.d"}"
"""
        (base / "config.toml").write_text(config)
        self._spawn("containerd", ["containerd", "--config", str(base / "config.toml")])
        self._wait("containerd", lambda: self._ctr("version") is not None, deadline)

    def _ctr(self, *args: str) -> str:
        result = subprocess.run(
            ["ctr", "--address", str(self.containerd_socket), "--namespace", "k8s.io", *args],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def _import_images(self) -> None:
        for image in self._images:
            self._ctr("images", "import", "--no-unpack=false", str(image))

    def load_image(self, tarball: Path) -> None:
        """Import one more image (a test's new operator build, say) into the node."""
        self._ctr("images", "import", str(tarball))

    def _write_cni_config(self) -> None:
        conf_dir = self.workdir / "cni" / "net.d"
        conf_dir.mkdir(parents=True, exist_ok=True)
        conflist = {
            "cniVersion": "0.4.0",
            "name": "eoe-pods",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": "eoe-br0",
                    "isGateway": True,
                    "ipMasq": True,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_CIDR}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        # Per cluster: two clusters on one machine must not share leases.
                        "dataDir": str(self.workdir / "cni" / "ipam"),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        (conf_dir / "10-eoe.conflist").write_text(json.dumps(conflist, indent=2))

    def _start_kubelet(self, bin_dir: Path, deadline: float) -> None:
        base = self.workdir / "kubelet"
        base.mkdir()
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            # This machine has cgroup v1 and no systemd managing it.
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "cgroupsPerQOS": False,
            "enforceNodeAllocatable": [],
            "failSwapOn": False,
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": False},
                "x509": {"clientCAFile": str(self.ca_file)},
            },
            "authorization": {"mode": "AlwaysAllow"},
            "clusterDNS": [DNS_SERVICE_IP],
            "clusterDomain": CLUSTER_DOMAIN,
            # The machine's resolver is outside the namespace: pods get the cluster's only.
            "resolvConf": "",
            "podLogsDir": str(base / "pod-logs"),
            "readOnlyPort": 0,
            "port": 10250,
            "healthzBindAddress": "127.0.0.1",
            "serializeImagePulls": False,
            # A busy test machine's disk must not evict the tests' pods.
            "evictionHard": {
                "memory.available": "50Mi",
                "nodefs.available": "1%",
                "imagefs.available": "1%",
                "nodefs.inodesFree": "1%",
            },
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "maxPods": 110,
            # Status and probes a little more often than the defaults: tests wait for states.
            "nodeStatusUpdateFrequency": "5s",
            "syncFrequency": "10s",
            "fileCheckFrequency": "10s",
            "shutdownGracePeriod": "0s",
        }
        (base / "config.yaml").write_text(yaml.safe_dump(config))
        self._spawn(
            "kubelet",
            [
                str(bin_dir / "kubelet"),
                f"--config={base / 'config.yaml'}",
                f"--kubeconfig={self.kubeconfig}",
                f"--root-dir={base / 'root'}",
                f"--cert-dir={base / 'pki'}",
                f"--node-ip={netns.NODE_IP}",
                f"--hostname-override={NODE_NAME}",
                "--v=1",
            ],
        )
        self._wait("the node to be Ready", self._node_ready, deadline)

    def _node_ready(self) -> bool:
        node = self.api("GET", f"/api/v1/nodes/{NODE_NAME}")
        conditions = node.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def _start_kube_proxy(self, bin_dir: Path) -> None:
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self.kubeconfig)},
            "mode": "iptables",
            "clusterCIDR": POD_CIDR,
            "hostnameOverride": NODE_NAME,
            # Leave the machine-wide conntrack table alone: it is not this namespace's.
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
            },
            "iptables": {"masqueradeAll": True},
            "metricsBindAddress": "127.0.0.1:10249",
            "healthzBindAddress": "127.0.0.1:10256",
        }
        path = self.workdir / "kube-proxy.yaml"
        path.write_text(yaml.safe_dump(config))
        self._spawn("kube-proxy", [str(bin_dir / "kube-proxy"), f"--config={path}"])

    def _start_dns(self, bin_dir: Path, deadline: float) -> None:
        # CoreDNS runs beside the node's other daemons rather than as a pod: it is the
        # cluster's DNS all the same, reached through the kube-dns Service (a selector-less
        # Service whose EndpointSlice names the node), so kube-proxy carries the queries.
        corefile = self.workdir / "Corefile"
        corefile.write_text(f"""\
.:53 {{
    errors
    health 127.0.0.1:18080
    ready 127.0.0.1:18181
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {self.kubeconfig} {CONTEXT_NAME}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
    loadbalance
}}
""")
        self._spawn("coredns", [str(bin_dir / "coredns"), "-conf", str(corefile)])
        ports = [
            {"name": "dns", "port": 53, "protocol": "UDP"},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
        ]
        self.api(
            "POST",
            "/api/v1/namespaces/kube-system/services",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "kube-dns", "labels": {"k8s-app": "kube-dns"}},
                "spec": {"clusterIP": DNS_SERVICE_IP, "ports": ports},
            },
        )
        self.api(
            "POST",
            "/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices",
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": "kube-dns-node",
                    "labels": {"kubernetes.io/service-name": "kube-dns"},
                },
                "addressType": "IPv4",
                "endpoints": [{"addresses": [netns.NODE_IP], "conditions": {"ready": True}}],
                "ports": ports,
            },
        )
        self._wait("cluster DNS", self._dns_answers, deadline)

    def _dns_answers(self) -> bool:
        # The resolver the pods get, through kube-proxy's rule for the kube-dns Service.
        return resolve(f"kubernetes.default.svc.{CLUSTER_DOMAIN}") == API_SERVICE_IP

    # -- for tests ----------------------------------------------------------------------------

    def is_running(self) -> bool:
        return bool(self._processes) and all(p.poll() is None for p in self._processes.values())

    def stop(self) -> None:
        if self._owner_pid != os.getpid():
            return
        with self._stop_lock:
            # Pods first, while kubelet and containerd can still stop them; then the node, the
            # controllers, the API server and etcd, the reverse of the start.
            containerd = self._processes.get("containerd")
            if containerd is not None and containerd.poll() is None:
                with contextlib.suppress(Exception):
                    self._remove_all_containers()
            for name in reversed(list(self._processes)):
                _terminate(self._processes[name])
            self._processes.clear()
            for log in self._logs:
                log.close()
            self._logs.clear()
            if self._workdir is not None:
                _unmount_below(self._workdir)
                if os.environ.get("EOE_KEEP_CLUSTER_LOGS"):
                    print(f"cluster state kept in {self._workdir}", file=sys.stderr)
                else:
                    shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None
            with contextlib.suppress(Exception):
                atexit.unregister(self.stop)

    def _remove_all_containers(self) -> None:
        # The kubelet stops first in the reverse order; runc's containers outlive their shims
        # unless they are killed here.
        for task in self._ctr("tasks", "list", "--quiet").split():
            with contextlib.suppress(RuntimeError):
                self._ctr("tasks", "kill", "--signal", "SIGKILL", task)


def resolve(name: str, server: str = DNS_SERVICE_IP, timeout: float = 2.0) -> str | None:
    """An A record, asked of the cluster's DNS over UDP (the machine's resolver is outside)."""
    import socket
    import struct

    query_id = secrets.randbits(16)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    packet = struct.pack(">HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + question + b"\x00\x01\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, (server, 53))
        answer = sock.recv(4096)
    answers = struct.unpack(">H", answer[6:8])[0]
    offset = 12 + len(question) + 4
    for _ in range(answers):
        # Names in answers are compressed pointers (two bytes) in CoreDNS's replies.
        if answer[offset] & 0xC0 == 0xC0:
            offset += 2
        else:
            while answer[offset] != 0:
                offset += answer[offset] + 1
            offset += 1
        record_type, _, _, length = struct.unpack(">HHIH", answer[offset : offset + 10])
        offset += 10
        if record_type == 1 and length == 4:
            return socket.inet_ntoa(answer[offset : offset + 4])
        offset += length
    return None


def _unmount_below(path: Path) -> None:
    # kubelet and containerd leave mounts (volumes, overlay roots, shm) under their roots;
    # unmounted deepest first, or the directory cannot be removed.
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    targets = [line.split()[1] for line in mounts if line.split()[1].startswith(str(path))]
    for target in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, check=False, timeout=30)
