"""COMMAND DOCS arguments, read from each handler's syntax line.

Every handler's docstring opens with its syntax, Redis style:
"SET key value [NX | XX] [GET] [EX seconds | PX milliseconds | KEEPTTL]".
This turns that line into Redis 7's argument maps (name, type, token,
flags, nested arguments), which is what redis-cli builds its hints from.
"""

from __future__ import annotations

import re
from typing import Any

_TOKENS = re.compile(r"\[|\]|(?<=\s)\|(?=\s)|\.\.\.|[^\s\[\]]+")
_KEY_NAMES = {"key", "source", "destination", "newkey"}
_INTEGER_NAMES = {
    "count",
    "index",
    "start",
    "stop",
    "end",
    "numkeys",
    "offset",
    "seconds",
    "milliseconds",
    "decrement",
    "rank",
    "num-matches",
    "len",
    "limit",
    "cursor",
    "destination-db",
    "unix-time-seconds",
    "unix-time-milliseconds",
    "protover",
}
_DOUBLE_NAMES = {"timeout", "score"}

Argument = dict[str, Any]


def syntax_arguments(syntax: str) -> list[Argument]:
    """The arguments after the command name (and subcommand words) of `syntax`."""
    tokens = _TOKENS.findall(syntax)[1:]
    arguments, _ = _sequence(tokens, 0)
    return arguments


def _sequence(tokens: list[str], i: int) -> tuple[list[Argument], int]:
    """Arguments until ']' or the end; alternatives at this level make one oneof."""
    branches: list[list[Argument]] = [[]]
    while i < len(tokens) and tokens[i] != "]":
        token = tokens[i]
        if token == "|":
            branches.append([])
            i += 1
        elif token == "...":
            if branches[-1]:
                _flag(branches[-1][-1], "multiple")
            i += 1
        elif token == "[":
            inner, i = _sequence(tokens, i + 1)
            repeated = tokens[i - 1] == "..."  # "[field value ...]": the group repeats
            i += 1  # the closing ']'
            if repeated and len(inner) > 1:
                inner[-1]["flags"].remove("multiple")
                if not inner[-1]["flags"]:
                    del inner[-1]["flags"]
            group = _optional(inner)
            if repeated:
                _flag(group, "multiple")
            branches[-1].append(group)
        else:
            argument, i = _word(tokens, i)
            branches[-1].append(argument)
    if len(branches) == 1:
        return branches[0], i
    choices = [_single(branch) for branch in branches if branch]
    return [{"name": "choice", "type": "oneof", "arguments": choices}], i


def _word(tokens: list[str], i: int) -> tuple[Argument, int]:
    token = tokens[i]
    if "|" in token:  # "LEFT|RIGHT": tight alternatives of keywords
        choices = [
            {"name": word.lower(), "type": "pure-token", "token": word} for word in token.split("|")
        ]
        return {"name": token.split("|")[0].lower(), "type": "oneof", "arguments": choices}, i + 1
    if token.isupper() or not any(ch.islower() for ch in token):
        # A keyword; the lowercase words that follow it are its value(s).
        values: list[Argument] = []
        j = i + 1
        while (
            j < len(tokens) and tokens[j] not in ("[", "]", "|", "...") and not tokens[j].isupper()
        ):
            values.append(_named(tokens[j]))
            j += 1
        if not values:
            return {"name": token.lower(), "type": "pure-token", "token": token}, j
        if len(values) == 1:
            return {**values[0], "token": token}, j
        return {"name": token.lower(), "type": "block", "token": token, "arguments": values}, j
    return _named(token), i + 1


def _is_value(token: str) -> bool:
    """A lowercase argument name (not a bracket, separator or keyword)."""
    return token not in ("[", "]", "|", "...") and not token.isupper() and "|" not in token


def _named(name: str) -> Argument:
    if name in _KEY_NAMES:
        kind = "key"
    elif name in _INTEGER_NAMES:
        kind = "integer"
    elif name in _DOUBLE_NAMES:
        kind = "double"
    elif name == "pattern":
        kind = "pattern"
    else:
        kind = "string"
    return {"name": name, "type": kind}


def _single(branch: list[Argument]) -> Argument:
    if len(branch) == 1:
        return branch[0]
    return {"name": branch[0]["name"], "type": "block", "arguments": branch}


def _optional(inner: list[Argument]) -> Argument:
    argument = _single(inner) if inner else {"name": "empty", "type": "block", "arguments": []}
    _flag(argument, "optional")
    return argument


def _flag(argument: Argument, flag: str) -> None:
    argument.setdefault("flags", [])
    if flag not in argument["flags"]:
        argument["flags"].append(flag)
