"""Everything the member web page needs from the node, installed in one call.

``install`` adds the route tables of replies, matches, the report and the
organizers' view, the cross-site protection and member write rate limit
middlewares, the security headers,
and the context that opens the community store and the reply delivery
(after the record store, closed before it).
"""

from __future__ import annotations

from aiohttp import web

from node import matches, organizer, ratelimit, replies, report, security
from node.state import CONFIG


def install(app: web.Application, database: str) -> None:
    app[replies.COMMUNITY_DATABASE] = database
    app[report.REPORT_CACHE] = report.ReportCache()
    app.middlewares.append(security.cross_site_middleware)
    config = app[CONFIG]
    app[ratelimit.WRITE_LIMITER] = ratelimit.WriteLimiter(
        config.member_write_burst, config.member_write_every_s, limit_loopback=config.member_write_limit_loopback
    )
    app.middlewares.append(ratelimit.write_limit_middleware)
    app[replies.REPLY_QUOTA] = replies.ReplyQuota()
    app.on_response_prepare.append(security.add_security_headers)
    app.cleanup_ctx.append(replies.community_ctx)
    for table in (replies.routes, matches.routes, report.routes, organizer.routes):
        app.router.add_routes(table)
