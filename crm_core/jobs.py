"""The hub's jobs: one function per pipeline stage, shared by the command line and the Airflow tasks.

Each job opens its own transactions, records a ``run_stat`` row and holds a lease on its name, so the CLI, a manual
Airflow run and a scheduled run can never work the same source or target at the same time. The stage bodies live
with their areas (``connectors``, ``crm_core.staging``, ``crm_core.resolution``, ``crm_core.outbound``) and are
imported on first use, so importing this module stays cheap for DAG parsing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .hub import Hub
from .runs import StageResult, lease, recorded_run

Progress = Callable[[StageResult], None]


def ingest(hub: Hub, source: str, run_id: str | None = None, progress: Progress | None = None) -> StageResult:
    """Read one source from its cursor and land what is new (exactly-once effect)."""
    from connectors import build_source

    from .landing import land_stream

    cfg = hub.config.source(source)
    with lease(hub.sessions, f"source:{source}"), recorded_run(hub.sessions, "ingest", source, run_id) as result:
        connector = build_source(cfg, hub)

        def on_batch(landed: Any) -> None:
            result.records_in, result.records_out = landed.received, landed.landed
            result.detail["duplicates"] = landed.duplicates
            if progress is not None:
                progress(result)

        land_stream(hub.sessions, source, connector.read, run_id=run_id, on_batch=on_batch)
    return result


def map_landed(hub: Hub, source: str | None = None, run_id: str | None = None) -> StageResult:
    """Turn landed raw records into canonical contact records and interactions; bad records go to the dead letter."""
    from .staging import map_pending

    name = source or "all"
    with lease(hub.sessions, f"map:{name}"), recorded_run(hub.sessions, "map", name, run_id) as result:
        map_pending(hub, result, source=source, run_id=run_id)
    return result


def resolve(hub: Hub, run_id: str | None = None) -> StageResult:
    """Match new and changed contact records to customers and rebuild the affected golden records."""
    from .resolution import resolve_pending

    with lease(hub.sessions, "resolve"), recorded_run(hub.sessions, "resolve", "customers", run_id) as result:
        resolve_pending(hub, result, run_id=run_id)
    return result


def push(hub: Hub, target: str, run_id: str | None = None, dry_run: bool = False) -> StageResult:
    """Three-way sync of changed customers with one target."""
    from .outbound import push_target

    hub.config.target(target)
    with lease(hub.sessions, f"target:{target}"), recorded_run(hub.sessions, "push", target, run_id) as result:
        push_target(hub, target, result, run_id=run_id, dry_run=dry_run)
    return result


def sync(hub: Hub, run_id: str | None = None, progress: Callable[[str], None] | None = None) -> list[StageResult]:
    """The main job: every enabled source, then mapping, resolution, and every enabled target."""
    say = progress or (lambda _line: None)
    results: list[StageResult] = []
    for source in hub.config.sources:
        if source.enabled:
            results.append(ingest(hub, source.name, run_id))
            say(results[-1].summary())
    results.append(map_landed(hub, run_id=run_id))
    say(results[-1].summary())
    results.append(resolve(hub, run_id))
    say(results[-1].summary())
    for target in hub.config.targets:
        if target.enabled:
            results.append(push(hub, target.name, run_id))
            say(results[-1].summary())
    return results
