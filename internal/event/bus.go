package event

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultRingSize is the number of recent events a Bus keeps when NewBus is
// given a size <= 0.
const DefaultRingSize = 4096

// Bus fans events out to subscribers and keeps the most recent ones in a
// ring for the API. Safe for concurrent use; Publish never blocks.
type Bus struct {
	mu     sync.Mutex
	nextID uint64                           // Must hold mu.
	ring   []Event                          // Must hold mu. Fixed capacity; ring[head] is the oldest once full.
	head   int                              // Must hold mu.
	subs   map[*Subscription]struct{}       // Must hold mu.
	onDrop func(subscriber string, e Event) // Must hold mu.

	published atomic.Uint64
	dropped   atomic.Uint64
}

// NewBus returns a bus that keeps the last ringSize events.
func NewBus(ringSize int) *Bus {
	if ringSize <= 0 {
		ringSize = DefaultRingSize
	}
	return &Bus{ring: make([]Event, 0, ringSize), subs: make(map[*Subscription]struct{})}
}

// OnDrop sets a function called (with the bus lock held: keep it short, e.g.
// a counter increment) whenever an event is dropped for a slow subscriber.
func (b *Bus) OnDrop(f func(subscriber string, e Event)) {
	b.mu.Lock()
	b.onDrop = f
	b.mu.Unlock()
}

// Publish stamps e (ID always; Time and Severity if zero), stores it in the
// ring and offers it to every subscriber without blocking. It returns the
// stamped event.
func (b *Bus) Publish(e Event) Event {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if e.Severity == "" {
		e.Severity = DefaultSeverity(e.Type)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextID++
	e.ID = b.nextID
	if len(b.ring) < cap(b.ring) {
		b.ring = append(b.ring, e)
	} else {
		b.ring[b.head] = e
		b.head = (b.head + 1) % len(b.ring)
	}
	b.published.Add(1)
	for s := range b.subs {
		select {
		case s.ch <- e:
		default:
			s.dropped.Add(1)
			b.dropped.Add(1)
			if b.onDrop != nil {
				b.onDrop(s.name, e)
			}
		}
	}
	return e
}

// Filter selects events for Recent. Zero fields do not filter.
type Filter struct {
	Types    []Type    // any of these types
	Since    time.Time // Time >= Since
	Until    time.Time // Time < Until
	AfterID  uint64    // ID > AfterID
	BeforeID uint64    // ID < BeforeID
	// Limit caps the result (0: no cap): the oldest Limit matching events
	// (the next page forward from AfterID), or the newest with Newest.
	Limit int
	// Newest keeps the newest Limit matches instead of the oldest; the
	// result is still oldest first.
	Newest bool
}

func (f *Filter) match(e *Event) bool {
	if len(f.Types) > 0 && !slices.Contains(f.Types, e.Type) {
		return false
	}
	if !f.Since.IsZero() && e.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !e.Time.Before(f.Until) {
		return false
	}
	if f.AfterID != 0 && e.ID <= f.AfterID {
		return false
	}
	if f.BeforeID != 0 && e.ID >= f.BeforeID {
		return false
	}
	return true
}

// Recent returns the kept events that match f, oldest first (ascending ID).
func (b *Bus) Recent(f Filter) []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []Event{}
	n := len(b.ring)
	for i := range n {
		e := &b.ring[(b.head+i)%n]
		if !f.match(e) {
			continue
		}
		out = append(out, *e)
		if f.Limit > 0 && !f.Newest && len(out) == f.Limit {
			break
		}
	}
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[len(out)-f.Limit:]
	}
	return out
}

// LastID returns the ID of the most recently published event (0 if none).
func (b *Bus) LastID() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nextID
}

// Stats are the bus's counters.
type Stats struct {
	Published   uint64 // events published
	Dropped     uint64 // deliveries dropped because a subscriber was full (all subscribers)
	Subscribers int    // current subscriptions
}

// Stats returns the bus's counters.
func (b *Bus) Stats() Stats {
	b.mu.Lock()
	n := len(b.subs)
	b.mu.Unlock()
	return Stats{Published: b.published.Load(), Dropped: b.dropped.Load(), Subscribers: n}
}

// Subscription is one subscriber's bounded feed.
type Subscription struct {
	// C receives published events in order; it is closed by Close.
	C       <-chan Event
	ch      chan Event
	name    string
	bus     *Bus
	dropped atomic.Uint64
	once    sync.Once
}

// Sub subscribes with a named feed of buf events (at least 1). The name is
// used in OnDrop and should say who subscribes ("webhook", "api-sse").
func (b *Bus) Sub(name string, buf int) *Subscription {
	if buf < 1 {
		buf = 1
	}
	ch := make(chan Event, buf)
	s := &Subscription{C: ch, ch: ch, name: name, bus: b}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Subscribe is Sub without a name, returning the feed and its cancel
// function (idempotent; it closes the channel).
func (b *Bus) Subscribe(buf int) (<-chan Event, func()) {
	s := b.Sub("", buf)
	return s.C, s.Close
}

// Name returns the subscription's name.
func (s *Subscription) Name() string { return s.name }

// Dropped returns how many events this subscriber lost because its feed was
// full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close unsubscribes and closes C. Safe to call more than once.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.bus.mu.Lock()
		delete(s.bus.subs, s)
		close(s.ch)
		s.bus.mu.Unlock()
	})
}
