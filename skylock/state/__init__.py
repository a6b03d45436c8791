"""The pure replicated state machine: data tree, sessions, locks, watch events.

Deterministic by construction (no clocks, randomness, threads or I/O): every
replica applying the same commands in the same order reaches the same state.
"""

from . import commands
from .events import EventType, WatchEvent
from .machine import Applied, StateMachine
from .paths import validate_path
from .stat import Stat

__all__ = ["Applied", "EventType", "Stat", "StateMachine", "WatchEvent", "commands", "validate_path"]
