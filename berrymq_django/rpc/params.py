"""Procedure declarations: the params' JSON schema is published and enforced, once.

Each procedure declares its params (``Param``: name, JSON schema,
description, default). Together they make one JSON Schema object
(``Procedure.schema``), which ``rpc.discover`` publishes param by param in
the OpenRPC document and which jsonschema-rs compiles once (JSON Schema
draft 7, as OpenRPC 1.2 uses), when the procedure is registered, into the
validator every call goes through. So a keyword the document shows
(``type``, ``maxLength``, ``minimum``, ``exclusiveMinimum``, ``pattern``,
``items``, ``const``, ``anyOf``...) is a keyword the server checks, and
nothing checks it twice. (The validator is compiled Rust: a batch of a
thousand messages is checked in a fraction of a millisecond.)

What a schema cannot say (an identifier's grammar, a limit read from the
settings) the procedures check themselves; their descriptions say so.

A refusal is ``RPCError(INVALID_PARAMS)`` naming the param (and, inside an
array, the index: ``messages[3].uid``, with ``data = {"index": 3}``), what
it must be, and the bad value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import jsonschema_rs

from .protocol import INVALID_PARAMS, METHOD_NOT_FOUND, RPCError

__all__ = ["Param", "Procedure", "Registry", "openrpc_document", "short"]

_REQUIRED: Any = object()


def short(value: Any, limit: int = 60) -> str:
    """Return repr(value), cut to limit characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclasses.dataclass(frozen=True)
class Param:
    """One parameter: its JSON schema, and a default when it may be left out.

    A default of None means "left out" and is not published; any other
    default is published as the schema's ``default``.
    """

    name: str
    schema: dict[str, Any]
    description: str = ""
    default: Any = _REQUIRED

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    @property
    def published_schema(self) -> dict[str, Any]:
        """Return the schema as rpc.discover shows it (with the default, if any)."""
        if self.required or self.default is None:
            return self.schema
        return {**self.schema, "default": self.default}


@dataclasses.dataclass(frozen=True)
class Procedure:
    """A procedure: its function, its params and their compiled validator."""

    name: str
    func: Callable[..., Any]
    params: tuple[Param, ...]
    summary: str
    result: dict[str, Any]
    #: What it does is only worth its answer (``get`` takes a message): as a
    #: notification, which is never answered, it is not run at all.
    answer_only: bool = False
    _validator: jsonschema_rs.Draft7Validator = dataclasses.field(
        init=False, repr=False, compare=False
    )
    _names: tuple[str, ...] = dataclasses.field(init=False, repr=False, compare=False)
    _defaults: dict[str, Any] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Decided once: the validator, the positional order, the defaults to fill in.
        object.__setattr__(self, "_validator", jsonschema_rs.Draft7Validator(self.schema))
        object.__setattr__(self, "_names", tuple(p.name for p in self.params))
        defaults = {p.name: p.default for p in self.params if not p.required}
        object.__setattr__(self, "_defaults", defaults)

    @property
    def schema(self) -> dict[str, Any]:
        """Return the JSON Schema of the params as one object (named form)."""
        return {
            "type": "object",
            "properties": {p.name: p.published_schema for p in self.params},
            "required": [p.name for p in self.params if p.required],
            "additionalProperties": False,
        }

    def bind(self, params: list[Any] | dict[str, Any]) -> dict[str, Any]:
        """Match positional or named params to the declaration, validate, fill defaults.

        Return the keyword arguments of the call; raise RPCError(INVALID_PARAMS).
        """
        if isinstance(params, list):
            if len(params) > len(self._names):
                raise RPCError(
                    INVALID_PARAMS,
                    f"Invalid params: {self.name} takes at most {len(self._names)} "
                    f"params ({self.signature()}), got {len(params)}.",
                )
            given = dict(zip(self._names, params, strict=False))
        else:
            given = params
        try:
            self._validator.validate(given)
        except jsonschema_rs.ValidationError as exc:
            raise self._refusal(given, exc) from None
        except ValueError as exc:  # a lone surrogate in a key: text no JSON encoder writes
            message = f"Invalid params: not valid Unicode text ({exc})."
            raise RPCError(INVALID_PARAMS, message) from None
        if len(given) == len(self._names):
            return given
        bound = dict(self._defaults)
        bound.update(given)
        return bound

    def signature(self) -> str:
        """Return the params as "a, b?, c?" (optional ones marked)."""
        return ", ".join(p.name if p.required else f"{p.name}?" for p in self.params) or "none"

    def _refusal(self, given: dict[str, Any], exc: jsonschema_rs.ValidationError) -> RPCError:
        """Turn the validator's complaint into INVALID_PARAMS naming the param and value."""
        path = list(exc.instance_path)
        rule = str(exc.schema_path[-1])
        if not path:  # the params object itself: a param missing or unknown
            if rule == "required":
                missing = [p.name for p in self.params if p.required and p.name not in given]
                return RPCError(
                    INVALID_PARAMS,
                    f"Invalid params: {self.name} needs {', '.join(map(repr, missing))} "
                    f"({self.signature()}).",
                )
            extra = sorted(set(given) - set(self._names))
            return RPCError(
                INVALID_PARAMS,
                f"Invalid params: {self.name} has no param(s) {', '.join(map(repr, extra))}; "
                f"it takes {self.signature()}.",
            )
        # 'ttl'; messages[3].uid (with data {"index": 3}, so a sender can drop just that one).
        where = repr(path[0]) if len(path) == 1 else str(path[0])
        where += "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path[1:])
        data = {"index": path[1]} if len(path) > 1 and isinstance(path[1], int) else None
        schema: Any = self.schema
        for step in exc.schema_path[:-1]:
            schema = schema[step]
        problem = _problem(rule, schema[rule], exc.instance, schema)
        return RPCError(INVALID_PARAMS, f"Invalid params: {where} {problem}", data)


def _problem(rule: str | None, limit: Any, value: Any, schema: dict[str, Any]) -> str:
    """Say what is wrong with value under one schema keyword, ending with a full stop."""
    if rule == "type":
        kinds = limit if isinstance(limit, str) else " or ".join(limit)
        return f"must be {kinds}, not {_json_kind(value)} ({short(value)})."
    if rule == "maxLength":
        return f"is {len(value)} characters long; at most {limit} are allowed."
    if rule in ("maxItems", "minItems"):
        most = "at most" if rule == "maxItems" else "at least"
        return f"has {len(value)} items; {most} {limit} are allowed."
    if rule == "required":
        present = value if isinstance(value, dict) else {}
        missing = [name for name in limit or () if name not in present]
        return f"needs {', '.join(map(repr, missing))}."
    bounds = {
        "minLength": "must be at least {} character(s) long",
        "minimum": "must be at least {}",
        "maximum": "must be at most {}",
        "exclusiveMinimum": "must be more than {}",
        "exclusiveMaximum": "must be less than {}",
    }
    if rule in bounds:
        phrase = bounds[rule].format(limit)
    elif rule == "const":
        phrase = f"must be {short(limit)}"
    elif rule == "enum":
        phrase = f"must be one of {', '.join(map(short, limit))}"
    else:  # pattern, anyOf, oneOf...: the schema's description says what is meant
        phrase = f"must be {schema.get('description') or f'valid by its schema ({rule})'}"
    return f"{phrase}, not {short(value)}."


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value)) or type(value).__name__


class Registry:
    """The procedures of one endpoint, by name (``@registry.procedure(...)`` adds one)."""

    def __init__(self) -> None:
        self.procedures: dict[str, Procedure] = {}
        #: Coroutine functions, by procedure name, that answer it on an event loop.
        self.awaitables: dict[str, Callable[..., Awaitable[Any]]] = {}

    def procedure(
        self,
        name: str,
        *params: Param,
        summary: str,
        result: dict[str, Any],
        answer_only: bool = False,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register the decorated function as procedure name; its params are compiled now.

        answer_only: see ``Procedure.answer_only``.
        """

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            self.procedures[name] = Procedure(name, func, params, summary, result, answer_only)
            return func

        return register

    def runs_as_notification(self, method: str) -> bool:
        """Tell whether a notification of method is run (all but ``answer_only`` procedures)."""
        proc = self.procedures.get(method)
        return proc is None or not proc.answer_only

    def call(self, context: Any, method: str, params: list[Any] | dict[str, Any]) -> Any:
        """Run one procedure with context; raise RPCError for anything the caller got wrong."""
        proc = self.procedures.get(method)
        if proc is None:
            raise RPCError(METHOD_NOT_FOUND, f"Method not found: {short(method)}.")
        return proc.func(context, **proc.bind(params))

    def awaitable(
        self, name: str
    ) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
        """Register the decorated coroutine function as procedure name's event-loop twin.

        It takes the same params (checked by the same schema) and must give the
        same results and errors; ``acall`` runs it.
        """

        def register(func: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
            if name not in self.procedures:
                raise LookupError(f"No procedure {name!r} to give an awaitable twin.")
            self.awaitables[name] = func
            return func

        return register

    def acall(
        self, context: Any, method: str, params: list[Any] | dict[str, Any]
    ) -> Awaitable[Any]:
        """Return the awaitable twin of one procedure, called: await it for the result.

        KeyError if method has none; bad params raise RPCError here, before
        anything is awaited. A plain function, not a coroutine, so that a
        waiting call holds one frame less (thousands wait at once).
        """
        func = self.awaitables[method]
        return func(context, **self.procedures[method].bind(params))


def openrpc_document(procedures: Iterable[Procedure], version: str) -> dict[str, Any]:
    """Return the OpenRPC 1.2 document of procedures (the schemas they enforce)."""
    return {
        "openrpc": "1.2.6",
        "info": {
            "title": "berryMQ",
            "version": version,
            "description": "berryMQ's JSON-RPC protocol; see the README's protocol section.",
        },
        "methods": [
            {
                "name": proc.name,
                "summary": proc.summary,
                "paramStructure": "either",
                "params": [
                    {
                        "name": p.name,
                        "description": p.description,
                        "required": p.required,
                        "schema": p.published_schema,
                    }
                    for p in proc.params
                ],
                "result": {"name": "result", "schema": proc.result},
            }
            for proc in procedures
        ],
    }
