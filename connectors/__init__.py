"""Connectors: one module per outside system.

``build_source`` / ``build_destination`` turn a source's or target's config into a ``Source`` / ``Destination``.
Each kind names its factory ``build(config, hub)`` by module path, imported on first use so that a DAG parse or a
CLI call never imports vendor libraries it does not need.
"""

from __future__ import annotations

import importlib
from typing import Any

from crm_core.config import SourceConfig, TargetConfig
from crm_core.errors import ConfigError
from crm_core.records import Destination, Source

SOURCE_FACTORIES = {
    "form_webhook": "connectors.forms.webhook:build",
    "form_rest": "connectors.forms.rest:build",
    "form_files": "connectors.forms.files:build",
    "imap": "connectors.email.imap:build",
    "cdr_files": "connectors.phone.cdr:build",
    "twilio_calls": "connectors.phone.twilio:build",
    "x_api": "connectors.social.x:build",
    "meta_leads": "connectors.social.meta_leads:build",
    "whatsapp_webhook": "connectors.social.whatsapp:build",
    "wechat_webhook": "connectors.social.wechat:build",
    "social_files": "connectors.social.files:build",
}
DESTINATION_FACTORIES = {
    "salesforce": "connectors.salesforce:build",
    "tryton": "connectors.erp.tryton:build",
    "hubspot": "connectors.marketing.hubspot:build",
    "mailchimp": "connectors.marketing.mailchimp:build",
}


def _factory(path: str, what: str) -> Any:
    module_name, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError("hub.yaml", [f"{what}: connector {path} is not available ({exc})"]) from exc


def build_source(config: SourceConfig, hub: Any) -> Source:
    return _factory(SOURCE_FACTORIES[config.kind], f"source {config.name}")(config, hub)


def build_destination(config: TargetConfig, hub: Any) -> Destination:
    return _factory(DESTINATION_FACTORIES[config.kind], f"target {config.name}")(config, hub)


__all__ = ["DESTINATION_FACTORIES", "SOURCE_FACTORIES", "build_destination", "build_source"]
