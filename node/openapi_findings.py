"""The mass line's part of the OpenAPI document: findings and the community's answers, events,
"I'll come", suggested events, and the calendar feed.

Made like the rest (``node/openapi.py``): request bodies from the
declarations the handlers read (``findings``, ``events``), errors from the
registry. An event's fields must also fit together (an end after its start,
a repeat its start falls on, a time zone the node knows): rules the schema
cannot say, answered with 422 ``invalid_event``.
"""

from __future__ import annotations

from typing import Any

from node.core.errors import Code
from node.members import events, findings
from node.openapi_parts import (
    CARD,
    INT,
    MEMBER,
    MEMBER_WRITE,
    ORGANIZER,
    ORGANIZING,
    POST_PATH,
    STR,
    TIME,
    Schema,
    json_answer,
    link,
    op,
    path_id,
)
from protocol.records import EVENT_KINDS

_RECORD = {"$ref": "#/components/schemas/Record"}
_COUNT: Schema = {"type": ["integer", "null"], "minimum": 0, "description": "rounded to 5; null: 1 to 4"}
_ANSWERS: Schema = {"type": "object", "additionalProperties": False, "required": ["agree", "partly", "missed"],
                    "properties": {"agree": _COUNT, "partly": _COUNT, "missed": _COUNT}}  # fmt: skip
_HEX64_OR_NULL: Schema = {"oneOf": [{"type": "null"}, {"type": "string", "pattern": "^[0-9a-f]{64}$"}]}


def _with(extra: dict[str, Schema]) -> Schema:
    return {"allOf": [_RECORD, {"type": "object", "required": list(extra), "properties": extra}]}


_FINDING = _with({"own": {"type": "boolean"}, "answers": {"oneOf": [{"type": "null"}, _ANSWERS]},
                  "revised_by": _HEX64_OR_NULL})  # fmt: skip
_OCCURRENCE: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["date", "local", "start", "end", "going"],
    "properties": {"date": STR, "local": STR, "start": TIME, "end": TIME,
                   "going": {"type": ["integer", "null"], "minimum": 0}},
}  # fmt: skip
_EVENT = _with({"own": {"type": "boolean"}, "occurrences": {"type": "array", "items": _OCCURRENCE}})
_ID = "$response.body#/finding/id"


def _object(properties: dict[str, Any]) -> Schema:
    return {"type": "object", "additionalProperties": False, "required": list(properties), "properties": properties}


def findings_paths() -> dict[str, Any]:
    path = [path_id()]
    ics = {"200": {"description": "an RFC 5545 calendar", "content": {"text/calendar": {"schema": STR}}}}
    what = {"name": "what", "in": "path", "required": True, "schema": {"type": "string", "enum": list(EVENT_KINDS)}}
    suggestion = _object({"n": INT, "member": STR, "at": TIME, "event": {"type": "object"}})
    finding_links = {
        "Answer": link("answerFinding", path__id=_ID),
        "Notes": link("findingNotes", path__id=_ID, header__Authorization="$request.header.Authorization"),
    }
    event_links = {
        "Attend": link("attend", path__id="$response.body#/event/id"),
        "Edit": link("editEvent", path__id="$response.body#/event/id",
                     header__Authorization="$request.header.Authorization"),
    }  # fmt: skip
    example_event = {"title": "Study group: the report", "what": "study-group", "start": "2027-02-23T18:00",
                     "end": "2027-02-23T20:00", "tz": "America/Chicago", "rrule": "FREQ=WEEKLY;COUNT=6",
                     "area": "dp3w", "venue": "Public library, room 2"}  # fmt: skip
    return {
        "/api/v1/findings": {
            "post": op("writeFinding", "Write a finding from the community report (organizers)",
                       {"201": json_answer(_object({"finding": _FINDING}), "published", links=finding_links)},
                       (*ORGANIZING, Code.INVALID_FINDING, Code.NOT_IN_REPORT, Code.UNKNOWN_REFERENCE),
                       body=findings.FINDING_BODY.schema(), security=ORGANIZER),
            "get": op("listFindings", "Findings this node holds, newest first, with answers for its own",
                      {"200": json_answer(_object({"findings": {"type": "array", "items": _FINDING}}))},
                      params=findings.LIST_PARAMS),
        },
        "/api/v1/records/{id}/answers": {
            "post": op("answerFinding", "Answer one of this chapter's findings: did we get this right?",
                       {"201": json_answer(_object({"answers": _ANSWERS}), "answered")},
                       (*POST_PATH, *MEMBER_WRITE, Code.INVALID_ANSWER, Code.NOT_THIS_NODE, Code.UNKNOWN_REFERENCE,
                        Code.TOO_MANY_ANSWERS),
                       path=path, body=findings.ANSWER_BODY.schema()),
        },
        "/api/v1/findings/{id}/notes": {
            "get": op("findingNotes", "The notes left with answers (organizers; they never leave the node)",
                      {"200": json_answer(_object({"notes": {"type": "array", "items": _object(
                          {"answer": STR, "note": STR, "at": TIME})}}))},
                      (*ORGANIZING, *POST_PATH, Code.NOT_THIS_NODE, Code.UNKNOWN_REFERENCE), params=(), path=path,
                      security=ORGANIZER),
        },
        "/api/v1/events": {
            "post": op("publishEvent", "Publish an event (organizers)",
                       {"201": json_answer(_object({"event": _EVENT}), "published", links=event_links)},
                       (*ORGANIZING, Code.INVALID_EVENT, Code.UNKNOWN_REFERENCE),
                       body=events.EVENT_BODY.schema(examples=[example_event]), security=ORGANIZER),
            "get": op("listEvents", "Coming events this node holds (its chapter's and its peers'), soonest first",
                      {"200": json_answer(_object({"events": {"type": "array", "items": _EVENT}}))},
                      params=events.LIST_PARAMS),
        },
        "/api/v1/events/{id}": {
            "patch": op("editEvent", "Change or cancel one of this chapter's events (organizers)",
                        {"200": json_answer(_object({"event": _EVENT}))},
                        (*ORGANIZING, *POST_PATH, Code.INVALID_EVENT, Code.UNKNOWN_REFERENCE, Code.CONFLICT),
                        path=[path_id()],
                        body=events.EDIT_BODY.schema(), security=ORGANIZER),
        },
        "/api/v1/records/{id}/attend": {
            "post": op("attend", "I'll come: one more for an occurrence (no name kept)",
                       {"201": json_answer(_object({"going": INT}), "counted")},
                       (*POST_PATH, *MEMBER_WRITE, Code.INVALID_EVENT, Code.NOT_THIS_NODE, Code.UNKNOWN_REFERENCE),
                       path=path,
                       body=events.ATTEND_BODY.schema()),
        },
        "/api/v1/events/suggestions": {
            "post": op("suggestEvent", "Suggest an event for the organizers to publish (members)",
                       {"201": json_answer(_object({"suggested": INT}), "suggested")},
                       (*MEMBER, Code.MEMBER_RATE, Code.INVALID_EVENT, Code.UNKNOWN_REFERENCE,
                        Code.TOO_MANY_SUGGESTIONS), body=events.EVENT_BODY.schema(), security=CARD),
            "get": op("listSuggestions", "Events members suggested (organizers)",
                      {"200": json_answer(_object({"suggestions": {"type": "array", "items": suggestion}}))},
                      ORGANIZING, params=events.SUGGESTIONS, security=ORGANIZER),
        },
        "/api/v1/events/suggestions/{n}": {
            "delete": op("dropSuggestion", "Drop a suggestion once dealt with (organizers)",
                         {"200": json_answer(_object({"dropped": {"const": True}}))},
                         (*ORGANIZING, Code.NOT_FOUND, Code.CROSS_SITE),
                         path=[{"name": "n", "in": "path", "required": True,
                                "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}}], security=ORGANIZER),
        },
        "/calendar.ics": {
            "get": op("calendar", "This chapter's events as a calendar to subscribe to", ics, params=()),
        },
        "/calendar/{what}.ics": {
            "get": op("calendarOfKind", "This chapter's events of one kind as a calendar", ics, (Code.NOT_FOUND,),
                      params=(), path=[what]),
        },
    }  # fmt: skip


__all__ = ["findings_paths"]
