"""Everything the Anaplan simulator holds while it runs, shared by the auth and API services.

One tenant: the integration user, the tokens issued to it, one workspace with the FP&A model,
the model's task queue, failure dumps, the rate limiter, and the switches the ``/_sandbox/``
controls flip.
"""

from __future__ import annotations

from aiohttp import web

from sandbox.anaplan.certificates import CertificateLogin
from sandbox.anaplan.dataset import build_model
from sandbox.anaplan.dumps import DumpStore
from sandbox.anaplan.model import PlanModel
from sandbox.anaplan.ratelimit import RateLimiter
from sandbox.anaplan.runner import TaskRunner
from sandbox.anaplan.tasks import ModelTasks
from sandbox.anaplan.tokens import TokenStore
from sandbox.anaplan.users import AnaplanUser, integration_user
from sandbox.common.context import SandboxContext


class AnaplanState:
    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.clock = ctx.clock
        self.user: AnaplanUser = integration_user(ctx)
        self.users = [self.user]
        self.tokens = TokenStore(ctx.clock)
        self.certificates = CertificateLogin(ctx.tls.ca.cert_pem.bytes(), self.users)
        self.rate_limiter = RateLimiter()
        self.dumps = DumpStore(ctx.clock)
        self.model: PlanModel = build_model(ctx.seed, ctx.clock)
        self.runner = TaskRunner(self.model, self.dumps, ctx.clock)
        self.tasks = ModelTasks(ctx, self.runner.execute)
        # opt-in: answer 409 instead of queueing or blocking while the model is busy
        self.busy_conflicts = False

    @property
    def api_base(self) -> str:
        return self.ctx.urls.get("anaplan_api", "https://api.anaplan.com")

    @property
    def auth_base(self) -> str:
        return self.ctx.urls.get("anaplan_auth", "https://auth.anaplan.com")

    def model_by_id(self, model_id: str) -> PlanModel | None:
        return self.model if model_id == self.model.id else None

    def reset_model(self) -> None:
        """Back to the dataset as first built (refused by the caller while tasks run)."""
        self.model = build_model(self.ctx.seed, self.ctx.clock)
        self.runner.model = self.model
        self.dumps.clear()
        self.tasks.reset()
        self.busy_conflicts = False
        self.certificates.accept_v1 = False
        self.tasks.hold(False)
        self.rate_limiter.reset()


STATE: web.AppKey[AnaplanState] = web.AppKey("anaplan_state", AnaplanState)
