"""One push run for one target: read what changed on both sides, plan per field, write, record.

    1. pull-back signals: ``changed_since(cursor)``; records carrying our hub key belong to a customer, echoes of our
       own writes (remote version already seen, or the values hash to what we wrote) are dropped, records a person
       made in the target become unlinked contact records;
    2. candidates: active customers never synced, changed since their last sync, with a decided conflict, or
       changed remotely; a candidate whose golden values equal the base and that nothing remote touched is settled
       without a single call (0 calls when nothing changed);
    3. per batch (the destination's size): one ``fetch`` for candidates step 1 did not already read (by hub key, or
       by the stored external id for a destination with ``fetch_by_external_id``), the three-way plans, the circuit
       breaker, one ``upsert``;
       writes refused as stale (412, ConcurrencyException) are fetched and planned again once;
    4. one transaction per batch records the new base, pulls, conflicts and dead letters.

No database transaction is open while the target is called: the store is read, the target is called, then the
results are written. A daily-quota error stops the run after the batch in hand; the next run resumes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from ..audit import audit
from ..db import transaction
from ..dead_letter import send_to_dead_letter
from ..errors import SkippableError
from ..faults import fault_point
from ..landing import read_cursor, write_cursor
from ..models import Customer, DeadLetter, SyncState, utcnow
from ..records import Destination, OutboundItem, PushResult, QuotaExceeded, RemoteRecord
from ._conflicts import customers_with_decisions, decisions_for, mark_applied, queue_conflict
from ._plan import Action, Decision, RecordPlan, plan_record, same
from ._pull import record_pull
from ._state import base_of, breaker_trips, flips, hold, is_held, load_states, record_synced, remote_hash

RETRY_DELAY = timedelta(minutes=15)
GONE_AT_TARGET = "GONE_AT_TARGET"


@dataclass
class Candidate:
    customer_id: int
    hub_key: str
    ours: dict[str, Any]
    ours_at: Any
    state: SyncState | None
    decisions: dict[str, tuple[Decision, int]] = field(default_factory=dict)
    remote: RemoteRecord | None = None
    plan: RecordPlan | None = None
    result: PushResult | None = None
    gone: bool = False
    tripped: bool = False

    @property
    def needs_write(self) -> bool:
        return self.plan is not None and bool(self.plan.push) and not self.gone and not self.tripped


def cursor_name(target: str) -> str:
    return f"target:{target}"


class PushRun:
    """State of one run; ``run()`` does the work and fills ``result``."""

    def __init__(self, hub: Any, target: str, result: Any, destination: Destination, run_id: str | None = None,
                 dry_run: bool = False, only: Collection[int] | None = None) -> None:
        from mapping.target import load_target_map

        self.hub = hub
        self.cfg = hub.config.target(target)
        self.target = target
        self.map = load_target_map(hub.config.mapping_path(self.cfg.mapping))
        self.dest = destination
        self.result = result
        self.run_id = run_id
        self.dry_run = dry_run
        self.only = set(only) if only is not None else None
        self.now = utcnow()
        self.counts: Counter[str] = Counter()
        self.plan_lines: list[dict[str, Any]] = []
        self.remote_known: dict[int, RemoteRecord] = {}
        self.remote_changed: set[int] = set()
        self.echo_versions: dict[int, str | None] = {}
        self.orphans: list[RemoteRecord] = []
        self.writable = {f.canonical: f.push for f in self.map.fields}
        self.touched: set[int] = set()

    # ------------------------------------------------------------------ the run

    def run(self) -> None:
        cursor = self._read_remote_changes() if self.cfg.pull_back and self.only is None else None
        candidates = self._candidate_ids()
        self.result.records_in = len(candidates)
        stopped = False
        for start in range(0, len(candidates), max(1, self.dest.batch_size)):
            try:
                self._sync_batch(candidates[start : start + self.dest.batch_size])
            except QuotaExceeded as exc:
                self.result.detail["stopped"] = exc.vendor_code or "quota"
                stopped = True
                break
        if not stopped and not self.dry_run:
            with transaction(self.hub.sessions) as session:
                for remote in self.orphans:
                    self.counts["pulled_new"] += record_pull(
                        session, self.target, remote, self.map.to_canonical(self.map.theirs(remote.fields)),
                        None, remote.updated_at or self.now)
                if cursor is not None:
                    write_cursor(session, cursor_name(self.target), cursor)
                untouched = {cid: v for cid, v in self.echo_versions.items() if cid not in self.touched}
                for cid, state in load_states(session, self.target, untouched).items():
                    state.remote_version = untouched[cid]
        elif self.dry_run:
            self.counts["pulled_new"] += len(self.orphans)
            self.result.detail["plan"] = self.plan_lines
        self._report()

    def _report(self) -> None:
        self.result.records_out = self.counts["created"] + self.counts["updated"]
        self.result.records_failed = self.counts["failed"]
        for key in ("created", "updated", "pulled", "pulled_new", "synced", "unchanged", "conflicts", "held",
                    "stale", "echoes", "gone"):
            self.result.detail[key] = self.counts[key]
        if self.dry_run:
            self.result.detail["dry_run"] = True

    # ------------------------------------------------------------------ 1. what the target changed

    def _read_remote_changes(self) -> dict[str, Any] | None:
        changed_since = getattr(self.dest, "changed_since", None)
        if changed_since is None:
            return None
        with self.hub.sessions() as session:
            cursor = read_cursor(session, cursor_name(self.target))
            last: dict[str, Any] | None = cursor
            for batch in changed_since(cursor):
                records = [_as_remote(r, self.map.external_id_field) for r in batch.records]
                self._classify_remote(session, records)
                last = dict(batch.cursor) if batch.cursor else last
        return last

    def _classify_remote(self, session: Session, records: Sequence[RemoteRecord]) -> None:
        by_customer: dict[int, RemoteRecord] = {}
        unknown: list[RemoteRecord] = []
        for remote in records:
            cid = self.map.customer_id_of(remote.hub_key)
            (unknown.append(remote) if cid is None else by_customer.__setitem__(cid, remote))
        if unknown:
            known = dict(session.execute(select(SyncState.external_id, SyncState.customer_id).where(
                SyncState.target == self.target, SyncState.external_id.in_([r.external_id for r in unknown]))).all())
            for remote in unknown:
                if remote.external_id in known:
                    by_customer[known[remote.external_id]] = remote
                else:
                    self.orphans.append(remote)
        states = load_states(session, self.target, by_customer)
        for cid, remote in by_customer.items():
            self.remote_known[cid] = remote
            state = states.get(cid)
            if state is not None and remote.version is not None and state.remote_version == remote.version:
                continue  # seen before
            if state is not None and state.written_hash == remote_hash(self.map.theirs(remote.fields)):
                self.counts["echoes"] += 1  # our own write read back
                self.echo_versions[cid] = remote.version
                continue
            self.remote_changed.add(cid)

    # ------------------------------------------------------------------ 2. candidates

    def _candidate_ids(self) -> list[int]:
        with self.hub.sessions() as session:
            stmt = (
                select(Customer.id)
                .outerjoin(SyncState, and_(SyncState.customer_id == Customer.id, SyncState.target == self.target))
                .where(Customer.status == "active")
                .where(or_(SyncState.id.is_(None), SyncState.last_synced_at.is_(None),
                           Customer.updated_at > SyncState.last_synced_at))
            )
            ids = set(session.scalars(stmt)) | set(customers_with_decisions(session, self.target))
            extra = self.remote_changed - ids
            if extra:
                ids |= set(session.scalars(select(Customer.id).where(Customer.id.in_(extra),
                                                                     Customer.status == "active")))
        if self.only is not None:
            ids = (ids | self.only) & self.only
        return sorted(ids)

    def _load(self, ids: Sequence[int]) -> list[Candidate]:
        with self.hub.sessions() as session:
            customers = session.scalars(select(Customer).where(Customer.id.in_(ids), Customer.status == "active"))
            states = load_states(session, self.target, ids)
            decisions = decisions_for(session, self.target, ids)
            return [
                Candidate(c.id, self.map.hub_key(c.id), self.map.ours(c.golden or {}), c.updated_at,
                          states.get(c.id), decisions.get(c.id, {}), self.remote_known.get(c.id))
                for c in customers
            ]

    # ------------------------------------------------------------------ 3. one batch

    def _sync_batch(self, ids: Sequence[int]) -> None:
        work, quiet = [], []
        for cand in self._load(ids):
            state = cand.state
            if is_held(state, self.now):
                self.counts["held"] += 1
            elif state is not None and state.status == "gone":
                self.counts["gone"] += 1
            elif (state is not None and state.status == "ok" and not cand.decisions
                  and cand.customer_id not in self.remote_changed and _all_same(cand.ours, base_of(state) or {})):
                quiet.append(cand)  # settled without asking the target
            else:
                work.append(cand)
        self._fetch([c for c in work if c.remote is None])
        self._plan_all(work)
        if self.dry_run:
            self._describe(work)
            self.counts["unchanged"] += len(quiet)
            return
        writes = [c for c in work if c.needs_write]
        if writes:
            fault_point("outbound.before_write")
            self._write(writes)
            fault_point("outbound.after_write")  # the target holds the writes, the hub has not recorded them
            stale = [c for c in writes if c.result is not None and c.result.stale]
            if stale:  # changed between our read and our write: read again, plan again, write once more
                for cand in stale:
                    cand.remote, cand.result = None, None
                self._fetch(stale)
                self._plan_all(stale)
                self._write([c for c in stale if c.needs_write])
        self._record(work, quiet)
        fault_point("outbound.after_record")

    def _fetch(self, cands: Sequence[Candidate]) -> None:
        if not cands:
            return
        by_id = bool(getattr(self.dest, "fetch_by_external_id", False))
        keys = {c.customer_id: (c.state.external_id if by_id and c.state is not None and c.state.external_id
                                else c.hub_key) for c in cands}
        found = self.dest.fetch(list(keys.values()))
        for cand in cands:
            cand.remote = found.get(keys[cand.customer_id])

    def _plan_all(self, cands: Sequence[Candidate]) -> None:
        for cand in cands:
            state = cand.state
            cand.gone = cand.remote is None and state is not None and state.external_id is not None
            if cand.gone:
                continue
            remote = cand.remote
            cand.plan = plan_record(
                cand.customer_id,
                base_of(state),
                cand.ours,
                self.map.theirs(remote.fields) if remote is not None else None,
                self.cfg.conflict_policy.for_field,
                ours_at=cand.ours_at,
                theirs_at=remote.updated_at if remote is not None else None,
                decisions={name: d for name, (d, _id) in cand.decisions.items()},
                writable=lambda name: self.writable.get(name, False),
            )
            cand.tripped = breaker_trips(state, flips(state, cand.plan), self.cfg.max_flips_per_day, self.now)

    def _write(self, cands: Sequence[Candidate]) -> None:
        if not cands:
            return
        items = [
            OutboundItem(
                customer_id=c.customer_id,
                hub_key=c.hub_key,
                fields=self.map.to_target(c.plan.push) if c.plan is not None else {},
                external_id=c.remote.external_id if c.remote is not None else None,
                expected_version=c.remote.version if c.remote is not None else None,
            )
            for c in cands
        ]
        try:
            results = self.dest.upsert(items)
        except SkippableError as exc:  # the whole call was refused: each record carries the target's answer
            results = [PushResult(i.customer_id, False, external_id=i.external_id,
                                  error_class=exc.vendor_code or type(exc).__name__, error_message=str(exc))
                       for i in items]
        by_customer = {r.customer_id: r for r in results}
        for cand in cands:
            cand.result = by_customer.get(cand.customer_id) or PushResult(
                cand.customer_id, False, error_class="NO_RESULT", error_message="the target returned no result",
                retriable=True)

    # ------------------------------------------------------------------ 4. record

    def _record(self, work: Sequence[Candidate], quiet: Sequence[Candidate]) -> None:
        ids = [c.customer_id for c in (*work, *quiet)]
        self.touched.update(ids)
        with transaction(self.hub.sessions) as session:
            states = load_states(session, self.target, ids)
            for cand in quiet:
                states[cand.customer_id].last_synced_at = self.now
                self.counts["unchanged"] += 1
            for cand in work:
                self._record_one(session, cand, states.get(cand.customer_id))

    def _record_one(self, session: Session, cand: Candidate, state: SyncState | None) -> None:
        plan, result, remote = cand.plan, cand.result, cand.remote
        if cand.gone:
            assert state is not None
            # deleted in the target by a person, or the target was restored from a backup older than our write:
            # never re-created behind anyone's back, never silently forgotten either. The dead-letter item is the
            # alert (status page, `crmhub failed list`); replaying it is the resync that creates the record again.
            state.status = "gone"
            self.counts["gone"] += 1
            send_to_dead_letter(
                session, stage="push", name=self.target, ref=str(cand.customer_id),
                payload={"customer_id": cand.customer_id, "hub_key": cand.hub_key, "target": self.target,
                         "external_id": state.external_id, "fields": []},
                error_class=GONE_AT_TARGET,
                error_message=f"record {state.external_id} is no longer in {self.target} (deleted there, or the "
                "target was restored from a backup); replay this item to create it again",
                run_id=self.run_id,
            )
            return
        assert plan is not None
        if cand.tripped:
            assert state is not None
            hold(state, self.now)
            self.counts["held"] += 1
            audit(session, "circuit_breaker", "customer", cand.customer_id,
                  {"target": self.target, "flips_today": state.flip_count}, run_id=self.run_id)
            return
        if result is not None and result.stale:
            self.counts["stale"] += 1  # still changing under us: the next run reads it again
            return
        if result is not None and not result.ok:
            self._failed(session, cand, state, result)
            return
        wrote = result is not None
        state = record_synced(
            session, state, customer_id=cand.customer_id, target=self.target, plan=plan, now=self.now,
            external_id=(result.external_id if result is not None else None) or (remote.external_id if remote else None),
            remote_version=None if wrote else (remote.version if remote is not None else None),
            wrote=wrote,
        )
        if wrote:
            self.counts["created" if plan.create or (result is not None and result.created) else "updated"] += 1
        elif plan.by(Action.SYNCED):
            self.counts["synced"] += 1
        elif plan.quiet:
            self.counts["unchanged"] += 1
        if plan.offers and remote is not None:
            self.counts["pulled"] += record_pull(
                session, self.target, remote, self.map.to_canonical(plan.target_state()), cand.customer_id,
                remote.updated_at or self.now)
        for held_field in plan.held:
            self.counts["conflicts"] += queue_conflict(session, cand.customer_id, self.target, held_field)
        applied = [cid for name, (_d, cid) in cand.decisions.items() if name in {f.field for f in plan.conflicts}]
        mark_applied(session, applied)
        self._settle_dead_letters(session, cand.customer_id)

    def _failed(self, session: Session, cand: Candidate, state: SyncState | None, result: PushResult) -> None:
        self.counts["failed"] += 1
        send_to_dead_letter(
            session, stage="push", name=self.target, ref=str(cand.customer_id),
            # a reference, not the values: a replay plans again from the golden record as it is then
            payload={"customer_id": cand.customer_id, "hub_key": cand.hub_key, "target": self.target,
                     "external_id": result.external_id, "fields": sorted(cand.plan.push) if cand.plan else []},
            error_class=result.error_class or "PUSH_FAILED", error_message=result.error_message or "",
            run_id=self.run_id, next_attempt_at=self.now + RETRY_DELAY if result.retriable else None,
        )
        if state is None:
            state = SyncState(customer_id=cand.customer_id, target=self.target, snapshot={}, flip_count=0)
            session.add(state)
        if result.retriable:
            state.last_synced_at = None  # a candidate again next run
        else:
            state.status, state.last_synced_at = "failed", self.now  # waits for a change or a replay

    def _settle_dead_letters(self, session: Session, customer_id: int) -> None:
        rows = session.scalars(select(DeadLetter).where(
            DeadLetter.stage == "push", DeadLetter.name == self.target, DeadLetter.ref == str(customer_id),
            DeadLetter.status == "pending"))
        for row in rows:
            row.status = "replayed" if self.only is not None else "resolved"

    # ------------------------------------------------------------------ dry run

    def _describe(self, cands: Sequence[Candidate]) -> None:
        for cand in cands:
            plan = cand.plan
            if cand.gone or plan is None:
                self.counts["gone"] += 1
                continue
            action = ("held" if cand.tripped else "create" if plan.create and plan.push
                      else "update" if plan.push else "pull" if plan.pull
                      else "conflict" if plan.held else "synced" if plan.by(Action.SYNCED) else "unchanged")
            key = {"create": "created", "update": "updated", "pull": "pulled"}.get(action, action)
            self.counts[key if key != "conflict" else "conflicts"] += 1
            self.plan_lines.append({
                "customer_id": cand.customer_id, "hub_key": cand.hub_key, "action": action,
                "push": sorted(plan.push), "pull": sorted(plan.pull),
                "conflicts": [f"{f.field} ({f.policy})" for f in plan.conflicts],
                "held": sorted(f.field for f in plan.held),
            })


def _all_same(ours: dict[str, Any], base: dict[str, Any]) -> bool:
    return all(same(ours.get(k), base.get(k)) for k in ours.keys() | base.keys())


def _as_remote(record: Any, external_id_field: str) -> RemoteRecord:
    """Accept ``RemoteRecord``s, and ``SourceRecord``s (key = external id, payload = fields) from destinations
    written against the first draft of the contract."""
    if isinstance(record, RemoteRecord):
        return record
    payload = dict(record.payload)
    return RemoteRecord(external_id=str(record.key), fields=payload, version=payload.get("_version"),
                        updated_at=record.occurred_at, hub_key=payload.get(external_id_field))


