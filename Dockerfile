# syntax=docker/dockerfile:1
# One image recipe for every Linli service: the wheel holds the shared runtime, the generated
# contracts and every registered service; SERVICE_MODULE picks the one the image starts.
#
#   docker build --build-arg SERVICE_MODULE=linli_points.app -t linli/volunteer-points .
#
# Stage 1 (build) has compilers in case a dependency lacks a wheel for the platform; stage 2
# (runtime) gets only the finished virtualenv: no compilers, no pip cache, no sources.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/linli
WORKDIR /src
# Dependencies first (pinned by constraints.txt) so that code changes reuse this layer.
COPY pyproject.toml constraints.txt ./
RUN /opt/linli/bin/python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && /opt/linli/bin/pip install --constraint constraints.txt --requirement /tmp/requirements.txt
COPY README.md ./
COPY gen/ gen/
COPY services/ services/
COPY clients/ clients/
RUN /opt/linli/bin/pip install --no-deps . \
    && /opt/linli/bin/python -m compileall -q /opt/linli/lib

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
# Which service this image runs (python -m $LINLI_SERVICE_MODULE), e.g. linli_points.app.
ARG SERVICE_MODULE
RUN test -n "${SERVICE_MODULE}" || (echo "build with --build-arg SERVICE_MODULE=linli_<name>.main" >&2; exit 1)
RUN groupadd --system --gid 10001 linli \
    && useradd --system --uid 10001 --gid linli --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin linli
# volunteer-points draws the award certificates (WeasyPrint): Pango and a font with Chinese
# characters, in its image only (the font is ~90 MB the other services do without).
RUN if [ "${SERVICE_MODULE}" = "linli_points.app" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk \
        && rm -rf /var/lib/apt/lists/*; \
    fi
COPY --from=build /opt/linli /opt/linli
ENV PATH=/opt/linli/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LINLI_SERVICE_MODULE=${SERVICE_MODULE} \
    LINLI_HOST=0.0.0.0 \
    PORT=50051
RUN python -c "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('${SERVICE_MODULE}') else 'no module ${SERVICE_MODULE} in the image')"
USER 10001:10001
WORKDIR /app
EXPOSE 50051
# The standard gRPC health check, with the image's own Python (no extra probe binary).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-m", "linli_runtime.healthcheck"]
# exec: python replaces the shell as PID 1 and gets SIGTERM itself (health NOT_SERVING, drain, flush).
ENTRYPOINT ["/bin/sh", "-c", "exec python -m \"$LINLI_SERVICE_MODULE\"", "--"]
