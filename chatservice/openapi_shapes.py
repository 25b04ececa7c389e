"""The building blocks of the OpenAPI document's JSON Schemas: ids, references, lists, answers.

A leaf that every ``openapi_*`` module builds its shapes from, so that an id
is bounded by ``MAX_ID`` everywhere and every object the server answers with
states the same three things the same way: its fields, which of them are
always there, and that there is nothing else (``additionalProperties``), which
is what lets the tests and schemathesis catch a field that drifted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chatservice.wire import MAX_ID

# Every id the API takes or gives: a row id of the store (``wire.MAX_ID``).
ID: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def ref(name: str) -> dict[str, str]:
    """A reference to one of ``SCHEMAS``."""
    return {"$ref": f"#/components/schemas/{name}"}


def list_of(name: str) -> dict[str, Any]:
    """An array of the schema ``name``."""
    return {"type": "array", "items": ref(name)}


def closed_object(properties: Mapping[str, Any], optional: Iterable[str] = ()) -> dict[str, Any]:
    """An object the server answers with: these ``properties`` only, all but ``optional`` always.

    Closed (no other property), so that an answer with a field the document
    does not name fails validation in the tests and under schemathesis.
    """
    left_out = set(optional)
    return {
        "type": "object",
        "required": [name for name in properties if name not in left_out],
        "additionalProperties": False,
        "properties": properties,
    }


def deleted(id_name: str) -> dict[str, Any]:
    """The answer to a deletion: the ``id_name`` of what is gone and ``"deleted": true``."""
    return closed_object({id_name: ID, "deleted": {"const": True}})
