"""Identity resolution: every contact record linked to exactly one customer, with a golden record and its why.

Public surface (everything else sits in underscore modules):

- ``resolve_pending(hub, result, run_id)``: the resolution stage (``crmhub resolve``, the ``resolve`` DAG).
- ``merge_customers``, ``unmerge_record``, ``decide_review``, ``explain_customer``: people's decisions.
- ``dedupe_files`` / ``dedupe_rows``: the same matching core on CSV files, in memory (``crmhub dedupe``).
- ``build_profile``, ``Matcher``, ``MatchModel``: the matching core, for benchmarks and other callers.

See docs/resolution.md.
"""

from ._dedupe import DedupeResult, dedupe_files, dedupe_rows, detect_roles
from ._engine import Matcher, MatchRecord, Outcome, Thresholds
from ._events import decide_review, explain_customer, merge_customers, unmerge_record
from ._golden import build_golden
from ._model import MatchModel
from ._profile import build_profile
from ._store import resolve_pending

__all__ = [
    "DedupeResult",
    "MatchModel",
    "MatchRecord",
    "Matcher",
    "Outcome",
    "Thresholds",
    "build_golden",
    "build_profile",
    "decide_review",
    "dedupe_files",
    "dedupe_rows",
    "detect_roles",
    "explain_customer",
    "merge_customers",
    "resolve_pending",
    "unmerge_record",
]
