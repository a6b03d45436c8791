"""An actor inbox that also serves a group of sockets, on the actor's own thread.

A pykka actor waits for messages on its inbox and nothing else. RaftNode is the only
user of the peer transport, and every Raft message it sends or receives crossed a
thread to get to or from the transport's I/O thread: four hand-offs on the path of
every write. Hosted here instead, the peer sockets are polled by RaftNode's own thread
together with its messages: a received Raft message is told to the actor from that
same thread (no wake-up), and what RaftNode sends leaves at once (``IOLoop(direct=True)``).
Other threads' messages wake the poll through the loop's wake-up pipe.

The Store hosts the client server the same way, so a request enters on its thread.
``SocketHost`` is what such an actor is: hosting is decided once, here, for both.

One owner still: the sockets are opened, served and closed by the actor's thread only.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from skylock.actors.base import NodeActor
from skylock.net.io_loop import IOLoop

#: messages taken from the queue before the sockets are looked at again, so a steady
#: stream of messages from other threads never starves what the peers sent
SOCKET_CHECK_EVERY = 32


class SocketInbox:
    """What pykka needs of an inbox (``put``, ``get``, ``empty``), plus ``loop``'s sockets.

    ``open`` (on the actor's thread, from its first ``get``) makes that thread the loop's
    owner; ``setup`` binds and connects the hosted transport (asked for by the node, so a
    bind error reaches it); ``close`` (in ``on_stop``) closes the sockets.
    """

    def __init__(self, loop: IOLoop[Any]) -> None:
        self.loop = loop
        self._messages: deque[Any] = deque()
        self._owner: int | None = None
        self._since_check = 0

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        self._messages.append(item)
        if self._owner is not None:
            self.loop.wake()  # a no-op on the actor's own thread
        # before open: the first get() looks at the queue before it polls

    def empty(self) -> bool:
        return not self._messages

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if self._owner is None:
            self._owner = threading.get_ident()
            self.loop.open()
        if self._messages and self._since_check < SOCKET_CHECK_EVERY:
            self._since_check += 1
            return self._messages.popleft()
        self._since_check = 0
        if self._messages:
            self.loop.poll_once(0)  # what the peers sent joins the queue behind what is there
            return self._messages.popleft()
        while not self._messages:
            self.loop.poll_once(self.loop.poll_timeout_ms)
        return self._messages.popleft()

    def setup(self) -> None:
        self.loop.setup()

    def close(self) -> None:
        if self._owner == threading.get_ident():
            self.loop.close()


class SocketHost(NodeActor):
    """A node actor serving a transport's sockets on its own thread, between its messages.

    ``hosted_io`` is the transport's loop; None gives the actor pykka's plain inbox (an
    actor started without a transport, as in tests of its other duties).
    """

    def __init__(self, node_id: int, hosted_io: IOLoop[Any] | None) -> None:
        self._hosted_io = hosted_io  # before the base creates the inbox
        super().__init__(node_id)

    def _create_actor_inbox(self) -> Any:  # type: ignore[override]  # pykka calls it on self
        if self._hosted_io is None:
            return super()._create_actor_inbox()
        return SocketInbox(self._hosted_io)

    def open_sockets(self) -> None:
        """Bind and connect the hosted transport on this thread (a proxy call, so that a
        bind error reaches the node starting the actor)."""
        if isinstance(self.actor_inbox, SocketInbox):
            self.actor_inbox.setup()

    def on_stop(self) -> None:
        if isinstance(self.actor_inbox, SocketInbox):
            self.actor_inbox.close()
