#!/bin/sh
# with-redis.sh PROGRAM [ARGS...]: run PROGRAM with FS_TEST_REDIS_URL naming
# a redis-server of its own on a free loopback port (no persistence), so
# that unit tests cover the Redis backend; without redis-server, PROGRAM
# runs as it is (its Redis tests skip).
set -u
if ! command -v redis-server > /dev/null 2>&1 || ! command -v redis-cli > /dev/null 2>&1; then
    exec "$@"
fi
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" > "$dir/log" 2>&1 &
pid=$!
i=0
while [ "$(redis-cli -p "$port" ping 2> /dev/null)" != PONG ] && [ $i -lt 100 ]; do
    sleep 0.05
    i=$((i + 1))
done
FS_TEST_REDIS_URL="redis://127.0.0.1:$port/0" "$@"
status=$?
kill "$pid" 2> /dev/null
wait "$pid" 2> /dev/null
rm -rf "$dir"
exit $status
