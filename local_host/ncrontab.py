"""Six-field NCRONTAB schedules, as the Functions timer trigger reads them.

``{second} {minute} {hour} {day} {month} {day-of-week}``: each field is ``*``, a number, a range
``a-b``, a step ``*/n`` or ``a-b/n``, or a comma list of those; months and weekdays also accept
three-letter English names; Sunday is 0. Both day fields must match (as in NCrontab).
"""

from __future__ import annotations

from datetime import datetime, timedelta

_BOUNDS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_NAMES = {
    4: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
    5: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
}


class CronSchedule:
    def __init__(self, expression: str) -> None:
        fields = expression.split()
        if len(fields) != 6:
            raise ValueError(
                f"NCRONTAB schedule {expression!r} needs six fields "
                "(second minute hour day month day-of-week)"
            )
        self.expression = expression
        self.sets = [_parse(text, index) for index, text in enumerate(fields)]

    def next_after(self, moment: datetime) -> datetime:
        """The first matching second strictly after ``moment`` (wall-clock, same tzinfo)."""
        seconds, minutes, hours, days, months, weekdays = self.sets
        t = moment.replace(microsecond=0) + timedelta(seconds=1)
        limit = moment + timedelta(days=366 * 5)
        while t < limit:
            if t.month not in months:
                t = _month_start(t)
            elif t.day not in days or (t.weekday() + 1) % 7 not in weekdays:
                t = (t + timedelta(days=1)).replace(hour=0, minute=0, second=0)
            elif t.hour not in hours:
                t = (t + timedelta(hours=1)).replace(minute=0, second=0)
            elif t.minute not in minutes:
                t = (t + timedelta(minutes=1)).replace(second=0)
            elif t.second not in seconds:
                t += timedelta(seconds=1)
            else:
                return t
        raise ValueError(f"NCRONTAB schedule {self.expression!r} never fires")


def _month_start(t: datetime) -> datetime:
    year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return t.replace(year=year, month=month, day=1, hour=0, minute=0, second=0)


def _parse(text: str, index: int) -> frozenset[int]:
    low, high = _BOUNDS[index]
    values: set[int] = set()
    for part in text.lower().split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            start, end = low, high
        elif "-" in span:
            first, last = span.split("-", 1)
            start, end = _value(first, index), _value(last, index)
        else:
            start = _value(span, index)
            end = high if step_text else start
        if not (low <= start <= end <= high) or step < 1:
            raise ValueError(f"NCRONTAB field {text!r} is out of range {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _value(text: str, index: int) -> int:
    names = _NAMES.get(index, [])
    if text in names:
        return names.index(text) + (1 if index == 4 else 0)
    if not text.isdigit():
        raise ValueError(f"NCRONTAB value {text!r} is not a number")
    return int(text)
