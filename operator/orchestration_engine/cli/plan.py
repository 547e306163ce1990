"""``orchestration-engine plan -f FILE``: workflows validated offline, their steps in waves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from orchestration_engine.cli.consoles import OutputFormat, err, out
from orchestration_engine.cli.manifests import ManifestError, load_documents, parse_workflow
from orchestration_engine.core import dag
from orchestration_engine.core.plan import plan_workflow


def plan(
    file: Annotated[
        Path, typer.Option("-f", "--file", help="A YAML file of OrchestrationWorkflows.")
    ],
    format: Annotated[
        OutputFormat, typer.Option("--format", help="table or json.")
    ] = OutputFormat.TABLE,
) -> None:
    """Validate workflows offline and print their execution order in waves."""
    try:
        documents = load_documents(file)
        plans = []
        for document in documents:
            manifest = parse_workflow(document, str(file))
            try:
                plans.append((manifest, plan_workflow(manifest.spec)))
            except dag.GraphError as error:
                raise ManifestError(
                    f"{file} (OrchestrationWorkflow {manifest.name})",
                    [str(p.message) for p in error.problems],
                ) from None
    except ManifestError as error:
        err.print(f"[red]invalid:[/red] {error.source}")
        for problem in error.problems:
            err.print(f"  - {problem}", markup=False, highlight=False)
        raise typer.Exit(1) from None

    if format is OutputFormat.JSON:
        payload = [
            {"name": m.name, "waves": p.waves, "rollbackOrder": p.rollback_order} for m, p in plans
        ]
        out.print_json(json.dumps(payload))
        return
    for manifest, result in plans:
        out.print(
            f"[bold]{manifest.name}[/bold] (priority {manifest.spec.priority.value}): "
            f"{result.step_count} steps in {len(result.waves)} waves"
        )
        for index, wave in enumerate(result.waves, start=1):
            out.print(f"  wave {index}: {', '.join(wave)}", highlight=False)
        if result.rollback_order:
            out.print(
                f"  rollback (last step first): {', '.join(result.rollback_order)}", highlight=False
            )
