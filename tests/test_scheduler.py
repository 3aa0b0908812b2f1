"""The job scheduler (SECURITY F10, and the leader lock behind F5) with the real APScheduler.

- F10: a scheduler that could not run for three intervals makes exactly one catch-up run
  (``coalesce=True``), never overlaps a run that is still going (``max_instances=1``), and a job
  that raises is logged as ``job_failed`` while the scheduler carries on with the next run.
  The downtime is simulated by moving the wall clock with time-machine while the scheduler sleeps,
  which is what it sees after the process was stopped (SIGSTOP) or starved: its next run time lies
  intervals in the past. (A restarted process starts from an empty in-memory job store, which is
  the easy case: one run at start-up.)
- Every registered job gets those defaults, and the relay and email drain are registered.
- A ``leader=True`` job runs only in the process holding its PostgreSQL advisory lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from app import bootstrap
from app.jobs import registry
from app.jobs.registry import JOBS, Job, make_scheduler
from datalayer.locks import leadership

INTERVAL = 60


def _wait_until(predicate: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def traveller() -> Iterator[Any]:
    with time_machine.travel(datetime(2031, 1, 6, 9, 0, tzinfo=UTC), tick=True) as t:
        yield t


def _start(runtime: bootstrap.Runtime, job: Job) -> Any:
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED

    scheduler = make_scheduler(runtime.ctx, blocking=False, jobs=[job])
    # Runs APScheduler has finished with: only then is a run's instance released, so a wake-up
    # sent earlier would find the job "still running" (max_instances=1) and skip it.
    scheduler.finished = []
    scheduler.add_listener(scheduler.finished.append, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    scheduler.start()
    return scheduler


@pytest.mark.slow
def test_f10_missed_runs_after_downtime_coalesce_into_one(runtime: bootstrap.Runtime, traveller: Any) -> None:
    runs: list[datetime] = []
    job = Job("test-f10-coalesce", lambda _c: INTERVAL, lambda _c: runs.append(datetime.now(UTC)) or {}, "test")
    scheduler = _start(runtime, job)
    try:
        assert _wait_until(lambda: len(runs) == 1), "the first run happens at start-up"
        assert _wait_until(lambda: len(scheduler.finished) == 1)
        traveller.shift(timedelta(seconds=3 * INTERVAL + 5))  # three runs missed
        scheduler.wakeup()
        assert _wait_until(lambda: len(runs) == 2)
        time.sleep(0.3)
        assert len(runs) == 2, "three missed runs must coalesce into one catch-up run"
        next_run = scheduler.get_job(job.id).next_run_time
        assert next_run > datetime.now(UTC), "the schedule continues from now, not from the missed slots"
    finally:
        scheduler.shutdown(wait=True)


@pytest.mark.slow
def test_f10_a_running_job_is_never_overlapped(runtime: bootstrap.Runtime, traveller: Any) -> None:
    running, peak, started = 0, 0, 0
    lock, release = threading.Lock(), threading.Event()

    def slow(_ctx: Any) -> dict[str, Any]:
        nonlocal running, peak, started
        with lock:
            running += 1
            started += 1
            peak = max(peak, running)
        release.wait(10)
        with lock:
            running -= 1
        return {}

    scheduler = _start(runtime, Job("test-f10-overlap", lambda _c: INTERVAL, slow, "test"))
    try:
        assert _wait_until(lambda: started == 1)
        for _ in range(3):  # the next slots arrive while the first run is still going
            traveller.shift(timedelta(seconds=INTERVAL))
            scheduler.wakeup()
            time.sleep(0.1)
        assert (started, peak) == (1, 1)
    finally:
        release.set()
        scheduler.shutdown(wait=True)


@pytest.mark.slow
def test_f10_a_failing_job_is_logged_and_the_scheduler_keeps_running(
    runtime: bootstrap.Runtime, traveller: Any, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    def flaky(_ctx: Any) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database went away")
        return {"done": 1}

    scheduler = _start(runtime, Job("test-f10-flaky", lambda _c: INTERVAL, flaky, "test"))
    try:
        assert _wait_until(lambda: calls == 1)
        assert _wait_until(lambda: any(_event(r) == "job_failed" for r in caplog.records))
        assert _wait_until(lambda: len(scheduler.finished) == 1)
        traveller.shift(timedelta(seconds=INTERVAL + 1))
        scheduler.wakeup()
        assert _wait_until(lambda: calls == 2), "the scheduler must run the job again after a failure"
        assert scheduler.running
    finally:
        scheduler.shutdown(wait=True)
    (failure,) = [r.msg for r in caplog.records if _event(r) == "job_failed"]  # structlog's event dict
    assert isinstance(failure, dict)
    assert failure["job"] == "test-f10-flaky"
    assert failure["exc_info"] is True, "the traceback is logged"


def _event(record: Any) -> str | None:
    return record.msg.get("event") if isinstance(record.msg, dict) else None


def test_every_job_gets_coalesce_single_instance_and_a_grace_time(runtime: bootstrap.Runtime) -> None:
    scheduler = make_scheduler(runtime.ctx, blocking=False)
    scheduler.start(paused=True)  # job defaults are applied when the jobs reach the job store
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)
    assert set(jobs) == {job.id for job in JOBS}
    assert {"outbox-relay", "email-drain"} <= set(jobs)
    for job in jobs.values():
        assert job.coalesce is True
        assert job.max_instances == 1
        assert job.misfire_grace_time == 300
    assert jobs["outbox-relay"].trigger.interval == timedelta(seconds=runtime.settings.outbox_relay_seconds)
    assert jobs["email-drain"].trigger.interval == timedelta(seconds=runtime.settings.email_drain_seconds)


def test_leader_job_runs_only_where_the_advisory_lock_is_held(runtime: bootstrap.Runtime) -> None:
    calls: list[int] = []
    job = Job("test-leader", lambda _c: INTERVAL, lambda _c: calls.append(1) or {"ran": 1}, "test", leader=True)
    with leadership("job:test-leader") as held:  # another worker is the leader
        assert held
        with leadership("job:test-leader") as second:
            assert not second, "only one holder at a time"
        assert registry.run(job, runtime.ctx) is None
        assert calls == []
    assert registry.run(job, runtime.ctx) == {"ran": 1}, "the lock is released when its holder is done"
    assert calls == [1]
