package event

import (
	"context"
	"fmt"
	"time"
)

// Sink writes events somewhere outside the process. Write may block (a
// webhook retrying with backoff) but must return when ctx is done. Sinks are
// driven by Run on one goroutine each and need not be safe for concurrent use.
type Sink interface {
	Write(ctx context.Context, e Event) error
	Close() error
}

// RunOptions tune Run.
type RunOptions struct {
	// Limiter rate-limits what reaches the sink; nil allows everything.
	// Suppressed events are summarised by one events_suppressed event
	// (Count = how many) as soon as the limit allows again.
	Limiter *Limiter
	// OnError is called with every error Write returns (log it, count it).
	OnError func(err error)
}

// Run feeds sink from feed (a Subscription's C) until ctx is done or feed is
// closed, then closes the sink. Run it on its own goroutine:
//
//	sub := bus.Sub("syslog", 256)
//	go event.Run(ctx, sub.C, sink, event.RunOptions{Limiter: event.NewLimiter(60, 60)})
func Run(ctx context.Context, feed <-chan Event, sink Sink, opt RunOptions) {
	defer sink.Close()
	var suppressed int
	var timer *time.Timer
	var timerC <-chan time.Time
	write := func(e Event) {
		if err := sink.Write(ctx, e); err != nil && opt.OnError != nil {
			opt.OnError(err)
		}
	}
	flush := func(now time.Time) {
		if suppressed == 0 {
			return
		}
		write(Event{
			Time: now, Type: EventsSuppressed, Severity: DefaultSeverity(EventsSuppressed),
			Count:   suppressed,
			Message: fmt.Sprintf("%d events suppressed by the alert rate limit", suppressed),
		})
		suppressed = 0
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-feed:
			if !ok {
				// Best effort: say what was lost before going away.
				flush(time.Now())
				return
			}
			now := time.Now()
			if !opt.Limiter.Allow(now) {
				suppressed++
				if timerC == nil {
					d := opt.Limiter.Next(now)
					if timer == nil {
						timer = time.NewTimer(d)
					} else {
						timer.Reset(d)
					}
					timerC = timer.C
				}
				continue
			}
			flush(now) // the summary rides on the token this event earned
			write(e)
		case <-timerC:
			timerC = nil
			now := time.Now()
			if suppressed > 0 {
				if opt.Limiter.Allow(now) {
					flush(now)
				} else {
					timer.Reset(opt.Limiter.Next(now))
					timerC = timer.C
				}
			}
		}
	}
}
