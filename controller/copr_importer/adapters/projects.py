"""Whether a Copr project still exists, asked of the frontend's public API.

``GET /api_3/project?ownername=<owner>&projectname=<project>`` answers 200 with
the project as JSON, or 404 with a JSON ``{"error": ...}`` body when the project
does not exist (or was deleted; copr's python client turns exactly that into
``CoprNoResultException``).  It needs no authentication.

Only that 404 counts as *deleted*.  A timeout, a connection error, a 5xx, a 404
without copr's JSON error (a proxy's page, a wrong base URL) or any other
answer is *unknown*: the caller keeps the project.  Each project is asked once;
after ``give_up_after`` unanswered questions in a row every later project is
unknown without asking, so a dead frontend costs a few timeouts, not one per
project.
"""

from __future__ import annotations

import logging
from typing import Any

import requests

from ..core.prune import ProjectState
from ..settings import FrontendSettings

__all__ = ["CoprProjects"]

log = logging.getLogger(__name__)


class CoprProjects:
    """Project existence from a Copr frontend."""

    def __init__(
        self, settings: FrontendSettings, *, give_up_after: int, session: requests.Session | None = None
    ) -> None:
        if not settings.base_url:
            raise ValueError("frontend.base_url is not set")
        self.base_url = settings.base_url.rstrip("/")
        self.timeout = (settings.connect_timeout, settings.read_timeout)
        self.session = session or requests.Session()
        self.give_up_after = give_up_after
        self._failures_in_a_row = 0

    def state(self, owner: str, project: str) -> ProjectState:
        if self._failures_in_a_row >= self.give_up_after:
            return "unknown"
        state = self._ask(owner, project)
        self._failures_in_a_row = self._failures_in_a_row + 1 if state == "unknown" else 0
        if self._failures_in_a_row == self.give_up_after:
            log.warning("the frontend failed %d times in a row; every remaining project is kept", self.give_up_after)
        return state

    def _ask(self, owner: str, project: str) -> ProjectState:
        url = f"{self.base_url}/api_3/project"
        try:
            response = self.session.get(url, params={"ownername": owner, "projectname": project}, timeout=self.timeout)
            body: Any = response.json()
        except requests.RequestException as exc:
            log.warning("%s/%s: frontend unreachable (%s); kept", owner, project, type(exc).__name__)
            return "unknown"
        except ValueError:
            log.warning("%s/%s: HTTP %d without JSON; kept", owner, project, response.status_code)
            return "unknown"
        if response.status_code == 200 and isinstance(body, dict) and "error" not in body:
            return "exists"
        if response.status_code == 404 and isinstance(body, dict) and "error" in body:
            log.info("%s/%s: the frontend says %r", owner, project, body["error"])
            return "deleted"
        log.warning("%s/%s: unexpected answer HTTP %d; kept", owner, project, response.status_code)
        return "unknown"
