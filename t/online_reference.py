#!/usr/bin/env python3
"""A reference model of materialization and online reads, for the t3xxx tests.

Deliberately simple and independent of fs's code (standard library only):
it reads the source CSV itself, keeps per entity key the latest row of a
window, merges windows newest-wins, and prints what `fs get-online --json`
must answer.

Subcommands:

  gen      seeded random source rows (CSV on stdout) for the `ev` test view
  expect   the `fs get-online --json` response after a sequence of
           materialization windows (--step CSV START END ...), for the
           entity rows given (-e) or for every key of the CSVs (--all-keys,
           written to --entities-out); --stats-out gets rows_read and keys
           of the last window and the number of keys stored
  compare  ACTUAL EXPECTED [EXPECTED2] [--atomic]: exit 1 naming each
           difference; with two expectations every entity row must match
           one of them (with --atomic: all rows the same one)

The semantics (DESIGN.md, "materialization and the online store"):

  * a window [start, end] reads the rows with start <= ts <= end (no lower
    bound when start is "-") whose join keys are all non-empty;
  * per key it keeps the row with the greatest (ts, created), a null
    created sorting first, the later row in the file on a full tie;
  * each window's rows replace the stored ones unless those are newer
    (a row equal in (ts, created) replaces);
  * a read answers per feature: NOT_FOUND (no row), NULL_VALUE (the stored
    value is null; empty CSV cell), OUTSIDE_MAX_AGE (ttl > 0 and
    ts < now - ttl; the value is still given) or PRESENT, with the row's
    event timestamp (1970-01-01T00:00:00Z when NOT_FOUND); join keys come
    first, echoed with PRESENT and the epoch.
"""

import argparse
import calendar
import csv
import datetime as dt
import json
import random
import sys

EPOCH = "1970-01-01T00:00:00Z"
USEC = 1000000

# ---------------------------------------------------------------- timestamps


def parse_ts(text):
    """A timestamp cell as integer microseconds since the epoch, or None.

    RFC 3339 (offsets, fractional seconds), 'YYYY-MM-DD HH:MM:SS' (UTC) and
    integer Unix seconds, as DESIGN.md lists them."""
    s = text.strip()
    if not s:
        return None
    if s.lstrip("-").isdigit():
        return int(s) * USEC
    date, sep, rest = s[:10], s[10:11], s[11:]
    if sep not in ("T", "t", " "):
        raise ValueError("bad timestamp %r" % text)
    hms, rest = rest[:8], rest[8:]
    frac = 0
    if rest.startswith("."):
        digits = ""
        rest = rest[1:]
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        frac = int((digits + "000000")[:6])
    offset = 0
    if rest in ("Z", "z", ""):
        pass
    elif rest[0] in "+-" and len(rest) == 6:
        offset = (int(rest[1:3]) * 3600 + int(rest[4:6]) * 60) * (1 if rest[0] == "+" else -1)
    else:
        raise ValueError("bad timestamp %r" % text)
    d = dt.datetime.strptime(date + " " + hms, "%Y-%m-%d %H:%M:%S")
    return (calendar.timegm(d.timetuple()) - offset) * USEC + frac


def format_ts(us):
    """Microseconds as RFC 3339 UTC with 0 or 6 fractional digits (as Feast
    writes event timestamps: Python 3.10's fromisoformat reads no others)."""
    secs, frac = divmod(us, USEC)
    out = (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=secs)).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        out += ".%06d" % frac
    return out + "Z"


def unix_seconds(us):
    """A timestamp feature as Feast returns one: Unix seconds, an integer,
    or with the microseconds as a fraction."""
    mag = abs(us)
    if mag % USEC == 0:
        return us // USEC
    return float("%s%d.%06d" % ("-" if us < 0 else "", mag // USEC, mag % USEC))


def parse_window_bound(text):
    return None if text == "-" else parse_ts(text)


# ---------------------------------------------------------------- the model


class View:
    def __init__(self, args):
        self.name = args.view
        self.keys = []  # [(column, type)]
        for k in args.key:
            name, typ = k.split(":")
            self.keys.append((name, typ))
        self.features = []  # [(name, type)]
        for f in args.features.split(","):
            name, typ = f.split(":")
            self.features.append((name, typ))
        self.columns = {name: name for name, _ in self.features}
        for m in args.map or []:
            col, feat = m.split("=")
            self.columns[feat] = col
        self.ts_field = args.ts_field
        self.created_field = args.created_field
        self.ttl = args.ttl

    def key_of(self, row):
        """The entity key of a CSV row (a tuple), or None when a part is empty."""
        parts = []
        for name, typ in self.keys:
            v = row[name]
            if v == "":
                return None
            parts.append(int(v) if typ == "int64" else v)
        return tuple(parts)


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        yield from csv.DictReader(f)


def window_latest(view, path, start, end, wanted=None):
    """Per key the latest row of the window; also the number of rows read."""
    latest = {}
    nread = 0
    for row in read_rows(path):
        key = view.key_of(row)
        if key is None:
            continue
        ts = parse_ts(row[view.ts_field])
        if (start is not None and ts < start) or ts > end:
            continue
        nread += 1
        if wanted is not None and key not in wanted:
            continue
        cr = parse_ts(row[view.created_field]) if view.created_field else None
        order = (ts, -1 << 80 if cr is None else cr)
        old = latest.get(key)
        if old is None or order >= old[0]:  # >=: the later row wins a tie
            latest[key] = (order, ts, row)
    return latest, nread


def run_steps(view, steps, wanted=None):
    store = {}
    nread = nkeys = 0
    for path, start, end in steps:
        latest, nread = window_latest(view, path, parse_window_bound(start), parse_ts(end), wanted)
        nkeys = len(latest)
        for key, rec in latest.items():
            if key not in store or rec[0] >= store[key][0]:
                store[key] = rec
    return store, nread, nkeys


def typed_value(typ, text):
    if typ in ("int32", "int64"):
        return int(text)
    if typ in ("float32", "float64"):
        return float(text)
    if typ == "bool":
        if text in ("true", "True", "TRUE", "1"):
            return True
        if text in ("false", "False", "FALSE", "0"):
            return False
        raise ValueError("bad bool %r" % text)
    if typ == "timestamp":
        return unix_seconds(parse_ts(text))
    return text


def entity_rows(view, specs):
    """-e KEY=VAL[,KEY=VAL] specs as key tuples (typed as the entities are)."""
    rows = []
    for spec in specs:
        pairs = dict(p.split("=", 1) for p in spec.split(","))
        rows.append(tuple(int(pairs[n]) if t == "int64" else pairs[n] for n, t in view.keys))
    return rows


def response(view, store, rows, now, full_names):
    names = [n for n, _ in view.keys]
    results = []
    for i, _ in enumerate(view.keys):
        results.append({
            "values": [r[i] for r in rows],
            "statuses": ["PRESENT"] * len(rows),
            "event_timestamps": [EPOCH] * len(rows),
        })
    for fname, ftype in view.features:
        names.append(view.name + "__" + fname if full_names else fname)
        col = {"values": [], "statuses": [], "event_timestamps": []}
        for r in rows:
            rec = store.get(r)
            if rec is None:
                col["values"].append(None)
                col["statuses"].append("NOT_FOUND")
                col["event_timestamps"].append(EPOCH)
                continue
            ts, text = rec[1], rec[2][view.columns[fname]]
            if text == "":
                col["values"].append(None)
                col["statuses"].append("NULL_VALUE")
            else:
                col["values"].append(typed_value(ftype, text))
                old = view.ttl > 0 and ts < (now - view.ttl) * USEC
                col["statuses"].append("OUTSIDE_MAX_AGE" if old else "PRESENT")
            col["event_timestamps"].append(format_ts(ts))
        results.append(col)
    return {"metadata": {"feature_names": names}, "results": results}


# ---------------------------------------------------------------- comparing


def same_value(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return a == b


def cell(resp, col, row):
    c = resp["results"][col]
    return (c["values"][row], c["statuses"][row], c["event_timestamps"][row])


def row_diffs(actual, expected, row):
    diffs = []
    names = expected["metadata"]["feature_names"]
    for col, name in enumerate(names):
        a, e = cell(actual, col, row), cell(expected, col, row)
        if not (same_value(a[0], e[0]) and a[1:] == e[1:]):
            diffs.append("%s: expected %s, got %s" % (name, json.dumps(e), json.dumps(a)))
    return diffs


def compare(args):
    with open(args.actual, encoding="utf-8") as f:
        actual = json.load(f)
    exps = []
    for path in args.expected:
        with open(path, encoding="utf-8") as f:
            exps.append(json.load(f))
    names = exps[0]["metadata"]["feature_names"]
    if actual.get("metadata") != {"feature_names": names}:
        print("metadata: expected %s, got %s" % (json.dumps({"feature_names": names}),
                                                 json.dumps(actual.get("metadata"))))
        return 1
    nrows = len(exps[0]["results"][0]["values"])
    if len(actual["results"]) != len(names) or any(
            len(c[k]) != nrows for c in actual["results"]
            for k in ("values", "statuses", "event_timestamps")):
        print("results: expected %d columns of %d rows" % (len(names), nrows))
        return 1
    matched = [0] * len(exps)
    bad = []
    for row in range(nrows):
        key = "%s=%s" % (names[0], exps[0]["results"][0]["values"][row])
        hit = [i for i, e in enumerate(exps) if not row_diffs(actual, e, row)]
        if hit:
            matched[hit[0]] += 1
            continue
        for d in row_diffs(actual, exps[-1], row):
            bad.append("row %d (%s): %s" % (row, key, d))
    if bad:
        print("%d differences, e.g.:" % len(bad))
        print("\n".join(bad[:20]))
        return 1
    if args.atomic and len(exps) > 1 and len([m for m in matched if m]) > 1:
        print("not atomic: rows match different states: %s" % matched)
        return 1
    if len(exps) > 1:
        print("rows matching each state: %s" % matched)
    return 0


# ---------------------------------------------------------------- generating


def int_key(i):
    if i == 0:
        return 0
    if i == 1:
        return -1
    if i == 2:
        return 1 << 62
    return (i * 7919) % 1000003 - 1000


def string_key(i):
    if i % 5 == 0:
        return str(i)  # looks like a number, stays a string
    if i % 7 == 1:
        return "ключ-%d" % i
    if i % 11 == 2:
        return "a b %d" % i
    if i % 13 == 3:
        return 'q"%d' % i
    return "k%d" % i


def gen_ts(rng, us):
    """A timestamp in one of the accepted spellings."""
    secs, frac = divmod(us, USEC)
    d = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=secs)
    kind = rng.randrange(5)
    if frac:
        kind = rng.choice((0, 1))
    if kind == 0:
        s = d.strftime("%Y-%m-%dT%H:%M:%S")
        return s + (".%06d" % frac if frac else "") + "Z"
    if kind == 1:
        off = rng.choice((-330, -60, 120, 0))
        local = d + dt.timedelta(minutes=off)
        sign = "-" if off < 0 else "+"
        s = local.strftime("%Y-%m-%dT%H:%M:%S") + (".%06d" % frac if frac else "")
        return s + "%s%02d:%02d" % (sign, abs(off) // 60, abs(off) % 60)
    if kind == 2:
        return d.strftime("%Y-%m-%d %H:%M:%S")
    if kind == 3:
        return str(secs)
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def gen_value(rng, typ):
    if rng.random() < 0.15:
        return ""
    if typ == "int32":
        return str(rng.choice((rng.randint(-1000, 1000),) * 8 + (-2147483648, 2147483647)))
    if typ == "int64":
        return str(rng.choice((rng.randint(-10**6, 10**6), rng.randint(-2**63, 2**63 - 1))))
    if typ == "float32":
        return "%.3f" % rng.uniform(-100, 100)
    if typ == "float64":
        return rng.choice(("%.6f" % rng.uniform(-1, 1), "%d" % rng.randint(0, 99),
                           "%.2e" % rng.uniform(1, 9), "-0.25"))
    if typ == "bool":
        return rng.choice(("true", "false", "True", "FALSE", "1", "0"))
    if typ == "timestamp":
        return gen_ts(rng, rng.randint(1500000000, 1800000000) * USEC)
    return rng.choice(("plain", "with, comma", 'say "hi"', "café ☕", "two words",
                       "x%d" % rng.randint(0, 999)))


GEN_COLUMNS = [("f_i32", "int32"), ("f_i64", "int64"), ("f_f32", "float32"),
               ("f64_raw", "float64"), ("f_str", "string"), ("f_bool", "bool"),
               ("f_ts", "timestamp")]


def gen(args):
    """Rows for the `ev` view of the tests (see lib-online.bash)."""
    rng = random.Random(args.seed)
    start, end = parse_ts(args.start), parse_ts(args.end)
    width = end - start
    lo, hi = start - int(width * args.spread), end + int(width * args.spread)
    key_of = int_key if args.key_type == "int" else string_key
    keys = [key_of(i) for i in range(args.first_key, args.first_key + args.keys)]
    outside = set(rng.sample(keys, int(len(keys) * args.outside_only)))
    seen = {}  # key -> [(ts, created)]
    out = csv.writer(sys.stdout, lineterminator="\n")
    if not args.no_header:
        out.writerow(["k_id", "event_ts", "created_ts"] + [c for c, _ in GEN_COLUMNS] + ["note"])
    for n in range(args.rows):
        key = rng.choice(keys)
        r = rng.random()
        if key in outside:
            ts = rng.choice((rng.randint(lo, start - 1), rng.randint(end + 1, hi))) \
                if lo < start and end < hi else None
            if ts is None:
                continue
        elif r < 0.03:
            ts = start  # on the bounds: both are inclusive
        elif r < 0.06:
            ts = end
        elif r < 0.25 and seen.get(key):
            ts = rng.choice(seen[key])[0]  # a tie on ts
        else:
            ts = rng.randint(lo, hi)
            if rng.random() < 0.7:
                ts -= ts % USEC  # mostly whole seconds
        if rng.random() < 0.1:
            created = None
        elif seen.get(key) and rng.random() < 0.2:
            created = rng.choice(seen[key])[1]  # maybe a full tie: the later row wins
        else:
            created = ts + rng.randint(0, 3600) * USEC
        seen.setdefault(key, []).append((ts, created))
        # (a row with an empty key is an error to materialize: t3000 tests it)
        row = [str(key), gen_ts(rng, ts), "" if created is None else gen_ts(rng, created)]
        row += [gen_value(rng, t) for _, t in GEN_COLUMNS]
        row.append("row %d" % n)
        out.writerow(row)
    return 0


# ---------------------------------------------------------------- main


def view_args(p):
    p.add_argument("--view", default="ev")
    p.add_argument("--key", action="append", default=None,
                   help="join key COLUMN:TYPE (int64|string); repeatable")
    p.add_argument("--features", required=True, help="NAME:TYPE,...")
    p.add_argument("--map", action="append", help="field_mapping SOURCE_COLUMN=FEATURE")
    p.add_argument("--ts-field", default="event_ts")
    p.add_argument("--created-field", default="created_ts")
    p.add_argument("--ttl", type=int, default=0, help="seconds")
    p.add_argument("--step", nargs=3, action="append", required=True,
                   metavar=("CSV", "START", "END"), help="a materialization window; START may be -")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    g = sub.add_parser("gen")
    g.add_argument("--seed", type=int, required=True)
    g.add_argument("--rows", type=int, default=400)
    g.add_argument("--keys", type=int, default=60)
    g.add_argument("--first-key", type=int, default=0)
    g.add_argument("--key-type", choices=("int", "string"), default="int")
    g.add_argument("--start", required=True)
    g.add_argument("--end", required=True)
    g.add_argument("--spread", type=float, default=0.5,
                   help="fraction of the window width drawn before start and after end")
    g.add_argument("--outside-only", type=float, default=0.1,
                   help="fraction of keys whose rows are all outside the window")
    g.add_argument("--no-header", action="store_true")

    e = sub.add_parser("expect")
    view_args(e)
    e.add_argument("--now", type=int, default=None, help="Unix seconds (default: now)")
    e.add_argument("--full-feature-names", action="store_true")
    e.add_argument("-e", "--entity", action="append", default=[])
    e.add_argument("--all-keys", action="store_true",
                   help="after the -e rows, every key of the CSVs of the steps, sorted")
    e.add_argument("--extra", action="append", default=[],
                   help="with --all-keys: also this key (of a one-key view)")
    e.add_argument("--entities-out", help="write the -e values of the entity rows here")
    e.add_argument("--stats-out", help="write rows_read, keys (of the last step), stored_keys")

    c = sub.add_parser("compare")
    c.add_argument("actual")
    c.add_argument("expected", nargs="+")
    c.add_argument("--atomic", action="store_true")

    args = ap.parse_args()
    if args.cmd == "gen":
        return gen(args)
    if args.cmd == "compare":
        return compare(args)
    if args.key is None:
        args.key = ["k_id:int64"]
    view = View(args)
    specs = list(args.entity)
    if args.all_keys:
        found = set(args.extra)
        for path in {step[0] for step in args.step}:
            for row in read_rows(path):
                if view.key_of(row) is not None:
                    found.update(row[n] for n, _ in view.keys)
        specs += ["%s=%s" % (view.keys[0][0], v) for v in sorted(found)]
    if args.entities_out:
        with open(args.entities_out, "w", encoding="utf-8") as f:
            f.write("".join(v + "\n" for v in specs))
    rows = entity_rows(view, specs)
    store, nread, nkeys = run_steps(view, args.step, None if args.stats_out else set(rows))
    if args.stats_out:
        with open(args.stats_out, "w", encoding="utf-8") as f:
            json.dump({"rows_read": nread, "keys": nkeys, "stored_keys": len(store)}, f)
    now = args.now if args.now is not None else int(dt.datetime.now(dt.timezone.utc).timestamp())
    print(json.dumps(response(view, store, rows, now, args.full_feature_names), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
