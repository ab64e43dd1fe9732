"""A small, honest reader of the Bicep the connector's infra/ is written in. Not a compiler.

It understands exactly what the consistency tests need and fails loudly on anything else:

- comments (``//`` and ``/* */``) outside strings, strings with ``${...}`` interpolation (which may
  hold strings themselves), ``'''`` multi-line strings;
- top-level declarations (``param``, ``var``, ``resource``, ``module``, ``output``, ...), each
  starting at the beginning of a line outside any bracket, with their decorators;
- the keys of object literals (``NAME: value`` or ``'NAME': value``, one member per line or
  comma-separated), at the outermost object level of an expression.

It does not evaluate expressions, check types, resolve modules or know the resource schemas: the
Bicep compiler does that, and it cannot run offline (see infra/README.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DECL = re.compile(
    r"^(targetScope|metadata|param|var|resource|module|output|type|func|import|using)\b\s*"
    r"([A-Za-z_][A-Za-z0-9_]*)?",
    re.M,
)
_OPEN = {"{": "}", "[": "]", "(": ")"}
_CLOSE = {v: k for k, v in _OPEN.items()}


class BicepReadError(ValueError):
    """The text is outside what this reader understands (or is not valid Bicep)."""


def _string_end(text: str, i: int) -> int:
    """Index just past the string that starts at ``text[i] == "'"``."""
    if text.startswith("'''", i):
        end = text.find("'''", i + 3)
        if end < 0:
            raise BicepReadError(f"unterminated multi-line string at offset {i}")
        return end + 3
    j = i + 1
    while j < len(text):
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c == "'":
            return j + 1
        if c == "\n":
            raise BicepReadError(f"newline inside a string at offset {i}")
        if text.startswith("${", j):
            j = _expression_end(text, j + 2, "}")
            continue
        j += 1
    raise BicepReadError(f"unterminated string at offset {i}")


def _expression_end(text: str, i: int, closer: str) -> int:
    """Index just past ``closer`` that ends the bracketed expression starting at ``i``."""
    stack = [closer]
    j = i
    while j < len(text):
        c = text[j]
        if c == "'":
            j = _string_end(text, j)
            continue
        if c in _OPEN:
            stack.append(_OPEN[c])
        elif c in _CLOSE:
            if not stack or stack[-1] != c:
                raise BicepReadError(f"unbalanced {c!r} at offset {j}")
            stack.pop()
            if not stack:
                return j + 1
        j += 1
    raise BicepReadError(f"unbalanced brackets from offset {i}")


def strip_comments(text: str) -> str:
    """The text with comments blanked out (newlines kept, so line starts stay line starts)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "'":
            end = _string_end(text, i)
            out.append(text[i:end])
            i = end
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise BicepReadError(f"unterminated block comment at offset {i}")
            out.append("\n" * text.count("\n", i, end))
            i = end + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _depth_zero_offsets(text: str) -> list[bool]:
    """For each offset: True when it lies outside every bracket and string."""
    flags = [False] * (len(text) + 1)
    depth = 0
    i = 0
    while i < len(text):
        c = text[i]
        if c == "'":
            end = _string_end(text, i)
            i = end
            continue
        flags[i] = depth == 0
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
            if depth < 0:
                raise BicepReadError(f"unbalanced {c!r} at offset {i}")
        i += 1
    if depth:
        raise BicepReadError("unbalanced brackets at the end of the file")
    return flags


@dataclass
class Declaration:
    kind: str  # param, var, resource, module, output, ...
    name: str
    text: str  # the declaration, without its decorators
    decorators: list[str] = field(default_factory=list)

    @property
    def value(self) -> str:
        """What follows the first top-level ``=`` ('' for a param without a default)."""
        i = _top_level_index(self.text, "=")
        return "" if i < 0 else self.text[i + 1 :].strip()

    @property
    def resource_type(self) -> str:
        """For a resource: its type without the API version, e.g. Microsoft.Web/sites."""
        match = re.match(r"resource\s+\w+\s+'([^'@]+)@", self.text)
        return match.group(1) if match else ""


def _top_level_index(text: str, char: str) -> int:
    """Offset of the first ``char`` outside brackets and strings (``==``/``!=`` excluded)."""
    depth = 0
    i = 0
    while i < len(text):
        c = text[i]
        if c == "'":
            i = _string_end(text, i)
            continue
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
        elif c == char and depth == 0:
            around = text[i - 1 : i] + text[i + 1 : i + 2]
            if char != "=" or not (set(around) & {"=", "!", "<", ">"}):
                return i
        i += 1
    return -1


def declarations(source: str) -> list[Declaration]:
    """The top-level declarations of a Bicep file, in order, each with its decorators."""
    text = strip_comments(source)
    flags = _depth_zero_offsets(text)
    items: list[tuple[int, str]] = []  # (offset, "decorator" | "declaration")
    for match in re.finditer(r"^[ \t]*(@|[A-Za-z_])", text, re.M):
        pos = match.start(1)
        if not flags[pos]:
            continue
        if match.group(1) == "@":
            items.append((pos, "decorator"))
        elif _DECL.match(text, pos):
            items.append((pos, "declaration"))
    decls: list[Declaration] = []
    pending: list[str] = []
    for n, (pos, what) in enumerate(items):
        end = items[n + 1][0] if n + 1 < len(items) else len(text)
        chunk = text[pos:end].strip()
        if what == "decorator":
            pending.append(chunk)
            continue
        match = _DECL.match(text, pos)
        assert match is not None
        decls.append(Declaration(match.group(1), match.group(2) or "", chunk, pending))
        pending = []
    if pending:
        raise BicepReadError(f"decorator without a declaration: {pending[0][:60]!r}")
    return decls


def by_name(decls: list[Declaration], kind: str) -> dict[str, Declaration]:
    return {d.name: d for d in decls if d.kind == kind}


@dataclass(frozen=True)
class Member:
    key: str
    value: str  # the value's text, stripped


def object_members(expression: str) -> list[Member]:
    """Members of every object literal at the outermost object level of ``expression``.

    ``a ? { X: 1 } : { Y: 2 }`` gives X and Y; members of objects nested in those objects are
    not returned. A member must be ``key: value`` with ``key`` an identifier or a plain quoted
    string; anything else inside an object raises ``BicepReadError``.
    """
    members: list[Member] = []
    i = 0
    text = expression
    while i < len(text):
        c = text[i]
        if c == "'":
            i = _string_end(text, i)
        elif c == "{":
            end = _expression_end(text, i + 1, "}")
            members.extend(_members(text[i + 1 : end - 1]))
            i = end
        else:
            i += 1
    return members


def _members(body: str) -> list[Member]:
    members: list[Member] = []
    for part in _split_members(body):
        match = re.match(r"\s*(?:([A-Za-z_][A-Za-z0-9_]*)|'([^'\\$]*)')\s*:(?!:)", part)
        if not match:
            raise BicepReadError(f"not an object member: {part.strip()[:80]!r}")
        members.append(Member(match.group(1) or match.group(2), part[match.end() :].strip()))
    return members


def _split_members(body: str) -> list[str]:
    """Split an object body on newlines and commas that are outside brackets and strings."""
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(body):
        c = body[i]
        if c == "'":
            i = _string_end(body, i)
            continue
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
        elif c in "\n," and depth == 0:
            # a multi-line ternary goes on: "x ?" at the end of a line, or "? y" / ": z" next
            continues = c == "\n" and (
                re.search(r"[?:]\s*$", body[start:i]) or re.match(r"\s*[?:]", body[i + 1 :])
            )
            if not continues:
                parts.append(body[start:i])
                start = i + 1
        i += 1
    parts.append(body[start:])
    return [p for p in parts if p.strip()]


def string_literal(value: str) -> str | None:
    """The content of ``value`` if it is one plain quoted string (no interpolation), else None."""
    match = re.fullmatch(r"'((?:[^'\\$]|\\.)*)'", value.strip())
    return None if match is None else re.sub(r"\\(.)", r"\1", match.group(1))


def string_items(expression: str) -> list[str]:
    """The items of an array literal of plain strings, e.g. ``['a'\\n'b']``."""
    text = expression.strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise BicepReadError(f"not an array literal: {text[:60]!r}")
    items = []
    for part in _split_members(text[1:-1]):
        literal = string_literal(part)
        if literal is None:
            raise BicepReadError(f"not a plain string item: {part.strip()!r}")
        items.append(literal)
    return items


def identifiers(expression: str) -> set[str]:
    """Identifiers an expression refers to (not function names, not property names)."""
    text = re.sub(r"'(?:[^'\\]|\\.)*'", "''", expression)  # drop string contents
    found = set()
    for match in IDENT.finditer(text):
        before = text[: match.start()].rstrip()
        after = text[match.end() :].lstrip()
        if before.endswith(".") or after.startswith("("):
            continue
        found.add(match.group(0))
    return found - {"true", "false", "null", "if", "for", "in", "existing"}
