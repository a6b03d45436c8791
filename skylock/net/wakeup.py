"""A wake-up signal from any thread to the one thread that polls it, through a file descriptor.

The owner of an ``IOLoop`` sleeps in ``zmq.Poller.poll`` and must wake when another thread
posts frames or tells its actor something. An inproc ZeroMQ PAIR can do that, but libzmq
checks its mailbox on every send, receive and poll, and each check is a system call:
traced on a leader under sequential writes, the wake-up pair cost its two ends a dozen
calls per wake. An ``eventfd`` (a pipe where there is none) costs one ``write`` to signal
and one ``read`` to drain, and ``zmq.Poller`` polls a plain descriptor as it polls a socket.

Callers signal at most once per drain (``IOLoop`` keeps that flag under its lock), so the
descriptor never fills; a signal to a full pipe would be dropped harmlessly anyway.
"""

from __future__ import annotations

import os
import sys

_ONE = (1).to_bytes(8, sys.byteorder)  # an eventfd adds the 8-byte number written to it


class Wakeup:
    """``fileno`` is what the owner polls; ``signal`` from any thread, ``drain`` on the owner."""

    def __init__(self) -> None:
        if hasattr(os, "eventfd"):  # Linux
            self.fileno = self._write_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        else:
            self.fileno, self._write_fd = os.pipe()
            os.set_blocking(self.fileno, False)
            os.set_blocking(self._write_fd, False)
        self._closed = False

    def signal(self) -> None:
        try:
            os.write(self._write_fd, _ONE)
        except BlockingIOError:
            pass  # already signalled more than enough

    def drain(self) -> None:
        """Reset the signal: one read takes an eventfd's whole count, or a pipe's few bytes."""
        try:
            os.read(self.fileno, 4096)
        except BlockingIOError:
            pass  # not signalled

    def close(self) -> None:
        """Once no thread can signal any more (the owner's lock sees to that)."""
        if self._closed:
            return
        self._closed = True
        os.close(self.fileno)
        if self._write_fd != self.fileno:
            os.close(self._write_fd)
