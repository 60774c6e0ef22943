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

# shellcheck source=tests/netns/lib.sh
. tests/netns/lib.sh
find_bin "${1:-}"
SECS=${NET_TEST_SECONDS:-5}
skip_unless_root "netns network test"
require ip ping iperf3
require_tun
require_bin
netns_start tbn tblink-net

# on_failure: the hosts' last status lines and both interfaces' counters.
on_failure() {
    for h in alice bob; do
        [ -S "$DIR/$h.sock" ] && "$BIN" ls --control "$DIR/$h.sock" 2>&1 | tail -n 3
    done
    ip -n "$NS_A" -s link show dev "$IF" 2>/dev/null || true
    ip -n "$NS_B" -s link show dev "$IF" 2>/dev/null || true
}

# start_hosts MTU: both hosts with networking, addresses, interfaces up.
start_hosts() {
    local mtu=$1 start now
    rm -f "$CABLE"
    start_bob bob --net --mtu "$mtu" --control "$DIR/bob.sock"
    sleep 0.1
    start=$(date +%s%N)
    start_alice alice --net --mtu "$mtu" --control "$DIR/alice.sock"
    # The interface appears at login (both logins done, carrier on right
    # after); it only shows carrier once administratively up.
    until_ok 15 "interfaces at MTU $mtu" exists_both
    now=$(date +%s%N)
    pass "MTU $mtu: both logged in, interfaces created $(((now - start) / 1000000)) ms after plug"
    link_up 2
    ip -n "$NS_A" addr add fe80::a/64 dev "$IF" nodad
    ip -n "$NS_B" addr add fe80::b/64 dev "$IF" nodad
    [ "$(ip -n "$NS_A" -j link show dev "$IF" | grep -o '"mtu":[0-9]*')" = "\"mtu\":$mtu" ] ||
        fail "interface MTU is not $mtu: $(ip -n "$NS_A" link show dev "$IF")"
}

# iperf_run JSON ARGS...: one iperf3 client run alice → 10.77.0.2 against a
# fresh one-shot server in bob's namespace; fails unless it produced a result.
iperf_run() {
    local json=$1
    shift
    iperf_server $((SECS + 30)) "$DIR/iperf-server.log"
    in_a timeout $((SECS + 30)) iperf3 -c 10.77.0.2 -t "$SECS" --json "$@" >"$json" 2>&1 || true
    stop_pid "$SRV"
    grep -q '"sum_received"\|"lost_percent"' "$json" && ! grep -q '"error"' "$json" ||
        fail "iperf3 $*: $(head -c 800 "$json")"
}

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

finish "netns network"
