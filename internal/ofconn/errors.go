package ofconn

import (
	"errors"
	"fmt"
	"net"

	"portcullis/ofp"
)

// Errors returned by Session methods and passed to Handler.Disconnected.
var (
	// ErrQueueFull is returned by Send when the session's write queue
	// holds Config.WriteQueue messages: the switch is not reading.
	ErrQueueFull = errors.New("ofconn: write queue full")
	// ErrClosed is returned by Send and Request on a closed session.
	ErrClosed = errors.New("ofconn: session closed")
	// ErrReplaced closes a session whose datapath connected again while
	// the session did not answer an echo.
	ErrReplaced = errors.New("ofconn: replaced by a new connection from the same datapath")
	// ErrDPIDInUse refuses a connection that claims the datapath id of a
	// session that still answers echoes (in a RefusedError).
	ErrDPIDInUse = errors.New("ofconn: datapath id held by a live session")
	// ErrIdentity refuses a switch whose TLS certificate does not carry
	// the identity configured for its datapath id, or whose datapath id
	// has none while one is required (in a RefusedError).
	ErrIdentity = errors.New("ofconn: certificate does not carry the datapath's identity")
	// ErrEchoTimeout closes a session whose switch did not answer an
	// echo request within Config.EchoTimeout.
	ErrEchoTimeout = errors.New("ofconn: echo timeout: switch is dead")
	// ErrServerClosed closes the sessions of a server whose context ended.
	ErrServerClosed = errors.New("ofconn: server closed")
	// ErrReplyTooLarge is returned by Request when a multipart reply
	// grows beyond what the session keeps for reassembly (64 MiB).
	ErrReplyTooLarge = errors.New("ofconn: reply too large")
	// ErrUnexpectedReply is returned by Request when the switch answered
	// with a message of a type the request does not expect.
	ErrUnexpectedReply = errors.New("ofconn: unexpected reply")
)

// ProtocolError is why a session was closed for a message that broke the
// protocol: the OFPT_ERROR type and code we sent the switch, and why.
type ProtocolError struct {
	ErrType ofp.ErrorType // OFPET_* sent to the switch
	Code    uint16        // OFP*C_* sent to the switch
	Reason  string
	Err     error // the underlying decode error, if any
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("ofconn: protocol error %v/%s: %s", e.ErrType, ofp.ErrorCodeString(e.ErrType, e.Code), e.Reason)
}

func (e *ProtocolError) Unwrap() error { return e.Err }

// HandshakeError is why a handshake failed.
type HandshakeError struct {
	Stage string // "tls", "hello", "features", "ports"
	Err   error
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("ofconn: handshake failed at %s: %v", e.Stage, e.Err)
}

func (e *HandshakeError) Unwrap() error { return e.Err }

// Reasons of a RefusedError.
const (
	RefusedDPIDInUse        = "dpid-in-use"       // a live session holds the datapath id
	RefusedIdentityMismatch = "identity-mismatch" // the certificate lacks the datapath's identity
	RefusedIdentityRequired = "identity-required" // no identity is configured for the datapath id
)

// RefusedError is why a switch was refused after its handshake: the
// datapath id it claims is held by a live session, or its certificate
// does not prove it may claim it. The switch was sent OFPT_ERROR
// OFPET_HELLO_FAILED/OFPHFC_EPERM and closed; it never reached
// Handler.Connected.
type RefusedError struct {
	DPID   uint64 // the datapath id the switch claimed
	Reason string // RefusedDPIDInUse, RefusedIdentityMismatch or RefusedIdentityRequired
	Err    error  // ErrDPIDInUse or ErrIdentity
	// HeldBy is the address of the live session that holds the datapath
	// id (RefusedDPIDInUse), nil otherwise. It is not told to the refused
	// switch.
	HeldBy net.Addr
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("ofconn: switch refused (%s): datapath %s: %v", e.Reason, FormatDPID(e.DPID), e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// PanicError is why a session was closed after a panic in its goroutines.
type PanicError struct {
	Value any
}

func (e *PanicError) Error() string { return fmt.Sprintf("ofconn: panic: %v", e.Value) }
