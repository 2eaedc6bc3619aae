"""The DAG factory: ``hub.yaml`` in, one DAG per source, the resolution DAG, one per target and the replay DAG out.

Wiring only. Every task opens the hub, calls the same ``crm_core.jobs`` function the command line calls and hands
the counts over: as its return value (the task's XCom, shown in the UI), in the log, and as ``extra`` on the asset
event that schedules the next stage::

    ingest_<source>  --(crmhub://landing/<source>)-->  resolve_customers  --(crmhub://customers)-->  push_<target>
                                                        (map -> resolve)                              (+ fallback schedule)
    replay_failed    (manual, typed params: what to re-send from the dead letter)

Nothing here touches the hub database or a connector at parse time; ``crm_core`` is imported inside the tasks.
Overlap is ruled out twice: ``max_active_runs=1`` per DAG and the job's database lease (``crm_core.runs.lease``),
which also keeps the command line and Airflow apart.

Failures: a ``LeaseHeld``, a ``RetriableError`` or any unexpected error (database gone, a bug) is retried with
exponential backoff; any other ``HubError`` (bad config, rejected credentials, missing connector) is permanent and
fails the task at once with the hub's own message, which says what to fix.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Asset, AssetAny, Param, get_current_context, task
from airflow.sdk.definitions.timetables.assets import AssetOrTimeSchedule
from airflow.sdk.definitions.timetables.trigger import CronTriggerTimetable, DeltaTriggerTimetable
from airflow.sdk.exceptions import AirflowFailException

from crm_core.config import HubConfig, SourceConfig, TargetConfig

log = logging.getLogger(__name__)

START_DATE = datetime(2025, 1, 1)
TAGS = ["crmhub"]
CUSTOMERS_URI = "crmhub://customers"
RESOLVE_DAG_ID = "resolve_customers"
REPLAY_DAG_ID = "replay_failed"
REPLAY_STAGES = ("map", "push", "resolve", "ingest")
# ingest and push talk to outside systems: a few retries with backoff ride out an outage or a rate limit
DEFAULT_RETRIES = {"retries": 3, "retry_delay": timedelta(seconds=30), "retry_exponential_backoff": 2.0,
                   "max_retry_delay": timedelta(minutes=15)}
_INTERVAL = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def landing_asset(source: str) -> Asset:
    return Asset(name=f"crmhub_landing_{source}", uri=f"crmhub://landing/{source}", group="crmhub")


def customers_asset() -> Asset:
    return Asset(name="crmhub_customers", uri=CUSTOMERS_URI, group="crmhub")


def target_asset(target: str) -> Asset:
    return Asset(name=f"crmhub_target_{target}", uri=f"crmhub://target/{target}", group="crmhub")


def timetable_for(schedule: str | None) -> Any:
    """hub.yaml's schedule as an Airflow schedule: presets and cron as they are, ``15m``/``1h`` as a delta."""
    if schedule is None:
        return None
    match = _INTERVAL.match(schedule)
    if match:
        return DeltaTriggerTimetable(timedelta(**{_UNITS[match[2]]: int(match[1])}))
    if schedule in ("@once", "@continuous"):
        return schedule
    return CronTriggerTimetable(schedule, timezone="UTC")


# ---------------------------------------------------------------------------------------------- task bodies


def run_stage(call: Callable[[Any, str], Any]) -> dict[str, Any]:
    """Open the hub, run one job with the Airflow run id, and translate the hub's errors into Airflow's.

    Returns the job's counts (``StageResult.as_dict()`` or a list of them), which become the task's XCom.
    Log masking goes in first: a task process is a fresh interpreter, and anything it logs (a library's debug
    line with a statement's parameters, a vendor error quoting a record) ends up in the task log in the UI.
    """
    from crm_core.errors import ConnectorError, HubError, LeaseHeld, RetriableError
    from crm_core.hub import Hub
    from crm_core.security import install_log_masking

    install_log_masking()
    context = get_current_context()
    run_id = f"{context['dag'].dag_id}/{context['run_id']}"
    hub = Hub.open()
    try:
        outcome = call(hub, run_id)
    except (LeaseHeld, RetriableError):
        raise  # transient: Airflow retries with backoff
    except HubError as exc:
        kind = "vendor refused" if isinstance(exc, ConnectorError) else "needs a fix"
        raise AirflowFailException(f"{type(exc).__name__} ({kind}, not retried): {exc}") from exc
    finally:
        hub.close()
    results = outcome if isinstance(outcome, list) else [outcome]
    for result in results:
        log.info("%s", result.summary())
    counts = [r.as_dict() for r in results]
    return counts[0] if len(counts) == 1 else {"stages": counts}


def _announce(asset: Asset, counts: dict[str, Any]) -> None:
    """Put the counts on the asset event this task emits, so the consumer DAG's run shows what triggered it."""
    get_current_context()["outlet_events"][asset].extra = {k: v for k, v in counts.items() if k != "stages"}


# ---------------------------------------------------------------------------------------------- the DAGs


def _dag(dag_id: str, schedule: Any, doc: str, **kwargs: Any) -> DAG:
    return DAG(
        dag_id=dag_id,
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=TAGS,
        doc_md=doc,
        default_args=dict(DEFAULT_RETRIES),
        **kwargs,
    )


def ingest_dag(source: SourceConfig) -> DAG:
    asset = landing_asset(source.name)
    with _dag(
        f"ingest_{source.name}",
        timetable_for(source.schedule),
        f"Read **{source.name}** ({source.kind}) from its cursor and land what is new. "
        f"Updates `{asset.uri}`, which schedules `{RESOLVE_DAG_ID}`.",
        is_paused_upon_creation=not source.enabled,
    ) as dag:

        @task(task_id="ingest", outlets=[asset])
        def ingest() -> dict[str, Any]:
            from crm_core import jobs

            counts = run_stage(lambda hub, run_id: jobs.ingest(hub, source.name, run_id))
            _announce(asset, counts)
            return counts

        ingest()
    return dag


def resolve_dag(config: HubConfig) -> DAG:
    assets = [landing_asset(s.name) for s in config.sources if s.enabled]
    schedule: Any = AssetAny(*assets) if assets else None
    with _dag(
        RESOLVE_DAG_ID,
        schedule,
        "Map every landed record to canonical contacts and interactions, then match them to golden customers. "
        f"Runs when any source lands data; updates `{CUSTOMERS_URI}`, which schedules the push DAGs.",
    ) as dag:

        @task(task_id="map_landed", retries=1)
        def map_landed() -> dict[str, Any]:
            from crm_core import jobs

            return run_stage(lambda hub, run_id: jobs.map_landed(hub, run_id=run_id))

        @task(task_id="resolve", outlets=[customers_asset()], retries=1)
        def resolve() -> dict[str, Any]:
            from crm_core import jobs

            counts = run_stage(lambda hub, run_id: jobs.resolve(hub, run_id))
            _announce(customers_asset(), counts)
            return counts

        map_landed() >> resolve()
    return dag


def push_dag(target: TargetConfig) -> DAG:
    asset = target_asset(target.name)
    fallback = timetable_for(target.schedule)
    schedule: Any = customers_asset()
    if fallback is not None and not isinstance(fallback, str):
        schedule = AssetOrTimeSchedule(timetable=fallback, assets=customers_asset())
    with _dag(
        f"push_{target.name}",
        schedule,
        f"Three-way sync of changed customers with **{target.name}** ({target.kind}). Runs when customers change "
        f"and on its fallback schedule `{target.schedule}`; records in the dead letter are re-sent by "
        f"`{REPLAY_DAG_ID}`.",
        is_paused_upon_creation=not target.enabled,
    ) as dag:

        @task(task_id="push", outlets=[asset])
        def push() -> dict[str, Any]:
            from crm_core import jobs

            counts = run_stage(lambda hub, run_id: jobs.push(hub, target.name, run_id))
            _announce(asset, counts)
            return counts

        push()
    return dag


def replay_params(config: HubConfig) -> dict[str, Param]:
    """Typed params, so the Trigger form is a form a person can fill in without reading code."""
    names = [s.name for s in config.sources] + [t.name for t in config.targets]
    return {
        "stage": Param(None, type=["null", "string"], enum=[None, *REPLAY_STAGES], title="Stage",
                       description="Which stage failed: map (a source's records), push (a target's), resolve, ingest. "
                       "Empty: all."),
        "name": Param(None, type=["null", "string"], enum=[None, *names], title="Source or target",
                      description="Only items of this source or target. Empty: all."),
        "error_class": Param(None, type=["null", "string"], title="Error class",
                             description="Only items that failed with this error, e.g. ValidationError. Empty: all."),
        "since": Param(None, type=["null", "string"], format="date-time", title="Failed after",
                       description="Only items that failed at or after this time (UTC)."),
        "until": Param(None, type=["null", "string"], format="date-time", title="Failed before",
                       description="Only items that failed before this time (UTC)."),
        "ids": Param([], type="array", items={"type": "integer"}, title="Dead-letter ids",
                     description="Only these dead-letter items (ids from the CRM sync page or `crmhub failed list`)."),
        "limit": Param(500, type="integer", minimum=1, maximum=100000, title="At most",
                       description="Re-send at most this many items in one run."),
    }


def replay_dag(config: HubConfig) -> DAG:
    with _dag(
        REPLAY_DAG_ID,
        None,
        "Re-send failed records from the dead letter. Fill in the form to choose which; every field is optional. "
        "The run's result lists how many now succeeded and how many failed again.",
        params=replay_params(config),
    ) as dag:

        @task(task_id="replay", retries=0)
        def replay() -> dict[str, Any]:
            from crm_core.replay import ReplayFilter, replay_failed

            params = get_current_context()["params"]
            selection = ReplayFilter.from_params(params)
            return run_stage(lambda hub, run_id: replay_failed(hub, selection, run_id=run_id, actor="airflow"))

        replay()
    return dag


def build_dags(config: HubConfig) -> dict[str, DAG]:
    """Every DAG the hub needs, by DAG id."""
    dags = [ingest_dag(s) for s in config.sources]
    dags.append(resolve_dag(config))
    dags.extend(push_dag(t) for t in config.targets)
    dags.append(replay_dag(config))
    return {d.dag_id: d for d in dags}
