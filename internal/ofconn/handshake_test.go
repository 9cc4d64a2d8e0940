package ofconn

import (
	"errors"
	"testing"

	"portcullis/ofp"
)

func TestNegotiate(t *testing.T) {
	bitmap := func(header uint8, versions ...uint8) *ofp.Hello {
		h := ofp.NewHello(versions...)
		h.HeaderVersion = header
		return h
	}
	tests := []struct {
		name  string
		hello *ofp.Hello
		offer uint8
		ok    bool
	}{
		{"of13-bitmap", bitmap(4, 4), 4, true},
		{"of10-13-bitmap", bitmap(4, 1, 4), 4, true},
		{"of15-bitmap-with-13", bitmap(6, 4, 5, 6), 6, true},
		{"of15-bitmap-without-13", bitmap(6, 5, 6), 6, false},
		{"of10-only-bitmap", bitmap(1, 1), 1, false},
		{"of10-no-bitmap", &ofp.Hello{HeaderVersion: 1}, 1, false},
		{"of12-no-bitmap", &ofp.Hello{HeaderVersion: 3}, 3, false},
		{"of13-no-bitmap", &ofp.Hello{HeaderVersion: 4}, 4, true},
		{"of14-no-bitmap", &ofp.Hello{HeaderVersion: 5}, 5, true},
		{"other-element-only", &ofp.Hello{HeaderVersion: 4, Elements: []ofp.HelloElement{{Type: 7, Data: []byte{1, 2, 3, 4}}}}, 4, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			offer, ok := negotiate(tt.hello)
			if offer != tt.offer || ok != tt.ok {
				t.Errorf("negotiate = %d, %v; want %d, %v", offer, ok, tt.offer, tt.ok)
			}
		})
	}
}

// hsStep is one message fed to the handshake and what must come out.
type hsStep struct {
	xid      uint32
	m        ofp.Message
	out      []ofp.Type
	consumed bool
	done     bool
	errStage string // non-empty: a *HandshakeError at this stage
}

func TestHandshakeMachine(t *testing.T) {
	const feat, ports = 10, 11
	part := func(more bool, ps ...ofp.Port) *ofp.MultipartReply {
		r := &ofp.MultipartReply{Body: &ofp.PortDescReply{Ports: ps}}
		if more {
			r.Flags = ofp.MultipartReplyMore
		}
		return r
	}
	p1, p2 := ofp.Port{PortNo: 1, Name: "a"}, ofp.Port{PortNo: 2, Name: "b"}
	hello13 := &ofp.Hello{HeaderVersion: 4}
	fr := &ofp.FeaturesReply{DatapathID: 42, NTables: 3}
	requests := []ofp.Type{ofp.TypeFeaturesRequest, ofp.TypeSetConfig, ofp.TypeMultipartRequest}

	tests := []struct {
		name  string
		steps []hsStep
		ports int
	}{
		{"in-order", []hsStep{
			{1, hello13, requests, true, false, ""},
			{feat, fr, nil, true, false, ""},
			{ports, part(true, p1), nil, true, false, ""},
			{ports, part(false, p2), nil, true, true, ""},
		}, 2},
		{"ports-before-features", []hsStep{
			{1, hello13, requests, true, false, ""},
			{ports, part(false, p1, p2), nil, true, false, ""},
			{feat, fr, nil, true, true, ""},
		}, 2},
		{"async-during-handshake", []hsStep{
			{1, hello13, requests, true, false, ""},
			{0, &ofp.PacketIn{}, nil, false, false, ""},
			{0, &ofp.PortStatus{}, nil, false, false, ""},
			{feat, fr, nil, true, false, ""},
			{ports, part(false), nil, true, true, ""},
		}, 0},
		{"incompatible", []hsStep{
			{1, &ofp.Hello{HeaderVersion: 1}, []ofp.Type{ofp.TypeError}, true, false, "hello"},
		}, 0},
		{"not-hello-first", []hsStep{
			{1, &ofp.FeaturesReply{}, nil, true, false, "hello"},
		}, 0},
		{"features-error", []hsStep{
			{1, hello13, requests, true, false, ""},
			{feat, &ofp.Error{ErrType: ofp.ErrTypeBadRequest}, nil, true, false, "features"},
		}, 0},
		{"ports-error", []hsStep{
			{1, hello13, requests, true, false, ""},
			{ports, &ofp.Error{ErrType: ofp.ErrTypeBadRequest}, nil, true, false, "ports"},
		}, 0},
		{"ports-wrong-body", []hsStep{
			{1, hello13, requests, true, false, ""},
			{ports, &ofp.MultipartReply{Body: &ofp.DescReply{}}, nil, true, false, "ports"},
		}, 0},
		{"features-reply-wrong-xid", []hsStep{
			{1, hello13, requests, true, false, ""},
			{99, fr, nil, false, false, ""},
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := handshake{missSendLen: 0xffff, featuresXID: feat, portsXID: ports}
			if start := hs.start(5); len(start) != 1 || start[0].m.Type() != ofp.TypeHello || start[0].xid != 5 {
				t.Fatalf("start = %v", start)
			}
			for i, st := range tt.steps {
				h := ofp.Header{Version: 4, Type: st.m.Type(), Xid: st.xid}
				if hello, ok := st.m.(*ofp.Hello); ok {
					h.Version = hello.HeaderVersion
				}
				out, consumed, err := hs.input(h, st.m)
				var types []ofp.Type
				for _, o := range out {
					types = append(types, o.m.Type())
				}
				if !equalTypes(types, st.out) || consumed != st.consumed || hs.done() != st.done {
					t.Fatalf("step %d (%v): out %v consumed %v done %v; want %v %v %v",
						i, h.Type, types, consumed, hs.done(), st.out, st.consumed, st.done)
				}
				var he *HandshakeError
				switch {
				case st.errStage == "" && err != nil:
					t.Fatalf("step %d: %v", i, err)
				case st.errStage != "" && (!errors.As(err, &he) || he.Stage != st.errStage):
					t.Fatalf("step %d: err %v, want a handshake error at %s", i, err, st.errStage)
				}
			}
			if hs.done() {
				if hs.features.DatapathID != 42 || len(hs.ports) != tt.ports {
					t.Errorf("features %+v, %d ports; want dpid 42, %d ports", hs.features, len(hs.ports), tt.ports)
				}
			}
		})
	}
}

func TestHandshakeRequests(t *testing.T) {
	hs := handshake{missSendLen: 1234, featuresXID: 10, portsXID: 11}
	out, _, err := hs.input(ofp.Header{Version: 4, Type: ofp.TypeHello, Xid: 1}, &ofp.Hello{HeaderVersion: 4})
	if err != nil || len(out) != 3 {
		t.Fatalf("out %v, err %v", out, err)
	}
	if out[0].xid != 10 || out[2].xid != 11 {
		t.Errorf("xids %d, %d; want 10, 11", out[0].xid, out[2].xid)
	}
	if sc := out[1].m.(*ofp.SetConfig); sc.MissSendLen != 1234 {
		t.Errorf("SET_CONFIG miss_send_len %d, want 1234", sc.MissSendLen)
	}
	if mp := out[2].m.(*ofp.MultipartRequest); mp.Body.MultipartType() != ofp.MultipartPortDesc {
		t.Errorf("multipart request for %v", mp.Body.MultipartType())
	}
	if !hs.owns(10) || !hs.owns(11) || hs.owns(12) {
		t.Error("owns: wrong xids")
	}
}

func TestHelloFailedMessage(t *testing.T) {
	hs := handshake{featuresXID: 10, portsXID: 11}
	out, _, err := hs.input(ofp.Header{Version: 1, Type: ofp.TypeHello, Xid: 3}, &ofp.Hello{HeaderVersion: 1})
	if !errors.Is(err, ErrIncompatible) {
		t.Fatalf("err = %v, want ErrIncompatible", err)
	}
	e := out[0].m.(*ofp.Error)
	if out[0].xid != 3 || e.ErrType != ofp.ErrTypeHelloFailed || e.Code != ofp.HelloFailedIncompatible || len(e.Data) == 0 {
		t.Errorf("HELLO_FAILED = xid %d %v data %q", out[0].xid, e, e.Data)
	}
}

func equalTypes(a, b []ofp.Type) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.Listen != ":6653" || c.MaxMessageLen != 65535 || c.MissSendLen != 0xffff || c.WriteQueue <= 0 ||
		c.EchoInterval <= 0 || c.EchoTimeout <= 0 || c.HandshakeTimeout <= 0 || c.SeenDPIDs <= 0 {
		t.Errorf("defaults = %+v", c)
	}
	if c := (Config{MaxMessageLen: 1 << 20}).withDefaults(); c.MaxMessageLen != 65535 {
		t.Errorf("MaxMessageLen above the wire limit kept: %d", c.MaxMessageLen)
	}
}
