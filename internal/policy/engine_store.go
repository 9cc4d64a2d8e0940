package policy

import (
	"slices"
	"time"

	"portcullis/internal/event"
)

// A cluster of instances (docs/ha.md) shares its blocks, escalation history and allowlist through
// one store (etcd). Every instance runs an engine; the store's changes reach each of them as
// inputs, so every instance holds the same blocks. Only the leader's engine has switches
// (SwitchConnected is called for a switch once the leader is its master): a block it learns from
// the store goes to its switches at once. A follower holds blocks for its API and sends nothing.
//
//	another instance's write ──► etcd ──► watch ──► StoreBlocks / StoreHistory
//	                                                  │ new block: held; the leader installs it
//	                                                  │ block gone: lifted (the leader's flows go)
//	                                                  ▼ a follower takes extensions of held blocks
//
// A store change never writes back to the store: the change is already there. The engine's own
// writes come back through the watch too; they change nothing (the block is held, or gone).

// SetLeader tells the engine whether this instance leads the cluster. A single instance is a
// leader (the default). A follower ignores verdicts (it receives no packet-ins: a switch sends
// none to a slave) and lets the leader delete expired blocks from the store.
func (e *Engine) SetLeader(leader bool) {
	e.follower = !leader
}

// Leader reports what SetLeader last said.
func (e *Engine) Leader() bool { return !e.follower }

// StoredBlock is one change of the store's blocks: a record written, or, with Deleted, the block
// of ID removed.
type StoredBlock struct {
	ID      string
	Record  BlockRecord
	Deleted bool
}

// StoreBlocks applies changes of the store's blocks made by any instance. With reset, changes are
// the whole bucket (writes only): a held block missing from it was removed while the watch was
// down, and is lifted.
//
// A record for a block not held makes it held (and installed on every switch of the engine,
// without a new escalation step: the instance that wrote it decided that). A record for a held
// block replaces it only on a follower: the leader is the only instance that extends blocks
// (verdicts), so what comes back to it is its own write, possibly older than its latest. A deletion
// lifts the block.
func (e *Engine) StoreBlocks(now time.Time, reset bool, changes []StoredBlock) {
	var seen map[string]bool
	if reset {
		seen = make(map[string]bool, len(changes))
	}
	for _, c := range changes {
		if reset {
			if c.Deleted {
				continue
			}
			seen[c.ID] = true
		}
		r := e.blocks[c.ID]
		switch {
		case c.Deleted && r != nil:
			delete(e.blocks, c.ID)
			e.rd.Removed = append(e.rd.Removed, "store")
			e.liftStored(r, event.Unblocked, "removed by another instance")
		case c.Deleted:
		case c.Record.Block.ID != c.ID:
			e.log("warn", "store: block record under the wrong key: ignored", "key", c.ID, "id", c.Record.Block.ID)
		case !c.Record.Block.Active(now):
			// expired: whoever deletes it, nothing to install
		case r == nil:
			rc := cloneRecord(c.Record)
			e.blocks[c.ID] = &rc
			for _, sw := range e.switches() {
				e.sendBlock(sw, rc.Block, now)
			}
			e.log("info", "block from the store", "block", c.ID, "mac", macString(rc.Block.Source.MAC),
				"ips", addrStrings(rc.Block.IPs), "kind", rc.Block.Kind, "expires", rc.Block.Expires.UTC().Format(time.RFC3339))
		case e.follower:
			rc := cloneRecord(c.Record)
			e.blocks[c.ID] = &rc
		}
	}
	if !reset {
		return
	}
	for _, id := range e.blockIDs() {
		if !seen[id] {
			r := e.blocks[id]
			delete(e.blocks, id)
			e.rd.Removed = append(e.rd.Removed, "store")
			e.liftStored(r, event.Unblocked, "no longer in the store")
		}
	}
}

// liftStored is lift for a block the store no longer has: no store write.
func (e *Engine) liftStored(r *BlockRecord, t event.Type, why string) {
	n := len(e.rd.Writes)
	e.lift(r, t, why)
	e.rd.Writes = slices.Delete(e.rd.Writes, n, len(e.rd.Writes))
}

// StoreHistory applies a change of the store's escalation history (deleted: the record of key is
// gone). Only a follower takes it: the leader writes the history, and what comes back to it is its
// own write, possibly older than its latest. A follower that becomes leader escalates from the
// records it took.
func (e *Engine) StoreHistory(now time.Time, key string, h History, deleted bool) {
	if !e.follower {
		return
	}
	if deleted {
		delete(e.hist, key)
		return
	}
	e.remember(key, h, now)
}
