"""The API reference: the OpenAPI document as JSON, and the /docs page MosPay renders from it."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2

from . import openapi

ROOT = Path(__file__).resolve().parent.parent.parent
_METHOD_ORDER = ("get", "post", "put", "patch", "delete")


class OpenApiDocument:
    """GET /api/v1/openapi.json: serialised once, the same bytes for every request."""

    def __init__(self):
        self._body = json.dumps(openapi.document(), indent=2).encode()

    def on_get(self, req, resp):
        resp.data = self._body
        resp.content_type = "application/json"
        resp.cache_control = ["public", "max-age=300"]


class DocsPage:
    """GET /docs: a plain HTML page (no script, no CDN) rendered from the same document."""

    def __init__(self):
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROOT / "templates")),
                                 autoescape=True, trim_blocks=True, lstrip_blocks=True)
        doc = openapi.document()
        self._html = env.get_template("docs.html").render(
            doc=doc, operations=_operations(doc), webhooks=_webhooks(doc),
            schemas=doc["components"]["schemas"], schemes=doc["components"]["securitySchemes"],
            dumps=lambda v: json.dumps(v, indent=2)).encode()

    def on_get(self, req, resp):
        resp.data = self._html
        resp.content_type = "text/html; charset=utf-8"
        # The page is static: a strict policy costs nothing and forbids any script. img-src: the favicon.
        resp.set_header("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; "
                                                   "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class DocsStyle:
    """GET /docs/docs.css (kept under /docs so it never collides with the portal's /static)."""

    def __init__(self):
        self._css = (ROOT / "static" / "docs.css").read_bytes()

    def on_get(self, req, resp):
        resp.data = self._css
        resp.content_type = "text/css; charset=utf-8"
        resp.cache_control = ["public", "max-age=300"]


def _slug(method: str, path: str) -> str:
    return (method + path).replace("/", "-").replace("{", "").replace("}", "").replace(".", "-")


def _operations(doc: dict) -> list[dict]:
    """Operations grouped in tag order, each with its method, path and an anchor."""
    ops = []
    tags = [t["name"] for t in doc.get("tags", [])]
    for path, item in doc["paths"].items():
        for method in _METHOD_ORDER:
            if method in item:
                op = item[method]
                ops.append({"method": method.upper(), "path": path, "op": op, "id": _slug(method, path),
                            "tag": (op.get("tags") or ["other"])[0]})
    return sorted(ops, key=lambda o: (tags.index(o["tag"]) if o["tag"] in tags else len(tags)))


def _webhooks(doc: dict) -> list[dict]:
    return [{"name": name, "method": method.upper(), "op": op, "id": "webhook-" + name.replace(".", "-")}
            for name, item in doc.get("webhooks", {}).items() for method, op in item.items()]
