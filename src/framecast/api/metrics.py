"""Prometheus metrics, read from the database at scrape time.

``FramecastCollector`` is a ``prometheus_client`` custom collector: every scrape asks the
database (``db/stats.py``) and this server's worker supervisor, so any API process of a
fleet reports the same queue numbers, and nothing is counted in memory that a restart loses.

    framecast_info{version}                          1
    framecast_database_up                            1 when the scrape could read the database
    framecast_queue_depth{model,tier}                queued tasks (canonical model id; zeros
                                                     for every configured model and tier)
    framecast_tasks{status}                          tasks in each status (every status)
    framecast_task_duration_seconds{kind}            summary, created → finished, succeeded
    framecast_task_run_seconds{kind}                 summary, started → finished, succeeded
                                                     (quantiles 0.5/0.95 over the last 500;
                                                     _count/_sum over every stored task)
    framecast_task_failures_total{reason}            failed tasks by error code
    framecast_engine_slots{state}                    this server's slots: busy|idle|loading|
                                                     defunct (zeros when it runs no worker)
    framecast_worker_embedded                        1 when this server runs a worker (serve
                                                     without --no-worker)
    framecast_webhook_backlog                        pending webhook deliveries (absent when
                                                     the database has no outbox table)

Counts come from stored rows, so deleting tasks lowers them (Prometheus reads that as a
counter reset, which ``rate()`` handles).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from framecast import __version__
from framecast.core.errors import NotFound
from framecast.core.task import TIER_PRIORITY
from framecast.db.stats import RecentDuration, StatsReader
from framecast.worker.messages import ChildState

log = logging.getLogger("framecast.api")

QUANTILES = (0.5, 0.95)
SLOT_STATES = ("busy", "idle", "loading", "defunct")
_STATE_NAMES = {ChildState.RUNNING: "busy", ChildState.READY: "idle",
                ChildState.LOADING: "loading", ChildState.DEFUNCT: "defunct", None: "loading"}


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank; 0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[rank]


def slot_states(supervisor: Any) -> dict[str, int]:
    """How many of the supervisor's slots are in each state (all zero without one)."""
    counts = dict.fromkeys(SLOT_STATES, 0)
    if supervisor is not None:
        for info in supervisor.slot_info():
            counts[_STATE_NAMES.get(info.state, "loading")] += 1
    return counts


class FramecastCollector(Collector):
    """Reads the metrics above from a runtime (``runtime.Runtime``) at every scrape."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.stats = StatsReader(runtime.queue.engine)

    def collect(self) -> Iterator[Metric]:
        """One scrape."""
        info = GaugeMetricFamily("framecast_info", "Framecast build information.",
                                 labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        try:
            database = list(self._database_metrics())
            up = 1
        except Exception as exc:
            log.warning("metrics: the database could not be read (%s: %s)",
                        type(exc).__name__, exc)
            database, up = [], 0
        yield GaugeMetricFamily("framecast_database_up",
                                "1 when this scrape could read the database.", value=up)
        yield from database
        yield from self._worker_metrics()

    def _canonical(self, model: str) -> str:
        try:
            return self.runtime.registry.resolve(model).id
        except NotFound:
            return model

    def _database_metrics(self) -> Iterator[Metric]:
        registry = self.runtime.registry
        depth = {(e.id, tier): 0 for e in registry.entries for tier in TIER_PRIORITY}
        for model, tier, count in self.stats.queued_by_model_tier():
            key = (self._canonical(model), tier)
            depth[key] = depth.get(key, 0) + count
        queue = GaugeMetricFamily("framecast_queue_depth", "Tasks waiting for a worker.",
                                  labels=["model", "tier"])
        for (model, tier), count in sorted(depth.items()):
            queue.add_metric([model, tier], count)
        yield queue

        tasks = GaugeMetricFamily("framecast_tasks", "Stored tasks by status.",
                                  labels=["status"])
        for status, count in self.runtime.queue.counts_by_status().items():
            tasks.add_metric([status], count)
        yield tasks

        yield from self._durations()

        failures = CounterMetricFamily("framecast_task_failures",
                                       "Failed tasks by error code.", labels=["reason"])
        for reason, count in sorted(self.stats.failures_by_reason().items()):
            failures.add_metric([reason], count)
        yield failures

        backlog = self.stats.webhook_backlog()
        if backlog is not None:
            yield GaugeMetricFamily("framecast_webhook_backlog",
                                    "Webhook deliveries waiting to be attempted.", value=backlog)

    def _durations(self) -> Iterator[Metric]:
        totals = {t.kind: t for t in self.stats.duration_totals()}
        recent: dict[str, list[RecentDuration]] = {}
        for row in self.stats.recent_durations():
            recent.setdefault(row.kind, []).append(row)
        for name, doc, pick in (
                ("framecast_task_duration_seconds",
                 "Succeeded tasks, created to finished (quantiles over recent tasks).",
                 lambda r: r.total_s),
                ("framecast_task_run_seconds",
                 "Succeeded tasks, started (last attempt) to finished (quantiles over recent "
                 "tasks).", lambda r: r.run_s)):
            family = SummaryMetricFamily(name, doc, labels=["kind"])
            for kind in sorted(totals):
                total = totals[kind]
                values = [pick(r) for r in recent.get(kind, [])]
                sum_value = total.total_s if name.endswith("duration_seconds") else total.run_s
                family.add_metric([kind], count_value=total.count, sum_value=sum_value)
                for q in QUANTILES:
                    family.add_sample(name, {"kind": kind, "quantile": str(q)},
                                      quantile(values, q))
            yield family

    def _worker_metrics(self) -> Iterator[Metric]:
        supervisor = self.runtime.worker_view()
        slots = GaugeMetricFamily("framecast_engine_slots",
                                  "This server's engine slots by state.", labels=["state"])
        for state, count in slot_states(supervisor).items():
            slots.add_metric([state], count)
        yield slots
        yield GaugeMetricFamily("framecast_worker_embedded",
                                "1 when this server runs a worker supervisor.",
                                value=0 if supervisor is None else 1)
