#!/usr/bin/env bats
# serve-lite: wire compatibility with Feast. The requests are the ones of
# Feast's documentation for `feast serve` and of its Python SDK's remote
# online store (feast/infra/online_stores/remote.py); the responses are
# read the way that client reads them.

load test_helper
load lib-serve

setup_file() { shared_server sqlite; }
teardown_file() { stop_shared_servers; }
setup() {
    common_setup
    use_server sqlite
}

# check_feast_response N_ROWS [FULL]: $body parses as Feast's client reads
# it: metadata.feature_names a list of strings, results a list as long,
# each with values, statuses and event_timestamps lists of N_ROWS entries,
# statuses among Feast's, timestamps RFC 3339 as fromisoformat reads them.
check_feast_response() {
    run python3 - "$1" "$body" <<'EOF'
import json, sys
from datetime import datetime
n = int(sys.argv[1])
r = json.loads(sys.argv[2])
assert set(r) == {"metadata", "results"}, sorted(r)
names = r["metadata"]["feature_names"]
assert isinstance(names, list) and all(isinstance(x, str) for x in names), names
assert isinstance(r["results"], list) and len(r["results"]) == len(names), r["results"]
for i, res in enumerate(r["results"]):
    for k in ("values", "statuses", "event_timestamps"):
        assert isinstance(res[k], list) and len(res[k]) == n, (names[i], k, res[k])
    assert set(res["statuses"]) <= {"PRESENT", "NOT_FOUND", "NULL_VALUE", "OUTSIDE_MAX_AGE"}, res["statuses"]
    for ts in res["event_timestamps"]:
        assert ts.endswith("Z") and datetime.fromisoformat(ts.replace("Z", "+00:00")).tzinfo, ts
    for v, st in zip(res["values"], res["statuses"]):
        assert (v is None) == (st in ("NOT_FOUND", "NULL_VALUE")), (names[i], v, st)
print(" ".join(names))
EOF
    [ "$status" -eq 0 ] || fail "not what Feast's client reads: $output
$body"
}

@test "feast: the get-online-features request of Feast's docs" {
    # verbatim from the docs, sent as they send it (curl -d, no JSON content type)
    run -0 curl -s -X POST \
        "$URL/get-online-features" \
        -d '{
        "features": [
          "driver_hourly_stats:conv_rate",
          "driver_hourly_stats:acc_rate",
          "driver_hourly_stats:avg_daily_trips"
        ],
        "entities": {
          "driver_id": [1001, 1002, 1003]
        }
      }'
    body=$output
    check_feast_response 3
    assert_output "driver_id conv_rate acc_rate avg_daily_trips"
    jq -e '.results[0].values == [1001, 1002, 1003] and .results[1].values == [0.5, 0.125, 1.5]
           and .results[2].statuses == ["PRESENT", "NULL_VALUE", "PRESENT"]
           and .results[3].values == [10, 20, -3]' <<< "$body" > /dev/null || fail "$body"
}

@test "feast: the feature_service request of Feast's docs with full_feature_names" {
    run -0 curl -s -X POST \
        "$URL/get-online-features" \
        -d '{
        "feature_service": "driver_activity_v1",
        "entities": {
          "driver_id": [1001, 1002, 1003]
        },
        "full_feature_names": true
      }'
    body=$output
    check_feast_response 3
    assert_output "driver_id driver_hourly_stats__conv_rate driver_hourly_stats__acc_rate"
}

@test "feast: unknown keys and null values keep every list the length of the entity rows" {
    post /get-online-features '{"features": ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"],
                                "entities": {"driver_id": [1002, 5, 1001, 6]}}'
    assert_code 200
    check_feast_response 4
    jq -e '.results[2].statuses == ["NULL_VALUE", "NOT_FOUND", "PRESENT", "NOT_FOUND"]' <<< "$body" > /dev/null ||
        fail "$body"
}

@test "feast: the remote online store of Feast's SDK reads its rows" {
    # remote.py: body json.dumps({"features": [view:feature...], "entities":
    # {key: [...]}}) posted with data= (no content type) on a keep-alive
    # session; rows rebuilt from the columns by feature name and PRESENT
    run python3 - "$PORT" "$T1" <<'EOF'
import http.client, json, sys
from datetime import datetime, timezone
port, t1 = int(sys.argv[1]), sys.argv[2]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

def online_read(table, keys, requested):
    body = json.dumps({"features": ["%s:%s" % (table, f) for f in requested],
                       "entities": {"driver_id": keys}})
    conn.request("POST", "/get-online-features", body=body)
    resp = conn.getresponse()
    text = resp.read().decode()
    assert resp.status == 200, (resp.status, text)
    assert resp.getheader("Connection", "").lower() != "close", "keep-alive expected"
    r = json.loads(text)
    event_ts = datetime.fromisoformat(r["results"][1]["event_timestamps"][0].replace("Z", "+00:00"))
    rows = []
    for j in range(len(keys)):
        values = {}
        for i, name in enumerate(r["metadata"]["feature_names"]):
            if name in requested:
                res = r["results"][i]
                values[name] = res["values"][j] if res["statuses"][j] == "PRESENT" else None
        rows.append((event_ts, values))
    return rows

rows = online_read("driver_hourly_stats", [1001, 1002, 7777], ["conv_rate", "acc_rate", "avg_daily_trips"])
assert [v for _, v in rows] == [
    {"conv_rate": 0.5, "acc_rate": 0.75, "avg_daily_trips": 10},
    {"conv_rate": 0.125, "acc_rate": None, "avg_daily_trips": 20},
    {"conv_rate": None, "acc_rate": None, "avg_daily_trips": None}], rows
assert rows[0][0] == datetime.fromisoformat(t1.replace("Z", "+00:00")), rows[0][0]
# the same connection serves the next requests
for _ in range(3):
    rows = online_read("driver_hourly_stats", [1003], ["avg_daily_trips"])
    assert rows[0][1] == {"avg_daily_trips": -3}, rows
print("ok")
EOF
    [ "$status" -eq 0 ] || fail "$output"
    assert_output ok
}

@test "feast: the push request of Feast's docs writes to the online store" {
    local ts
    ts=$(date -u -d '-1 minute' '+%Y-%m-%d %H:%M:%S')
    # Feast's docs: "YYYY-MM-DD HH:MM:SS" timestamps and a created column
    run -0 curl -s -w '\n%{http_code}' -X POST "$URL/push" -d '{
        "push_source_name": "driver_push",
        "df": {
                "driver_id": [1001],
                "event_timestamp": ["'"$ts"'"],
                "created": ["'"$ts"'"],
                "conv_rate": [1.0],
                "acc_rate": [1.0],
                "avg_daily_trips": [1000]
        },
        "to": "online"
      }'
    assert_line --index 1 200
    assert_json "$(jq -c 'del(.views[].newest_event)' <<< "${lines[0]}")" \
        '{"status": "ok", "views": [{"view": "driver_pushed", "rows": 1, "keys_written": 1}]}'
    assert_equal "$(jq -r '.views[0].newest_event' <<< "${lines[0]}")" "${ts/ /T}Z"
    post /get-online-features '{"features": ["driver_pushed:conv_rate", "driver_pushed:acc_rate",
                                "driver_pushed:avg_daily_trips"], "entities": {"driver_id": [1001]}}'
    assert_code 200
    check_feast_response 1
    jq -e --arg t "${ts/ /T}Z" '[.results[1:][] | .values[0]] == [1, 1, 1000]
        and ([.results[1:][] | .statuses[0]] | unique) == ["PRESENT"]
        and .results[1].event_timestamps == [$t]' <<< "$body" > /dev/null || fail "$body"
}
