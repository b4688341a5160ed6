"""Values between Python and fs: timestamps, CSV cells, JSON values.

fs reads timestamps as RFC 3339 (offsets and fractional seconds allowed),
`YYYY-MM-DD HH:MM:SS` (UTC) or integer Unix seconds, and writes an empty
CSV cell for null. This module turns Python values (plain ones, and the
numpy/pandas scalars a DataFrame holds, without importing either) into
those texts, and fs's timestamps back into timezone-aware datetimes.
"""

import collections.abc
import datetime as _dt
import math
import numbers
import re

UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=UTC)

_TS_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?)?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?")
_INT_RE = re.compile(r"[+-]?\d+")


def is_null(v):
    """None, NaN, pandas' NaT and NA."""
    if v is None:
        return True
    if isinstance(v, (str, bytes, bool)):
        return False
    try:
        return bool(v != v)
    except (TypeError, ValueError):  # pandas.NA refuses bool()
        return type(v).__name__ in ("NAType", "NaTType")


def _is_bool(v):
    return isinstance(v, bool) or type(v).__name__ in ("bool_", "bool8")


def parse_timestamp(s):
    """A timestamp as fs writes or reads it -> an aware datetime in UTC.

    None stays None. Digits past microseconds are dropped (datetime's
    resolution). A text fs would not accept raises ValueError.
    """
    if s is None:
        return None
    if isinstance(s, _dt.datetime):
        return s.replace(tzinfo=UTC) if s.tzinfo is None else s.astimezone(UTC)
    if isinstance(s, numbers.Real) and not _is_bool(s):
        return _EPOCH + _dt.timedelta(seconds=float(s))
    text = str(s).strip()
    if _INT_RE.fullmatch(text):
        return _EPOCH + _dt.timedelta(seconds=int(text))
    m = _TS_RE.fullmatch(text)
    if not m:
        raise ValueError("not a timestamp: %r" % (s,))
    y, mo, d, hh, mm, ss, frac, z, sign, oh, om = m.groups()
    if hh is None and (z or sign):
        raise ValueError("not a timestamp: %r" % (s,))
    micro = int((frac or "0")[:6].ljust(6, "0"))
    t = _dt.datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0),
                     micro, tzinfo=UTC)
    if sign:
        off = _dt.timedelta(hours=int(oh), minutes=int(om))
        t = t - off if sign == "+" else t + off
    return t


def format_timestamp(v):
    """A datetime (naive = UTC, as Feast takes it), date or pandas Timestamp
    -> RFC 3339 in UTC: 2024-05-01T10:00:00Z, with the fraction when there
    is one."""
    if isinstance(v, _dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(UTC)
        text = "%04d-%02d-%02dT%02d:%02d:%02d" % (v.year, v.month, v.day,
                                                  v.hour, v.minute, v.second)
        nano = getattr(v, "nanosecond", 0) or 0
        if nano:
            text += ".%06d%03d" % (v.microsecond, nano)
        elif v.microsecond:
            text += ".%06d" % v.microsecond
        return text + "Z"
    if isinstance(v, _dt.date):
        return "%04d-%02d-%02dT00:00:00Z" % (v.year, v.month, v.day)
    raise TypeError("not a datetime: %r" % (v,))


def _datetime64(v):
    """numpy.datetime64 -> pandas Timestamp (numpy's own repr is not RFC 3339)."""
    import pandas as pd  # a numpy datetime64 comes from a DataFrame or numpy itself
    return pd.Timestamp(v)


def to_cell(v):
    """One value -> its CSV text for fs ('' is null)."""
    if is_null(v):
        return ""
    if _is_bool(v):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real):
        f = float(v)
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        # a float that holds an integer (an int column with a null in
        # pandas is float64) is written as one, so int64 keys parse
        return str(int(f)) if f.is_integer() else repr(f)
    if isinstance(v, (_dt.datetime, _dt.date)):
        return format_timestamp(v)
    if type(v).__name__ == "datetime64":
        return format_timestamp(_datetime64(v))
    if isinstance(v, bytes):
        return v.decode("utf-8")
    return str(v)


def to_json_value(v):
    """One value -> a JSON-ready Python value for serve-lite."""
    if is_null(v):
        return None
    if _is_bool(v):
        return bool(v)
    if isinstance(v, str):
        return v
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        return float(v)
    if isinstance(v, (_dt.datetime, _dt.date)):
        return format_timestamp(v)
    if type(v).__name__ == "datetime64":
        return format_timestamp(_datetime64(v))
    if isinstance(v, bytes):
        return v.decode("utf-8")
    return str(v)


def is_dataframe(obj):
    """A pandas DataFrame, recognised without importing pandas."""
    return hasattr(obj, "columns") and hasattr(obj, "itertuples") and hasattr(obj, "dtypes")


def table_of(data, what):
    """A DataFrame, a list of row dicts or a dict of columns -> (columns, rows)
    with rows as lists of values. Keys missing from a row dict are null."""
    if is_dataframe(data):
        columns = [str(c) for c in data.columns]
        return columns, [list(r) for r in data.itertuples(index=False, name=None)]
    if isinstance(data, collections.abc.Mapping):
        columns, cols = [str(c) for c in data], []
        for c, v in data.items():
            if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
                raise TypeError("%s: column %r: expected a list of values" % (what, c))
            cols.append(list(v))
        if len({len(c) for c in cols}) > 1:
            raise ValueError("%s: the columns have different lengths" % what)
        return columns, [list(r) for r in zip(*cols)]
    if isinstance(data, (list, tuple)):
        columns, seen = [], set()
        for row in data:
            if not isinstance(row, dict):
                raise TypeError("%s: expected a list of dicts, got a %s in it"
                                % (what, type(row).__name__))
            for k in row:
                if k not in seen:
                    seen.add(k)
                    columns.append(k)
        return [str(c) for c in columns], [[row.get(c) for c in columns] for row in data]
    raise TypeError("%s: expected a pandas DataFrame, a list of dicts or a dict of lists, "
                    "not %s" % (what, type(data).__name__))


def to_csv(columns, rows):
    """A header and rows -> CSV text in fs's dialect (RFC 4180, \\n)."""
    import csv
    import io
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        w.writerow([to_cell(v) for v in row])
    return out.getvalue()
