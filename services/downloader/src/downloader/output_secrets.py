"""The files a download writes beside its media hold none of its URL's secrets.

yt-dlp's info JSON (the `write_info_json` option) records the URL it fetched with its credentials and signed
query string (`url`, `webpage_url`, each format's `url`) and the bare authority, `user:pw@host:port`, as
`webpage_url_domain`. It is an output people read and pass on: once yt-dlp is done it is rewritten with them
masked, as everything shown of a job is (`jobcommon.redaction`).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from jobcommon.redaction import redact_data, url_userinfo

if TYPE_CHECKING:
    from pathlib import Path


def scrub_info_json(path: Path, url: str) -> None:
    """Rewrite the info JSON at `path` with `url`'s credentials and every secret-looking query value masked
    (in place, atomically; untouched when it holds none). A file that is not JSON is masked as text."""
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    userinfo = url_userinfo(url)
    try:
        data = json.loads(text)
    except ValueError:
        clean_text: str = redact_data(text, userinfo=userinfo)
        if clean_text is text:
            return
    else:
        clean = redact_data(data, userinfo=userinfo)
        if clean is data:
            return
        clean_text = json.dumps(clean, ensure_ascii=False)
    staged = path.with_name(f"{path.name}.scrubbed")
    staged.write_text(clean_text, encoding="utf-8", errors="surrogateescape")
    os.replace(staged, path)
