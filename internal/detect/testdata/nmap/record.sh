#!/bin/sh
# Re-records the nmap captures in this directory (needs root, nmap, tcpdump,
# python3). Two network namespaces joined by a veth: the scanner det-a
# (10.77.0.1, fd77::1) and the target det-b (10.77.0.2, fd77::2, listening on
# TCP 22/80/443 and UDP 53, not forwarding; 10.78.0.0/24 and fd78::/64 are
# routed through it so that sweeps of them leave the scanner as IP packets).
# Traffic stays inside the two namespaces. Usage: sh record.sh [outdir]
set -eu
out=${1:-.}
ip netns add det-a; ip netns add det-b
trap 'kill $lpid 2>/dev/null; ip netns del det-a; ip netns del det-b' EXIT
ip link add detva type veth peer name detvb
ip link set detva netns det-a; ip link set detvb netns det-b
ip -n det-a addr add 10.77.0.1/24 dev detva; ip -n det-b addr add 10.77.0.2/24 dev detvb
ip -n det-a addr add fd77::1/64 dev detva nodad; ip -n det-b addr add fd77::2/64 dev detvb nodad
for n in a b; do ip -n det-$n link set lo up; ip -n det-$n link set detv$n up; done
ip -n det-a route add 10.78.0.0/24 via 10.77.0.2
ip -n det-a -6 route add fd78::/64 via fd77::2
ip netns exec det-b python3 -c '
import socket, time
keep = []
for port in (22, 80, 443):
    for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(fam, socket.SOCK_STREAM)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, port)); s.listen(100); keep.append(s)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 53)); keep.append(u)
time.sleep(3600)' &
lpid=$!
sleep 1
cap() { # NAME MAXPACKETS NMAP-ARGS...
	name=$1 max=$2; shift 2
	ip netns exec det-a tcpdump -i detva -U -s 0 -c "$max" -w "$out/$name.pcap" 2>/dev/null &
	tp=$!; sleep 1
	timeout 120 ip netns exec det-a nmap -n "$@" >/dev/null 2>&1 || true
	sleep 1; kill $tp 2>/dev/null || true; wait $tp 2>/dev/null || true
}
cap nmap_sS 300 -Pn -sS -T4 --top-ports 1000 10.77.0.2
cap nmap_sT 300 -Pn -sT -T4 --top-ports 200 10.77.0.2
for t in F N X M A W; do cap nmap_s$t 200 -Pn -s$t -T4 --top-ports 100 10.77.0.2; done
cap nmap_sU 200 -Pn -sU -T4 --top-ports 50 10.77.0.2
cap nmap_sO 200 -Pn -sO -T4 -p 1-60 10.77.0.2
cap nmap_sY 200 -Pn -sY -T4 --top-ports 50 10.77.0.2
cap nmap_O 400 -Pn -O -T4 -p 22,80,443,1 10.77.0.2
cap nmap_6sS 300 -Pn -6 -sS -T4 --top-ports 200 fd77::2
cap nmap_6sU 200 -Pn -6 -sU -T4 --top-ports 30 fd77::2
cap nmap_6O 400 -Pn -6 -O -T4 -p 22,80,1 fd77::2
cap nmap_D 300 -Pn -sS -T4 -D 10.77.0.50,10.77.0.51,ME --top-ports 100 10.77.0.2
cap nmap_snARP 300 -sn 10.77.0.0/26
cap nmap_6sn 300 -6 -sn fd77::/122
cap nmap_snPE 300 -sn -PE --send-ip 10.78.0.0/26
cap nmap_snPP 300 -sn -PP --send-ip 10.78.0.0/26
cap nmap_6snPE 300 -6 -sn -PE --send-ip fd78::/122
cap nmap_snR 300 -sn --send-ip 10.78.0.0/27
