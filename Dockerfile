# The operator image: the package and its runtime dependencies, run as a fixed non-root user
# with a read-only root filesystem in mind (the SQLite default lives on a mounted volume).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
COPY --from=build /install /usr/local
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ORCHESTRATION_DATABASE_URL=sqlite:////var/lib/orchestration-engine/orchestration.db
RUN mkdir -p /var/lib/orchestration-engine && chown 65532:65532 /var/lib/orchestration-engine
USER 65532:65532
WORKDIR /var/lib/orchestration-engine
EXPOSE 8080 8081
ENTRYPOINT ["orchestration-engine"]
CMD ["run"]
