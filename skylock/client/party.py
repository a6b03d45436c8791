"""Group membership: who is in the party right now.

Like kazoo's ``Party`` and ``ShallowParty``. Each member is an ephemeral node under
the party's path, so a member whose process dies leaves with its session.

    party = Party(client, "/services/indexers", "host-a:9000")
    party.join()
    len(party)                     # how many members
    list(party)                    # their identifiers, e.g. ["host-a:9000", "host-b:9000"]
    party.leave()

``Party`` keeps each identifier in its member's node data (any text, one read per
member to list them); ``ShallowParty`` puts it in the node's name (one read lists
everyone, but the identifier must be usable in a path: no ``/``).
Needs ``client.start_session()`` first.
"""

from __future__ import annotations

import contextlib
import uuid
from abc import ABC, abstractmethod
from typing import Iterator

from skylock.client.client import Client
from skylock.client.recipe_nodes import create_once, ensure_path
from skylock.errors import NoNode


class _Party(ABC):
    def __init__(self, client: Client, path: str, identifier: str = "") -> None:
        self.client = client
        self.path = path
        self.identifier = identifier
        self._node: str | None = None

    @property
    def participating(self) -> bool:
        return self._node is not None

    def join(self) -> None:
        """Become a member (a no-op if a member already)."""
        if self._node is None:
            ensure_path(self.client, self.path)
            self._node = create_once(self.client, self.path, self._node_name(), self.identifier, ephemeral=True)

    def leave(self) -> None:
        """Stop being a member (a no-op if not one)."""
        node, self._node = self._node, None
        if node is not None:
            with contextlib.suppress(NoNode):
                self.client.delete(f"{self.path}/{node}")

    def __len__(self) -> int:
        return len(self._children())

    @abstractmethod
    def __iter__(self) -> Iterator[str]:
        """Each kind says."""

    def _children(self) -> list[str]:
        try:
            return sorted(self.client.children(self.path))
        except NoNode:
            return []

    @abstractmethod
    def _node_name(self) -> str:
        """Each kind says."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r}, {self.identifier!r}, participating={self.participating})"


class Party(_Party):
    """Members named by a guid, with the identifier as data."""

    def __iter__(self) -> Iterator[str]:
        """The members' identifiers (read one by one; a member that left meanwhile is skipped)."""
        for child in self._children():
            try:
                data, _ = self.client.get(f"{self.path}/{child}")
            except NoNode:
                continue
            yield data.decode()

    def _node_name(self) -> str:
        return f"{uuid.uuid4().hex}__party__"


class ShallowParty(_Party):
    """Members named ``{guid}-{identifier}``: listing them is one read."""

    def __init__(self, client: Client, path: str, identifier: str = "") -> None:
        if "/" in identifier:
            raise ValueError(f"a ShallowParty identifier goes into a node name: no '/' ({identifier!r})")
        super().__init__(client, path, identifier)

    def __iter__(self) -> Iterator[str]:
        for child in self._children():
            yield child.split("-", 1)[1] if "-" in child else child

    def _node_name(self) -> str:
        return f"{uuid.uuid4().hex}-{self.identifier}"
