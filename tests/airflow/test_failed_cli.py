"""``crmhub failed list|replay``: the dead letter from the command line with the page's filters."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crm_core.cli import main
from crm_core.db import transaction
from crm_core.models import DeadLetter


@pytest.fixture
def home(make_hub: Any) -> Any:
    hub = make_hub("version: 1\n")
    with transaction(hub.sessions) as s:
        s.add(DeadLetter(stage="map", name="web_forms", error_class="InvalidEmail", error_message="no @ in 'x'"))
        s.add(DeadLetter(stage="push", name="salesforce", error_class="DUPLICATE_VALUE", error_message="dup"))
    return hub.home


def test_list_filters_by_stage_source_and_time(home: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(home), "failed", "list", "--stage", "map", "--since", "24h", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["error_class"]) for r in rows] == [("web_forms", "InvalidEmail")]


def test_list_says_so_when_nothing_matches(home: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(home), "failed", "list", "--error-class", "Timeout"]) == 0
    assert "no failed records match" in capsys.readouterr().out


def test_a_bad_time_is_a_one_line_usage_error(home: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--home", str(home), "failed", "list", "--since", "yesterday"])
    assert exit_.value.code == 2 and "24h or 7d" in capsys.readouterr().err


def test_replay_of_a_map_item_without_its_landing_row_keeps_it_failed(home: Any,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(home), "failed", "replay", "--source", "web_forms"]) == 1
    assert "1 in, 0 out, 1 failed" in capsys.readouterr().out
