package controller

import (
	"testing"
	"time"

	"portcullis/internal/api"
	"portcullis/internal/forward"
	"portcullis/internal/policy"
	"portcullis/internal/store"
	"portcullis/ofp"
)

// blockFlowsHeld returns the flows of cookie in the fake switch's table.
func (fs *fakeSwitch) held(cookie uint64) []ofp.FlowStats {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []ofp.FlowStats
	for _, f := range fs.stats {
		if f.Cookie == cookie {
			out = append(out, f)
		}
	}
	return out
}

// blockState is the block's state on dpid as GET /api/v1/blocks shows it.
func (h *harness) blockState(id, dpid string) (api.BlockSwitch, bool) {
	for _, b := range h.blocks() {
		if b.ID != id {
			continue
		}
		for _, s := range b.Switches {
			if s.DPID == dpid {
				return s, true
			}
		}
	}
	return api.BlockSwitch{}, false
}

// waitConfirmed waits until the API shows block id confirmed on dpid.
func (h *harness) waitConfirmed(id string, dpid uint64) api.BlockSwitch {
	h.t.Helper()
	var st api.BlockSwitch
	eventually(h.t, "block "+id+" confirmed on "+fmtDPID(dpid), func() bool {
		st, _ = h.blockState(id, fmtDPID(dpid))
		return st.State == api.BlockConfirmed
	})
	if st.ConfirmedAt.IsZero() {
		h.t.Errorf("confirmed without confirmed_at: %+v", st)
	}
	return st
}

// A block is confirmed on a switch once the switch holds its flows, and the
// API says so per switch.
func TestBlockConfirmedPerSwitch(t *testing.T) {
	h := startController(t, testConfig(t), store.NewMemory())
	fs1 := h.connect(0x1, 4)
	fs2 := h.connect(0x2, 4)
	fs1.learn(hostS)
	b, cookie := blockByMAC(t, h, fs1, hostS)
	for _, fs := range []*fakeSwitch{fs1, fs2} {
		h.waitConfirmed(b.ID, fs.dpid)
		if len(fs.held(cookie)) == 0 {
			t.Errorf("switch %d confirmed without the block's flows", fs.dpid)
		}
	}
}

// A flow-mod the switch lost or rejected is sent again until the switch
// holds every flow of the block; only then is it confirmed.
func TestBlockInstallRetriedUntilConfirmed(t *testing.T) {
	for _, how := range []string{"lost", "rejected"} {
		t.Run(how, func(t *testing.T) {
			h := startController(t, testConfig(t), store.NewMemory())
			fs := h.connect(0x1, 4)
			fs.learn(hostS)
			if how == "lost" {
				fs.dropAdds.Store(2)
			} else {
				fs.rejectAdds.Store(2)
			}
			b, cookie := blockByMAC(t, h, fs, hostS)
			h.waitConfirmed(b.ID, fs.dpid)
			pb := h.engineBlock(b.ID)
			if want, got := len(policyInstall(pb, fs.dpid)), len(fs.held(cookie)); got != want {
				t.Errorf("switch holds %d flows of the block, want %d", got, want)
			}
			if fs.dropAdds.Load() > 0 || fs.rejectAdds.Load() > 0 {
				t.Errorf("the failures were never exercised")
			}
		})
	}
}

// The audit reads every switch's block flows each block.audit_interval: a
// drop flow deleted behind the controller's back comes back, a stale flow of
// ours (a block nobody has) goes.
func TestAuditRepairsDrift(t *testing.T) {
	cfg := testConfig(t)
	cfg.Block.AuditInterval = time.Second
	h := startController(t, cfg, store.NewMemory())
	fs := h.connect(0x1, 4)
	fs.learn(hostS)
	b, cookie := blockByMAC(t, h, fs, hostS)
	h.waitConfirmed(b.ID, fs.dpid)
	n := len(fs.held(cookie))

	fs.deleteFlows(cookie)
	stale := forward.Cookie(forward.KindBlock, 0xbad)
	fs.mu.Lock()
	fs.stats = append(fs.stats, ofp.FlowStats{TableID: 0, Priority: forward.PriorityBlock, Cookie: stale,
		Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchEthSrc([]byte{2, 0, 0, 0, 0, 0x99})}}})
	fs.mu.Unlock()
	eventually(t, "the audit restoring the deleted flows and removing the stale one", func() bool {
		return len(fs.held(cookie)) == n && len(fs.held(stale)) == 0
	})
	h.waitConfirmed(b.ID, fs.dpid)
}

// A lifted block's flows are gone from every switch and stay gone: no pass
// or late install brings them back.
func TestLiftLeavesNoFlows(t *testing.T) {
	cfg := testConfig(t)
	cfg.Block.AuditInterval = time.Second
	h := startController(t, cfg, store.NewMemory())
	fs := h.connect(0x1, 4)
	fs.learn(hostS)
	for range 20 {
		b, cookie := blockByMAC(t, h, fs, hostS)
		if code, body := h.call("DELETE", "/api/v1/blocks/"+b.ID, testToken, nil); code != 204 {
			t.Fatalf("DELETE: %d %s", code, body)
		}
		fs.fence()
		if f := fs.held(cookie); len(f) > 0 {
			t.Fatalf("lifted block %s still has %d flows", b.ID, len(f))
		}
	}
	time.Sleep(1500 * time.Millisecond) // an audit pass
	fs.fence()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.stats {
		if k, ours := forward.CookieKind(f.Cookie); ours && k == forward.KindBlock {
			t.Errorf("block flow left after every block was lifted: %+v", f)
		}
	}
}

// engineBlock returns block id as the engine holds it.
func (h *harness) engineBlock(id string) policy.Block {
	h.t.Helper()
	done := make(chan policy.Block, 1)
	h.c.post(func(time.Time) {
		st, _ := h.c.eng.Block(id)
		done <- st.Record.Block
	})
	return <-done
}

func policyInstall(b policy.Block, dpid uint64) []ofp.Message {
	return policy.BlockInstall(b, dpid, time.Now())
}
