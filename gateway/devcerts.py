"""``claimgate dev-certs``: a development CA, a server certificate and one client
certificate per institution (subject CN = institution code), for mutual TLS.

Not for production: the insurer's own CA issues real certificates. The keys
are written unencrypted, readable by the owner only. The CA's private key goes
beside the output directory (``ca-private/ca.key``), never into it: the output
directory is what gets mounted into the gateway's container.
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
    key_path.write_bytes(_pem_key(key))
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


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class DevCA:
    """A development CA in memory: issues server and client certificates."""

    def __init__(self) -> None:
        self.key = _key()
        self.name = _name("claimgate development CA", "ca")
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def client(self, code: str, unit: str = "institution"
               ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """A client certificate whose subject CN is ``code``."""
        key = _key()
        return key, _issue(self.key, self.name, _name(code, unit), key,
                           usage=ExtendedKeyUsageOID.CLIENT_AUTH)

    def client_pem(self, code: str) -> tuple[bytes, bytes]:
        """(private key, certificate) of a client, as PEM."""
        key, cert = self.client(code)
        return _pem_key(key), cert.public_bytes(serialization.Encoding.PEM)

    def server(self, names: Iterable[str]
               ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = _key()
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
        sans += [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        return key, _issue(self.key, self.name, _name("localhost", "gateway"), key,
                           usage=ExtendedKeyUsageOID.SERVER_AUTH, sans=sans)


def default_ca_key_path(out: Path) -> Path:
    """Beside the certificate directory, never in it: that directory is what gets
    mounted into the gateway's container, and the gateway needs no CA key."""
    return out.parent / "ca-private" / "ca.key"


def make_dev_certs(out: Path, institutions: Iterable[str],
                   server_names: Iterable[str] = ("localhost",), *,
                   ca_key_out: Path | None = None) -> Path:
    """Write the CA certificate, the server's and the clients' certificates and keys to
    ``out``, and the CA's private key to ``ca_key_out`` (outside ``out``); returns the
    CA key's path."""
    out.mkdir(parents=True, exist_ok=True)
    ca_key_path = ca_key_out or default_ca_key_path(out)
    if ca_key_path.resolve().is_relative_to(out.resolve()):
        raise ValueError(f"the CA key must not be written into {out} (it is mounted)")
    ca = DevCA()
    ca_key_path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(ca_key_path.parent, 0o700)
    ca_key_path.write_bytes(_pem_key(ca.key))
    os.chmod(ca_key_path, 0o600)
    (out / "ca.pem").write_bytes(ca.cert_pem)
    stale = out / "ca.key"  # written there by earlier versions
    if stale.exists():
        stale.unlink()
    _write(out / "server.pem", *ca.server(server_names))
    for code, unit in [*((c, "institution") for c in institutions), (OPS_CLIENT, "operations")]:
        _write(out / "clients" / f"{code}.pem", *ca.client(code, unit))
    return ca_key_path


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="claimgate dev-certs", description=__doc__.splitlines()[0])
    p.add_argument("--out", default=".claimgate/certs", help="directory (default %(default)s)")
    p.add_argument("--ca-key-out", default=None,
                   help="where the CA's private key goes (default: ca-private/ca.key beside "
                        "--out, never inside it)")
    p.add_argument("--institution", action="append", default=[],
                   help="institution code (repeatable; default: the demo institutions)")
    p.add_argument("--server-name", action="append", default=[],
                   help="DNS name of the server (repeatable; default: localhost)")
    args = p.parse_args(argv)
    codes = args.institution
    if not codes:
        from gateway.demo_institutions import demo_institutions

        codes = [i.code for i in demo_institutions()]
    try:
        ca_key = make_dev_certs(Path(args.out), codes, args.server_name or ["localhost"],
                                ca_key_out=Path(args.ca_key_out) if args.ca_key_out else None)
    except ValueError as e:
        print(f"claimgate dev-certs: {e}")
        return 2
    print(f"wrote {args.out}/ca.pem, server.pem/.key and clients/<code>.pem/.key "
          f"for {len(codes)} institutions and {OPS_CLIENT!r} (health checks); "
          f"the CA key is {ca_key} (keep it out of the mounted directory)")
    return 0
