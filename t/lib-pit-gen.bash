# The random data of the point-in-time tests (t2001, and t2003 on
# PostgreSQL), shared so that both compare against the same reference.
#
# FS_GEN_CANONICAL=1 spells every float the way PostgreSQL prints a double
# (shortest round trip, no trailing ".0"), so that the same rows read from
# CSV and from PostgreSQL give byte-identical output.

# gen SEED VARIANT: write features/defs.yaml, data/, rows.csv, spec.json
# (for the reference) and args (the -f options, one a line) in the cwd.
gen() {
    python3 - "$@" <<'EOF'
import json, os, random, sqlite3, sys

seed, variant = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(seed)
T0 = 1714521600 * 10**6            # 2024-05-01T00:00:00Z in microseconds
H = 3600 * 10**6
S = 10**6

def fmt_time(us):
    """One of the accepted spellings, chosen at random."""
    import datetime
    secs, frac = divmod(us, S)
    utc = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=secs)
    styles = ["z", "z", "offset", "fracz"]
    if frac == 0:
        styles += ["space", "unix", "lowz"]
    style = rnd.choice(styles)
    f = ("." + "%06d" % frac) if frac or style == "fracz" else ""
    if style == "unix":
        return str(secs)
    if style == "space":
        return utc.strftime("%Y-%m-%d %H:%M:%S")
    if style == "lowz":
        return utc.strftime("%Y-%m-%dt%H:%M:%Sz")
    if style == "offset":
        off = rnd.choice([120, -300, 330, 0, -90])
        local = utc + datetime.timedelta(minutes=off)
        sign = "+" if off >= 0 else "-"
        return local.strftime("%Y-%m-%dT%H:%M:%S") + f + "%s%02d:%02d" % (sign, abs(off) // 60, abs(off) % 60)
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + f + "Z"

def rand_ts():
    us = T0 + rnd.randrange(0, 48 * 3600) * S
    if rnd.random() < 0.15:
        us += rnd.randrange(1, S)
    return us

CANONICAL = os.environ.get("FS_GEN_CANONICAL") == "1"

def fl(text):
    """A float as written, or as PostgreSQL prints the double it parses to."""
    if not CANONICAL:
        return text
    r = repr(float(text))
    return r[:-2] if r.endswith(".0") else r

def maybe_null(text, p=0.15):
    return "" if rnd.random() < p else text

def int_text(v):
    r = rnd.random()
    if r < 0.08 and v >= 0:
        return "+%d" % v
    if r < 0.16 and v >= 0:
        return "00%d" % v
    return str(v)

STRINGS = ["alpha", "b,c", 'say "hi"', "multi\nline", "café", " spaced ", "x", "0", "null"]
ttl_choices = [(3600, "1h"), (5400, "90m"), (86400, "1d"), (0, "0"), (2, "2s")]
d_ttl, d_ttl_text = ttl_choices[seed % len(ttl_choices)]
p_ttl, p_ttl_text = 7200, "2h"
n_src = 40 + seed * 30
n_ent = 60 + seed * 40
drivers = list(range(1, 9)) + [-3]
customers = ["c1", "c2", "c3", "C1", "c 5", "c,6"]

# ---- driver source: int64 key, created with nulls, field_mapping conv -> conv_rate
drows = []          # (key, ts_us, created_us or None, cells)
dlines = ["driver_id,event_timestamp,created,conv,acc_rate,trips,active,note,last_seen,rank_small"]
for i in range(n_src):
    key = rnd.choice(drivers)
    same = [r for r in drows if r[0] == key]
    if same and rnd.random() < 0.25:
        ts = rnd.choice(same)[1]        # equal timestamp: created decides
    else:
        ts = rand_ts()
    created = None if rnd.random() < 0.3 else ts + rnd.randrange(0, 3) * H
    cells = [
        "" if rnd.random() < 0.03 else int_text(key),
        fmt_time(ts),
        "" if created is None else fmt_time(created),
        maybe_null(fl(rnd.choice(["%.2f" % rnd.uniform(-1, 1), "%.3e" % rnd.uniform(0, 1e6), "7", "-0.5", "1E3"]))),
        maybe_null(fl("%.4f" % rnd.random())),
        maybe_null(int_text(rnd.randrange(-5, 500))),
        maybe_null(rnd.choice(["true", "false", "True", "FALSE", "1", "0"])),
        maybe_null(rnd.choice(STRINGS)),
        maybe_null(fmt_time(rand_ts())),
        maybe_null(str(rnd.choice([0, 1, -1, 2147483647, -2147483648, rnd.randrange(-1000, 1000)]))),
    ]
    drows.append((key, ts, created))
    dlines.append(",".join('"%s"' % c.replace('"', '""') if any(ch in c for ch in ',"\n') else c for c in cells))

# ---- customer source: string key, timestamp field 'ts', no created, ttl 0
crows = []
ccells = []
for i in range(n_src // 2):
    key = rnd.choice(customers)
    ts = rand_ts()
    crows.append((key, ts))
    ccells.append([key, fmt_time(ts), maybe_null(fl("%.3f" % rnd.uniform(0, 100))), maybe_null(rnd.choice(STRINGS))])

def csv_line(cells):
    return ",".join('"%s"' % c.replace('"', '""') if any(ch in c for ch in ',"\n') else c for c in cells)

# ---- pair source: keyed by driver and customer
prows = []
plines = ["driver_id,customer_id,event_timestamp,created,n_trips,rating"]
for i in range(n_src):
    d, c = rnd.choice(drivers[:4]), rnd.choice(customers[:3])
    same = [r for r in prows if r[:2] == (d, c)]
    ts = rnd.choice(same)[2] if same and rnd.random() < 0.2 else rand_ts()
    created = None if rnd.random() < 0.3 else ts + rnd.randrange(0, 2) * S
    prows.append((d, c, ts))
    plines.append(csv_line([str(d), c, fmt_time(ts), "" if created is None else fmt_time(created),
                            maybe_null(str(rnd.randrange(0, 50))), maybe_null(fl("%.2f" % rnd.random()))]))

os.makedirs("data", exist_ok=True)
with open("data/driver.csv", "w", newline="") as f:
    f.write("\n".join(dlines) + "\n")
with open("data/pair.csv", "w", newline="") as f:
    f.write("\r\n".join(plines) + "\r\n")       # CRLF line ends too
with open("data/customer.csv", "w", newline="") as f:
    f.write("\n".join([csv_line(["customer_id", "ts", "value", "segment"])] + [csv_line(c) for c in ccells]) + "\n")
use_sqlite = seed % 2 == 0
if use_sqlite:      # the same customer rows from a sqlite table, stored as text
    db = sqlite3.connect("data/customer.db")
    db.execute("CREATE TABLE customers (customer_id, ts, value, segment)")
    db.executemany("INSERT INTO customers VALUES (?,?,?,?)",
                   [[None if x == "" else x for x in c] for c in ccells])
    db.commit()
    db.close()
    customer_source = "type: sqlite\npath: data/customer.db\ntable: customers"
else:
    customer_source = "type: csv\npath: data/customer.csv"

with open("features/defs.yaml", "w") as f:
    f.write(f"""kind: entity
name: driver
join_key: driver_id
type: int64
---
kind: entity
name: customer
join_key: customer_id
type: string
---
kind: source
name: driver_src
type: csv
path: data/driver.csv
timestamp_field: event_timestamp
created_timestamp_field: created
field_mapping: {{conv: conv_rate}}
---
kind: source
name: customer_src
{customer_source}
timestamp_field: ts
---
kind: source
name: pair_src
type: csv
path: data/pair.csv
timestamp_field: event_timestamp
created_timestamp_field: created
---
kind: feature_view
name: driver_stats
entities: [driver]
source: driver_src
ttl: {d_ttl_text}
features:
  - {{name: conv_rate, type: float64}}
  - {{name: acc_rate, type: float32}}
  - {{name: trips, type: int64}}
  - {{name: active, type: bool}}
  - {{name: note, type: string}}
  - {{name: last_seen, type: timestamp}}
  - {{name: rank_small, type: int32}}
---
kind: feature_view
name: customer_profile
entities: [customer]
source: customer_src
ttl: 0
features:
  - {{name: value, type: float64}}
  - {{name: segment, type: string}}
---
kind: feature_view
name: pair_stats
entities: [driver, customer]
source: pair_src
ttl: {p_ttl_text}
features:
  - {{name: n_trips, type: int32}}
  - {{name: rating, type: float32}}
---
kind: feature_service
name: svc
features:
  - pair_stats: [rating]
  - customer_profile
  - driver_stats: [note, conv_rate, last_seen]
""")

# ---- entity rows
ts_col = "event_timestamp" if seed % 3 else "when"
ents = [["driver_id", "customer_id", ts_col, "label", "comment"]]
key_ents = []
for i in range(n_ent):
    if ents[1:] and rnd.random() < 0.08:
        ents.append(list(rnd.choice(ents[1:])))       # a duplicate row
        continue
    d = rnd.choice(drivers + [9, 10])                  # 9, 10: no rows
    c = rnd.choice(customers + ["c7", "zz"])           # c7, zz: no rows
    mode = rnd.choice(["exact", "lower", "outside", "outside_us", "before",
                       "pair", "pair_lower", "pair_out", "cust", "cust_before", "random"])
    if mode in ("exact", "lower", "outside", "outside_us", "before"):
        src = rnd.choice(drows)
        d = src[0]
        base = src[1]
        ts = {"exact": base, "lower": base + d_ttl * S, "outside": base + d_ttl * S + S,
              "outside_us": base + d_ttl * S + 1, "before": base - S}[mode]
    elif mode.startswith("pair"):
        src = rnd.choice(prows)
        d, c = src[0], src[1]
        ts = {"pair": src[2], "pair_lower": src[2] + p_ttl * S, "pair_out": src[2] + p_ttl * S + S}[mode]
    elif mode.startswith("cust"):
        src = rnd.choice(crows)
        c = src[0]
        ts = src[1] - (S if mode == "cust_before" else 0)
    else:
        ts = rand_ts() - H
    dtext = "" if rnd.random() < 0.03 else ("0%d" % d if d > 0 and rnd.random() < 0.1 else str(d))
    ctext = "" if rnd.random() < 0.03 else c
    ents.append([dtext, ctext, fmt_time(ts), str(rnd.randrange(2)), maybe_null(rnd.choice(STRINGS), 0.3)])
with open("rows.csv", "w", newline="") as f:
    f.write("".join(csv_line(r) + "\n" for r in ents))

# ---- what to ask for, and the reference's description of it
if variant == "plain":
    refs = ["driver_stats", "customer_profile:value", "pair_stats", "customer_profile:segment"]
    columns = ([["driver_stats", f] for f in ["conv_rate", "acc_rate", "trips", "active", "note", "last_seen", "rank_small"]]
               + [["customer_profile", "value"], ["pair_stats", "n_trips"], ["pair_stats", "rating"],
                  ["customer_profile", "segment"]])
else:
    refs = ["svc", "pair_stats:n_trips"]
    columns = [["pair_stats", "rating"], ["customer_profile", "value"], ["customer_profile", "segment"],
               ["driver_stats", "note"], ["driver_stats", "conv_rate"], ["driver_stats", "last_seen"],
               ["pair_stats", "n_trips"]]
driver_key = {"name": "driver_id", "type": "int64"}
customer_key = {"name": "customer_id", "type": "string"}
spec = {
    "timestamp_column": ts_col,
    "full_feature_names": variant == "full",
    "views": {
        "driver_stats": {"join_keys": [driver_key], "source": "data/driver.csv",
                         "timestamp_field": "event_timestamp", "created_timestamp_field": "created",
                         "ttl": d_ttl, "field_mapping": {"conv": "conv_rate"},
                         "features": [{"name": "conv_rate", "type": "float64"}, {"name": "acc_rate", "type": "float32"},
                                      {"name": "trips", "type": "int64"}, {"name": "active", "type": "bool"},
                                      {"name": "note", "type": "string"}, {"name": "last_seen", "type": "timestamp"},
                                      {"name": "rank_small", "type": "int32"}]},
        "customer_profile": {"join_keys": [customer_key], "source": "data/customer.csv",
                             "timestamp_field": "ts", "ttl": 0,
                             "features": [{"name": "value", "type": "float64"}, {"name": "segment", "type": "string"}]},
        "pair_stats": {"join_keys": [driver_key, customer_key], "source": "data/pair.csv",
                       "timestamp_field": "event_timestamp", "created_timestamp_field": "created", "ttl": p_ttl,
                       "features": [{"name": "n_trips", "type": "int32"}, {"name": "rating", "type": "float32"}]},
    },
    "columns": columns,
}
with open("spec.json", "w") as f:
    json.dump(spec, f, indent=1)
with open("args", "w") as f:
    for r in refs:
        f.write("-f\n%s\n" % r)
    if ts_col != "event_timestamp":
        f.write("--timestamp-column\n%s\n" % ts_col)
    if variant == "full":
        f.write("--full-feature-names\n")
EOF
}
