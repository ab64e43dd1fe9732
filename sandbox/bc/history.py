"""The company's ledger history: millions of balanced G/L entries that are never all in memory.

Entries are laid out, deterministically from the seed and ``--scale``, as *chunks*: chunk ``c``
holds entries ``start(c) .. start(c+1)-1`` (entry number = index + 1), all posted on one day,
days increasing with ``c`` across the 24 periods. A chunk is generated on demand from its own
seeded random generator, as whole balanced documents (debits = credits, 2 to 6 lines), so any
page of entries costs only the chunks it touches. Everything a filter needs to *skip* entries
(posting date, entry number, ``lastModifiedDateTime``, SystemId) is a pure function of the index,
which makes ``$filter=postingDate ge ... and postingDate le ...`` a binary search, not a scan.

SystemIds encode the index (``<permuted index>-<seed-specific tail>``, like the sequential GUIDs
SQL Server hands out), so a ``$skiptoken`` or ``generalLedgerEntries({id})`` finds its entry
without an index table. A handful of early documents use the account and the cost center that
were blocked later: history from before the blocking, which a connector must still load.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sandbox.bc.encoding import sql_datetime_ms
from sandbox.masterdata import FIRST_PERIOD, LAST_PERIOD, Account, DimensionValue, MasterData

FIRST_DAY = date(*FIRST_PERIOD, 1)
LAST_DAY = (
    date(LAST_PERIOD[0] + 1, 1, 1) - timedelta(days=1)
    if LAST_PERIOD[1] == 12
    else (date(LAST_PERIOD[0], LAST_PERIOD[1] + 1, 1) - timedelta(days=1))
)
DAYS = (LAST_DAY - FIRST_DAY).days + 1
BLOCKING_DAY = date(2025, 3, 1)  # the closed account and cost center were blocked on this day
_MASK32 = 0xFFFFFFFF
_PERMUTE_A = 0x9E3779B1  # odd, so multiplication is a bijection modulo 2**32
_PERMUTE_A_INV = pow(_PERMUTE_A, -1, 1 << 32)
_DOCUMENT_SIZES = (2, 2, 2, 3, 3, 4, 5, 6)
_CACHED_CHUNKS = 96

# One generated entry: (document number, document type, account index, description,
# amount in cents (+ debit, - credit), dimension value indexes (department, cost center,
# product line or -1)).
Entry = tuple[str, str, int, str, int, tuple[int, int, int]]


@dataclass(frozen=True)
class Template:
    """A kind of business document: many lines on one side, one balancing line on the other."""

    prefix: str
    document_type: str
    label: str
    weight: int
    many: tuple[int, ...]  # account indexes for the "many" side
    one: tuple[int, ...]  # account indexes for the balancing line
    many_are_debits: bool
    amount_cents: tuple[int, int]
    departments: tuple[str, ...]  # cost centers are drawn from these departments; () = any


class Chart:
    """Master data flattened into indexes, so generated entries are small tuples of ints."""

    def __init__(self, data: MasterData) -> None:
        self.accounts: list[Account] = list(data.posting_accounts)
        self.values: list[DimensionValue] = [v for d in data.dimensions for v in d.values]
        index = {a.name: i for i, a in enumerate(self.accounts)}
        self.account_index = index
        self.value_index = {(v.dimension_code, v.code): i for i, v in enumerate(self.values)}

        def subs(*names: str) -> tuple[int, ...]:
            return tuple(
                i for i, a in enumerate(self.accounts) if a.sub_category in names and not a.blocked
            )

        def named(*names: str) -> tuple[int, ...]:
            return tuple(index[n] for n in names)

        cost_centers = [v for v in self.values if v.dimension_code == "COSTCENTER"]
        self.cost_centers_by_department: dict[str, tuple[int, ...]] = {}
        for cc in cost_centers:
            if not cc.blocked:
                key = cc.parent_code
                self.cost_centers_by_department.setdefault(key, ())
                self.cost_centers_by_department[key] += (self.value_index[("COSTCENTER", cc.code)],)
        self.all_cost_centers = tuple(
            i for group in self.cost_centers_by_department.values() for i in group
        )
        self.department_of = {
            self.value_index[("COSTCENTER", cc.code)]: self.value_index[
                ("DEPARTMENT", cc.parent_code)
            ]
            for cc in cost_centers
        }
        self.product_lines = tuple(
            i for i, v in enumerate(self.values) if v.dimension_code == "PRODUCTLINE"
        )
        self.blocked_cost_center = next(
            self.value_index[("COSTCENTER", cc.code)] for cc in cost_centers if cc.blocked
        )
        self.blocked_accounts = tuple(i for i, a in enumerate(self.accounts) if a.blocked)
        self.needs_product_line = tuple(
            a.category in ("Income", "Cost of Goods Sold") for a in self.accounts
        )
        revenue = subs("Product Sales", "Service Revenue")
        receivables, payables = named("Trade Receivables"), named("Trade Payables")
        bank = named("Operating Bank Account")
        self.bank = bank[0]
        self.templates = (
            Template(
                "SI",
                "Invoice",
                "Sales Invoice",
                22,
                revenue,
                receivables,
                False,
                (200_00, 25_000_00),
                ("SALES",),
            ),
            Template(
                "SCM",
                "Credit Memo",
                "Sales Credit Memo",
                2,
                revenue,
                receivables,
                True,
                (50_00, 3_000_00),
                ("SALES",),
            ),
            Template(
                "SHIP",
                " ",
                "Shipment",
                16,
                subs("Materials"),
                named("Finished Goods"),
                True,
                (100_00, 15_000_00),
                ("PROD",),
            ),
            Template(
                "PI",
                "Invoice",
                "Purchase Invoice",
                20,
                subs(
                    "Facilities",
                    "Sales and Marketing",
                    "Travel",
                    "IT and Communication",
                    "Administration",
                    "Research and Development",
                ),
                payables,
                True,
                (20_00, 8_000_00),
                (),
            ),
            Template(
                "PI",
                "Invoice",
                "Purchase Invoice",
                10,
                subs("Manufacturing Overhead"),
                payables,
                True,
                (50_00, 12_000_00),
                ("PROD", "LOGISTICS", "PURCHASE"),
            ),
            Template(
                "PAY",
                " ",
                "Payroll",
                14,
                subs("Personnel", "Direct Labour"),
                named("Payroll Bank Account"),
                True,
                (1_500_00, 9_000_00),
                (),
            ),
            Template(
                "PMT",
                "Payment",
                "Vendor Payment",
                8,
                payables,
                bank,
                True,
                (500_00, 30_000_00),
                ("FINANCE",),
            ),
            Template(
                "RCPT",
                "Payment",
                "Customer Payment",
                8,
                receivables,
                bank,
                False,
                (500_00, 40_000_00),
                ("FINANCE",),
            ),
            Template(
                "DEP",
                " ",
                "Depreciation",
                3,
                subs("Depreciation"),
                named(
                    "Accumulated Depreciation Machinery",
                    "Accumulated Depreciation Buildings",
                    "Accumulated Depreciation IT Hardware",
                ),
                True,
                (300_00, 6_000_00),
                ("FINANCE",),
            ),
            Template(
                "BANK",
                " ",
                "Bank Charges",
                2,
                named("Interest Expense", "Bank Charges"),
                bank,
                True,
                (5_00, 900_00),
                ("FINANCE",),
            ),
        )
        self.template_weights = tuple(t.weight for t in self.templates)
        self.sales_invoice, self.purchase_invoice = self.templates[0], self.templates[3]
        self.blocked_revenue = next(i for i in self.blocked_accounts if self.needs_product_line[i])
        self.blocked_balance = next(
            i for i in self.blocked_accounts if not self.needs_product_line[i]
        )


class History:
    """The lazily generated ledger history of ``entries`` G/L entries."""

    def __init__(self, data: MasterData, seed: int, entries: int, horizon_s: float) -> None:
        self.chart = Chart(data)
        self.seed = seed
        self.count = entries if entries >= 2 else 0  # one line alone cannot balance
        self.chunks = min(DAYS, self.count // 2)
        tail_rng = random.Random(f"gl-systemid:{seed}")
        tail = f"{tail_rng.getrandbits(48):012x}"
        self.id_tail = f"-{tail_rng.getrandbits(16):04x}-ee11-8f6e-{tail}"
        self._cache: OrderedDict[int, list[Entry]] = OrderedDict()
        self._compress_from_ms = 0
        self._compress_ratio = 1.0
        self._set_horizon(horizon_s)

    # --- layout: pure functions of the index -------------------------------------------------
    def start(self, chunk: int) -> int:
        return chunk * self.count // self.chunks if self.chunks else 0

    def chunk_of(self, index: int) -> int:
        return ((index + 1) * self.chunks - 1) // self.count

    def day_of_chunk(self, chunk: int) -> date:
        return FIRST_DAY + timedelta(days=chunk * DAYS // self.chunks)

    def first_chunk_on_or_after(self, day: date) -> int:
        """Smallest chunk whose posting day is ``>= day`` (``self.chunks`` if none)."""
        lo, hi = 0, self.chunks
        while lo < hi:
            mid = (lo + hi) // 2
            if self.day_of_chunk(mid) < day:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def system_id(self, index: int) -> str:
        return f"{(index * _PERMUTE_A + 0x5BD1E995) & _MASK32:08x}{self.id_tail}"

    def index_of(self, system_id: str) -> int | None:
        text = system_id.lower()
        if len(text) != 36 or text[8:] != self.id_tail:
            return None
        try:
            permuted = int(text[:8], 16)
        except ValueError:
            return None
        index = ((permuted - 0x5BD1E995) * _PERMUTE_A_INV) & _MASK32
        return index if index < self.count else None

    def _natural_ms(self, index: int) -> int:
        """When the entry was posted: the morning after its posting date, in entry order."""
        chunk = self.chunk_of(index)
        start, end = self.start(chunk), self.start(chunk + 1)
        base, span = self.chunk_clock(chunk)
        return base + (index - start) * span // (end - start)

    def _set_horizon(self, horizon_s: float) -> None:
        """Entries dated after the sandbox start must still read as posted *before* it."""
        if not self.count:
            return
        latest = self._natural_ms(self.count - 1)
        horizon_ms = int(horizon_s * 1000)
        if latest > horizon_ms:
            self._compress_from_ms = horizon_ms - 45 * 86_400_000
            self._compress_ratio = (horizon_ms - self._compress_from_ms) / (
                latest - self._compress_from_ms
            )

    def last_modified_ms(self, index: int) -> int:
        return self.stored_ms(self._natural_ms(index))

    def stored_ms(self, natural: int) -> int:
        """A natural posting time squeezed before the horizon, at SQL ``datetime`` precision."""
        if self._compress_ratio < 1.0 and natural > self._compress_from_ms:
            natural = self._compress_from_ms + int(
                (natural - self._compress_from_ms) * self._compress_ratio
            )
        return sql_datetime_ms(natural / 1000)

    def chunk_clock(self, chunk: int) -> tuple[int, int]:
        """(natural posting time of the chunk's first entry, ms between its entries * length):
        entry ``start + k`` was posted at ``base + k * span // length``."""
        day = self.day_of_chunk(chunk) + timedelta(days=1)
        base = int(datetime(day.year, day.month, day.day, 6, tzinfo=UTC).timestamp() * 1000)
        return base, 12 * 3600 * 1000

    def first_index_modified_after(self, epoch_ms: int, inclusive: bool) -> int:
        lo, hi = 0, self.count
        while lo < hi:
            mid = (lo + hi) // 2
            value = self.last_modified_ms(mid)
            if value < epoch_ms or (value == epoch_ms and not inclusive):
                lo = mid + 1
            else:
                hi = mid
        return lo

    # --- content: generated per chunk --------------------------------------------------------
    def chunk(self, chunk: int) -> list[Entry]:
        cached = self._cache.get(chunk)
        if cached is not None:
            self._cache.move_to_end(chunk)
            return cached
        entries = self.generate(chunk)
        self._cache[chunk] = entries
        if len(self._cache) > _CACHED_CHUNKS:
            self._cache.popitem(last=False)
        return entries

    def generate(self, chunk: int) -> list[Entry]:
        chart = self.chart
        rng = random.Random(self.seed * 1_000_003 + chunk)
        remaining = self.start(chunk + 1) - self.start(chunk)
        day = self.day_of_chunk(chunk)
        out: list[Entry] = []
        number = 0
        if day < BLOCKING_DAY:
            special = chunk % 5
            if special in (0, 2, 4):
                size = 2 if remaining in (2, 4) else 3  # never leave a lone line
                out.extend(self._pre_blocking_document(rng, chunk, special, size))
                remaining -= size
                number += 1
        while remaining:
            size = rng.choice(_DOCUMENT_SIZES)
            if size > remaining or remaining - size == 1:
                size = remaining if remaining <= 6 else 2
            template = rng.choices(chart.templates, chart.template_weights)[0]
            out.extend(
                self.document(rng, template, f"{template.prefix}{chunk:04d}{number:04d}", size)
            )
            remaining -= size
            number += 1
        return out

    def _cost_center(self, rng: random.Random, template: Template) -> int:
        chart = self.chart
        if not template.departments:
            return rng.choice(chart.all_cost_centers)
        department = rng.choice(template.departments)
        return rng.choice(chart.cost_centers_by_department[department])

    def document(
        self,
        rng: random.Random,
        template: Template,
        number: str,
        size: int,
        cost_center: int | None = None,
        first_account: int | None = None,
    ) -> list[Entry]:
        chart = self.chart
        description = f"{template.label} {number}"
        lo, hi = template.amount_cents
        sign = 1 if template.many_are_debits else -1
        lines: list[Entry] = []
        total = 0
        for line in range(size - 1):
            account = rng.choice(template.many) if first_account is None or line else first_account
            cc = cost_center if cost_center is not None else self._cost_center(rng, template)
            amount = lo + int((hi - lo) * rng.random() ** 2)
            product = rng.choice(chart.product_lines) if chart.needs_product_line[account] else -1
            lines.append(
                (
                    number,
                    template.document_type,
                    account,
                    description,
                    sign * amount,
                    (chart.department_of[cc], cc, product),
                )
            )
            total += amount
        account = rng.choice(template.one)
        cc = lines[0][5][1]
        product = rng.choice(chart.product_lines) if chart.needs_product_line[account] else -1
        lines.append(
            (
                number,
                template.document_type,
                account,
                description,
                -sign * total,
                (chart.department_of[cc], cc, product),
            )
        )
        return lines

    def _pre_blocking_document(
        self, rng: random.Random, chunk: int, special: int, size: int
    ) -> list[Entry]:
        chart = self.chart
        number = f"HIST{chunk:04d}"
        if special == 0:  # an expense booked on the cost center that was closed later
            template = chart.purchase_invoice
            return self.document(rng, template, number, size, cost_center=chart.blocked_cost_center)
        if special == 2:  # revenue on the product account that was discontinued later
            template = chart.sales_invoice
            return self.document(rng, template, number, size, first_account=chart.blocked_revenue)
        transfer = Template(
            "HIST",
            " ",
            "Transfer to Savings",
            0,
            (chart.blocked_balance,),
            (chart.bank,),
            True,
            (1_000_00, 20_000_00),
            ("FINANCE",),
        )
        return self.document(rng, transfer, number, size)
