package policy

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"portcullis/internal/event"
)

// A block by address alone names no station: its events carry no MAC (not
// 00:00:00:00:00:00) and their messages name the address.
func TestBlockByAddressEventsNameTheAddress(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	n := 0
	e := NewEngine(EngineConfig{Started: now, NewID: func() string { n++; return "b" + string(rune('0'+n)) }},
		Settings{Scope: ScopeNetwork})
	r, err := e.AddBlock(now, ManualBlock{IP: netip.MustParseAddr("192.0.2.7"), Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.RemoveBlock(now.Add(time.Minute), r.Block.ID); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for e.HasReady() {
		rd := e.Ready()
		for _, ev := range rd.Events {
			if ev.Type != event.Blocked && ev.Type != event.Unblocked {
				continue
			}
			seen = append(seen, string(ev.Type))
			if ev.MAC != "" {
				t.Errorf("%s event of a block by address has MAC %q", ev.Type, ev.MAC)
			}
			if !strings.Contains(ev.Message, "192.0.2.7") || strings.Contains(ev.Message, "00:00:00:00:00:00") {
				t.Errorf("%s event message %q does not name the address alone", ev.Type, ev.Message)
			}
		}
		e.Advance()
	}
	if len(seen) != 2 {
		t.Errorf("events blocked and unblocked expected, got %v", seen)
	}
}
