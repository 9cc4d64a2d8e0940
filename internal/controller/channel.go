package controller

import (
	"fmt"
	"net"
	"sync"
	"time"

	"portcullis/internal/event"
	"portcullis/internal/ofconn"
)

// Refused publishes a switch_refused event for a connection that claimed a
// datapath id it may not take (ofconn.RefusalHandler; ofconn logged it).
func (c *Controller) Refused(remote net.Addr, err *ofconn.RefusedError) {
	ip := ""
	if ta, ok := remote.(*net.TCPAddr); ok {
		ip = ta.IP.String()
	}
	msg := "refused a connection from " + remote.String() + " claiming datapath " + fmtDPID(err.DPID) + ": "
	switch err.Reason {
	case ofconn.RefusedDPIDInUse:
		msg += "the datapath id is held by a live session"
		if err.HeldBy != nil {
			msg += " from " + err.HeldBy.String()
		}
	case ofconn.RefusedIdentityRequired:
		msg += "no certificate identity is configured for it (tls.require_identity)"
	default:
		msg += "its certificate does not carry the identity configured in tls.switch_identities"
	}
	ok, missed := c.refusals.allow(c.now())
	if !ok {
		return // logged by ofconn and counted in the metric
	}
	if missed > 0 {
		msg += fmt.Sprintf(" (%d earlier refusals not reported as events: more than %d a minute; see the log and portcullis_openflow_switches_refused_total)",
			missed, refusalEventsPerMinute)
	}
	c.bus.Publish(event.Event{Type: event.SwitchRefused, DPID: err.DPID, IP: ip, Reason: err.Reason, Message: msg})
}

// refusalEventsPerMinute bounds switch_refused events (bursts of as many).
const refusalEventsPerMinute = 10

// refusalEvents bounds the switch_refused events that refused connections
// publish. Any client that reaches the OpenFlow port can cause a refusal;
// unbounded, a loop of them would push other events out of the history and
// spend the sinks' alert budget (notify.alert_rate) that scan and block
// events need. Safe for concurrent use; the zero value is ready.
type refusalEvents struct {
	mu     sync.Mutex
	lim    *event.Limiter // made on first use; Must hold mu
	missed int            // refusals not published since the last event; Must hold mu
}

// allow reports whether a refusal at now may be an event, and how many
// were not since the last one that was.
func (r *refusalEvents) allow(now time.Time) (ok bool, missed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lim == nil {
		r.lim = event.NewLimiter(refusalEventsPerMinute, refusalEventsPerMinute)
	}
	if !r.lim.Allow(now) {
		r.missed++
		return false, 0
	}
	missed, r.missed = r.missed, 0
	return true, missed
}

// warnPlaintext warns when switches reach the OpenFlow listener over plain
// TCP on an address other hosts can reach: anyone on the path can read and
// forge the channel, and any client can claim any datapath id that is not
// connected.
func (c *Controller) warnPlaintext() {
	if c.cfg.TLS.Enabled() {
		return
	}
	ta, ok := c.srv.Addr().(*net.TCPAddr)
	if !ok || ta.IP.IsLoopback() {
		return
	}
	c.log.Warn("OpenFlow is plain TCP on a non-loopback address: anyone who reaches it can read the channel and claim the datapath id of any switch not connected; use TLS with tls.switch_identities (docs/tls.md)",
		"openflow", ta.String())
}
