"""Task ids as people copy them into a search box: the whole id, its first digits, or the id as the dashboard
and the CLI shorten it (`7ffd509e…0bed`, also with `...`).

A search text that reads as one (`id_pattern`) finds the jobs whose id it names (`IdPattern.matches`), in
addition to the jobs its words find: the jobs listing (`gateway.id_search`) and the dead letters
(`jobcommon.dead_letters`) both read it so. The CLI (`mediajobs_cli.api`) reads an id argument by the same
rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ID_LENGTH = 32
"""A whole task id's length: 32 lower-case hex digits."""
_SHORT_ID = re.compile(r"^(?P<head>[0-9a-f]{4,32})(?:(?:…|\.\.\.?)(?P<tail>[0-9a-f]{0,28}))?$")


@dataclass(frozen=True, slots=True)
class IdPattern:
    """A task id as people copy it: its first digits (`head`), and with an ellipsis its last (`tail`)."""

    head: str
    tail: str = ""

    @property
    def whole(self) -> bool:
        return len(self.head) == ID_LENGTH

    def matches(self, task_id: str) -> bool:
        return (
            len(self.head) + len(self.tail) <= len(task_id)
            and task_id.startswith(self.head)
            and task_id.endswith(self.tail)
        )


def id_pattern(q: str | None) -> IdPattern | None:
    """The task id a search text reads as (case and surrounding blanks ignored), or None."""
    if q is None:
        return None
    found = _SHORT_ID.match(q.strip().lower())
    if found is None or len(found["head"]) + len(found["tail"] or "") > ID_LENGTH:
        return None
    return IdPattern(found["head"], found["tail"] or "")
