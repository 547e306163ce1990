"""Fixtures for integration tests: the CRDs installed, and the operator as a real process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integration_support import OperatorProcess, apply_crds


@pytest.fixture(scope="session")
def crds(kube_api: Any) -> None:
    apply_crds(kube_api)


@pytest.fixture
def custom(kube_api: Any, crds: None) -> Any:
    from kubernetes import client

    return client.CustomObjectsApi(kube_api)


@pytest.fixture
def operator(control_plane: Any, crds: None, tmp_path: Path) -> Iterator[OperatorProcess]:
    process = OperatorProcess(control_plane.kubeconfig, tmp_path)
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def module_operator(
    control_plane: Any, crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """One operator for a whole test module: cheaper when its tests share no state."""
    process = OperatorProcess(control_plane.kubeconfig, tmp_path_factory.mktemp("operator"))
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()
