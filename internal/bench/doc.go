// Package bench is a cbench-style load generator for OpenFlow 1.3
// controllers: it emulates N switches over real TCP connections, each
// sending learning misses (packet-ins from ever-changing source MACs) and
// counting the flow-mods and packet-outs that come back.
//
// A packet-in is answered by the first FLOW_MOD (OFPFC_ADD) whose match
// names its source MAC (eth_src or eth_dst) or the first PACKET_OUT whose
// frame comes from it. Learning switches answer so (Portcullis with two
// flow-mods, ovs-testcontroller and os-ken's simple_switch_13 with a
// packet-out that floods the frame of an unknown destination), so the same
// run can put different controllers side by side.
//
// Modes:
//
//	throughput  K packet-ins in flight per switch; each answer sends another
//	latency     one in flight per switch; the round trip is measured
//	idle        switches connect and stay quiet (memory per switch)
//
// Each emulated switch is one goroutine that reads its socket and writes
// the next packet-ins itself (one Write per read batch); a watchdog
// replaces packet-ins that got no answer within a second, counted as lost.
package bench
