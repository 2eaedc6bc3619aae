"""Mapping: declarative field maps and pure normalisers from any source's fields to the canonical schema.

    spec = load_spec("mapping/specs/web_form.yaml")      # validated; ConfigError lists every problem
    mapped = apply(spec, payload, key=landing.source_key)  # contacts, interactions, errors: never raises on data

The normalisers are plain functions usable on their own; each raises ``NormalisationError`` with a reason.
The spec format is documented in ``docs/mapping.md``.
"""

from ._apply import FieldError, MappedContact, MappedRecord, apply, lookup
from ._dates import Instant, normalise_date, normalise_instant, parse_date, parse_instant
from ._emails import normalise_email
from ._names import ParsedName, compose_name, normalise_name, parse_name
from ._phones import normalise_phone, phone_without_extension
from ._propose import Proposal, attribute_name, detect_key_column, guess_date_formats, propose_spec
from ._spec import MappingSpec, load_spec, parse_spec, spec_from_dict
from ._text import NormalisationError, fold
from ._transforms import TRANSFORMS
from ._values import to_boolean, to_country, to_decimal, to_integer
from .schema import CONTACT_FIELDS, CanonicalContact, CanonicalInteraction

__all__ = [
    "CONTACT_FIELDS",
    "TRANSFORMS",
    "CanonicalContact",
    "CanonicalInteraction",
    "FieldError",
    "Instant",
    "MappedContact",
    "MappedRecord",
    "MappingSpec",
    "NormalisationError",
    "ParsedName",
    "Proposal",
    "apply",
    "attribute_name",
    "compose_name",
    "detect_key_column",
    "fold",
    "guess_date_formats",
    "load_spec",
    "lookup",
    "normalise_date",
    "normalise_email",
    "normalise_instant",
    "normalise_name",
    "normalise_phone",
    "parse_date",
    "parse_instant",
    "parse_name",
    "parse_spec",
    "phone_without_extension",
    "propose_spec",
    "spec_from_dict",
    "to_boolean",
    "to_country",
    "to_decimal",
    "to_integer",
]
