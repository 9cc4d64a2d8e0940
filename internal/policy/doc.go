// Package policy turns decisions into flows: the watch table that copies what detection needs to the
// controller (metered per class), bypass flows for conversations judged benign, drop flows for
// blocks with escalating durations, the allowlist and never-block list, and the reconciliation of a
// switch's block flows with the blocks in force.
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
