package ofconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"
)

// Config is the listener and session configuration. Zero fields take the
// defaults documented on each field.
type Config struct {
	Listen string      // address to listen on; default ":6653" (IANA OpenFlow port)
	TLS    *tls.Config // nil = plain TCP; see ServerTLSConfig

	EchoInterval     time.Duration // idle time before we send ECHO_REQUEST; default 5s
	EchoTimeout      time.Duration // unanswered echo => dead switch; default 15s
	HandshakeTimeout time.Duration // TLS + OpenFlow handshake; default 10s
	WriteTimeout     time.Duration // one Write of a drained batch; default 10s

	WriteQueue    int    // messages queued per session before ErrQueueFull; default 4096
	MaxMessageLen int    // longest message accepted; default and maximum 65535
	MissSendLen   uint16 // SET_CONFIG miss_send_len; default 0xffff (OVS does not buffer)

	// SeenDPIDs bounds the memory of datapaths that connected before
	// (for Session.Reconnect); default 65536, oldest forgotten first.
	SeenDPIDs int

	// ProbeTimeout bounds the echo that settles a claim on a datapath id
	// held by a connected session: that session is sent an ECHO_REQUEST,
	// and if it answers within ProbeTimeout the new connection is refused
	// (RefusedError, ErrDPIDInUse); if not, the old session is closed
	// (ErrReplaced) and the new one takes over. Default 2s, at most
	// EchoTimeout.
	ProbeTimeout time.Duration

	// Identities maps datapath ids to the identity the switch's TLS
	// certificate must carry to claim them: its subject common name, one
	// of its DNS names or one of its URIs (see CarriesIdentity). A switch
	// that claims a mapped datapath id without that identity is refused
	// (ErrIdentity). Read-only once the server runs. Needs TLS: without a
	// certificate to check, a mapped datapath id is always refused.
	Identities map[uint64]string
	// RequireIdentity refuses, too, every switch whose datapath id has no
	// entry in Identities.
	RequireIdentity bool
}

// Defaults used for zero Config fields.
const (
	DefaultListen           = ":6653"
	DefaultEchoInterval     = 5 * time.Second
	DefaultEchoTimeout      = 15 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultWriteQueue       = 4096
	DefaultMaxMessageLen    = 65535
	DefaultMissSendLen      = 0xffff
	DefaultSeenDPIDs        = 65536
	DefaultProbeTimeout     = 2 * time.Second
)

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.EchoInterval <= 0 {
		c.EchoInterval = DefaultEchoInterval
	}
	if c.EchoTimeout <= 0 {
		c.EchoTimeout = DefaultEchoTimeout
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.WriteQueue <= 0 {
		c.WriteQueue = DefaultWriteQueue
	}
	if c.MaxMessageLen <= 0 || c.MaxMessageLen > DefaultMaxMessageLen {
		c.MaxMessageLen = DefaultMaxMessageLen
	}
	if c.MaxMessageLen < 8 {
		c.MaxMessageLen = 8
	}
	if c.MissSendLen == 0 {
		c.MissSendLen = DefaultMissSendLen
	}
	if c.SeenDPIDs <= 0 {
		c.SeenDPIDs = DefaultSeenDPIDs
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = DefaultProbeTimeout
	}
	c.ProbeTimeout = min(c.ProbeTimeout, c.EchoTimeout)
	return c
}

// ServerTLSConfig returns a mutual-TLS configuration for the listener: the
// controller presents certFile/keyFile, and every switch must present a
// client certificate signed by a CA in caFile (TLS 1.2 or later). A switch
// without such a certificate is refused during the TLS handshake, and the
// server logs why.
func ServerTLSConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("ofconn: TLS certificate: %w", err)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("ofconn: TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("ofconn: TLS CA %s: %w", caFile, errNoPEMCerts)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

var errNoPEMCerts = errors.New("no PEM certificates found")
