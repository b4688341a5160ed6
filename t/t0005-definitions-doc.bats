#!/usr/bin/env bats
# fs-definitions(5) and fs.yaml(5) document every key the loader accepts,
# and their examples work.
#
# The keys come from the loader's own tables: every table that core/*.c
# passes to fs_y_check_keys() (when the argument is built at run time, as
# in parse_source, the tables of that function) and the .keys of every
# struct fs_source_ops. CONTEXTS says which section of which page documents
# each table. A section starts at an anchor [[keys-<name>]] (with the
# heading right after it) and ends at the next anchor or heading; a key is
# documented there when it is a definition-list term (`key::`) outside a
# listing block. A table of keys CONTEXTS does not place, a CONTEXTS line
# whose table is gone and a section missing from its page fail too, so
# that the check cannot rot silently.

load test_helper

# <file> <function> <table>  <page>  <sections, the first its own>
# (function "-" is file scope; a page is Documentation/<page>.adoc)
CONTEXTS='
defs.c parse_entity keys fs-definitions entity,common
defs.c parse_source head fs-definitions source,common
defs.c parse_source tail fs-definitions source,common
defs.c parse_feature_view keys fs-definitions feature_view,common
defs.c parse_feature_view fkeys fs-definitions feature
defs.c parse_aggregation akeys fs-definitions aggregation
defs.c parse_feature_service keys fs-definitions feature_service,common
defs.c parse_model keys fs-definitions model,common
defs.c parse_model gkeys fs-definitions promotion
config.c parse_doc keys fs.yaml fs_yaml
config.c parse_online keys fs.yaml online_store
config.c parse_offline keys fs.yaml offline_store
config.c parse_webhooks keys fs.yaml webhooks
'
# the .keys of a source backend of type T: fs-definitions, section source-T

# Tables of values each page must show as `value`: <file> <function> <table> <page>
VALUES='
defs.c - fs_kind_names fs-definitions
defs.c - fs_feature_types fs-definitions
defs.c - entity_types fs-definitions
defs.c - stages fs-definitions
defs.c parse_gate ops fs-definitions
agg.c - fs_agg_fn_names fs-definitions
config.c parse_webhooks events fs.yaml
'

# The string tables of the C files below $1/core, with what uses them:
#   <file> <function> <table> table <value>         every string table
#   <file> <function> <table> check <key>           keys fs_y_check_keys takes
#   <file> -          <table> backend-<type> <key>  keys of a source backend
loader_tables() {
    find "$1/core" -name '*.c' | sort | xargs awk '
    function emit(   v) {
        tabs[file SUBSEP fn SUBSEP tname] = 1
        infn[file SUBSEP fn] = infn[file SUBSEP fn] " " tname
        while (match(body, /"[^"]*"/)) {
            v = substr(body, RSTART + 1, RLENGTH - 2)
            vals[file SUBSEP fn SUBSEP tname] = vals[file SUBSEP fn SUBSEP tname] " " v
            print file, fn, tname, "table", v
            body = substr(body, RSTART + RLENGTH)
        }
    }
    function out(f, g, t, what,   n, i, a) {
        n = split(vals[f SUBSEP g SUBSEP t], a, " ")
        for (i = 1; i <= n; i++)
            print f, g, t, what, a[i]
    }
    FNR == 1 { file = FILENAME; sub(/.*\//, "", file); fn = "-"; intab = 0; inops = 0 }
    intab {
        body = body " " $0
        if ($0 ~ /\}/) { emit(); intab = 0 }
        next
    }
    inops {
        if (match($0, /\.type = "[^"]*"/)) { s = substr($0, RSTART, RLENGTH); sub(/^[^"]*"/, "", s); sub(/"$/, "", s); otype = s }
        if (match($0, /\.keys = [A-Za-z_][A-Za-z0-9_]*/)) { s = substr($0, RSTART, RLENGTH); sub(/.* /, "", s); okeys = s }
        if ($0 ~ /^\}/) { inops = 0; if (okeys != "") backends[++nb] = file SUBSEP otype SUBSEP okeys }
        next
    }
    /^[A-Za-z_][A-Za-z0-9_ *]*[ *][A-Za-z_][A-Za-z0-9_]*\(/ && $0 !~ /;[ \t]*$/ && $0 !~ /=/ {
        s = $0; sub(/\(.*/, "", s); sub(/.*[ *]/, "", s); fn = s
    }
    /^\}/ { fn = "-" }
    /struct fs_source_ops [A-Za-z_][A-Za-z0-9_]* *= *\{/ { inops = 1; otype = ""; okeys = ""; next }
    match($0, /const char \*(const )?[A-Za-z_][A-Za-z0-9_]*\[[A-Za-z0-9_ +]*\] *= *\{/) {
        s = substr($0, RSTART, RLENGTH); sub(/\[.*/, "", s); sub(/.*[ *]/, "", s); tname = s
        body = substr($0, RSTART + RLENGTH)
        if (body ~ /\}/) emit(); else intab = 1
        next
    }
    /^[ \t].*fs_y_check_keys\(/ {
        s = $0
        while (s !~ /;/ && (getline line) > 0)
            s = s " " line
        if (match(s, /,[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*\)[ \t]*;/)) {
            s = substr(s, RSTART, RLENGTH); gsub(/[,); \t]/, "", s)
            checks[++nc] = file SUBSEP fn SUBSEP s
        } else {
            print file, fn, "?", "check", "?" # a call this does not understand
        }
    }
    END {
        for (i = 1; i <= nc; i++) {
            split(checks[i], c, SUBSEP)
            if ((c[1] SUBSEP c[2] SUBSEP c[3]) in tabs) {
                out(c[1], c[2], c[3], "check")
            } else if ((c[1] SUBSEP "-" SUBSEP c[3]) in tabs) {
                out(c[1], "-", c[3], "check")
            } else {
                # built at run time: from the tables of its function
                n = split(infn[c[1] SUBSEP c[2]], t, " ")
                if (!n)
                    print c[1], c[2], c[3], "check", "?"
                for (j = 1; j <= n; j++)
                    out(c[1], c[2], t[j], "check")
            }
        }
        for (i = 1; i <= nb; i++) {
            split(backends[i], b, SUBSEP)
            out(b[1], "-", b[3], "backend-" b[2])
        }
    }'
}

# Every problem with the documentation of the loader under $1 (a source
# tree) by the pages in $2 (a Documentation directory), one a line, sorted;
# exit status 1 when there is one.
check_docs() {
    local problems
    problems=$(
        {
            printf '%s\n' "$CONTEXTS" | awk 'NF { print "ctx", $0 }'
            printf '%s\n' "$VALUES" | awk 'NF { print "val", $0 }'
            loader_tables "$1" | sed 's/^/tab /'
        } | awk '
        function shown(pg, v) { return index(text[pg], "`" v "`") || index(text[pg], "`+" v "+`") }
        FILENAME == "-" {
            if ($1 == "ctx") { ctx[$2 " " $3 " " $4] = $5 " " $6; ctxs[++nctx] = $2 " " $3 " " $4 }
            else if ($1 == "val") vals[++nval] = $2 " " $3 " " $4 " " $5
            else { tab[++ntab] = $2 " " $3 " " $4 " " $5 " " $6; have[$2 " " $3 " " $4 " " $5] = 1 }
            next
        }
        # the pages: their sections, the terms of each, and the text
        FNR == 1 { page = FILENAME; sub(/.*\//, "", page); sub(/\.adoc$/, "", page); inr = block = just = 0 }
        { text[page] = text[page] "\n" $0 }
        /^\[\[keys-.*\]\]$/ {
            sec = substr($0, 8, length($0) - 9); anchor[page " " sec] = 1; inr = just = 1; next
        }
        /^=+ / { if (!just) inr = 0; just = 0; next }
        { just = 0 }
        /^----$/ { block = !block; next }
        !inr || block { next }
        /^[^ \t].*::([ \t]|$)/ {
            t = $0; sub(/::([ \t].*)?$/, "", t)
            n = split(t, a, ",")
            for (i = 1; i <= n; i++) { gsub(/[`+ \t]/, "", a[i]); term[page " " sec " " a[i]] = 1 }
        }
        END {
            # each key: its table placed, its sections there, and a term of one of them
            for (i = 1; i <= ntab; i++) {
                split(tab[i], r, " ")   # file function table what value
                id = r[1] " " r[2] " " r[3]
                if (r[4] ~ /^backend-/) {
                    type = substr(r[4], 9); pg = "fs-definitions"; secs = "source-" type
                    if (!shown(pg, type))
                        print pg ".adoc: source type \047" type "\047 is not shown as `" type "`"
                } else if (r[4] == "check") {
                    if (!(id in ctx)) {
                        print r[1] ": " r[2] "(): the keys of table \047" r[3] "\047 have no section: add it to CONTEXTS in t0005"
                        continue
                    }
                    split(ctx[id], c, " "); pg = c[1]; secs = c[2]
                } else {
                    continue
                }
                ns = split(secs, s, ","); ok = 0
                for (j = 1; j <= ns; j++) {
                    if (!((pg " " s[j]) in anchor))
                        print pg ".adoc: no section [[keys-" s[j] "]] (for " r[1] ": " r[2] "(): " r[3] ")"
                    if ((pg " " s[j] " " r[5]) in term)
                        ok = 1
                }
                if (!ok)
                    print pg ".adoc: [[keys-" s[1] "]]: key \047" r[5] "\047 is not documented (" r[1] ": " r[2] "(): " r[3] ")"
            }
            # each CONTEXTS line: its table still there
            for (i = 1; i <= nctx; i++)
                if (!((ctxs[i] " check") in have)) {
                    split(ctxs[i], r, " ")
                    print "CONTEXTS in t0005: " r[1] ": " r[2] "(): no table \047" r[3] "\047 of keys (renamed or moved?)"
                }
            # each table of VALUES: there, and every value shown in its page
            for (i = 1; i <= nval; i++) {
                split(vals[i], r, " ")   # file function table page
                found = 0
                for (j = 1; j <= ntab; j++) {
                    split(tab[j], q, " ")
                    if (q[1] != r[1] || q[2] != r[2] || q[3] != r[3] || q[4] != "table")
                        continue
                    found = 1
                    if (!shown(r[4], q[5]))
                        print r[4] ".adoc: value \047" q[5] "\047 of " r[1] ": " r[2] "(): " r[3] " is not shown as `" q[5] "`"
                }
                if (!found)
                    print "VALUES in t0005: " r[1] ": " r[2] "(): no table \047" r[3] "\047 (renamed or moved?)"
            }
        }' - "$2/fs-definitions.adoc" "$2/fs.yaml.adoc" | LC_ALL=C sort -u
    )
    [ -z "$problems" ] || { printf '%s\n' "$problems"; return 1; }
}

# A copy of the source tree's core/ and Documentation/ to break, in $PWD/copy.
copy_tree() {
    mkdir -p copy
    cp -r "$FS_SOURCE_ROOT/core" "$FS_SOURCE_ROOT/Documentation" copy/
}

# The [source,yaml] listing blocks of page $1, separated by "---".
yaml_examples() {
    awk '
    /^\[source,yaml\]$/ { want = 1; next }
    want && /^----$/ { if (inb) { inb = 0; want = 0; n++ } else { if (n) print "---"; inb = 1 } ; next }
    inb { print }
    ' "$1"
}

@test "definitions-doc: the loader's tables of keys are found" {
    run -0 loader_tables "$FS_SOURCE_ROOT"
    for want in "defs.c parse_entity keys check join_key" \
                "defs.c parse_source head check type" \
                "defs.c parse_source tail check field_mapping" \
                "defs.c parse_feature_view keys check online" \
                "defs.c parse_aggregation akeys check hop" \
                "defs.c parse_model gkeys check metrics" \
                "config.c parse_doc keys check webhooks" \
                "config.c parse_webhooks keys check secret_env" \
                "source-csv.c - csv_keys backend-csv path" \
                "source.c - kafka_keys backend-kafka options" \
                "source.c - redis_stream_keys backend-redis_stream stream" \
                "agg.c - fs_agg_fn_names table approx_count_distinct"; do
        grep -qxF -- "$want" <<<"$output" || fail "not found: $want"
    done
    # no fs_y_check_keys() call whose keys are not found
    refute_output --regexp ' check \?$'
    # the six kinds of source at least
    [ "$(awk '$4 ~ /^backend-/ { print $4 }' <<<"$output" | sort -u | wc -l)" -ge 6 ] ||
        fail "fewer than 6 source backends found"
}

@test "definitions-doc: every key of a definition is documented in fs-definitions(5)" {
    run check_docs "$FS_SOURCE_ROOT" "$FS_SOURCE_ROOT/Documentation"
    refute_output --partial "fs-definitions.adoc"
    refute_output --partial "CONTEXTS"
    refute_output --partial "VALUES"
    refute_output --partial "have no section"
}

@test "definitions-doc: every key of fs.yaml is documented in fs.yaml(5)" {
    run check_docs "$FS_SOURCE_ROOT" "$FS_SOURCE_ROOT/Documentation"
    refute_output --partial "fs.yaml.adoc"
    assert_success
}

@test "definitions-doc: a key missing from a page fails the check, naming it" {
    copy_tree
    run -0 check_docs copy copy/Documentation
    # the terms of aggregation's hop, kafka's dead_letter and a webhook's secret_env
    sed -i '/^hop::$/d' copy/Documentation/fs-definitions.adoc
    sed -i '/^\[\[keys-source-kafka\]\]$/,/^\[\[keys-source-redis_stream\]\]$/{/^dead_letter::$/d}' \
        copy/Documentation/fs-definitions.adoc
    sed -i '/^secret_env::$/d' copy/Documentation/fs.yaml.adoc
    run -1 check_docs copy copy/Documentation
    assert_output "fs-definitions.adoc: [[keys-aggregation]]: key 'hop' is not documented (defs.c: parse_aggregation(): akeys)
fs-definitions.adoc: [[keys-source-kafka]]: key 'dead_letter' is not documented (source.c: -(): kafka_keys)
fs.yaml.adoc: [[keys-webhooks]]: key 'secret_env' is not documented (config.c: parse_webhooks(): keys)"
}

@test "definitions-doc: a key the loader gains fails the check until documented" {
    copy_tree
    sed -i '/keys\[\] = {.*"join_key"/s/"join_key",/"join_key", "region",/' copy/core/defs.c
    sed -i '/redis_stream_keys\[\] = {/s/"stream",/"stream", "consumer",/' copy/core/source.c
    sed -i 's/"artifact_store",/"artifact_store", "serve",/' copy/core/config.c
    run -1 check_docs copy copy/Documentation
    assert_output "fs-definitions.adoc: [[keys-entity]]: key 'region' is not documented (defs.c: parse_entity(): keys)
fs-definitions.adoc: [[keys-source-redis_stream]]: key 'consumer' is not documented (source.c: -(): redis_stream_keys)
fs.yaml.adoc: [[keys-fs_yaml]]: key 'serve' is not documented (config.c: parse_doc(): keys)"
    # a key of every object may be documented once, in [[keys-common]]
    sed -i 's/"region",/"owner",/' copy/core/defs.c
    run -1 check_docs copy copy/Documentation
    refute_output --partial "keys-entity"
}

@test "definitions-doc: a new table of keys, a value or a section gone fail the check" {
    copy_tree
    cat >>copy/core/defs.c <<'EOF'

static void parse_feature_bundle(struct fs_yctx *y, yaml_node_t *m)
{
	static const char *const keys[] = { "kind", "name", "views", NULL };

	fs_y_check_keys(y, fs_y_get(y, m, "bundle"),
			keys); /* a call on two lines */
}
EOF
    sed -i '/fs_agg_fn_names\[\]/,/}/s/"stddev",/"stddev", "median",/' copy/core/agg.c
    sed -i 's/static const char \*const gkeys\[\]/static const char *const gate_keys[]/; s/fs_y_check_keys(y, g, gkeys)/fs_y_check_keys(y, g, gate_keys)/' \
        copy/core/defs.c
    sed -i '/^\[\[keys-offline_store\]\]$/d' copy/Documentation/fs.yaml.adoc
    run -1 check_docs copy copy/Documentation
    assert_line "defs.c: parse_feature_bundle(): the keys of table 'keys' have no section: add it to CONTEXTS in t0005"
    assert_line "defs.c: parse_model(): the keys of table 'gate_keys' have no section: add it to CONTEXTS in t0005"
    assert_line "CONTEXTS in t0005: defs.c: parse_model(): no table 'gkeys' of keys (renamed or moved?)"
    assert_line "fs-definitions.adoc: value 'median' of agg.c: -(): fs_agg_fn_names is not shown as \`median\`"
    assert_line "fs.yaml.adoc: no section [[keys-offline_store]] (for config.c: parse_offline(): keys)"
}

@test "definitions-doc: the examples of fs-definitions(5) are accepted by fs plan and fs apply" {
    local page=$FS_SOURCE_ROOT/Documentation/fs-definitions.adoc ex
    init_repo
    # the sqlite example reads the sample data as a database
    sqlite3 data/features.db '.import --csv data/driver_stats.csv driver_stats'
    ex=$(yaml_examples "$page")
    # an example of each kind, and of each type of source
    for kind in entity source feature_view feature_service model; do
        grep -qx "kind: $kind" <<<"$ex" || fail "no example of kind $kind"
    done
    for type in csv sqlite postgres push kafka redis_stream; do
        grep -qx "type: $type" <<<"$ex" || fail "no example of a $type source"
    done
    grep -qx "features:" <<<"$ex" || fail "no example of a feature view with features"
    grep -qx "aggregations:" <<<"$ex" || fail "no example of a feature view with aggregations"
    # all of them but the postgres source (it needs a server at apply)
    awk 'BEGIN { RS = "---\n" } !/\ntype: postgres\n/ { printf "%s---\n", $0 }' <<<"$ex" >features/driver.yaml
    run -0 --separate-stderr fs plan
    assert_line "+ source trip_events"
    assert_line "+ feature_view driver_trip_stats"
    assert_line "+ model eta"
    run -0 fs apply -q
    run -0 fs describe source driver_stats_db
    # the errors EXAMPLES shows, from the changes it names
    sed -i '0,/^type: int64$/s//typ: int64/; 0,/^entities: \[driver\]$/s//entities: [drivr]/;
            0,/^created_timestamp_field: created$/s//created_timestamp_field: created_at/' features/driver.yaml
    run -128 --separate-stderr fs plan
    assert_equal "$stderr" "$(sed -n '/^== EXAMPLES$/,/^== /p' "$page" | grep -E '^(error|fatal): ')"
}

@test "definitions-doc: the examples of fs.yaml(5) are what fs init writes, and accepted" {
    local page=$FS_SOURCE_ROOT/Documentation/fs.yaml.adoc doc n=0
    "$FS" init -q drivers
    cd drivers
    # the first example of EXAMPLES is the file fs init writes
    diff -u <(sed -n '/^== EXAMPLES$/,$p' "$page" | yaml_examples /dev/stdin | sed '/^---$/,$d') fs.yaml ||
        fail "fs.yaml(5): the first example of EXAMPLES is not the fs.yaml of 'fs init drivers'"
    # and its error is the one shown
    sed 's/^online_store:/onlinestore:/' fs.yaml >fs.yaml.new && mv fs.yaml.new fs.yaml
    run -128 --separate-stderr fs ls
    grep -qxF -- "$stderr" "$page" || fail "fs.yaml(5) does not show: $stderr"
    # every example is a valid fs.yaml; a fragment (online_store: ...) in a minimal one
    yaml_examples "$page" | awk 'BEGIN { RS = "---\n" } { printf "%s%c", $0, 0 }' >examples
    while IFS= read -r -d '' doc; do
        if grep -q '^project:' <<<"$doc"; then
            printf '%s' "$doc" >fs.yaml
        else
            printf 'project: t\n%s' "$doc" >fs.yaml
        fi
        run --separate-stderr fs ls
        [ "$status" -eq 0 ] || fail "fs.yaml(5): example rejected: $stderr
$doc"
        n=$((n + 1))
    done <examples
    assert_equal "$n" 6
}

@test "definitions-doc: the pages build into section 5 man pages without warnings" {
    command -v asciidoctor >/dev/null || skip "no asciidoctor"
    local page title
    for page in fs-definitions fs.yaml; do
        run -0 --separate-stderr asciidoctor -b manpage -a fs_version=test --failure-level WARN \
            -o - "$FS_SOURCE_ROOT/Documentation/$page.adoc"
        assert_equal "$stderr" ""
        title=$(tr a-z A-Z <<<"$page")
        assert_line --partial ".TH \"${title//-/\\-}\" \"5\""
    done
}
