"""``$filter`` as Business Central accepts it, parsed against an entity type's declared fields.

Supported (reference §5.1): ``eq ne gt ge lt le``, ``and``, ``or`` (on one field only: BC
rejects ``or`` across distinct fields), parentheses, ``startswith/endswith/contains``,
``substring`` and ``tolower/toupper``; ``not`` is not in the reference's list and is refused.
Literals follow OData v4 as BC applies it: datetimes, dates and GUIDs unquoted, strings and enum
names quoted (escaped ``_x0020_`` or plain). A literal of the wrong type for its field is BC's
"incompatible types" error, not a silent non-match.

The parsed tree compiles to a predicate over typed rows, and exposes the range bounds an
``and``-chain puts on one field, which the lazy ledger uses to skip straight to the matching
entries instead of generating the million that do not match.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sandbox.bc.encoding import datetime_to_ms, unescape_enum
from sandbox.bc.errors import BcError, bad_request, unknown_property
from sandbox.bc.schema import EntityType, Field, Kind

Row = dict[str, Any]
Predicate = Callable[[Row], bool]

OPERATORS = {
    "eq": "Equal",
    "ne": "NotEqual",
    "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual",
    "lt": "LessThan",
    "le": "LessThanOrEqual",
}
STRING_FUNCTIONS = ("startswith", "endswith", "contains")
TRANSFORMS = ("tolower", "toupper")

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<punct>[(),])
  | (?P<string>'(?:[^']|'')*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2}))
  | (?P<guid>[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\b)
  | (?P<date>\d{4}-\d{2}-\d{2}\b)
  | (?P<number>-?\d+(?:\.\d+)?[MmDdFf]?\b)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int


# ``substring(field, start[, length])``: zero-based start, optional length
Cut = tuple[int, int | None]


@dataclass(frozen=True)
class Literal:
    edm: str  # OData type of the literal as written
    value: Any


@dataclass(frozen=True)
class Compare:
    field: Field
    op: str
    value: Any  # typed like the field's row values
    transform: str | None = None
    cut: Cut | None = None


@dataclass(frozen=True)
class StringFunction:
    function: str
    field: Field
    value: str
    transform: str | None = None
    cut: Cut | None = None


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    left: Node
    right: Node


Node = Compare | StringFunction | BoolOp


def syntax_error(pos: int, text: str) -> BcError:
    return bad_request(f"Syntax error at position {pos} in '{text}'.")


def tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise syntax_error(pos, text)
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, entity: EntityType) -> None:
        self.text = text
        self.entity = entity
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise syntax_error(len(self.text), self.text)
        self.i += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise syntax_error(token.pos, self.text)

    def is_word(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "name" and token.text == word

    def is_punct(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "punct" and token.text == text

    def parse(self) -> Node:
        node = self.parse_or()
        token = self.peek()
        if token is not None:
            raise syntax_error(token.pos, self.text)
        return node

    def parse_or(self) -> Node:
        node = self.parse_and()
        while self.is_word("or"):
            self.take()
            node = BoolOp("or", node, self.parse_and())
        return node

    def parse_and(self) -> Node:
        node = self.parse_unary()
        while self.is_word("and"):
            self.take()
            node = BoolOp("and", node, self.parse_unary())
        return node

    def parse_unary(self) -> Node:
        if self.is_word("not"):
            raise bad_request("The 'NOT' operator is not supported on an OData filter.")
        token = self.peek()
        if token is not None and token.text == "(":
            self.take()
            node = self.parse_or()
            self.expect(")")
            return node
        if token is not None and token.kind == "name" and token.text in STRING_FUNCTIONS:
            return self.parse_string_function()
        return self.parse_comparison()

    def parse_operand_field(self) -> tuple[Field, str | None, Cut | None]:
        """A field, maybe inside ``tolower``/``toupper`` and ``substring``."""
        token = self.take()
        if token.kind != "name":
            raise syntax_error(token.pos, self.text)
        if token.text in TRANSFORMS:
            self.expect("(")
            field, _, cut = self.parse_operand_field()
            self.expect(")")
            return field, token.text, cut
        if token.text == "substring" and self.is_punct("("):
            self.expect("(")
            field, transform, inner = self.parse_operand_field()
            numbers = []
            while self.is_punct(","):
                self.take()
                numbers.append(self.parse_literal())
            self.expect(")")
            if (
                inner is not None
                or field.kind not in (Kind.STRING, Kind.ENUM, Kind.AMOUNT_TEXT)
                or len(numbers) not in (1, 2)
                or any(n.edm != "Edm.Int32" or n.value < 0 for n in numbers)
            ):
                raise bad_request(
                    "No function signature for the function with name 'substring' matches the "
                    "specified arguments. The function signatures considered are: "
                    "substring(Edm.String Nullable=true, Edm.Int32); "
                    "substring(Edm.String Nullable=true, Edm.Int32, Edm.Int32)."
                )
            length = numbers[1].value if len(numbers) == 2 else None
            return field, transform, (numbers[0].value, length)
        field = self.entity.field(token.text)
        if field is None:
            raise unknown_property(token.text, self.entity.name)
        return field, None, None

    def parse_string_function(self) -> Node:
        function = self.take().text
        self.expect("(")
        field, transform, cut = self.parse_operand_field()
        self.expect(",")
        literal = self.parse_literal()
        self.expect(")")
        if field.kind not in (Kind.STRING, Kind.ENUM) or literal.edm != "Edm.String":
            raise bad_request(
                f"No function signature for the function with name '{function}' matches the "
                f"specified arguments. The function signatures considered are: "
                f"{function}(Edm.String Nullable=true, Edm.String Nullable=true)."
            )
        return StringFunction(function, field, str(literal.value), transform, cut)

    def parse_comparison(self) -> Node:
        field, transform, cut = self.parse_operand_field()
        op_token = self.take()
        if op_token.kind != "name" or op_token.text not in OPERATORS:
            raise syntax_error(op_token.pos, self.text)
        literal = self.parse_literal()
        if cut is not None:  # a substring is text, whatever the field's enum options
            if literal.edm != "Edm.String":
                raise bad_request(
                    "A binary operator with incompatible types was detected. Found operand types "
                    f"'Edm.String' and '{literal.edm}' for operator kind "
                    f"'{OPERATORS[op_token.text]}'."
                )
            return Compare(field, op_token.text, literal.value, transform, cut)
        return Compare(field, op_token.text, coerce(field, op_token.text, literal), transform)

    def parse_literal(self) -> Literal:
        token = self.take()
        if token.kind == "string":
            return Literal("Edm.String", token.text[1:-1].replace("''", "'"))
        if token.kind == "guid":
            return Literal("Edm.Guid", token.text.lower())
        if token.kind == "date":
            try:
                return Literal("Edm.Date", date.fromisoformat(token.text))
            except ValueError as exc:
                raise syntax_error(token.pos, self.text) from exc
        if token.kind == "datetime":
            return Literal("Edm.DateTimeOffset", _parse_datetime(token, self.text))
        if token.kind == "number":
            raw = token.text.rstrip("MmDdFf")
            if "." in raw or raw != token.text:
                return Literal("Edm.Decimal", float(raw))
            return Literal("Edm.Int32", int(raw))
        if token.kind == "name" and token.text in ("true", "false"):
            return Literal("Edm.Boolean", token.text == "true")
        if token.kind == "name" and token.text == "null":
            return Literal("null", None)
        if token.kind == "name":
            # an unquoted word where a value belongs is read as a property name by OData
            raise unknown_property(token.text, self.entity.name)
        raise syntax_error(token.pos, self.text)


def _parse_datetime(token: Token, text: str) -> int:
    value = token.text
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    main, dot, rest = value.partition(".")
    if dot:  # Python accepts at most 6 fraction digits
        digits = "".join(c for c in rest if c.isdigit())
        value = f"{main}.{digits[:6]}{rest[len(digits) :]}"
    try:
        return datetime_to_ms(datetime.fromisoformat(value))
    except ValueError as exc:
        raise syntax_error(token.pos, text) from exc


def coerce(field: Field, op: str, literal: Literal) -> Any:
    """The literal as a value comparable with the field's rows, or BC's type error."""
    kind, edm, value = field.kind, literal.edm, literal.value
    ok = (
        (kind is Kind.GUID and edm == "Edm.Guid")
        or (kind in (Kind.STRING, Kind.ENUM, Kind.AMOUNT_TEXT) and edm == "Edm.String")
        or (kind is Kind.INT and edm == "Edm.Int32")
        or (kind is Kind.DECIMAL and edm in ("Edm.Int32", "Edm.Decimal"))
        or (kind is Kind.DATE and edm == "Edm.Date")
        or (kind is Kind.DATETIME and edm == "Edm.DateTimeOffset")
        or (kind is Kind.BOOL and edm == "Edm.Boolean")
    )
    if not ok:
        raise bad_request(
            "A binary operator with incompatible types was detected. Found operand types "
            f"'{kind.edm}' and '{edm}' for operator kind '{OPERATORS[op]}'."
        )
    if kind is Kind.ENUM:
        name = unescape_enum(value)
        match = next((o for o in field.options if o.lower() == name.lower()), None)
        if match is None:
            raise bad_request(
                f"'{value}' is not an option. The existing options are: " + ",".join(field.options)
            )
        return match
    if kind is Kind.DECIMAL:
        return float(value)
    return value


def parse_filter(text: str, entity: EntityType) -> Node:
    node = _Parser(text, entity).parse()
    _check_or(node)
    return node


def _fields(node: Node) -> set[str]:
    if isinstance(node, Compare | StringFunction):
        return {node.field.name}
    return _fields(node.left) | _fields(node.right)


def _check_or(node: Node) -> None:
    if isinstance(node, BoolOp):
        if node.op == "or" and len(_fields(node)) > 1:
            raise bad_request(
                "The 'OR' operator is not supported on distinct fields on an OData filter."
            )
        _check_or(node.left)
        _check_or(node.right)


def compile_filter(node: Node | None) -> Predicate:
    if node is None:
        return lambda row: True
    if isinstance(node, BoolOp):
        left, right = compile_filter(node.left), compile_filter(node.right)
        if node.op == "and":
            return lambda row: left(row) and right(row)
        return lambda row: left(row) or right(row)
    name = node.field.name
    text = _text_of(node.field, node.cut)
    if isinstance(node, StringFunction):
        needle = node.value.casefold()
        test = {
            "startswith": str.startswith,
            "endswith": str.endswith,
            "contains": str.__contains__,
        }[node.function]
        return lambda row: test(text(row), needle)
    # BC's database collation compares text case-insensitively, so tolower/toupper change nothing
    value = node.value.casefold() if isinstance(node.value, str) else node.value
    compare: Callable[[Any, Any], bool] = {
        "eq": lambda a, b: a == b,
        "ne": lambda a, b: a != b,
        "gt": lambda a, b: a is not None and b is not None and a > b,
        "ge": lambda a, b: a is not None and b is not None and a >= b,
        "lt": lambda a, b: a is not None and b is not None and a < b,
        "le": lambda a, b: a is not None and b is not None and a <= b,
    }[node.op]
    if isinstance(value, str):
        return lambda row: compare(text(row), value)
    return lambda row: compare(row.get(name), value)


def _text_of(field: Field, cut: Cut | None) -> Callable[[Row], str]:
    """A row's text in a field, cut by ``substring``, case-folded (BC's collation)."""
    name = field.name
    if cut is None:
        return lambda row: str(row.get(name) or "").casefold()
    start, length = cut
    end = None if length is None else start + length
    return lambda row: str(row.get(name) or "")[start:end].casefold()


@dataclass(frozen=True)
class Bounds:
    """What an ``and``-chain of comparisons says about one field: ``lo <= / < value <= / < hi``."""

    lo: Any = None
    lo_inclusive: bool = True
    hi: Any = None
    hi_inclusive: bool = True


def bounds(node: Node | None, field_name: str) -> Bounds:
    result = Bounds()
    for term in _conjuncts(node):
        if (
            not isinstance(term, Compare)
            or term.field.name != field_name
            or term.transform
            or term.cut
        ):
            continue
        if term.op in ("eq", "gt", "ge") and (result.lo is None or term.value >= result.lo):
            inclusive = term.op != "gt"
            if result.lo is not None and term.value == result.lo:
                inclusive = inclusive and result.lo_inclusive
            result = Bounds(term.value, inclusive, result.hi, result.hi_inclusive)
        if term.op in ("eq", "lt", "le") and (result.hi is None or term.value <= result.hi):
            inclusive = term.op != "lt"
            if result.hi is not None and term.value == result.hi:
                inclusive = inclusive and result.hi_inclusive
            result = Bounds(result.lo, result.lo_inclusive, term.value, inclusive)
    return result


def _conjuncts(node: Node | None) -> list[Node]:
    if node is None:
        return []
    if isinstance(node, BoolOp) and node.op == "and":
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]
