package ofconn

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"

	"portcullis/ofp"
)

// A switch claims its datapath id in its FEATURES_REPLY, and nothing in
// OpenFlow proves the claim. Two checks run once the handshake is done and
// before Handler.Connected:
//
//   - identity (TLS only): with Config.Identities, the switch's certificate
//     must carry the identity mapped to the datapath id; with
//     Config.RequireIdentity, an unmapped datapath id is refused too.
//   - possession (Server.admit): a datapath id held by a session that still
//     answers an echo is not handed to a new connection.
//
// A refused switch gets OFPT_ERROR OFPET_HELLO_FAILED/OFPHFC_EPERM with a
// short ASCII reason and is closed. HELLO_FAILED is the spec's error for a
// connection set-up the controller rejects (OpenFlow 1.3.5 section 7.4.4.1
// "Error Message": "Hello protocol failed", data "an ASCII text string that
// may give failure details"), and EPERM ("Permissions error") names the
// cause: the switch may not take this datapath id. Open vSwitch logs the
// error and retries the connection with its backoff.

// checkIdentity checks the certificate of the switch against the identity
// configured for its datapath id. It returns nil or a *RefusedError.
func (s *Session) checkIdentity() *RefusedError {
	want, mapped := s.cfg.Identities[s.dpid]
	if !mapped && !s.cfg.RequireIdentity {
		return nil
	}
	if !mapped {
		return &RefusedError{DPID: s.dpid, Reason: RefusedIdentityRequired,
			Err: fmt.Errorf("%w: no identity is configured for the datapath id", ErrIdentity)}
	}
	var cert *x509.Certificate
	if tc, ok := s.conn.(*tls.Conn); ok {
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			cert = certs[0]
		}
	}
	if cert == nil || !CarriesIdentity(cert, want) {
		return &RefusedError{DPID: s.dpid, Reason: RefusedIdentityMismatch, Err: ErrIdentity}
	}
	return nil
}

// CarriesIdentity reports whether cert names id: as its subject common
// name, one of its DNS names (compared without regard to case), or one of
// its URIs. Exact matches only: no wildcards.
func CarriesIdentity(cert *x509.Certificate, id string) bool {
	if id == "" {
		return false
	}
	if cert.Subject.CommonName == id {
		return true
	}
	for _, n := range cert.DNSNames {
		if strings.EqualFold(n, id) {
			return true
		}
	}
	for _, u := range cert.URIs {
		if u.String() == id {
			return true
		}
	}
	return false
}

// certNames lists the identities cert carries, for log lines (bounded).
func certNames(cert *x509.Certificate) []string {
	const most = 8
	var out []string
	if cert.Subject.CommonName != "" {
		out = append(out, "CN="+cert.Subject.CommonName)
	}
	for _, n := range cert.DNSNames {
		out = append(out, "DNS:"+n)
	}
	for _, u := range cert.URIs {
		out = append(out, "URI:"+u.String())
	}
	if len(out) > most {
		out = append(out[:most], "...")
	}
	return out
}

// refuse ends a session whose switch may not take its datapath id: a log
// line, the OFPT_ERROR, the counter and the handler's Refused. It returns
// err, the session's error.
func (s *Session) refuse(xid uint32, err *RefusedError) error {
	s.srv.refused.Add(1)
	var why string
	attrs := []any{"reason", err.Reason}
	switch err.Reason {
	case RefusedDPIDInUse:
		why = "datapath id " + FormatDPID(err.DPID) + " is held by a live session"
		s.log.Warn("switch refused: its datapath id is held by a live session that answers echo",
			append(attrs, "held_by", addrString(err.HeldBy))...)
	case RefusedIdentityRequired:
		why = "no certificate identity is configured for datapath id " + FormatDPID(err.DPID)
		s.log.Warn("switch refused: no certificate identity is configured for its datapath id, and one is required",
			append(attrs, "certificate", s.peerNames())...)
	default:
		why = "the certificate does not carry the identity of datapath id " + FormatDPID(err.DPID)
		s.log.Warn("switch refused: its certificate does not carry the identity configured for its datapath id",
			append(attrs, "certificate", s.peerNames())...)
	}
	s.closeAfter(err, []outMsg{{xid, &ofp.Error{
		ErrType: ofp.ErrTypeHelloFailed,
		Code:    ofp.HelloFailedEPerm,
		Data:    []byte("portcullis: refused: " + why),
	}}})
	if h, ok := s.srv.handler.(RefusalHandler); ok {
		h.Refused(s.remote, err)
	}
	return err
}

// peerNames lists the identities of the switch's certificate, or says it
// has none.
func (s *Session) peerNames() string {
	tc, ok := s.conn.(*tls.Conn)
	if !ok {
		return "none (plain TCP)"
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "none"
	}
	return strings.Join(certNames(certs[0]), ", ")
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
