package event

import "time"

// Limiter is a token bucket for alert volume: rate tokens per minute, at most
// burst saved up. Pure (time is passed in); not safe for concurrent use (each
// sink goroutine owns its own).
type Limiter struct {
	interval time.Duration // time to earn one token
	burst    float64
	tokens   float64
	last     time.Time
}

// NewLimiter returns a limiter allowing perMinute events a minute with bursts
// of up to burst (at least 1). perMinute <= 0 returns nil, which allows
// everything.
func NewLimiter(perMinute, burst int) *Limiter {
	if perMinute <= 0 {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	return &Limiter{interval: time.Minute / time.Duration(perMinute), burst: float64(burst), tokens: float64(burst)}
}

func (l *Limiter) refill(now time.Time) {
	if l.last.IsZero() {
		l.last = now
		return
	}
	if d := now.Sub(l.last); d > 0 {
		l.tokens += float64(d) / float64(l.interval)
		if l.tokens > l.burst {
			l.tokens = l.burst
		}
		l.last = now
	}
}

// Allow takes a token if one is available at now. A nil Limiter allows all.
func (l *Limiter) Allow(now time.Time) bool {
	if l == nil {
		return true
	}
	l.refill(now)
	if l.tokens >= 1 {
		l.tokens--
		return true
	}
	return false
}

// Next returns how long after now the next token is earned (0 if one is
// available).
func (l *Limiter) Next(now time.Time) time.Duration {
	if l == nil {
		return 0
	}
	l.refill(now)
	if l.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - l.tokens) * float64(l.interval))
}
