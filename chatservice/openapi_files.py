"""The OpenAPI operations and schemas of files: upload, download, thumbnail (issue 12).

Registered into ``openapi_build`` (``ROUTE_ERRORS`` and ``PATHS``) and
``openapi_schemas.SCHEMAS`` when ``openapi.py`` imports this module. An
upload's body is the file itself (``application/octet-stream``, or any
type: it is not trusted) or a ``multipart/form-data`` form with one file.
"""

from __future__ import annotations

from typing import Any

from chatservice.errors import (
    Forbidden,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    RangeNotSatisfiable,
    RateLimited,
)
from chatservice.file_models import MAX_ATTACHMENTS
from chatservice.openapi_build import (
    AUTH,
    ROUTE_ERRORS,
    STORED,
    WRITES,
    operation,
    path_id,
    returns,
)
from chatservice.openapi_schemas import SCHEMAS
from chatservice.openapi_shapes import ID, closed_object, ref
from chatservice.upload_body import MAX_NAME
from chatservice.wire import MAX_ID

_LINK = {"type": "string", "description": "A link signed for 30-60 minutes (no token needed)."}
_ATTACHMENT_PROPERTIES: dict[str, Any] = {
    "id": ID,
    "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
    "size": {"type": "integer", "minimum": 0},
    "content_type": {"type": "string", "description": "Found in the bytes, not claimed."},
    "url": _LINK,
    "width": {"type": "integer", "minimum": 1},
    "height": {"type": "integer", "minimum": 1},
    "thumbnail_url": _LINK,
}
# An image's size and thumbnail are there only when it has them.
_IMAGE_ONLY = ("width", "height", "thumbnail_url")
SCHEMAS.update(
    {
        "Attachment": closed_object(_ATTACHMENT_PROPERTIES, _IMAGE_ONLY),
        "Upload": closed_object(
            {**_ATTACHMENT_PROPERTIES, "created_at": {"type": "integer"}}, _IMAGE_ONLY
        ),
    }
)
# A message carries its files; a post names them by upload id.
SCHEMAS["Message"]["properties"]["attachments"] = {
    "type": "array",
    "items": ref("Attachment"),
    "maxItems": MAX_ATTACHMENTS,
    "description": "Present when the message has files; links are signed when it is served.",
}
SCHEMAS["NewMessage"]["properties"]["attachments"] = {
    "type": "array",
    "items": ID,
    "maxItems": MAX_ATTACHMENTS,
    "uniqueItems": True,
    "description": "Ids of the sender's own uploads ('content' may then be empty: "
    "docs/protocol.md).",
}

_DOWNLOAD: tuple[Any, ...] = (
    *AUTH,
    InvalidRequest,
    Forbidden,
    NotFound,
    RangeNotSatisfiable,
    *STORED,
)
ROUTE_ERRORS.update(
    {
        ("POST", "/api/uploads"): (
            *AUTH,
            InvalidRequest,
            PayloadTooLarge,
            QuotaExceeded,
            RateLimited,
            *WRITES,
        ),
        ("GET", "/api/files/{file_id}"): _DOWNLOAD,
        ("GET", "/api/files/{file_id}/thumbnail"): _DOWNLOAD,
    }
)

_BINARY = {"type": "string", "format": "binary"}
operation(
    "POST /api/uploads",
    "upload",
    "Store one file (at most MAX_UPLOAD_BYTES); attach it to a message by its id.",
    returns("Upload", "Stored.", 201),
    parameters=[
        {
            "name": "name",
            "in": "query",
            "description": "The file's name, shown to readers (a raw body; or X-Filename).",
            "schema": {"type": "string", "maxLength": MAX_NAME},
        }
    ],
    request_body={
        "required": True,
        "content": {
            "application/octet-stream": {"schema": _BINARY},
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"file": _BINARY}},
            },
        },
    },
)
_FILE_ANSWERS = {
    "200": {
        "description": "The bytes, with the type found in them; attachment unless a raster image.",
        "content": {"*/*": {"schema": _BINARY}},
    },
    "206": {
        "description": "The one range asked for.",
        "content": {"*/*": {"schema": _BINARY}},
    },
    "304": {"description": "Not modified (If-None-Match named its ETag)."},
}
_FILE_PARAMETERS = [
    path_id("file_id", "file"),
    {
        "name": "expires",
        "in": "query",
        "description": "A signed link's expiry (Unix seconds), with 'sig'.",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    },
    {
        "name": "sig",
        "in": "query",
        "description": "A signed link's signature, from a message's attachment.",
        "schema": {"type": "string", "maxLength": 64, "pattern": "^[0-9a-f]*$"},
    },
    {"name": "Range", "in": "header", "schema": {"type": "string"}},
    {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}},
]
operation(
    "GET /api/files/{file_id}",
    "download",
    "A file's bytes, for its uploader, readers of a room it was posted in, or a signed link.",
    _FILE_ANSWERS,
    parameters=_FILE_PARAMETERS,
)
operation(
    "GET /api/files/{file_id}/thumbnail",
    "thumbnail",
    "An image's thumbnail (PNG or JPEG, at most 320x320, without metadata).",
    _FILE_ANSWERS,
    parameters=_FILE_PARAMETERS,
)
