"""The records the service stores and sends, and their JSON forms.

Times are integer milliseconds since the Unix epoch (docs/protocol.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from chatservice.errors import TooManyReactions
from chatservice.file_models import Attachment


@dataclass(frozen=True, slots=True)
class User:
    """A registered account; the password hash lives only in ``Credentials``."""

    id: int
    username: str
    created_at: int

    def to_json(self) -> dict[str, Any]:
        """Return API.md's ``User`` object (never a hash)."""
        return {"id": self.id, "username": self.username, "created_at": self.created_at}


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user with the bcrypt hash to check a login against."""

    user: User
    password_hash: bytes


# What a deleted account's messages and user row are renamed to: not a
# name registration accepts (it has a space), so no one can take it over.
DELETED_USERNAME = "deleted user"


@dataclass(frozen=True, slots=True)
class Account:
    """A user with what decides whether their tokens still work, and whether they are an admin.

    ``generation`` is the token generation: a token that carries a lower one
    was revoked (logout-all, a password change, a deletion). ``revoked`` holds
    the session ids of the tokens logged out one by one that have not expired
    yet. ``version`` grows with every change of any of these, so that of two
    copies (a store read, a control event) the newer one wins.
    """

    user: User
    generation: int = 0
    version: int = 0
    admin: bool = False
    disabled_at: int | None = None
    deleted_at: int | None = None
    revoked: frozenset[str] = frozenset()

    @property
    def disabled(self) -> bool:
        """Whether a server admin disabled the account."""
        return self.disabled_at is not None

    @property
    def deleted(self) -> bool:
        """Whether the account was erased (its row stays, renamed, for its messages)."""
        return self.deleted_at is not None

    def to_json(self) -> dict[str, Any]:
        """The ``AdminUser`` object of docs/protocol.md: a User and its state."""
        return {
            **self.user.to_json(),
            "admin": self.admin,
            "disabled": self.disabled,
            "disabled_at": self.disabled_at,
            "deleted": self.deleted,
        }


@dataclass(frozen=True, slots=True)
class Room:
    """A chat room."""

    id: int
    name: str
    description: str
    created_by: int | None
    created_at: int
    # Access control (docs/protocol.md): 'public' or 'private'; an archived
    # room is read-only; a direct room is the private room of two users.
    visibility: str = "public"
    archived: bool = False
    direct: bool = False

    @property
    def public(self) -> bool:
        """True if anyone may read and join it."""
        return self.visibility == "public"

    def to_json(self) -> dict[str, Any]:
        """Return API.md's ``Room`` object, with the access fields added since."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "visibility": self.visibility,
            "archived": self.archived,
            "direct": self.direct,
        }


@dataclass(frozen=True, slots=True)
class NewRoom:
    """A room to create: ``IChatStore.create_room``'s one argument, not five in every store."""

    name: str
    description: str
    created_by: int | None  # None: a room of the service (General), with no owner
    created_at: int
    visibility: str = "public"


@dataclass(frozen=True, slots=True)
class ErasePage:
    """One page of an erasure: ``erase_messages``' one argument, not six in every store."""

    user_id: int  # whose messages become tombstones
    eraser_id: int  # the events' actor: the user themselves, or an admin
    limit: int
    ts: int
    rename: str | None = None  # the tombstones' username (a deleted account's)
    after: int = 0  # the last message id of the previous page


# How many of a reaction's users a frame names (``count`` counts them all).
REACTION_USERS_SHOWN = 50


@dataclass(frozen=True, slots=True)
class Reaction:
    """One emoji on a message and who put it there (oldest first)."""

    emoji: str
    user_ids: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        """``{"emoji", "count", "user_ids"}``: the same for every reader of the room.

        ``user_ids`` names the first ``REACTION_USERS_SHOWN`` only: a frame
        goes to every socket of the room on each change, and must not grow
        with the room.
        """
        return {
            "emoji": self.emoji,
            "count": len(self.user_ids),
            "user_ids": list(self.user_ids[:REACTION_USERS_SHOWN]),
        }


@dataclass(frozen=True, slots=True)
class ReplyPreview:
    """What a reply shows of the message it answers, so a quote needs no second request.

    Read with the reply, so it follows the original: an edit shows, a
    deleted original has an empty excerpt and ``deleted`` set.
    """

    id: int
    sender_id: int
    username: str
    excerpt: str
    deleted: bool = False

    def to_json(self) -> dict[str, Any]:
        """The ``reply_preview`` object of a message: every field, by name."""
        return dataclasses.asdict(self)


# A reply's excerpt of the original, in code points.
REPLY_EXCERPT_LENGTH = 100
# Distinct emoji on one message, and reactions of one user on one message.
MAX_REACTIONS_PER_MESSAGE = 20
MAX_REACTIONS_PER_USER = 10


def check_reaction_limits(new_emoji: bool, distinct_emoji: int, by_user: int) -> None:
    """Raise ``TooManyReactions`` if adding a reaction would pass either bound.

    ``new_emoji``: the emoji is not on the message yet; ``distinct_emoji``
    and ``by_user`` count what the message has before it. One rule, so the
    memory and the SQL stores refuse the same reactions with the same words.
    """
    if new_emoji and distinct_emoji >= MAX_REACTIONS_PER_MESSAGE:
        raise TooManyReactions()
    if by_user >= MAX_REACTIONS_PER_USER:
        raise TooManyReactions("You have too many reactions on this message.")


@dataclass(frozen=True, slots=True)
class Message:
    """A stored chat message in its current state; history and live delivery send the same.

    ``id`` is the id of the timeline event that created it. An edit sets
    ``edited_at``; a delete leaves a tombstone (``deleted``, empty
    ``content``, no reactions) in the same place.
    """

    id: int
    room_id: int
    sender_id: int
    username: str
    content: str
    ts: int
    client_msg_id: str | None = None
    reply_to: int | None = None
    reply_preview: ReplyPreview | None = None
    edited_at: int | None = None
    deleted: bool = False
    reactions: tuple[Reaction, ...] = ()
    # The users its ``@username`` words named (``mentions.py``), ascending;
    # set when stored and by each edit, emptied by a delete.
    mentions: tuple[int, ...] = ()
    # Files (issue 12), in the order the sender gave; a tombstone has none.
    attachments: tuple[Attachment, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Return the ``Message`` object of docs/protocol.md."""
        body: dict[str, Any] = {
            "type": "message",
            "id": self.id,
            "room_id": self.room_id,
            "sender_id": self.sender_id,
            "username": self.username,
            "content": self.content,
            "ts": self.ts,
            "reply_to": self.reply_to,
            "reply_preview": (
                self.reply_preview.to_json() if self.reply_preview is not None else None
            ),
            "edited_at": self.edited_at,
            "deleted": self.deleted,
            "reactions": [reaction.to_json() for reaction in self.reactions],
            "mentions": list(self.mentions),
        }
        if self.client_msg_id is not None:
            body["client_msg_id"] = self.client_msg_id
        if self.attachments:
            # Only when there are some: links are signed as the object is built.
            body["attachments"] = [attachment.to_json() for attachment in self.attachments]
        return body

    def fields_with(
        self,
        reply_preview: ReplyPreview | None,
        reactions: tuple[Reaction, ...],
        attachments: tuple[Attachment, ...],
    ) -> tuple[Any, ...]:
        """Its fields in declaration order, these three replaced: ``Message(*fields)`` builds it.

        What the stores put together from separate reads (``message_queries``)
        and what the memory store keeps as a plain tuple (``memory_rows``).
        """
        return (
            self.id,
            self.room_id,
            self.sender_id,
            self.username,
            self.content,
            self.ts,
            self.client_msg_id,
            self.reply_to,
            reply_preview,
            self.edited_at,
            self.deleted,
            reactions,
            self.mentions,
            attachments,
        )


# What changed a message: the ``kind`` of a timeline event.
CREATED = "message"
EDITED = "edit"
DELETED = "delete"
REACTED = "react"
UNREACTED = "unreact"
EVENT_KINDS = (CREATED, EDITED, DELETED, REACTED, UNREACTED)


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One change of a room's timeline, with the id of the one sequence they all share.

    ``message`` is the message's state as it is read (its current state when
    replayed from the store): a client replaces what it holds, so replaying
    events in id order ends in the server's state.
    """

    id: int
    kind: str
    message: Message

    @property
    def room_id(self) -> int:
        """The room of the message."""
        return self.message.room_id

    def to_json(self) -> dict[str, Any]:
        """The frame: ``message`` for a new message, ``message_updated`` for any change."""
        if self.kind == CREATED:
            return self.message.to_json()
        return self.update_json()

    def update_json(self) -> dict[str, Any]:
        """The ``message_updated`` frame of this event, whatever its kind.

        What a repeated change is answered with, even when the message's
        latest event is its creation.
        """
        return {"type": "message_updated", "event_id": self.id, "message": self.message.to_json()}


@dataclass(frozen=True, slots=True)
class Change:
    """What an edit, delete or reaction gave: the event, and whether anything changed.

    ``changed`` is False for a repeat (the same edit, a reaction already
    there, a message already deleted): nothing was stored, and ``event`` is
    the message's latest event with its current state, for the caller to
    answer as the first time.
    """

    event: TimelineEvent
    changed: bool


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message about to be stored: everything but the id the store assigns."""

    room_id: int
    sender_id: int
    username: str
    content: str
    ts: int
    client_msg_id: str | None = None
    reply_to: int | None = None
    mentions: tuple[int, ...] = ()  # resolved by ``mentions.py`` before storing
    # Uploads of the sender, checked by the files use case before the post.
    attachments: tuple[Attachment, ...] = ()

    def stored(self, message_id: int, reply_preview: ReplyPreview | None) -> Message:
        """The ``Message`` this becomes once stored under ``message_id``: new, so unedited."""
        return Message(
            message_id,
            self.room_id,
            self.sender_id,
            self.username,
            self.content,
            self.ts,
            self.client_msg_id,
            self.reply_to,
            reply_preview,
            mentions=self.mentions,
            attachments=self.attachments,
        )


@dataclass(frozen=True, slots=True)
class Posted:
    """What storing a message gave: the message, and whether it is new.

    ``created`` is False when ``client_msg_id`` matched an earlier message of
    the same sender in the same room: that original is returned, nothing new
    was stored.
    """

    message: Message
    created: bool
