"""The relay run inside the desktop app, for a practice without a hosted relay.

:class:`LocalRelay` runs :func:`telehealth.relay.start_relay` on a thread of its own with its own
asyncio loop, so the app's UI never waits for it and it never waits for the UI. It listens on
``127.0.0.1`` by default, or on this machine's address on the local network, on a free port
(port 0), serves the client's page from the installed ``resources/web`` (as ``quietroom relay``
does), and stops cleanly: every socket is closed and the port is free again when :meth:`stop`
returns.

Plain ``http`` is only good for this computer: browsers give the camera to ``http`` pages only on
``localhost``/``127.0.0.1``, and invitation links refuse ``http`` for any other host. A relay that
other machines can reach needs a TLS certificate (``tls_cert``/``tls_key``); without one, a
non-loopback address is refused before anything listens. :meth:`LocalRelay.on_network` is the
"same network" mode: this machine's LAN address and a short-lived self-signed certificate made at
each start (``telehealth.self_signed``), which the client's browser warns about. Reaching clients
across the internet, or serving a page nobody on the network can tamper with, is what a hosted
relay with a real certificate is for (docs/deploy.md).

The relay logs nothing that identifies a call (see ``relay.py``). The only files it writes are
the self-signed certificate and its key in "same network" mode (mode 0600, in a private temporary
folder removed on :meth:`stop` unless the caller names a folder); they hold no client data.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import shutil
import socket
import ssl
import tempfile
import threading
from pathlib import Path
from typing import Final

from telehealth.errors import RelayConfigError
from telehealth.ice import IceConfig
from telehealth.invite import relay_origin
from telehealth.relay import DEFAULT_STATIC_DIR, RelayLimits, RelayServer, start_relay
from telehealth.relay_credentials import SingleCredential
from telehealth.self_signed import SelfSignedCert, make_self_signed

LOOPBACK: Final = "127.0.0.1"
# A documentation address (RFC 5737): "connecting" a UDP socket to it sends nothing, it only
# makes the system choose the interface it would route through.
_ROUTE_PROBE: Final = "192.0.2.1"
_ANY: Final = frozenset({"0.0.0.0", "::"})  # noqa: S104 (listening on every interface is opt-in)


def lan_address(probe: str = _ROUTE_PROBE) -> str:
    """This machine's IPv4 address on its local network, or ``127.0.0.1`` when there is none.
    No packet is sent."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect((probe, 9))
            address = str(sock.getsockname()[0])
    except OSError:
        return LOOPBACK
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return LOOPBACK
    return LOOPBACK if ip.is_unspecified else address


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LocalRelay:
    """A relay on its own thread and loop. ``start()`` returns once it listens; ``origin`` is
    what invitations use (``http://127.0.0.1:<port>``); ``stop()`` closes every socket, frees the
    port and ends the thread. Both may be called more than once; call them from one thread.

    With ``self_signed=True`` each ``start()`` makes a new self-signed certificate for the
    advertised address (see :attr:`certificate`) in ``cert_dir``, or in a private temporary
    folder that ``stop()`` deletes when ``cert_dir`` is ``None``."""

    def __init__(
        self,
        host: str = LOOPBACK,
        port: int = 0,
        *,
        static_dir: Path | None = DEFAULT_STATIC_DIR,
        tls_cert: Path | str | None = None,
        tls_key: Path | str | None = None,
        ice_config: IceConfig | Path | str | None = None,
        limits: RelayLimits | None = None,
        timeout: float = 10.0,
        self_signed: bool = False,
        cert_dir: Path | None = None,
        require_credential: bool = False,
    ) -> None:
        """``require_credential``: only this app (holding :attr:`credential`, made in memory for
        this relay) may open rooms; a stranger on the network cannot fill it."""
        if self_signed and (tls_cert is not None or tls_key is not None):
            raise RelayConfigError("give a TLS certificate or ask for a self-signed one, not both")
        self.host = host
        self.requested_port = port
        self.static_dir = static_dir
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.ice_config = ice_config
        self.limits = limits
        self.timeout = timeout
        self.self_signed = self_signed
        self.cert_dir = cert_dir
        self._credentials = SingleCredential() if require_credential else None
        self._certificate: SelfSignedCert | None = None
        self._temporary_dir: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: RelayServer | None = None
        self._origin: str | None = None

    @classmethod
    def on_network(
        cls,
        cert_dir: Path | None = None,
        *,
        static_dir: Path | None = DEFAULT_STATIC_DIR,
        port: int = 0,
        ice_config: IceConfig | Path | str | None = None,
        limits: RelayLimits | None = None,
        timeout: float = 10.0,
        require_credential: bool = False,
    ) -> LocalRelay:
        """The "same network" mode: listen on this machine's LAN address (:func:`lan_address`,
        ``127.0.0.1`` when there is no network) over https, with a self-signed certificate."""
        return cls(
            lan_address(),
            port,
            static_dir=static_dir,
            ice_config=ice_config,
            limits=limits,
            timeout=timeout,
            self_signed=True,
            cert_dir=cert_dir,
            require_credential=require_credential,
        )

    # -- state ------------------------------------------------------------------------------------

    @property
    def credential(self) -> str | None:
        """What this app presents to open rooms here (``require_credential``), else ``None``."""
        return self._credentials.token if self._credentials is not None else None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        """The port it listens on (only while running)."""
        if self._server is None:
            raise RuntimeError("the relay is not running")
        return self._server.port

    @property
    def origin(self) -> str:
        """``http(s)://<host>:<port>``, as invitation links name it (only while running)."""
        if self._origin is None:
            raise RuntimeError("the relay is not running")
        return self._origin

    @property
    def certificate(self) -> SelfSignedCert | None:
        """The self-signed certificate in use (``self_signed`` mode, while running)."""
        return self._certificate

    @property
    def on_loopback(self) -> bool:
        """Only this computer can reach it (``127.0.0.1``, ``localhost``)."""
        return is_loopback(self._advertised_host())

    def client_ssl_context(self) -> ssl.SSLContext | None:
        """For this app's own connections to the relay: a TLS context that trusts exactly the
        self-signed certificate (``None`` when not in ``self_signed`` mode or not running)."""
        if self._certificate is None:
            return None
        return ssl.create_default_context(cafile=str(self._certificate.cert_path))

    def _advertised_host(self) -> str:
        return lan_address() if self.host in _ANY else self.host

    def _make_certificate(self) -> tuple[Path, Path]:
        try:
            folder = self.cert_dir
            if folder is None:  # mkdtemp: mode 0700, a new name each time
                folder = self._temporary_dir = Path(tempfile.mkdtemp(prefix="quietroom-relay-"))
            self._certificate = make_self_signed(folder, self._advertised_host())
        except (OSError, ValueError) as exc:
            self._forget_certificate()
            raise RelayConfigError("cannot write the relay's self-signed certificate") from exc
        return self._certificate.cert_path, self._certificate.key_path

    def _forget_certificate(self) -> None:
        """Drop the certificate; delete its temporary folder (a caller's folder is left alone)."""
        folder, self._temporary_dir = self._temporary_dir, None
        self._certificate = None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    # -- start and stop -----------------------------------------------------------------------

    def start(self) -> str:
        """Listen (on a free port when ``port`` is 0); returns :attr:`origin`. Raises
        :class:`RelayConfigError` for settings that cannot work (a non-loopback address without
        TLS, an unusable certificate, an address or port that cannot be used)."""
        if self._server is not None:
            return self.origin
        tls_cert, tls_key = self.tls_cert, self.tls_key
        if self.self_signed:
            tls_cert, tls_key = self._make_certificate()
        tls = tls_cert is not None or tls_key is not None
        if not tls and not is_loopback(self._advertised_host()):
            raise RelayConfigError(
                "a relay that other computers can reach needs a TLS certificate and key: "
                "browsers allow the camera only on https pages (or on this computer)"
            )
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="quietroom-relay", daemon=True)
        thread.start()
        future = asyncio.run_coroutine_threadsafe(
            start_relay(
                self.host,
                self.requested_port,
                tls_cert=tls_cert,
                tls_key=tls_key,
                ice_config=self.ice_config,
                static_dir=self.static_dir,
                limits=self.limits,
                credentials=self._credentials,
            ),
            loop,
        )
        try:
            server = future.result(self.timeout)
        except BaseException as exc:
            future.cancel()
            self._end_loop(loop, thread)
            self._forget_certificate()
            if isinstance(exc, OSError):
                reason = exc.strerror or "the address is not available"
                raise RelayConfigError(
                    f"the relay cannot listen on {self.host}:{self.requested_port}: {reason}"
                ) from exc
            raise
        self._loop, self._thread, self._server = loop, thread, server
        scheme = "https" if tls else "http"
        host = self._advertised_host()
        shown = f"[{host}]" if ":" in host else host
        self._origin = relay_origin(f"{scheme}://{shown}:{server.port}")
        return self._origin

    def stop(self) -> None:
        """Close every room and socket, free the port, end the thread. Safe to call again."""
        loop, thread, server = self._loop, self._thread, self._server
        self._loop = self._thread = self._server = None
        self._origin = None
        if loop is None or thread is None:
            return
        if server is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(server.stop(), loop).result(self.timeout)
        self._end_loop(loop, thread)
        self._forget_certificate()

    def _end_loop(self, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        async def cancel_the_rest() -> None:
            current = asyncio.current_task()
            rest = [task for task in asyncio.all_tasks() if task is not current]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(cancel_the_rest(), loop).result(self.timeout)
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        thread.join(self.timeout)
        if not thread.is_alive():
            loop.close()

    def __enter__(self) -> LocalRelay:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
