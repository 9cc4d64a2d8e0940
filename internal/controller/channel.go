package controller

import (
	"net"

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
	c.bus.Publish(event.Event{Type: event.SwitchRefused, DPID: err.DPID, IP: ip, Reason: err.Reason, Message: msg})
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
