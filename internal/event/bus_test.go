package event

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

func ids(es []Event) string {
	s := ""
	for i, e := range es {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprint(e.ID)
	}
	return s
}

func TestPublishStamps(t *testing.T) {
	b := NewBus(8)
	e1 := b.Publish(Event{Type: ScanDetected})
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e2 := b.Publish(Event{Type: SwitchUp, Time: at, Severity: SeverityDebug, ID: 999})
	if e1.ID != 1 || e2.ID != 2 {
		t.Fatalf("IDs = %d, %d; want 1, 2 (Publish assigns IDs even if set)", e1.ID, e2.ID)
	}
	if e1.Time.IsZero() || !e2.Time.Equal(at) {
		t.Fatalf("times = %v, %v", e1.Time, e2.Time)
	}
	if e1.Severity != SeverityWarning || e2.Severity != SeverityDebug {
		t.Fatalf("severities = %q, %q", e1.Severity, e2.Severity)
	}
	if b.LastID() != 2 || b.Stats().Published != 2 {
		t.Fatalf("LastID %d, stats %+v", b.LastID(), b.Stats())
	}
}

func TestRecentFilter(t *testing.T) {
	b := NewBus(100)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		ty := SwitchUp
		if i%2 == 1 {
			ty = Blocked
		}
		b.Publish(Event{Type: ty, Time: t0.Add(time.Duration(i) * time.Minute)})
	}
	tests := []struct {
		name string
		f    Filter
		want string
	}{
		{"all", Filter{}, "1,2,3,4,5,6,7,8,9,10"},
		{"type", Filter{Types: []Type{Blocked}}, "2,4,6,8,10"},
		{"two types", Filter{Types: []Type{Blocked, SwitchUp}}, "1,2,3,4,5,6,7,8,9,10"},
		{"unknown type", Filter{Types: []Type{Unblocked}}, ""},
		{"since", Filter{Since: t0.Add(7 * time.Minute)}, "8,9,10"},
		{"until is exclusive", Filter{Until: t0.Add(2 * time.Minute)}, "1,2"},
		{"since+until", Filter{Since: t0.Add(3 * time.Minute), Until: t0.Add(5 * time.Minute)}, "4,5"},
		{"after id", Filter{AfterID: 7}, "8,9,10"},
		{"before id", Filter{BeforeID: 3}, "1,2"},
		{"limit keeps oldest", Filter{Limit: 3}, "1,2,3"},
		{"limit newest", Filter{Limit: 3, Newest: true}, "8,9,10"},
		{"limit after id pages forward", Filter{AfterID: 2, Limit: 3}, "3,4,5"},
		{"limit before id pages back", Filter{BeforeID: 6, Limit: 2, Newest: true}, "4,5"},
		{"type+limit newest", Filter{Types: []Type{SwitchUp}, Limit: 2, Newest: true}, "7,9"},
		{"type+limit", Filter{Types: []Type{SwitchUp}, Limit: 2}, "1,3"},
	}
	for _, tc := range tests {
		if got := ids(b.Recent(tc.f)); got != tc.want {
			t.Errorf("%s: Recent = [%s], want [%s]", tc.name, got, tc.want)
		}
	}
	if got := b.Recent(Filter{Types: []Type{Unblocked}}); got == nil {
		t.Error("Recent returned nil instead of an empty slice (the API encodes it as [])")
	}
}

func TestRingKeepsLastN(t *testing.T) {
	b := NewBus(4)
	for range 10 {
		b.Publish(Event{Type: SwitchUp})
	}
	if got := ids(b.Recent(Filter{})); got != "7,8,9,10" {
		t.Fatalf("ring = [%s], want [7,8,9,10]", got)
	}
	if got := ids(b.Recent(Filter{AfterID: 2, Limit: 2})); got != "7,8" {
		t.Fatalf("paging past the ring start = [%s], want [7,8]", got)
	}
	if NewBus(0) == nil || cap(NewBus(0).ring) != DefaultRingSize {
		t.Fatal("NewBus(0) does not use DefaultRingSize")
	}
}

func TestSubscribeInOrder(t *testing.T) {
	b := NewBus(16)
	c, cancel := b.Subscribe(10)
	for range 5 {
		b.Publish(Event{Type: SwitchUp})
	}
	for want := uint64(1); want <= 5; want++ {
		if e := <-c; e.ID != want {
			t.Fatalf("got ID %d, want %d", e.ID, want)
		}
	}
	cancel()
	cancel() // idempotent
	if _, ok := <-c; ok {
		t.Fatal("channel not closed by cancel")
	}
	b.Publish(Event{Type: SwitchUp}) // must not panic on a closed subscriber
	if b.Stats().Subscribers != 0 {
		t.Fatalf("subscribers = %d after cancel", b.Stats().Subscribers)
	}
}

func TestSlowSubscriberDropsNotBlocks(t *testing.T) {
	b := NewBus(16)
	slow := b.Sub("slow", 2)
	fast := b.Sub("fast", 100)
	var hook []string
	b.OnDrop(func(name string, e Event) { hook = append(hook, fmt.Sprintf("%s:%d", name, e.ID)) })
	for range 50 { // would deadlock if Publish blocked on the slow subscriber
		b.Publish(Event{Type: ScanDetected})
	}
	if slow.Dropped() != 48 || fast.Dropped() != 0 {
		t.Fatalf("dropped slow=%d fast=%d, want 48, 0", slow.Dropped(), fast.Dropped())
	}
	if b.Stats().Dropped != 48 || len(hook) != 48 || hook[0] != "slow:3" {
		t.Fatalf("bus dropped %d, hook %d first %v", b.Stats().Dropped, len(hook), hook[:1])
	}
	if e := <-slow.C; e.ID != 1 {
		t.Fatalf("slow subscriber's first event = %d, want 1 (the oldest are kept)", e.ID)
	}
	if len(fast.C) != 50 {
		t.Fatalf("fast subscriber got %d events, want 50", len(fast.C))
	}
	if slow.Name() != "slow" {
		t.Fatal(slow.Name())
	}
	slow.Close()
	fast.Close()
}

func TestConcurrentPublish(t *testing.T) {
	b := NewBus(1000)
	sub := b.Sub("all", 1000)
	done := make(chan struct{})
	for range 4 {
		go func() {
			for range 100 {
				b.Publish(Event{Type: SwitchUp})
			}
			done <- struct{}{}
		}()
	}
	for range 4 {
		<-done
	}
	var last uint64
	for range 400 {
		e := <-sub.C
		if e.ID <= last {
			t.Fatalf("IDs out of order: %d after %d", e.ID, last)
		}
		last = e.ID
	}
	if got := len(b.Recent(Filter{})); got != 400 {
		t.Fatalf("ring holds %d, want 400", got)
	}
}

func TestPublishTimeUnderSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBus(4)
		start := time.Now()
		time.Sleep(time.Hour)
		e := b.Publish(Event{Type: SwitchUp})
		if got := e.Time.Sub(start); got != time.Hour {
			t.Fatalf("Publish stamped %v after start, want 1h", got)
		}
	})
}

func BenchmarkPublish(b *testing.B) {
	bus := NewBus(4096)
	sub := bus.Sub("bench", 1) // full after the first: measures the drop path too
	defer sub.Close()
	e := Event{Type: ScanDetected, Time: time.Unix(1, 0), MAC: "02:00:00:00:00:01"}
	b.ReportAllocs()
	for b.Loop() {
		bus.Publish(e)
	}
}
