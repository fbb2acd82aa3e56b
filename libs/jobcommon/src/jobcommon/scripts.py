"""Loading the Lua scripts under `lua/` (the atomic steps of the job life cycle)."""

from __future__ import annotations

from importlib import resources

from jobcommon import keys
from jobcommon.replies import lua_constants


def _lua_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def lua_names() -> str:
    """`local INDEX_META = 'mj:...'` ... : the key names and limits the shared index and announce code uses,
    from where they are defined (keys.py, search_tokens.py, change_feed.py)."""
    from jobcommon.change_feed import CHANGES_MAXLEN, CHANGES_TTL_S
    from jobcommon.messages import DATA_FIELD
    from jobcommon.models import ATTEMPT_LOG_LIMIT
    from jobcommon.priorities import LANE_SEPARATOR, Priority
    from jobcommon.queue_samples import WAITS_KEPT, WAITS_TTL_S
    from jobcommon.search_tokens import TOKEN_LIMIT

    strings = {
        "INDEX_META": keys.INDEX_META,
        "INDEX_STATUS_SEP": keys.INDEX_STATUS_SEP,
        "TOKEN_PREFIX": keys.TOKEN_PREFIX,
        "VOCABULARY": keys.VOCABULARY,
        "JOB_CHANGES": keys.JOB_CHANGES,
        "FINISHED_COUNTS": keys.FINISHED_COUNTS,
        "WAITS_PREFIX": keys.queue_waits(""),
        "MESSAGE_FIELD": DATA_FIELD,
        "LANE_SEPARATOR": LANE_SEPARATOR,
        "NORMAL_PRIORITY": Priority.NORMAL.value,
    }
    numbers = {
        "TOKEN_LIMIT": TOKEN_LIMIT,
        "CHANGES_MAXLEN": CHANGES_MAXLEN,
        "CHANGES_TTL": CHANGES_TTL_S,
        "ATTEMPT_LOG_LIMIT": ATTEMPT_LOG_LIMIT,
        "WAITS_KEPT": WAITS_KEPT,
        "WAITS_TTL": WAITS_TTL_S,
    }
    lines = [f"local {name} = {_lua_string(value)}\n" for name, value in strings.items()]
    lines += [f"local {name} = {value}\n" for name, value in numbers.items()]
    return "".join(lines)


def _lua(name: str) -> str:
    return resources.files("jobcommon").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def lua_plain(name: str, *libraries: str) -> str:
    """A script that stands alone: nothing prepended but the `libraries` (lua/<name>.lua) it calls."""
    return "".join(_lua(library) for library in libraries) + _lua(name)


def lua_source(name: str, *, with_parent_hook: bool = False, with_rate_limiter: bool = False) -> str:
    """A script with what it shares prepended: reply codes, names, the index and announce functions (and,
    for scripts that can end a job, the parent hook; for one that checks a rate, the GCRA function). Redis 6.2
    has no shared Lua functions: each script carries its own copy."""
    shared = _lua("lib_index")
    if with_parent_hook:
        shared += _lua("lib_parent")
    if with_rate_limiter:
        shared += _lua("lib_gcra")
    return lua_constants() + lua_names() + shared + _lua(name)
