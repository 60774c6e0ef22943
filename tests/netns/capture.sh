#!/usr/bin/env bash
# `tblink capture` and the Wireshark dissector, end to end:
#   * the dissector decodes the spec's worked examples (tools/wireshark/
#     testdata/spec-vectors.pcapng) to the values the spec gives;
#   * two `tblink host --net` processes in two network namespaces over a
#     shared-memory cable; a capture on alice starts before the link comes
#     up, ping crosses the link, Ctrl-C (SIGINT) stops the capture;
#   * tshark with tools/wireshark/tblink.lua decodes the XDomain exchange
#     (UUIDs in canonical form, matching `tblink ls`), the ThunderboltIP
#     LOGIN/LOGIN_RESPONSE, every CRC as correct, and the ICMP echo
#     requests and replies as IP in the Ethernet frames;
#   * --snaplen cuts packets and keeps their original length;
#   * --count and --seconds stop by themselves; a host that is not running
#     and an unknown port are refused with exit status 2 and 1, a missing
#     --host/--control and `-w -` onto a terminal too;
#   * a host that stops during a capture ends it with a complete stream
#     (exit status 0).
#
# Usage: tests/netns/capture.sh [path/to/tblink]   (default target/debug/tblink)
# Needs root, /dev/net/tun, ip, ping and tshark; prints "skipped: …" and
# exits 0 only when not root.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=tests/netns/lib.sh
. tests/netns/lib.sh
find_bin "${1:-}"
LUA=$(readlink -f tools/wireshark/tblink.lua)
VECTORS=tools/wireshark/testdata/spec-vectors.pcapng
skip_unless_root "netns capture test"
require ip ping tshark
require_tun
require_bin
netns_start tbc tblink-capture
PCAP=$DIR/alice.pcapng

# tshark's one-line summary of FILE with the dissector (stderr dropped: it
# warns about running as root).
summary() { tshark -r "$1" -X "lua_script:$LUA" 2>/dev/null; }
verbose() { tshark -r "$1" -X "lua_script:$LUA" -V 2>/dev/null; }

# expect TEXTFILE WHAT PATTERN: the file has a line matching PATTERN.
expect() {
    grep -Eq -- "$3" "$1" || fail "$2: no line matching /$3/ in $1"
}

# ---- the dissector on the spec's worked examples
summary "$VECTORS" >"$DIR/vectors.txt"
verbose "$VECTORS" >"$DIR/vectors-v.txt"
V=$DIR/vectors-v.txt
expect "$DIR/vectors.txt" "01 §9.1" '-> READ route 0x1 SWITCH offset 0 length 1$'
expect "$DIR/vectors.txt" "01 §9.2" '<- READ route 0x1 CM SWITCH offset 0 length 1 port 1 data 0x15d38086$'
expect "$DIR/vectors.txt" "01 §9.3" '<- EVENT route 0x0 CM adapter 3 plugged$'
expect "$DIR/vectors.txt" "01 §9.3 ack" '-> ERROR route 0x0 ACK_PLUG_EVENT port 3$'
expect "$DIR/vectors.txt" "02 §11.1" 'XDOMAIN_REQ route 0x1 sn 2: XDomain UUID_REQUEST$'
expect "$DIR/vectors.txt" "02 §11.2" 'XDomain UUID_RESPONSE uuid 3d2b1a8c-5f4e-0000-ffff-ffffffffffff route 0x3$'
expect "$DIR/vectors.txt" "02 §11.6" 'XDomain PROPERTIES_RESPONSE offset 45/57, 12 dwords, generation 0x5a3c9e17$'
expect "$DIR/vectors.txt" "02 §11.7 request" '<- XDOMAIN_REQ route 0x3 sn 1: XDomain PROPERTIES_CHANGED_REQUEST uuid 3d2b1a8c-5f4e-0000-ffff-ffffffffffff$'
expect "$DIR/vectors.txt" "02 §11.7 reply" '-> XDOMAIN_RESP route 0x1 sn 1: XDomain PROPERTIES_CHANGED_RESPONSE$'
expect "$DIR/vectors.txt" "02 §11.8" 'XDomain ERROR_RESPONSE NOT_SUPPORTED$'
expect "$DIR/vectors.txt" "02 §11.8 type 15" '-> XDOMAIN_REQ route 0x1 sn 2: XDomain LINK_STATE_STATUS_REQUEST$'
expect "$DIR/vectors.txt" "02 §11.8 type 16" '<- XDOMAIN_RESP route 0x3 sn 2: XDomain LINK_STATE_STATUS_RESPONSE status 0 slw 0x1 tlw 0x1 sls 0x0 tls 0xc$'
expect "$DIR/vectors.txt" "02 §11.8 type 17" '-> XDOMAIN_REQ route 0x1 sn 2: XDomain LINK_STATE_CHANGE_REQUEST tlw 0x3 tls 0xc$'
expect "$DIR/vectors.txt" "02 §4.9 type 18" '<- XDOMAIN_RESP route 0x3 sn 2: XDomain LINK_STATE_CHANGE_RESPONSE status 0$'
expect "$DIR/vectors.txt" "01 §6.2 code 32" '<- ERROR route 0x0 CM DP_BW port 1$'
expect "$DIR/vectors.txt" "01 §6.6 ICM_EVENT" '<- ICM_EVENT code 0x06 flags 0x00 packet 0/1$'
expect "$DIR/vectors.txt" "01 §6.6 ICM_RESP" '<- ICM_RESP code 0x10 flags 0x01 packet 0/1$'
expect "$DIR/vectors.txt" "unknown version" 'tblink pseudo-header version 2 \(unknown\)$'
expect "$DIR/vectors.txt" "unknown direction" 'port 1 \? EVENT route 0x0 CM adapter 3 plugged$'
expect "$DIR/vectors.txt" "06 §16.1" 'ThunderboltIP LOGIN command_id 1 transmit_path 8$'
expect "$DIR/vectors.txt" "06 §16.2" 'ThunderboltIP LOGIN_RESPONSE command_id 1 status 0$'
expect "$DIR/vectors.txt" "06 §16.3" 'ThunderboltIP LOGOUT command_id 5$'
expect "$DIR/vectors.txt" "06 §16.3" 'ThunderboltIP STATUS command_id 2 status 0$'
expect "$DIR/vectors.txt" "Ethernet frame" 'ICMP .*Echo \(ping\) request'
expect "$V" "02 §11.5 src_uuid" 'Source UUID: 44332211-8877-6655-ccbb-aa9900ffeedd'
expect "$V" "02 §11.5 dst_uuid" 'Destination UUID: 3d2b1a8c-5f4e-0000-ffff-ffffffffffff'
expect "$V" "06 §16.1 initiator" 'Initiator UUID: 4a7e2c1d-93b5-4f60-8d21-c0ffee123456'
expect "$V" "06 §16.1 target" 'Target UUID: 0b5e8f3a-7c2d-4e19-a6b4-5d3c2b1a0f9e'
expect "$V" "06 §16.2 MAC" 'Receiver MAC: 12:08:73:8e:7d:d9'
expect "$V" "protocol UUID" 'Protocol UUID: 798f589e-3616-8a47-97c6-5664a920c8dd'
expect "$V" "01 §9.2 CM bit" 'CM bit \(route bit 63\): True'
expect "$V" "01 §9.2 data" 'Data dword: 0x15d38086'
expect "$V" "01 §6.2 8-bit code" 'Error code: DP_BW \(32\)'
expect "$V" "01 §6.6 no CRC" 'Last dword \(no CRC checked for this PDF\): 0xdeadbeef'
expect "$V" "version expert" 'Expert Info \(Warning/Undecoded\): Unknown pseudo-header version'
expect "$V" "direction expert" 'Expert Info \(Warning/Malformed\): Unknown direction'
good=$(grep -c 'CRC-32C: 0x[0-9a-f]* \[correct\]' "$V" || true)
bad=$(grep -c 'CRC-32C: 0x[0-9a-f]* \[incorrect' "$V" || true)
# 20 spec and spec-layout packets with a CRC, the unknown-direction EVENT;
# the two ICM packets have none checked.
[ "$good" = 21 ] && [ "$bad" = 1 ] || fail "spec vectors: $good correct and $bad incorrect CRCs (want 21 and 1)"
pass "dissector decodes the spec's worked examples (UUIDs, MAC, link state, CM bit, 8-bit ERROR codes, ICM packets, odd pseudo-headers; CRCs: 21 correct, the damaged one flagged)"

# ---- refusals
rc=0
"$BIN" capture -w "$DIR/x.pcapng" >"$DIR/usage.txt" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "capture without --host/--control: exit $rc, want 2"
expect "$DIR/usage.txt" "usage names both" '--host <HOST>\|--control <PATH>'
pass "no --host or --control: usage error naming both"
# `-w -` with standard output on a terminal (util-linux `script` gives
# the command a pseudo-terminal): refused before the host is asked.
if command -v script >/dev/null 2>&1; then
    rc=0
    script -qec "$BIN capture --control $DIR/nobody.sock -w -" /dev/null >"$DIR/tty.txt" 2>&1 || rc=$?
    [ "$rc" = 1 ] || fail "-w - onto a terminal: exit $rc, want 1: $(cat "$DIR/tty.txt")"
    expect "$DIR/tty.txt" "-w - onto a terminal" 'would write binary pcapng onto the terminal'
    pass "-w - onto a terminal: refused"
fi
rc=0
"$BIN" capture --control "$DIR/nobody.sock" -w "$DIR/x.pcapng" >"$DIR/refuse.txt" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "capture of a host that is not running: exit $rc, want 2: $(cat "$DIR/refuse.txt")"
expect "$DIR/refuse.txt" "not running" 'is not running'
pass "host not running: exit 2"

start_alice alice --net --control "$DIR/alice.sock"
until_ok 5 "alice's control socket" test -S "$DIR/alice.sock"

rc=0
"$BIN" capture --control "$DIR/alice.sock" --port 9 -w "$DIR/x.pcapng" >"$DIR/refuse.txt" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "capture of port 9: exit $rc, want 1: $(cat "$DIR/refuse.txt")"
expect "$DIR/refuse.txt" "unknown port" 'no port 9 \(adapters: 1\)'
pass "unknown port: exit 1 ($(head -n 1 "$DIR/refuse.txt"))"

# ---- capture on alice from before the link comes up
start_capture "$DIR/capture.log" --port 1 -w "$PCAP"
expect "$DIR/capture.log" "capture of port 1" 'capturing port 1'

start_bob bob --net --control "$DIR/bob.sock"
until_ok 15 "both interfaces" exists_both
link_up
ping_ok "$NS_A" -c 5 -i 0.05 -W 1 10.77.0.2
pass "link up, ping -c 5 across with 0% loss while capturing"

# Ctrl-C: the file is completed with everything captured so far.
kill -INT "$PID_C"
rc=0
wait "$PID_C" || rc=$?
PID_C=
[ "$rc" = 0 ] || fail "capture after SIGINT: exit $rc: $(cat "$DIR/capture.log")"
expect "$DIR/capture.log" "capture summary" ' 0 dropped by the host'
pass "SIGINT stops the capture cleanly: $(grep 'packets (' "$DIR/capture.log" | sed 's/^tblink capture: //')"

# The host's own UUID: the top-level "uuid" of `tblink ls --json`.
host_uuid() {
    "$BIN" ls --control "$DIR/$1.sock" --json >"$DIR/$1-ls.json" || fail "tblink ls $1"
    sed -n 's/^  "uuid": "\([0-9a-f-]*\)",$/\1/p' "$DIR/$1-ls.json"
}
BOB_UUID=$(host_uuid bob)
ALICE_UUID=$(host_uuid alice)
[ -n "$BOB_UUID" ] && [ -n "$ALICE_UUID" ] || fail "no UUIDs from tblink ls"

S=$DIR/summary.txt
summary "$PCAP" >"$S"
verbose "$PCAP" >"$DIR/verbose.txt"
expect "$S" "UUID request sent" '-> XDOMAIN_REQ route 0x1 sn [0-3]: XDomain UUID_REQUEST$'
expect "$S" "UUID request received" '<- XDOMAIN_REQ route 0x1 sn [0-3]: XDomain UUID_REQUEST$'
expect "$S" "bob's UUID response" "<- XDOMAIN_RESP .*XDomain UUID_RESPONSE uuid $BOB_UUID route 0x1\$"
expect "$S" "alice's UUID response" "-> XDOMAIN_RESP .*XDomain UUID_RESPONSE uuid $ALICE_UUID route 0x1\$"
expect "$S" "properties request" 'XDomain PROPERTIES_REQUEST offset 0$'
expect "$S" "properties response" 'XDomain PROPERTIES_RESPONSE offset 0/[0-9]+, [0-9]+ dwords, generation 0x[0-9a-f]{8}$'
expect "$S" "properties changed" 'XDomain PROPERTIES_CHANGED_REQUEST uuid'
expect "$S" "LOGIN sent" '-> XDOMAIN_RESP .*ThunderboltIP LOGIN command_id [0-9]+ transmit_path [0-9]+$'
expect "$S" "LOGIN received" '<- XDOMAIN_RESP .*ThunderboltIP LOGIN command_id [0-9]+ transmit_path [0-9]+$'
expect "$S" "LOGIN_RESPONSE" 'ThunderboltIP LOGIN_RESPONSE command_id [0-9]+ status 0$'
expect "$DIR/verbose.txt" "login initiator" "Initiator UUID: $ALICE_UUID"
expect "$DIR/verbose.txt" "login target" "Target UUID: $BOB_UUID"
if grep -q 'bad CRC' "$S"; then fail "a captured control packet has a bad CRC: $(grep 'bad CRC' "$S" | head -n 3)"; fi
requests=$(grep -cE '10\.77\.0\.1 → 10\.77\.0\.2 +ICMP .*Echo \(ping\) request' "$S" || true)
replies=$(grep -cE '10\.77\.0\.2 → 10\.77\.0\.1 +ICMP .*Echo \(ping\) reply' "$S" || true)
[ "$requests" = 5 ] && [ "$replies" = 5 ] ||
    fail "want 5 ICMP echo requests and 5 replies decoded as IP, got $requests and $replies"
ctl=$(grep -c 'TBLINK' "$S" || true)
pass "tshark + tblink.lua: UUID exchange ($ALICE_UUID ↔ $BOB_UUID), properties, LOGIN decoded; $ctl control packets, all CRCs correct; 5 echo requests and 5 replies as ICMP/IP"

# ---- --count and --seconds stop by themselves
start_capture "$DIR/count.log" -w "$DIR/count.pcapng" --count 4
ip netns exec "$NS_A" ping -c 5 -i 0.05 -W 1 10.77.0.2 >/dev/null 2>&1 || fail "ping during --count"
until_ok 5 "--count 4 capture exits" sh -c "! kill -0 $PID_C 2>/dev/null"
wait "$PID_C" || fail "--count capture failed: $(cat "$DIR/count.log")"
PID_C=
n=$(summary "$DIR/count.pcapng" | wc -l)
[ "$n" = 4 ] || fail "--count 4 wrote $n packets"
pass "--count 4: exactly 4 packets"

# ---- --snaplen keeps the first N bytes and the original length
start_capture "$DIR/snap.log" -w "$DIR/snap.pcapng" --snaplen 64
ip netns exec "$NS_A" ping -c 3 -i 0.05 -W 1 -s 1000 10.77.0.2 >/dev/null 2>&1 || fail "ping -s 1000"
kill -INT "$PID_C"
wait "$PID_C" || fail "--snaplen capture failed: $(cat "$DIR/snap.log")"
PID_C=
# ICMP echo of 1000 bytes: 14 + 20 + 8 + 1000 = 1042 bytes on the wire.
tshark -r "$DIR/snap.pcapng" -X "lua_script:$LUA" -T fields -e frame.cap_len -e frame.len \
    -Y icmp 2>/dev/null >"$DIR/snap.txt"
[ "$(sort -u "$DIR/snap.txt")" = "$(printf '64\t1042')" ] && [ "$(wc -l <"$DIR/snap.txt")" = 6 ] ||
    fail "--snaplen 64: want 6 ICMP frames of 64 of 1042 bytes, got: $(sort "$DIR/snap.txt" | uniq -c)"
big=$(tshark -r "$DIR/snap.pcapng" -T fields -e frame.cap_len 2>/dev/null | awk '$1 > 64' | wc -l)
[ "$big" = 0 ] || fail "--snaplen 64: $big records longer than 64 bytes"
pass "--snaplen 64: 6 ICMP frames cut to 64 of 1042 bytes, no record longer than 64"

start=$(date +%s%N)
"$BIN" capture --control "$DIR/alice.sock" -w "$DIR/secs.pcapng" --seconds 0.5 2>"$DIR/secs.log" ||
    fail "--seconds capture failed: $(cat "$DIR/secs.log")"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -lt 5000 ] || fail "--seconds 0.5 took $ms ms"
tshark -r "$DIR/secs.pcapng" >/dev/null 2>&1 || fail "--seconds file does not open"
pass "--seconds 0.5 stopped by itself after $ms ms, file opens"

# ---- a host that stops ends its captures with a complete stream: exit 0
start_capture "$DIR/stop.log" -w "$DIR/stop.pcapng"
kill -TERM "$PID_A"
wait "$PID_A" || true
PID_A=
rc=0
wait "$PID_C" || rc=$?
PID_C=
[ "$rc" = 0 ] || fail "capture of a host that stopped: exit $rc, want 0: $(cat "$DIR/stop.log")"
expect "$DIR/stop.log" "host stop" 'ended the capture \(host stopping\)'
expect "$DIR/stop.log" "host stop summary" ' 0 dropped by the host'
tshark -r "$DIR/stop.pcapng" >/dev/null 2>&1 || fail "file of the stopped host's capture does not open"
pass "host stopped during a capture: exit 0, end record received ($(grep 'packets (' "$DIR/stop.log" | sed 's/^tblink capture: //'))"

finish "netns capture"
