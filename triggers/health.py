"""``GET /api/health``: a cheap liveness check that says whether the configuration is valid.

It performs no I/O beyond reading the (cached) configuration and never reveals secret values, so
it is safe to call from load balancers and monitoring probes.
"""

from __future__ import annotations

import json

import azure.durable_functions as df
import azure.functions as func

from bc_anaplan.config import ConfigError
from bc_anaplan.runtime import get_runtime

bp = df.Blueprint()


@bp.route(route="health", methods=["GET"])
def health(req: func.HttpRequest) -> func.HttpResponse:
    try:
        settings = get_runtime().settings
    except ConfigError as exc:
        body = {"status": "misconfigured", "error": str(exc)}
        return func.HttpResponse(json.dumps(body), status_code=503, mimetype="application/json")
    body = {"status": "ok", "pipelines": [p.name for p in settings.pipelines]}
    return func.HttpResponse(json.dumps(body), status_code=200, mimetype="application/json")
