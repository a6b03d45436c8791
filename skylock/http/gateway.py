"""The REST API server of one node: aiohttp on its own thread and event loop.

The node's actors and sockets are threads, not asyncio, so the HTTP server gets
a thread of its own with its own loop; an asyncio server holds thousands of
idle long waits (a 30 s lock wait, a long-poll watch) at the cost of a
coroutine each. It reaches the node only as a ZeroMQ client of the node's own
client address (see ``skylock.http.link``), so the REST API adds no logic of its own.

It binds the host of the client address on ``http_port``, or ``host`` when the node
listens elsewhere than it advertises (``server.listen_http``); port 0 binds a free
port, which ``port`` reports once ``start`` returns.

Secure mode: it serves HTTPS only (``ssl_context``, see ``server_tls``), and its link
to the node is a CURVE client of the node's own key (``server_key``), as any client.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import ssl
import threading
from pathlib import Path

import zmq
from aiohttp import web

from skylock.http.api import build_app
from skylock.http.link import NodeLink
from skylock.http.probe import NodeProbe
from skylock.net.address import split_address

log = logging.getLogger("skylock.http")

#: How long stop() lets in-flight requests finish before cancelling them.
SHUTDOWN_GRACE = 1.0
#: After the listener closes, time for connections it had just accepted to reach the server.
ACCEPT_SETTLE = 0.05


def server_tls(cert: Path | None, key: Path | None) -> ssl.SSLContext:
    """The HTTPS server context: TLS 1.2 or later, with the node's certificate and key."""
    if cert is None or key is None:
        raise ValueError("HTTPS needs security.tls_cert and security.tls_key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context


class HttpGateway:
    def __init__(self, node_id: int, client_address: str, http_port: int, *, max_body: int,
                 probe: NodeProbe | None = None, host: str | None = None,
                 ssl_context: ssl.SSLContext | None = None, server_key: bytes | None = None) -> None:
        self.node_id = node_id
        self.client_address = client_address
        self.host = host or split_address(client_address)[0]
        self.requested_port = http_port
        self.max_body = max_body
        self.probe = probe
        self.ssl_context = ssl_context
        self.server_key = server_key
        #: the bound port, known once start() returns
        self.port: int | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self.link: NodeLink | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Serve in a background thread; returns once the port is bound (raises if it cannot be)."""
        self._thread = threading.Thread(target=self._run, name=f"http-{self.node_id}", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"node={self.node_id} http did not start within {timeout}s")
        if self._error is not None:
            self._thread.join()
            raise self._error

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving; waits up to ``SHUTDOWN_GRACE`` for requests in flight, then cancels them."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None or loop is None or stopping is None:
            return
        try:
            loop.call_soon_threadsafe(stopping.set)
        except RuntimeError:
            pass  # the loop already ended
        thread.join(timeout)
        if thread.is_alive():
            log.warning("node=%s http thread did not stop within %ss", self.node_id, timeout)

    # ---- the server thread ------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(loop))
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            if not self._ready.is_set():
                self._error = exc
            else:
                log.exception("node=%s http server failed", self.node_id)
        finally:
            self._ready.set()
            loop.close()
            # A socket accepted at the last instant can sit in a cancelled accept task's reference
            # cycle; collecting it now closes it, so its client sees the close instead of hanging.
            gc.collect()

    async def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        self._stopping = asyncio.Event()
        context = zmq.Context()
        link = NodeLink(self.client_address, loop, context=context, server_key=self.server_key)
        self.link = link
        # a client that hangs up ends its handler, so its watch is removed at once, not at its timeout
        runner = web.AppRunner(build_app(link, max_body=self.max_body, probe=self.probe), access_log=None,
                               shutdown_timeout=SHUTDOWN_GRACE, handler_cancellation=True)
        try:
            await runner.setup()
            site = web.TCPSite(runner, self.host, self.requested_port, reuse_address=True,
                               ssl_context=self.ssl_context)
            await site.start()
            self.port = int(runner.addresses[0][1])
            log.info("node=%s %s on %s:%s", self.node_id, "https" if self.ssl_context else "http",
                     self.host, self.port)
            self._ready.set()
            await self._stopping.wait()
            await site.stop()  # accept no more connections
            link.end_waits()  # long polls answer 204 now instead of holding up the shutdown
            await asyncio.sleep(ACCEPT_SETTLE)  # connections accepted just before are set up, so closed below
        finally:
            await runner.cleanup()
            await _finish_tasks()
            link.close()
            context.term()
            log.info("node=%s http stopped", self.node_id)


async def _finish_tasks() -> None:
    """Cancel what is left (a connection half accepted at the last moment) before the loop closes."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


__all__ = ["HttpGateway"]
