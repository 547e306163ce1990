"""``job``: run a batch/v1 Job to completion.

The Job's name is a function of the workflow, the step and the attempt, and it carries the
workflow's uid as a label: an attempt run again after an operator crash finds the Job it
created before and waits for it instead of starting a second one. A later attempt (a retry)
gets a new name, so it never adopts the Job that just failed.

A transient API fault (429, 5xx, a dropped connection) while creating or polling is tried
again within the step's time (kube/transient.py): it is not a failed attempt, so it never
leads to a second Job. An attempt that ends without the Job finishing (its timeout, the
workflow's deadline, an emergency halt, the workflow deleted, an error) stops the Job:
``stop_job`` deletes it with background propagation, so its pods go too. A Job that finished
is left as it is: a failed one has no pods running, and its pods' logs say why it failed.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from dataclasses import replace
from typing import Any

from orchestration_engine.actions.base import (
    STEP_LABEL,
    WORKFLOW_LABEL,
    WORKFLOW_UID_LABEL,
    ActionDeps,
    StepContext,
    StepFailed,
)
from orchestration_engine.api.common import API_VERSION, is_dns_label
from orchestration_engine.api.workflow import KIND, JobParams
from orchestration_engine.kube import resources
from orchestration_engine.kube.client import ApiClient
from orchestration_engine.kube.errors import Conflict, Invalid
from orchestration_engine.kube.transient import retrying, within

ACTION = "job"
# Deleting every Job of a deleted workflow is given this long to get through transient faults.
CLEANUP_SECONDS = 60.0

MAX_LABEL = 63
_HASH_CHARS = 8


def _shortened(value: str, *, dots_allowed: bool) -> str:
    """``value`` if it fits in 63 characters (and has no dot where none may be), else a
    prefix of it and a hash of the whole, so two long values still differ."""
    if len(value) <= MAX_LABEL and (dots_allowed or "." not in value):
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:_HASH_CHARS]
    prefix = value.replace(".", "-")[: MAX_LABEL - _HASH_CHARS - 1].rstrip("-.")
    return f"{prefix}-{digest}"


def job_name(ctx: StepContext) -> str:
    """``<workflow>-<step>``, ``-rb-`` for a rollback step, ``-<attempt>`` after the first.

    Always a DNS label: Kubernetes copies the name into a label on the Job's pods, which
    cannot be longer than 63 characters.
    """
    name = f"{ctx.workflow}-rb-{ctx.step}" if ctx.rollback else f"{ctx.workflow}-{ctx.step}"
    if ctx.attempt > 1:
        name = f"{name}-{ctx.attempt}"
    if is_dns_label(name):
        return name
    return _shortened(name, dots_allowed=False)


def job_labels(ctx: StepContext) -> dict[str, str]:
    return {
        # A workflow name may be a 253-character subdomain; a label value may not.
        WORKFLOW_LABEL: _shortened(ctx.workflow, dots_allowed=True),
        WORKFLOW_UID_LABEL: ctx.workflow_uid,
        STEP_LABEL: ctx.step,
    }


def job_body(ctx: StepContext, params: JobParams) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(ctx),
            "namespace": ctx.namespace,
            "labels": job_labels(ctx),
            "ownerReferences": [ctx.owner_reference(API_VERSION, KIND)],
        },
        "spec": params.template,
    }


def _is_ours(job: dict[str, Any], ctx: StepContext) -> bool:
    labels = job.get("metadata", {}).get("labels") or {}
    return bool(labels.get(WORKFLOW_UID_LABEL) == ctx.workflow_uid)


def _of_earlier_namesake(job: dict[str, Any], ctx: StepContext) -> bool:
    labels = job.get("metadata", {}).get("labels") or {}
    return bool(
        labels.get(WORKFLOW_LABEL) == job_labels(ctx)[WORKFLOW_LABEL]
        and labels.get(STEP_LABEL) == ctx.step
        and labels.get(WORKFLOW_UID_LABEL) not in (None, ctx.workflow_uid)
    )


def _deleting(job: dict[str, Any]) -> bool:
    return job.get("metadata", {}).get("deletionTimestamp") is not None


async def _get(deps: ActionDeps, ctx: StepContext, name: str) -> dict[str, Any] | None:
    return await retrying(
        lambda: resources.get(deps.api, resources.JOB, ctx.namespace, name),
        action=ACTION,
        what=f"GET Job {name}",
    )


async def _create_or_adopt(deps: ActionDeps, ctx: StepContext, params: JobParams) -> bool:
    """True if it created the Job, False if it adopted ours from an earlier run."""
    name = job_name(ctx)
    while True:
        try:
            created = await retrying(
                lambda: resources.create(
                    deps.api, resources.JOB, ctx.namespace, job_body(ctx, params)
                ),
                action=ACTION,
                what=f"POST Job {name}",
            )
        except Invalid as error:
            raise StepFailed(f"job {name} rejected by the API server: {error}") from None
        if created is not None:
            return True
        existing = await _get(deps, ctx, name)
        if existing is None:  # deleted between our create and our read: create it again
            await asyncio.sleep(deps.poll_seconds)
            continue
        if not _is_ours(existing, ctx) and _of_earlier_namesake(existing, ctx):
            # A workflow of the same name that was deleted made it (two cannot exist at
            # once): its cleanup would delete it; this attempt must not wait on that.
            await _delete(deps, ctx, name, str(existing["metadata"]["uid"]))
            await asyncio.sleep(deps.poll_seconds)
            continue
        if not _is_ours(existing, ctx):
            raise StepFailed(
                f"job {name} already exists in {ctx.namespace} "
                f"and does not belong to workflow {ctx.workflow}"
            )
        if not _deleting(existing):
            return False
        # Ours, stopped when this attempt was interrupted (a halt) and not gone yet (a
        # finalizer): the attempt runs again in a Job of its own, once that one is gone.
        await asyncio.sleep(deps.poll_seconds)


def _condition(job: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return dict(condition)
    return None


def _finished(job: dict[str, Any]) -> bool:
    return _condition(job, "Complete") is not None or _condition(job, "Failed") is not None


def _failure(name: str, condition: dict[str, Any]) -> str:
    reason = condition.get("reason") or "Failed"
    message = condition.get("message")
    return f"job {name} failed: {reason}" + (f": {message}" if message else "")


async def _wait_done(deps: ActionDeps, ctx: StepContext, name: str) -> None:
    while True:
        job = await _get(deps, ctx, name)
        if job is None:
            raise StepFailed(f"job {name} was deleted before it finished")
        if _condition(job, "Complete") is not None:
            return
        failed = _condition(job, "Failed")
        if failed is not None:
            raise StepFailed(_failure(name, failed))
        await asyncio.sleep(deps.poll_seconds)


async def _stop_earlier_attempts(deps: ActionDeps, ctx: StepContext, params: JobParams) -> None:
    """Before a retry's Job starts, stop any earlier attempt's Job still running: its own
    ending deletes it, but not if the API server was unreachable then."""
    if ctx.attempt <= 1:
        return
    selector = f"{WORKFLOW_UID_LABEL}={ctx.workflow_uid},{STEP_LABEL}={ctx.step}"
    existing = set(
        await retrying(
            lambda: resources.list_names(deps.api, resources.JOB, ctx.namespace, selector),
            action=ACTION,
            what=f"LIST Jobs of step {ctx.step}",
        )
    )
    for attempt in range(1, ctx.attempt):
        earlier = replace(ctx, attempt=attempt)
        if job_name(earlier) in existing:
            await stop_job(deps, earlier, params)


async def job(deps: ActionDeps, ctx: StepContext, params: JobParams) -> str:
    name = job_name(ctx)
    await _stop_earlier_attempts(deps, ctx, params)
    created = await _create_or_adopt(deps, ctx, params)
    await _wait_done(deps, ctx, name)
    return f"job {name} completed" + ("" if created else " (adopted)")


async def stop_job(deps: ActionDeps, ctx: StepContext, params: JobParams) -> str:
    """Stop this attempt's Job if it still runs: what a step that ended without succeeding
    does with it. Deleted with background propagation (the API server removes the Job at
    once and the garbage collector its pods); a Job not ours, finished or already being
    deleted is left alone. Says what it did."""
    name = job_name(ctx)
    found = await _get(deps, ctx, name)
    if found is None or not _is_ours(found, ctx):
        return f"job {name}: none to stop"
    if _finished(found) or _deleting(found):
        return f"job {name}: already finished"
    deleted = await _delete(deps, ctx, name, str(found["metadata"]["uid"]))
    return f"job {name} deleted" if deleted else f"job {name}: none to stop"


async def _delete(deps: ActionDeps, ctx: StepContext, name: str, uid: str) -> bool:
    """Delete the Job ``name`` if it is still the one with ``uid``; False if it was not."""
    try:
        return await retrying(
            lambda: resources.delete(deps.api, resources.JOB, ctx.namespace, name, uid=uid),
            action=ACTION,
            what=f"DELETE Job {name}",
        )
    except Conflict:  # another Job has the name now
        return False


async def delete_workflow_jobs(api: ApiClient, namespace: str, workflow_uid: str) -> int:
    """Delete every Job a workflow created; how many were deleted.

    The owner reference would have the garbage collector do this, but only where one runs;
    deleting by label does not depend on it. Background propagation: the Job's pods go too.
    """
    with within(CLEANUP_SECONDS):
        names = await retrying(
            lambda: resources.list_names(
                api, resources.JOB, namespace, f"{WORKFLOW_UID_LABEL}={workflow_uid}"
            ),
            action=ACTION,
            what="LIST Jobs",
        )
        deleted = 0
        for name in names:
            if await retrying(
                functools.partial(resources.delete, api, resources.JOB, namespace, name),
                action=ACTION,
                what=f"DELETE Job {name}",
            ):
                deleted += 1
    return deleted
