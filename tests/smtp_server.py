"""A real SMTP server process (aiosmtpd) on loopback, for tests and the benchmark.

Run as a program it serves until killed:

    python tests/smtp_server.py --spool DIR [--security none|starttls|ssl --cert C --key K]
                                [--auth USER:PASSWORD] [--mechanisms LOGIN] [--count-only]

and prints ``READY <port>`` once it listens (port 0 = any free port). Every message it
accepts is written to DIR as ``msg-000001.eml`` with ``msg-000001.json`` (envelope sender,
recipients, the login used and whether the session was encrypted); with --count-only it
keeps only a count, written to DIR/count when it stops. Its behaviour is steered while it
runs by DIR/control.json: ``{"reject": {"addr@x": 550}, "data": 451, "delay": 0.05}``
refuses those recipients with that code, every DATA with that code, or answers each DATA
after that many seconds.

In a test, `SmtpServer` starts and stops the process; `make_certificates` writes a test CA
and a server certificate for 127.0.0.1/localhost (cryptography).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import ipaddress
import json
import os
import signal
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

from server_process import ServerUnavailable, launch, stop

HERE = Path(__file__).resolve()


# ---------------------------------------------------------------- the server process
def _serve(args: argparse.Namespace) -> None:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

    spool = Path(args.spool)
    spool.mkdir(parents=True, exist_ok=True)
    control_file = spool / "control.json"
    state = {"count": 0}

    def control() -> dict[str, Any]:
        try:
            return json.loads(control_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    class Handler:
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            code = {k.lower(): v for k, v in control().get("reject", {}).items()}.get(
                address.lower()
            )
            if code:
                text = "5.1.1 no such mailbox" if code >= 500 else "4.2.1 mailbox busy, later"
                return f"{code} {text}"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            settings = control()
            if settings.get("delay"):  # a slow server: lets concurrent senders overlap
                await asyncio.sleep(float(settings["delay"]))
            code = settings.get("data")
            if code:
                return f"{code} 4.3.0 try again later" if code < 500 else f"{code} 5.6.0 refused"
            state["count"] += 1
            n = state["count"]
            if not args.count_only:
                name = spool / f"msg-{n:06d}"
                tls = server.transport is not None and (
                    server.transport.get_extra_info("ssl_object") is not None
                )
                login = getattr(session, "fundmon_login", None)
                meta = {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": list(envelope.rcpt_tos),
                    "tls": tls,
                    "login": login,
                    "mechanism": getattr(session, "fundmon_mechanism", None),
                }
                tmp = name.with_suffix(".tmp")
                tmp.write_bytes(envelope.original_content or envelope.content)
                tmp.replace(name.with_suffix(".eml"))
                name.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
            return f"250 OK queued as {n}"

    user, _, password = (args.auth or "").partition(":")

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        if ok:
            session.fundmon_login = user
            session.fundmon_mechanism = mechanism
        return AuthResult(success=ok, handled=False)  # False: the server answers 535

    tls_context = None
    if args.security in ("starttls", "ssl"):
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(args.cert, args.key)
    mechanisms = {m.upper() for m in (args.mechanisms or "").split(",") if m}
    exclude = [m for m in ("LOGIN", "PLAIN") if mechanisms and m not in mechanisms]

    def factory() -> SMTP:
        return SMTP(
            Handler(),
            hostname="fundmon-test-smtp",
            tls_context=tls_context if args.security == "starttls" else None,
            require_starttls=args.security == "starttls",
            authenticator=authenticator if args.auth else None,
            auth_required=bool(args.auth),
            auth_require_tls=True,
            auth_exclude_mechanism=exclude or None,
            decode_data=False,
        )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            factory,
            host=args.host,
            port=args.port,
            ssl=tls_context if args.security == "ssl" else None,
        )
        port = server.sockets[0].getsockname()[1]
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(f"READY {port}", flush=True)
        await stop.wait()
        server.close()
        (spool / "count").write_text(str(state["count"]), encoding="utf-8")

    asyncio.run(main())


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--spool", required=True)
    parser.add_argument("--security", choices=["none", "starttls", "ssl"], default="none")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--auth", help="USER:PASSWORD required from clients")
    parser.add_argument("--mechanisms", help="AUTH mechanisms offered, e.g. LOGIN")
    parser.add_argument("--count-only", action="store_true")
    return parser.parse_args(argv)


# ---------------------------------------------------------------- helpers for tests
class SmtpServer:
    """Starts `python tests/smtp_server.py …` and knows where its messages land."""

    def __init__(
        self,
        spool: Path,
        *,
        security: str = "none",
        cert: Path | None = None,
        key: Path | None = None,
        auth: str | None = None,
        mechanisms: str | None = None,
        count_only: bool = False,
        port: int = 0,
    ) -> None:
        self.spool = Path(spool)
        self.args = ["--spool", str(self.spool), "--security", security, "--port", str(port)]
        if cert and key:
            self.args += ["--cert", str(cert), "--key", str(key)]
        if auth:
            self.args += ["--auth", auth]
        if mechanisms:
            self.args += ["--mechanisms", mechanisms]
        if count_only:
            self.args.append("--count-only")
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self, timeout: float = 20.0) -> SmtpServer:
        """:raises ServerUnavailable: the process did not come up (with its stderr)."""
        try:
            import aiosmtpd  # noqa: F401
        except ImportError as exc:
            raise ServerUnavailable(f"aiosmtpd is not installed ({exc})") from exc
        self.spool.mkdir(parents=True, exist_ok=True)
        self.proc, self.port = launch(HERE, self.args, timeout=timeout, what="SMTP test server")
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop(proc)

    def kill(self) -> None:
        """Stop abruptly (an outage), keeping what was received."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        self.stop()

    def __enter__(self) -> SmtpServer:
        return self if self.proc is not None else self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def control(self, **settings: Any) -> None:
        """Steer the running server: reject={"a@b": 550}, data=451; nothing to reset."""
        tmp = self.spool / "control.tmp"
        tmp.write_text(json.dumps(settings), encoding="utf-8")
        tmp.replace(self.spool / "control.json")

    def messages(self) -> list[tuple[dict[str, Any], bytes]]:
        """Every accepted message so far: (envelope and session facts, raw bytes)."""
        out = []
        for eml in sorted(self.spool.glob("msg-*.eml")):
            meta = eml.with_suffix(".json")
            for _ in range(50):  # the .json follows the .eml within microseconds
                if meta.exists():
                    break
                time.sleep(0.01)
            out.append((json.loads(meta.read_text(encoding="utf-8")), eml.read_bytes()))
        return out


def make_certificates(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for `host` and localhost, signed by it.

    Returns (ca certificate, server certificate, server key) as PEM files in `folder`.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fundmon test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(host))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(key_path, 0o600)
    return ca_path, cert_path, key_path


def start_server(tmp_path: Path, name: str = "smtp", **options: Any) -> SmtpServer:
    """Start a server for a test; skip the test (or fail it, in CI) if it cannot start."""
    import pytest

    try:
        return SmtpServer(tmp_path / name, **options).start()
    except ServerUnavailable as exc:
        if os.environ.get("FUNDMON_REQUIRE_SERVICES") == "1":
            pytest.fail(str(exc))
        pytest.skip(str(exc))


if __name__ == "__main__":
    _serve(_parse())


ANALYSTS = "基金科 <fund@example.org>"
LEADER = "局长 <leader@example.org>"


def alerting_config(port: int) -> str:
    """config.toml of an office mailing its alerts to the test server on `port`: the fund
    office gets yellow and above, the leader red; forecasts small enough for a test."""
    return f"""
[forecast]
horizon = 12
paths = 300
workers = 2

[[alerts.routes]]
levels = ["yellow", "orange", "red"]
to = ["{ANALYSTS}"]

[[alerts.routes]]
levels = ["red"]
to = ["{LEADER}"]

[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
sender = "医保基金监测 <fundmon@example.org>"
timeout = 10
"""
