package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Striped is a counter vector over a fixed list of label values, counted
// in stripes. The counters every packet-in moves (packet_ins_total,
// messages_total) are added to by every switch's reader goroutine; one
// atomic counter for all of them is a cache line that each CPU takes from
// the other at every message (an atomic add to a line another CPU wrote
// last waits for the line to move). So each session adds to a stripe of
// its own (Stripe, chosen by its number: sessions served at the same time
// on two CPUs meet in one stripe once in StripeCount), and a scrape sums
// the stripes. The stripes are whole cache lines apart.
type Striped struct {
	desc   *prometheus.Desc // nil: not a metric (Total only)
	values [][]string       // label values of each counter, in index order
	width  int              // counters per stripe, padding included
	cells  []atomic.Uint64  // StripeCount stripes of width counters
}

// StripeCount is the number of stripes of a Striped.
const StripeCount = 16

// NewStriped returns a Striped of len(values) counters with the given label
// values (desc's variable labels, in order); desc nil for counters that are
// read only through Total and Value.
func NewStriped(desc *prometheus.Desc, values [][]string) *Striped {
	const line = 8 // atomic.Uint64s per 64-byte cache line
	w := (len(values)+line-1)/line*line + line
	return &Striped{desc: desc, values: values, width: w, cells: make([]atomic.Uint64, w*StripeCount)}
}

// Stripe is the counters of one stripe, indexed as the vector's values.
type Stripe []atomic.Uint64

// Stripe returns stripe i mod StripeCount.
func (s *Striped) Stripe(i uint64) Stripe {
	off := int(i%StripeCount) * s.width
	return Stripe(s.cells[off : off+len(s.values) : off+len(s.values)])
}

// Inc adds one to counter i.
func (st Stripe) Inc(i int) { st[i].Add(1) }

// Add adds n to counter i.
func (st Stripe) Add(i int, n uint64) { st[i].Add(n) }

// Value returns counter i summed over the stripes.
func (s *Striped) Value(i int) uint64 {
	var n uint64
	for off := 0; off < len(s.cells); off += s.width {
		n += s.cells[off+i].Load()
	}
	return n
}

// Total returns the sum of every counter of every stripe.
func (s *Striped) Total() uint64 {
	var n uint64
	for i := range s.values {
		n += s.Value(i)
	}
	return n
}

// Describe implements prometheus.Collector.
func (s *Striped) Describe(ch chan<- *prometheus.Desc) {
	if s.desc != nil {
		ch <- s.desc
	}
}

// Collect implements prometheus.Collector: one counter per label values,
// summed over the stripes.
func (s *Striped) Collect(ch chan<- prometheus.Metric) {
	if s.desc == nil {
		return
	}
	for i, v := range s.values {
		ch <- prometheus.MustNewConstMetric(s.desc, prometheus.CounterValue, float64(s.Value(i)), v...)
	}
}
