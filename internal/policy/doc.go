// Package policy turns decisions into flows: the watch table that copies what detection needs to the
// controller (metered per class), bypass flows for conversations judged benign, drop flows for
// blocks with escalating durations, the allowlist and never-block list, and the reconciliation of a
// switch's block flows with the blocks in force.
//
// Engine (engine.go, engine_attr.go, engine_sync.go, engine_flood.go) is the block lifecycle as one
// state machine in the manner of etcd raft's RawNode: verdicts, SYN counter readings, operator
// blocks and lifts, ticks, switch connects and the outcomes of block IO go in; Ready says what to send to which switch, what to write to
// the store, which events and notices to publish; the driver does it and calls Advance. It decides
// attribution (where a block goes: a spoofer's port and MAC, or the port), escalation and, per
// switch and block, whether the switch holds the flows. Scenario scripts in testdata/engine.
//
// It is pure: functions take the time and return OpenFlow messages; no IO, no logging, no clock.
// Tables, priorities, cookies and meter ids come from internal/forward (pipeline.go); the layout and
// its reasoning are in docs/pipeline.md.
//
// On a switch (re)connect the controller sends, in order:
//
//	forward.Switch.Setup()                  // base flows, learned flows cleared, OFPM_CONTROLLER
//	policy.WatchFlows(cfg)                  // watch flows and their meters
//	policy.BlockFlowsRequest()              // then, with the reply:
//	policy.Reconcile(blocks, reply, dpid, now)
//	barrier
package policy
