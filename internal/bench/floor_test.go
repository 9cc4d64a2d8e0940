package bench

import (
	"context"
	"io"
	"log/slog"
	"testing"
)

func startFloor(t *testing.T) string {
	t.Helper()
	f := NewFloor("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := f.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("floor: %v", err)
		}
	})
	return f.Addr()
}

// The floor answers every packet-in with one packet-out of its frame, in
// both modes and for either kind of miss, and sends no flow-mod.
func TestFloorAnswersEveryPacketIn(t *testing.T) {
	addr := startFloor(t)
	for _, c := range []struct {
		mode Mode
		miss Miss
	}{{Throughput, MissTable0}, {Latency, MissTable0}, {Latency, MissPortcullis}} {
		cfg := short(addr, 3, c.mode)
		cfg.Miss = c.miss
		rep, err := Run(t.Context(), cfg)
		if err != nil {
			t.Fatalf("%s, table %d: %v", c.mode, c.miss.Table, err)
		}
		if rep.Connected != 3 || rep.ReadyByTimeout != 0 || rep.Errors != 0 || rep.Answered == 0 {
			t.Fatalf("%s: connected %d (%d by timeout), %d errors (%s), answered %d", c.mode, rep.Connected, rep.ReadyByTimeout, rep.Errors, rep.FirstError, rep.Answered)
		}
		if rep.FlowMods != 0 || rep.PacketOuts < rep.Answered || rep.Lost != 0 {
			t.Errorf("%s: flow-mods %d, packet-outs %d, lost %d for %d answers", c.mode, rep.FlowMods, rep.PacketOuts, rep.Lost, rep.Answered)
		}
	}
}
