"""The operator's endpoints for what leaves and enters a node whole: bundles and backups (admin token).

    GET  /api/v1/bundle?since=&area=   the node's records as a signed bundle (node/operate/bundle.py)
    POST /api/v1/bundle                a bundle's records through this node's ingest; the counts
    POST /api/v1/backup                a backup of the running node, streamed back ({"passphrase"}: with the key)

A bundle travels as ``application/octet-stream`` (a type no HTML form can
send), read up to ``MAX_BUNDLE_BYTES`` whatever ``max_body_bytes`` says (the
operator's own file, bounded by the bundle's own limit), and verified whole
before any record is looked at: a damaged one is 400 ``bad_bundle`` and
stores nothing. A backup is made in a temporary directory inside the data
directory (the one place a service may write), streamed, and deleted.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from aiohttp import web

from node.core.auth import private, require_admin
from node.core.bodies import Body, BodyField
from node.core.clock import iso, now
from node.core.errors import ApiError, Code, read_json_object
from node.core.params import Param, read_params
from node.core.state import CONFIG, IDENTITY, METRICS, STORE
from node.operate.backup import CHUNK, MAX_PASSPHRASE, MIN_PASSPHRASE
from node.operate.bundle import import_bundle, make_bundle
from node.operate.daily import NodeBackups
from node.peering.state import INGEST, POLICY
from protocol.bundle import MAX_BUNDLE_BYTES, MEDIA_TYPE, BundleTooLarge, decode_bundle
from protocol.fields import GEOHASH_PATTERN, MAX_TIMESTAMP

routes = web.RouteTableDef()
BACKUPS = web.AppKey("backups", NodeBackups)
BUNDLE_TYPE = MEDIA_TYPE
BACKUP_HEADERS = {
    "Content-Type": "application/gzip",
    "Cache-Control": "no-store",
    "Content-Disposition": 'attachment; filename="node.backup"',
}

EXPORT_PARAMS = (
    Param("since", {"type": "integer", "minimum": 0, "maximum": MAX_TIMESTAMP - 1},
          "only records made at this Unix time or later (node profiles and decisions: all)"),
    Param("area", {"type": "string", "pattern": GEOHASH_PATTERN},
          "only records in this area (a geohash prefix) or in none"),
)  # fmt: skip


def _passphrase(value: str) -> bytes:
    if not MIN_PASSPHRASE <= len(value) <= MAX_PASSPHRASE:
        raise ApiError(Code.INVALID_PASSPHRASE, f"the passphrase is {MIN_PASSPHRASE} to {MAX_PASSPHRASE} characters")
    return value.encode()


BACKUP_BODY = Body(
    [BodyField("passphrase", {"type": "string", "minLength": MIN_PASSPHRASE, "maxLength": MAX_PASSPHRASE},
               _passphrase, description="seal the node key into the backup with this passphrase (Argon2id); "
               "without it the key stays out")],
    Code.INVALID_PASSPHRASE,
)  # fmt: skip


@routes.get("/api/v1/bundle")
async def export_bundle(request: web.Request) -> web.Response:
    require_admin(request)
    query = read_params(request.query, EXPORT_PARAMS)
    at = now()
    try:
        data = await make_bundle(request.app[STORE], request.app[IDENTITY], at, query["since"], query["area"])
    except BundleTooLarge as exc:
        raise ApiError(Code.BAD_BUNDLE, f"too much for one bundle ({exc}): narrow it with since or area") from None
    name = f"mutualaid-{iso(at).replace(':', '')}.bundle"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return private(web.Response(body=data, content_type=BUNDLE_TYPE, headers=headers))


@routes.post("/api/v1/bundle")
async def import_bundle_file(request: web.Request) -> web.Response:
    require_admin(request)
    if request.content_type != BUNDLE_TYPE:
        raise ApiError(Code.UNSUPPORTED_MEDIA_TYPE, f"send the bundle's bytes as {BUNDLE_TYPE}")
    data = await _read_bounded(request, MAX_BUNDLE_BYTES)
    bundle = await asyncio.to_thread(decode_bundle, data)  # BundleInvalid: 400 bad_bundle
    del data  # the records are copied out: up to 64 MiB less held through the ingest
    done = await import_bundle(request.app[INGEST], request.app[POLICY], bundle)
    request.app[METRICS].count("bundles_imported_total")
    return private(web.json_response(done.as_json()))


async def _read_bounded(request: web.Request, limit: int) -> bytes:
    """The whole body, refused (413) once it passes ``limit`` bytes, before reading on."""
    too_large = ApiError(Code.BODY_TOO_LARGE, f"a bundle is at most {limit:,} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.content.iter_chunked(CHUNK):
        if len(body) + len(chunk) > limit:
            raise too_large
        body += chunk  # one growing buffer, not the pieces and their join
    return bytes(body)


@routes.post("/api/v1/backup")
async def backup(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    passphrase = BACKUP_BODY.read(await read_json_object(request)).get("passphrase")
    work = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=".backup-out-", dir=request.app[CONFIG].data_dir))
    try:
        made = await request.app[BACKUPS].make(work / "node.backup", passphrase)
        source = await asyncio.to_thread(made.path.open, "rb")
        try:
            response = web.StreamResponse(headers=BACKUP_HEADERS)
            response.content_length = (await asyncio.to_thread(os.fstat, source.fileno())).st_size
            await response.prepare(request)
            while chunk := await asyncio.to_thread(source.read, CHUNK):
                await response.write(chunk)
            await response.write_eof()
        finally:
            await asyncio.to_thread(source.close)
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)
    return response
