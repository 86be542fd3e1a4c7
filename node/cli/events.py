"""The chapter's events from the command line: ``events`` (add, list, cancel, come, suggest).

An event's start and end are local wall times in an IANA time zone
(``--tz``, by default this machine's), and it may repeat by an RRULE of
``protocol/recurrence.py``'s subset: a weekly meeting at 18:00 stays at
18:00 across a daylight-saving change. What the command can tell by itself
is checked before anything is sent, with the protocol's own code: a start
that is no local time, a zone the time zone database lacks, a rule outside
the subset or one its start does not fall on, an end not after the start
(bad usage, exit 2). What only the node knows (a start more than a year
ahead, an agenda naming a record it does not hold) is its refusal (exit 1).

``events add`` and ``events cancel`` act as an organizer
(``node/cli/organizer.py``); ``events suggest`` as a member, for the
organizers to publish; ``events list`` and ``events come`` ("I'll come",
an anonymous count) are anyone's.
"""

from __future__ import annotations

import argparse
import os
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

from node.cli.client import (
    CliError,
    ExitCode,
    add_actions,
    add_card_option,
    add_node_options,
    call,
    confirm,
    full_id,
    member_card,
    moment,
    node_of,
    print_answer,
    query_string,
    record_id,
    stdin_text,
    whole_number,
)
from node.cli.decide import peer_names
from node.cli.findings import chars, language
from node.cli.organizer import ORGANIZER_NEEDED, add_organizer_options, organizer
from node.cli.propose import duration, minutes_text
from node.members import calendar
from node.members.terms import DEFAULT_EVENTS_LIST, EVENT_DAYS, MAX_EVENT_DAYS, MAX_EVENTS_LIST
from protocol import fields, recurrence
from protocol.errors import RecordInvalid
from protocol.records import EVENT_ACCESS, EVENT_KINDS

EVENT_ID = record_id("an event", "events list")
ANY_ID = record_id("a record", "findings list and decisions")
DEFAULT_DURATION = 60
"""Minutes an event lasts when neither --ends nor --duration says."""
MAX_DURATION = 24 * 60
ZONEINFO_ROOTS = ("/usr/share/zoneinfo/", "/usr/lib/zoneinfo/", "/usr/share/lib/zoneinfo/")
EXAMPLE = (
    'mutualaid events add --title "Study group: the report" --what study-group --starts 2027-02-23T18:00 '
    '--duration 2h --tz America/Chicago --rrule "FREQ=WEEKLY;COUNT=6" --area dp3w --venue "Public library, room 2"'
)


# --- reading times and rules -----------------------------------------------------------------------------


def local_time(value: str) -> str:
    """``--starts``/``--ends``: a local date and time to the minute, ``2027-02-23T18:00``."""
    text = value.strip().replace(" ", "T", 1)
    try:
        return fields.local_time("start", text)
    except RecordInvalid:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a local date and time: give YYYY-MM-DDTHH:MM, such as 2027-02-23T18:00 (a real "
            f"date of {fields.FIRST_YEAR}-{fields.LAST_YEAR}, in the --tz zone)"
        ) from None


local_time.__name__ = "local time"


def known_zone(name: str) -> bool:
    """A portable IANA name the node takes too (``node.members.calendar.zone``)."""
    try:
        fields.time_zone("tz", name)
    except RecordInvalid:
        return False
    return calendar.zone(name) is not None


def time_zone(value: str) -> str:
    """``--tz``: an IANA time zone this machine's time zone database knows."""
    name = value.strip()
    if not known_zone(name):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a time zone: give an IANA name such as America/Chicago, Europe/Madrid or UTC"
        )
    return name


time_zone.__name__ = "time zone"


def rrule(value: str) -> str:
    """``--rrule``: a rule of the subset (case aside, an ``RRULE:`` prefix allowed), in its canonical form."""
    text = value.strip().upper().removeprefix("RRULE:")
    try:
        return recurrence.parse(text).text()
    except RecordInvalid as exc:
        raise argparse.ArgumentTypeError(f"{value!r}: {str(exc).removeprefix('rrule: ')}") from None


rrule.__name__ = "rule"


def area(value: str) -> str:
    try:
        return fields.geohash("area", value.strip())
    except RecordInvalid as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("area: ")) from None


def url(value: str) -> str:
    try:
        return fields.url("material", value.strip())
    except RecordInvalid as exc:
        raise argparse.ArgumentTypeError(f"{value!r}: {str(exc).removeprefix('material: ')}") from None


def occurrence_date(value: str) -> str:
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date: give YYYY-MM-DD, as events list shows") from None


occurrence_date.__name__ = "date"


def machine_zone(environ: dict[str, str] | None = None, localtime: Path = Path("/etc/localtime")) -> str | None:
    """This machine's IANA time zone: ``$TZ`` if set (a name, or a path into the zone database), else
    the zone ``/etc/localtime`` links to, else ``/etc/timezone``; None when none names a known zone."""
    env = os.environ if environ is None else environ
    given = env.get("TZ", "").strip().removeprefix(":")
    if given:
        return _zone_of_path(Path(given)) if given.startswith("/") else given if known_zone(given) else None
    found = _zone_of_path(localtime)
    if found is None:
        try:
            name = (localtime.parent / "timezone").read_text(encoding="utf-8").strip()
        except OSError:
            return None
        found = name if known_zone(name) else None
    return found


def _zone_of_path(path: Path) -> str | None:
    try:
        target = str(path.resolve())
    except OSError:
        return None
    for root in ZONEINFO_ROOTS:
        if target.startswith(root):
            name = target.removeprefix(root).removeprefix("posix/").removeprefix("right/")
            return name if known_zone(name) else None
    return None


def _end_of(given: str, start: datetime) -> datetime:
    """``--ends``: a local date and time, or a time ``HH:MM`` on the start's day."""
    text = given.strip()
    try:
        if len(text) == 5:
            return datetime.combine(start.date(), time.fromisoformat(text))
        return datetime.fromisoformat(local_time(text))
    except (ValueError, argparse.ArgumentTypeError):
        raise CliError(
            f"argument --ends: {given!r} is not a local date and time: give YYYY-MM-DDTHH:MM, or HH:MM on the "
            "start's day"
        ) from None


def when_of(args: argparse.Namespace) -> dict[str, str]:
    """The start, end, zone and rule the options give, checked together; a usage error saying what is wrong."""
    tz = args.tz or machine_zone()
    if tz is None:
        raise CliError("--tz is needed: this machine's time zone cannot be found (give an IANA name such as "
                       "America/Chicago)")  # fmt: skip
    start = datetime.fromisoformat(args.starts)
    if args.ends is not None:
        end = _end_of(args.ends, start)
    else:
        end = start + timedelta(minutes=args.duration or DEFAULT_DURATION)
    if not start < end <= start + timedelta(days=1):
        raise CliError(
            f"--ends {end:%Y-%m-%dT%H:%M} is not within 24 hours after --starts {args.starts}: an event ends after "
            "it starts, on the same day or the next"
        )
    out = {"start": args.starts, "end": f"{end:%Y-%m-%dT%H:%M}", "tz": tz}
    if args.rrule:
        try:
            recurrence.occurrences(start, recurrence.parse(args.rrule))
        except RecordInvalid as exc:
            raise CliError(f"argument --rrule: {args.rrule!r} with --starts {args.starts}: "
                           f"{str(exc).removeprefix('rrule: ')}") from None  # fmt: skip
        out["rrule"] = args.rrule
    return out


# --- the parsers -----------------------------------------------------------------------------------------


def register(sub: Any) -> None:
    events = sub.add_parser(
        "events",
        help="the chapter's meetings, assemblies, teach-ins and study groups: add, list, cancel, come, suggest",
        description="Events: meetings, general assemblies, teach-ins, study groups, distributions, skill shares, "
        "clinics. Each has local times in an IANA time zone and may repeat; it travels to neighbouring chapters, "
        "and the chapter's calendar (/calendar.ics, or /calendar/KIND.ics) holds its own for any calendar app.",
    )
    rooms = add_actions(events, "events_command")
    add = rooms.add_parser(
        "add",
        help="publish an event; prints its id and coming dates",
        description="Publish an event of the chapter. --starts is a local time in the --tz zone, and every "
        "occurrence of a repeating event keeps that local time across daylight-saving changes. The venue is "
        "published, to neighbouring chapters too: give a public meeting place, never a home. Prints the event's "
        f"id and its coming occurrences. {ORGANIZER_NEEDED}",
        epilog=f"example:\n  {EXAMPLE}\n\n{_rrule_epilog()}",
    )
    _event_options(add)
    add_organizer_options(add)
    add.set_defaults(handler=cmd_add)

    _register_list(rooms)

    cancel = rooms.add_parser(
        "cancel",
        help="cancel an event of the chapter (asks first)",
        description="Cancel one of the chapter's events: it stays listed and in the calendar as cancelled "
        f"(STATUS:CANCELLED), so calendar apps that subscribed show it so. Asks first, unless --yes. "
        f"{ORGANIZER_NEEDED}",
    )
    cancel.add_argument("id", type=EVENT_ID, metavar="ID", help="the event's id, or its first 8 characters or more")
    cancel.add_argument("--yes", action="store_true", help="do not ask first")
    add_organizer_options(cancel)
    cancel.set_defaults(handler=cmd_cancel)

    come = rooms.add_parser(
        "come",
        help="say you will come to an occurrence (an anonymous count)",
        description="Say you will come to one occurrence of a chapter's event, on its node: the count goes up by "
        "one, and nothing about you is kept. Anyone may; no card is needed.",
    )
    come.add_argument("id", type=EVENT_ID, metavar="ID", help="the event's id, or its first 8 characters or more")
    come.add_argument("date", type=occurrence_date, metavar="DATE",
                      help="the occurrence's local date, YYYY-MM-DD (events list shows them)")  # fmt: skip
    add_node_options(come)
    come.set_defaults(handler=cmd_come)

    suggest = rooms.add_parser(
        "suggest",
        help="suggest an event for the organizers to publish",
        description="Suggest an event to the chapter's organizers, who may publish it (with events add). Takes "
        "the options of events add. Acts as a member: needs your card in $MUTUALAID_MEMBER_CARD or --card-file "
        "FILE.",
        epilog=_rrule_epilog(),
    )
    _event_options(suggest)
    add_card_option(suggest)
    add_node_options(suggest)
    suggest.set_defaults(handler=cmd_suggest)


def _rrule_epilog() -> str:
    return (
        "repeats (--rrule), the subset of RFC 5545 a chapter's events use:\n"
        f"  FREQ={'|'.join(recurrence.FREQUENCIES)} (required), INTERVAL=1..99, and exactly one of\n"
        f"  COUNT=1..{recurrence.MAX_OCCURRENCES} or UNTIL=YYYYMMDD (the last day one may start); BYDAY=MO,WE... "
        "with WEEKLY\n"
        "  (--starts on one of them). A monthly event skips months without its day (the 31st).\n"
        "  such as: FREQ=WEEKLY;COUNT=6   FREQ=WEEKLY;INTERVAL=2;UNTIL=20270630   FREQ=MONTHLY;COUNT=12"
    )


def _event_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--title", required=True, help=f"what it is called (at most {chars('title')} characters)")
    parser.add_argument("--what", choices=EVENT_KINDS, default=EVENT_KINDS[0],
                        help=f"what kind of event it is (default: {EVENT_KINDS[0]})")  # fmt: skip
    parser.add_argument(
        "--starts", required=True, type=local_time, metavar="LOCAL_TIME",
        help="when it (its first occurrence) starts, local to --tz: YYYY-MM-DDTHH:MM",
    )  # fmt: skip
    ends = parser.add_mutually_exclusive_group()
    ends.add_argument(
        "--ends", metavar="LOCAL_TIME",
        help="when it ends, local to --tz: YYYY-MM-DDTHH:MM, or HH:MM on the start's day; within 24 hours "
        f"(default: --duration's, {minutes_text(DEFAULT_DURATION)})",
    )  # fmt: skip
    ends.add_argument(
        "--duration", type=duration(1, MAX_DURATION), metavar="DURATION",
        help=f"how long it lasts, instead of --ends: 90m, 2h, 1h30m, up to 24h (default: "
        f"{minutes_text(DEFAULT_DURATION)})",
    )  # fmt: skip
    parser.add_argument(
        "--tz", type=time_zone, metavar="ZONE",
        help="the IANA time zone of its times, such as America/Chicago (default: this machine's, from $TZ or "
        "/etc/localtime; needed where it cannot be found)",
    )  # fmt: skip
    parser.add_argument("--rrule", type=rrule, metavar="RULE",
                        help="how it repeats, such as FREQ=WEEKLY;COUNT=6 (below) (default: it does not)")  # fmt: skip
    parser.add_argument("--area", type=area, metavar="GEOHASH",
                        help="roughly where: a geohash of 1 to 5 characters, never finer than ~5 km (default: the "
                        "area the node serves, if its areas share one; otherwise none)")  # fmt: skip
    parser.add_argument(
        "--venue", metavar="TEXT",
        help=f"a public meeting place, published: never a home address (at most {chars('venue')} characters; "
        "default: none)",
    )  # fmt: skip
    parser.add_argument(
        "--details", metavar="TEXT",
        help=f"anything that helps, public (at most {chars('details')} characters); '-' reads them from standard "
        "input (default: none)",
    )  # fmt: skip
    parser.add_argument(
        "--language", type=language, action="extend", nargs="+", dest="languages", metavar="TAG",
        help="a language spoken at it, a tag such as en or es; repeat for several, up to 8 (default: none)",
    )  # fmt: skip
    parser.add_argument(
        "--access", choices=EVENT_ACCESS, action="extend", nargs="+", metavar="WHAT",
        help=f"what it offers so everyone can come: {', '.join(EVENT_ACCESS)}; repeat for several (default: none)",
    )  # fmt: skip
    parser.add_argument(
        "--material", type=url, action="extend", nargs="+", dest="materials", metavar="URL",
        help="a link to study material, http(s); repeat for several, up to 8 (default: none)",
    )  # fmt: skip
    parser.add_argument(
        "--agenda", type=ANY_ID, action="extend", nargs="+", metavar="ID",
        help="a finding or a decision it will discuss: its id or first 8 characters or more; repeat for "
        "several, up to 8 (default: none)",
    )  # fmt: skip


def _register_list(rooms: Any) -> None:
    listing = rooms.add_parser(
        "list",
        help="coming occurrences, soonest first, with local times",
        description="The coming occurrences of the events the node holds, this chapter's and its peers', "
        "soonest first: a line each with the local date and time in the event's zone, what it is, its title, the "
        "first 12 characters of its id, and for this chapter's how many said they will come; a peer's names its "
        "chapter. Public: no card needed.",
    )
    listing.add_argument("--what", choices=EVENT_KINDS, help="one kind of event (default: every kind)")
    listing.add_argument(
        "--days", type=whole_number(1, MAX_EVENT_DAYS), metavar="N",
        help=f"how many days ahead, 1 to {MAX_EVENT_DAYS} (default: {EVENT_DAYS})",
    )  # fmt: skip
    listing.add_argument(
        "--limit", type=whole_number(1, MAX_EVENTS_LIST), metavar="N",
        help=f"at most this many events, 1 to {MAX_EVENTS_LIST} (default: {DEFAULT_EVENTS_LIST})",
    )  # fmt: skip
    add_node_options(listing)
    listing.set_defaults(handler=cmd_list)


# --- how events read -------------------------------------------------------------------------------------


def _zone(name: str) -> tzinfo | None:
    return calendar.zone(name) if known_zone(name) else None


def occurrence_text(event: dict[str, Any], occurrence: dict[str, Any]) -> str:
    """``Tue 2027-02-23 18:00-20:00 America/Chicago``: local to the event's zone."""
    start = datetime.fromisoformat(occurrence["local"])
    tz = _zone(event["tz"])
    if tz is None:  # a zone this machine does not know: the node's local start alone
        return f"{start:%a %Y-%m-%d %H:%M} {event['tz']}"
    end = moment(occurrence["end"]).astimezone(tz)
    later = "" if end.date() == start.date() else f" (+{(end.date() - start.date()).days}d)"
    return f"{start:%a %Y-%m-%d %H:%M}-{end:%H:%M}{later} {event['tz']}"


def _state(event: dict[str, Any]) -> str:
    return "CANCELLED  " if event.get("state") == "cancelled" else ""


def describe_new(event: dict[str, Any], verb: str) -> str:
    occurrences = event["occurrences"]
    repeats = f", {event['rrule']}" if event.get("rrule") else ""
    where = f"; area {event['area']}" if event.get("area") else ""
    lines = [f"{verb} event {event['id']}: {event['title']}", f"  {event['what']}{repeats}{where}"]
    if event.get("venue"):
        lines.append(f"  at {event['venue']}")
    lines.append(f"  coming ({len(occurrences)}):" if occurrences else "  no coming occurrence")
    lines += [f"    {_state(event)}{occurrence_text(event, o)}" for o in occurrences]
    if occurrences and event.get("state") != "cancelled":
        lines.append(f"  I'll come: mutualaid events come {event['id'][:12]} {occurrences[0]['date']}")
    return "\n".join(lines)


# --- the commands ----------------------------------------------------------------------------------------


def event_body(args: argparse.Namespace, node: str) -> dict[str, Any]:
    """The event the options give, as the API takes it (agenda ids resolved on the node)."""
    body: dict[str, Any] = {"title": args.title, "what": args.what, **when_of(args)}
    if args.area:
        body["area"] = args.area
    if args.details == "-":
        body["details"] = stdin_text("details", "--details")
    elif args.details is not None:
        body["details"] = args.details
    optional = {"venue": args.venue, "languages": args.languages, "access": args.access,
                "materials": args.materials}  # fmt: skip
    body |= {name: value for name, value in optional.items() if value}
    if args.agenda:
        body["agenda"] = [full_id(node, given) for given in args.agenda]
    return body


def cmd_add(args: argparse.Namespace) -> int:
    node = node_of(args)
    body = event_body(args, node)
    acting = organizer(args, node, "events add")
    answer = call(node, "POST", "/api/v1/events", body, token=acting.token, explain=acting.explain)
    print_answer(args, answer, describe_new(answer["event"], "published"))
    return ExitCode.DONE


def cmd_list(args: argparse.Namespace) -> int:
    node = node_of(args)
    params = {"what": args.what, "days": args.days, "limit": args.limit}
    result = call(node, "GET", f"/api/v1/events{query_string(params)}")
    if args.json:
        print_answer(args, result, "")
        return ExitCode.DONE
    found = result["events"]
    peers = peer_names(node) if any(not e["own"] for e in found) else {}
    rows = sorted(((o["start"], e, o) for e in found for o in e["occurrences"]), key=lambda row: row[0])
    lines = []
    for _, e, o in rows:
        whose = f"I'll come: {o['going']}" if e["own"] else f"({peers.get(e['author'], e['author'][:12])})"
        lines.append(f"{occurrence_text(e, o)}  {_state(e)}{e['what']}  {e['title']}  [{e['id'][:12]}]  {whose}")
    print_answer(args, result, "\n".join(lines) if lines else "no coming events")
    return ExitCode.DONE


def cmd_cancel(args: argparse.Namespace) -> int:
    node = node_of(args)
    acting = organizer(args, node, "events cancel")
    event = call(node, "GET", f"/api/v1/records/{args.id}")
    if event.get("kind") != "event":
        raise CliError(f"{args.id} is a {event.get('kind')} record, not an event", ExitCode.REFUSED)
    if not args.yes:
        confirm(f"Cancel the event {event['title']!r} ({event['id'][:12]}), every occurrence of it?")
    answer = call(node, "PATCH", f"/api/v1/events/{event['id']}", {"state": "cancelled"}, token=acting.token,
                  explain=acting.explain)  # fmt: skip
    print_answer(args, answer, describe_new(answer["event"], "cancelled"))
    return ExitCode.DONE


def cmd_come(args: argparse.Namespace) -> int:
    explain = {"not_this_node": "say you will come on the node of the chapter holding the event: give it with "
               "--node (events list names the chapter) (not_this_node)"}  # fmt: skip
    path = f"/api/v1/records/{args.id}/attend"
    answer = call(node_of(args), "POST", path, {"occurrence": args.date}, explain=explain)
    print_answer(args, answer, f"counted: {answer['going']} said they will come on {args.date}")
    return ExitCode.DONE


def cmd_suggest(args: argparse.Namespace) -> int:
    node = node_of(args)
    body = event_body(args, node)
    card = member_card(args)
    answer = call(node, "POST", "/api/v1/events/suggestions", body, token=card.text, explain=card.explain())
    print_answer(args, answer, f"suggested to the organizers (suggestion {answer['suggested']}): they may "
                               "publish it with events add")  # fmt: skip
    return ExitCode.DONE
