"""API keys this gateway knows are over their submission rate, and until when.

The rate is checked by the step that creates a job (`jobcommon.Admission`), after the request is parsed and
its record and message are built: a key submitting far over its rate would make the gateway do all that for
every refusal. The create step's refusal says exactly how long the key must wait (`TooManySubmissions`:
nothing it submits can be admitted sooner, and other gateways' admissions only push that later), so until
then this gateway refuses the key's submissions itself, before the body is validated, without the create
step (`gateway.routes.admitted_submitter`).

The replay of an earlier submission (an `Idempotency-Key` this owner already used: one EXISTS tells) still
goes to the create step, which answers it with the first job (200) however fast its key submits.
"""

from __future__ import annotations

import time

PRUNE_ABOVE = 1024
"""Expired entries are dropped when a refusal is noted and more keys than this are remembered."""


class RefusedKeys:
    """key id -> the monotonic time before which its submissions are refused."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def wait_s(self, key_id: str) -> float:
        """Seconds the key must still wait before a submission can be admitted (0 if none)."""
        until = self._until.get(key_id)
        if until is None:
            return 0.0
        left = until - time.monotonic()
        if left <= 0:
            del self._until[key_id]
            return 0.0
        return left

    def refuse(self, key_id: str, wait_s: float) -> None:
        """The create step refused the key: nothing it submits can be admitted for `wait_s` seconds."""
        now = time.monotonic()
        if len(self._until) >= PRUNE_ABOVE:
            self._until = {key: until for key, until in self._until.items() if until > now}
        self._until[key_id] = max(self._until.get(key_id, 0.0), now + wait_s)
