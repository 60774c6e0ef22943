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

# shellcheck source=tests/netns/lib.sh
. tests/netns/lib.sh
find_bin "${1:-}"
skip_unless_root "netns discovery test"
if ! command -v ip >/dev/null 2>&1; then
    echo "skipped: netns discovery test needs ip (iproute2)"
    exit 0
fi
require_bin
POLL=0.1
netns_start tbl tblink-netns

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

# within SECONDS WHAT CMD...: until_ok, then "ok: WHAT (N ms)".
within() {
    until_ok "$@"
    echo "ok: $2 ($LAST_MS ms)"
}

# Bob first: a connecting end waits for its listener.
start_bob bob
sleep 0.2
start_alice alice

within 10 "alice sees bob" sees "$NS_A" alice bob
within 10 "bob sees alice" sees "$NS_B" bob alice

# A second host with the same name is refused.
if timeout 5 "$BIN" host --name alice >"$DIR/dup.out" 2>&1; then
    fail "a second host named alice was started"
fi
grep -q "already running" "$DIR/dup.out" || fail "no clear error for a duplicate name: $(cat "$DIR/dup.out")"
echo "ok: duplicate name refused"

# A host that is not running: exit status 2.
rc=0
"$BIN" ls --host "nobody-$$" >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "ls of a host that is not running exited $rc, not 2"
echo "ok: ls of a missing host exits 2"

in_a "$BIN" port --host alice 1 unplug
within 2 "alice has no peer after unplug" alone "$NS_A" alice
within 2 "bob has no peer after unplug" alone "$NS_B" bob

in_a "$BIN" port --host alice 1 plug
within 10 "alice sees bob after plug" sees "$NS_A" alice bob
within 10 "bob sees alice after plug" sees "$NS_B" bob alice

"$BIN" ls --host alice

# SIGTERM: both exit 0; bob sees alice go away first.
kill -TERM "$PID_A"
rc_a=0
wait "$PID_A" || rc_a=$?
PID_A=
[ "$rc_a" = 0 ] || fail "alice exited $rc_a after SIGTERM"
within 2 "bob has no peer after alice stopped" alone "$NS_B" bob
kill -TERM "$PID_B"
rc_b=0
wait "$PID_B" || rc_b=$?
PID_B=
[ "$rc_b" = 0 ] || fail "bob exited $rc_b after SIGTERM"
[ ! -e /run/tblink/alice.sock ] || fail "alice left its control socket behind"
echo "ok: both hosts exited 0 on SIGTERM"

OK=1
echo "netns discovery: 1 passed, 0 failed"
