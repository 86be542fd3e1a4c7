"""Everything the member web page needs from the node, installed in one call.

``install`` adds the route tables of replies, matches, the report and the
organizers' view, the cross-site protection middleware and security headers,
and the context that opens the community store and the reply delivery
(after the record store, closed before it).
"""

from __future__ import annotations

from aiohttp import web

from node import matches, organizer, replies, report, security


def install(app: web.Application, database: str) -> None:
    app[replies.COMMUNITY_DATABASE] = database
    app[report.REPORT_CACHE] = report.ReportCache()
    app.middlewares.append(security.cross_site_middleware)
    app.on_response_prepare.append(security.add_security_headers)
    app.cleanup_ctx.append(replies.community_ctx)
    for table in (replies.routes, matches.routes, report.routes, organizer.routes):
        app.router.add_routes(table)
