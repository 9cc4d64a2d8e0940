// Package forward defines the Portcullis flow pipeline (tables, priorities, cookies, meter ids:
// pipeline.go, the one definition policy and the controller use) and does per-switch L2 learning.
//
// A Switch is pure: each method takes the time and an event from the switch (packet-in, port status,
// flow removed) and appends the messages to send. It does no IO, no logging and keeps no goroutines;
// it is not safe for concurrent use, the switch's session goroutine owns it. Its MAC table is
// bounded (Config.MaxHosts, least recently seen of the port that holds the most evicted) and so is
// its IP index; both start empty and grow with what the switch holds (tables.go, index.go).
//
// Usage, per connected datapath:
//
//	sw := forward.NewSwitch(cfg)
//	send(sw.Setup()...)                       // on every (re)connect
//	out = sw.PacketIn(now, pi, &pkt, out[:0]) // for each packet-in
//	out = sw.PortStatus(now, ps, out[:0])
//	out = sw.FlowRemoved(now, fr, out[:0])
//
// The table layout and its reasoning are in docs/pipeline.md.
package forward
