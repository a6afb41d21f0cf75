"""Consumer group ids: which ones a broker accepts (docs/consumers.md, "Group ids").

A group id follows the topic-name rule of :mod:`flymq.topic_names`: 1 to 249 bytes of UTF-8
(so no lone surrogate), no control character (so no NUL), no '+', '#' or '\\', and levels
separated by '/' that are neither empty, '.' nor '..' (so no ``../x``). flymq keeps every
group's offsets in one state log, never in a file named after the group, but a group id
travels in file names elsewhere (upstream keeps a file per group, tools export per group),
and one rule for both names is one rule to learn.

The broker checks every group id it is given (embedded and over TCP); the client checks them
too, because an id that is not a ``str``, holds a lone surrogate or is longer than a str16
cannot be encoded into a request at all. The one empty id with a meaning is SUBSCRIBE's, which
asks for no group bookkeeping (wire spec §6.1.5): callers pass ``allow_empty=True`` there.
"""

from __future__ import annotations

from flymq.errors import InvalidGroupIdError
from flymq.topic_names import topic_name_problem


def group_id_problem(group_id: object) -> str | None:
    """Why ``group_id`` is not a valid group id, or None when it is."""
    return topic_name_problem(group_id)  # type: ignore[arg-type]


def validate_group_id(group_id: object, *, allow_empty: bool = False) -> str:
    """``group_id`` if it follows the rule (or is "" and ``allow_empty``); else
    :class:`InvalidGroupIdError`."""
    if allow_empty and group_id == "" and group_id.__class__ is str:
        return group_id
    problem = group_id_problem(group_id)
    if problem is not None:
        raise InvalidGroupIdError(group_id, problem)
    return group_id  # type: ignore[return-value]
