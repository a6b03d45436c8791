"""skylock.raft: a pure (sans-IO) Raft core. See README.md for the contract."""

from .config import Config
from .core import ProposalDropped, ReadState
from .log import StateLost
from .membership import ConfChange, ConfChangeRefused, ConfChangeType
from .progress import PeerProgress, ProgressState
from .rawnode import RawNode, Ready, SoftState, Status
from .storage import (CompactedError, MemoryStorage, SnapshotOutOfDateError, StorageError,
                      UnavailableError)
from .types import (ConfState, Entry, EntryType, HardState, Message, MessageType, Role, Snapshot,
                    SnapshotMeta, decode_conf_state, encode_conf_state)

__all__ = [
    "CompactedError", "Config", "ConfChange", "ConfChangeRefused", "ConfChangeType", "ConfState", "Entry", "EntryType", "HardState", "MemoryStorage",
    "Message", "MessageType", "PeerProgress", "ProgressState", "ProposalDropped", "RawNode",
    "ReadState", "Ready", "Role", "SnapshotOutOfDateError", "Snapshot", "SnapshotMeta",
    "SoftState", "StateLost", "Status", "StorageError", "UnavailableError", "decode_conf_state",
    "encode_conf_state",
]
