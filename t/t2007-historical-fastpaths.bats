#!/usr/bin/env bats
# get-historical's fast paths against the brute-force reference
# t/pit_reference.py (or hand-computed output): the CSV reader's 8-byte
# record splitter (quotes, CRLF, blank lines, long records, no final line
# end, the 1 MiB read chunk), the source read in two halves on two threads
# (a quoted line end at the cut falls back to one pass; errors name the
# right line), the bucket join (ties on time, created and source order,
# across the halves too), dense int64 keys and hashed keys, and every
# timestamp spelling the CSV source accepts. Each check runs the scan on
# one thread and on two (FS_HISTORICAL_THREADS) and wants the same bytes.

load test_helper

setup() {
    common_setup
    "$FS" init -q repo
    cd repo
    rm features/driver.yaml
}

# view NAME KEYTYPE TTL FEATURES [CREATED]: features/NAME.yaml for data/NAME.csv
# keyed by entity column k (int64 or string); FEATURES: "name:type ...".
view() {
    local name=$1 ktype=$2 ttl=$3 feats=$4 created=${5:-}
    {
        echo "kind: entity"
        echo "name: ${name}_e"
        echo "join_key: k"
        echo "type: $ktype"
        echo "---"
        echo "kind: source"
        echo "name: ${name}_src"
        echo "type: csv"
        echo "path: data/$name.csv"
        echo "timestamp_field: ts"
        [ -z "$created" ] || echo "created_timestamp_field: $created"
        echo "---"
        echo "kind: feature_view"
        echo "name: $name"
        echo "entities: [${name}_e]"
        echo "source: ${name}_src"
        echo "ttl: $ttl"
        echo "features:"
        for f in $feats; do
            echo "  - {name: ${f%%:*}, type: ${f#*:}}"
        done
    } > "features/$name.yaml"
}

# spec NAME KEYTYPE TTL-SECONDS FEATURES [CREATED]: spec.json for the reference
spec() {
    python3 - "$@" > spec.json <<'EOF'
import json, sys
name, ktype, ttl, feats = sys.argv[1:5]
created = sys.argv[5] if len(sys.argv) > 5 else None
features = [{"name": f.split(":")[0], "type": f.split(":")[1]} for f in feats.split()]
print(json.dumps({
    "views": {name: {"join_keys": [{"name": "k", "type": ktype}], "source": "data/%s.csv" % name,
                     "timestamp_field": "ts", "created_timestamp_field": created,
                     "ttl": int(ttl), "features": features}},
    "columns": [[name, f["name"]] for f in features],
}))
EOF
}

# pit NAME: fs on one thread and on two, each byte for byte against the reference
pit() {
    python3 "$FS_SOURCE_ROOT/t/pit_reference.py" spec.json rows.csv > expected.csv
    for threads in 1 2; do
        FS_HISTORICAL_THREADS=$threads run -0 --separate-stderr fs get-historical --entities rows.csv -f "$1" -o "actual$threads.csv"
        assert_equal "$stderr" ""
        if ! cmp -s expected.csv "actual$threads.csv"; then
            diff -u expected.csv "actual$threads.csv" | head -20 | cut -c1-200
            fail "$1 on $threads thread(s) differs from the reference"
        fi
    done
    # the data exercise the join: some rows found a value, some did not
    grep -q ',$' expected.csv
    [ "$(grep -vc ',$' expected.csv)" -gt 1 ]
}

@test "historical fast paths: every timestamp spelling of source, created and entity rows matches the reference" {
    view t int64 1h "v:int64" cr
    spec t int64 3600 "v:int64" cr
    python3 - <<'EOF'
import datetime, random
rnd = random.Random(7)
E = datetime.datetime(1970, 1, 1)
def spell(us, i):
    secs, frac = divmod(us, 10**6)
    t = E + datetime.timedelta(seconds=secs)
    d = t.strftime("%Y-%m-%d")
    hms = t.strftime("%H:%M:%S")
    f6 = "%06d" % frac
    forms = [
        d + "T" + hms + "Z", d + "t" + hms + "z", d + " " + hms + "Z", d + " " + hms,
        d + "T" + hms + "." + f6 + "Z", d + "T" + hms + "." + f6.rstrip("0") + "Z" if frac else d + "T" + hms + ".0Z",
        d + "T" + hms + "." + f6 + "123Z",  # digits past microseconds are dropped
    ]
    for off in (120, -300, 330, -90, 0):
        l = t + datetime.timedelta(minutes=off)
        sign = "+" if off >= 0 else "-"
        forms.append(l.strftime("%Y-%m-%dT%H:%M:%S") + ("." + f6 if frac else "") +
                     "%s%02d:%02d" % (sign, abs(off) // 60, abs(off) % 60))
    if not frac:
        forms.append(str(secs))
    return forms[i % len(forms)]
T0 = 1714521600 * 10**6
src = ["k,ts,cr,v"]
for i in range(3000):
    us = T0 + rnd.randrange(0, 3 * 86400) * 10**6
    if rnd.random() < 0.3:
        us += rnd.randrange(1, 10**6)
    cr = "" if rnd.random() < 0.2 else spell(us + rnd.choice([0, 0, 10**6, 5]), rnd.randrange(99))
    src.append("%d,%s,%s,%d" % (rnd.randrange(1, 30), spell(us, i), cr, i))
# before the epoch: negative Unix seconds and 1969 dates
for i in range(20):
    us = -rnd.randrange(1, 86400) * 10**6
    src.append("%d,%s,,%d" % (31, spell(us, i) if i % 2 else str(us // 10**6), 5000 + i))
open("data/t.csv", "w").write("\n".join(src) + "\n")
rows = ["k,event_timestamp"]
for i in range(400):
    us = T0 + rnd.randrange(0, 3 * 86400) * 10**6 + (rnd.randrange(10**6) if i % 3 == 0 else 0)
    rows.append("%d,%s" % (rnd.randrange(1, 33), spell(us, i)))
for i in range(10):
    rows.append("31,%s" % spell(-rnd.randrange(0, 40000) * 10**6, i))
open("rows.csv", "w").write("\n".join(rows) + "\n")
EOF
    "$FS" apply -q
    pit t
    # and every spelling was used
    grep -q ' [0-9:]*,' data/t.csv
    grep -q '+05:30' data/t.csv
    grep -q ',-[0-9]*,' data/t.csv
}

@test "historical fast paths: a leap second, a date alone in the entity rows, and a created tie across spellings" {
    view t int64 0 "v:int64" cr
    printf '%s\n' 'k,ts,cr,v' \
        '1,2024-06-30T23:59:59Z,,1' \
        '1,2024-06-30T23:59:60Z,,2' \
        '1,1719791999,2024-06-30 23:59:59,3' \
        '2,2024-05-01T00:00:00+02:00,,4' \
        '2,2024-04-30 22:00:00,2024-04-30T22:00:00.000001Z,5' \
        '2,2024-04-30T22:00:00.000000Z,2024-04-30T22:00:00.000001+00:00,6' > data/t.csv
    printf '%s\n' 'k,event_timestamp' '1,2024-06-30T23:59:59Z' '1,2024-07-01' '2,2024-05-01' '2,2024-04-30T21:59:59.999999Z' > rows.csv
    "$FS" apply -q
    # 23:59:60 sorts with 23:59:59; among the three the non-null created wins, then the later row
    # row 2 at 22:00Z: rows 4, 5 and 6 tie on time; 5 and 6 on created; 6 is later
    for threads in 1 2; do
        FS_HISTORICAL_THREADS=$threads run -0 fs get-historical --entities rows.csv -f t
        assert_output "k,event_timestamp,v
1,2024-06-30T23:59:59Z,3
1,2024-07-01,3
2,2024-05-01,6
2,2024-04-30T21:59:59.999999Z,"
    done
}

@test "historical fast paths: quoted fields with commas, quotes and line ends, CRLF and blank lines match the reference" {
    view q string 1d "s:string f:float64"
    spec q string 86400 "s:string f:float64"
    python3 - <<'EOF'
import random
rnd = random.Random(3)
def q(s):
    return '"' + s.replace('"', '""') + '"' if any(c in s for c in ',"\r\n') or rnd.random() < 0.1 else s
words = ["plain", "a,b", 'say "hi"', "two\nlines", "crlf\r\ninside", "", "café", " sp ", '"', ",", "\n"]
keys = ["a", "b,c", 'q"k', "line\nkey", "x"]
src = ["k,ts,s,f"]
for i in range(600):
    src.append("%s,%d,%s,%s" % (q(rnd.choice(keys)), 1714521600 + rnd.randrange(0, 5 * 86400),
                                q(rnd.choice(words)), rnd.choice(["1.5", "-0.25", "", "1e3", "7"])))
    if i % 50 == 0:
        src.append("")  # a blank line
open("data/q.csv", "w", newline="").write("\r\n".join(src) + "\r\n")
rows = ["k,event_timestamp,label"]
for i in range(120):
    rows.append("%s,%d,%s" % (q(rnd.choice(keys + ["nope"])), 1714521600 + rnd.randrange(0, 6 * 86400),
                              q(rnd.choice(words))))
open("rows.csv", "w", newline="").write("\r\n".join(rows) + "\r\n")
EOF
    "$FS" apply -q
    pit q
    grep -q 'crlf' expected.csv
}

@test "historical fast paths: a 1 MiB field, a file without a final line end, and records across the 1 MiB read chunk" {
    view w int64 0 "s:string n:int64"
    spec w int64 0 "s:string n:int64"
    python3 - <<'EOF'
import random
rnd = random.Random(5)
src = ["k,ts,s,n"]
size = len(src[0]) + 1
i = 0
# lines of every length around the 1 MiB chunk (and the 256 KiB refill) edges
while size < 3 * 1024 * 1024:
    if i == 40:
        s = "L" * (1024 * 1024)          # one field of 1 MiB
    elif i == 41:
        s = "M" * (2 * 1024 * 1024 + 3)  # a record longer than the chunk
    else:
        s = "v" * rnd.randrange(0, 3000)
    line = "%d,%d,%s,%d" % (rnd.randrange(1, 8), 1714521600 + i, s, i)
    src.append(line)
    size += len(line) + 1
    i += 1
open("data/w.csv", "w").write("\n".join(src))  # no final line end
rows = ["k,event_timestamp"] + ["%d,%d" % (k, 1714521600 + t) for k in range(1, 9) for t in (0, 39, 40, 41, 45, i // 2, i - 1, i + 5)]
open("rows.csv", "w").write("\n".join(rows))  # nor here
EOF
    "$FS" apply -q
    pit w
    # the long values came through whole
    run -0 python3 -c 'import csv, sys; csv.field_size_limit(1 << 30); print(max(len(r[2]) for r in csv.reader(open("actual2.csv"))))'
    assert_output $((2 * 1024 * 1024 + 3))
    # and every size of file around the chunk: the end of the last record is found
    for extra in 0 1 7 8 9; do
        python3 - "$extra" <<'EOF'
import sys
extra = int(sys.argv[1])
head = "k,ts,s,n\n"
body = "1,1714521600,%s,1" % ("x" * (1024 * 1024 - len(head) - len("1,1714521600,,1") - 1 + extra))
open("data/w.csv", "w").write(head + body + ("\n" if extra % 2 else ""))
EOF
        for threads in 1 2; do
            FS_HISTORICAL_THREADS=$threads run -0 fs get-historical --entities rows.csv -f w:n -o out.csv
            run -0 sed -n 2p out.csv
            assert_output "1,1714521600,1"
        done
    done
}

@test "historical fast paths: header only, an empty file, and blank lines alone" {
    view h int64 0 "n:int64"
    printf 'k,ts,n\n' > data/h.csv
    "$FS" apply -q
    printf 'k,event_timestamp\n1,1714521600\n' > rows.csv
    for threads in 1 2; do
        FS_HISTORICAL_THREADS=$threads run -0 --separate-stderr fs get-historical --entities rows.csv -f h
        assert_output "k,event_timestamp,n
1,1714521600,"
    done
    printf 'k,ts,n\r\n\r\n\n\r\n' > data/h.csv
    run -0 --separate-stderr fs get-historical --entities rows.csv -f h
    assert_output "k,event_timestamp,n
1,1714521600,"
    : > data/h.csv
    run -128 --separate-stderr fs get-historical --entities rows.csv -f h
    assert_equal "$stderr" "fatal: data/h.csv: empty file (a csv source needs a header row)"
    printf 'k,event_timestamp' > rows.csv
    printf 'k,ts,n\n1,1714521600,5' > data/h.csv
    run -0 fs get-historical --entities rows.csv -f h
    assert_output "k,event_timestamp,n"
}

@test "historical fast paths: a quoted line end at the halves' cut falls back to one pass, same output" {
    view c string 0 "s:string"
    spec c string 0 "s:string"
    python3 - <<'EOF'
# the middle of the rows falls inside a quoted field with line ends in it
src = ["k,ts,s"]
for i in range(2000):
    src.append("a,%d,v%d" % (1714521600 + i, i))
body = "\n".join(src[1:])
mid = len(src[0]) + 1 + len(body) // 2
# a record whose quoted field spans the middle
text = src[0] + "\n" + body
cut = text.rfind("\n", 0, mid) + 1
rec = 'a,%d,"%s"' % (1714521600 + 5000, "x\n" * 200)
text = text[:cut] + rec + "\n" + text[cut:] + "\n"
open("data/c.csv", "w").write(text)
open("rows.csv", "w").write("k,event_timestamp\na,1714521600\na,%d\na,%d\nb,1714521700\n" % (1714521600 + 999, 1714521600 + 6000))
EOF
    "$FS" apply -q
    pit c
    grep -q '"x$' expected.csv
}

@test "historical fast paths: errors in the second half name the file's line, as on one thread" {
    view e int64 0 "n:int64"
    python3 - <<'EOF'
src = ["k,ts,n"] + ["1,%d,%d" % (1714521600 + i, i) for i in range(5000)]
src[4000] = "1,%d,notanint" % 1714521600
src[4500] = "1,yesterday,4"
open("data/e.csv", "w").write("\n".join(src) + "\n")
EOF
    printf 'k,event_timestamp\n1,1714531600\n' > rows.csv
    "$FS" apply -q
    for threads in 1 2; do
        FS_HISTORICAL_THREADS=$threads run -128 --separate-stderr fs get-historical --entities rows.csv -f e
        assert_equal "$stderr" "fatal: data/e.csv:4001: column 'n': 'notanint' is not an int64 (feature 'n' of feature_view 'e')"
    done
    sed -i '4001s/.*/1,1714521600,7/' data/e.csv
    for threads in 1 2; do
        FS_HISTORICAL_THREADS=$threads run -128 --separate-stderr fs get-historical --entities rows.csv -f e
        assert_equal "$stderr" "fatal: data/e.csv:4501: column 'ts': bad timestamp 'yesterday' (expected RFC 3339 like 2024-05-01T10:00:00Z, 'YYYY-MM-DD HH:MM:SS' in UTC, or Unix seconds)"
    done
    sed -i '4501s/.*/x1,1714521600,7/' data/e.csv
    for threads in 1 2; do
        FS_HISTORICAL_THREADS=$threads run -128 --separate-stderr fs get-historical --entities rows.csv -f e
        assert_equal "$stderr" "fatal: data/e.csv:4501: column 'k': 'x1' is not an int64 (join key of entity 'e_e')"
    done
}

@test "historical fast paths: ties on time and created go to the later row, across the two halves too" {
    view t int64 0 "n:int64" cr
    python3 - <<'EOF'
src = ["k,ts,cr,n"]
# the first of each pair in the first half of the file, the second in the second
# key 1: the same (ts, created) twice: the later row wins
# key 2: the greater created wins wherever it is; a null created loses to any
# key 3: null created only: the later row
src += ["1,1714521600,1714521600,100", "2,1714521700,1714521900,300", "3,1714521600,,600"]
src += ["9,%d,,%d" % (1714521600 + i, i) for i in range(6000)]
src += ["1,1714521600,1714521600,200", "2,1714521700,1714521800,400", "2,1714521700,,500",
        "3,1714521600,,700"]
open("data/t.csv", "w").write("\n".join(src) + "\n")
open("rows.csv", "w").write("k,event_timestamp\n1,1714521600\n2,1714521700\n3,1714521600\n3,1714521599\n1,1714521600\n")
EOF
    "$FS" apply -q
    for threads in 1 2; do
        FS_HISTORICAL_THREADS=$threads run -0 fs get-historical --entities rows.csv -f t
        assert_output "k,event_timestamp,n
1,1714521600,200
2,1714521700,300
3,1714521600,700
3,1714521599,
1,1714521600,200"
    done
}

@test "historical fast paths: dense int64 keys, sparse ones and string keys give the reference's answers" {
    for kind in dense sparse string; do
        rm -f features/*.yaml
        if [ $kind = string ]; then ktype=string; else ktype=int64; fi
        view d $ktype 2h "a:int64 b:float64"
        spec d $ktype 7200 "a:int64 b:float64"
        python3 - $kind <<'EOF'
import random, sys
kind = sys.argv[1]
rnd = random.Random(11)
if kind == "dense":
    keys = [str(k) for k in range(-5, 60)] + ["+7", "007"]
elif kind == "sparse":
    keys = [str(k) for k in (1, -9223372036854775808, 9223372036854775807, 10**12, -3, 0)]
else:
    keys = ["k%d" % k for k in range(40)] + ["", "7"]
src = ["k,ts,a,b"]
for i in range(4000):
    src.append("%s,%d,%d,%s" % (rnd.choice(keys + [""]), 1714521600 + rnd.randrange(0, 86400), i,
                                rnd.choice(["0.5", "2", "", "-1.25e-3"])))
open("data/d.csv", "w").write("\n".join(src) + "\n")
rows = ["k,event_timestamp"]
for i in range(300):
    rows.append("%s,%d" % (rnd.choice(keys + ["99999", ""] if kind != "string" else keys + ["none"]),
                           1714521600 + rnd.randrange(0, 90000)))
open("rows.csv", "w").write("\n".join(rows) + "\n")
EOF
        "$FS" apply -q
        pit d
    done
}

@test "historical fast paths: an aggregation view scanned in two halves gives the one-pass answers" {
    cat > features/agg.yaml <<'YAML'
kind: entity
name: tok
join_key: k
type: int64
---
kind: source
name: ev
type: csv
path: data/ev.csv
timestamp_field: ts
---
kind: feature_view
name: w
entities: [tok]
source: ev
aggregations:
  - {name: n_1h, function: count, window: 1h}
  - {name: sum_1h, function: sum, column: x, type: int64, window: 1h}
  - {name: avg_1d, function: avg, column: y, window: 1d}
  - {name: last_1d, function: last, column: y, window: 1d}
YAML
    python3 - <<'EOF'
import random
rnd = random.Random(2)
src = ["k,ts,x,y"] + ["%d,%d,%d,%s" % (rnd.randrange(1, 20), 1714521600 + rnd.randrange(0, 2 * 86400),
                                       rnd.randrange(100), rnd.choice(["0.5", "1.25", ""]))
                      for i in range(20000)]
open("data/ev.csv", "w").write("\n".join(src) + "\n")
open("rows.csv", "w").write("k,event_timestamp\n" + "".join(
    "%d,%d\n" % (rnd.randrange(1, 22), 1714521600 + rnd.randrange(0, 2 * 86400)) for i in range(500)))
EOF
    "$FS" apply -q
    FS_HISTORICAL_THREADS=1 run -0 fs get-historical --entities rows.csv -f w -o one.csv
    FS_HISTORICAL_THREADS=2 run -0 fs get-historical --entities rows.csv -f w -o two.csv
    run -0 cmp one.csv two.csv
    # values, not just agreement: some windows hold events, some do not
    run -0 awk -F, 'NR > 1 && $3 > 0 { n++ } NR > 1 && $3 == 0 { z++ } END { print (n > 100), (z > 0) }' one.csv
    assert_output "1 1"
}
