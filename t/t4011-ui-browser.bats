#!/usr/bin/env bats
# The web UI in a real browser: Debian's chromium, headless, driven by
# puppeteer-core (t/browser/drive.mjs) against a serve-lite on a repo with
# data: plain views, a view of windows, a push view, a view never
# materialized (stale), a changed view (two versions), and the model eta
# with three versions, promotions and an alias. Each page is checked for
# the names and numbers the CLI prints, the lineage graph for exactly the
# nodes and edges the definitions make, navigation by URL and Back, the
# search, the keyboard, a phone's width in dark mode, and the token prompt;
# then every page in Firefox (firefox-esr) as well.
# No page may log a console error (but the 401s and 404s a test asks for).
# Screenshots of every page go to the build directory, ui-screenshots/.

load test_helper
load lib-serve

TOK=tok-browser-0123456789
BROWSER=$BATS_TEST_DIRNAME/browser

setup_file() {
    [ -d "$BROWSER/node_modules/puppeteer-core" ] ||
        fail "puppeteer-core is not installed: run tools/install-deps"
    command -v chromium > /dev/null || fail "chromium is not installed: run tools/install-deps"
    command -v firefox-esr > /dev/null || fail "firefox-esr is not installed: run tools/install-deps"
    shared_server ui
    cd "$BATS_FILE_TMPDIR/ui/repo"
    # a view that is never materialized: stale
    cat > features/late.yaml <<'Y'
kind: feature_view
name: driver_late
entities: [driver]
source: driver_stats
ttl: 2h
features:
  - {name: avg_daily_trips, type: int64}
Y
    "$FS" apply -q -m "a view not materialized yet"
    # driver_hourly_stats changed: two versions to diff
    sed -i 's/^  team: driver_performance$/  team: driver_performance\n  tier: gold/' features/driver.yaml
    "$FS" apply -q -m "tier the hourly stats"
    local i
    for i in 1 2 3; do echo "model $i" > "$BATS_FILE_TMPDIR/m$i.bin"; done
    "$FS" register-model -q eta --artifact "$BATS_FILE_TMPDIR/m1.bin" --metric auc=0.82 --param depth=6 --tag owner=ann
    "$FS" register-model -q eta --artifact "$BATS_FILE_TMPDIR/m2.bin" --metric auc=0.88 --tag owner=bob
    "$FS" register-model -q eta --artifact "$BATS_FILE_TMPDIR/m3.bin" --metric auc=0.91
    "$FS" promote -q eta 1 staging
    "$FS" promote -q eta 1 production --reason "first ETA model"
    "$FS" promote -q eta 2 staging
    "$FS" promote -q eta 2 production --reason "better auc"
    "$FS" promote -q eta 3 staging
    "$FS" alias -q eta champion 2
    printf '%s\n' "$TOK" > "$BATS_FILE_TMPDIR/tokens"
    shared_server auth --token-file "$BATS_FILE_TMPDIR/tokens"
    mkdir -p "$(shots)"
}

teardown_file() { stop_shared_servers; }

shots() { echo "$(cd "$(dirname "$FS")" && pwd)/ui-screenshots"; }

# drive STEPS [PLAN]: the steps (a JSON array) in chromium against the
# shared server's page; the driver's JSON in $out. Fails on a failed step,
# and on any console error or page error unless ALLOW_CONSOLE is set.
drive() {
    local plan
    plan=$(jq -cn --arg url "$URL/" --argjson steps "$1" --argjson extra "${2:-{\}}" \
        '{url: $url, steps: $steps} + $extra') || fail "bad steps: $1"
    run --separate-stderr node "$BROWSER/drive.mjs" "$plan"
    out=$output
    [ "$status" -eq 0 ] || fail "the browser failed: $(jq -c '{failed, errors, console}' <<< "$out" 2>/dev/null || echo "$out $stderr")"
    jq -e '.errors == []' <<< "$out" > /dev/null || fail "page errors: $(jq -c .errors <<< "$out")"
    [ -n "${ALLOW_CONSOLE:-}" ] || jq -e '.console == []' <<< "$out" > /dev/null ||
        fail "console errors: $(jq -c .console <<< "$out")"
}

# val NAME: a value the steps read (compact JSON)
val() { jq -c --arg n "$1" '.values[$n]' <<< "$out"; }

# text of the elements matching a selector, as a JSON array expression for a step
texts() { printf "[...document.querySelectorAll('%s')].map(e => e.textContent.trim())" "$1"; }

@test "ui browser: the overview names the project, the last apply, the counts, the stale view and the production model" {
    use_server ui
    drive '[{"goto": ""},
        {"eval": "document.querySelector(\"h1\").textContent", "as": "h1"},
        {"eval": "[...document.querySelectorAll(\"dl.facts dt\")].map(e => [e.textContent, e.nextElementSibling.textContent])", "as": "facts"},
        {"eval": "'"$(texts '.card')"'", "as": "cards"},
        {"eval": "[...document.querySelectorAll(\"tr.stale\")].map(e => e.dataset.view)", "as": "stale"},
        {"eval": "[...document.querySelectorAll(\"tr[data-view]\")].map(e => e.dataset.view)", "as": "views"},
        {"eval": "[...document.querySelectorAll(\"tr[data-view]\")].map(e => e.cells[4].textContent)", "as": "keys"},
        {"eval": "getComputedStyle(document.body).backgroundColor", "as": "bg"},
        {"eval": "document.querySelector(\"nav a.active\").textContent", "as": "nav"},
        {"eval": "document.title", "as": "title"},
        {"shot": "'"$(shots)"'/overview.png"}]'
    assert_equal "$(val h1)" "\"$(sed -n 's/^project: *//p' fs.yaml)\""
    local last
    last=$(fs log --json | jq -c '.applies[0]')
    jq -e --argjson last "$last" '.values.facts | (.[0] == ["Registry version", ($last.registry_version | tostring)])
        and (.[1][1] | startswith($last.commit[0:10] + " by Test User, "))
        and (.[2] == ["Summary", $last.summary])' <<< "$out" > /dev/null || fail "facts: $(val facts)"
    # one card per kind, with fs ls's count, and the model versions
    local expect
    expect=$(fs ls --json | jq -c '[.objects | group_by(.kind) | map({(.[0].kind): length}) | add
        | (.entity, .source, .feature_view, .feature_service, .model) // 0]')
    assert_equal "$(jq -c '[.values.cards[] | capture("^(?<n>[0-9]+)").n | tonumber][0:5]' <<< "$out")" "$expect"
    assert_equal "$(jq -r '.values.cards[5]' <<< "$out")" "3Model versions"
    # the view never materialized is the stale one; the others are fresh
    assert_equal "$(val stale)" '["driver_late"]'
    assert_equal "$(val views)" "$(fs status --json | jq -c '[.views[].name]')"
    assert_equal "$(val keys)" "$(fs status --json | jq -c '[.views[].keys | tostring]')"
    assert_equal "$(val bg)" '"rgb(255, 255, 255)"'
    assert_equal "$(val nav)" '"Overview"'
    run -0 --separate-stderr node -e "process.stdout.write(require('fs').statSync('$(shots)/overview.png').size > 10000 ? 'ok' : 'small')"
    assert_output ok
}

@test "ui browser: the feature views' list has fs status's numbers; a view of windows shows its windows" {
    use_server ui
    drive '[{"goto": "#/feature_views"},
        {"eval": "[...document.querySelectorAll(\"tr[data-name]\")].map(e => e.dataset.name)", "as": "names"},
        {"eval": "[...document.querySelectorAll(\"tr[data-name]\")].map(e => [e.dataset.name, e.cells[8].textContent, e.classList.contains(\"stale\")])", "as": "rows"},
        {"shot": "'"$(shots)"'/feature-views.png"},
        {"hash": "#/feature_view/driver_trip_stats"},
        {"eval": "[...document.querySelectorAll(\"tr[data-feature]\")].map(e => [...e.cells].slice(0, 5).map(c => c.textContent))", "as": "aggs"},
        {"shot": "'"$(shots)"'/feature-view-windows.png"},
        {"hash": "#/feature_view/driver_hourly_stats"},
        {"eval": "[...document.querySelectorAll(\"tr[data-feature]\")].map(e => [...e.cells].map(c => c.textContent))", "as": "features"},
        {"eval": "'"$(texts 'h2')"'", "as": "h2"},
        {"eval": "[...document.querySelectorAll(\"main a[href^=\\\"#/feature_service/\\\"]\")].map(a => a.textContent)", "as": "services"}]'
    assert_equal "$(val names)" "$(fs ls feature_view --json | jq -c '[.objects[].name]')"
    local st
    st=$(fs status --json)
    assert_equal "$(jq -c '.values.rows | map([.[0], .[1]])' <<< "$out")" \
        "$(fs ls feature_view --json | jq -c --argjson st "$st" '[.objects[].name as $n
            | [$n, ([$st.views[] | select(.name == $n) | .keys | tostring] | first // "–")]]')"
    assert_equal "$(jq -c '[.values.rows[] | select(.[2]) | .[0]]' <<< "$out")" '["driver_late"]'
    assert_equal "$(val aggs)" \
        '[["trips_1h","count","–","1h","1m"],["fare_sum_1h","sum","fare","1h","1m"],["fare_max_1d","max","fare","1d","1h"]]'
    assert_equal "$(val features)" \
        "$(fs describe feature_view driver_hourly_stats --json | jq -c '[.spec.features[] | [.name, .type]]')"
    assert_equal "$(val services)" '["driver_activity_v1"]'
    jq -e '.values.h2 | index("Versions") and index("Tags")' <<< "$out" > /dev/null || fail "$(val h2)"
}

@test "ui browser: entities, sources and services name what they are read by" {
    use_server ui
    drive '[{"goto": "#/sources"},
        {"eval": "[...document.querySelectorAll(\"tr[data-name]\")].map(e => [e.dataset.name, e.cells[1].textContent, e.cells[3].textContent, e.cells[4].textContent])", "as": "sources"},
        {"shot": "'"$(shots)"'/sources.png"},
        {"hash": "#/entities"},
        {"eval": "[...document.querySelectorAll(\"tr[data-name]\")].map(e => [e.dataset.name, e.cells[1].textContent])", "as": "entities"},
        {"shot": "'"$(shots)"'/entities.png"},
        {"hash": "#/feature_services"},
        {"eval": "[...document.querySelectorAll(\"tr[data-name]\")].map(e => [e.dataset.name, e.cells[1].textContent, e.cells[2].textContent])", "as": "services"},
        {"shot": "'"$(shots)"'/feature-services.png"}]'
    jq -e '.values.sources[] | select(.[0] == "driver_trips") == ["driver_trips", "csv", "event_timestamp, driver_id, fare", "driver_trip_stats"]' \
        <<< "$out" > /dev/null || fail "$(val sources)"
    jq -e '.values.sources[] | select(.[0] == "driver_push") | .[1] == "push"' <<< "$out" > /dev/null || fail "$(val sources)"
    assert_equal "$(jq -c '[.values.sources[][0]]' <<< "$out")" "$(fs ls source --json | jq -c '[.objects[].name]')"
    assert_equal "$(val entities)" '[["driver","driver_id"]]'
    assert_equal "$(val services)" '[["driver_activity_v1","driver_hourly_stats: conv_rate, acc_rate","eta"]]'
}

# The lineage graph's nodes and edges as the definitions make them, from fs describe (not from the page).
expected_graph() {
    local kind name
    {
        fs ls --json | jq -c '.objects[] | select(.kind != "entity") | {node: "\(.kind):\(.name)"}'
        fs ls --json | jq -r '.objects[] | select(.kind != "entity") | "\(.kind) \(.name)"' |
            while read -r kind name; do
                fs describe "$kind" "$name" --json | jq -c '.name as $n
                    | if .kind == "feature_view" then {edge: ["source:\(.spec.source)", "feature_view:\($n)"]}
                      elif .kind == "feature_service" then .spec.features[] | {edge: ["feature_view:\(.view)", "feature_service:\($n)"]}
                      elif .kind == "model" then {edge: ["feature_service:\(.spec.feature_service)", "model:\($n)"]}
                      else empty end'
            done
    } | jq -sc '{nodes: [.[] | .node // empty] | sort, edges: [.[] | .edge // empty] | unique}'
}

@test "ui browser: the lineage graph has exactly the nodes and edges of the definitions, and a node opens its page" {
    use_server ui
    drive '[{"goto": "#/lineage"},
        {"eval": "[...document.querySelectorAll(\"#lineage a.node\")].map(a => a.dataset.id).sort()", "as": "nodes"},
        {"eval": "[...document.querySelectorAll(\"#lineage path.edge\")].map(p => [p.dataset.from, p.dataset.to]).sort()", "as": "edges"},
        {"eval": "[...document.querySelectorAll(\"#lineage a.node\")].map(a => [a.dataset.id, a.getAttribute(\"href\")])", "as": "links"},
        {"eval": "document.querySelector(\"#lineage a.node[data-id=\\\"model:eta\\\"] text.sub\").textContent", "as": "eta"},
        {"shot": "'"$(shots)"'/lineage.png"},
        {"click": "#lineage a.node[data-id=\"feature_view:driver_hourly_stats\"]"},
        {"eval": "location.hash", "as": "hash"},
        {"eval": "document.querySelector(\"h1\").textContent", "as": "h1"}]'
    local g
    g=$(expected_graph)
    assert_equal "$(val nodes)" "$(jq -c .nodes <<< "$g")"
    assert_equal "$(jq -c '.values.edges | unique' <<< "$out")" "$(jq -c .edges <<< "$g")"
    # no edge twice
    assert_equal "$(jq '.values.edges | length' <<< "$out")" "$(jq '.edges | length' <<< "$g")"
    # the edges of init's sample, by name, for a reader
    jq -e '.values.edges | any(.[]; . == ["source:driver_trips", "feature_view:driver_trip_stats"])
        and any(.[]; . == ["feature_view:driver_hourly_stats", "feature_service:driver_activity_v1"])
        and any(.[]; . == ["feature_service:driver_activity_v1", "model:eta"])' <<< "$out" > /dev/null || fail "$(val edges)"
    jq -e '.values.links | all(.[1] == "#/" + (.[0] | sub(":"; "/")))' <<< "$out" > /dev/null || fail "$(val links)"
    assert_equal "$(val eta)" '"v2 in production"'
    assert_equal "$(val hash)" '"#/feature_view/driver_hourly_stats"'
    assert_equal "$(val h1)" '"feature viewdriver_hourly_stats"'
}

@test "ui browser: a model's versions, audit trail and stage timeline are the registry's" {
    use_server ui
    drive '[{"goto": "#/model/eta"},
        {"eval": "[...document.querySelectorAll(\"tr[data-version]\")].filter(e => e.closest(\"table\").querySelector(\"th:nth-child(2)\").textContent == \"Stage\").map(e => [e.dataset.version, e.cells[1].textContent, e.cells[2].textContent, e.cells[3].textContent, e.cells[6].textContent])", "as": "versions"},
        {"eval": "[...document.querySelectorAll(\"h2\")].find(h => h.textContent == \"Audit trail\").nextElementSibling.querySelectorAll(\"tbody tr\").length", "as": "trail"},
        {"eval": "[...document.querySelectorAll(\"#timeline rect.bar\")].map(r => r.dataset.stage + \" v\" + r.dataset.version).sort()", "as": "bars"},
        {"shot": "'"$(shots)"'/model.png"},
        {"hash": "#/model/eta/2"},
        {"eval": "[...document.querySelectorAll(\"dl.facts dt\")].map(e => [e.textContent, e.nextElementSibling.textContent])", "as": "facts"},
        {"eval": "[...document.querySelectorAll(\"dl.facts code[title]\")].map(e => e.title)", "as": "commit"},
        {"shot": "'"$(shots)"'/model-version.png"},
        {"hash": "#/models"},
        {"eval": "[...document.querySelectorAll(\"tr[data-name]\")].map(e => [...e.cells].slice(0, 5).map(c => c.textContent))", "as": "models"}]'
    local m
    m=$(fs models eta --json)
    assert_equal "$(val versions)" "$(jq -c '[.versions | reverse[] | [(.version | tostring), .stage,
        (if .aliases == [] then "–" else .aliases | join(", ") end),
        (.metrics | to_entries | map("\(.key)=\(.value)") | join("")), .artifact.sha256[0:10]]]' <<< "$m")"
    assert_equal "$(val trail)" "$(fs models log eta --json | jq '(.transitions | length) + (.alias_changes | length)')"
    # which version held which stage: v1 and v2 in production (v1 until v2 replaced it), all three in staging
    assert_equal "$(val bars)" '["production v1","production v2","staging v1","staging v2","staging v3"]'
    jq -e --argjson m "$m" '($m.versions[1]) as $v | .values.facts as $f
        | ($f | map(select(.[0] == "SHA-256"))[0][1] == $v.artifact.sha256)
        and ($f | map(select(.[0] == "Stage"))[0][1] == "production")
        and ($f | map(select(.[0] == "Aliases"))[0][1] == "champion")
        and ($f | map(select(.[0] == "Registry version"))[0][1] == ($v.lineage.registry_version | tostring))' \
        <<< "$out" > /dev/null || fail "$(val facts)"
    assert_equal "$(jq -r '.values.commit[0]' <<< "$out")" "$(jq -r '.versions[1].lineage.git_commit' <<< "$m")"
    assert_equal "$(val models)" '[["eta","3","v2","v3","auc=0.91"]]'
}

@test "ui browser: the history lists every apply, and a change links to the diff of its spec" {
    use_server ui
    drive '[{"goto": "#/history"},
        {"eval": "[...document.querySelectorAll(\"tr[data-registry-version]\")].map(e => [e.dataset.registryVersion, e.cells[1].textContent, e.cells[4].textContent])", "as": "applies"},
        {"shot": "'"$(shots)"'/history.png"},
        {"click": "a[href=\"#/diff/feature_view/driver_hourly_stats/1/2\"]"},
        {"eval": "location.hash", "as": "hash"},
        {"eval": "[...document.querySelectorAll(\"#diff .add\")].map(e => e.textContent)", "as": "added"},
        {"eval": "[...document.querySelectorAll(\"#diff .del\")].map(e => e.textContent)", "as": "removed"},
        {"shot": "'"$(shots)"'/diff.png"},
        {"hash": "#/feature_view/driver_hourly_stats"},
        {"eval": "document.querySelector(\"#diff-a\").value + \" \" + document.querySelector(\"#diff-b\").value", "as": "picked"}]'
    assert_equal "$(val applies)" "$(fs log --json | jq -c '[.applies[] | [(.registry_version | tostring), .commit[0:10], .summary]]')"
    assert_equal "$(val hash)" '"#/diff/feature_view/driver_hourly_stats/1/2"'
    # the sorted spec: team gains a comma, tier is new
    assert_equal "$(val added)" '["+     \"team\": \"driver_performance\",","+     \"tier\": \"gold\""]'
    assert_equal "$(val removed)" '["-     \"team\": \"driver_performance\""]'
    assert_equal "$(val picked)" '"1 2"'
}

@test "ui browser: every view has a URL: loaded directly, by the nav, and Back returns" {
    use_server ui
    drive '[{"goto": "#/feature_view/driver_trip_stats"},
        {"eval": "document.querySelector(\"h1\").textContent", "as": "first"},
        {"eval": "document.querySelector(\"nav a.active\").textContent", "as": "nav"},
        {"click": "nav a[href=\"#/models\"]"},
        {"eval": "location.hash + \" \" + document.querySelector(\"h1\").textContent", "as": "models"},
        {"back": true},
        {"eval": "location.hash + \" \" + document.querySelector(\"h1\").textContent", "as": "back"},
        {"goto": "#/diff/entity/driver/1/1"},
        {"eval": "document.querySelector(\"main p.muted\").textContent", "as": "same"},
        {"goto": "#/search/tier"},
        {"eval": "document.querySelector(\"#q\").value", "as": "q"}]'
    assert_equal "$(val first)" '"feature viewdriver_trip_stats"'
    assert_equal "$(val nav)" '"Feature views"'
    assert_equal "$(val models)" '"#/models Models"'
    assert_equal "$(val back)" '"#/feature_view/driver_trip_stats feature viewdriver_trip_stats"'
    assert_equal "$(val same)" '"The two specs are the same."'
    assert_equal "$(val q)" '"tier"'
}

@test "ui browser: the search finds a feature, a tag and a model version's tag; / focuses it" {
    use_server ui
    drive '[{"goto": ""},
        {"key": "/"},
        {"eval": "document.activeElement.id", "as": "focus"},
        {"type": ["#q", "conv"]},
        {"eval": "location.hash", "as": "hash"},
        {"eval": "[...document.querySelectorAll(\"tr[data-name]\")].map(e => [e.dataset.kind, e.dataset.name, e.cells[2].textContent])", "as": "conv"},
        {"shot": "'"$(shots)"'/search.png"},
        {"hash": "#/search/gold"},
        {"eval": "[...document.querySelectorAll(\"tr[data-name]\")].map(e => [e.dataset.kind, e.dataset.name, e.cells[2].textContent])", "as": "gold"},
        {"hash": "#/search/bob"},
        {"eval": "[...document.querySelectorAll(\"tr[data-name]\")].map(e => [e.dataset.kind, e.dataset.name, e.cells[2].textContent])", "as": "bob"},
        {"hash": "#/search/no-such-thing"},
        {"eval": "document.querySelector(\"main p.muted\").textContent", "as": "none"}]'
    assert_equal "$(val focus)" '"q"'
    assert_equal "$(val hash)" '"#/search/conv"'
    # conv_rate is a feature of driver_hourly_stats and of the push view
    assert_equal "$(val conv)" \
        '[["feature_view","driver_hourly_stats","feature conv_rate"],["feature_view","driver_pushed","feature conv_rate"]]'
    assert_equal "$(val gold)" '[["feature_view","driver_hourly_stats","tag tier=gold"]]'
    assert_equal "$(val bob)" '[["model","eta","v2 tag owner=bob"]]'
    assert_equal "$(val none)" '"0 matches for no-such-thing"'
}

@test "ui browser: the keyboard reaches the nav and opens a lineage node" {
    use_server ui
    drive '[{"goto": "#/lineage"},
        {"eval": "document.activeElement.id", "as": "start"},
        {"eval": "document.querySelector(\"a.brand\").focus(); document.activeElement.textContent", "as": "brand"},
        {"key": "Tab"},
        {"eval": "document.activeElement.textContent", "as": "next"},
        {"eval": "document.querySelector(\"#lineage a.node[data-id=\\\"model:eta\\\"]\").focus(); document.activeElement.dataset.id", "as": "node"},
        {"key": "Enter", "wait": true},
        {"eval": "location.hash", "as": "hash"}]'
    assert_equal "$(val start)" '"main"'
    assert_equal "$(val brand)" '"fs"'
    assert_equal "$(val next)" '"Overview"'
    assert_equal "$(val node)" '"model:eta"'
    assert_equal "$(val hash)" '"#/model/eta"'
}

@test "ui browser: a view fed by a Redis stream shows its lag and the stream's counts, as fs status says" {
    start_redis
    init_repo
    redis_trades "$FS_REDIS_URL"
    unset FS_REDIS_URL
    fs apply -q
    local now i
    now=$(date +%s)
    for i in 1 2 3; do
        redis-cli -p "$REDIS_PORT" XADD trades '*' driver_id 100$i ts "$now" price "$i.5" > /dev/null
    done
    run -0 --separate-stderr fs stream --once --json
    assert_equal "$(jq '.sources[0].applied' <<< "$output")" 3
    for i in 4 5; do
        redis-cli -p "$REDIS_PORT" XADD trades '*' driver_id 100$i ts "$now" price "$i.5" > /dev/null
    done
    start_server
    drive '[{"goto": "#/feature_views"},
        {"eval": "[...document.querySelectorAll(\"tr[data-name=\\\"trade_last\\\"] td\")].map(c => c.textContent)", "as": "row"},
        {"hash": "#/feature_view/trade_last"},
        {"eval": "Object.fromEntries([...document.querySelectorAll(\"dl.facts dt\")].map(e => [e.textContent, e.nextElementSibling.textContent]))", "as": "facts"},
        {"shot": "'"$(shots)"'/feature-view-stream.png"}]'
    local st
    st=$(fs status --json)
    assert_equal "$(jq '.streams[0].lag' <<< "$st")" 2
    # the list's keys and stream lag columns; the page's facts
    assert_equal "$(jq -c '.values.row | [.[8], .[9]]' <<< "$out")" \
        "$(jq -c '[(.views[] | select(.name == "trade_last") | .keys | tostring), (.streams[0].lag | tostring)]' <<< "$st")"
    jq -e --argjson st "$st" '.values.facts | .["Stream lag"] == "2" and .Applied == "3" and .Bad == "0"
        and .Stream == "trades" and .Type == "redis_stream"
        and .["Newest event"] == ($st.streams[0].newest_event | sub("T"; " "))' <<< "$out" > /dev/null || fail "$(val facts)"
}

@test "ui browser: Firefox draws every page too, with no console error" {
    use_server ui
    local steps="" r
    for r in "" "#/entities" "#/sources" "#/feature_views" "#/feature_view/driver_trip_stats" "#/feature_services" \
        "#/lineage" "#/models" "#/model/eta" "#/model/eta/2" "#/history" "#/diff/feature_view/driver_hourly_stats/1/2" \
        "#/search/conv"; do
        steps+='{"goto": "'"$r"'"}, {"eval": "document.querySelector(\"h1\").textContent", "as": "'"${r:-overview}"'"},'
    done
    steps+='{"eval": "[...document.querySelectorAll(\"tr[data-name]\")].length", "as": "hits"},
        {"hash": "#/lineage"},
        {"eval": "[...document.querySelectorAll(\"#lineage a.node\")].length + \" \" + document.querySelectorAll(\"#lineage path.edge\").length", "as": "graph"},
        {"shot": "'"$(shots)"'/firefox-lineage.png"}'
    drive "[$steps]" '{"browser": "firefox"}'
    jq -e '.values | .overview == "repo" and .["#/model/eta"] == "modeleta" and .["#/lineage"] == "Lineage"
        and .["#/feature_view/driver_trip_stats"] == "feature viewdriver_trip_stats"
        and .["#/diff/feature_view/driver_hourly_stats/1/2"] == "feature viewdriver_hourly_stats v1 → v2"' \
        <<< "$out" > /dev/null || fail "$(jq -c .values <<< "$out")"
    assert_equal "$(val hits)" 2
    local g
    g=$(expected_graph)
    assert_equal "$(val graph)" "\"$(jq '.nodes | length' <<< "$g") $(jq '.edges | length' <<< "$g")\""
}

@test "ui browser: at a phone's width in dark mode nothing overflows the page" {
    use_server ui
    local r
    for r in "" "#/feature_views" "#/model/eta" "#/lineage" "#/history"; do
        drive '[{"goto": "'"$r"'"},
            {"eval": "document.documentElement.scrollWidth <= innerWidth", "as": "fits"},
            {"eval": "getComputedStyle(document.body).backgroundColor", "as": "bg"},
            {"shot": "'"$(shots)"'/phone-dark'"${r//[#\/]/-}"'.png"}]' '{"width": 390, "height": 844, "dark": true}'
        assert_equal "$(val fits)" true
        assert_equal "$(val bg)" '"rgb(15, 20, 25)"'
    done
}

@test "ui browser: a name not registered is a 'Not found' page with the CLI's did-you-mean" {
    use_server ui
    ALLOW_CONSOLE=1 drive '[{"goto": "#/feature_view/driver_hourly_stat"},
        {"eval": "document.querySelector(\"h1\").textContent + \": \" + document.querySelector(\".error\").textContent", "as": "msg"},
        {"goto": "#/nowhere"},
        {"eval": "document.querySelector(\".error\").textContent", "as": "page"}]'
    assert_equal "$(val msg)" \
        '"Not found: no feature view '\''driver_hourly_stat'\'' is registered (did you mean '\''driver_hourly_stats'\''?)"'
    assert_equal "$(val page)" '"no such page: #/nowhere"'
}

@test "ui browser: with --token-file the page asks for the token once, shows nothing before it, and keeps it for the tab" {
    use_server auth
    ALLOW_CONSOLE=1 drive '[{"goto": ""},
        {"eval": "document.querySelector(\"h1\").textContent", "as": "asked"},
        {"eval": "document.querySelectorAll(\"main table, main .card\").length", "as": "shown"},
        {"shot": "'"$(shots)"'/token.png"},
        {"type": ["#token-input", "wrong-token"], "wait": false},
        {"click": "#token-form button"},
        {"eval": "document.querySelector(\".error\") && document.querySelector(\".error\").textContent", "as": "refused"},
        {"type": ["#token-input", "'"$TOK"'"], "wait": false},
        {"click": "#token-form button"},
        {"eval": "document.querySelector(\"h1\").textContent", "as": "after"},
        {"reload": true},
        {"eval": "document.querySelector(\"h1\").textContent", "as": "reloaded"},
        {"hash": "#/model/eta"},
        {"eval": "document.querySelector(\"h1\").textContent", "as": "model"}]'
    assert_equal "$(val asked)" '"Token"'
    assert_equal "$(val shown)" 0
    assert_equal "$(val refused)" '"The server refused that token."'
    assert_equal "$(val after)" "\"$(sed -n 's/^project: *//p' fs.yaml)\""
    assert_equal "$(val reloaded)" "$(val after)"
    assert_equal "$(val model)" '"modeleta"'
    # before the token: every API request was refused, none answered
    jq -e '[.requests[] | select(.url | contains("/api/v1/"))] | (.[0].status == 401) and any(.status == 200)' \
        <<< "$out" > /dev/null || fail "$(jq -c .requests <<< "$out")"
}
