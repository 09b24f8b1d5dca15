"""Reading a controller's ``/status`` document over HTTP (what ``copr-importer status`` shows)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from ..errors import TransientError

__all__ = ["fetch_status"]


def fetch_status(base_url: str, *, timeout: float = 5.0) -> dict[str, Any]:
    """GET ``<base_url>/status``; an unreachable or broken server is a :class:`TransientError`."""
    url = base_url.rstrip("/") + "/status"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            doc = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise TransientError(f"{url}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TransientError(f"cannot reach {url}: {reason}") from exc
    except ValueError as exc:
        raise TransientError(f"{url}: not a status document: {exc}") from exc
    if not isinstance(doc, dict) or "queue" not in doc:
        raise TransientError(f"{url}: not a status document")
    return doc
