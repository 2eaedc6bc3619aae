"""The hub's tables (see docs/architecture.md). Each area keeps its tables in its own module."""

from ._base import Base, utcnow
from .customers import ContactRecord, Customer, CustomerVersion, Interaction, MergeEvent, ReviewItem
from .landing import LandingRecord, SourceCursor
from .ops import AuditLog, DeadLetter, Lease, RunStat
from .privacy import Erasure, Suppression
from .resolution import CannotLink, ResolutionKey, ResolutionParam, ResolutionProfile
from .sync import Conflict, SyncState

__all__ = [
    "AuditLog",
    "Base",
    "CannotLink",
    "Conflict",
    "ContactRecord",
    "Customer",
    "CustomerVersion",
    "DeadLetter",
    "Erasure",
    "Interaction",
    "LandingRecord",
    "Lease",
    "MergeEvent",
    "ResolutionKey",
    "ResolutionParam",
    "ResolutionProfile",
    "ReviewItem",
    "RunStat",
    "SourceCursor",
    "Suppression",
    "SyncState",
    "utcnow",
]
