"""The hub's DAGs, built from ``$HUB_HOME/hub.yaml`` by the factory in ``hub_factory.py``.

Reading the config is the only parse-time I/O. A broken hub.yaml shows up as this file's import error in the
Airflow UI, with every problem and its line.
"""

from hub_factory import build_dags

from crm_core.config import load_config
from crm_core.hub import hub_home

globals().update(build_dags(load_config(hub_home() / "hub.yaml")))
