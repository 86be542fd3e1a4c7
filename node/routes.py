"""Every route the node serves, registered in one place.

Each room keeps its handlers beside the code they use, in a ``RouteTableDef``;
this module is the one list of those tables, so what the node answers (and
what ``node/openapi.py`` must describe) is read here at a glance.
"""

from __future__ import annotations

from aiohttp import web

from node import admin_api, openapi
from node.chapter import proposals_api, roll_api
from node.members import api, events, findings, matches, organizer, replies, report
from node.members import web as page
from node.operate import api as operate_api
from node.peering import peer_api

TABLES: tuple[web.RouteTableDef, ...] = (
    admin_api.routes,  # /healthz, /metrics, the operator's /api/v1/peers and /api/v1/policy
    operate_api.routes,  # the operator's /api/v1/bundle (records carried offline) and /api/v1/backup
    openapi.routes,  # /api/v1/openapi.json
    api.routes,  # members: /api/v1/node, /api/v1/records..., /api/v1/manage
    replies.routes,  # members: sealed replies to a post
    matches.routes,  # members: offers for a need, needs for an offer
    report.routes,  # members: the community needs report
    findings.routes,  # the mass line: findings, and anyone's answer to them
    events.routes,  # meetings and teach-ins, "I'll come", suggestions, /calendar.ics
    organizer.routes,  # flags, the organizers' view and their log
    roll_api.routes,  # the chapter: invites, joining, the roll, one's card
    proposals_api.routes,  # the chapter: proposals, ballots, comments
    peer_api.routes,  # node to node: /peer/v1/...
    page.routes,  # the member web page: / and /static/...
)


def install(app: web.Application) -> None:
    for table in TABLES:
        app.router.add_routes(table)
