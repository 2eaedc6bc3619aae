"""Mapping throughput: how fast messy lead exports become canonical contacts, against reading the CSV at all.

    python -m bench.mapping [--rows 1000000] [--workdir DIR] [--keep]

Generates a messy two-file export (``generate.py``) in a temporary directory, then runs each variant of
``variants.py`` in its own interpreter (rows/s and peak RSS) and prints the table, also written to
``bench/out/mapping.md``. Benchmarks are never tests; run them by hand. Figures are in ``docs/mapping.md``.
"""
