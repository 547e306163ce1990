# The operator image: the package and its runtime dependencies in a virtual environment,
# run as a fixed non-root user with a read-only root filesystem (the SQLite default lives on
# a mounted volume; the Helm chart mounts one). Every dependency ships a manylinux wheel, so
# neither stage needs a compiler, and the final stage gets only the environment.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
# The package's own wheel first; then its dependencies as wheels only (tests/integration/
# test_dockerfile.py runs these same commands on the test machine).
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/orchestration-engine \
 && /opt/orchestration-engine/bin/pip install --only-binary=:all: /wheels/*.whl \
 && /opt/orchestration-engine/bin/orchestration-engine --help > /dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="orchestration-engine" \
      org.opencontainers.image.description="Kubernetes operator: service health, failover, scaling and workflows" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/orchestration-engine /opt/orchestration-engine
ENV PATH=/opt/orchestration-engine/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ORCHESTRATION_DATABASE_URL=sqlite:////var/lib/orchestration-engine/orchestration.db
RUN mkdir -p /var/lib/orchestration-engine && chown 65532:65532 /var/lib/orchestration-engine
USER 65532:65532
WORKDIR /var/lib/orchestration-engine
# Metrics, liveness/readiness, and the admission webhook when enabled.
EXPOSE 8080 8081 9443
ENTRYPOINT ["orchestration-engine"]
CMD ["run"]
