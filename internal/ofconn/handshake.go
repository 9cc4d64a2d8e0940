package ofconn

import (
	"errors"
	"fmt"

	"portcullis/ofp"
)

// handshake is the pure state machine of the OpenFlow 1.3 handshake
// (OpenFlow 1.3.5 section 6.3.1 "Connection Setup" and 7.1 ofp_hello). The
// session feeds it every message the switch sends until done, and sends
// what it returns. It keeps no time: the session enforces the timeout.
//
//	         start: send HELLO(bitmap 1.3)
//	hsHello ---HELLO offering 1.3---> send FEATURES_REQUEST, SET_CONFIG,
//	   |                               MULTIPART_REQUEST(PORT_DESC)
//	   |                                        |
//	   |                                        v
//	   |                                   hsFeatures --FEATURES_REPLY and last
//	   |                                        |        PORT_DESC part--> hsDone
//	   +--HELLO without 1.3: send HELLO_FAILED--+--ERROR to our request--> failed
type handshake struct {
	state       hsState
	missSendLen uint16
	featuresXID uint32
	portsXID    uint32

	haveFeatures bool
	havePorts    bool
	features     ofp.FeaturesReply
	ports        []ofp.Port
	parts        []*ofp.MultipartReply
}

type hsState uint8

const (
	hsHello hsState = iota
	hsFeatures
	hsDone
	hsFailed
)

// outMsg is a message to send with its xid.
type outMsg struct {
	xid uint32
	m   ofp.Message
}

// ErrIncompatible is why a handshake fails with a switch that cannot
// speak OpenFlow 1.3.
var ErrIncompatible = errors.New("ofconn: switch does not support OpenFlow 1.3")

// start returns the messages that open the connection: our HELLO.
func (hs *handshake) start(helloXID uint32) []outMsg {
	return []outMsg{{helloXID, ofp.NewHello(ofp.Version)}}
}

// owns reports whether xid belongs to one of the handshake's requests:
// such replies must be decoded from bytes that outlive the read buffer.
func (hs *handshake) owns(xid uint32) bool {
	return hs.state == hsFeatures && (xid == hs.featuresXID || xid == hs.portsXID)
}

// done reports whether the handshake has completed.
func (hs *handshake) done() bool { return hs.state == hsDone }

// negotiate reports whether the peer's HELLO lets both sides speak
// OpenFlow 1.3 (OpenFlow 1.3.5 section 6.3.1 "Connection Setup": with
// version bitmaps on both sides, the highest version in both; otherwise
// the smaller of the header versions), and the highest version it offers.
func negotiate(hello *ofp.Hello) (offer uint8, ok bool) {
	for _, e := range hello.Elements {
		if e.Type == ofp.HelloElemVersionBitmap {
			return highest(e.Bitmaps), hello.Supports(ofp.Version)
		}
	}
	return hello.HeaderVersion, hello.HeaderVersion >= ofp.Version
}

// highest returns the highest version set in a version bitmap (0: none).
func highest(bitmaps []uint32) uint8 {
	for i := len(bitmaps) - 1; i >= 0; i-- {
		for b := 31; b >= 0; b-- {
			if bitmaps[i]&(1<<b) != 0 {
				return uint8(i*32 + b)
			}
		}
	}
	return 0
}

// input feeds one message from the switch. It returns the messages to
// send, whether the message was consumed by the handshake, and an error
// that ends the session (after sending out).
func (hs *handshake) input(h ofp.Header, m ofp.Message) (out []outMsg, consumed bool, err error) {
	switch hs.state {
	case hsHello:
		hello, ok := m.(*ofp.Hello)
		if !ok {
			hs.state = hsFailed
			return nil, true, &HandshakeError{Stage: "hello", Err: fmt.Errorf("expected OFPT_HELLO, got %v", h.Type)}
		}
		if v, ok := negotiate(hello); !ok {
			hs.state = hsFailed
			reason := fmt.Sprintf("we support OpenFlow 1.3 (version 0x04) only; peer offers version 0x%02x", v)
			return []outMsg{{h.Xid, &ofp.Error{
					ErrType: ofp.ErrTypeHelloFailed,
					Code:    ofp.HelloFailedIncompatible,
					Data:    []byte(reason),
				}}},
				true, &HandshakeError{Stage: "hello", Err: fmt.Errorf("%w: peer offers version 0x%02x", ErrIncompatible, v)}
		}
		hs.state = hsFeatures
		return []outMsg{
			{hs.featuresXID, &ofp.FeaturesRequest{}},
			{0, &ofp.SetConfig{Flags: 0, MissSendLen: hs.missSendLen}},
			{hs.portsXID, &ofp.MultipartRequest{Body: &ofp.PortDescRequest{}}},
		}, true, nil

	case hsFeatures:
		if h.Xid != hs.featuresXID && h.Xid != hs.portsXID {
			return nil, false, nil
		}
		stage := "features"
		if h.Xid == hs.portsXID {
			stage = "ports"
		}
		switch m := m.(type) {
		case *ofp.Error:
			hs.state = hsFailed
			return nil, true, &HandshakeError{Stage: stage, Err: m}
		case *ofp.FeaturesReply:
			if h.Xid != hs.featuresXID {
				break
			}
			hs.features = *m
			hs.haveFeatures = true
		case *ofp.MultipartReply:
			if h.Xid != hs.portsXID {
				break
			}
			hs.parts = append(hs.parts, m)
			if m.More() {
				break
			}
			merged, err := ofp.MergeMultipart(hs.parts)
			hs.parts = nil
			if err != nil {
				hs.state = hsFailed
				return nil, true, &HandshakeError{Stage: stage, Err: err}
			}
			pd, ok := merged.Body.(*ofp.PortDescReply)
			if !ok {
				hs.state = hsFailed
				return nil, true, &HandshakeError{Stage: stage, Err: fmt.Errorf("%w: %T to PORT_DESC request", ErrUnexpectedReply, merged.Body)}
			}
			hs.ports = pd.Ports
			hs.havePorts = true
		default:
			return nil, false, nil
		}
		if hs.haveFeatures && hs.havePorts {
			hs.state = hsDone
		}
		return nil, true, nil
	}
	return nil, false, nil
}
