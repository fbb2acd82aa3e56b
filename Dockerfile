FROM python:3.11-slim
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY . .
RUN uv sync --no-dev
ENV PATH="/app/.venv/bin:$PATH"
