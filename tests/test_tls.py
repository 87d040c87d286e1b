"""TLS (issue 5): https:// URLs with a custom CA file; an untrusted certificate is refused.

A throw-away CA and a server certificate for 127.0.0.1 are made with the openssl command
line tool; the scripted server speaks HTTPS with them.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess

import pytest

from conftest import make_client
from genesisdb import errors as E
from scripted import ScriptedServer, recording_handler

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl tool")


def run(*args, cwd):
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=genesisdb test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    run("openssl", "req", *ec, "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1", cwd=d)
    (d / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
    )
    run("openssl", "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    return d


@pytest.fixture
def https_server(certs):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(certs / "srv.pem"), str(certs / "srv.key"))
    with ScriptedServer(recording_handler, ssl_context=ctx) as srv:
        yield srv


async def test_https_with_ca_file(https_server, certs):
    assert https_server.url.startswith("https://")
    c = make_client(https_server.url, ca_file=str(certs / "ca.pem"))
    assert await c.ping() == "pong"
    assert await c.stream_events("/x") == []
    await c.commit_events([{"source": "s", "subject": "/x", "type": "t", "data": {}}])
    assert [r.path for r in https_server.requests] == ["/api/v1/status/ping", "/api/v1/stream", "/api/v1/commit"]
    await c.aclose()


async def test_https_ca_file_as_path(https_server, certs):
    c = make_client(https_server.url, ca_file=certs / "ca.pem")
    assert await c.ping() == "pong"
    await c.aclose()


async def test_https_untrusted_certificate_refused(https_server):
    c = make_client(https_server.url, retries=0)
    with pytest.raises(E.TransportError) as info:
        await c.ping()
    assert isinstance(info.value, ConnectionError)
    assert https_server.requests == []  # nothing (no token) went to an untrusted server
    await c.aclose()


def test_missing_ca_file_is_a_configuration_error(tmp_path):
    with pytest.raises(E.ConfigurationError):
        make_client("https://127.0.0.1:1", ca_file=str(tmp_path / "nope.pem"))


def test_ca_file_without_certificate_is_a_configuration_error(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("this is not a certificate\n")
    with pytest.raises(E.ConfigurationError):
        make_client("https://127.0.0.1:1", ca_file=str(bad))
