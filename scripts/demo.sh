#!/usr/bin/env bash
# make demo: the main job on the built-in lab.
#
# Starts the controller and a 3-host Open vSwitch lab (h1 client, h2 victim,
# h3 attacker), shows every pair of hosts reaching each other and an iperf3
# run through the bridge, then an nmap scan from h3 at h2 while h1 keeps
# talking to h2: the scan is detected, h3 is cut off, h1 is unaffected, and the
# agent on h2 prints the signed notice; then the operator lifts the block and
# h3 SYN-floods h2 with hping3: blocked again from its port's SYN counter
# while h1 keeps its answers. Everything is removed at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

BIN=${BIN:-bin/portcullis}
LAB=demo
OFPORT=${DEMO_OF_PORT:-16633}
APIPORT=${DEMO_API_PORT:-16680}
API=http://127.0.0.1:$APIPORT
TOKEN=$(demo_token)
WORK=$(mktemp -d /tmp/portcullis-demo.XXXXXX)
CTL_PID=""
FAILED=0

cleanup() {
	bold "Cleaning up"
	[ -n "$CTL_PID" ] && kill "$CTL_PID" 2>/dev/null && wait "$CTL_PID" 2>/dev/null
	"$BIN" lab down --name "$LAB" >/dev/null 2>&1 && ok "lab removed" || true
	rm -rf "$WORK"
}
trap cleanup EXIT

need_root demo "network namespaces and Open vSwitch"

bold "Checking what the demo needs"
./scripts/deps.sh openvswitch-switch iproute2 ethtool iputils-ping iperf3 nmap hping3 tcpdump curl python3 || exit 1
ok "Open vSwitch $(ovs-vswitchd --version | head -1 | awk '{print $NF}'), nmap, hping3, iperf3 present"
[ -x "$BIN" ] || go build -o "$BIN" ./cmd/portcullis || exit 1

# Leftovers from an interrupted run.
"$BIN" lab down --name "$LAB" >/dev/null 2>&1

bold "Starting Portcullis"
for p in "$OFPORT" "$APIPORT"; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		bad "127.0.0.1:$p is already in use by another program: stop it, or set DEMO_OF_PORT / DEMO_API_PORT"
		exit 1
	fi
done
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/notice.key"
chmod 600 "$WORK/notice.key"
PORTCULLIS_API_TOKENS="$TOKEN" "$BIN" run --listen "127.0.0.1:$OFPORT" --api-listen "127.0.0.1:$APIPORT" \
	--state-dir "$WORK/state" --grace 2s \
	--notice-key-file "$WORK/notice.key" --events "$WORK/events.jsonl" \
	>"$WORK/controller.log" 2>&1 &
CTL_PID=$!
for _ in $(seq 50); do curl -sf "$API/healthz" >/dev/null && break; sleep 0.1; done
if ! kill -0 "$CTL_PID" 2>/dev/null || ! curl -sf "$API/healthz" >/dev/null; then
	bad "controller did not start"; cat "$WORK/controller.log"; exit 1
fi
ok "controller listening: OpenFlow on 127.0.0.1:$OFPORT, API and dashboard on $API"

bold "Building the lab: one Open vSwitch bridge, three hosts"
if ! "$BIN" lab up --name "$LAB" --hosts 3 --controller "tcp:127.0.0.1:$OFPORT" >"$WORK/lab.log" 2>&1; then
	bad "lab up failed"; cat "$WORK/lab.log"; exit 1
fi
for _ in $(seq 100); do
	[ "$(PORTCULLIS_API=$API "$BIN" switch list --json 2>/dev/null | grep -c dpid)" -ge 1 ] && break
	sleep 0.1
done
ok "bridge br0 (userspace datapath, fail_mode=secure) connected; hosts h1 10.0.0.1, h2 10.0.0.2, h3 10.0.0.3"
PORTCULLIS_API=$API "$BIN" switch list 2>/dev/null | sed 's/^/    /'

bold "Every host reaches every other (IPv4 and IPv6)"
for a in 1 2 3; do
	for b in 1 2 3; do
		[ "$a" = "$b" ] && continue
		for fam in "10.0.0.$b" "fd00::$b"; do
			if inhost "h$a" ping -c 1 -W 2 "$fam" >/dev/null 2>&1 || inhost "h$a" ping -c 2 -W 2 "$fam" >/dev/null 2>&1; then
				ok "h$a -> h$b ($fam)"
			else
				bad "h$a -> h$b ($fam) failed"
			fi
		done
	done
done

bold "iperf3 from h1 to h2 through the bridge"
before=$(curl -s "$API/api/v1/stats" | sed -n 's/.*"packet_ins":\([0-9]*\).*/\1/p')
inhost h2 iperf3 -s -D -1 >/dev/null 2>&1
sleep 0.5
if out=$(inhost h1 iperf3 -c 10.0.0.2 -t 3 2>&1); then
	rate=$(echo "$out" | awk '/receiver/ {print $(NF-2), $(NF-1)}')
	after=$(curl -s "$API/api/v1/stats" | sed -n 's/.*"packet_ins":\([0-9]*\).*/\1/p')
	ok "iperf3: $rate; packet-ins to the controller during the transfer: $((after - before))"
else
	bad "iperf3 failed: $out"
fi

bold "Scan defense: h3 scans h2 with nmap while h1 keeps talking to h2"
inhost h2 python3 -m http.server 80 >/dev/null 2>&1 &
inhost h2 "$BIN" agent --key-file "$WORK/notice.key" --log stderr --once >"$WORK/agent.log" 2>&1 &
sleep 1
# The client: one HTTP request to the victim every 0.2 s.
(
	okc=0 failc=0
	end=$((SECONDS + 12))
	while [ $SECONDS -lt $end ]; do
		if inhost h1 curl -s -m 1 -o /dev/null http://10.0.0.2/; then okc=$((okc + 1)); else failc=$((failc + 1)); fi
		sleep 0.2
	done
	echo "$okc $failc" >"$WORK/client.result"
) &
CLIENT=$!
sleep 1
# What the attacker learns: the victim's answers (SYN-ACK: open, RST: closed)
# that reach h3, counted by tcpdump on h3's side of the switch.
inhost h3 timeout 11 tcpdump -n -l -i eth0 'tcp and src host 10.0.0.2 and (tcp[tcpflags] & (tcp-rst|tcp-syn) != 0)' \
	>"$WORK/answers.txt" 2>/dev/null &
sleep 0.5
info "h3\$ nmap -sS -T4 --top-ports 1000 10.0.0.2"
timeout 8 ip netns exec "pc-$LAB-h3" nmap -sS -T4 --top-ports 1000 -n -Pn 10.0.0.2 >"$WORK/nmap.log" 2>&1
learned=$(awk '{print $3}' "$WORK/answers.txt" | sed 's/.*\.//' | sort -u | grep -c .)
wait "$CLIENT"

ev=$(PORTCULLIS_API=$API "$BIN" events --type scan_detected --json 2>/dev/null)
if echo "$ev" | grep -q scan_detected; then
	ok "scan detected: $(echo "$ev" | grep -o '"message":"[^"]*"' | head -1 | cut -d'"' -f4)"
else
	bad "no scan detected"
fi
if PORTCULLIS_API=$API "$BIN" block list 2>/dev/null | grep -q 02:00:00:00:00:03; then
	ok "h3 blocked at its switch port:"
	PORTCULLIS_API=$API "$BIN" block list 2>/dev/null | sed 's/^/    /'
else
	bad "h3 was not blocked"
fi
info "ports of h2 whose state nmap learned before the block: $learned of 1000 probed"
if inhost h3 ping -c 2 -W 1 10.0.0.1 >/dev/null 2>&1; then bad "h3 can still reach h1"; else ok "h3 is cut off: it cannot reach h1 or h2"; fi
read -r okc failc <"$WORK/client.result"
if [ "${failc:-1}" -eq 0 ]; then ok "h1 unaffected: $okc of $okc requests to h2 answered during the scan"; else bad "h1 lost $failc of $((okc + failc)) requests"; fi
if inhost h1 ping -c 1 -W 2 10.0.0.2 >/dev/null 2>&1; then ok "h1 still reaches h2"; else bad "h1 cannot reach h2"; fi
for _ in $(seq 20); do grep -q NOTICE "$WORK/agent.log" && break; sleep 0.2; done
if grep -q NOTICE "$WORK/agent.log"; then
	ok "the agent on h2 verified the signed notice:"
	grep NOTICE "$WORK/agent.log" | head -1 | sed 's/^/    /'
else
	bad "no notice reached the agent on h2"
fi

bold "SYN flood: the operator lifts h3's block, h3 floods h2:80 with hping3"
pc() { PORTCULLIS_API=$API PORTCULLIS_TOKEN=$TOKEN "$BIN" "$@"; }
id=$(pc block list --json 2>/dev/null | grep -o '"id": *"[^"]*"' | head -1 | cut -d'"' -f4)
if [ -n "$id" ] && pc block rm "$id" >/dev/null 2>&1; then ok "block $id lifted by hand (portcullis block rm $id)"; else bad "could not lift h3's block"; fi
for _ in $(seq 30); do inhost h3 ping -c 1 -W 1 10.0.0.2 >/dev/null 2>&1 && break; sleep 0.2; done
# One port, open: not a scan, and the first SYN-ACK makes h3 -> h2:80 a
# benign conversation. The switch's SYN counter on h3's port tells.
info "h3\$ hping3 --flood -S -p 80 10.0.0.2"
start=$SECONDS
inhost h3 timeout 20 hping3 --flood -q -S -p 80 10.0.0.2 >/dev/null 2>&1 &
FLOOD=$!
for _ in $(seq 100); do pc block list --json 2>/dev/null | grep -q '"syn-flood"' && break; sleep 0.2; done
took=$((SECONDS - start))
if pc block list --json 2>/dev/null | grep -q '"syn-flood"'; then
	ok "flood detected and h3 blocked again after about ${took} s (second offence: a longer block):"
	pc block list 2>/dev/null | sed 's/^/    /'
else
	bad "the flood was not blocked"
fi
if inhost h1 curl -s -m 2 -o /dev/null http://10.0.0.2/; then ok "h1 still gets answers from h2 while h3 floods"; else bad "h1 gets no answer from h2 during the flood"; fi
kill "$FLOOD" 2>/dev/null
wait "$FLOOD" 2>/dev/null

bold "Events (JSON lines, $WORK/events.jsonl)"
grep -E '"(scan_detected|blocked|unblocked|notice_sent)"' "$WORK/events.jsonl" | cut -c1-160 | sed 's/^/    /'

if [ "$FAILED" -eq 0 ]; then
	bold "Demo passed"
else
	bold "Demo FAILED (controller log: last lines)"
	tail -20 "$WORK/controller.log"
fi
exit "$FAILED"
