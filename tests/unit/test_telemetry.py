"""Loop events -> metrics, health and the status document (app/telemetry.py), on a fake clock.

The exposition is read back with prometheus_client's own parser."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from copr_importer import __version__
from copr_importer.adapters.spool import Spool
from copr_importer.app.importstep import EXIT_BAD_INPUT, EXIT_OK, EXIT_TRANSIENT
from copr_importer.app.telemetry import ControllerTelemetry, WriterTelemetry
from copr_importer.core.observer import FRONTEND_AUTH, LIMIT_INVALID, LIMIT_OK, STORAGE
from copr_importer.core.task import ImportTask
from copr_importer.settings import TelemetrySettings

ALLOWED_LABELS = {"result", "outcome", "version", "le", "component", "call", "kind"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def task(build_id: int) -> ImportTask:
    return ImportTask(build_id, "alice", "demo", f"p{build_id}", ("master",), "u", "alice/demo--alice")


def samples(endpoint: ControllerTelemetry | WriterTelemetry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, ctype = endpoint.metrics()
    assert ctype.startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        assert family.name.startswith("copr_importer_"), family.name
        for sample in family.samples:
            assert set(sample.labels) <= ALLOWED_LABELS, sample
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def telemetry(tmp_path: Path, clock: Clock) -> ControllerTelemetry:
    return ControllerTelemetry(
        settings=TelemetrySettings(live_after=60, throughput_window=300),
        mode="embedded",
        spool=Spool(tmp_path / "spool"),
        forwards_writer=True,
        clock=clock,
    )


def test_a_run_of_events_becomes_metrics_and_status(telemetry: ControllerTelemetry, clock: Clock) -> None:
    telemetry.ticked()
    telemetry.polled(queued=[1, 2, 3, 4])
    telemetry.capacity(running=[], limit=2)
    clock.now += 10
    telemetry.dispatched(1)
    telemetry.dispatched(2)
    telemetry.capacity(running=[task(1), task(2)], limit=2)
    clock.now += 30
    telemetry.step_ended(1, exit_code=EXIT_OK)
    telemetry.step_ended(2, exit_code=EXIT_BAD_INPUT)
    telemetry.dispatched(3)
    clock.now += 5
    telemetry.step_ended(3, exit_code=EXIT_TRANSIENT)
    telemetry.canceled(4)
    telemetry.commits_applied(2)
    telemetry.requests_applied(1)
    telemetry.reported(
        {"build_id": 1, "branch_commits": {"master": "a" * 40}, "reponame": "alice/demo/p1"}, package=None
    )
    telemetry.reported({"build_id": 2, "error": "unsafe_srpm", "error_message": "a link"}, package="alice/demo/p2")
    telemetry.polled(queued=[3])  # 1, 2 reported; 4 canceled; 3 waits for its retry
    telemetry.capacity(running=[], limit=3)

    s = samples(telemetry)
    assert s[("copr_importer_build_info", (("version", __version__),))] == 1
    assert s[("copr_importer_leader", ())] == 1
    assert s[("copr_importer_jobs_created_total", ())] == 3
    assert s[("copr_importer_jobs_finished_total", (("result", "succeeded"),))] == 1
    assert s[("copr_importer_jobs_finished_total", (("result", "failed_bad_input"),))] == 1
    assert s[("copr_importer_jobs_finished_total", (("result", "failed_transient"),))] == 1
    assert s[("copr_importer_jobs_finished_total", (("result", "canceled"),))] == 1
    assert s[("copr_importer_queue_wait_seconds_count", ())] == 3  # 4 was never started
    assert s[("copr_importer_queue_wait_seconds_sum", ())] == pytest.approx(10 + 10 + 40)
    assert s[("copr_importer_job_duration_seconds_count", ())] == 3
    assert s[("copr_importer_job_duration_seconds_sum", ())] == pytest.approx(30 + 30 + 5)
    assert s[("copr_importer_job_duration_seconds_bucket", (("le", "30.0"),))] == 3
    assert s[("copr_importer_imports_reported_total", (("outcome", "imported"),))] == 1
    assert s[("copr_importer_imports_reported_total", (("outcome", "failed"),))] == 1
    assert s[("copr_importer_imports_reported_total", (("outcome", "partial"),))] == 0
    assert s[("copr_importer_writer_commits_total", ())] == 2
    assert s[("copr_importer_writer_requests_applied_total", ())] == 1
    assert s[("copr_importer_writer_backlog_requests", ())] == 0
    assert s[("copr_importer_jobs_active", ())] == 0
    assert s[("copr_importer_jobs_limit", ())] == 3
    assert s[("copr_importer_tasks_pending", ())] == 0
    assert s[("copr_importer_config_reloads_total", (("result", "ok"),))] == 0

    doc = telemetry.status()
    assert doc["queue"] == {"pending": 0, "active": 0, "limit": 3}
    assert doc["totals"] == {"succeeded": 1, "failed": 1}
    assert doc["throughput"]["imports"] == 2
    assert doc["throughput"]["per_minute"] == pytest.approx(2 * 60 / 45, abs=0.01)  # up for 45 s
    assert doc["eta_seconds"] == 0.0
    (failure,) = doc["recent_failures"]
    assert failure == {
        "build_id": 2,
        "package": "alice/demo/p2",
        "error": "unsafe_srpm",
        "message": "a link",
        "age_seconds": 0.0,
    }
    telemetry.stopped()
    assert samples(telemetry)[("copr_importer_leader", ())] == 0


def test_eta_follows_the_backlog_and_the_rate(telemetry: ControllerTelemetry, clock: Clock) -> None:
    telemetry.polled(queued=range(1, 12))
    for build_id in (1, 2):
        telemetry.dispatched(build_id)
        telemetry.reported({"build_id": build_id, "branch_commits": {"m": "x"}}, package="a/b/c")
    telemetry.polled(queued=range(3, 12))
    clock.now += 60  # 2 imports in the first minute; 9 left
    doc = telemetry.status()
    assert doc["queue"]["pending"] == 9
    assert doc["throughput"]["per_minute"] == pytest.approx(2.0)
    assert doc["eta_seconds"] == pytest.approx(9 * 30.0)


def test_partial_success_is_a_failure_with_its_branches(telemetry: ControllerTelemetry) -> None:
    report = {"build_id": 5, "branch_commits": {"f43": "a"}, "branch_errors": {"bad..x": "invalid branch name"}}
    telemetry.reported(report, package="alice/demo/p5")
    (failure,) = telemetry.status()["recent_failures"]
    assert failure["error"] == "branch_failed" and failure["message"] == "bad..x: invalid branch name"
    assert samples(telemetry)[("copr_importer_imports_reported_total", (("outcome", "partial"),))] == 1


def test_health(telemetry: ControllerTelemetry, clock: Clock) -> None:
    assert telemetry.live()[0]  # starting up
    assert telemetry.ready() == (False, "the task source has not answered a poll yet")
    clock.now += 61
    assert not telemetry.live()[0]  # never ticked within live_after
    telemetry.ticked()
    telemetry.polled(queued=[])
    assert telemetry.live()[0] and telemetry.ready()[0]
    clock.now += 61
    ok, why = telemetry.live()
    assert not ok and "last tick 61.0 s ago" in why


def test_kubernetes_readiness_needs_the_job_watch(tmp_path: Path, clock: Clock) -> None:
    telemetry = ControllerTelemetry(
        settings=TelemetrySettings(), mode="kubernetes", spool=Spool(tmp_path), forwards_writer=False, clock=clock
    )
    telemetry.polled(queued=[])
    assert telemetry.ready() == (False, "the Job watch is not synced")
    telemetry.cluster_synced(True)
    assert telemetry.ready()[0]
    telemetry.cluster_synced(False)
    assert not telemetry.ready()[0]
    telemetry.limit_refreshed(LIMIT_OK)
    telemetry.limit_refreshed(LIMIT_INVALID)
    telemetry.commits_applied(5)  # the sidecar counts these on its own endpoint
    s = samples(telemetry)
    assert s[("copr_importer_config_reloads_total", (("result", "ok"),))] == 1
    assert s[("copr_importer_config_reloads_total", (("result", "invalid"),))] == 1
    assert not any(name.startswith("copr_importer_writer_commits") for name, _ in s)


def test_the_writer_endpoint(clock: Clock) -> None:
    writer = WriterTelemetry(settings=TelemetrySettings(live_after=10), clock=clock)
    assert writer.status() is None
    assert not writer.ready()[0]
    writer.ticked()
    writer.commits_applied(3)
    writer.requests_applied(2)
    assert writer.ready()[0] and writer.live()[0]
    s = samples(writer)
    assert s[("copr_importer_writer_commits_total", ())] == 3
    assert s[("copr_importer_writer_requests_applied_total", ())] == 2
    assert not any(name.startswith("copr_importer_jobs") for name, _ in s)
    clock.now += 11
    assert not writer.live()[0]


def test_writer_backlog_is_read_from_the_spool(telemetry: ControllerTelemetry, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    for build_id in (1, 2):
        staging = spool.stage(build_id)
        spool.hand_over(staging, build_id=build_id, request={"task": {}})
    assert samples(telemetry)[("copr_importer_writer_backlog_requests", ())] == 2
    assert telemetry.status()["writer_backlog"] == 2


def test_problems_turn_readiness_false_with_their_reasons(telemetry: ControllerTelemetry, clock: Clock) -> None:
    telemetry.ticked()
    telemetry.polled(queued=[])
    telemetry.problem(STORAGE, reason="writing the report of build 7: No space left on device")
    clock.now += 5
    telemetry.problem(FRONTEND_AUTH, reason="frontend rejected the password: HTTP 401")
    clock.now += 5
    telemetry.problem(STORAGE, reason="filing the ordering ticket of build 8: No space left on device")
    ok, why = telemetry.ready()
    assert not ok
    assert why == (
        "frontend-auth: frontend rejected the password: HTTP 401; "
        "storage: filing the ordering ticket of build 8: No space left on device"
    )
    s = samples(telemetry)
    assert s[("copr_importer_problem", (("component", "storage"),))] == 1
    assert s[("copr_importer_problem", (("component", "frontend-auth"),))] == 1
    assert s[("copr_importer_problem", (("component", "cluster"),))] == 0
    doc = telemetry.status()
    assert doc["ready"] is False and doc["ready_reason"] == why
    assert [(p["component"], p["since_seconds"]) for p in doc["problems"]] == [
        ("frontend-auth", 5.0),
        ("storage", 10.0),
    ]
    telemetry.problem(STORAGE, reason=None)
    telemetry.problem(FRONTEND_AUTH, reason=None)
    assert telemetry.ready() == (True, "polled the source")
    assert samples(telemetry)[("copr_importer_problem", (("component", "storage"),))] == 0


def test_frontend_errors_and_unsent_reports(telemetry: ControllerTelemetry) -> None:
    assert samples(telemetry)[("copr_importer_frontend_errors_total", (("call", "poll"), ("kind", "dns")))] == 0
    telemetry.frontend_error("poll", kind="refused")
    telemetry.frontend_error("poll", kind="refused")
    telemetry.frontend_error("report", kind="http_auth")
    telemetry.unsent_reports(count=3, oldest_age=130.04)
    s = samples(telemetry)
    assert s[("copr_importer_frontend_errors_total", (("call", "poll"), ("kind", "refused")))] == 2
    assert s[("copr_importer_frontend_errors_total", (("call", "report"), ("kind", "http_auth")))] == 1
    assert s[("copr_importer_reports_unsent", ())] == 3
    assert s[("copr_importer_reports_unsent_oldest_seconds", ())] == pytest.approx(130.04)
    doc = telemetry.status()
    assert doc["frontend_errors"] == {"http_auth": 1, "refused": 2}
    assert doc["reports"] == {"unsent": 3, "oldest_seconds": 130.0}
