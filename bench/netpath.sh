#!/usr/bin/env bash
# The network path between two namespaces, three ways, in one run:
#   tblink  two `tblink host --net` processes over a shared-memory cable;
#   tblinkraw  the same with --no-offload (no vnet headers, MTU-sized frames);
#   relay   a raw TAP<->TAP relay (crates/tblink-net/examples/tap_relay.rs:
#           two threads, one read + one write per frame, nothing else);
#   veth    a veth pair (the kernel alone).
# At MTU 1500 and 65521 (the TAP maximum; veth uses the same MTUs) each path
# gets iperf3 TCP both ways and a ping RTT series; tblink also gets its
# replug -> both carriers on time. Prints a table with ratios against the
# relay measured in the same run.
#
# Usage: bench/netpath.sh [TBLINK_BIN [RELAY_BIN]]
#   defaults: target/release/tblink, target/release/examples/tap_relay
#   (cargo build --release -p tblink && cargo build --release -p tblink-net --example tap_relay)
# Environment: SECS (iperf3 seconds, default 5; 0 = ping only), PINGS
#   (default 200), PING_INTERVAL (seconds between pings, default 0.005),
#   ROUNDS (repeat everything, report medians; default 1),
#   MTUS (default "1500 65521"), PATHS (default "relay tblink veth"),
#   TBLINK_ARGS (extra `tblink host` options for both hosts).
# Needs root, /dev/net/tun, ip, ping, iperf3, jq.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=$(readlink -f "${1:-target/release/tblink}")
RELAY=$(readlink -f "${2:-target/release/examples/tap_relay}")
SECS=${SECS:-5}
PINGS=${PINGS:-200}
PING_INTERVAL=${PING_INTERVAL:-0.005}
MTUS=${MTUS:-"1500 65521"}
PATHS=${PATHS:-"relay tblink veth"}
ROUNDS=${ROUNDS:-1}
TBLINK_ARGS=${TBLINK_ARGS:-}
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 1; }
for c in ip ping iperf3 jq; do
    command -v "$c" >/dev/null || { echo "$c not installed"; exit 1; }
done
[ -x "$BIN" ] || { echo "no tblink binary at $BIN"; exit 1; }
[ -x "$RELAY" ] || { echo "no relay binary at $RELAY"; exit 1; }

NS_A=tbbench-a-$$
NS_B=tbbench-b-$$
DIR=$(mktemp -d /tmp/tblink-bench.XXXXXX)
PIDS=()
RESULTS=$DIR/results

stop_all() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PIDS=()
    ip netns del "$NS_A" 2>/dev/null || true
    ip netns del "$NS_B" 2>/dev/null || true
}
cleanup() {
    stop_all
    rm -rf "$DIR"
}
trap cleanup EXIT

in_a() { ip netns exec "$NS_A" "$@"; }
in_b() { ip netns exec "$NS_B" "$@"; }

# wait_for SECONDS CMD...: poll CMD every 5 ms.
wait_for() {
    local limit=$(($1 * 200)) i=0
    shift
    until "$@"; do
        i=$((i + 1))
        [ "$i" -lt "$limit" ] || { echo "timed out: $*" >&2; return 1; }
        sleep 0.005
    done
}

carrier_on() { ip -n "$1" -j link show dev "$2" 2>/dev/null | grep -q '"LOWER_UP"'; }
exists() { ip -n "$1" link show dev "$2" >/dev/null 2>&1; }

# address IF_A IF_B: addresses, interfaces up.
address() {
    ip -n "$NS_A" addr add 10.88.0.1/24 dev "$1"
    ip -n "$NS_B" addr add 10.88.0.2/24 dev "$2"
    ip -n "$NS_A" link set "$1" up
    ip -n "$NS_B" link set "$2" up
    wait_for 5 carrier_on "$NS_A" "$1"
    wait_for 5 carrier_on "$NS_B" "$2"
    # Neighbours resolved before timing anything.
    in_a ping -c 3 -i 0.01 -W 1 10.88.0.2 >/dev/null
}

setup_veth() {
    ip link add bva netns "$NS_A" mtu "$1" type veth peer name bvb netns "$NS_B" mtu "$1"
    address bva bvb
}

setup_relay() {
    ip netns exec "$NS_A" "$RELAY" brla brlb "$1" >"$DIR/relay.log" 2>&1 &
    PIDS+=($!)
    wait_for 5 exists "$NS_A" brlb
    ip -n "$NS_A" link set brlb netns "$NS_B"
    address brla brlb
}

# tblink without vnet headers and offloads (--no-offload), for comparison.
setup_tblinkraw() {
    TBLINK_ARGS="$TBLINK_ARGS --no-offload" setup_tblink "$1"
}

setup_tblink() {
    local cable=$DIR/cable.sock
    # shellcheck disable=SC2086
    ip netns exec "$NS_B" "$BIN" host --name bob --net --mtu "$1" $TBLINK_ARGS --control "$DIR/bob.sock" \
        --port "connect:$cable" >"$DIR/bob.log" 2>&1 &
    PIDS+=($!)
    # shellcheck disable=SC2086
    ip netns exec "$NS_A" "$BIN" host --name alice --net --mtu "$1" $TBLINK_ARGS --control "$DIR/alice.sock" \
        --port "listen:$cable" >"$DIR/alice.log" 2>&1 &
    PIDS+=($!)
    wait_for 15 exists "$NS_A" thunderbolt0
    wait_for 15 exists "$NS_B" thunderbolt0
    address thunderbolt0 thunderbolt0
}

# linkup_ms: unplug, replug, time until both carriers are on (median of 5).
linkup_ms() {
    local i t0 t1 all=()
    for i in 1 2 3 4 5; do
        in_a "$BIN" port --control "$DIR/alice.sock" 1 unplug >/dev/null
        wait_for 5 bash -c "! ip -n $NS_A -j link show dev thunderbolt0 | grep -q LOWER_UP"
        wait_for 5 bash -c "! ip -n $NS_B -j link show dev thunderbolt0 | grep -q LOWER_UP"
        t0=$(date +%s%N)
        in_a "$BIN" port --control "$DIR/alice.sock" 1 plug >/dev/null
        until carrier_on "$NS_A" thunderbolt0 && carrier_on "$NS_B" thunderbolt0; do :; done
        t1=$(date +%s%N)
        all+=($(((t1 - t0) / 1000)))
    done
    printf '%s\n' "${all[@]}" | sort -n | sed -n 3p | awk '{ printf "%.1f", $1 / 1000 }'
}

# iperf ARGS...: Gbit/s received, TCP, SECS seconds, A -> B (or -R).
iperf() {
    ip netns exec "$NS_B" iperf3 -s -1 -B 10.88.0.2 >/dev/null 2>&1 &
    local srv=$!
    wait_for 5 bash -c "ip netns exec $NS_B ss -ltn | grep -q 10.88.0.2:5201"
    in_a timeout $((SECS + 30)) iperf3 -c 10.88.0.2 -t "$SECS" --json "$@" >"$DIR/iperf.json" || true
    wait "$srv" 2>/dev/null || true
    jq -r '.end.sum_received.bits_per_second / 1e9 | . * 100 | round / 100' "$DIR/iperf.json"
}

# rtt: ping average RTT in ms.
rtt() {
    in_a ping -c "$PINGS" -i "$PING_INTERVAL" -q 10.88.0.2 | grep -o 'rtt [^ ]* = [0-9./]*' |
        awk -F'[ /]' '{ print $8 }'
}

for round in $(seq "$ROUNDS"); do
for mtu in $MTUS; do
    for path in $PATHS; do
        ip netns add "$NS_A"
        ip netns add "$NS_B"
        ip -n "$NS_A" link set lo up
        ip -n "$NS_B" link set lo up
        "setup_$path" "$mtu"
        ab=- ba=-
        if [ "$SECS" != 0 ]; then
            ab=$(iperf)
            ba=$(iperf -R)
        fi
        r=$(rtt)
        up=-
        case $path in tblink*) up=$(linkup_ms) ;; esac
        echo "round $round: $mtu $path $ab $ba $r $up" >&2
        echo "$mtu $path $ab $ba $r $up" >>"$RESULTS"
        stop_all
    done
done
done

echo
echo "$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), iperf3 ${SECS} s, ${PINGS} pings ${PING_INTERVAL} s apart, median of $ROUNDS round(s)"
# Median per MTU and path over the rounds (column by column), then ratios
# of the medians against the relay's.
sort -k1,1n -k2,2 "$RESULTS" | awk '
    function median(list,    a, n, i, j, t) {
        n = split(list, a, " ")
        if (n == 0 || a[1] == "-") return "-"
        for (i = 2; i <= n; i++)
            for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function ratio(x, y) { return (x != "-" && y != "-" && y > 0) ? sprintf("%.2f", x / y) : "-" }
    {
        k = $1 " " $2
        if (!(k in seen)) { seen[k] = 1; keys[++nk] = k }
        for (c = 3; c <= 6; c++) col[k, c] = col[k, c] " " $c
    }
    END {
        for (i = 1; i <= nk; i++) for (c = 3; c <= 6; c++) m[keys[i], c] = median(col[keys[i], c])
        printf "%-6s %-7s %9s %9s %8s %13s %10s %8s\n", "MTU", "path", "A->B", "B->A", "RTT ms", "x relay tput", "x relay RTT", "link-up"
        for (i = 1; i <= nk; i++) {
            k = keys[i]; split(k, f, " "); r = f[1] " relay"
            printf "%-6s %-7s %9s %9s %8s %6s/%-6s %10s %8s\n", f[1], f[2], m[k, 3], m[k, 4], m[k, 5],
                ratio(m[k, 3], m[r, 3]), ratio(m[k, 4], m[r, 4]), ratio(m[k, 5], m[r, 5]),
                (m[k, 6] == "-") ? "-" : m[k, 6] " ms"
        }
        print "(throughput in Gbit/s; median of the rounds, ratios of the medians)"
    }'
