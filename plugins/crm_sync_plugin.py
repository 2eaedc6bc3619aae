"""Registers the "CRM sync" page with Airflow: the FastAPI app at ``/crm-sync`` and a navigation entry.

Access follows Airflow's auth manager: every data route needs a signed-in user allowed to see the website
(``AccessView.WEBSITE``); the page shell itself holds no data.
"""

from __future__ import annotations

from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
from airflow.api_fastapi.core_api.security import requires_access_view
from airflow.plugins_manager import AirflowPlugin
from crm_sync import PAGE_PREFIX, build_app


class CrmSyncPlugin(AirflowPlugin):
    name = "crm_sync"
    fastapi_apps = [
        {"app": build_app(require_user=requires_access_view(AccessView.WEBSITE)), "url_prefix": PAGE_PREFIX,
         "name": "CRM sync"}
    ]
    external_views = [
        {"name": "CRM sync", "href": f"{PAGE_PREFIX}/", "url_route": "crm-sync", "destination": "nav",
         "category": "browse"}
    ]
