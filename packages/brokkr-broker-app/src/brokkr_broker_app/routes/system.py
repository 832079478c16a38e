"""Unauthenticated operational endpoints and the API description."""

from __future__ import annotations

import json as jsonlib
import logging
from functools import cache
from importlib import resources
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from brokkr_broker_app.errors import PUBLIC_5XX_MESSAGES, error_response
from brokkr_broker_app.metrics import CONTENT_TYPE
from brokkr_domain.errors import BrokkrError

log = logging.getLogger("brokkr.broker")


@cache
def openapi_document() -> dict[str, Any]:
    text = resources.files("brokkr_broker_app").joinpath("openapi.json").read_text(encoding="utf-8")
    doc: dict[str, Any] = jsonlib.loads(text)
    return doc


async def healthz(request: Request) -> Response:
    return PlainTextResponse("OK")


async def readyz(request: Request) -> Response:
    try:
        await run_in_threadpool(request.app.state.ping)
    except BrokkrError as exc:  # anyone may ask: the reason (host, port, driver text) goes to the log only
        log.warning("not ready: %s", exc.message)
        return error_response(503, "database_unavailable", PUBLIC_5XX_MESSAGES["database_unavailable"])
    return PlainTextResponse("Ready")


async def metrics(request: Request) -> Response:
    await run_in_threadpool(request.app.state.refresh_fleet_metrics)
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Brokkr API</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}code{background:#f3f3f3;padding:0 .2rem}
.op{border-bottom:1px solid #ddd;padding:.4rem 0}.m{display:inline-block;width:4.5rem;font-weight:bold}
.GET{color:#1a7f37}.POST{color:#0969da}.PUT{color:#9a6700}.DELETE{color:#cf222e}.PATCH{color:#8250df}
.d{color:#555;margin-left:4.8rem;font-size:.9rem}</style></head>
<body><h1>Brokkr API <small>/api/v1</small></h1>
<p>Authenticate with <code>Authorization: Bearer &lt;PAK&gt;</code>. Machine-readable spec:
<a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p><div id="ops">Loading…</div>
<script>
fetch('/api/v1/openapi.json').then(r=>r.json()).then(spec=>{
  const out=[];
  for(const [path,ops] of Object.entries(spec.paths)){
    for(const [m,op] of Object.entries(ops)){
      if(!['get','post','put','delete','patch'].includes(m)) continue;
      const M=m.toUpperCase();
      const codes=Object.keys(op.responses||{}).join(', ');
      out.push(`<div class="op"><span class="m ${M}">${M}</span><code>/api/v1${path}</code>`+
        ` <small>(${codes})</small><div class="d">${(op.summary||op.description||'').replace(/</g,'&lt;')}</div></div>`);
    }
  }
  document.getElementById('ops').innerHTML=out.join('');
});
</script></body></html>"""


async def docs(request: Request) -> Response:
    return HTMLResponse(DOCS_PAGE)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/api/v1/openapi.json", openapi, methods=["GET"]),
    Route("/docs/openapi.json", openapi, methods=["GET"]),
    Route("/docs", docs, methods=["GET"]),
]
