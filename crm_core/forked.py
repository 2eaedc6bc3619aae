"""What a forked child of the hub does first: drop the signal handlers it inherited.

A child made by ``fork`` keeps its parent's Python signal handlers. Inside an Airflow task the parent has the task
runner's SIGTERM handler, which records the signal and returns, so a child stopped with SIGTERM (a pool shutting
down, a reader being closed) would run on and its parent would wait for it forever. Ctrl-C is the parent's to
handle: it stops its children itself.
"""

from __future__ import annotations

import signal


def reset_inherited_signals() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
