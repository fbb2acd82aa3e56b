FROM python:3.11-slim
COPY --from=ghcr.io/astral-sh/uv:latest /uv /usr/local/bin/uv
WORKDIR /app
COPY . .
RUN uv sync --no-dev --frozen || uv sync --no-dev
ENV PATH="/app/.venv/bin:$PATH"
