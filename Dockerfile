# syntax=docker/dockerfile:1
# One image per service:  docker build --target gateway|downloader|metadata|imaging|janitor -t mediajobs-<x> .
#
# Each image holds one workspace package (plus jobcommon) and only its own dependencies, resolved with the exact
# pins of pyproject.toml's [tool.uv] constraint-dependencies. The third-party dependencies are installed in a
# layer that depends only on the pyproject files, so editing source code rebuilds just the last, small layer.
# The final stages carry no uv, no uv cache, no compiler and no source tree: a venv in /opt/venv, run as an
# unprivileged user.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: uv (from the package index, pinned) and the workspace's metadata --------------------------------
FROM ${PYTHON_IMAGE} AS builder
RUN pip install --no-cache-dir uv==0.13.9
ENV UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_CACHE_DIR=/root/.cache/uv
WORKDIR /src
COPY deploy/docker/install.sh /usr/local/bin/install-mediajobs
COPY pyproject.toml ./
COPY libs/jobcommon/pyproject.toml libs/jobcommon/
COPY libs/cli/pyproject.toml libs/cli/
COPY services/gateway/pyproject.toml services/gateway/
COPY services/downloader/pyproject.toml services/downloader/
COPY services/metadata/pyproject.toml services/metadata/
COPY services/imaging/pyproject.toml services/imaging/
COPY services/janitor/pyproject.toml services/janitor/

FROM builder AS build-gateway
RUN --mount=type=cache,target=/root/.cache/uv install-mediajobs deps mediajobs-gateway
COPY libs/jobcommon libs/jobcommon
COPY services/gateway services/gateway
RUN --mount=type=cache,target=/root/.cache/uv install-mediajobs source libs/jobcommon services/gateway

FROM builder AS build-downloader
RUN --mount=type=cache,target=/root/.cache/uv install-mediajobs deps mediajobs-downloader
COPY libs/jobcommon libs/jobcommon
COPY services/downloader services/downloader
RUN --mount=type=cache,target=/root/.cache/uv install-mediajobs source libs/jobcommon services/downloader

FROM builder AS build-metadata
RUN --mount=type=cache,target=/root/.cache/uv install-mediajobs deps mediajobs-metadata
COPY libs/jobcommon libs/jobcommon
COPY services/metadata services/metadata
RUN --mount=type=cache,target=/root/.cache/uv install-mediajobs source libs/jobcommon services/metadata

FROM builder AS build-imaging
RUN --mount=type=cache,target=/root/.cache/uv install-mediajobs deps mediajobs-imaging
COPY libs/jobcommon libs/jobcommon
COPY services/imaging services/imaging
RUN --mount=type=cache,target=/root/.cache/uv install-mediajobs source libs/jobcommon services/imaging

FROM builder AS build-janitor
RUN --mount=type=cache,target=/root/.cache/uv install-mediajobs deps mediajobs-janitor
COPY libs/jobcommon libs/jobcommon
COPY services/janitor services/janitor
RUN --mount=type=cache,target=/root/.cache/uv install-mediajobs source libs/jobcommon services/janitor

# ---- runtime: what every service image shares -----------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 mediajobs \
    && useradd --system --uid 10001 --gid mediajobs --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin mediajobs \
    && mkdir -p /media && chown mediajobs:mediajobs /media
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MEDIA_ROOT=/media \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache
WORKDIR /tmp
USER 10001:10001
STOPSIGNAL SIGTERM

# ---- the service images ----------------------------------------------------------------------------------
FROM runtime AS gateway
COPY --from=build-gateway /opt/venv /opt/venv
ENV GATEWAY_HOST=0.0.0.0 GATEWAY_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/jobs/health' % os.environ.get('GATEWAY_PORT', '8000'), timeout=4)"]
CMD ["python", "-m", "gateway"]

FROM runtime AS downloader
COPY --from=build-downloader /opt/venv /opt/venv
# ffmpeg: the static build imageio-ffmpeg ships (found by the downloader when none is on PATH); fail the build
# if it is missing rather than every download later.
RUN python -c "import imageio_ffmpeg, subprocess; subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), '-version'], check=True, capture_output=True)"
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["python", "-m", "jobcommon.health", "downloader"]
CMD ["python", "-m", "downloader"]

FROM runtime AS metadata
COPY --from=build-metadata /opt/venv /opt/venv
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["python", "-m", "jobcommon.health", "metadata"]
CMD ["python", "-m", "metadata"]

FROM runtime AS imaging
COPY --from=build-imaging /opt/venv /opt/venv
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["python", "-m", "jobcommon.health", "imaging"]
CMD ["python", "-m", "imaging"]

FROM runtime AS janitor
COPY --from=build-janitor /opt/venv /opt/venv
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["python", "-m", "jobcommon.health", "janitor"]
CMD ["python", "-m", "janitor"]
