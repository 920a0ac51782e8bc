"""Stopping cleanly: SIGTERM and SIGHUP raised as :class:`Interrupted` (a ``KeyboardInterrupt``), so that
every ``finally`` and ``with`` block runs (temporary folders removed, checkpoints saved, child processes
killed) as it does on Ctrl-C, and the command ends with one line and exit status ``128 + signal``.

Loggers named in ``quiet`` are silenced from the moment a signal arrives (and stay so: the process is
ending), for libraries that would log about the work being torn down.
"""

from __future__ import annotations

import logging
import signal
import threading
from contextlib import contextmanager
from typing import Iterator

__all__ = ["Interrupted", "signals_as_interrupts", "silence", "exit_status", "describe"]

#: Signals turned into :class:`Interrupted` (SIGINT too, where Python's own handler raises ``KeyboardInterrupt``).
SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Interrupted(KeyboardInterrupt):
    """The process received ``signum`` (SIGTERM, SIGHUP): unwinding as on Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def silence(names: tuple[str, ...]) -> None:
    """Disable the loggers ``names`` (their records are dropped from now on)."""
    for name in names:
        logging.getLogger(name).disabled = True


@contextmanager
def signals_as_interrupts(quiet: tuple[str, ...] = ()) -> Iterator[None]:
    """Inside the block SIGTERM and SIGHUP (and SIGINT, unless it is ignored or handled otherwise) raise
    :class:`Interrupted`, silencing the loggers ``quiet`` first; the previous handlers come back after it
    (only the main thread can set handlers: elsewhere this does nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame) -> None:  # noqa: ARG001 - a signal handler's signature
        silence(quiet)
        raise Interrupted(signum)

    wanted = SIGNALS + ((signal.SIGINT,) if signal.getsignal(signal.SIGINT) is signal.default_int_handler else ())
    old = {}
    for sig in wanted:
        try:
            old[sig] = signal.signal(sig, _raise)
        except (ValueError, OSError):
            pass
    try:
        yield
    finally:
        for sig, handler in old.items():
            try:
                signal.signal(sig, handler)
            except (ValueError, OSError):
                pass


def exit_status(err: KeyboardInterrupt) -> int:
    """``128 + signal``: 130 for Ctrl-C (SIGINT), 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + getattr(err, "signum", signal.SIGINT)


def describe(err: KeyboardInterrupt) -> str:
    """``SIGINT`` / ``SIGTERM`` / ``SIGHUP``."""
    return signal.Signals(getattr(err, "signum", signal.SIGINT)).name
