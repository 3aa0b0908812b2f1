"""The route inventory: every plain-HTTP route with the permission it requires.

Tests iterate this list (and the page registry) so a new endpoint is covered automatically or
fails the suite. A handler without a declared permission is refused here, at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.context import AppContext
from app.http import api, assets, audits, auth, charts, feedback, health, imports, notifications, openapi, webhooks
from app.http import events as live_events
from app.http import exports as data_exports
from app.http.base import BaseHandler


@dataclass(frozen=True)
class Route:
    pattern: str
    handler: type[BaseHandler]
    methods: tuple[str, ...]

    @property
    def permission(self) -> object:
        return self.handler.permission


ROUTES: tuple[Route, ...] = (
    Route(r"/", auth.RootHandler, ("GET",)),
    Route(r"/login", auth.LoginHandler, ("GET", "POST")),
    Route(r"/login/code", auth.TwoStepHandler, ("GET", "POST")),
    Route(r"/logout", auth.LogoutHandler, ("POST",)),
    Route(r"/register", auth.RegisterHandler, ("GET", "POST")),
    Route(r"/invite", auth.InviteHandler, ("GET", "POST")),
    Route(r"/healthz", health.HealthHandler, ("GET",)),
    Route(r"/assets/([a-z]+\.(?:css|js))", assets.AssetHandler, ("GET",)),
    Route(r"/api/v1/openapi.json", openapi.OpenApiHandler, ("GET",)),
    Route(r"/api/v1/me", api.MeHandler, ("GET",)),
    Route(r"/api/v1/users", api.UsersHandler, ("GET", "POST")),
    Route(r"/api/v1/users/([^/]+)", api.UserHandler, ("GET", "PATCH")),
    Route(r"/api/v1/validate", api.ValidateHandler, ("POST",)),
    Route(r"/api/v1/codes", api.CodeSearchHandler, ("GET",)),
    Route(r"/api/v1/imports", imports.ImportsHandler, ("GET", "POST")),
    Route(r"/api/v1/imports/([^/]+)", imports.ImportHandler, ("GET",)),
    Route(r"/api/v1/events", live_events.EventsHandler, ("GET",)),
    Route(r"/api/v1/export/(charts|audits|metrics)\.(csv|parquet)", data_exports.ExportHandler, ("GET",)),
    Route(r"/api/v1/charts", charts.ChartsHandler, ("GET",)),
    Route(r"/api/v1/charts/assign", charts.ChartAssignHandler, ("POST",)),  # before the {id} routes
    Route(r"/api/v1/charts/([^/]+)", charts.ChartHandler, ("GET",)),
    Route(r"/api/v1/charts/([^/]+)/codes", charts.ChartCodesHandler, ("PUT",)),
    Route(r"/api/v1/charts/([^/]+)/submit", charts.ChartSubmitHandler, ("POST",)),
    Route(r"/api/v1/charts/([^/]+)/claim", audits.ChartClaimHandler, ("POST",)),
    Route(r"/api/v1/charts/([^/]+)/audit", audits.ChartAuditHandler, ("POST",)),
    Route(r"/api/v1/audits", audits.AuditsHandler, ("GET",)),
    Route(r"/api/v1/audits/queue", audits.ReviewQueueHandler, ("GET",)),
    Route(r"/api/v1/audits/sampling", audits.AuditSamplingHandler, ("GET", "PUT")),
    Route(r"/api/v1/feedback", feedback.FeedbackHandler, ("GET",)),
    Route(r"/api/v1/feedback/([^/]+)/acknowledge", feedback.FeedbackAcknowledgeHandler, ("POST",)),
    Route(r"/api/v1/findings/disputed", feedback.DisputedFindingsHandler, ("GET",)),
    Route(r"/api/v1/findings/([^/]+)/dispute", feedback.FindingDisputeHandler, ("POST",)),
    Route(r"/api/v1/findings/([^/]+)/resolve", feedback.FindingResolveHandler, ("POST",)),
    Route(r"/api/v1/notifications", notifications.NotificationsHandler, ("GET",)),
    Route(r"/api/v1/notifications/read", notifications.NotificationsReadHandler, ("POST",)),
    # Machine callers: PUBLIC at the session layer, authenticated by the HMAC signature made with
    # the organisation's key (the slug selects the key); no cookie CSRF. See app/http/webhooks.py.
    Route(r"/webhooks/synthea(?:/([^/]*))?", webhooks.SyntheaWebhookHandler, ("POST",)),
)


def tornado_patterns(ctx: AppContext) -> list[tuple[str, type[BaseHandler], dict[str, Any]]]:
    for route in ROUTES:
        if route.handler.permission is None:
            raise RuntimeError(f"{route.handler.__name__} declares no permission")
    return [(route.pattern, route.handler, {"ctx": ctx}) for route in ROUTES]
