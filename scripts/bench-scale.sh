#!/usr/bin/env bash
# make bench-scale: Portcullis beside ovs-testcontroller and an os-ken
# learning switch under `portcullis bench` (emulated OpenFlow 1.3 switches),
# in one run, each controller started fresh for each row. Prints the
# markdown tables of docs/BENCHMARKS.md "Controller at scale"; the raw
# reports go to $OUT (default /tmp/portcullis-bench-scale).
#
# Peers: ovs-testcontroller (Debian openvswitch-testcontroller) and
# osken-manager (python3-os-ken) running scripts/bench/learning_switch_13.py;
# a missing one is left out of the tables. ROUNDS and ROUND shorten a run.
# OLD=path/to/portcullis adds a row for that binary beside each Portcullis
# row (before and after a change, in one run).
#
# QUICK=1 runs the 16-switch rows only.
#
# The floor (`portcullis bench floor`: Portcullis's session layer answering
# every packet-in with one flooding packet-out and nothing else) runs in the
# 16- and 1,000-switch load rows: what reading, framing and writing alone
# cost here, so that the rest of Portcullis's cost per answer is its own
# work. FLOOR=0 leaves it out.
#
# PIN=1 (on a machine of 2 or more CPUs) runs every controller on CPU
# $CTRL_CPUS (default 0) and the generator on CPU $GEN_CPUS (default 1),
# with taskset, so that no controller competes with the generator for its
# core and every peer gets the same one core (Portcullis's GOMAXPROCS
# follows the affinity: 1). Off by default: on a machine shared with other
# work a pinned process cannot leave a loaded CPU, and every figure got
# worse and noisier (docs/BENCHMARKS.md "Controller at scale").
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/portcullis}
OUT=${OUT:-/tmp/portcullis-bench-scale}
ROUNDS=${ROUNDS:-5}
ROUND=${ROUND:-2s}
# OpenFlow ports BASE.., APIs BASE+1000..: below Linux's ephemeral range
# (32768-60999), where a port that a client connection holds (the 10,000
# switches' own) cannot be bound, and a controller would not start.
BASE=${BASE_PORT:-26653}
OLD=${OLD:-}
PIN=${PIN:-0}
CTRL_CPUS=${CTRL_CPUS:-0}
GEN_CPUS=${GEN_CPUS:-1}
pinc=() ping=()
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	pinc=(taskset -c "$CTRL_CPUS") ping=(taskset -c "$GEN_CPUS")
fi
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

pid=
stop() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=; fi; }
trap stop EXIT

# start NAME PORT: run controller NAME listening on 127.0.0.1:PORT; sets pid.
start() {
	local name=$1 port=$2
	case $name in
	portcullis | portcullis-old)
		local bin=$BIN
		[ "$name" = portcullis-old ] && bin=$OLD
		rm -rf "$OUT/state"; mkdir -p "$OUT/state"
		"${pinc[@]}" "$bin" run --listen "127.0.0.1:$port" --api-listen "127.0.0.1:$((port + 1000))" \
			--state-dir "$OUT/state" --log-level warn >"$OUT/$name.log" 2>&1 &
		;;
	floor)
		"${pinc[@]}" "$BIN" bench floor --listen "127.0.0.1:$port" >"$OUT/$name.log" 2>&1 &
		;;
	ovs-testcontroller)
		"${pinc[@]}" ovs-testcontroller -O OpenFlow13 --unixctl="$OUT/ovs-testcontroller.ctl" \
			"ptcp:$port:127.0.0.1" >"$OUT/$name.log" 2>&1 &
		;;
	os-ken)
		"${pinc[@]}" osken-manager --ofp-listen-host 127.0.0.1 --ofp-tcp-listen-port "$port" \
			scripts/bench/learning_switch_13.py >"$OUT/$name.log" 2>&1 &
		;;
	esac
	pid=$!
	for _ in $(seq 100); do
		if ! kill -0 "$pid" 2>/dev/null; then break; fi # it exited: see $OUT/$name.log
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return; fi
		sleep 0.1
	done
	echo "bench-scale: $name did not listen on $port" >&2
}

peers=(portcullis)
[ -n "$OLD" ] && peers+=(portcullis-old)
[ "${FLOOR:-1}" != 0 ] && peers+=(floor)
command -v ovs-testcontroller >/dev/null && peers+=(ovs-testcontroller)
command -v osken-manager >/dev/null && peers+=(os-ken)
# the rows the floor sits out (it measures load, not connections or memory)
nofloor=()
for p in "${peers[@]}"; do if [ "$p" != floor ]; then nofloor+=("$p"); fi; done

# row NAME SWITCHES MODE INFLIGHT [extra bench flags]: one bench run against a fresh NAME.
row() {
	local name=$1 n=$2 mode=$3 k=$4; shift 4
	local miss=table0 port=$((BASE + RANDOM % 500))
	case $name in portcullis*) miss=portcullis ;; esac
	start "$name" "$port"
	sleep 0.5
	"${ping[@]}" "$BIN" bench --addr "127.0.0.1:$port" --miss "$miss" --switches "$n" --mode "$mode" --in-flight "$k" \
		--rounds "$ROUNDS" --round "$ROUND" --pid "$pid" --json "$@" >"$OUT/$name-$n-$mode-$k.json" 2>>"$OUT/bench.log" || true
	stop
	echo "$name $n $mode $k $OUT/$name-$n-$mode-$k.json" >>"$OUT/rows"
}

: >"$OUT/rows"
for p in "${peers[@]}"; do row "$p" 16 throughput 64; done
for p in "${peers[@]}"; do row "$p" 16 latency 1; done
for p in "${peers[@]}"; do row "$p" 16 throughput 4; done
if [ "${QUICK:-0}" != 1 ]; then
	for p in "${nofloor[@]}"; do row "$p" 100 throughput 4 --connect-timeout 30s; done
	for p in "${peers[@]}"; do row "$p" 1000 throughput 4 --connect-timeout 30s; done
	for p in "${nofloor[@]}"; do row "$p" 1000 idle 0 --connect-timeout 30s --hold 10s; done
	row portcullis 10000 idle 0 --connect-timeout 60s --hold 10s
fi
[ ${#pinc[@]} -gt 0 ] && echo "bench-scale: controllers on CPU $CTRL_CPUS, generator on CPU $GEN_CPUS (PIN=1)" >&2

python3 - "$OUT/rows" <<'PY'
import json, sys
rows = [l.split() for l in open(sys.argv[1])]
def load(path):
    try:
        return json.load(open(path))
    except Exception:
        return None
def k(v): return f"{v/1000:.0f} k" if v >= 1000 else f"{v:.0f}"
def mb(b): return f"{b/2**20:.0f} MB" if b else "-"
print("| controller | switches | mode | in flight | connected (time) | responses/s min / median / max | p50 / p99 | CPU µs per answer: controller / generator | RSS connected / end |")
print("|---|---|---|---|---|---|---|---|---|")
for name, n, mode, inflight, path in rows:
    r = load(path)
    if r is None:
        print(f"| {name} | {n} | {mode} | {inflight} | no report | | | | |"); continue
    conn = f"{r['connected']} ({r['connect_ns']/1e9:.1f} s)"
    rate = f"{k(r['min'])} / {k(r['median'])} / {k(r['max'])}" if r.get('rounds') else "-"
    lat = f"{r['p50_ns']/1000:.0f} / {r['p99_ns']/1000:.0f} µs" if mode == "latency" else "-"
    mem = f"{mb(r['mem_connected']['RSS'])} / {mb(r['mem_end']['RSS'])}"
    cpu = "-"
    if r.get('rounds') and r.get('generator_cpu_per_answer_ns'):
        cpu = f"{r.get('controller_cpu_per_answer_ns', 0)/1000:.1f} / {r['generator_cpu_per_answer_ns']/1000:.1f}"
    print(f"| {name} | {n} | {mode} | {inflight} | {conn} | {rate} | {lat} | {cpu} | {mem} |")
PY
