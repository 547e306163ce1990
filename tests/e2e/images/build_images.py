"""Builds the container images of the end-to-end tier and saves each as a tarball that
`ctr -n k8s.io images import` loads into the node's containerd (no registry is reachable).

    build_images.py operator   the repository's Dockerfile, unchanged, as $IMAGE
    build_images.py e2e        that, plus the sandbox (pause) image and the test workload

The Python base is python:3.11-slim-bookworm when it can be pulled; otherwise a local one
made once with mmdebstrap from Debian's mirror (the same Python minor), with the machine's CA
bundle so pip inside builds reaches the package registry. It is rebuilt only when its recipe
changes, and a tarball is re-saved only when its image's id changes.

Uses the engine on DOCKER_HOST when one answers; else starts one with docker-engine.sh and
stops it again at the end. Prints the references as containerd will see them.
Standard library only: it runs before any virtual environment exists.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "orchestration-engine"
IMAGES_DIR = CACHE / "images"
ENGINE = HERE / "docker-engine.sh"

OFFICIAL_BASE = "python:3.11-slim-bookworm"
LOCAL_BASE = "orchestration-engine-base/python:3.11-bookworm"
PAUSE = "orchestration-engine-e2e/pause:1"
WEB = "orchestration-engine-e2e/web:1"
PULL_TIMEOUT = 20
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# The label that records what an image was made from, so an unchanged recipe is not rebuilt.
RECIPE_LABEL = "org.orchestration-engine.recipe"

MMDEBSTRAP = (
    "mmdebstrap",
    "--variant=minbase",
    "--include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates",
    # The machine's bundle replaces the image's: it holds the authority that the package
    # registries' certificates here are signed by.
    f"--customize-hook=upload {CA_BUNDLE} {CA_BUNDLE}",
    "bookworm",
)
# What python:3.11-slim-bookworm sets, plus where the CA bundle is for pip and Python's ssl.
BASE_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    f"ENV PIP_CERT={CA_BUNDLE}",
    f"ENV SSL_CERT_FILE={CA_BUNDLE}",
    f"ENV REQUESTS_CA_BUNDLE={CA_BUNDLE}",
    'CMD ["python3"]',
)


def log(message: str) -> None:
    print(f"build-images: {message}", file=sys.stderr, flush=True)


def docker(*args: str, check: bool = True, timeout: float | None = None) -> str:
    done = subprocess.run(
        ["docker", *args], check=check, text=True, stdout=subprocess.PIPE, timeout=timeout
    )
    return done.stdout.strip()


def image_id(ref: str) -> str | None:
    done = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", ref],
        text=True,
        capture_output=True,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def recipe_of(ref: str) -> str | None:
    if image_id(ref) is None:
        return None
    found = docker(
        "image", "inspect", "--format", f'{{{{index .Config.Labels "{RECIPE_LABEL}"}}}}', ref
    )
    return found or None


def containerd_ref(ref: str) -> str:
    """The reference as containerd names it: docker.io/library/ for one-part names."""
    first = ref.split("/", 1)[0]
    if "/" in ref and ("." in first or ":" in first or first == "localhost"):
        return ref
    return f"docker.io/{ref}" if "/" in ref else f"docker.io/library/{ref}"


def digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:16]


@contextmanager
def engine() -> Iterator[None]:
    """The engine on DOCKER_HOST if it answers; else one started here and stopped after."""
    answering = (
        subprocess.run(["docker", "info"], capture_output=True, timeout=15, check=False).returncode
        == 0
    )
    if answering:
        yield
        return
    out = subprocess.run([str(ENGINE), "start"], check=True, text=True, stdout=subprocess.PIPE)
    for line in out.stdout.splitlines():
        if line.startswith("export DOCKER_HOST="):
            os.environ["DOCKER_HOST"] = line.split("=", 1)[1]
    try:
        yield
    finally:
        subprocess.run([str(ENGINE), "stop"], check=False)


def python_base() -> tuple[str, list[str]]:
    """The base image and the build arguments that select it."""
    if image_id(OFFICIAL_BASE) is not None:
        return OFFICIAL_BASE, []
    try:
        pulled = (
            subprocess.run(
                ["docker", "pull", "--quiet", OFFICIAL_BASE],
                capture_output=True,
                timeout=PULL_TIMEOUT,
                check=False,
            ).returncode
            == 0
        )
    except subprocess.TimeoutExpired:
        pulled = False
    if pulled:
        return OFFICIAL_BASE, []
    recipe = digest(
        "\0".join(MMDEBSTRAP).encode(), "\0".join(BASE_CHANGES).encode(), CA_BUNDLE.read_bytes()
    )
    if recipe_of(LOCAL_BASE) != recipe:
        log(f"{OFFICIAL_BASE} cannot be pulled; making {LOCAL_BASE} with mmdebstrap")
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="oe-base-") as tmp:
            tar = Path(tmp) / "base.tar"
            # stdin closed: mmdebstrap reads a sources.list from a stdin that is not a terminal.
            subprocess.run([*MMDEBSTRAP, str(tar)], check=True, stdin=subprocess.DEVNULL)
            changes = [f"--change={c}" for c in (*BASE_CHANGES, f"LABEL {RECIPE_LABEL}={recipe}")]
            docker("import", *changes, str(tar), LOCAL_BASE)
        log(f"{LOCAL_BASE} made in {time.monotonic() - started:.0f} s")
    return LOCAL_BASE, ["--build-arg", f"PYTHON_IMAGE={LOCAL_BASE}"]


def build(ref: str, context: Path, build_args: list[str]) -> None:
    log(f"building {ref}")
    started = time.monotonic()
    subprocess.run(
        ["docker", "build", "--network=host", "--quiet", "--tag", ref, *build_args, str(context)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    log(f"{ref} built in {time.monotonic() - started:.0f} s")


def build_pause() -> None:
    """A static binary in an otherwise empty image: there is nothing else a sandbox needs."""
    source = HERE / "pause" / "pause.c"
    with tempfile.TemporaryDirectory(prefix="oe-pause-") as tmp:
        binary = Path(tmp) / "pause"
        subprocess.run(["gcc", "-static", "-O2", "-o", str(binary), str(source)], check=True)
        data = binary.read_bytes()
        recipe = digest(data)
        if recipe_of(PAUSE) == recipe:
            return
        log(f"building {PAUSE}")
        tar = Path(tmp) / "pause.tar"
        # Fixed owner and times, so the same binary gives the same layer.
        with tarfile.open(tar, "w") as out:
            info = tarfile.TarInfo("pause")
            info.size, info.mode, info.mtime = len(data), 0o755, 0
            out.addfile(info, io.BytesIO(data))
        docker(
            "import",
            '--change=ENTRYPOINT ["/pause"]',
            "--change=USER 65535:65535",
            f"--change=LABEL {RECIPE_LABEL}={recipe}",
            str(tar),
            PAUSE,
        )


def save(ref: str) -> Path:
    """The image as a tarball in the cache; rewritten only when the image's id changed."""
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    name = ref.replace("/", "_").replace(":", "_")
    tar, id_file = IMAGES_DIR / f"{name}.tar", IMAGES_DIR / f"{name}.id"
    current = image_id(ref)
    if current is None:
        raise SystemExit(f"build-images: {ref} does not exist")
    if tar.exists() and id_file.exists() and id_file.read_text().strip() == current:
        return tar
    partial = tar.with_suffix(".tar.partial")
    docker("save", "--output", str(partial), ref)
    partial.chmod(0o644)
    partial.replace(tar)
    id_file.write_text(current + "\n")
    log(f"saved {tar}")
    return tar


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("which", choices=("operator", "e2e"))
    parser.add_argument("--image", default=os.environ.get("IMAGE") or "orchestration-engine:dev")
    args = parser.parse_args()
    if shutil.which("docker") is None:
        raise SystemExit("build-images: no docker client (Debian's docker.io provides one)")
    with engine():
        _base, build_args = python_base()
        build(args.image, ROOT, build_args)
        refs = [args.image]
        if args.which == "e2e":
            build_pause()
            build(WEB, HERE / "web", build_args)
            refs += [PAUSE, WEB]
        for ref in refs:
            tar = save(ref)
            print(f"{containerd_ref(ref)}\t{tar}")


if __name__ == "__main__":
    main()
