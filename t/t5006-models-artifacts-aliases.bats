#!/usr/bin/env bats
# Models as MLflow users expect them: directory artifacts (content-addressed
# files and a manifest), fs models get writing them back with every hash
# checked, aliases next to the stages (fs alias), resolved by the CLI and by
# serve-lite, in the audit trail and in --at answers.

load test_helper
load lib-models
load lib-serve

now_rfc3339() { date -u +%Y-%m-%dT%H:%M:%SZ; }

# An MLflow-like model directory at $1; files created in the order $2
# ("forward" or "backward"), each with mtime $3 (touch -d).
make_model_dir() {
    local dir=$1 order=${2:-forward} when=${3:-2020-01-01} f
    local -a files=(MLmodel conda.yaml model.pkl bin/predict "code/my model.py")
    [ "$order" = backward ] && files=("code/my model.py" bin/predict model.pkl conda.yaml MLmodel)
    mkdir -p "$dir"
    for f in "${files[@]}"; do
        mkdir -p "$dir/$(dirname "$f")"
        case $f in
        MLmodel) printf 'flavors:\n  python_function: {}\n' > "$dir/$f" ;;
        conda.yaml) printf 'name: env\n' > "$dir/$f" ;;
        model.pkl) head -c 5000 /dev/zero | tr '\0' 'w' > "$dir/$f" ;;
        bin/predict) printf '#!/bin/sh\necho predict\n' > "$dir/$f"; chmod 755 "$dir/$f" ;;
        *) printf 'print(1)\n' > "$dir/$f" ;;
        esac
        touch -d "$when" "$dir/$f"
    done
}

digest_of() {
    "$FS" register-model eta --artifact "$1" --json | jq -r '.artifact.sha256'
}

@test "register-model: a directory is stored file by file under a manifest whose sha256 is the version's digest" {
    models_repo
    make_model_dir m
    run -0 --separate-stderr fs register-model eta --artifact m --json
    assert_equal "$stderr" ""
    local v=$output sha path
    assert_equal "$(jq -r '.artifact.kind' <<<"$v")" "directory"
    assert_equal "$(jq -r '.artifact.uri' <<<"$v")" "$PWD/m"
    assert_equal "$(jq -r '.artifact.size' <<<"$v")" "$(cat m/MLmodel m/conda.yaml m/model.pkl m/bin/predict "m/code/my model.py" | wc -c)"
    sha=$(jq -r '.artifact.sha256' <<<"$v")
    path=$(jq -r '.artifact.path' <<<"$v")
    assert_equal "$path" "$PWD/.fs/artifacts/sha256/${sha:0:2}/$sha"
    assert_equal "$(sha256sum "$path" | cut -d' ' -f1)" "$sha"
    # the manifest: sorted by path, mode, size, sha256 of every file
    local expected="fs-manifest 1" f mode
    for f in MLmodel bin/predict "code/my model.py" conda.yaml model.pkl; do
        mode=100644
        [ "$f" = bin/predict ] && mode=100755
        expected+=$'\n'"$mode $(stat -c %s "m/$f") $(sha256sum "m/$f" | cut -d' ' -f1) $f"
    done
    assert_equal "$(cat "$path")" "$expected"
    # and every file is in the store under its own sha256, byte for byte
    for f in MLmodel bin/predict "code/my model.py" conda.yaml model.pkl; do
        local s
        s=$(sha256sum "m/$f" | cut -d' ' -f1)
        cmp "m/$f" ".fs/artifacts/sha256/${s:0:2}/$s"
    done
    run -0 fs models eta --json
    assert_equal "$(jq -r '.versions[0].artifact.kind' <<<"$output")" "directory"
}

@test "register-model: the same tree gives the same digest whatever the mtimes and the order of creation" {
    models_repo
    make_model_dir a forward 2020-01-01
    sleep 1
    make_model_dir b backward 2024-06-30
    local da db
    da=$(digest_of a)
    db=$(digest_of b)
    [ -n "$da" ] && [ "$da" != null ]
    assert_equal "$da" "$db"
    # a copy, its times now
    cp -r b c
    touch c/MLmodel c/bin/predict
    assert_equal "$(digest_of c)" "$da"
}

@test "register-model: a changed byte, a renamed file or a changed exec bit changes the digest" {
    models_repo
    make_model_dir a
    local d0
    d0=$(digest_of a)
    cp -r a b
    printf 'x' | dd of=b/model.pkl bs=1 seek=100 conv=notrunc status=none
    assert_equal "$(stat -c %s b/model.pkl)" "$(stat -c %s a/model.pkl)"
    [ "$(digest_of b)" != "$d0" ] || fail "a changed byte kept the digest"
    cp -r a c
    mv c/conda.yaml c/conda.yml
    [ "$(digest_of c)" != "$d0" ] || fail "a renamed file kept the digest"
    cp -r a d
    chmod -x d/bin/predict
    [ "$(digest_of d)" != "$d0" ] || fail "a dropped exec bit kept the digest"
    # and the unchanged tree still gives d0
    assert_equal "$(digest_of a)" "$d0"
}

@test "register-model: a symlink outside the tree or a special file is an error naming it; nothing is recorded" {
    models_repo
    make_model_dir m
    echo secret > outside.txt
    ln -s ../outside.txt m/leak
    run -128 --separate-stderr fs register-model eta --artifact m
    assert_output ""
    [[ "$stderr" == "fatal: artifact 'm': symlink 'leak' points outside the directory"* ]] || fail "$stderr"
    rm m/leak
    mkfifo m/bin/pipe
    run -128 --separate-stderr fs register-model eta --artifact m
    assert_equal "$stderr" "fatal: artifact 'm': 'bin/pipe' is a special file (a fifo), not allowed in an artifact"
    rm m/bin/pipe
    ln -s ../bin m/code/dirlink
    run -128 --separate-stderr fs register-model eta --artifact m
    [[ "$stderr" == *"symlink 'code/dirlink' points to a directory"* ]] || fail "$stderr"
    rm m/code/dirlink
    mkdir -p empty/sub
    run -128 --separate-stderr fs register-model eta --artifact empty
    assert_equal "$stderr" "fatal: artifact 'empty': the directory holds no file"
    run -0 fs models eta --json
    assert_equal "$(jq -c '.versions' <<<"$output")" "[]"
    # a symlink to a file inside the tree is stored as that file
    local d0
    d0=$(digest_of m)
    cp -r m n
    ln -s ../MLmodel n/bin/MLmodel.link
    cp -r m o
    cp m/MLmodel o/bin/MLmodel.link
    assert_equal "$(digest_of n)" "$(digest_of o)"
}

@test "models get: a directory comes back byte-identical, exec bit kept, at its original name by default" {
    models_repo
    make_model_dir model
    fs register-model eta --artifact model >/dev/null
    mkdir out && cd out
    run -0 --separate-stderr fs models get eta 1
    assert_output "model"
    assert_equal "$stderr" ""
    diff -r ../model model
    [ -x model/bin/predict ] || fail "the exec bit was lost"
    [ ! -x model/MLmodel ] || fail "MLmodel became executable"
    # nothing else is left next to it
    assert_equal "$(ls -A)" "model"
    # an existing path is refused, --force replaces it
    echo stale > model/stale
    run -128 --separate-stderr fs models get eta v1
    assert_equal "$stderr" "fatal: 'model' already exists (use --force to replace it)"
    [ -f model/stale ]
    run -0 fs models get eta v1 --force
    diff -r ../model model
    assert_equal "$(ls -A)" "model"
    # -o elsewhere
    run -0 fs models get eta 1 -o "$BATS_TEST_TMPDIR/elsewhere"
    assert_output "$BATS_TEST_TMPDIR/elsewhere"
    diff -r ../model "$BATS_TEST_TMPDIR/elsewhere"
}

@test "models get: -h answers outside a repository; a bad option is 129 there too" {
    run -0 --separate-stderr fs models get -h
    assert_line -n 0 "usage: fs models get <name>@<stage|alias> [-o <path>] [--force]"
    assert_equal "$stderr" ""
    run -0 fs alias -h
    run -129 fs models get --nope
    run -129 fs alias --nope
    run -128 --separate-stderr fs models get eta@production
    [[ "$stderr" == "fatal: not an fs repository"* ]] || fail "$stderr"
}

@test "models get: a file artifact by version, by stage (any case) and by alias" {
    models_repo
    head -c 3000 /dev/urandom > model.bin
    fs register-model eta --artifact model.bin >/dev/null
    fs promote eta 1 production --force >/dev/null 2>&1
    run -0 fs models get eta 1 -o a.bin
    cmp model.bin a.bin
    run -0 fs models get eta@Production -o b.bin
    cmp model.bin b.bin
    fs alias eta champion 1 >/dev/null
    run -0 fs models get eta@champion -o c.bin
    cmp model.bin c.bin
    mkdir d && cd d
    run -0 fs models get eta@production
    assert_output "model.bin"
    cmp ../model.bin model.bin
    # an unknown stage holder, alias or version
    run -128 --separate-stderr fs models get eta@staging -o x
    assert_equal "$stderr" "fatal: model 'eta' has no version in stage 'staging'"
    run -128 --separate-stderr fs models get eta@nosuch -o x
    assert_equal "$stderr" "fatal: model 'eta' has no alias 'nosuch'"
    run -128 fs models get eta 9 -o x
    run -129 fs models get eta
    run -128 --separate-stderr fs models get etaa@production
    assert_equal "$stderr" "fatal: unknown model 'etaa' (did you mean 'eta'?)"
    [ ! -e x ]
}

@test "models get: a corrupted store is an error naming the file, and nothing is left at the path" {
    models_repo
    make_model_dir m
    fs register-model eta --artifact m >/dev/null
    local s blob
    s=$(sha256sum m/model.pkl | cut -d' ' -f1)
    blob=.fs/artifacts/sha256/${s:0:2}/$s
    chmod u+w "$blob"
    printf 'X' | dd of="$blob" bs=1 seek=10 conv=notrunc status=none
    mkdir out
    run -128 --separate-stderr fs models get eta 1 -o out/m
    assert_output ""
    [[ "$stderr" == "fatal: artifact store: model.pkl: '$PWD/$blob' is corrupt"* ]] || fail "$stderr"
    assert_equal "$(ls -A out)" ""
    # a missing file of the tree
    printf 'w' | dd of="$blob" bs=1 seek=10 conv=notrunc status=none
    run -0 fs models get eta 1 -o out/m
    rm -rf out/m
    rm "$blob"
    run -128 --separate-stderr fs models get eta 1 -o out/m
    [[ "$stderr" == *"model.pkl: '$PWD/$blob' is missing"* ]] || fail "$stderr"
    assert_equal "$(ls -A out)" ""
    # a corrupted manifest, and a corrupted single file
    local man
    man=$(fs models eta --json | jq -r '.versions[0].artifact.path')
    echo >> "$man"
    run -128 --separate-stderr fs models get eta 1 -o out/m
    [[ "$stderr" == "fatal: artifact store: manifest '$man' is corrupt"* ]] || fail "$stderr"
    echo data > f.bin
    fs register-model eta --artifact f.bin >/dev/null
    s=$(sha256sum f.bin | cut -d' ' -f1)
    echo other > ".fs/artifacts/sha256/${s:0:2}/$s"
    run -128 --separate-stderr fs models get eta 2 -o out/f.bin
    [[ "$stderr" == *"'$PWD/.fs/artifacts/sha256/${s:0:2}/$s' is corrupt"* ]] || fail "$stderr"
    assert_equal "$(ls -A out)" ""
}

@test "models get: an http artifact not in the store is fetched and checked, or its URL printed with exit 1" {
    models_repo
    mkdir www
    echo remote-weights > www/w.bin
    start_http_server www
    local url=http://127.0.0.1:$HTTP_PORT/w.bin s
    fs register-model eta --artifact "$url" >/dev/null
    s=$(sha256sum www/w.bin | cut -d' ' -f1)
    # as if it had only been hashed
    rm ".fs/artifacts/sha256/${s:0:2}/$s"
    run -0 fs models get eta 1
    assert_output "w.bin"
    cmp www/w.bin w.bin
    # changed at its URL: refused
    echo changed > www/w.bin
    run -128 --separate-stderr fs models get eta 1 -o x.bin
    [[ "$stderr" == *"has changed since"* ]] || fail "$stderr"
    [ ! -e x.bin ]
    # gone: say so, print the URL, exit 1
    rm www/w.bin
    run -1 --separate-stderr fs models get eta 1 -o y.bin
    assert_output "$url"
    [[ "$stderr" == "error: the artifact was not stored, only hashed, and cannot be fetched"* ]] || fail "$stderr"
    [ ! -e y.bin ]
}

@test "alias: set, move, list and delete; bad names are usage errors" {
    models_repo
    register_eta >/dev/null
    register_eta >/dev/null
    run -0 fs alias eta champion 1
    assert_output "Set alias 'champion' of model 'eta' to v1."
    run -0 fs alias eta challenger v2
    run -0 fs alias eta
    assert_output "$(printf 'challenger v2\nchampion v1')"
    run -0 fs alias eta champion @challenger
    assert_output "Moved alias 'champion' of model 'eta' from v1 to v2."
    run -0 fs alias eta champion 2
    assert_output "Alias 'champion' of model 'eta' already names v2."
    run -0 fs alias eta --json
    assert_equal "$(jq -c . <<<"$output")" '{"model":"eta","aliases":{"challenger":2,"champion":2}}'
    run -0 fs alias -d eta challenger
    assert_output "Deleted alias 'challenger' of model 'eta' (was v2)."
    run -128 --separate-stderr fs alias -d eta challenger
    assert_equal "$stderr" "fatal: model 'eta' has no alias 'challenger'"
    run -0 fs alias eta
    assert_output "champion v2"
    # names
    local bad
    for bad in Production production staging none archived Champ 1st _x "x!" a.b ""; do
        run -129 --separate-stderr fs alias eta "$bad" 1
        [[ "$stderr" == *"bad alias name"* ]] || fail "'$bad': $stderr"
    done
    run -0 fs alias eta a-b_9 1
    # an unknown version or model
    run -128 --separate-stderr fs alias eta x 7
    assert_equal "$stderr" "fatal: model 'eta' has no version 7"
    run -128 --separate-stderr fs alias etaa x 1
    assert_equal "$stderr" "fatal: unknown model 'etaa' (did you mean 'eta'?)"
    run -129 fs alias
    run -129 fs alias eta x
    run -129 fs alias -d eta
    # nothing of the failures was recorded
    run -0 fs alias eta --json
    assert_equal "$(jq -c .aliases <<<"$output")" '{"a-b_9":1,"champion":2}'
}

@test "alias: resolved where a stage is, shown by fs models, in the audit trail and in --at answers" {
    models_repo
    register_eta --metric auc=0.9 >/dev/null
    register_eta --metric auc=0.9 >/dev/null
    local t0 t1 t2
    t0=$(now_rfc3339)
    sleep 1
    fs alias eta champion 1 >/dev/null
    t1=$(now_rfc3339)
    sleep 1
    fs promote eta @champion staging >/dev/null
    fs alias eta champion 2 >/dev/null
    fs alias eta old 1 >/dev/null
    t2=$(now_rfc3339)
    sleep 1
    fs alias -d eta champion >/dev/null

    assert_equal "$(stage_of 1)" "staging"
    run -0 fs models eta
    assert_line -n 0 --regexp "^eta +v1 +staging .* auc=0.9 @old\$"
    assert_line -n 1 --regexp "^eta +v2 +none .* auc=0.9\$"
    run -0 fs models eta --json
    assert_equal "$(jq -c '[.versions[].aliases]' <<<"$output")" '[["old"],[]]'

    run -0 fs models log eta
    assert_equal "${#lines[@]}" 7
    assert_line -n 2 --regexp '^[0-9TZ:-]+  @champion  \(new\) -> v1  by Test User <test@example.com>$'
    assert_line -n 3 --regexp '^[0-9TZ:-]+  v1  none -> staging  by Test User'
    assert_line -n 4 --regexp '^[0-9TZ:-]+  @champion  v1 -> v2  by Test User <test@example.com>$'
    assert_line -n 5 --regexp '^[0-9TZ:-]+  @old  \(new\) -> v1  by '
    assert_line -n 6 --regexp '^[0-9TZ:-]+  @champion  v2 -> \(deleted\)  by '
    run -0 fs models log eta --json
    assert_equal "$(jq -c '[.alias_changes[] | [.alias, .version, .previous, .author]]' <<<"$output")" \
        '[["champion",1,null,"Test User <test@example.com>"],["champion",2,1,"Test User <test@example.com>"],["old",1,null,"Test User <test@example.com>"],["champion",null,2,"Test User <test@example.com>"]]'
    assert_equal "$(jq -r '.alias_changes[0] | keys | join(",")' <<<"$output")" "alias,at,at_unix,author,previous,version"
    assert_equal "$(jq -r '.transitions[0] | keys | join(",")' <<<"$output")" "at,at_unix,author,forced,from,reason,to,version"

    run -0 fs models eta --at "$t0" --json
    assert_equal "$(jq -c .aliases <<<"$output")" '{}'
    run -0 fs models eta --at "$t1" --json
    assert_equal "$(jq -c .aliases <<<"$output")" '{"champion":1}'
    run -0 fs models eta --at "$t2" --json
    assert_equal "$(jq -c .aliases <<<"$output")" '{"champion":2,"old":1}'
    run -0 fs models eta --at now --json
    assert_equal "$(jq -c .aliases <<<"$output")" '{"old":1}'
    run -0 fs models eta --at "$t2"
    assert_equal "$output" "$(printf 'none        v2\nstaging     v1\nproduction  -\narchived    -\n@champion   v2\n@old        v1')"
}

@test "register-model: an unknown model names the closest registered one" {
    models_repo
    echo w > m.bin
    run -128 --separate-stderr fs register-model etaa --artifact m.bin
    assert_equal "$stderr" "fatal: model 'etaa' is not registered (did you mean 'eta'?)"
    run -128 --separate-stderr fs register-model zzzzzzzz --artifact m.bin
    assert_equal "$stderr" "fatal: model 'zzzzzzzz' is not registered: add a 'kind: model' definition named 'zzzzzzzz' and run 'fs apply'"
    assert [ ! -e .fs/artifacts ]
}

@test "serve-lite: /models by stage in any case and by alias, the store's URI, and the artifact itself" {
    models_repo
    make_model_dir model
    fs register-model eta --artifact model >/dev/null
    head -c 2000 /dev/urandom > single.bin
    fs register-model eta --artifact single.bin >/dev/null
    fs promote eta 2 production --force >/dev/null 2>&1
    fs alias eta champion 1 >/dev/null
    echo tok > tokens
    start_server --token-file tokens
    AUTH=(-H "Authorization: Bearer tok")
    local sdir ssingle
    sdir=$(fs models eta --json | jq -r '.versions[0].artifact.sha256')
    ssingle=$(sha256sum single.bin | cut -d' ' -f1)

    local p
    for p in /models/eta/production /models/eta/Production /models/eta/PRODUCTION; do
        http GET $p
        assert_code 200
        assert_equal "$(jq -c '[.version, .stage, .artifact_uri, .source_uri, .artifact_kind, .sha256, .artifact_url]' <<<"$body")" \
            "[2,\"production\",\"fs-artifacts:sha256:$ssingle\",\"$PWD/single.bin\",\"file\",\"$ssingle\",\"/models/eta/production/artifact\"]"
    done
    http GET /models/eta/champion
    assert_code 200
    assert_equal "$(jq -c '[.version, .alias, .aliases, .artifact_uri, .source_uri, .artifact_kind, .artifact_url]' <<<"$body")" \
        "[1,\"champion\",[\"champion\"],\"fs-artifacts:sha256:$sdir\",\"$PWD/model\",\"directory\",\"/models/eta/champion/artifact\"]"
    http GET /models/eta/Champion
    assert_code 200
    http GET /models/eta/staging
    assert_code 404

    # the file, as it is
    curl -sS -f "${AUTH[@]}" -D headers -o got.bin "$URL/models/eta/Production/artifact"
    cmp single.bin got.bin
    grep -qi '^content-type: application/octet-stream' headers
    grep -qi '^content-disposition: attachment; filename="single.bin"' headers
    # the directory, as a tar archive
    curl -sS -f "${AUTH[@]}" -D headers -o got.tar "$URL/models/eta/champion/artifact"
    grep -qi '^content-type: application/x-tar' headers
    grep -qi '^content-disposition: attachment; filename="model.tar"' headers
    # the archive lists the files in the manifest's order, a tar anyone reads
    assert_equal "$(tar -tf got.tar)" "$(printf 'MLmodel\nbin/predict\ncode/my model.py\nconda.yaml\nmodel.pkl')"
    python3 -c 'import sys, tarfile; t = tarfile.open(sys.argv[1]); assert t.getmember("bin/predict").mode == 0o755' got.tar
    mkdir x && tar -xf got.tar -C x
    diff -r model x
    [ -x x/bin/predict ]
    # a path longer than ustar's 100-byte name field goes in its prefix
    local long
    long=deep/$(printf 'd%.0s' $(seq 60))/$(printf 'e%.0s' $(seq 60))
    mkdir -p "lm/$long"
    echo deep > "lm/$long/$(printf 'f%.0s' $(seq 90)).txt"
    echo top > lm/top
    fs register-model eta --artifact lm >/dev/null
    fs alias eta deep 3 >/dev/null
    poll_until 200 GET /models/eta/deep
    curl -sS -f "${AUTH[@]}" -o lm.tar "$URL/models/eta/deep/artifact"
    mkdir lx && tar -xf lm.tar -C lx
    diff -r lm lx
    # the token rule applies
    AUTH=()
    http GET /models/eta/champion/artifact
    assert_code 401
    http GET /models/eta/champion
    assert_code 401
    AUTH=(-H "Authorization: Bearer tok")
    http GET /models/eta/champion/nope
    assert_code 404
    http GET /models/eta/nosuch/artifact
    assert_code 404

    # an alias moved is picked up without a restart
    fs alias eta champion 2 >/dev/null
    local i
    for i in $(seq 50); do
        http GET /models/eta/champion
        [ "$(jq -r .version <<<"$body")" = 2 ] && break
        sleep 0.1
    done
    assert_equal "$(jq -r .version <<<"$body")" "2"

    # a corrupted store is a 500 naming the file, not the corrupted bytes
    local blob=.fs/artifacts/sha256/${ssingle:0:2}/$ssingle
    chmod u+w "$blob"
    echo junk > "$blob"
    http GET /models/eta/production/artifact
    assert_error 500 "is corrupt"
}
