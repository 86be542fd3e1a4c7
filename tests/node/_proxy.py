# For tests/node/test_proxy.py: nginx (Debian's package) run as a plain process
# with the server block docs/OPERATING.md gives operators, read from that page so
# the suite and the documentation cannot drift; a throwaway CA and a server
# certificate for 127.0.0.1 made with `cryptography`; and signed peer requests
# written by hand, to send a peer request anywhere with any destination.

from __future__ import annotations

import datetime
import http.client
import ipaddress
import json
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crypto import NodeIdentity
from protocol import peerwire
from tests.node._cli import HANG_GUARD_S

ROOT = Path(__file__).resolve().parents[2]
OPERATING = ROOT / "docs" / "OPERATING.md"
SITE_MARKER = "sites-available/mutualaid"
# What Debian's /etc/nginx/nginx.conf gives the site, cut to what a test needs:
# every path nginx writes is inside the test's directory.
NGINX_MAIN = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/mutualaid.conf;
}}
"""


def documented_site() -> str:
    """The nginx server block docs/OPERATING.md tells operators to install: the
    first indented block opening with ``server {`` after the page names the file."""
    text = OPERATING.read_text()
    after = text[text.index(SITE_MARKER) :]
    match = re.search(r"\n\n((?:    server \{\n)(?:(?:    .*)?\n)*?    \}\n)", after)
    assert match is not None, f"no nginx server block after {SITE_MARKER!r} in {OPERATING}"
    return "\n".join(line[4:] for line in match.group(1).splitlines()) + "\n"


def site_for_test(port: int, node_port: int, cert: Path, key: Path) -> str:
    """The documented block with only what differs here changed: the port
    nginx listens on (loopback, not 443), the certificate, the node's port."""
    site = documented_site()
    changes = {
        "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
        "/etc/letsencrypt/live/pantry.example.org/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/pantry.example.org/privkey.pem": str(key),
        "http://127.0.0.1:8440;": f"http://127.0.0.1:{node_port};",
    }
    for documented, here in changes.items():
        assert documented in site, f"the documented nginx block no longer has {documented!r}"
        site = site.replace(documented, here)
    return site


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def nginx(directory: Path, site: str, port: int) -> Iterator[None]:
    """``nginx -c FILE -g "daemon off;"`` serving ``site`` until the block ends."""
    program = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(program).exists(), "nginx is missing: make test installs it (.ci/system-deps)"
    directory.mkdir()
    (directory / "mutualaid.conf").write_text(site)
    conf = directory / "nginx.conf"
    conf.write_text(NGINX_MAIN.format(dir=directory))
    log = directory / "stderr.log"
    with log.open("wb") as stderr:
        proxy = subprocess.Popen([program, "-c", str(conf), "-p", str(directory), "-g", "daemon off;"],
                                 stdout=subprocess.DEVNULL, stderr=stderr)  # fmt: skip
    try:
        deadline = time.monotonic() + HANG_GUARD_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proxy.poll() is None, log.read_text() + (directory / "error.log").read_text()
                assert time.monotonic() < deadline, "nginx did not listen"
                time.sleep(0.05)
        yield
    finally:
        proxy.terminate()
        proxy.wait(HANG_GUARD_S)


# -- certificates ---------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: Path
    """The CA that signed the server certificate (PEM): what a peer must trust."""
    cert: Path
    key: Path
    other_ca: Path
    """A CA that signed nothing here: a peer trusting only it must refuse the server."""


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _ca(common: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(_name(common))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return key, cert


def make_pki(directory: Path) -> Pki:
    """A throwaway CA, a server certificate from it for 127.0.0.1 (an IP SAN:
    the peer's URL is ``https://127.0.0.1:PORT``, and no name needs resolving),
    and a second, unrelated CA."""
    directory.mkdir()
    ca_key, ca_cert = _ca("mutualaid test CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("node-a.test"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("node-a.test"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    pki = Pki(directory / "ca.pem", directory / "server.pem", directory / "server.key", directory / "other-ca.pem")
    pki.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))  # fmt: skip
    pki.other_ca.write_bytes(_ca("someone else's CA")[1].public_bytes(serialization.Encoding.PEM))
    return pki


# -- requests ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str]
    raw: bytes


def call(port: int, method: str, path: str, source: str, *, tls: ssl.SSLContext | None = None,
         body: bytes | None = None, headers: dict[str, str] | None = None) -> Answer:  # fmt: skip
    """One request from ``source`` (a loopback address) to 127.0.0.1:``port``,
    over TLS when ``tls`` is given (verified against its CA, for 127.0.0.1)."""
    conn: http.client.HTTPConnection
    if tls is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HANG_GUARD_S, source_address=(source, 0))
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=HANG_GUARD_S, source_address=(source, 0),
                                           context=tls)  # fmt: skip
    try:
        conn.request(method, path, body, headers or {})
        response = conn.getresponse()
        raw = response.read()
        kind = response.getheader("Content-Type", "")
        decoded: Any = json.loads(raw) if "json" in kind else raw if "msgpack" in kind else raw.decode(errors="replace")
        return Answer(response.status, decoded, dict(response.getheaders()), raw)
    finally:
        conn.close()


def signed(identity: NodeIdentity, method: str, path: str, destination: str, body: bytes = b"") -> dict[str, str]:
    """The headers of a peer request ``identity`` signs for ``destination`` (host:port)."""
    stamp, nonce = int(time.time()), secrets.token_bytes(peerwire.NONCE_SIZE)
    message = peerwire.request_message(method, path, destination, stamp, nonce, body)
    return peerwire.SignedHeaders(identity.public_key, stamp, identity.sign_message(message), nonce).as_dict()
