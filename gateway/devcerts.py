"""``claimgate dev-certs``: a development CA, a server certificate and one client
certificate per institution (subject CN = institution code), for mutual TLS.

Not for production: the insurer's own CA issues real certificates. The keys
are written unencrypted, readable by the owner only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 825
# For health checks and monitoring: it is no institution, so every claim
# transaction refuses it (PERMISSION_DENIED); the health service answers it.
OPS_CLIENT = "ops"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    key_path = path.with_suffix(".key")
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str, unit: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "claimgate development"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _issue(
    ca_key: ec.EllipticCurvePrivateKey, ca_name: x509.Name, subject: x509.Name,
    key: ec.EllipticCurvePrivateKey, *, usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(ca_key, hashes.SHA256())


def make_dev_certs(out: Path, institutions: Iterable[str],
                   server_names: Iterable[str] = ("localhost",)) -> None:
    out.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca_name = _name("claimgate development CA", "ca")
    now = dt.datetime.now(dt.UTC)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write(out / "ca.pem", ca_key, ca)
    server_key = _key()
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in server_names]
    sans += [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    _write(out / "server.pem", server_key,
           _issue(ca_key, ca_name, _name("localhost", "gateway"), server_key,
                  usage=ExtendedKeyUsageOID.SERVER_AUTH, sans=sans))
    for code, unit in [*((c, "institution") for c in institutions), (OPS_CLIENT, "operations")]:
        key = _key()
        _write(out / "clients" / f"{code}.pem", key,
               _issue(ca_key, ca_name, _name(code, unit), key,
                      usage=ExtendedKeyUsageOID.CLIENT_AUTH))


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="claimgate dev-certs", description=__doc__.splitlines()[0])
    p.add_argument("--out", default=".claimgate/certs", help="directory (default %(default)s)")
    p.add_argument("--institution", action="append", default=[],
                   help="institution code (repeatable; default: the demo institutions)")
    p.add_argument("--server-name", action="append", default=[],
                   help="DNS name of the server (repeatable; default: localhost)")
    args = p.parse_args(argv)
    codes = args.institution
    if not codes:
        from gateway.demo import demo_institutions

        codes = [i.code for i in demo_institutions()]
    make_dev_certs(Path(args.out), codes, args.server_name or ["localhost"])
    print(f"wrote {args.out}/ca.pem, server.pem/.key and clients/<code>.pem/.key "
          f"for {len(codes)} institutions and {OPS_CLIENT!r} (health checks)")
    return 0
