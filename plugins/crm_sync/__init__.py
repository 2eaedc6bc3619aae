"""The "CRM sync" Airflow plugin: status page, its JSON API, the customer lookup and the webhook intake.

``build_app`` makes the FastAPI app from plain parts (the hub, an access check), so it runs the same inside the
Airflow API server (``plugins/crm_sync_plugin.py`` passes Airflow's auth-manager check) and in a bare uvicorn.
"""

from .app import PAGE_PREFIX, build_app

__all__ = ["PAGE_PREFIX", "build_app"]
