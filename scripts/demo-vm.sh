#!/usr/bin/env bash
# make demo-vm: the source paper's experiment with a real guest OS.
#
# Two computers on the switch; A attacks B, whose OS runs on the hypervisor:
# here B is a virtual machine (QEMU: a Debian kernel and a busybox initramfs
# the lab builds, with `portcullis agent`) on the lab's Open vSwitch bridge,
# A is the lab host h1, and h2 is a client that keeps using B's web server.
# A port-scans B; the controller (confined: unprivileged user, no
# capabilities, Landlock, seccomp) blocks A at its switch port; B's own log,
# read over its serial console, shows the signed notice its agent verified;
# the client keeps talking to B. Everything is removed at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

BIN=${BIN:-bin/portcullis}
LAB=demovm
OFPORT=${DEMO_OF_PORT:-16653}
APIPORT=${DEMO_API_PORT:-16690}
API=http://127.0.0.1:$APIPORT
WORK=$(mktemp -d /tmp/portcullis-demo-vm.XXXXXX)
CTL_PID=""
FAILED=0

cleanup() {
	bold "Cleaning up"
	[ -n "$CTL_PID" ] && kill "$CTL_PID" 2>/dev/null && wait "$CTL_PID" 2>/dev/null
	"$BIN" lab down --name "$LAB" >/dev/null 2>&1 && ok "lab and VM removed" || true
	rm -rf "$WORK"
}
trap cleanup EXIT

need_root demo-vm "network namespaces, Open vSwitch, a tap device"

bold "Checking what the demo needs"
./scripts/deps.sh openvswitch-switch iproute2 ethtool iputils-ping nmap curl qemu-system-x86 linux-image-amd64 busybox-static || exit 1
KERNEL=$(ls /boot/vmlinuz-* 2>/dev/null | sort -r | head -1)
ok "Open vSwitch, nmap, QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}'), kernel ${KERNEL:-none}, static busybox present"
[ -x "$BIN" ] || go build -o "$BIN" ./cmd/portcullis || exit 1
"$BIN" lab down --name "$LAB" >/dev/null 2>&1

bold "Starting Portcullis (as root: it confines itself before it serves)"
for p in "$OFPORT" "$APIPORT"; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		bad "127.0.0.1:$p is already in use by another program: stop it, or set DEMO_OF_PORT / DEMO_API_PORT"
		exit 1
	fi
done
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/notice.key"
chmod 600 "$WORK/notice.key"
"$BIN" run --listen "127.0.0.1:$OFPORT" --api-listen "127.0.0.1:$APIPORT" \
	--state-dir "$WORK/state" --grace 0 --notice-key-file "$WORK/notice.key" \
	>"$WORK/controller.log" 2>&1 &
CTL_PID=$!
for _ in $(seq 50); do curl -sf "$API/healthz" >/dev/null && break; sleep 0.1; done
if ! kill -0 "$CTL_PID" 2>/dev/null || ! curl -sf "$API/healthz" >/dev/null; then
	bad "controller did not start"; cat "$WORK/controller.log"; exit 1
fi
ok "$(grep -o 'sandbox: confined: [^"]*' "$WORK/controller.log")"
grep -E 'Uid|CapEff|NoNewPrivs|Seccomp:' "/proc/$CTL_PID/status" | sed 's/^/    /'

bold "Building the lab: a bridge, h1 (attacker) and h2 (client), and the guest VM"
start=$SECONDS
if ! "$BIN" lab up --name "$LAB" --hosts 2 --controller "tcp:127.0.0.1:$OFPORT" \
	--vm guest --vm-notice-key "$WORK/notice.key" >"$WORK/lab.log" 2>&1; then
	bad "lab up --vm failed"; cat "$WORK/lab.log"; exit 1
fi
CONSOLE=/run/portcullis-lab/$LAB/vm-guest.console
ok "guest booted in $((SECONDS - start)) s: $(grep -o 'vm guest: .*' "$WORK/lab.log")"
info "guest console: $(grep 'portcullis-vm: ready' "$CONSOLE")"
GUEST=10.0.0.201
if inhost h2 curl -s -m 5 --retry 3 "http://$GUEST/" | grep -q "hello from the guest"; then
	ok "h2 fetches http://$GUEST/ from the guest"
else
	bad "h2 cannot reach the guest"
fi

bold "A (h1) port-scans B (the guest) while h2 keeps using it"
(
	okc=0 failc=0
	end=$((SECONDS + 10))
	while [ $SECONDS -lt $end ]; do
		if inhost h2 curl -s -m 2 -o /dev/null "http://$GUEST/"; then okc=$((okc + 1)); else failc=$((failc + 1)); fi
		sleep 0.3
	done
	echo "$okc $failc" >"$WORK/client.result"
) &
CLIENT=$!
sleep 1
info "h1\$ nmap -sS -T4 -p 1-1000 $GUEST"
timeout 8 ip netns exec "pc-$LAB-h1" nmap -sS -T4 -n -Pn -p 1-1000 "$GUEST" >"$WORK/nmap.log" 2>&1
wait "$CLIENT"
if PORTCULLIS_API=$API "$BIN" block list 2>/dev/null | grep -q 02:00:00:00:00:01; then
	ok "the switch blocks h1:"
	PORTCULLIS_API=$API "$BIN" block list 2>/dev/null | sed 's/^/    /'
else
	bad "h1 was not blocked"
fi
if inhost h1 curl -s -m 2 -o /dev/null "http://$GUEST/"; then bad "h1 still reaches the guest"; else ok "h1 is cut off from the guest"; fi
read -r okc failc <"$WORK/client.result"
if [ "${failc:-1}" -eq 0 ]; then ok "h2 unaffected: $okc of $okc requests to the guest answered during the scan"; else bad "h2 lost $failc of $((okc + failc)) requests"; fi

bold "B's own log (its serial console): the verified, signed notice"
for _ in $(seq 50); do grep -q NOTICE "$CONSOLE" && break; sleep 0.2; done
if grep -q "NOTICE blocked scanner=10.0.0.1" "$CONSOLE"; then
	ok "the guest's agent verified the notice:"
	grep NOTICE "$CONSOLE" | head -1 | sed 's/^/    /'
else
	bad "no notice on the guest's console:"
	sed 's/^/    /' "$CONSOLE"
fi

if [ "$FAILED" -eq 0 ]; then
	bold "Demo passed"
else
	bold "Demo FAILED (controller log: last lines)"
	tail -20 "$WORK/controller.log"
fi
exit "$FAILED"
