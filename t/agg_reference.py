#!/usr/bin/env python3
"""Brute-force reference for windowed aggregations (t2004, t3007).

Deliberately simple and independent of fs's design: the Python standard
library only, no tiles. For every entity row it filters the events of the
row's key by the window and aggregates them, as DESIGN.md ("Windowed
aggregations") defines:

  * the value at time t: the events e of the key with
    floor(t, hop) - window <= e.ts < t, floor to a multiple of hop
    (epoch-aligned, microseconds); an event at exactly t is not included;
  * nulls (empty cells) are ignored, except by count without column;
  * empty: count, sum, approx_count_distinct 0, the others null;
  * var/stddev: sample (n - 1), null with fewer than two values;
  * first/last: the least/greatest (ts, created, value), a null created
    sorting before any present one;
  * approx_count_distinct: HyperLogLog, 2^14 registers, FNV-1a 64 then
    murmur3's fmix64 (mirrored bit for bit, see hll_estimate).

Subcommands:

  gen SEED DIR [--online]
        seeded random events, entity rows and definitions in DIR:
        features/agg.yaml, data/trades.csv, data/pairs.csv, rows.csv,
        spec.json (for expect) and args (the -f options, one a line).
        --online: simple keys (usable in -e), push sources in front of
        the csv sources, events within 2024-05-01..03, no plain view.
  expect SPEC ROWS.csv
        the expected `fs get-historical` CSV on stdout.
  compare SPEC ACTUAL.csv EXPECTED.csv
        exit 1 printing the first differences; floats of float results
        within 1e-9 relative (1e-9 absolute near 0), the rest exact.
  online SPEC VIEW --keys KEYS --reads READS [--batch-end T] [--pushed CSV]
         [--pushed-all CSV] [--historical HIST.csv] [--stats OUT.json]
        check `fs get-online --at T --json` answers: KEYS holds one -e
        argument a line; READS one "T<TAB>ACTUAL.json" a line. The events:
        the view's source rows with ts < batch end (all without
        --batch-end) and the rows of the pushed CSVs with ts >= batch
        end (--pushed-all: all its rows). With --historical (the get-historical output for KEYS x
        READS, rows in that order), the values must equal it too.
        --stats: how many answers were PRESENT and NOT_FOUND.
  keys SPEC VIEW    the -e arguments for every key of VIEW's source.
  gen-push SPEC SEED VIEW START END N NLATE
        N random events for `fs push` with START <= ts < END and NLATE
        late ones (before START), in the columns of VIEW's source.
  hist-rows SPEC VIEW KEYS READS
        get-historical entity rows for every read of READS x key of KEYS.
  unit              self-checks on hand-made examples.

SPEC.json:

    {"timestamp_column": "event_timestamp",
     "views": {"token_activity": {
         "join_keys": [{"name": "token", "type": "string"}],
         "source": "data/trades.csv", "timestamp_field": "ts",
         "created_timestamp_field": "created",       (or absent)
         "field_mapping": {"amt": "amount"},         (source column -> name)
         "aggregations": [{"name": "volume_30m", "function": "sum",
                           "column": "amount", "type": "int64",
                           "window": 1800, "hop": null}]}},   (seconds; null: default)
     "columns": [["token_activity", "volume_30m"], ...]}

Plain views ("features" and "ttl" instead of "aggregations") are answered
by pit_reference.py, so that a request may mix both.
"""

import csv
import datetime
import json
import math
import os
import random
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pit_reference as pit  # noqa: E402  (timestamps, plain views)

S = 10 ** 6
M64 = (1 << 64) - 1
INT_TYPES = ("int32", "int64")
FLOAT_TYPES = ("float32", "float64")
NUMERIC = INT_TYPES + FLOAT_TYPES
EPOCH_TEXT = "1970-01-01T00:00:00Z"

# ---------------------------------------------------------------- the model


def default_hop(window_s):
    for hop in (86400, 3600, 300, 60):
        if window_s % hop == 0 and window_s // hop >= 24:
            return hop
    return 1


def result_type(agg):
    fn, col, typ = agg["function"], agg.get("column"), agg.get("type") or "float64"
    if fn in ("count", "approx_count_distinct"):
        return "int64"
    if fn == "sum":
        return "int64" if typ in INT_TYPES else "float64"
    if fn in ("avg", "var", "stddev"):
        return "float64"
    return typ


def parse_value(typ, text):
    """A non-empty cell as a typed Python value (ValueError when bad)."""
    if typ == "int32":
        return pit.check_int(text, 32)
    if typ == "int64":
        return pit.check_int(text, 64)
    if typ in FLOAT_TYPES:
        v = float(text)
        if math.isnan(v) or math.isinf(v):
            raise ValueError("not a finite float: %r" % text)
        return v
    if typ == "bool":
        if text in ("true", "True", "TRUE", "1"):
            return True
        if text in ("false", "False", "FALSE", "0"):
            return False
        raise ValueError("%r is not a bool" % text)
    if typ == "timestamp":
        return pit.parse_time(text)
    return text


def order_key(typ, v):
    """Values compare as numbers, strings as their UTF-8 bytes."""
    if typ == "string":
        return v.encode("utf-8")
    return v


def value_bytes(typ, v):
    if typ in FLOAT_TYPES:
        if v == 0.0:
            v = 0.0  # -0.0 hashes as 0.0
        return struct.pack("<d", v)
    if typ == "string":
        return v.encode("utf-8")
    return struct.pack("<q", int(v))  # ints, bool 0/1, timestamps (us)


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & M64
    return h


def fmix64(h):
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & M64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & M64
    h ^= h >> 33
    return h


def value_hash(typ, v):
    return fmix64(fnv1a64(value_bytes(typ, v)))


def hll_estimate(hashes):
    """The estimate of approx_count_distinct over 64-bit hashes."""
    regs = {}
    for h in hashes:
        j = h >> 50
        w = h & ((1 << 50) - 1)
        rank = 51 if w == 0 else 50 - w.bit_length() + 1
        if rank > regs.get(j, 0):
            regs[j] = rank
    if not hashes:
        return 0
    m = 16384
    nz = [r for r in regs.values() if r > 0]
    s = (m - len(nz)) * (1 << 51) + sum(1 << (51 - r) for r in nz)
    z = float(s) / float(1 << 51)
    mf = 16384.0
    alpha = 0.7213 / (1 + 1.079 / mf)
    e = alpha * mf * mf / z
    v = m - len(nz)
    if e <= 2.5 * mf and v > 0:
        e = mf * math.log(mf / v)
    return int(math.floor(e + 0.5))


def exact_var(values):
    """Sample variance of floats/ints, computed exactly then rounded once."""
    from fractions import Fraction

    fr = [Fraction(v) for v in values]
    n = len(fr)
    mean = sum(fr) / n
    return float(sum((x - mean) ** 2 for x in fr) / (n - 1))


def aggregate(agg, events):
    """events: [(ts, created or None, value or None)] in the window.

    Returns the typed result, or None for null."""
    fn, typ = agg["function"], agg.get("type") or "float64"
    has_col = agg.get("column") is not None
    vals = [e for e in events if e[2] is not None]
    if fn == "count":
        return len(vals) if has_col else len(events)
    if fn == "sum":
        if typ in INT_TYPES:
            return sum(e[2] for e in vals)
        return math.fsum(e[2] for e in vals)
    if fn == "approx_count_distinct":
        return hll_estimate([value_hash(typ, e[2]) for e in vals])
    if not vals:
        return None
    xs = [e[2] for e in vals]
    if fn == "avg":
        if typ in INT_TYPES:
            from fractions import Fraction
            return float(Fraction(sum(xs), len(xs)))
        return math.fsum(xs) / len(xs)
    if fn in ("var", "stddev"):
        if len(xs) < 2:
            return None
        var = exact_var(xs)
        return var if fn == "var" else math.sqrt(var)
    if fn == "min":
        return min(xs, key=lambda v: order_key(typ, v))
    if fn == "max":
        return max(xs, key=lambda v: order_key(typ, v))
    # first / last: (ts, created with null first, value)
    def rank(e):
        cr = (0, 0) if e[1] is None else (1, e[1])
        return (e[0], cr, order_key(typ, e[2]))
    if fn == "first":
        return min(vals, key=rank)[2]
    if fn == "last":
        return max(vals, key=rank)[2]
    raise ValueError("unknown function %r" % fn)


def window_events(agg, events, t):
    """The events (sorted by ts) in the window of agg at time t."""
    w = agg["window"] * S
    hop = (agg.get("hop") or default_hop(agg["window"])) * S
    lo = (t // hop) * hop - w
    return [e for e in events if lo <= e[0] < t]


# ---------------------------------------------------------------- events


def source_column(view, name):
    for column, feature in (view.get("field_mapping") or {}).items():
        if feature == name:
            return column
    return name


def key_of(view, cells):
    """A tuple of typed key parts, or None when a part is empty."""
    parts = []
    for k, text in zip(view["join_keys"], cells):
        if text == "":
            return None
        parts.append(pit.check_int(text, 64) if k["type"] == "int64" else text)
    return tuple(parts)


def load_events(view, paths, keep=None):
    """{key: [(ts, created, {agg name: value})]} from CSV files.

    keep(ts) filters by event time (paths: [(path, keep)] when given per file)."""
    by_key = {}
    for path, keep in paths:
        header, rows = pit.read_csv(path)
        col = {name: i for i, name in enumerate(header)}
        kcols = [col[source_column(view, k["name"])] for k in view["join_keys"]]
        tcol = col[view["timestamp_field"]]
        cfield = view.get("created_timestamp_field")
        ccol = col.get(cfield) if cfield else None
        for row in rows:
            key = key_of(view, [row[c] for c in kcols])
            if key is None:
                continue
            ts = pit.parse_time(row[tcol])
            if keep is not None and not keep(ts):
                continue
            created = None
            if ccol is not None and row[ccol] != "":
                created = pit.parse_time(row[ccol])
            values = {}
            for a in view["aggregations"]:
                if a.get("column") is None:
                    continue
                text = row[col[source_column(view, a["column"])]]
                values[a["name"]] = None if text == "" else parse_value(a.get("type") or "float64", text)
            by_key.setdefault(key, []).append((ts, created, values))
    for evs in by_key.values():
        evs.sort(key=lambda e: e[0])
    return by_key


def agg_at(view, agg, evs, t):
    """(value, newest event ts in the window or None) of agg at t."""
    inwin = window_events(agg, evs, t)
    triples = [(ts, cr, vals.get(agg["name"])) for ts, cr, vals in inwin]
    newest = max((e[0] for e in inwin), default=None)
    return aggregate(agg, triples), newest


# ---------------------------------------------------------------- output


def format_float(v):
    r = repr(v)
    return r[:-2] if r.endswith(".0") else r


def format_result(typ, v):
    if v is None:
        return ""
    if typ in FLOAT_TYPES:
        return format_float(float(v))
    if typ == "bool":
        return "true" if v else "false"
    if typ == "timestamp":
        return pit.format_time(v)
    return str(v)


def find_agg(view, name):
    for a in view.get("aggregations", []):
        if a["name"] == name:
            return a
    return None


def expect(spec, rows_path):
    views = spec["views"]
    ts_column = spec.get("timestamp_column", "event_timestamp")
    events = {}
    sources = {}
    for name, view in views.items():
        if "aggregations" in view:
            events[name] = load_events(view, [(view["source"], None)])
        else:
            sources[name] = pit.read_csv(view["source"])
    e_header, e_rows = pit.read_csv(rows_path)
    ts_index = e_header.index(ts_column)
    out = [e_header + [f for _, f in spec["columns"]]]
    for e_row in e_rows:
        t = pit.parse_time(e_row[ts_index])
        cells = list(e_row)
        keys = {}
        for name, view in views.items():
            keys[name] = key_of(view, [e_row[e_header.index(k["name"])] for k in view["join_keys"]])
        for vname, fname in spec["columns"]:
            view = views[vname]
            key = keys[vname]
            if "aggregations" not in view:
                idx = None if key is None else pit.best_row(view, *sources[vname], list(key), t)
                header, rows = sources[vname]
                kind = next(f["type"] for f in view["features"] if f["name"] == fname)
                text = "" if idx is None else rows[idx][header.index(pit.source_column(view, fname))]
                cells.append(pit.format_value(kind, text) if text != "" else "")
                continue
            agg = find_agg(view, fname)
            evs = events[vname].get(key, []) if key is not None else []
            value, _ = agg_at(view, agg, evs, t)
            cells.append(format_result(result_type(agg), value))
        out.append(cells)
    return "".join(",".join(pit.quote(c) for c in r) + "\n" for r in out)


# ---------------------------------------------------------------- compare


def close(a, b):
    if a == b:
        return True
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b)) or abs(a - b) <= 1e-9


def cell_equal(typ, actual, expected):
    if typ in FLOAT_TYPES and actual != "" and expected != "":
        try:
            return close(float(actual), float(expected))
        except ValueError:
            return False
    return actual == expected


def column_types(spec):
    types = []
    for vname, fname in spec["columns"]:
        view = spec["views"][vname]
        agg = find_agg(view, fname)
        if agg is not None:
            types.append(result_type(agg))
        else:
            types.append(next(f["type"] for f in view["features"] if f["name"] == fname))
    return types


def compare(spec, actual_path, expected_path):
    a_header, a_rows = pit.read_csv(actual_path)
    e_header, e_rows = pit.read_csv(expected_path)
    problems = []
    if a_header != e_header:
        problems.append("header: got %s, expected %s" % (a_header, e_header))
    if len(a_rows) != len(e_rows):
        problems.append("rows: got %d, expected %d" % (len(a_rows), len(e_rows)))
    types = column_types(spec)
    nin = len(e_header) - len(types)
    for i, (ar, er) in enumerate(zip(a_rows, e_rows)):
        if len(ar) != len(er):
            problems.append("line %d: %d cells, expected %d" % (i + 2, len(ar), len(er)))
            continue
        for j, (ac, ec) in enumerate(zip(ar, er)):
            typ = types[j - nin] if j >= nin else "string"
            if not cell_equal(typ, ac, ec):
                problems.append("line %d (%s) column %s: got %r, expected %r"
                                % (i + 2, ",".join(er[:nin]), e_header[j], ac, ec))
    for p in problems[:25]:
        print(p)
    if len(problems) > 25:
        print("... %d differences in all" % len(problems))
    return 1 if problems else 0


# ---------------------------------------------------------------- online


def parse_e(view, text):
    pairs = dict(p.split("=", 1) for p in text.split(","))
    return tuple(pit.check_int(pairs[k["name"]], 64) if k["type"] == "int64" else pairs[k["name"]]
                 for k in view["join_keys"])


def json_value(typ, v):
    """What get-online --json must hold for a result, as a comparable value."""
    if v is None:
        return None
    if typ in FLOAT_TYPES:
        return float(v)
    if typ == "bool":
        return bool(v)
    return v  # timestamps: microseconds


def json_ts(x):
    """A timestamp of the JSON answer (RFC 3339 text or Unix seconds) in us."""
    if isinstance(x, str):
        return pit.parse_time(x)
    return int(round(x * S))


def online_value_equal(typ, got, want):
    if want is None or got is None:
        return got is None and want is None
    if typ in FLOAT_TYPES:
        return isinstance(got, (int, float)) and not isinstance(got, bool) and close(float(got), want)
    if typ == "timestamp":
        try:
            return json_ts(got) == want
        except (ValueError, TypeError):
            return False
    if typ == "bool":
        return got is want
    if typ in INT_TYPES:
        return isinstance(got, int) and not isinstance(got, bool) and got == want
    return got == want


def online(spec, vname, args):
    view = spec["views"][vname]
    batch_end = pit.parse_time(args["batch_end"]) if args.get("batch_end") else None
    files = [(view["source"], None if batch_end is None else (lambda ts: ts < batch_end))]
    for p in args.get("pushed", []):
        files.append((p, None if batch_end is None else (lambda ts: ts >= batch_end)))
    for p in args.get("pushed_all", []):
        files.append((p, None))
    events = load_events(view, files)
    with open(args["keys"], encoding="utf-8") as f:
        keys = [line.rstrip("\n") for line in f if line.strip()]
    with open(args["reads"], encoding="utf-8") as f:
        reads = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    hist = None
    if args.get("historical"):
        h_header, h_rows = pit.read_csv(args["historical"])
        hist = (h_header, h_rows)
        if len(h_rows) != len(keys) * len(reads):
            print("historical: %d rows, expected %d" % (len(h_rows), len(keys) * len(reads)))
            return 1
    aggs = view["aggregations"]
    nk = len(view["join_keys"])
    problems = []
    stats = {"present": 0, "not_found": 0}
    for r, (t_text, path) in enumerate(reads):
        t = pit.parse_time(t_text)
        with open(path, encoding="utf-8") as f:
            try:
                got = json.load(f)
            except ValueError as e:
                problems.append("t=%s: %s is not JSON: %s" % (t_text, path, e))
                continue
        names = got.get("metadata", {}).get("feature_names")
        want_names = [k["name"] for k in view["join_keys"]] + [a["name"] for a in aggs]
        if names != want_names:
            problems.append("t=%s: feature_names %s, expected %s" % (t_text, names, want_names))
            continue
        results = got["results"]
        for i, e in enumerate(keys):
            key = parse_e(view, e)
            evs = events.get(key, [])
            for j, a in enumerate(aggs):
                typ = result_type(a)
                value, newest = agg_at(view, a, evs, t)
                res = results[nk + j]
                gv, gs, gt = res["values"][i], res["statuses"][i], res["event_timestamps"][i]
                where = "t=%s -e %s %s" % (t_text, e, a["name"])
                want_status = "PRESENT" if newest is not None else "NOT_FOUND"
                stats["present" if newest is not None else "not_found"] += 1
                if not online_value_equal(typ, gv, json_value(typ, value)):
                    problems.append("%s: got %r, expected %r" % (where, gv, format_result(typ, value) or None))
                if gs != want_status:
                    problems.append("%s: status %s, expected %s" % (where, gs, want_status))
                want_ts = newest if newest is not None else 0
                try:
                    ok_ts = json_ts(gt) == want_ts
                except (ValueError, TypeError):
                    ok_ts = False
                if not ok_ts:
                    problems.append("%s: event_timestamp %r, expected %s" % (where, gt, pit.format_time(want_ts)))
                if hist is not None:
                    h_header, h_rows = hist
                    cell = h_rows[r * len(keys) + i][h_header.index(a["name"])]
                    hv = None if cell == "" else parse_value(typ, cell) if typ != "bool" else cell == "true"
                    if not online_value_equal(typ, gv, hv):
                        problems.append("%s: online %r, get-historical %r" % (where, gv, cell))
    for p in problems[:25]:
        print(p)
    if len(problems) > 25:
        print("... %d differences in all" % len(problems))
    if args.get("stats"):
        with open(args["stats"], "w") as f:
            json.dump(stats, f)
    return 1 if problems else 0


def all_keys(spec, vname):
    view = spec["views"][vname]
    events = load_events(view, [(view["source"], None)])
    out = []
    for key in sorted(events, key=repr):
        out.append(",".join("%s=%s" % (k["name"], v) for k, v in zip(view["join_keys"], key)))
    return out


# ---------------------------------------------------------------- generator

T0 = 1714521600 * S  # 2024-05-01T00:00:00Z

TRADE_AGGS = [
    # name, function, column, type (None: not given), window, hop (None: default)
    ("trades_30m", "count", None, None, "30m", None),
    ("volume_30m", "sum", "amount", "int64", "30m", None),
    ("n_amt_2h", "count", "amount", "int64", "2h", None),
    ("avg_px_1h", "avg", "price", None, "1h", "5m"),
    ("max_px_1d", "max", "price", None, "1d", None),
    ("min_px_10m", "min", "price", "float64", "10m", None),
    ("var_px_2h", "var", "price", None, "2h", "1m"),
    ("sd_amt_1h", "stddev", "amount", "int64", "1h", "1m"),
    ("avg_amt_45s", "avg", "amount", "int64", "45s", None),
    ("sum_px_90s", "sum", "price", None, "90s", None),
    ("sum_small_1h", "sum", "small", "int32", "1h", None),
    ("first_buyer_1h", "first", "buyer", "string", "1h", None),
    ("last_buyer_30m", "last", "buyer", "string", "30m", "5m"),
    ("min_buyer_2h", "min", "buyer", "string", "2h", None),
    ("max_buyer_7m", "max", "buyer", "string", "7m", None),
    ("first_px_1h", "first", "price", None, "1h", None),
    ("last_amt_1d", "last", "amount", "int64", "1d", None),
    ("buyers_1h", "approx_count_distinct", "buyer", "string", "1h", None),
    ("acd_amt_1d", "approx_count_distinct", "amount", "int64", "1d", "1h"),
    ("acd_px_30m", "approx_count_distinct", "price", None, "30m", None),
    ("acd_qty_2h", "approx_count_distinct", "qty", "float32", "2h", None),
    ("acd_side_1h", "approx_count_distinct", "side", "bool", "1h", None),
    ("acd_seen_1d", "approx_count_distinct", "seen", "timestamp", "1d", None),
    ("max_side_1h", "max", "side", "bool", "1h", None),
    ("first_side_2h", "first", "side", "bool", "2h", None),
    ("last_side_2h", "last", "side", "bool", "2h", "5m"),
    ("max_seen_1d", "max", "seen", "timestamp", "1d", None),
    ("last_seen_2h", "last", "seen", "timestamp", "2h", None),
    ("min_qty_1h", "min", "qty", "float32", "1h", None),
    ("sum_qty_1h", "sum", "qty", "float32", "1h", "1s"),
    ("var_small_10m", "var", "small", "int32", "10m", None),
    ("n_buyer_1h", "count", "buyer", "string", "1h", None),
    ("last_px_5m", "last", "price", None, "5m", "1s"),
    ("sd_px_1d", "stddev", "price", None, "1d", "5m"),
    ("n_20m", "count", None, None, "20m", None),  # 20 hops of 1m: default 1s
    ("sum_amt_23h", "sum", "amount", "int64", "23h", None),  # 23 of 1h: default 5m
]

PAIR_AGGS = [
    ("n_1h", "count", None, None, "1h", None),
    ("amount_3h", "sum", "amount", "int64", "3h", "30m"),
    ("avg_px_1d", "avg", "price", "float64", "1d", "30m"),
    ("first_venue_2h", "first", "venue", "string", "2h", None),
    ("last_venue_2h", "last", "venue", "string", "2h", None),
    ("venues_1d", "approx_count_distinct", "venue", "string", "1d", "1h"),
    ("max_amt_30m", "max", "amount", "int64", "30m", None),
    ("var_amt_1h", "var", "amount", "int64", "1h", "30m"),
]

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def dur(text):
    return int(text[:-1]) * UNITS[text[-1]]


def csv_line(cells):
    return ",".join(pit.quote(c) for c in cells)


def gen(seed, outdir, online_mode):
    rnd = random.Random(seed)

    def fmt_time(us):
        secs, frac = divmod(us, S)
        utc = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=secs)
        styles = ["z", "z", "z", "offset", "fracz"]
        if frac == 0:
            styles += ["space", "unix"]
        style = rnd.choice(styles)
        f = ("." + "%06d" % frac) if frac or style == "fracz" else ""
        if style == "unix":
            return str(secs)
        if style == "space":
            return utc.strftime("%Y-%m-%d %H:%M:%S")
        if style == "offset":
            off = rnd.choice([120, -300, 330, -90])
            local = utc + datetime.timedelta(minutes=off)
            sign = "+" if off >= 0 else "-"
            return local.strftime("%Y-%m-%dT%H:%M:%S") + f + "%s%02d:%02d" % (sign, abs(off) // 60, abs(off) % 60)
        return utc.strftime("%Y-%m-%dT%H:%M:%S") + f + "Z"

    span = 2 * 86400  # events over two days
    if online_mode:
        tokens = ["BTC", "ETH", "sol", "SOL", "doge", "x1", "x2", "x3", "x4", "x5"]
    else:
        tokens = ["BTC", "ETH", "sol", "SOL", "t 1", "t,2", "café", "x1", "x2", "x3", "x4"]
    accounts = [1, 2, 3, 42, -7]
    buyers = ["alice", "bob", "carol", "dave", "b,c", 'say "hi"', "café", "Zed", "zed", "0", "null",
              " sp ", "ünï", "a", "aa", "ab"] + ["u%d" % i for i in range(40)]
    if online_mode:
        buyers = [b for b in buyers if "," not in b and '"' not in b]

    def rand_ts():
        r = rnd.random()
        base = T0 + rnd.randrange(0, span) * S
        if r < 0.15:
            return base - base % (3600 * S)
        if r < 0.3:
            return base - base % (300 * S)
        if r < 0.45:
            return base - base % (60 * S)
        if r < 0.6:
            return base + rnd.randrange(1, S)
        return base

    def maybe_null(text, p=0.12):
        return "" if rnd.random() < p else text

    def int_text(v):
        r = rnd.random()
        if r < 0.06 and v >= 0:
            return "+%d" % v
        if r < 0.12 and v >= 0:
            return "00%d" % v
        return str(v)

    def float_text():
        r = rnd.random()
        if r < 0.08:
            return rnd.choice(["1e3", "2.5E2", "-3.5", "0", "-0.0", "7", "100.25", ".5"])
        return "%.2f" % rnd.uniform(1, 2000)

    # ---- trades: clustered per key so that windows hold several events
    n_trades = rnd.randrange(350, 500)
    trades = []  # (token, ts, created)
    lines = [csv_line(["token", "ts", "created", "amt", "price", "qty", "buyer", "side", "seen", "small"])]
    for _ in range(n_trades):
        tok = rnd.choice(tokens[:-2])  # the last two tokens have no events
        same = [t for t in trades if t[0] == tok]
        if same and rnd.random() < 0.15:
            ts = rnd.choice(same)[1]  # a duplicate timestamp
        elif same and rnd.random() < 0.5:
            ts = rnd.choice(same)[1] + rnd.randrange(-1800, 1800) * S  # near another
            ts = max(ts, T0)
        else:
            ts = rand_ts()
        if rnd.random() < 0.3:
            created = None
        else:
            cands = [t[2] for t in same if t[1] == ts and t[2] is not None]
            created = rnd.choice(cands) if cands and rnd.random() < 0.5 else ts + rnd.randrange(0, 3) * 3600 * S
        trades.append((tok, ts, created))
        cells = [
            # an empty token: skipped by get-historical, an error to materialize
            "" if not online_mode and rnd.random() < 0.02 else tok,
            fmt_time(ts),
            "" if created is None else fmt_time(created),
            maybe_null(int_text(rnd.randrange(-50, 1000))),
            maybe_null(float_text()),
            maybe_null("%.3f" % rnd.uniform(0, 10) if rnd.random() < 0.9 else "1.5"),
            maybe_null(rnd.choice(buyers)),
            maybe_null(rnd.choice(["true", "false", "True", "FALSE", "1", "0"])),
            maybe_null(fmt_time(rand_ts())),
            maybe_null(str(rnd.choice([0, 1, -1, 2147483647, -2147483648] + [rnd.randrange(-1000, 1000)] * 6))),
        ]
        lines.append(csv_line(cells))
    os.makedirs(os.path.join(outdir, "data"), exist_ok=True)
    os.makedirs(os.path.join(outdir, "features"), exist_ok=True)
    with open(os.path.join(outdir, "data/trades.csv"), "w", newline="") as f:
        f.write("\n".join(lines) + "\n")

    # ---- pairs: two entities, no created timestamp, ties broken by value
    n_pairs = rnd.randrange(200, 300)
    pairs = []
    plines = [csv_line(["token", "account_id", "event_ts", "amount", "price", "venue"])]
    for _ in range(n_pairs):
        tok, acc = rnd.choice(tokens[:4]), rnd.choice(accounts)
        same = [p for p in pairs if p[:2] == (tok, acc)]
        if same and rnd.random() < 0.2:
            ts = rnd.choice(same)[2]
        else:
            ts = rand_ts()
        pairs.append((tok, acc, ts))
        acc_text = int_text(acc) if acc >= 0 else str(acc)
        plines.append(csv_line([tok, acc_text, fmt_time(ts), maybe_null(int_text(rnd.randrange(0, 500))),
                                maybe_null("%.3f" % rnd.uniform(0, 5)),
                                maybe_null(rnd.choice(["nyse", "lse", "tse", "xetra", "B", "b"]))]))
    with open(os.path.join(outdir, "data/pairs.csv"), "w", newline="") as f:
        f.write("\r\n".join(plines) + "\r\n")

    # ---- definitions
    def agg_yaml(aggs):
        out = []
        for name, fn, col, typ, window, hop in aggs:
            parts = ["name: %s" % name, "function: %s" % fn]
            if col:
                parts.append("column: %s" % col)
            parts.append("window: %s" % window)
            if hop:
                parts.append("hop: %s" % hop)
            if typ:
                parts.append("type: %s" % typ)
            out.append("  - {%s}" % ", ".join(parts))
        return "\n".join(out)

    def agg_spec(aggs):
        return [{"name": n, "function": fn, "column": col, "type": typ or "float64",
                 "window": dur(w), "hop": dur(h) if h else None}
                for n, fn, col, typ, w, h in aggs]

    trade_src = "trades_push" if online_mode else "trades"
    pair_src = "pairs_push" if online_mode else "pairs"
    defs = """kind: entity
name: token
join_key: token
type: string
---
kind: entity
name: account
join_key: account_id
type: int64
---
kind: source
name: trades
type: csv
path: data/trades.csv
timestamp_field: ts
created_timestamp_field: created
field_mapping: {amt: amount}
---
kind: source
name: pairs
type: csv
path: data/pairs.csv
timestamp_field: event_ts
---
"""
    if online_mode:
        defs += """kind: source
name: trades_push
type: push
batch_source: trades
---
kind: source
name: pairs_push
type: push
batch_source: pairs
---
"""
    defs += """kind: feature_view
name: token_activity
entities: [token]
source: %s
aggregations:
%s
---
kind: feature_view
name: pair_activity
entities: [token, account]
source: %s
aggregations:
%s
""" % (trade_src, agg_yaml(TRADE_AGGS), pair_src, agg_yaml(PAIR_AGGS))
    if not online_mode:
        defs += """---
kind: feature_view
name: token_info
entities: [token]
source: trades
ttl: 2h
features:
  - {name: price, type: float64}
  - {name: buyer, type: string}
---
kind: feature_service
name: mixed
features:
  - pair_activity: [amount_3h, last_venue_2h]
  - token_info: [buyer]
  - token_activity: [buyers_1h, var_px_2h, trades_30m]
"""
    with open(os.path.join(outdir, "features/agg.yaml"), "w") as f:
        f.write(defs)

    token_key = {"name": "token", "type": "string"}
    account_key = {"name": "account_id", "type": "int64"}
    views = {
        "token_activity": {"join_keys": [token_key], "source": "data/trades.csv", "timestamp_field": "ts",
                           "created_timestamp_field": "created", "field_mapping": {"amt": "amount"},
                           "aggregations": agg_spec(TRADE_AGGS)},
        "pair_activity": {"join_keys": [token_key, account_key], "source": "data/pairs.csv",
                          "timestamp_field": "event_ts", "aggregations": agg_spec(PAIR_AGGS)},
    }
    if not online_mode:
        views["token_info"] = {"join_keys": [token_key], "source": "data/trades.csv", "timestamp_field": "ts",
                               "created_timestamp_field": "created", "ttl": 7200,
                               "field_mapping": {"amt": "amount"},
                               "features": [{"name": "price", "type": "float64"},
                                            {"name": "buyer", "type": "string"}]}

    # ---- entity rows: boundaries of every kind
    all_aggs = [(a, "token") for a in agg_spec(TRADE_AGGS)] + [(a, "pair") for a in agg_spec(PAIR_AGGS)]
    rows = [["token", "account_id", "event_timestamp", "label"]]
    n_rows = rnd.randrange(180, 240)
    for _ in range(n_rows):
        if len(rows) > 1 and rnd.random() < 0.04:
            rows.append(list(rnd.choice(rows[1:])))  # a duplicate row
            continue
        a, which = rnd.choice(all_aggs)
        if which == "token":
            tok, ts, _ = rnd.choice(trades)
            acc = rnd.choice(accounts)
        else:
            tok, acc, ts = rnd.choice(pairs)
        tok = tok or rnd.choice(tokens)
        w = a["window"] * S
        hop = (a["hop"] or default_hop(a["window"])) * S
        fl = ts // hop * hop
        mode = rnd.choice(["exact", "plus1", "win_lo", "win_in", "win_out", "mid", "tile", "before",
                           "random", "nokey", "minus1"])
        t = {"exact": ts, "plus1": ts + 1, "minus1": ts - 1, "win_lo": fl + w, "win_in": fl + w + hop - 1,
             "win_out": fl + w + hop, "mid": fl + w + hop // 2, "tile": (ts // (3600 * S)) * 3600 * S + hop,
             "before": T0 - rnd.randrange(1, 7200) * S, "random": T0 + rnd.randrange(0, span + 86400) * S,
             "nokey": T0 + rnd.randrange(0, span) * S}[mode]
        if mode == "nokey":
            tok = rnd.choice(tokens[-2:])
        acc_text = "0%d" % acc if acc > 0 and rnd.random() < 0.1 else str(acc)
        rows.append([tok, acc_text, fmt_time(t), str(rnd.randrange(2))])
    with open(os.path.join(outdir, "rows.csv"), "w", newline="") as f:
        f.write("".join(csv_line(r) + "\n" for r in rows))

    if online_mode or seed % 2:
        refs = ["token_activity", "pair_activity"]
        columns = [["token_activity", a["name"]] for a in views["token_activity"]["aggregations"]] + \
                  [["pair_activity", a["name"]] for a in views["pair_activity"]["aggregations"]]
        if not online_mode:
            refs.append("token_info:buyer")
            columns.append(["token_info", "buyer"])
    else:
        refs = ["mixed", "pair_activity:n_1h", "token_activity:max_seen_1d"]
        columns = [["pair_activity", "amount_3h"], ["pair_activity", "last_venue_2h"], ["token_info", "buyer"],
                   ["token_activity", "buyers_1h"], ["token_activity", "var_px_2h"],
                   ["token_activity", "trades_30m"], ["pair_activity", "n_1h"],
                   ["token_activity", "max_seen_1d"]]
    spec = {"timestamp_column": "event_timestamp", "views": views, "columns": columns}
    with open(os.path.join(outdir, "spec.json"), "w") as f:
        json.dump(spec, f, indent=1)
    with open(os.path.join(outdir, "args"), "w") as f:
        for r in refs:
            f.write("-f\n%s\n" % r)


def gen_push(seed, spec, vname, start, end, n, n_late):
    """Events for `fs push` (CSV on stdout, the columns of VIEW's source):
    n with start <= ts < end (some exactly at start, on tile edges, with
    equal timestamps), n_late with start - 2h <= ts < start (some at
    start - 1us), for the keys of the source and two new ones."""
    rnd = random.Random(seed)
    view = spec["views"][vname]
    header, rows = pit.read_csv(view["source"])
    col = {c: i for i, c in enumerate(header)}
    keys = sorted({tuple(r[col[k["name"]]] for k in view["join_keys"]) for r in rows}, key=repr)
    keys = [k for k in keys if "" not in k]
    keys += [tuple("new%d" % i if k["type"] == "string" else str(900 + i) for k in view["join_keys"])
             for i in range(2)]
    lo, hi = pit.parse_time(start), pit.parse_time(end)
    tcol = col[view["timestamp_field"]]
    ccol = col.get(view.get("created_timestamp_field") or "")
    out = [csv_line(header)]
    made = []
    for i in range(n + n_late):
        late = i >= n
        r = rnd.random()
        if late:
            ts = lo - 1 if r < 0.2 else lo - rnd.randrange(1, 7200 * S)
        elif r < 0.1:
            ts = lo
        elif r < 0.2 and made:
            ts = rnd.choice(made)
        else:
            ts = lo + rnd.randrange(0, (hi - lo) // S) * S
            if rnd.random() < 0.3:
                ts -= ts % (300 * S)
            elif rnd.random() < 0.3:
                ts += rnd.randrange(1, S)
            ts = max(ts, lo)
        made.append(ts)
        template = list(rnd.choice(rows))
        for k, part in zip(view["join_keys"], rnd.choice(keys)):
            template[col[k["name"]]] = part
        template[tcol] = pit.format_time(ts)
        if ccol is not None:
            template[ccol] = "" if rnd.random() < 0.4 else pit.format_time(ts + rnd.randrange(0, 2) * 3600 * S)
        out.append(csv_line(template))
    return "".join(line + "\n" for line in out)


def hist_rows(spec, vname, keys_path, reads_path):
    """get-historical entity rows for every read time x key, in that order."""
    view = spec["views"][vname]
    names = [k["name"] for k in view["join_keys"]]
    with open(keys_path, encoding="utf-8") as f:
        keys = [line.rstrip("\n") for line in f if line.strip()]
    with open(reads_path, encoding="utf-8") as f:
        reads = [line.split("\t")[0].strip() for line in f if line.strip()]
    out = [csv_line(names + ["event_timestamp"])]
    for t in reads:
        for e in keys:
            pairs = dict(p.split("=", 1) for p in e.split(","))
            out.append(csv_line([pairs[n] for n in names] + [t]))
    return "".join(line + "\n" for line in out)


# ---------------------------------------------------------------- self-check


def unit():
    def agg(fn, col="x", typ="float64", window=60, hop=None):
        return {"name": "a", "function": fn, "column": col, "type": typ, "window": window, "hop": hop}

    assert default_hop(1800) == 60 and default_hop(7200) == 300 and default_hop(86400) == 3600
    assert default_hop(600) == 1 and default_hop(3600) == 60 and default_hop(45) == 1
    assert default_hop(24 * 300) == 300 and default_hop(1440) == 60 and default_hop(23 * 60) == 1
    # window at t = 100s, hop 10s, window 60s: 40s <= ts < 100s
    a = agg("count", None, window=60, hop=10)
    evs = [(ts * S, None, {}) for ts in (39, 40, 55, 99, 100)]
    assert [e[0] // S for e in window_events(a, evs, 100 * S)] == [40, 55, 99]
    # t = 105s: floor 100s, 40s <= ts < 105s (sawtooth)
    assert [e[0] // S for e in window_events(a, evs, 105 * S)] == [40, 55, 99, 100]
    assert [e[0] // S for e in window_events(a, evs, 110 * S - 1)] == [40, 55, 99, 100]
    assert [e[0] // S for e in window_events(a, evs, 110 * S)] == [55, 99, 100]
    ev = [(1, None, 2.0), (2, None, None), (3, None, 4.0)]
    assert aggregate(agg("count", None), ev) == 3 and aggregate(agg("count"), ev) == 2
    assert aggregate(agg("sum"), ev) == 6.0 and aggregate(agg("avg"), ev) == 3.0
    assert aggregate(agg("var"), ev) == 2.0 and aggregate(agg("stddev"), ev) == math.sqrt(2.0)
    assert aggregate(agg("var"), ev[:2]) is None and aggregate(agg("avg"), [(1, None, None)]) is None
    assert aggregate(agg("sum", typ="int64"), []) == 0 and aggregate(agg("min"), []) is None
    assert aggregate(agg("approx_count_distinct"), []) == 0
    assert aggregate(agg("var"), [(1, None, 1e9 + 1), (2, None, 1e9 + 2), (3, None, 1e9 + 3)]) == 1.0
    # first/last: (ts, created null first, value)
    ev = [(5, 7, "b"), (5, None, "z"), (5, 7, "a"), (4, 9, "q")]
    assert aggregate(agg("first", typ="string"), ev) == "q"
    assert aggregate(agg("last", typ="string"), ev) == "b"
    ev = [(5, None, "b"), (5, None, "a")]
    assert aggregate(agg("first", typ="string"), ev) == "a" and aggregate(agg("last", typ="string"), ev) == "b"
    assert aggregate(agg("min", typ="string"), [(1, None, "é"), (1, None, "z")]) == "z"
    # hash: FNV-1a of "" is the offset basis
    assert fnv1a64(b"") == 0xCBF29CE484222325 and fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert value_bytes("float64", -0.0) == value_bytes("float64", 0.0)
    assert value_bytes("int64", -1) == b"\xff" * 8 and value_bytes("bool", True) == b"\x01" + b"\0" * 7
    # small counts are near exact (linear counting), duplicates ignored
    for n in (1, 2, 10, 100, 1000):
        vals = [(1, None, "v%d" % i) for i in range(n)] * 2
        got = aggregate(agg("approx_count_distinct", typ="string"), vals)
        assert abs(got - n) <= max(1, n // 100), (n, got)
    big = hll_estimate([value_hash("int64", i) for i in range(100000)])
    assert abs(big - 100000) < 3000, big
    print("ok")


# ---------------------------------------------------------------- main


def main():
    argv = sys.argv[1:]
    cmd = argv[0] if argv else ""
    if cmd == "gen":
        gen(int(argv[1]), argv[2], "--online" in argv[3:])
        return 0
    if cmd == "unit":
        unit()
        return 0
    with open(argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    if cmd == "expect":
        sys.stdout.write(expect(spec, argv[2]))
        return 0
    if cmd == "compare":
        return compare(spec, argv[2], argv[3])
    if cmd == "gen-push":
        sys.stdout.write(gen_push(int(argv[2]), spec, argv[3], argv[4], argv[5], int(argv[6]), int(argv[7])))
        return 0
    if cmd == "hist-rows":
        sys.stdout.write(hist_rows(spec, argv[2], argv[3], argv[4]))
        return 0
    if cmd == "keys":
        print("\n".join(all_keys(spec, argv[2])))
        return 0
    if cmd == "online":
        args = {"pushed": []}
        rest = argv[3:]
        i = 0
        while i < len(rest):
            opt = rest[i][2:].replace("-", "_")
            if opt in ("pushed", "pushed_all"):
                args.setdefault(opt, []).append(rest[i + 1])
            else:
                args[opt] = rest[i + 1]
            i += 2
        return online(spec, argv[2], args)
    print("usage: agg_reference.py gen|expect|compare|online|keys|unit ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
