# syntax=docker/dockerfile:1
# One image recipe for every Linli service: the wheel holds the shared runtime, the generated
# contracts and every registered service; SERVICE_MODULE picks the one the image starts.
#
#   docker build --build-arg SERVICE_MODULE=linli_points.app -t docker.io/linli/volunteer-points .
#
# In China, pull the base image from a Docker Hub mirror and install from a PyPI and a Debian
# mirror (every Python package is pinned by hash, so a mirror can serve but not change them):
#
#   docker build --build-arg BASE_REGISTRY=docker.m.daocloud.io \
#                --build-arg PIP_INDEX_URL=https://pypi.tuna.tsinghua.edu.cn/simple \
#                --build-arg DEBIAN_MIRROR=mirrors.tuna.tsinghua.edu.cn \
#                --build-arg SERVICE_MODULE=linli_points.app -t … .
#
# Stage 1 (build) has compilers in case a dependency lacks a wheel for the platform; stage 2
# (runtime) gets only the finished virtualenv: no compilers, no pip cache, no sources.

ARG BASE_REGISTRY=docker.io
ARG PYTHON_VERSION=3.11

FROM ${BASE_REGISTRY}/library/python:${PYTHON_VERSION}-slim-bookworm AS build
# Where packages come from: PyPI or a mirror of it (Tsinghua, Alibaba Cloud, Tencent Cloud …),
# and a Debian mirror host for apt (empty: deb.debian.org).
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG DEBIAN_MIRROR=
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_INDEX_URL=${PIP_INDEX_URL} \
    PYTHONDONTWRITEBYTECODE=1
RUN if [ -n "${DEBIAN_MIRROR}" ]; then \
        sed -i -e "s|deb.debian.org|${DEBIAN_MIRROR}|g" -e "s|security.debian.org|${DEBIAN_MIRROR}|g" \
            /etc/apt/sources.list.d/debian.sources; \
    fi \
    && apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/linli && python -m venv /opt/wheel-build
WORKDIR /src
# Dependencies first, every one pinned with its hashes (make lock: requirements.lock from
# constraints.txt), so that code changes reuse this layer.
COPY requirements.lock requirements-build.lock ./
RUN /opt/linli/bin/pip install --require-hashes --no-deps --requirement requirements.lock \
    && /opt/wheel-build/bin/pip install --require-hashes --no-deps --requirement requirements-build.lock
COPY pyproject.toml README.md ./
COPY gen/ gen/
COPY services/ services/
COPY clients/ clients/
# The platform's own wheel, built with the hashed build backend (no isolated, unpinned one).
RUN /opt/wheel-build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheels . \
    && /opt/linli/bin/pip install --no-deps /tmp/wheels/linli-*.whl \
    && /opt/linli/bin/pip check \
    && /opt/linli/bin/python -m compileall -q /opt/linli/lib

FROM ${BASE_REGISTRY}/library/python:${PYTHON_VERSION}-slim-bookworm AS runtime
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
