"""Loading the Lua scripts under `lua/` (the atomic steps of the job life cycle)."""

from __future__ import annotations

from importlib import resources

from jobcommon.replies import lua_constants


def lua_source(name: str, *, with_parent_hook: bool = False) -> str:
    folder = resources.files("jobcommon").joinpath("lua")
    source = folder.joinpath(f"{name}.lua").read_text(encoding="utf-8")
    if with_parent_hook:  # Redis 6.2 has no shared Lua functions: prepend the hook to each script using it
        source = folder.joinpath("lib_parent.lua").read_text(encoding="utf-8") + source
    return lua_constants() + source
