"""The two peers, set up the way their documentation's tutorials set them up, on the same cleaned columns.

Both peers get the standard preparation a user would do before using them (the hub gets the raw files and does
its own): lower-case and trimmed text, phones reduced to their last 9 digits, dates parsed to ISO where the format is
recognisable. Neither gets pinyin transliteration or nickname tables: those are what the hub adds.

- Splink (DuckDB backend): name/date/email comparisons from its comparison library with term-frequency adjustments,
  u by random sampling, m by EM over two blocking rules, prior from deterministic rules, cluster at 0.9.
- recordlinkage: union of several blocking indexes, Jaro-Winkler/exact comparisons binarised, unsupervised ECM
  classifier, connected components of the predicted pairs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

FIELDS = ["first_name", "surname", "dob", "email", "phone", "street", "street_number", "city", "postcode",
          "national_id", "company"]


def _date(value: str) -> str:
    m = re.match(r"^(\d{4})-(\d{1,2})-(\d{1,2})$", value)
    if m:
        return f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}"
    m = re.match(r"^(\d{1,2})/(\d{1,2})/(\d{4})$", value)
    if m:
        return f"{m[3]}-{int(m[2]):02d}-{int(m[1]):02d}"
    return ""


def clean(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in FIELDS:
        out[col] = out[col].fillna("").astype(str).str.strip().str.lower()
    out["phone"] = out["phone"].str.replace(r"\D", "", regex=True).str[-9:]
    out["dob"] = out["dob"].map(_date)
    return out.replace({"": None})


def splink_clusters(frames: Sequence[pd.DataFrame], threshold: float = 0.9) -> dict[str, str]:
    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, block_on
    from splink.backends.duckdb import DuckDBAPI

    db_api = DuckDBAPI()
    tables = [db_api.register(clean(f)[["id", *FIELDS]]) for f in frames]
    settings = SettingsCreator(
        link_type="dedupe_only" if len(frames) == 1 else "link_and_dedupe",
        unique_id_column_name="id",
        comparisons=[
            cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.EmailComparison("email"),
            cl.LevenshteinAtThresholds("phone", [1]),
            cl.JaroWinklerAtThresholds("street", [0.9]),
            cl.ExactMatch("street_number"),
            cl.ExactMatch("city").configure(term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("postcode", [1]),
            cl.LevenshteinAtThresholds("national_id", [1]),
            cl.JaroWinklerAtThresholds("company", [0.9]),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("first_name", "surname"),
            block_on("surname", "dob"),
            block_on("first_name", "dob"),
            block_on("email"),
            block_on("phone"),
            block_on("postcode", "surname"),
            block_on("national_id"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    linker = Linker(tables if len(tables) > 1 else tables[0], settings, log_level=None)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("email"), block_on("first_name", "surname", "dob")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("first_name", "surname"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold)
    result = clusters.as_pandas_dataframe()
    return {str(i): str(c) for i, c in zip(result["id"], result["cluster_id"], strict=True)}


def recordlinkage_clusters(frames: Sequence[pd.DataFrame]) -> dict[str, str]:
    import recordlinkage

    data = pd.concat([clean(f) for f in frames], ignore_index=True).set_index("id")
    indexer = recordlinkage.Index()
    for keys in (["first_name", "surname"], ["surname", "dob"], ["first_name", "dob"], "email", "phone",
                 ["postcode", "surname"], "national_id"):
        indexer.block(keys)
    pairs = indexer.index(data)
    compare = recordlinkage.Compare(n_jobs=1)
    compare.string("first_name", "first_name", method="jarowinkler", threshold=0.88, label="first_name")
    compare.string("surname", "surname", method="jarowinkler", threshold=0.88, label="surname")
    compare.exact("dob", "dob", label="dob")
    compare.exact("email", "email", label="email")
    compare.exact("phone", "phone", label="phone")
    compare.string("street", "street", method="jarowinkler", threshold=0.9, label="street")
    compare.exact("postcode", "postcode", label="postcode")
    compare.exact("city", "city", label="city")
    compare.string("national_id", "national_id", method="levenshtein", threshold=0.85, label="national_id")
    features = compare.compute(pairs, data)
    matches = recordlinkage.ECMClassifier(binarize=0.5).fit_predict(features)
    parent = {rid: rid for rid in data.index}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in matches:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra
    return {str(rid): str(find(rid)) for rid in data.index}
