package bench

import (
	"context"
	"log/slog"

	"portcullis/internal/ofconn"
	"portcullis/ofp"
)

// Floor is the least an OpenFlow controller built on Portcullis's session
// layer can do: it answers every PACKET_IN with one PACKET_OUT that floods
// the frame (as ovs-testcontroller answers an unknown destination), and
// nothing else: no pipeline, no learning, no detection. Beside the
// controller in one run it says what the session layer (reads, writes,
// framing, the Go scheduler) costs on the machine at hand, and so how much
// of an answer's cost is the controller's own work (docs/BENCHMARKS.md
// "Controller at scale").
type Floor struct {
	srv *ofconn.Server
}

// NewFloor returns a floor controller that will listen on addr.
func NewFloor(addr string, log *slog.Logger) *Floor {
	f := &Floor{}
	f.srv = ofconn.NewServer(ofconn.Config{Listen: addr}, floorHandler{}, log)
	return f
}

// Listen binds the listener (Addr is known after it).
func (f *Floor) Listen() error { return f.srv.Listen() }

// Addr is the address it listens on, "" before Listen.
func (f *Floor) Addr() string {
	if a := f.srv.Addr(); a != nil {
		return a.String()
	}
	return ""
}

// Serve serves switches until ctx is done.
func (f *Floor) Serve(ctx context.Context) error { return f.srv.ListenAndServe(ctx) }

// floorSession is one switch's answer, reused: the floor allocates nothing
// per packet-in.
type floorSession struct {
	out  ofp.ActionOutput
	acts [1]ofp.Action
	po   ofp.PacketOut
	msgs [1]ofp.Message
}

type floorHandler struct{}

func (floorHandler) Connected(s *ofconn.Session) {
	fs := &floorSession{out: ofp.ActionOutput{Port: ofp.PortFlood}}
	fs.acts[0] = &fs.out
	fs.msgs[0] = &fs.po
	s.Attach(fs)
	// A barrier tells a bench switch the controller is done setting it up
	// (there is nothing to set up); its reply comes to Message, which
	// drops it.
	s.Send(&ofp.BarrierRequest{})
}

func (floorHandler) Disconnected(*ofconn.Session, error) {}

func (floorHandler) Message(s *ofconn.Session, _ uint32, m ofp.Message) {
	pi, ok := m.(*ofp.PacketIn)
	if !ok {
		return
	}
	fs, ok := s.Attached().(*floorSession)
	if !ok {
		return
	}
	port, _ := pi.Match.InPort()
	fs.po = ofp.PacketOut{BufferID: pi.BufferID, InPort: port, Actions: fs.acts[:]}
	if pi.BufferID == ofp.NoBuffer {
		fs.po.Data = pi.Data // a switch that buffered it has it whole; one that did not sent it all
	}
	s.Send(fs.msgs[:]...)
	fs.po.Data = nil // it aliased the read buffer; Send encoded it
}
