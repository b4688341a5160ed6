#!/usr/bin/env bats
# contrib/python (fs_client): the Python module for notebooks. Its reads must
# give what the CLI gives for the same input (the training set of `fs
# get-historical`, the response of `fs get-online --json`), typed; its writes
# (push, materialize, register-model, promote) must be readable back; fs's
# errors must arrive as exceptions carrying fs's message and exit status; and
# it must install offline with Debian 12's pip. Run with Debian's python3
# (/usr/bin/python3, which has python3-pandas), not whatever python3 is first
# on PATH.

load test_helper
load lib-serve

PY=/usr/bin/python3

setup() {
    common_setup
    [ -x "$PY" ] || fail "$PY is missing (Debian's python3)"
    "$PY" -c 'import pandas' 2> /dev/null || fail "$PY has no pandas (apt-get install python3-pandas)"
    export PYTHONPATH=$FS_SOURCE_ROOT/contrib/python PYTHONDONTWRITEBYTECODE=1
}

py() { "$PY" - "$@"; }

# A repo whose definitions cover every feature type: driver_stats (float64,
# int64, bool, string, timestamp; ttl 1d) and driver_extra (float32, int32)
# over data/driver.csv, a push source driver_push whose view driver_pushed
# (ttl 0) reads data/pushed.csv offline, a feature service svc, and the
# model eta (production needs staging first and auc >= 0.80). Applied; cwd
# inside. rows.csv holds entity rows for the training-set tests.
py_repo() {
    init_repo
    rm features/driver.yaml data/driver_stats.csv data/driver_trips.csv
    cat > features/defs.yaml <<'EOF'
kind: entity
name: driver
join_key: driver_id
type: int64
---
kind: source
name: driver_src
type: csv
path: data/driver.csv
timestamp_field: event_timestamp
created_timestamp_field: created
---
kind: feature_view
name: driver_stats
entities: [driver]
source: driver_src
ttl: 1d
features:
  - {name: conv_rate, type: float64}
  - {name: trips, type: int64}
  - {name: active, type: bool}
  - {name: tier, type: string}
  - {name: since, type: timestamp}
---
kind: feature_view
name: driver_extra
entities: [driver]
source: driver_src
ttl: 1d
features:
  - {name: acc, type: float32}
  - {name: rank, type: int32}
---
kind: source
name: pushed_src
type: csv
path: data/pushed.csv
timestamp_field: event_timestamp
---
kind: source
name: driver_push
type: push
batch_source: pushed_src
---
kind: feature_view
name: driver_pushed
entities: [driver]
source: driver_push
ttl: 0
features:
  - {name: conv_rate, type: float64}
  - {name: trips, type: int64}
---
kind: feature_service
name: svc
features:
  - driver_stats: [trips, conv_rate]
  - driver_extra
---
kind: model
name: eta
feature_service: svc
promotion:
  production:
    from: [staging]
    metrics: {auc: ">= 0.80"}
EOF
    cat > data/driver.csv <<'EOF'
driver_id,event_timestamp,created,conv_rate,trips,active,tier,since,acc,rank
1001,2024-05-01T10:00:00Z,,0.50,10,true,gold,2023-01-01T12:00:00+02:00,0.25,3
1001,2024-05-01T12:00:00Z,,0.75,,false,,,0.5,
1002,2024-05-01T09:00:00Z,,1e3,20,,"a, b",2024-04-30T00:00:00.5Z,,7
EOF
    printf 'driver_id,event_timestamp,conv_rate,trips\n1001,2024-05-01T08:00:00Z,0.01,1\n' > data/pushed.csv
    cat > rows.csv <<'EOF'
driver_id,event_timestamp,label
1001,2024-05-01T11:00:00Z,1
1001,2024-05-01T12:30:00+02:00,0
1002,2024-05-01T09:30:00Z,1
1003,2024-05-01T10:00:00Z,0
1001,2024-05-01T13:00:00Z,1
EOF
    "$FS" apply -q -m "python test"
}

# Python that reads `fs get-historical`'s CSV as pandas.read_csv does (an
# empty cell is null, nothing else is), with the timestamp columns named in
# TS_COLS as UTC datetimes: expected(path).
EXPECTED_PY='
import pandas as pd
def expected(path, ts_cols=("event_timestamp", "since")):
    df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    for c in ts_cols:
        if c in df.columns:
            df[c] = pd.to_datetime(df[c], utc=True)
    return df
'

@test "python: get_historical_features(DataFrame).to_df() equals fs get-historical's CSV, values and dtypes" {
    py_repo
    fs get-historical --entities rows.csv -f driver_stats -o want.csv
    run -0 py <<EOF
$EXPECTED_PY
import fs_client
entity_df = pd.read_csv("rows.csv")
entity_df["event_timestamp"] = pd.to_datetime(entity_df["event_timestamp"], utc=True)
job = fs_client.FeatureStore(repo_path=".").get_historical_features(
    entity_df=entity_df, features=["driver_stats:conv_rate", "driver_stats:trips",
                                   "driver_stats:active", "driver_stats:tier", "driver_stats:since"])
df = job.to_df()
want = expected("want.csv")
pd.testing.assert_frame_equal(df, want)
assert [str(t) for t in df.dtypes] == ["int64", "datetime64[ns, UTC]", "int64", "float64",
                                       "float64", "object", "object", "datetime64[ns, UTC]"], df.dtypes
# the values themselves, written out (None, not NaN, for missing strings and bools, as Feast)
assert df["conv_rate"].tolist()[:3] == [0.5, 0.5, 1000.0] and df["conv_rate"].isna().tolist() == [False] * 3 + [True, False]
assert df["conv_rate"][4] == 0.75
assert df["trips"].isna().tolist() == [False, False, False, True, True] and df["trips"].tolist()[:3] == [10.0, 10.0, 20.0]
assert df["active"].tolist() == [True, True, None, None, False], df["active"].tolist()
assert df["tier"].tolist() == ["gold", "gold", "a, b", None, None], df["tier"].tolist()
assert df["since"].tolist()[:3] == [pd.Timestamp("2023-01-01T10:00:00Z"), pd.Timestamp("2023-01-01T10:00:00Z"),
                                    pd.Timestamp("2024-04-30T00:00:00.5Z")], df["since"].tolist()
assert df["since"].isna().tolist() == [False, False, False, True, True]
assert df["event_timestamp"][1] == pd.Timestamp("2024-05-01T10:30:00Z")
assert df["label"].tolist() == [1, 0, 1, 0, 1]
assert job.feature_types == {"conv_rate": "float64", "trips": "int64", "active": "bool",
                             "tier": "string", "since": "timestamp"}, job.feature_types
print("ok")
EOF
    assert_output ok
}

@test "python: a CSV path and a list of dicts as entity rows, a feature service, full feature names, declared widths" {
    py_repo
    fs get-historical --entities rows.csv -f svc -f driver_stats:active --full-feature-names -o want.csv
    run -0 py <<EOF
$EXPECTED_PY
import datetime as dt, fs_client
store = fs_client.Repo(".")
feats = ["svc", "driver_stats:active"]
want = expected("want.csv")
# a float32 feature keeps its width, as in Feast's to_df; an int32 with nulls is float64 either way
want["driver_extra__acc"] = want["driver_extra__acc"].astype("float32")

got = store.get_historical_features("rows.csv", feats, full_feature_names=True).to_df()
pd.testing.assert_frame_equal(got, want)
assert list(got.columns) == ["driver_id", "event_timestamp", "label", "driver_stats__trips",
                             "driver_stats__conv_rate", "driver_extra__acc", "driver_extra__rank",
                             "driver_stats__active"], list(got.columns)
assert got["driver_extra__rank"].isna().sum() == 2 and got["driver_extra__acc"].isna().sum() == 2

# the same rows as Python dicts, with naive datetimes (UTC, as in Feast)
rows = [{"driver_id": 1001, "event_timestamp": dt.datetime(2024, 5, 1, 11), "label": 1},
        {"driver_id": 1001, "event_timestamp": dt.datetime(2024, 5, 1, 10, 30), "label": 0},
        {"driver_id": 1002, "event_timestamp": dt.datetime(2024, 5, 1, 9, 30), "label": 1},
        {"driver_id": 1003, "event_timestamp": dt.datetime(2024, 5, 1, 10), "label": 0},
        {"driver_id": 1001, "event_timestamp": dt.datetime(2024, 5, 1, 13), "label": 1}]
got = store.get_historical_features(rows, feats, full_feature_names=True).to_df()
pd.testing.assert_frame_equal(got, want)

# only driver_extra's features, both widths without nulls
one = store.get_historical_features(rows[:2], ["driver_extra"]).to_df()
assert [str(t) for t in one.dtypes[-2:]] == ["float32", "int32"], one.dtypes
assert one["acc"].tolist() == [0.25, 0.25] and one["rank"].tolist() == [3, 3]

# a timestamp column of another name is found as the only datetime column
renamed = [{"driver_id": r["driver_id"], "asof": r["event_timestamp"]} for r in rows[:1]]
got = store.get_historical_features(renamed, ["driver_stats:trips"]).to_df()
assert list(got.columns) == ["driver_id", "asof", "trips"] and got["trips"].tolist() == [10], got
print("ok")
EOF
    assert_output ok
}

@test "python: without pandas, to_dict() and to_records() give the typed rows of --format json" {
    py_repo
    fs get-historical --entities rows.csv -f driver_stats -f driver_extra:rank --format json > want.jsonl
    run -0 py <<'EOF'
import sys
sys.modules["pandas"] = None          # hide pandas: "import pandas" raises ImportError
try:
    import pandas
    raise SystemExit("pandas is not hidden")
except ImportError:
    pass
import datetime as dt, json, fs_client
utc = dt.timezone.utc
store = fs_client.Repo(".")
rows = [{"driver_id": 1001, "event_timestamp": dt.datetime(2024, 5, 1, 11, tzinfo=utc), "label": 1},
        {"driver_id": 1001, "event_timestamp": "2024-05-01T12:30:00+02:00", "label": 0},
        {"driver_id": 1002, "event_timestamp": dt.datetime(2024, 5, 1, 9, 30), "label": 1},
        {"driver_id": 1003, "event_timestamp": dt.datetime(2024, 5, 1, 10), "label": 0},
        {"driver_id": 1001, "event_timestamp": dt.datetime(2024, 5, 1, 13), "label": 1}]
job = store.get_historical_features(rows, ["driver_stats", "driver_extra:rank"])
recs = job.to_records()

# fs's own JSON rows, the timestamps parsed, the entity columns the caller's
want = [json.loads(l) for l in open("want.jsonl")]
for w, r in zip(want, rows):
    w["label"] = r["label"]
    w["event_timestamp"] = dt.datetime.fromisoformat(w["event_timestamp"].replace("Z", "+00:00")).astimezone(utc)
    if w["since"] is not None:
        w["since"] = dt.datetime.fromisoformat(w["since"].replace("Z", "+00:00"))
assert recs == want, (recs, want)
for got, w in zip(recs, want):
    assert list(got) == list(w)
    for k in w:
        assert type(got[k]) is type(w[k]), (k, got[k], w[k])

# and written out
assert recs[0] == {"driver_id": 1001, "event_timestamp": dt.datetime(2024, 5, 1, 11, tzinfo=utc), "label": 1,
                   "conv_rate": 0.5, "trips": 10, "active": True, "tier": "gold",
                   "since": dt.datetime(2023, 1, 1, 10, tzinfo=utc), "rank": 3}, recs[0]
assert recs[1]["event_timestamp"] == dt.datetime(2024, 5, 1, 10, 30, tzinfo=utc)
assert recs[2]["conv_rate"] == 1000.0 and recs[2]["active"] is None and recs[2]["tier"] == "a, b"
assert recs[2]["since"] == dt.datetime(2024, 4, 30, 0, 0, 0, 500000, tzinfo=utc)
assert recs[3] == {"driver_id": 1003, "event_timestamp": dt.datetime(2024, 5, 1, 10, tzinfo=utc), "label": 0,
                   "conv_rate": None, "trips": None, "active": None, "tier": None, "since": None, "rank": None}
assert recs[4]["conv_rate"] == 0.75 and recs[4]["trips"] is None and recs[4]["active"] is False

cols = job.to_dict()
assert list(cols) == job.columns and cols["trips"] == [10, 10, 20, None, None], cols
assert job.to_dict(orient="records") == recs

# a CSV file: the entity columns as fs echoes them (int64 keys as numbers, the rest text)
recs = store.get_historical_features("rows.csv", ["driver_stats:trips"]).to_records()
assert [(r["driver_id"], r["label"], r["trips"]) for r in recs] == \
    [(1001, "1", 10), (1001, "0", 10), (1002, "1", 20), (1003, "0", None), (1001, "1", None)], recs
try:
    job.to_df()
    raise SystemExit("to_df() worked without pandas")
except ImportError as e:
    assert "to_dict()" in str(e), e
print("ok")
EOF
    assert_output ok
}

@test "python: materialize, then get_online_features equals fs get-online --json (CLI and serve-lite)" {
    py_repo
    run -0 py <<'EOF'
import datetime as dt, fs_client
res = fs_client.Repo(".").materialize(dt.datetime(2024, 5, 1), "2024-05-02", feature_views=["driver_stats", "driver_extra"])
assert sorted((v["view"], v["start"], v["end"], v["keys_written"]) for v in res["views"]) == [
    ("driver_extra", "2024-05-01T00:00:00Z", "2024-05-02T00:00:00Z", 2),
    ("driver_stats", "2024-05-01T00:00:00Z", "2024-05-02T00:00:00Z", 2)], res
print("ok")
EOF
    assert_output ok
    fs get-online -f driver_stats -f driver_extra:rank -e driver_id=1001 -e driver_id=1002 -e driver_id=1003 --json > want.json
    fs get-online -f svc -e driver_id=1001 -e driver_id=1003 --json > want-svc.json
    start_server
    URL=$URL run -0 py <<'EOF'
import json, os, pandas as pd, fs_client
want = json.load(open("want.json"))
want_dict = {n: r["values"] for n, r in zip(want["metadata"]["feature_names"], want["results"])}
rows = [{"driver_id": 1001}, {"driver_id": 1002}, {"driver_id": 1003}]

cli = fs_client.Repo(".").get_online_features(["driver_stats", "driver_extra:rank"], rows)
assert cli.response == want, (cli.response, want)
assert cli.to_dict() == want_dict
assert cli.to_dict() == {"driver_id": [1001, 1002, 1003], "conv_rate": [0.75, 1000.0, None],
                         "trips": [None, 20, None], "active": [False, None, None],
                         "tier": [None, "a, b", None], "since": [None, 1714435200.5, None],
                         "rank": [None, 7, None]}, cli.to_dict()
st = cli.statuses()
assert st["trips"] == ["NULL_VALUE", "OUTSIDE_MAX_AGE", "NOT_FOUND"], st
ts = cli.to_dict(include_event_timestamps=True)
assert ts["conv_rate__ts"] == [1714564800, 1714554000, 0] and ts["driver_id__ts"] == [0, 0, 0], ts
df = cli.to_df()
pd.testing.assert_frame_equal(df, pd.DataFrame(want_dict))

# the same through serve-lite, a dict of columns as entity rows
http = fs_client.Repo(".", serve_url=os.environ["URL"])
got = http.get_online_features(["driver_stats:conv_rate", "driver_stats:trips", "driver_stats:active",
                                "driver_stats:tier", "driver_stats:since", "driver_extra:rank"],
                               {"driver_id": [1001, 1002, 1003]})
assert got.to_dict() == want_dict, got.to_dict()
assert got.statuses() == cli.statuses()
svc = http.get_online_features("svc", [{"driver_id": 1001}, {"driver_id": 1003}])
assert svc.response == json.load(open("want-svc.json")), svc.response
assert svc.to_dict() == {"driver_id": [1001, 1003], "trips": [None, None], "conv_rate": [0.75, None],
                         "acc": [0.5, None], "rank": [None, None]}, svc.to_dict()
print("ok")
EOF
    assert_output ok
}

@test "python: materialize_incremental resumes from the last end" {
    py_repo
    run -0 py <<'EOF'
import fs_client
store = fs_client.Repo(".")
first = store.materialize_incremental("2024-05-01T11:00:00Z", feature_views="driver_stats")
assert [(v["view"], v["start"], v["end"]) for v in first["views"]] == [
    ("driver_stats", "2024-04-30T11:00:00Z", "2024-05-01T11:00:00Z")], first
r = store.get_online_features(["driver_stats:conv_rate"], [{"driver_id": 1001}], at="2024-05-01T11:00:00Z")
assert r.to_dict() == {"driver_id": [1001], "conv_rate": [0.5]}, r.to_dict()
second = store.materialize_incremental("2024-05-01T13:00:00Z", ["driver_stats"])
assert [(v["start"], v["end"]) for v in second["views"]] == [("2024-05-01T11:00:00Z", "2024-05-01T13:00:00Z")], second
r = store.get_online_features(["driver_stats:conv_rate"], [{"driver_id": 1001}], at="2024-05-01T13:00:00Z")
assert r.to_dict() == {"driver_id": [1001], "conv_rate": [0.75]} and r.statuses()["conv_rate"] == ["PRESENT"], r.response
print("ok")
EOF
    assert_output ok
}

@test "python: push to the online store (CLI and serve-lite), then read back" {
    py_repo
    start_server
    URL=$URL run -0 py <<'EOF'
import datetime as dt, os, pandas as pd, fs_client
from fs_client import PushMode
store = fs_client.Repo(".")
t1 = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=1)
t2 = t1 + dt.timedelta(minutes=30)
df = pd.DataFrame({"driver_id": [1001, 1004], "event_timestamp": [t1, t1],
                   "conv_rate": [0.125, None], "trips": [7, 8]})
res = store.push("driver_push", df)
assert res == {"views": [{"view": "driver_pushed", "rows": 2, "keys_written": 2,
                           "newest_event": t1.strftime("%Y-%m-%dT%H:%M:%SZ")}]}, res
feats = ["driver_pushed:conv_rate", "driver_pushed:trips"]
r = store.get_online_features(feats, [{"driver_id": 1001}, {"driver_id": 1004}, {"driver_id": 1005}])
assert r.to_dict() == {"driver_id": [1001, 1004, 1005], "conv_rate": [0.125, None, None],
                       "trips": [7, 8, None]}, r.to_dict()
assert r.statuses()["conv_rate"] == ["PRESENT", "NULL_VALUE", "NOT_FOUND"], r.statuses()
assert r.event_timestamps()["trips"][:2] == [t1, t1], r.event_timestamps()

# through serve-lite, as a list of dicts, Feast's PushMode; an older row loses
http = fs_client.Repo(".", serve_url=os.environ["URL"])
res = http.push("driver_push", [{"driver_id": 1004, "event_timestamp": t2, "conv_rate": 2.5, "trips": 9},
                                {"driver_id": 1001, "event_timestamp": t1 - dt.timedelta(hours=1),
                                 "conv_rate": 9.0, "trips": 99}], to=PushMode.ONLINE)
assert res["views"][0]["view"] == "driver_pushed" and res["views"][0]["rows"] == 2, res
r = store.get_online_features(feats, [{"driver_id": 1001}, {"driver_id": 1004}])
assert r.to_dict() == {"driver_id": [1001, 1004], "conv_rate": [0.125, 2.5], "trips": [7, 9]}, r.to_dict()
assert http.get_online_features(feats, [{"driver_id": 1004}]).to_dict()["trips"] == [9]

for bad in ("bogus", "", None, 7):
    try:
        store.push("driver_push", df, to=bad)
        raise SystemExit("to=%r accepted" % (bad,))
    except ValueError as e:
        assert "online_and_offline" in str(e), e
print("ok")
EOF
    assert_output ok
}

@test "python: push to=offline and online_and_offline, then read back" {
    fs push -h | grep -q -- '--to' || skip "fs push has no --to yet"
    py_repo
    run -0 py <<'EOF'
import fs_client
store = fs_client.Repo(".")
off = [{"driver_id": 1005, "event_timestamp": "2024-05-02T00:00:00Z", "conv_rate": 0.9, "trips": 30}]
both = [{"driver_id": 1006, "event_timestamp": "2024-05-02T00:00:00Z", "conv_rate": 0.8, "trips": 40}]
store.push("driver_push", off, to="offline")
store.push("driver_push", both, to="ONLINE_AND_OFFLINE")
feats = ["driver_pushed:conv_rate", "driver_pushed:trips"]
hist = store.get_historical_features(
    [{"driver_id": k, "event_timestamp": "2024-05-02T01:00:00Z"} for k in (1005, 1006, 1001)], feats).to_records()
assert [(r["conv_rate"], r["trips"]) for r in hist] == [(0.9, 30), (0.8, 40), (0.01, 1)], hist
online = store.get_online_features(feats, [{"driver_id": 1005}, {"driver_id": 1006}])
assert online.to_dict() == {"driver_id": [1005, 1006], "conv_rate": [None, 0.8], "trips": [None, 40]}, online.to_dict()
print("ok")
EOF
    assert_output ok
}

@test "python: push through serve-lite to=online_and_offline, then read back" {
    py_repo
    start_server
    URL=$URL run -0 py <<'EOF'
import datetime as dt, os, fs_client
http = fs_client.Repo(".", serve_url=os.environ["URL"])
try:
    http.push("driver_push", {"driver_id": [1007], "event_timestamp": ["2024-05-02T00:00:00Z"],
                              "conv_rate": [0.7], "trips": [70]}, to="online_and_offline")
except fs_client.FsHTTPError as e:
    if "not supported yet" in e.message:
        print("skip: " + e.message)
        raise SystemExit(0)
    raise
feats = ["driver_pushed:conv_rate", "driver_pushed:trips"]
store = fs_client.Repo(".")
hist = store.get_historical_features([{"driver_id": 1007, "event_timestamp": "2024-05-02T01:00:00Z"}], feats)
assert hist.to_dict() == {"driver_id": [1007], "event_timestamp": [dt.datetime(2024, 5, 2, 1, tzinfo=dt.timezone.utc)],
                          "conv_rate": [0.7], "trips": [70]}, hist.to_dict()
online = store.get_online_features(feats, [{"driver_id": 1007}])
assert online.to_dict() == {"driver_id": [1007], "conv_rate": [0.7], "trips": [70]}, online.to_dict()
print("ok")
EOF
    [[ "$output" != "skip: "* ]] || skip "serve-lite's /push: ${output#skip: }"
    assert_output ok
}

@test "python: register_model, promote with gates, models and models_log" {
    py_repo
    echo "weights v1" > m1.bin
    echo "weights v2" > m2.bin
    run -0 py <<'EOF'
import json, subprocess, os, warnings, fs_client
from fs_client import FsCheckFailed
store = fs_client.Repo(".")
v1 = store.register_model("eta", "m1.bin", metrics={"auc": 0.86, "rmse": 3}, params={"lr": 0.1},
                          tags={"team": "eta"}, description="first")
assert (v1["model"], v1["version"], v1["stage"]) == ("eta", 1, "none"), v1
assert v1["metrics"] == {"auc": 0.86, "rmse": 3} and v1["params"] == {"lr": "0.1"} and v1["tags"] == {"team": "eta"}
assert v1["description"] == "first" and v1["artifact"]["uri"] == os.path.abspath("m1.bin"), v1
assert v1["lineage"]["feature_service"] == "svc"
v2 = store.register_model("eta", os.path.abspath("m2.bin"), metrics={"auc": 0.7})
assert v2["version"] == 2

# production needs staging first and auc >= 0.80: refused with both reasons
try:
    store.promote("eta", 2, "Production")
    raise SystemExit("promotion not refused")
except FsCheckFailed as e:
    assert e.returncode == 1 and "refused" in e.message, (e.returncode, e.message)
    assert e.unmet == ["stage: version is in 'none', promotion to 'production' requires one of [\"staging\"]",
                       "metric 'auc': 0.7 does not satisfy >= 0.80"], e.unmet
r = store.promote("eta", 1, "staging", reason="candidate")
assert (r["from"], r["to"], r["forced"], r["archived"]) == ("none", "staging", False, []), r
r = store.promote("eta", 1, "production")
assert (r["version"], r["from"], r["to"]) == (1, "staging", "production"), r
with warnings.catch_warnings(record=True) as said:
    warnings.simplefilter("always")
    r = store.promote("eta", 2, "production", force=True, reason="hotfix")
assert r["forced"] is True and r["archived"] == [1], r
# what fs says on stderr while succeeding arrives as a warning
assert [w.category for w in said] == [fs_client.FsWarning] and "forced past" in str(said[0].message), said

versions = store.models("eta")
assert [(v["version"], v["stage"]) for v in versions] == [(1, "archived"), (2, "production")], versions
cli = json.loads(subprocess.run([os.environ["FS"], "models", "--json"], capture_output=True, check=True).stdout)
assert store.models() == cli["versions"]
log = store.models_log("eta")
assert [(t["version"], t["from"], t["to"], t["reason"], t["forced"]) for t in log] == [
    (1, None, "none", "registered", False), (2, None, "none", "registered", False),
    (1, "none", "staging", "candidate", False), (1, "staging", "production", None, False),
    (1, "production", "archived", "replaced in production by version 2", False),
    (2, "none", "production", "hotfix", True)], log
at = store.models("eta", at="now")
assert at["stages"] == {"none": [], "staging": [], "production": [2], "archived": [1]}, at
at = store.models("eta", at="2000-01-01")
assert at["stages"] == {"none": [], "staging": [], "production": [], "archived": []}, at
print("ok")
EOF
    assert_output ok
}

@test "python: fs's errors are exceptions with fs's message and exit status" {
    py_repo
    run -128 --separate-stderr fs get-historical --entities rows.csv -f nope:conv_rate
    hist_err=$stderr
    run -128 --separate-stderr fs get-online -f driver_stats:nope -e driver_id=1
    online_err=$stderr
    run -129 --separate-stderr fs promote eta 1 bogus
    usage_err=$stderr
    mkdir ../empty
    start_server
    HIST_ERR=$hist_err ONLINE_ERR=$online_err USAGE_ERR=$usage_err URL=$URL run -0 py <<'EOF'
import json, os, fs_client
from fs_client import FsError, FsFatalError, FsUsageError, FsHTTPError, FsBinaryNotFound
store = fs_client.Repo(".")

def raised(f, cls):
    try:
        f()
    except cls as e:
        assert isinstance(e, FsError)
        return e
    raise SystemExit("no %s" % cls.__name__)

def check(e, code, stderr):
    assert e.returncode == code, e.returncode
    first, _, rest = stderr.strip().partition(": ")
    assert first in ("fatal", "error", "usage"), stderr
    assert str(e) == e.message and e.message in stderr, (e.message, stderr)
    if e.stderr.startswith("{"):
        # the client asked for --json: the error came as a line of JSON
        assert json.loads(e.stderr) == {"error": e.message, "code": code}, e.stderr
    else:
        assert e.stderr.strip() == stderr.strip(), (e.stderr, stderr)

e = raised(lambda: store.get_historical_features("rows.csv", ["nope:conv_rate"]), FsFatalError)
check(e, 128, os.environ["HIST_ERR"])
assert e.message == "no feature view 'nope' is registered", e.message
e = raised(lambda: store.get_online_features(["driver_stats:nope"], [{"driver_id": 1}]), FsFatalError)
check(e, 128, os.environ["ONLINE_ERR"])
assert e.message == "feature_view 'driver_stats' has no feature 'nope'", e.message
e = raised(lambda: store.promote("eta", 1, "bogus"), FsUsageError)
check(e, 129, os.environ["USAGE_ERR"])

# serve-lite's error answers: Feast's error body on its endpoints, else {"error": "..."}
http = fs_client.Repo(".", serve_url=os.environ["URL"])
e = raised(lambda: http.get_online_features(["nope:x"], [{"driver_id": 1}]), FsHTTPError)
assert (e.status, e.error_class) == (404, "FeatureViewNotFoundException"), (e.status, e.error_class)
assert e.message.startswith("Feature view nope does not exist"), e.message
e = raised(lambda: http.get_online_features(["driver_stats:nope"], [{"driver_id": 1}]), FsHTTPError)
assert (e.status, e.message) == (404, "feature_view 'driver_stats' has no feature 'nope'"), (e.status, e.message)
e = raised(lambda: http.push("nope", [{"driver_id": 1}]), FsHTTPError)
assert e.status // 100 == 4 and "'nope'" in e.message, (e.status, e.message)

# not a repository; no fs binary
e = raised(lambda: fs_client.Repo("../empty").models(), FsFatalError)
assert "fs.yaml" in e.message, e.message
raised(lambda: fs_client.Repo(".", fs="/nonexistent/fs").models(), FsBinaryNotFound)
# a value the CLI's -e cannot carry is refused before fs runs
try:
    store.get_online_features(["driver_stats:trips"], [{"driver_id": "1,2"}])
    raise SystemExit("comma accepted")
except ValueError as e:
    assert "serve_url" in str(e), e
print("ok")
EOF
    assert_output ok
}

@test "python: pip installs contrib/python offline into a venv (Debian's pip and setuptools)" {
    py_repo
    # a copy: pip builds in the source tree, which must stay clean
    cp -r "$FS_SOURCE_ROOT/contrib/python" "$BATS_TEST_TMPDIR/src"
    rm -rf "$BATS_TEST_TMPDIR/src/build" "$BATS_TEST_TMPDIR/src"/*.egg-info
    "$PY" -m venv --system-site-packages "$BATS_TEST_TMPDIR/venv"
    # no index, and any attempt at the network goes nowhere
    run -0 env -u PYTHONPATH PIP_CONFIG_FILE=/dev/null http_proxy=http://127.0.0.1:9 \
        https_proxy=http://127.0.0.1:9 "$BATS_TEST_TMPDIR/venv/bin/pip" install \
        --no-build-isolation --no-index "$BATS_TEST_TMPDIR/src"
    assert_output --partial "Successfully installed fs-client-0.1.0"
    cd "$BATS_TEST_TMPDIR"
    run -0 env -u PYTHONPATH "$BATS_TEST_TMPDIR/venv/bin/python" - <<'EOF'
import os, fs_client
where = os.path.dirname(fs_client.__file__)
assert where.startswith(os.path.join(os.environ["BATS_TEST_TMPDIR"], "venv")), where
store = fs_client.Repo("repo")
v = store.register_model("eta", "repo/rows.csv", metrics={"auc": 0.9})
assert v["version"] == 1 and store.models("eta")[0]["metrics"] == {"auc": 0.9}
print(fs_client.__version__)
EOF
    assert_output 0.1.0
}
