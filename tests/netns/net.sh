#!/usr/bin/env bash
# ThunderboltIP between two `tblink host --net` processes in two network
# namespaces over a shared-memory cable:
#   * ping -c 100 -i 0.01 with 0% loss, IPv6 link-local ping;
#   * iperf3 TCP both directions at MTU 1500 and 65521 (the TAP maximum);
#   * iperf3 UDP at 1 Gbit/s with < 0.1% loss;
#   * unplug (`tblink port`) takes both carriers down, replug brings the
#     link back; 20 unplug/replug cycles all come back;
#   * `tblink demo` runs and exits 0.
#
# Usage: tests/netns/net.sh [path/to/tblink]   (default target/debug/tblink)
# Needs root, /dev/net/tun, ip, ping and iperf3; prints "skipped: …" and
# exits 0 only when not root.
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${1:-${TBLINK:-target/debug/tblink}}
BIN=$(readlink -f "$BIN")
SECS=${NET_TEST_SECONDS:-5}
if [ "$(id -u)" != 0 ]; then
    echo "skipped: netns network test needs root"
    exit 0
fi
for c in ip ping iperf3; do
    command -v "$c" >/dev/null 2>&1 || { echo "FAIL: $c not installed"; exit 1; }
done
[ -c /dev/net/tun ] || { echo "FAIL: no /dev/net/tun"; exit 1; }
[ -x "$BIN" ] || { echo "FAIL: no tblink binary at $BIN"; exit 1; }

NS_A=tbn-a-$$
NS_B=tbn-b-$$
DIR=$(mktemp -d /tmp/tblink-net.XXXXXX)
CABLE=$DIR/cable.sock
PID_A=
PID_B=
OK=0
IF=thunderbolt0
PASSED=0

stop_hosts() {
    for p in $PID_A $PID_B; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in $PID_A $PID_B; do
        wait "$p" 2>/dev/null || true
    done
    PID_A=
    PID_B=
}

cleanup() {
    if [ "$OK" != 1 ]; then
        for h in alice bob; do
            [ -S "$DIR/$h.sock" ] && "$BIN" ls --control "$DIR/$h.sock" 2>&1 | tail -n 3
        done
        ip -n "$NS_A" -s link show dev "$IF" 2>/dev/null || true
        ip -n "$NS_B" -s link show dev "$IF" 2>/dev/null || true
    fi
    stop_hosts
    pkill_ns() {
        local p
        for p in $(ip netns pids "$1" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    }
    pkill_ns "$NS_A"
    pkill_ns "$NS_B"
    ip netns del "$NS_A" 2>/dev/null || true
    ip netns del "$NS_B" 2>/dev/null || true
    if [ "$OK" != 1 ]; then
        for f in "$DIR"/*.log "$DIR"/*.json; do
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

pass() {
    echo "ok: $*"
    PASSED=$((PASSED + 1))
}

in_a() { ip netns exec "$NS_A" "$@"; }
in_b() { ip netns exec "$NS_B" "$@"; }

# carrier NS on|off: the interface's carrier as `ip -j link` shows it.
carrier() {
    local j
    j=$(ip -n "$1" -j link show dev "$IF" 2>/dev/null) || return 1
    if [ "$2" = on ]; then
        grep -q '"LOWER_UP"' <<<"$j"
    else
        grep -q '"NO-CARRIER"' <<<"$j"
    fi
}

both() { carrier "$NS_A" "$1" && carrier "$NS_B" "$1"; }

exists_both() {
    ip -n "$NS_A" link show dev "$IF" >/dev/null 2>&1 &&
        ip -n "$NS_B" link show dev "$IF" >/dev/null 2>&1
}

# until_ok SECONDS WHAT CMD...: poll CMD every 10 ms; prints the time taken.
until_ok() {
    local limit=$1 what=$2
    shift 2
    local start now
    start=$(date +%s%N)
    while true; do
        if "$@"; then
            now=$(date +%s%N)
            LAST_MS=$(((now - start) / 1000000))
            return 0
        fi
        now=$(date +%s%N)
        if [ $(((now - start) / 1000000)) -ge $((limit * 1000)) ]; then
            fail "$what: not within ${limit} s"
        fi
        sleep 0.01
    done
}

# start_hosts MTU: both hosts with networking, addresses, interfaces up.
start_hosts() {
    local mtu=$1 start now
    rm -f "$CABLE"
    ip netns exec "$NS_B" "$BIN" host --name bob --net --mtu "$mtu" \
        --control "$DIR/bob.sock" --port "connect:$CABLE" 2>"$DIR/bob.log" &
    PID_B=$!
    sleep 0.1
    start=$(date +%s%N)
    ip netns exec "$NS_A" "$BIN" host --name alice --net --mtu "$mtu" \
        --control "$DIR/alice.sock" --port "listen:$CABLE" 2>"$DIR/alice.log" &
    PID_A=$!
    # The interface appears at login (both logins done, carrier on right
    # after); it only shows carrier once administratively up.
    until_ok 15 "interfaces at MTU $mtu" exists_both
    now=$(date +%s%N)
    pass "MTU $mtu: both logged in, interfaces created $(((now - start) / 1000000)) ms after plug"
    ip -n "$NS_A" link set "$IF" up
    ip -n "$NS_B" link set "$IF" up
    until_ok 2 "both carriers on at MTU $mtu" both on
    ip -n "$NS_A" addr add 10.77.0.1/24 dev "$IF"
    ip -n "$NS_B" addr add 10.77.0.2/24 dev "$IF"
    ip -n "$NS_A" addr add fe80::a/64 dev "$IF" nodad
    ip -n "$NS_B" addr add fe80::b/64 dev "$IF" nodad
    ip -n "$NS_A" link set "$IF" up
    ip -n "$NS_B" link set "$IF" up
    [ "$(ip -n "$NS_A" -j link show dev "$IF" | grep -o '"mtu":[0-9]*')" = "\"mtu\":$mtu" ] ||
        fail "interface MTU is not $mtu: $(ip -n "$NS_A" link show dev "$IF")"
}

# ping_ok NS ARGS...: ping with 0% loss.
ping_ok() {
    local ns=$1 out
    shift
    out=$(ip netns exec "$ns" ping "$@" 2>&1) || fail "ping $*: $out"
    grep -q ' 0% packet loss' <<<"$out" || fail "ping $*: loss: $out"
    RTT=$(grep -o 'rtt [^ ]* = [0-9./]*' <<<"$out" | awk '{print $4}')
}

# iperf_run JSON ARGS...: one iperf3 client run alice → 10.77.0.2 against a
# fresh one-shot server in bob's namespace; fails unless it produced a result.
iperf_run() {
    local json=$1
    shift
    in_b timeout $((SECS + 30)) iperf3 -s -1 -B 10.77.0.2 >"$DIR/iperf-server.log" 2>&1 &
    local srv=$!
    until_ok 5 "iperf3 server listening" listening
    in_a timeout $((SECS + 30)) iperf3 -c 10.77.0.2 -t "$SECS" --json "$@" >"$json" 2>&1 || true
    kill "$srv" 2>/dev/null || true
    wait "$srv" 2>/dev/null || true
    grep -q '"sum_received"\|"lost_percent"' "$json" && ! grep -q '"error"' "$json" ||
        fail "iperf3 $*: $(head -c 800 "$json")"
}

listening() { in_b ss -ltn 2>/dev/null | grep -q '10.77.0.2:5201'; }

# json_num JSON SECTION KEY: the first KEY number after "SECTION" in JSON.
json_num() {
    grep -A20 "\"$2\"" "$1" | grep -o "\"$3\":[[:space:]]*[0-9.e+-]*" | head -1 | grep -o '[0-9.e+-]*$'
}

# iperf_tcp LABEL [-R]: TCP for SECS s alice → bob (or back with -R).
iperf_tcp() {
    local label=$1 json bps
    shift
    json=$DIR/iperf-$label.json
    iperf_run "$json" "$@"
    bps=$(json_num "$json" sum_received bits_per_second)
    [ -n "$bps" ] || fail "iperf3 TCP $label: no result"
    awk -v b="$bps" 'BEGIN { exit !(b > 1e7) }' || fail "iperf3 TCP $label: only $bps bit/s"
    pass "iperf3 TCP $label: $(awk -v b="$bps" 'BEGIN { printf "%.2f", b / 1e9 }') Gbit/s"
}

ip netns add "$NS_A"
ip netns add "$NS_B"
ip -n "$NS_A" link set lo up
ip -n "$NS_B" link set lo up

# ---- MTU 1500
start_hosts 1500
ping_ok "$NS_A" -c 100 -i 0.01 -W 1 10.77.0.2
pass "ping -c 100 -i 0.01: 0% loss, rtt min/avg/max/mdev $RTT ms"
ping_ok "$NS_A" -6 -c 10 -i 0.01 -W 1 "fe80::b%$IF"
pass "IPv6 link-local ping: 0% loss"
iperf_tcp "1500-a2b"
iperf_tcp "1500-b2a" -R

# UDP at 1 Gbit/s: loss below 0.1 %.
iperf_run "$DIR/iperf-udp.json" -u -b 1G -l 1400 -w 4M
LOST=$(grep -A20 '"end"' "$DIR/iperf-udp.json" | grep -A14 '"sum"' | grep -o '"lost_percent":[[:space:]]*[0-9.e+-]*' | head -1 | grep -o '[0-9.e+-]*$')
UBPS=$(grep -A20 '"end"' "$DIR/iperf-udp.json" | grep -A14 '"sum"' | grep -o '"bits_per_second":[[:space:]]*[0-9.e+]*' | head -1 | grep -o '[0-9.e+]*$')
[ -n "$LOST" ] || fail "iperf3 UDP: no result"
awk -v l="$LOST" 'BEGIN { exit !(l < 0.1) }' || fail "iperf3 UDP 1 Gbit/s: $LOST% lost"
pass "iperf3 UDP 1 Gbit/s: $LOST% lost (receiver $(awk -v b="$UBPS" 'BEGIN { printf "%.2f", b / 1e9 }') Gbit/s)"

# Unplug: both carriers go down; replug: back, ping works.
in_a "$BIN" port --control "$DIR/alice.sock" 1 unplug >/dev/null
until_ok 2 "both carriers off after unplug" both off
pass "unplug: both carriers off within ${LAST_MS} ms"
in_a "$BIN" port --control "$DIR/alice.sock" 1 plug >/dev/null
until_ok 10 "both carriers on after replug" both on
pass "replug: both carriers on within ${LAST_MS} ms"
ping_ok "$NS_B" -c 5 -i 0.01 -W 1 10.77.0.1
pass "ping after replug"

# 20 cycles.
worst=0
for i in $(seq 1 20); do
    in_a "$BIN" port --control "$DIR/alice.sock" 1 unplug >/dev/null
    until_ok 2 "cycle $i: carriers off" both off
    in_a "$BIN" port --control "$DIR/alice.sock" 1 plug >/dev/null
    until_ok 10 "cycle $i: carriers on" both on
    [ "$LAST_MS" -gt "$worst" ] && worst=$LAST_MS
done
ping_ok "$NS_A" -c 5 -i 0.01 -W 1 10.77.0.2
pass "20 unplug/replug cycles all came back (slowest ${worst} ms), ping ok"

"$BIN" ls --control "$DIR/alice.sock" | tail -n 2
stop_hosts

# ---- MTU 65521 (the TAP maximum)
start_hosts 65521
ping_ok "$NS_A" -c 10 -i 0.01 -W 1 -s 30000 10.77.0.2
pass "MTU 65521: 30000-byte ping"
iperf_tcp "65521-a2b"
iperf_tcp "65521-b2a" -R
stop_hosts

# ---- tblink demo, default flags, short run.
out=$("$BIN" demo --duration 2 2>&1) || fail "tblink demo exited $?: $out"
grep -q "tblink demo report" <<<"$out" || fail "no demo report: $out"
sed -n '/tblink demo report/,$p' <<<"$out"
leftover=$(ip netns list | grep -c '^tbdemo-' || true)
[ "$leftover" = 0 ] || fail "tblink demo left namespaces behind: $(ip netns list)"
pass "tblink demo exited 0 and cleaned up"

OK=1
echo "netns network: $PASSED passed, 0 failed"
