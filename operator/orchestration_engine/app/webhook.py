"""The validating admission webhook: AdmissionReview over HTTPS, decided by core/admission.py.

It runs on every replica, leader or standby (the chart's Service sends reviews to any ready
pod), outside kopf: kopf's admission handlers are served only where kopf runs, which under
leader election is the leader alone, so half the reviews would find nobody listening.

The certificate and key are read from ``--webhook-cert-dir`` (``tls.crt``, ``tls.key``, as
cert-manager writes a Secret) and read again when the files change, so a renewed certificate
is served without a restart. The neighbours a review needs (the namespace's services and
workflows) are listed at review time; if that listing fails, the object's own checks still
apply and the review says, as a warning, that its references were not checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp.web

from orchestration_engine.api.engine import KIND as ENGINE_KIND
from orchestration_engine.api.service import KIND as SERVICE_KIND
from orchestration_engine.api.service import PLURAL as SERVICES
from orchestration_engine.api.workflow import KIND as WORKFLOW_KIND
from orchestration_engine.api.workflow import PLURAL as WORKFLOWS
from orchestration_engine.core import admission
from orchestration_engine.kube.client import ApiClient
from orchestration_engine.kube.errors import KubeError
from orchestration_engine.kube.objects import CustomObjects
from orchestration_engine.plumbing import metrics
from orchestration_engine.plumbing.nesting import allow_api_server_nesting

log = logging.getLogger(__name__)

CERT_CHECK_S = 60.0
PATH = "/validate"


class Neighbourhood:
    """Lists a namespace's services and workflows for a review."""

    def __init__(self, api: ApiClient) -> None:
        self._objects = CustomObjects(api)

    async def __call__(self, namespace: str, *, workflows: bool) -> admission.Neighbours:
        services = {
            item["metadata"]["name"]: list((item.get("spec") or {}).get("dependsOn") or [])
            for item in await self._objects.list(SERVICES, namespace, timeout=None)
        }
        names: frozenset[str] = frozenset()
        if workflows:
            listed = await self._objects.list(WORKFLOWS, namespace, timeout=None)
            names = frozenset(item["metadata"]["name"] for item in listed)
        return admission.Neighbours(services, names)


async def review(body: dict[str, Any], neighbourhood: Neighbourhood) -> dict[str, Any]:
    """An AdmissionReview response for an AdmissionReview request."""
    request = body.get("request") or {}
    kind = (request.get("kind") or {}).get("kind")
    obj = request.get("object") or {}
    name = (obj.get("metadata") or {}).get("name") or request.get("name") or ""
    namespace = request.get("namespace") or ""
    spec = obj.get("spec") or {}
    warnings: list[str] = []
    if kind == ENGINE_KIND:
        verdict = _guarded(admission.review_engine, kind, name, spec)
    elif kind in (SERVICE_KIND, WORKFLOW_KIND):
        try:
            neighbours = await neighbourhood(namespace, workflows=kind == WORKFLOW_KIND)
        except (KubeError, OSError, TimeoutError) as error:
            log.warning("admission: cannot list %s's neighbours: %s", namespace, error)
            neighbours = None
            warnings.append(
                "references to other objects were not checked (the API server could not be read)"
            )
        review_kind = (
            admission.review_service if kind == SERVICE_KIND else admission.review_workflow
        )
        verdict = _guarded(review_kind, kind, name, spec, neighbours or admission.Neighbours())
        if neighbours is None:
            # Without the neighbours every reference looks missing: say nothing about them.
            verdict = admission.Verdict(verdict.allowed, verdict.message)
    else:
        verdict = admission.Verdict(True, warnings=(f"not a kind this webhook reviews: {kind}",))
    response: dict[str, Any] = {"uid": request.get("uid", ""), "allowed": verdict.allowed}
    if not verdict.allowed:
        response["status"] = {"code": 422, "reason": "Invalid", "message": verdict.message}
    if verdict.warnings or warnings:
        response["warnings"] = [*verdict.warnings, *warnings]
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}


def _guarded(review_kind: Any, kind: str, name: str, *args: Any) -> admission.Verdict:
    """One object the review cannot handle is refused with the reason, by name: it never
    turns into a 500 (which the API server reports as a failed webhook call, saying nothing)."""
    try:
        return review_kind(name, *args)  # type: ignore[no-any-return]
    except Exception as error:
        metrics.OBJECT_ERRORS.labels(kind, "admission").inc()
        log.warning("admission: could not review %s %s: %r", kind, name, error)
        return admission.Verdict(
            False,
            f"the admission webhook could not review this object: {type(error).__name__}"
            f": {str(error)[:500]}",
        )


def _tls(cert_dir: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_dir / "tls.crt", cert_dir / "tls.key")
    return context


def _stamp(cert_dir: Path) -> tuple[float, float]:
    return ((cert_dir / "tls.crt").stat().st_mtime, (cert_dir / "tls.key").stat().st_mtime)


async def _reload_on_change(context: ssl.SSLContext, cert_dir: Path) -> None:
    """Load a renewed certificate into the live context: new handshakes get it."""
    seen = _stamp(cert_dir)
    while True:
        await asyncio.sleep(CERT_CHECK_S)
        try:
            stamp = _stamp(cert_dir)
            if stamp != seen:
                context.load_cert_chain(cert_dir / "tls.crt", cert_dir / "tls.key")
                seen = stamp
                log.info("admission webhook: renewed certificate loaded from %s", cert_dir)
        except (OSError, ssl.SSLError) as error:  # mid-rotation: the next look gets both files
            log.warning("admission webhook: certificate not reloaded yet: %s", error)


@contextlib.asynccontextmanager
async def serving(port: int, cert_dir: Path, api: ApiClient) -> AsyncIterator[None]:
    """Serve the webhook on all interfaces (the API server calls the pod's address)."""
    # A standby serves reviews without the operator's start-up: read objects as deep as the
    # API server stores them here too (plumbing/nesting.py).
    allow_api_server_nesting()
    context = _tls(cert_dir)
    neighbourhood = Neighbourhood(api)

    async def handle(request: aiohttp.web.Request) -> aiohttp.web.Response:
        try:
            body = await request.json()
        except ValueError:
            raise aiohttp.web.HTTPBadRequest(reason="not an AdmissionReview") from None
        if not isinstance(body, dict):
            raise aiohttp.web.HTTPBadRequest(reason="not an AdmissionReview")
        return aiohttp.web.json_response(await review(body, neighbourhood))

    app = aiohttp.web.Application()
    app.add_routes([aiohttp.web.post(PATH, handle), aiohttp.web.post(PATH + "/{kind}", handle)])
    runner = aiohttp.web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, None, port, ssl_context=context, reuse_address=True)
    await site.start()
    log.info("admission webhook: serving https on port %d, path %s", port, PATH)
    reload = asyncio.create_task(_reload_on_change(context, cert_dir), name="webhook-certs")
    try:
        yield
    finally:
        reload.cancel()
        await asyncio.gather(reload, return_exceptions=True)
        await runner.cleanup()
