package detect

import (
	"strings"
	"testing"
	"time"
)

// A port's SYN counter read once a second, as the controller polls it.
func TestFloodDecidesAfterSustain(t *testing.T) {
	f := NewFlood(FloodConfig{SYNRate: 2000, Sustain: 2 * time.Second})
	k := PortKey{DPID: 1, Port: 3}
	t0 := time.Unix(1000, 0)
	if s := f.Sample(t0, k, 50); s.Decided || s.Rate != 0 {
		t.Fatalf("first reading: %+v", s)
	}
	// 1 s at 30 000 SYN/s: over the threshold, but not yet for 2 s.
	s := f.Sample(t0.Add(time.Second), k, 30_050)
	if s.Decided || s.Rate != 30_000 || !s.Since.Equal(t0) {
		t.Fatalf("after 1 s of flood: %+v", s)
	}
	s = f.Sample(t0.Add(2*time.Second), k, 60_050)
	if !s.Decided {
		t.Fatalf("after 2 s of flood: not decided: %+v", s)
	}
	if r := f.Reason(k, s, t0.Add(2*time.Second)); !strings.Contains(r, "30000 SYNs/s") || !strings.Contains(r, "port 3") {
		t.Errorf("reason %q", r)
	}
	// Decided once per episode.
	if s := f.Sample(t0.Add(3*time.Second), k, 90_050); s.Decided {
		t.Fatalf("decided twice in one episode: %+v", s)
	}
	// The flood stops (the station is blocked): the episode ends once.
	if s := f.Sample(t0.Add(4*time.Second), k, 90_060); !s.Ended || s.Decided {
		t.Fatalf("after the flood: %+v", s)
	}
	if s := f.Sample(t0.Add(5*time.Second), k, 90_070); s.Ended {
		t.Fatalf("ended twice: %+v", s)
	}
	// A new episode decides again, once: over the threshold from the
	// reading at 5 s, so at 7 s.
	var decided []int
	for i, n := range []uint64{200_000, 300_000, 400_000, 500_000} {
		if f.Sample(t0.Add(time.Duration(6+i)*time.Second), k, n).Decided {
			decided = append(decided, 6+i)
		}
	}
	if len(decided) != 1 || decided[0] != 7 {
		t.Fatalf("second episode decided at seconds %v, want [7]", decided)
	}
}

// A busy benign client: hundreds of connections a second, bursts of
// thousands for less than the sustain time. Never a flood.
func TestFloodBusyClientIsNotAFlood(t *testing.T) {
	f := NewFlood(FloodConfig{SYNRate: 2000, Sustain: 2 * time.Second})
	k := PortKey{DPID: 1, Port: 1}
	t0 := time.Unix(0, 0)
	var n uint64
	for i := range 120 {
		switch {
		case i%10 == 5:
			n += 5000 // a one-second burst
		default:
			n += 800
		}
		if s := f.Sample(t0.Add(time.Duration(i)*time.Second), k, n); s.Decided {
			t.Fatalf("second %d: decided at %.0f SYN/s", i, s.Rate)
		}
	}
}

// A reading lower than the previous (the counter flow was re-added after a
// reconnect) restarts the count instead of wrapping to a huge rate.
func TestFloodCounterRestart(t *testing.T) {
	f := NewFlood(FloodConfig{SYNRate: 2000, Sustain: time.Second})
	k := PortKey{DPID: 1, Port: 1}
	t0 := time.Unix(0, 0)
	f.Sample(t0, k, 1_000_000)
	if s := f.Sample(t0.Add(time.Second), k, 10); s.Decided || s.Rate != 0 {
		t.Fatalf("restart read as %+v", s)
	}
	if s := f.Sample(t0.Add(2*time.Second), k, 100); s.Decided || s.Rate != 90 {
		t.Fatalf("after restart: %+v", s)
	}
}

// Polls come late or early: the rate is per second of real time, and a
// gap over the threshold counts from the previous reading.
func TestFloodIrregularPolls(t *testing.T) {
	f := NewFlood(FloodConfig{SYNRate: 1000, Sustain: 2 * time.Second})
	k := PortKey{DPID: 2, Port: 7}
	t0 := time.Unix(0, 0)
	f.Sample(t0, k, 0)
	s := f.Sample(t0.Add(2500*time.Millisecond), k, 5000) // 2000/s for 2.5 s
	if !s.Decided || s.Rate != 2000 {
		t.Fatalf("one late poll over 2.5 s at 2000/s: %+v", s)
	}
	f2 := NewFlood(FloodConfig{SYNRate: 1000, Sustain: 2 * time.Second})
	f2.Sample(t0, k, 0)
	if s := f2.Sample(t0.Add(2500*time.Millisecond), k, 2000); s.Decided {
		t.Fatalf("800/s decided: %+v", s)
	}
}

// Off, and bounded: a zero rate never decides; MaxPorts caps the table.
func TestFloodOffAndBounded(t *testing.T) {
	off := NewFlood(FloodConfig{})
	k := PortKey{DPID: 1, Port: 1}
	for i := range 10 {
		if s := off.Sample(time.Unix(int64(i), 0), k, uint64(i)*1e6); s.Decided || s.Rate != 0 {
			t.Fatalf("off decided: %+v", s)
		}
	}
	f := NewFlood(FloodConfig{SYNRate: 1000, Sustain: time.Second, MaxPorts: 64})
	for i := range 10_000 {
		f.Sample(time.Unix(0, 0), PortKey{DPID: uint64(i), Port: 1}, 0)
	}
	if f.Len() > 64 {
		t.Fatalf("%d ports tracked, cap 64", f.Len())
	}
}

// A switch that reconnects starts its counters at zero: its ports' episodes
// start over and must hold for Sustain again. Rearm lets a decision the
// caller could not act on come again Sustain later.
func TestFloodReconnectAndRearm(t *testing.T) {
	f := NewFlood(FloodConfig{SYNRate: 1000, Sustain: 2 * time.Second})
	k := PortKey{DPID: 1, Port: 1}
	other := PortKey{DPID: 2, Port: 1}
	t0 := time.Unix(0, 0)
	f.Sample(t0, k, 0)
	f.Sample(t0, other, 0)
	f.Sample(t0.Add(time.Second), k, 50_000) // over the threshold since t0
	f.ForgetSwitch(1)
	if f.Len() != 1 {
		t.Fatalf("%d ports after forgetting switch 1, want the other switch's", f.Len())
	}
	// After the reconnect: a fresh baseline, then 1 s over: not yet.
	f.Sample(t0.Add(2*time.Second), k, 10)
	if s := f.Sample(t0.Add(3*time.Second), k, 50_000); s.Decided {
		t.Fatalf("decided 1 s into the episode after a reconnect: %+v", s)
	}
	s := f.Sample(t0.Add(4*time.Second), k, 100_000)
	if !s.Decided {
		t.Fatalf("not decided after 2 s: %+v", s)
	}
	f.Rearm(t0.Add(4*time.Second), k)
	if s := f.Sample(t0.Add(5*time.Second), k, 150_000); s.Decided {
		t.Fatalf("decided 1 s after Rearm: %+v", s)
	}
	if s := f.Sample(t0.Add(6*time.Second), k, 200_000); !s.Decided {
		t.Fatalf("not decided again 2 s after Rearm: %+v", s)
	}
	// A counter that restarts mid-episode ends it.
	f.Sample(t0.Add(7*time.Second), k, 5)
	if s := f.Sample(t0.Add(8*time.Second), k, 50_000); s.Decided || !s.Since.Equal(t0.Add(7*time.Second)) {
		t.Fatalf("after a counter restart: %+v", s)
	}
}
