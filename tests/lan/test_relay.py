"""The delay relay's request counter (tests/lan/_relay.py): the mesh bench's
requests per post are only as true as where it finds each request's end."""

from __future__ import annotations

from tests.lan._relay import RequestCounter

GET = b"GET /peer/v1/feed?after=3&wait=20 HTTP/1.1\r\nHost: 10.77.0.2:8440\r\n\r\n"
POST = b"POST /peer/v1/fetch HTTP/1.1\r\nContent-Length: 14\r\nHost: x\r\n\r\n" + b"\r\n\r\nGET / HTTP"
CHUNKED = b"POST /peer/v1/records HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab\r\nc\r\n3\r\nxyz\r\n0\r\n\r\n"


def test_requests_are_counted_whole_however_the_bytes_are_cut() -> None:
    stream = GET + POST + CHUNKED + GET  # a body that looks like a request head counts as a body
    for size in (1, 7, len(stream)):
        counter = RequestCounter()
        for start in range(0, len(stream), size):
            counter.feed(stream[start : start + size])
        assert counter.requests == 4, size


def test_a_request_still_arriving_is_not_counted_twice() -> None:
    counter = RequestCounter()
    counter.feed(POST[:-5])
    assert counter.requests == 1
    counter.feed(POST[-5:] + GET[:10])
    assert counter.requests == 1
    counter.feed(GET[10:])
    assert counter.requests == 2
