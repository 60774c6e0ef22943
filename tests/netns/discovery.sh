#!/usr/bin/env bash
# Two `tblink host` processes in two network namespaces, joined by a
# shared-memory cable whose Unix socket path both can reach, discover each
# other; an unplug is seen by both within 2 s, a plug brings them back, and
# SIGTERM stops both with status 0.
#
# Usage: tests/netns/discovery.sh [path/to/tblink]   (default target/debug/tblink)
# Needs root and `ip` (iproute2); prints "skipped: …" and exits 0 otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${1:-${TBLINK:-target/debug/tblink}}
BIN=$(readlink -f "$BIN")
if [ "$(id -u)" != 0 ]; then
    echo "skipped: netns discovery test needs root"
    exit 0
fi
if ! command -v ip >/dev/null 2>&1; then
    echo "skipped: netns discovery test needs ip (iproute2)"
    exit 0
fi
[ -x "$BIN" ] || { echo "FAIL: no tblink binary at $BIN"; exit 1; }

NS_A=tbl-a-$$
NS_B=tbl-b-$$
DIR=$(mktemp -d /tmp/tblink-netns.XXXXXX)
CABLE=$DIR/cable.sock
PID_A=
PID_B=
OK=0

cleanup() {
    for p in $PID_A $PID_B; do
        kill -KILL "$p" 2>/dev/null || true
    done
    ip netns del "$NS_A" 2>/dev/null || true
    ip netns del "$NS_B" 2>/dev/null || true
    if [ "$OK" != 1 ]; then
        for f in "$DIR"/*.log; do
            [ -f "$f" ] || continue
            echo "---- $f"
            tail -n 40 "$f"
        done
    fi
    rm -rf "$DIR"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    exit 1
}

in_a() { ip netns exec "$NS_A" "$@"; }

# ls_json NS HOST: the host's snapshot, compact enough to grep.
ls_json() {
    ip netns exec "$1" "$BIN" ls --host "$2" --json 2>/dev/null || true
}

# sees NS HOST PEER: HOST lists PEER with its echo service bound to a driver.
sees() {
    local j
    j=$(ls_json "$1" "$2")
    grep -q "\"host_name\": \"$3\"" <<<"$j" &&
        grep -q '"modalias": "tbsvc:kechop00000001v00000001r00000000"' <<<"$j" &&
        grep -q '"driver": "echo"' <<<"$j"
}

# alone NS HOST: HOST lists no XDomain at all.
alone() {
    local j
    j=$(ls_json "$1" "$2")
    [ -n "$j" ] && ! grep -q '"device": "0-' <<<"$j"
}

# until_ok SECONDS WHAT CMD...: poll CMD every 100 ms for at most SECONDS.
until_ok() {
    local limit=$1 what=$2
    shift 2
    local start now
    start=$(date +%s%N)
    while true; do
        if "$@"; then
            now=$(date +%s%N)
            echo "ok: $what ($(((now - start) / 1000000)) ms)"
            return 0
        fi
        now=$(date +%s%N)
        if [ $(((now - start) / 1000000)) -ge $((limit * 1000)) ]; then
            fail "$what: not within ${limit} s"
        fi
        sleep 0.1
    done
}

ip netns add "$NS_A"
ip netns add "$NS_B"
in_a ip link set lo up
ip netns exec "$NS_B" ip link set lo up

# Bob first: a connecting end waits for its listener.
# (ip netns exec execs the command, so $! is the host's own pid.)
ip netns exec "$NS_B" "$BIN" host --name bob --port "connect:$CABLE" 2>"$DIR/bob.log" &
PID_B=$!
sleep 0.2
ip netns exec "$NS_A" "$BIN" host --name alice --port "listen:$CABLE" 2>"$DIR/alice.log" &
PID_A=$!

until_ok 10 "alice sees bob" sees "$NS_A" alice bob
until_ok 10 "bob sees alice" sees "$NS_B" bob alice

# A second host with the same name is refused.
if timeout 5 "$BIN" host --name alice >"$DIR/dup.out" 2>&1; then
    fail "a second host named alice was started"
fi
grep -q "already running" "$DIR/dup.out" || fail "no clear error for a duplicate name: $(cat "$DIR/dup.out")"
echo "ok: duplicate name refused"

# A host that is not running: exit status 2.
set +e
"$BIN" ls --host "nobody-$$" >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 2 ] || fail "ls of a host that is not running exited $rc, not 2"
echo "ok: ls of a missing host exits 2"

in_a "$BIN" port --host alice 1 unplug
until_ok 2 "alice has no peer after unplug" alone "$NS_A" alice
until_ok 2 "bob has no peer after unplug" alone "$NS_B" bob

in_a "$BIN" port --host alice 1 plug
until_ok 10 "alice sees bob after plug" sees "$NS_A" alice bob
until_ok 10 "bob sees alice after plug" sees "$NS_B" bob alice

"$BIN" ls --host alice

# SIGTERM: both exit 0; bob sees alice go away first.
kill -TERM "$PID_A"
set +e
wait "$PID_A"
rc_a=$?
set -e
PID_A=
[ "$rc_a" = 0 ] || fail "alice exited $rc_a after SIGTERM"
until_ok 2 "bob has no peer after alice stopped" alone "$NS_B" bob
kill -TERM "$PID_B"
set +e
wait "$PID_B"
rc_b=$?
set -e
PID_B=
[ "$rc_b" = 0 ] || fail "bob exited $rc_b after SIGTERM"
[ ! -e /run/tblink/alice.sock ] || fail "alice left its control socket behind"
echo "ok: both hosts exited 0 on SIGTERM"

OK=1
echo "netns discovery: 1 passed, 0 failed"
