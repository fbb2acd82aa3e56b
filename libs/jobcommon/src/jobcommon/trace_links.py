"""Where a job's trace opens in a tracing UI: `TRACING_UI_URL` (see `TracingUiSettings`) and a trace id.

The template may name the trace id as `{trace_id}` anywhere (Arize Phoenix:
`http://127.0.0.1:6006/projects/UHJvamVjdDox/traces/{trace_id}`); without it, `/trace/<trace id>` is
appended (Jaeger: `http://127.0.0.1:16686`). Read once per process.
"""

from __future__ import annotations

import functools

from jobcommon.settings import TracingUiSettings

PLACEHOLDER = "{trace_id}"


@functools.cache
def _template() -> str | None:
    return TracingUiSettings().tracing_ui_url


def trace_url(trace_id: str | None) -> str | None:
    """The URL of `trace_id` in the tracing UI, or None without a UI configured or a trace id."""
    template = _template()
    if not template or not trace_id:
        return None
    if PLACEHOLDER in template:
        return template.replace(PLACEHOLDER, trace_id)
    return f"{template.rstrip('/')}/trace/{trace_id}"
