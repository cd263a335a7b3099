"""An OpenAPI 3.1 document for the generated routes, with schemas derived from the models."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from vstorage.accessor import AsyncModelAccessor
from vstorage.accessor._model import SOFT_DELETE_FIELD

_REF = "#/components/schemas/{model}"

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {"type": "object"}},
            },
        }
    },
}

_AUDIT_ENTRY = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "timestamp": {"type": "string", "format": "date-time"},
        "component": {"type": "string"},
        "record_id": {"type": "string"},
        "operation": {"type": "string"},
        "actor": {"type": "string"},
        "before": {"anyOf": [{"type": "object"}, {"type": "null"}]},
        "after": {"anyOf": [{"type": "object"}, {"type": "null"}]},
    },
}


def _base64(node: Any) -> Any:
    """Bytes travel as base64 text in this API, not as raw binary."""
    if isinstance(node, dict):
        if node.get("format") == "binary" and node.get("type") == "string":
            node = {k: v for k, v in node.items() if k != "format"}
            node["contentEncoding"] = "base64"
        return {k: _base64(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_base64(v) for v in node]
    return node


def _without(schema: dict[str, Any], names: set[str]) -> dict[str, Any]:
    """``schema`` without the properties ``names``, closed to unknown properties."""
    for name in names:
        schema["properties"].pop(name, None)
    schema["required"] = [r for r in schema.get("required", []) if r not in names]
    schema["additionalProperties"] = False
    return schema


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": "error", **_json(_ref("Error"))} for s in statuses}


def _upload(*media_types: str) -> dict[str, Any]:
    """A file upload: the raw body in one of ``media_types``, or multipart field ``file``."""
    multipart = {
        "schema": {
            "type": "object",
            "properties": {"file": {"type": "string", "format": "binary"}},
        }
    }
    content: dict[str, Any] = {media: {} for media in media_types}
    content["multipart/form-data"] = multipart
    return {"required": True, "content": content}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


_ACTOR = {"name": "X-User", "in": "header", "required": False, "schema": {"type": "string"}}


class _Model:
    """Schemas and paths of one accessor."""

    def __init__(self, accessor: AsyncModelAccessor[Any], components: dict[str, Any]) -> None:
        self.accessor = accessor
        self.name = accessor.model.__name__
        self.components = components
        self._schemas()

    def _pydantic(self, kind: str, mode: str) -> dict[str, Any]:
        schemas = self.accessor.json_schemas(ref_template=_REF, mode=mode)
        schema: dict[str, Any] = _base64(copy.deepcopy(schemas[kind]))
        self.components.update(schema.pop("$defs", {}))
        return schema

    def _schemas(self) -> None:
        key = self.accessor.primary_key
        owned = {SOFT_DELETE_FIELD} | ({key} if self.accessor.generated_key else set())
        record = self._pydantic("changes", "serialization")
        record["required"] = list(self.accessor.fields)
        record["title"] = self.name
        create = _without(self._pydantic("record", "validation"), owned)
        create["title"] = f"{self.name}Create"
        replace = _without(self._pydantic("record", "validation"), {key, SOFT_DELETE_FIELD})
        replace["title"] = f"{self.name}Replace"
        update = _without(self._pydantic("changes", "validation"), {key, SOFT_DELETE_FIELD})
        update.pop("required", None)
        update["title"] = f"{self.name}Update"
        page = {
            "type": "object",
            "required": ["items", "total", "limit", "offset"],
            "properties": {
                "items": {"type": "array", "items": _ref(self.name)},
                "total": {"type": "integer"},
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
            },
        }
        self.components.update(
            {
                self.name: record,
                f"{self.name}Create": create,
                f"{self.name}Update": update,
                f"{self.name}Replace": replace,
                f"{self.name}Page": page,
            }
        )

    def paths(self) -> dict[str, Any]:
        paths = self._paths()
        if not self.accessor.soft_delete:
            del paths[f"/{self.accessor.component}/{{id}}/restore"]
        return paths

    def _paths(self) -> dict[str, Any]:
        base = f"/{self.accessor.component}"
        name = self.name
        key_schema = self.accessor.json_schemas()["record"]["properties"][self.accessor.primary_key]
        key_schema = {k: v for k, v in key_schema.items() if k not in ("default", "title")}
        if "anyOf" in key_schema:  # an optional key in the record: the path always has one
            key_schema = next(s for s in key_schema["anyOf"] if s.get("type") != "null")
        id_param = {"name": "id", "in": "path", "required": True, "schema": key_schema}
        fields = list(self.accessor.fields)
        listing = [
            _query("limit", {"type": "integer", "minimum": 0}),
            _query("offset", {"type": "integer", "minimum": 0}),
            _query("order_by", {"type": "string", "enum": fields}),
            _query("order_desc", {"type": "boolean"}),
            _query("include_deleted", {"type": "boolean"}),
            *(_query(field, {"type": "string"}) for field in fields),
        ]
        record = {"description": "the record", **_json(_ref(name))}
        tag = [self.accessor.component]
        return {
            base: {
                "get": {
                    "tags": tag,
                    "summary": f"List {self.accessor.component}",
                    "operationId": f"list_{self.accessor.component}",
                    "parameters": listing,
                    "responses": {
                        "200": {"description": "a page", **_json(_ref(f"{name}Page"))},
                        **_errors(403, 422, 503),
                    },
                },
                "post": {
                    "tags": tag,
                    "summary": f"Create a {name}",
                    "operationId": f"create_{self.accessor.component}",
                    "parameters": [_ACTOR],
                    "requestBody": {"required": True, **_json(_ref(f"{name}Create"))},
                    "responses": {"201": record, **_errors(400, 403, 409, 413, 422, 503)},
                },
            },
            f"{base}/batch": {
                "post": {
                    "tags": tag,
                    "summary": f"Create many {name} records, all or none",
                    "operationId": f"create_many_{self.accessor.component}",
                    "parameters": [_ACTOR],
                    "requestBody": {
                        "required": True,
                        **_json({"type": "array", "items": _ref(f"{name}Create")}),
                    },
                    "responses": {
                        "201": {
                            "description": "the records",
                            **_json({"type": "array", "items": _ref(name)}),
                        },
                        **_errors(400, 403, 409, 413, 422, 503),
                    },
                }
            },
            f"{base}/batch/delete": {
                "post": {
                    "tags": tag,
                    "summary": f"Delete many {name} records (missing ids skipped), all or none",
                    "operationId": f"delete_many_{self.accessor.component}",
                    "parameters": [_ACTOR],
                    "requestBody": {
                        "required": True,
                        **_json(
                            {
                                "type": "object",
                                "required": ["ids"],
                                "additionalProperties": False,
                                "properties": {"ids": {"type": "array"}},
                            }
                        ),
                    },
                    "responses": {
                        "200": {
                            "description": "how many were deleted",
                            **_json(
                                {"type": "object", "properties": {"deleted": {"type": "integer"}}}
                            ),
                        },
                        **_errors(400, 403, 409, 413, 422, 503),
                    },
                }
            },
            f"{base}/{{id}}": {
                "parameters": [id_param],
                "get": {
                    "tags": tag,
                    "summary": f"Get a {name}",
                    "operationId": f"get_{self.accessor.component}",
                    "parameters": [_query("include_deleted", {"type": "boolean"})],
                    "responses": {"200": record, **_errors(403, 404, 422, 503)},
                },
                "put": {
                    "tags": tag,
                    "summary": f"Replace a {name}",
                    "operationId": f"replace_{self.accessor.component}",
                    "parameters": [_ACTOR],
                    "requestBody": {"required": True, **_json(_ref(f"{name}Replace"))},
                    "responses": {"200": record, **_errors(400, 403, 404, 409, 413, 422, 503)},
                },
                "patch": {
                    "tags": tag,
                    "summary": f"Change some fields of a {name}",
                    "operationId": f"patch_{self.accessor.component}",
                    "parameters": [_ACTOR],
                    "requestBody": {"required": True, **_json(_ref(f"{name}Update"))},
                    "responses": {"200": record, **_errors(400, 403, 404, 409, 413, 422, 503)},
                },
                "delete": {
                    "tags": tag,
                    "summary": f"Delete a {name}",
                    "operationId": f"delete_{self.accessor.component}",
                    "parameters": [_ACTOR],
                    "responses": {
                        "204": {"description": "deleted"},
                        **_errors(400, 403, 404, 409, 422, 503),
                    },
                },
            },
            f"{base}/{{id}}/restore": {
                "parameters": [id_param],
                "post": {
                    "tags": tag,
                    "summary": f"Restore a soft-deleted {name}",
                    "operationId": f"restore_{self.accessor.component}",
                    "parameters": [_ACTOR],
                    "responses": {"200": record, **_errors(400, 403, 404, 409, 422, 503)},
                },
            },
            f"{base}/{{id}}/history": {
                "parameters": [id_param],
                "get": {
                    "tags": tag,
                    "summary": f"The audit trail of a {name}",
                    "operationId": f"history_{self.accessor.component}",
                    "parameters": [
                        _query("limit", {"type": "integer", "minimum": 0}),
                        _query("offset", {"type": "integer", "minimum": 0}),
                    ],
                    "responses": {
                        "200": {"description": "audit entries", **_json(_ref("AuditPage"))},
                        **_errors(403, 422, 503),
                    },
                },
            },
        }


def _db_paths() -> dict[str, Any]:
    audit_params = [
        _query(name, {"type": "string"})
        for name in ("component", "record_id", "actor", "operation")
    ] + [
        _query("since", {"type": "string", "format": "date-time"}),
        _query("until", {"type": "string", "format": "date-time"}),
        _query("limit", {"type": "integer", "minimum": 0}),
        _query("offset", {"type": "integer", "minimum": 0}),
    ]
    text = {"description": "the diagram", "content": {}}
    return {
        "/db/health": {
            "get": {
                "tags": ["db"],
                "summary": "Health: the writer; SQLite pragmas, or the PostgreSQL server and pools",
                "operationId": "db_health",
                "responses": {
                    "200": {"description": "healthy", **_json({"type": "object"})},
                    **_errors(403, 503),
                },
            }
        },
        "/db/audit": {
            "get": {
                "tags": ["db"],
                "summary": "The audit trail, newest first",
                "operationId": "db_audit",
                "parameters": audit_params,
                "responses": {
                    "200": {"description": "audit entries", **_json(_ref("AuditPage"))},
                    **_errors(403, 422, 503),
                },
            }
        },
        "/db/diagram.svg": {
            "get": {
                "tags": ["db"],
                "summary": "The schema as SVG",
                "operationId": "db_diagram_svg",
                "responses": {
                    "200": {**text, "content": {"image/svg+xml": {"schema": {"type": "string"}}}},
                    **_errors(403),
                },
            }
        },
        "/db/export.zip": {
            "get": {
                "tags": ["db"],
                "summary": "Every table and the audit trail as CSV files in a zip",
                "operationId": "db_export",
                "parameters": [_query("neutralise_formulas", {"type": "boolean"})],
                "responses": {
                    "200": {"description": "the zip", "content": {"application/zip": {}}},
                    **_errors(403, 422, 503),
                },
            }
        },
        "/db/import": {
            "post": {
                "tags": ["db"],
                "summary": "Import a zip made by export, or one table's CSV (all or nothing)",
                "operationId": "db_import",
                "parameters": [
                    _ACTOR,
                    _query("mode", {"type": "string", "enum": ["append", "replace", "upsert"]}),
                    _query("table", {"type": "string"}),
                ],
                "requestBody": _upload("application/zip", "text/csv"),
                "responses": {
                    "200": {"description": "what was imported", **_json({"type": "object"})},
                    **_errors(400, 403, 409, 413, 422, 503),
                },
            }
        },
        "/db/backup.sqlite": {
            "get": {
                "tags": ["db"],
                "summary": "A consistent copy of the live database",
                "operationId": "db_backup",
                "parameters": [_query("compress", {"type": "boolean"})],
                "responses": {
                    "200": {
                        "description": "the backup",
                        "content": {"application/vnd.sqlite3": {}},
                    },
                    **_errors(403, 422, 501, 503),
                },
            }
        },
        "/db/restore": {
            "post": {
                "tags": ["db"],
                "summary": "Check a backup, then restore it through the writer",
                "operationId": "db_restore",
                "parameters": [
                    _ACTOR,
                    _query("dry_run", {"type": "boolean"}),
                    _query("integrity_check", {"type": "boolean"}),
                ],
                "requestBody": _upload("application/vnd.sqlite3"),
                "responses": {
                    "200": {"description": "the report", **_json({"type": "object"})},
                    **_errors(400, 403, 413, 422, 501, 503),
                },
            }
        },
        "/db/diagram.mmd": {
            "get": {
                "tags": ["db"],
                "summary": "The schema as Mermaid ER text",
                "operationId": "db_diagram_mermaid",
                "responses": {
                    "200": {**text, "content": {"text/plain": {"schema": {"type": "string"}}}},
                    **_errors(403),
                },
            }
        },
    }


def openapi_document(
    accessors: Iterable[AsyncModelAccessor[Any]],
    *,
    title: str = "vstorage",
    version: str = "0.1.0",
    include_db: bool = True,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the CRUD routes of ``accessors`` (and of ``/db``).

    Example:
        >>> document = openapi_document([recipes, alarms])

    """
    components: dict[str, Any] = {
        "Error": _ERROR,
        "AuditEntry": _AUDIT_ENTRY,
        "AuditPage": {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": _ref("AuditEntry")},
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
            },
        },
    }
    paths: dict[str, Any] = {}
    for accessor in accessors:
        paths.update(_Model(accessor, components).paths())
    if include_db:
        paths.update(_db_paths())
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": components},
    }
