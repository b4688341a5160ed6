#!/usr/bin/env python3
"""Brute-force reference for `fs get-historical` (point-in-time joins).

Deliberately simple and independent of fs: the Python standard library
only, every entity row compared with every source row, timestamps parsed
here. The tests compare fs's output with this one's byte for byte.

    pit_reference.py SPEC.json ENTITIES.csv > expected.csv

SPEC.json describes what fs reads from its registry:

    {
      "timestamp_column": "event_timestamp",      (optional)
      "full_feature_names": false,                (optional)
      "views": {
        "driver_stats": {
          "join_keys": [{"name": "driver_id", "type": "int64"}],
          "source": "data/driver.csv",            (a CSV file)
          "timestamp_field": "event_timestamp",
          "created_timestamp_field": "created",   (or null / absent)
          "ttl": 3600,                            (seconds; 0 = no limit)
          "field_mapping": {"conv": "conv_rate"}, (source column -> feature)
          "features": [{"name": "conv_rate", "type": "float64"}, ...]
        }
      },
      "columns": [["driver_stats", "conv_rate"], ...]   (output order)
    }

Semantics: for each entity row and each view, among the source rows whose
join keys equal the row's (a null key matches nothing) and whose timestamp
ts satisfies row_ts - ttl <= ts <= row_ts (no lower bound when ttl is 0),
take the one with the greatest ts, then the greatest created timestamp (null
first), then the last in file order. None: empty cell.

Output: the entity header and rows as read, then one column per requested
feature (`feature`, or `view__feature`). Integers, booleans and timestamps
are written canonically, floats and strings as in the source; null is empty.
"""

import csv
import datetime
import json
import re
import sys

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))?$"
)
UNIX = re.compile(r"^-?\d+$")
INT = re.compile(r"^[+-]?\d+$")


def parse_time(text):
    """Microseconds since the epoch, or raise ValueError."""
    if UNIX.match(text):
        return int(text) * 1000000
    m = RFC3339.match(text)
    if not m:
        raise ValueError("bad timestamp %r" % text)
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    offset = 0
    if m.group(9):
        offset = (int(m.group(10)) * 60 + int(m.group(11))) * 60
        if m.group(9) == "-":
            offset = -offset
    when = datetime.datetime(year, month, day, hour, minute, second,
                             tzinfo=datetime.timezone.utc)
    seconds = (when - EPOCH) // datetime.timedelta(seconds=1) - offset
    micros = int((m.group(7) or "")[:6].ljust(6, "0"))
    return seconds * 1000000 + micros


def format_time(micros):
    when = EPOCH + datetime.timedelta(microseconds=micros)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if when.microsecond:
        text += "." + ("%06d" % when.microsecond).rstrip("0")
    return text + "Z"


def check_int(text, bits):
    if not INT.match(text):
        raise ValueError("%r is not an int%d" % (text, bits))
    value = int(text)
    if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
        raise ValueError("%r does not fit int%d" % (text, bits))
    return value


def format_value(kind, text):
    """The output cell for a non-null source value of type kind."""
    if kind == "int32":
        return str(check_int(text, 32))
    if kind == "int64":
        return str(check_int(text, 64))
    if kind == "bool":
        if text in ("true", "True", "TRUE", "1"):
            return "true"
        if text in ("false", "False", "FALSE", "0"):
            return "false"
        raise ValueError("%r is not a bool" % text)
    if kind == "timestamp":
        return format_time(parse_time(text))
    if kind in ("float32", "float64"):
        float(text)  # must be a number
        return text
    return text  # string


def key_part(kind, text):
    """A comparable join key part, or None for null."""
    if text == "":
        return None
    if kind == "int64":
        return check_int(text, 64)
    return text


def quote(text):
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def read_csv(path):
    csv.field_size_limit(1 << 30)  # fields of megabytes are tested too
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    rows = [r for r in rows if r != []]  # blank lines are skipped
    return rows[0], rows[1:]


def source_column(view, name):
    for column, feature in (view.get("field_mapping") or {}).items():
        if feature == name:
            return column
    return name


def best_row(view, header, rows, entity_key, row_ts):
    """The index of the chosen source row, or None."""
    ts_col = header.index(view["timestamp_field"])
    created_field = view.get("created_timestamp_field")
    cr_col = header.index(created_field) if created_field else None
    key_cols = [header.index(source_column(view, k["name"])) for k in view["join_keys"]]
    ttl = view["ttl"] * 1000000
    best, best_rank = None, None
    for index, row in enumerate(rows):
        key = [key_part(k["type"], row[c]) for k, c in zip(view["join_keys"], key_cols)]
        if None in key or key != entity_key:
            continue
        ts = parse_time(row[ts_col])
        if ts > row_ts:
            continue
        if ttl and ts < row_ts - ttl:
            continue
        created = None
        if cr_col is not None and row[cr_col] != "":
            created = parse_time(row[cr_col])
        # null created sorts first; later rows win ties
        rank = (ts, created is not None, created or 0, index)
        if best_rank is None or rank > best_rank:
            best, best_rank = index, rank
    return best


def main():
    spec_path, entities_path = sys.argv[1], sys.argv[2]
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    ts_column = spec.get("timestamp_column", "event_timestamp")
    full = spec.get("full_feature_names", False)
    views = spec["views"]
    sources = {name: read_csv(v["source"]) for name, v in views.items()}

    e_header, e_rows = read_csv(entities_path)
    out = [e_header + [(v + "__" + f) if full else f for v, f in spec["columns"]]]
    ts_index = e_header.index(ts_column)
    for e_row in e_rows:
        row_ts = parse_time(e_row[ts_index])
        chosen = {}
        for name, view in views.items():
            key = [key_part(k["type"], e_row[e_header.index(k["name"])])
                   for k in view["join_keys"]]
            if None in key:
                chosen[name] = None
            else:
                chosen[name] = best_row(view, *sources[name], key, row_ts)
        cells = list(e_row)
        for vname, fname in spec["columns"]:
            view = views[vname]
            header, rows = sources[vname]
            index = chosen[vname]
            kind = next(f["type"] for f in view["features"] if f["name"] == fname)
            text = "" if index is None else rows[index][header.index(source_column(view, fname))]
            cells.append(format_value(kind, text) if text != "" else "")
        out.append(cells)
    sys.stdout.write("".join(",".join(quote(c) for c in r) + "\n" for r in out))


if __name__ == "__main__":
    main()
