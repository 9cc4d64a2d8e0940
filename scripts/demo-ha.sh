#!/usr/bin/env bash
# make demo-ha: two controllers, one network, high availability on etcd (docs/ha.md).
#
# Starts a real etcd (Debian's etcd-server, loopback only, its own data
# directory), two `portcullis run` instances on it (a and b) and a 3-host Open
# vSwitch lab whose bridge lists both as controllers. A scan from h3 is
# blocked by the leader; the leader is killed with SIGKILL; the follower
# becomes master on the bridge, the block is still in the switch and in both
# APIs (the killed instance restarted as a follower), and a second scan, from
# h1, is blocked by the new leader. Everything is removed at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

BIN=${BIN:-bin/portcullis}
LAB=demoha
ETCD_PORT=${DEMO_HA_ETCD_PORT:-16379}
OF=(${DEMO_HA_OF_PORTS:-16653 16654})
APIP=(${DEMO_HA_API_PORTS:-16681 16682})
NAMES=(a b)
TOKEN=$(demo_token)
WORK=$(mktemp -d /tmp/portcullis-demo-ha.XXXXXX)
PIDS=("" "")
ETCD_PID=""
FAILED=0

api() { echo "http://127.0.0.1:${APIP[$1]}"; }
pc() { local i=$1; shift; PORTCULLIS_API=$(api "$i") PORTCULLIS_TOKEN=$TOKEN "$BIN" "$@"; }
role() { curl -s -m 2 "$(api "$1")/api/v1/cluster" | sed -n 's/.*"role":"\([a-z]*\)".*/\1/p'; }
master_count() { curl -s -m 2 "$(api "$1")/api/v1/cluster" | sed -n 's/.*"master":\([0-9]*\).*/\1/p'; }
now_ms() { date +%s%3N; }

cleanup() {
	bold "Cleaning up"
	for p in "${PIDS[@]}"; do [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	[ -n "$ETCD_PID" ] && kill "$ETCD_PID" 2>/dev/null && wait "$ETCD_PID" 2>/dev/null
	"$BIN" lab down --name "$LAB" >/dev/null 2>&1 && ok "lab removed" || true
	rm -rf "$WORK"
}
trap cleanup EXIT

need_root demo-ha "network namespaces and Open vSwitch"

bold "Checking what the demo needs"
./scripts/deps.sh openvswitch-switch iproute2 iputils-ping nmap curl etcd-server || exit 1
ok "Open vSwitch $(ovs-vswitchd --version | head -1 | awk '{print $NF}'), etcd $(etcd --version 2>/dev/null | head -1 | awk '{print $NF}'), nmap present"
[ -x "$BIN" ] || go build -o "$BIN" ./cmd/portcullis || exit 1
"$BIN" lab down --name "$LAB" >/dev/null 2>&1
for p in "$ETCD_PORT" $((ETCD_PORT + 1)) "${OF[@]}" "${APIP[@]}"; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		bad "127.0.0.1:$p is already in use: stop that program, or set DEMO_HA_ETCD_PORT / DEMO_HA_OF_PORTS / DEMO_HA_API_PORTS"
		exit 1
	fi
done

bold "Starting etcd (loopback, data in $WORK/etcd)"
ETCD=http://127.0.0.1:$ETCD_PORT
etcd --name demo-ha --data-dir "$WORK/etcd" \
	--listen-client-urls "$ETCD" --advertise-client-urls "$ETCD" \
	--listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
	--initial-cluster "demo-ha=http://127.0.0.1:$((ETCD_PORT + 1))" >"$WORK/etcd.log" 2>&1 &
ETCD_PID=$!
for _ in $(seq 100); do curl -sf "$ETCD/health" >/dev/null && break; sleep 0.1; done
if curl -sf "$ETCD/health" >/dev/null; then ok "etcd healthy at $ETCD"; else bad "etcd did not start"; tail -5 "$WORK/etcd.log"; exit 1; fi

start() {
	local i=$1
	PORTCULLIS_API_TOKENS="$TOKEN" "$BIN" run --listen "127.0.0.1:${OF[$i]}" --api-listen "127.0.0.1:${APIP[$i]}" \
		--etcd-endpoints "$ETCD" --etcd-prefix /demo-ha/ --cluster-name "${NAMES[$i]}" \
		--grace 2s --state-dir "$WORK/state-${NAMES[$i]}" \
		>>"$WORK/${NAMES[$i]}.log" 2>&1 &
	PIDS[$i]=$!
	for _ in $(seq 50); do curl -sf "$(api "$i")/healthz" >/dev/null && break; sleep 0.1; done
	curl -sf "$(api "$i")/healthz" >/dev/null
}

bold "Starting two controllers on etcd: a and b"
for i in 0 1; do
	if start "$i"; then
		ok "${NAMES[$i]}: OpenFlow 127.0.0.1:${OF[$i]}, API $(api "$i")"
	else
		bad "${NAMES[$i]} did not start"; tail -5 "$WORK/${NAMES[$i]}.log"; exit 1
	fi
done

bold "Building the lab: one bridge, three hosts, both controllers"
if ! "$BIN" lab up --name "$LAB" --hosts 3 --controller "tcp:127.0.0.1:${OF[0]},tcp:127.0.0.1:${OF[1]}" >"$WORK/lab.log" 2>&1; then
	bad "lab up failed"; cat "$WORK/lab.log"; exit 1
fi
RUNDIR=$("$BIN" lab status --name "$LAB" --json 2>/dev/null | sed -n 's/.*"run_dir": *"\([^"]*\)".*/\1/p' | head -1)
# ovs_master prints the target the bridge's Controller table shows connected as master.
ovs_master() {
	ovs-vsctl --db="unix:$RUNDIR/db.sock" --timeout=2 --format=csv --data=bare --no-headings \
		--columns=target,role,is_connected list controller 2>/dev/null | awk -F, '$2 == "master" && $3 == "true" { print $1 }'
}
flows() { ovs-ofctl -O OpenFlow13 dump-flows "unix:$RUNDIR/br0.mgmt" 2>/dev/null | grep 'cookie=0x504305' | grep 'priority=40000'; }

leader_of() {
	for _ in $(seq 150); do
		for i in 0 1; do
			[ -n "${PIDS[$i]}" ] || continue
			o=$((1 - i))
			if [ "$(role "$i")" = leader ] && [ "$(master_count "$i")" = 1 ] && [ "$(role "$o")" = follower ]; then
				echo "$i"
				return 0
			fi
		done
		sleep 0.1
	done
	return 1
}
if L=$(leader_of); then
	F=$((1 - L))
	ok "${NAMES[$L]} leads (master on br0), ${NAMES[$F]} follows (slave)"
else
	bad "no leader"; exit 1
fi
for _ in $(seq 100); do [ "$(ovs_master)" = "tcp:127.0.0.1:${OF[$L]}" ] && break; sleep 0.1; done
info "ovs-vsctl list controller:"
"$BIN" lab status --name "$LAB" 2>/dev/null | grep '^ *controller' | sed 's/^/  /'

bold "Every host reaches every other"
for a in 1 2 3; do for b in 1 2 3; do
	[ "$a" = "$b" ] && continue
	if inhost "h$a" ping -c 1 -W 2 "10.0.0.$b" >/dev/null 2>&1 || inhost "h$a" ping -c 2 -W 2 "10.0.0.$b" >/dev/null 2>&1; then ok "h$a -> h$b"; else bad "h$a -> h$b failed"; fi
done; done

bold "A scan from h3, blocked by the leader (${NAMES[$L]})"
info "h3\$ nmap -sS -T4 -p 1-1000 10.0.0.2"
timeout 20 ip netns exec "pc-$LAB-h3" nmap -sS -T4 -p 1-1000 -n -Pn 10.0.0.2 >"$WORK/nmap1.log" 2>&1 &
SCAN=$!
for _ in $(seq 100); do pc "$L" block list 2>/dev/null | grep -q 02:00:00:00:00:03 && break; sleep 0.2; done
kill "$SCAN" 2>/dev/null; wait "$SCAN" 2>/dev/null
if pc "$L" block list 2>/dev/null | grep -q 02:00:00:00:00:03; then
	ok "h3 blocked by ${NAMES[$L]}:"; pc "$L" block list 2>/dev/null | sed 's/^/    /'
else
	bad "h3 was not blocked"
fi
for _ in $(seq 20); do pc "$F" block list 2>/dev/null | grep -q 02:00:00:00:00:03 && break; sleep 0.1; done
if pc "$F" block list 2>/dev/null | grep -q 02:00:00:00:00:03; then ok "the follower ${NAMES[$F]} shows the same block (from etcd)"; else bad "the follower does not show the block"; fi
before=$(flows | wc -l)
before_matches=$(flows | grep -o 'priority=40000[^ ]*' | sort)
info "block flows in the switch: $before"

bold "The leader ${NAMES[$L]} is killed (kill -9)"
t0=$(now_ms)
kill -9 "${PIDS[$L]}"; wait "${PIDS[$L]}" 2>/dev/null; PIDS[$L]=""
for _ in $(seq 300); do [ "$(role "$F")" = leader ] && [ "$(master_count "$F")" = 1 ] && break; sleep 0.02; done
t1=$(now_ms)
if [ "$(role "$F")" = leader ]; then
	ok "${NAMES[$F]} leads and is master on br0 after $((t1 - t0)) ms (the switch's ROLE_REPLY; lease TTL 2 s included)"
else
	bad "${NAMES[$F]} did not take over"
fi
# Open vSwitch writes the controllers' role to its database every 5 s (stats-update-interval):
# wait for the row of the new leader's target, not for a stale "master" of the dead one.
for _ in $(seq 100); do [ "$(ovs_master)" = "tcp:127.0.0.1:${OF[$F]}" ] && break; sleep 0.1; done
info "ovs-vsctl list controller (as Open vSwitch records it, at its next status refresh, $(($(now_ms) - t0)) ms):"
"$BIN" lab status --name "$LAB" 2>/dev/null | grep '^ *controller' | sed 's/^/  /'
after=$(flows | wc -l)
matches() { flows | grep -o 'priority=40000[^ ]*' | sort; }
if [ "$after" -eq "$before" ] && [ "$after" -gt 0 ] && [ "$(matches)" = "$before_matches" ]; then
	ok "the block is still in the switch, neither lost nor duplicated ($after block flows, the same as before)"
else
	bad "block flows: $before before, $after after"
fi
if inhost h3 ping -c 2 -W 1 10.0.0.1 >/dev/null 2>&1; then bad "h3 can reach h1 again"; else ok "h3 is still cut off"; fi
if inhost h1 ping -c 1 -W 2 10.0.0.2 >/dev/null 2>&1; then ok "h1 still reaches h2"; else bad "h1 cannot reach h2"; fi

bold "${NAMES[$L]} restarts and joins as the follower"
if start "$L"; then ok "${NAMES[$L]} is back"; else bad "${NAMES[$L]} did not restart"; fi
for _ in $(seq 50); do [ "$(role "$L")" = follower ] && pc "$L" block list 2>/dev/null | grep -q 02:00:00:00:00:03 && break; sleep 0.1; done
if [ "$(role "$L")" = follower ] && pc "$L" block list 2>/dev/null | grep -q 02:00:00:00:00:03; then
	ok "${NAMES[$L]} follows ${NAMES[$F]} and its API shows h3's block"
else
	bad "${NAMES[$L]}: role $(role "$L"), blocks: $(pc "$L" block list 2>/dev/null | tail -n +2)"
fi

bold "A second scan, from h1, blocked by the new leader (${NAMES[$F]})"
info "h1\$ nmap -sS -T4 -p 1-1000 10.0.0.2"
timeout 20 ip netns exec "pc-$LAB-h1" nmap -sS -T4 -p 1-1000 -n -Pn 10.0.0.2 >"$WORK/nmap2.log" 2>&1 &
SCAN=$!
for _ in $(seq 100); do pc "$F" block list 2>/dev/null | grep -q 02:00:00:00:00:01 && break; sleep 0.2; done
kill "$SCAN" 2>/dev/null; wait "$SCAN" 2>/dev/null
if pc "$F" block list 2>/dev/null | grep -q 02:00:00:00:00:01; then
	ok "h1 blocked by ${NAMES[$F]}; both blocks in both APIs:"
	pc "$L" block list 2>/dev/null | sed 's/^/    /'
else
	bad "h1 was not blocked by the new leader"
fi
if inhost h1 ping -c 2 -W 1 10.0.0.2 >/dev/null 2>&1; then bad "h1 still reaches h2"; else ok "h1 is cut off"; fi

bold "The cluster, as ${NAMES[$F]} sees it (portcullis cluster status)"
pc "$F" cluster status 2>&1 | sed 's/^/    /'

if [ "$FAILED" -eq 0 ]; then
	bold "Demo passed"
else
	bold "Demo FAILED (logs: last lines)"
	for n in "${NAMES[@]}"; do echo "--- $n"; tail -15 "$WORK/$n.log"; done
fi
exit "$FAILED"
