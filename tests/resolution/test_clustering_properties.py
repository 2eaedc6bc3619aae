"""Properties of the matching core that must hold for any input (in memory; no store)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from crm_core.resolution import Matcher, MatchModel, MatchRecord, Thresholds
from crm_core.resolution._blocking import KeyPolicy

profile = st.fixed_dictionaries(
    {},
    optional={
        "gn": st.sampled_from(["ann", "anne", "bob", "wei"]),
        "gx": st.sampled_from(["ann", "robert", "wei"]),
        "fn": st.sampled_from(["lee", "li", "wang"]),
        "em": st.lists(st.sampled_from(["a@x.com", "b@x.com", "info@x.com"]), min_size=1, max_size=2, unique=True),
        "ev": st.just(["a@x.com"]),
        "ph": st.lists(st.sampled_from(["123456789", "123456780"]), min_size=1, max_size=1),
        "dob": st.sampled_from(["1980-01-02", "1980-02-01"]),
        "nid": st.sampled_from(["111111", "222222"]),
    },
)
records = st.lists(st.tuples(profile, st.one_of(st.none(), st.integers(1, 3)), st.booleans()), min_size=1, max_size=25)


@settings(max_examples=150, deadline=None)
@given(records)
def test_clustering_never_puts_one_record_in_two_customers(items: list) -> None:
    recs = [MatchRecord(i, p, cluster, new=new or cluster is None) for i, (p, cluster, new) in enumerate(items)]
    outcome = Matcher(MatchModel(), Thresholds(0.9, 0.7), KeyPolicy(hub_identifier_max_people=2)).run(recs)
    seen = [rid for _clusters, members in outcome.groups for rid in members]
    assert sorted(seen) == [r.id for r in recs]  # every record exactly once
    for r in recs:  # records of one existing customer stay together
        if r.cluster is not None:
            homes = {i for i, (clusters, members) in enumerate(outcome.groups) if r.id in members}
            assert len(homes) == 1 and r.cluster in outcome.groups[homes.pop()][0]
