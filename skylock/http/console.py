"""The web console: ``GET /ui/`` serves a single page that shows the cluster through the REST API.

The page is plain HTML, CSS and JavaScript shipped as package data (``skylock/http/console/``),
served by every node itself: no build step and nothing fetched from elsewhere, so it works
on a machine without internet. It holds no data of its own; everything it shows it reads
from the REST API with the operator's bearer token (secure mode), so it shows nothing the
API would not.

Only the files in that directory are served, by exact name, with a Content-Security-Policy
that lets the page load only its own files and talk only to its own node, and with framing
refused (the page has buttons that write).
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

#: The files of the page, by name, with their media types; nothing else under /ui/ exists.
FILES = {
    "index.html": "text/html",
    "console.css": "text/css",
    "console.js": "text/javascript",
}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def asset(name: str) -> bytes:
    """One of the page's files as shipped in the package."""
    return resources.files("skylock.http").joinpath("console", name).read_bytes()


async def page_file(request: web.Request) -> web.Response:
    name = request.match_info.get("name") or "index.html"
    if name not in FILES:
        raise web.HTTPNotFound(text=f"the console has no file {name[:60]!r}")
    return web.Response(body=asset(name), content_type=FILES[name], charset="utf-8", headers=HEADERS)


async def to_console(request: web.Request) -> web.Response:
    raise web.HTTPFound("/ui/")


def routes() -> list[web.RouteDef]:
    """``/ui/`` and its files, and ``/`` and ``/ui`` redirecting to ``/ui/``."""
    return [
        web.get("/", to_console),
        web.get("/ui", to_console),
        web.get("/ui/", page_file),
        web.get("/ui/{name}", page_file),
    ]


__all__ = ["routes", "FILES"]
