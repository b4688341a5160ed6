#!/usr/bin/env python3
"""Events and their expected online values for the fs stream tests (t6xxx).

Independent of fs: the Python standard library, every value computed from
the list of events by brute force.

  gen SEED N T OUT [--bad]
        N random JSON events (one a line) for keys k0..k39 with event
        times in [T - 2h, T) as RFC 3339 strings, Unix seconds or Unix
        milliseconds, many of them equal: token, ts, amount (int), price
        (a function of token and ts, so that equal times carry equal
        prices and newest-wins is the same in any order), qty (the same).
        --bad: about 2% bad messages mixed in (not JSON, no token, no ts,
        a string in a number field, an array), each listed in OUT.bad.
  redis SEED N T OUT
        the same events as redis-cli XADD argument lines (field value ...).
  expect EVENTS T
        the expected `fs get-online -f last -f agg --at T` rows on stdout,
        tab-separated, keys sorted: token, price, qty, n_1h, amount_sum_1h,
        amount_max_2h, price_avg_30m (null as the empty string).
  compare EXPECTED ACTUAL
        exit 1 printing the differences (floats within 1e-9 relative).
"""
import json
import random
import sys
from datetime import datetime, timezone

KEYS = 40


def price_of(token, ts):
    return ((int(token[1:]) * 7919 + ts) % 100000) / 100.0


def qty_of(token, ts):
    return (int(token[1:]) + ts) % 97


def events(seed, n, t):
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        token = "k%d" % rnd.randrange(KEYS)
        # few distinct times: many equal ones per key
        ts = t - 7200 + rnd.randrange(600) * 12
        out.append((token, ts, rnd.randrange(-50, 1000)))
    return out


def ts_text(rnd, ts):
    form = rnd.randrange(3)
    if form == 0:
        return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if form == 1:
        return ts
    return ts * 1000


def gen(seed, n, t, out, bad):
    rnd = random.Random(seed + 1)
    evs = events(seed, n, t)
    bads = []
    with open(out, "w") as f:
        for token, ts, amount in evs:
            if bad and rnd.random() < 0.02:
                kind = rnd.randrange(5)
                msg = [
                    "{not json",
                    json.dumps({"ts": ts, "amount": 1, "price": 1.0, "qty": 1}),
                    json.dumps({"token": token, "amount": 1, "price": 1.0, "qty": 1}),
                    json.dumps({"token": token, "ts": ts, "amount": "many", "price": 1.0, "qty": 1}),
                    json.dumps([token, ts]),
                ][kind]
                f.write(msg + "\n")
                bads.append(msg)
            rec = {"token": token, "ts": ts_text(rnd, ts), "amount": amount,
                   "price": price_of(token, ts), "qty": qty_of(token, ts)}
            if rnd.random() < 0.1:
                rec["amount"] = str(amount)  # numbers as strings are numbers
            f.write(json.dumps(rec) + "\n")
    if bad:
        with open(out + ".bad", "w") as f:
            for b in bads:
                f.write(b + "\n")


def redis(seed, n, t, out):
    with open(out, "w") as f:
        for token, ts, amount in events(seed, n, t):
            f.write("token %s ts %d amount %d price %r qty %d\n"
                    % (token, ts, amount, price_of(token, ts), qty_of(token, ts)))


def parse_events(path):
    evs = []
    with open(path) as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if not isinstance(e, dict) or "token" not in e or "ts" not in e:
                continue
            try:
                amount = int(e["amount"])
            except ValueError:
                continue
            ts = e["ts"]
            if isinstance(ts, str):
                ts = int(datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")
                         .replace(tzinfo=timezone.utc).timestamp())
            elif ts >= 1e11:
                ts //= 1000
            evs.append((e["token"], ts, amount))
    return evs


def fmt(v):
    if v is None:
        return ""
    return repr(v) if isinstance(v, float) else str(v)


def expect(path, t):
    by = {}
    for token, ts, amount in parse_events(path):
        by.setdefault(token, []).append((ts, amount))
    for token in sorted(by):
        evs = by[token]
        newest = max(ts for ts, _ in evs)
        in1h = [a for ts, a in evs if t - 3600 <= ts < t]
        in2h = [a for ts, a in evs if t - 7200 <= ts < t]
        p30 = [price_of(token, ts) for ts, _ in evs if t - 1800 <= ts < t]
        row = [token, fmt(price_of(token, newest)), fmt(qty_of(token, newest)),
               fmt(len(in1h)), fmt(sum(in1h)), fmt(max(in2h) if in2h else None),
               fmt(sum(p30) / len(p30) if p30 else None)]
        print("\t".join(row))


def close(a, b):
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return abs(x - y) <= 1e-9 * max(1.0, abs(x), abs(y))


def compare(exp_path, act_path):
    exp = [l.rstrip("\n").split("\t") for l in open(exp_path) if l.strip()]
    act = [l.rstrip("\n").split("\t") for l in open(act_path) if l.strip()]
    bad = 0
    if len(exp) != len(act):
        print("expected %d rows, got %d" % (len(exp), len(act)))
        bad += 1
    for e, a in zip(exp, act):
        if len(e) != len(a) or not all(close(x, y) for x, y in zip(e, a)):
            print("expected %s\n     got %s" % ("\t".join(e), "\t".join(a)))
            bad += 1
            if bad > 10:
                break
    sys.exit(1 if bad else 0)


def main(argv):
    cmd = argv[1]
    if cmd == "gen":
        gen(int(argv[2]), int(argv[3]), int(argv[4]), argv[5], "--bad" in argv)
    elif cmd == "redis":
        redis(int(argv[2]), int(argv[3]), int(argv[4]), argv[5])
    elif cmd == "expect":
        expect(argv[2], int(argv[3]))
    elif cmd == "compare":
        compare(argv[2], argv[3])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
