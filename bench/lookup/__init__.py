"""Customer lookup latency benchmark (``python -m bench.lookup``): see ``run.py``."""
