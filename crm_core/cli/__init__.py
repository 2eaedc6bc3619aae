"""``crmhub``: the hub's command line.

Each area registers its verbs from its own module (``_core``, ``_ingest``, ``_import``, ``_resolve``, ``_push``, ``_failed``, ``_erase``), so
areas grow without touching one another. A user mistake prints one line and exits non-zero; only a bug shows a
traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import HubError
from ..security import install_log_masking, mask_text
from . import _core, _erase, _failed, _import, _ingest, _push, _resolve

COMMAND_MODULES = (_core, _ingest, _import, _resolve, _push, _failed, _erase)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crmhub",
        description="Omnichannel CRM integration hub: ingest contacts, resolve customers, sync targets.",
        epilog="The hub lives in $HUB_HOME (default ./.crmhub). Run `crmhub COMMAND --help` for each command.",
    )
    parser.add_argument("--home", help="hub home directory (default: $HUB_HOME or ./.crmhub)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    install_log_masking()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except HubError as exc:
        print(f"crmhub: error: {mask_text(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("crmhub: interrupted; committed batches are kept, re-run to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
