package bench

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"portcullis/internal/config"
	"portcullis/internal/controller"
	"portcullis/internal/packet"
	"portcullis/internal/store"
	"portcullis/ofp"
)

// startController runs a real Portcullis controller in this process and
// returns its OpenFlow address.
func startController(t *testing.T) string { return startControllerB(t) }

func startControllerB(t testing.TB) string {
	t.Helper()
	cfg := config.Default()
	cfg.Listen.OpenFlow = "127.0.0.1:0"
	cfg.API.Listen = "127.0.0.1:0"
	cfg.StateDir = t.TempDir()
	cfg.Detect.GracePeriod = 0
	c, err := controller.New(controller.Options{Config: cfg, Store: store.NewMemory(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if a := c.OpenFlowAddr(); a != nil && c.APIAddr() != nil {
			return a.String()
		}
		if time.Now().After(deadline) {
			t.Fatal("controller did not listen")
		}
	}
}

func short(addr string, n int, mode Mode) Config {
	return Config{Addr: addr, Switches: n, Mode: mode, InFlight: 8, Miss: MissPortcullis, Rounds: 2,
		Round: 100 * time.Millisecond, Warmup: 50 * time.Millisecond, Settle: 50 * time.Millisecond,
		ConnectTimeout: 20 * time.Second, PID: os.Getpid()}
}

func TestThroughputAgainstPortcullis(t *testing.T) {
	addr := startController(t)
	rep, err := Run(t.Context(), short(addr, 4, Throughput))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Connected != 4 || rep.ReadyByTimeout != 0 || rep.Errors != 0 {
		t.Fatalf("connected %d (%d by timeout), %d errors (%s); want 4 ready by their pipeline's flow-mods",
			rep.Connected, rep.ReadyByTimeout, rep.Errors, rep.FirstError)
	}
	if rep.Answered == 0 || len(rep.Rounds) != 2 || rep.Median <= 0 {
		t.Fatalf("answered %d, rounds %v: the controller's learning flows did not count as answers", rep.Answered, rep.Rounds)
	}
	// Portcullis answers a new station with two flow-mods (TableLearn and
	// TableForward) and no packet-out.
	if rep.FlowMods < 2*rep.Answered || rep.PacketOuts != 0 {
		t.Errorf("flow-mods %d packet-outs %d for %d answers", rep.FlowMods, rep.PacketOuts, rep.Answered)
	}
	if rep.Min > rep.Median || rep.Median > rep.Max {
		t.Errorf("min %v median %v max %v out of order", rep.Min, rep.Median, rep.Max)
	}
	if rep.MemConnected.RSS == 0 {
		t.Error("no resident memory read for our own pid")
	}
}

func TestLatencyAgainstPortcullis(t *testing.T) {
	addr := startController(t)
	rep, err := Run(t.Context(), short(addr, 2, Latency))
	if err != nil {
		t.Fatal(err)
	}
	if rep.InFlight != 1 || rep.Answered == 0 {
		t.Fatalf("in flight %d, answered %d", rep.InFlight, rep.Answered)
	}
	if rep.P50 <= 0 || rep.P99 < rep.P50 {
		t.Errorf("p50 %v p99 %v", rep.P50, rep.P99)
	}
}

func TestIdleAgainstPortcullis(t *testing.T) {
	addr := startController(t)
	rep, err := Run(t.Context(), short(addr, 20, Idle))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Connected != 20 || rep.Answered != 0 || rep.Errors != 0 {
		t.Fatalf("connected %d answered %d errors %d (%s)", rep.Connected, rep.Answered, rep.Errors, rep.FirstError)
	}
}

func TestNoController(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := Run(t.Context(), short(addr, 2, Throughput)); err == nil {
		t.Fatal("no error without a controller")
	}
}

// The packet-in the switches send is what the codec and the packet parser
// read back: a TableLearn miss on a rotating in_port, from the sequence's
// MAC and address.
func TestPacketInTemplate(t *testing.T) {
	r := &runner{cfg: Config{Miss: MissPortcullis}.withDefaults(), ports: ports(4)}
	e := newEmulated(r, 258)
	b := e.emit(nil, 0x0a0b0c)
	_, m, err := ofp.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	pi := m.(*ofp.PacketIn)
	if pi.TableID != MissPortcullis.Table || pi.Cookie != MissPortcullis.Cookie || pi.Reason != ofp.PacketInReasonNoMatch {
		t.Errorf("table %d cookie %#x reason %d", pi.TableID, pi.Cookie, pi.Reason)
	}
	if p, _ := pi.Match.InPort(); p != 1+0x0a0b0c%4 {
		t.Errorf("in_port %d", p)
	}
	var p packet.Packet
	if err := packet.Parse(pi.Data, &p); err != nil {
		t.Fatal(err)
	}
	if p.EthSrc != hostMAC(258, 0x0a0b0c) || p.EthDst != dstMAC || p.Src.String() != "10.10.11.12" || p.Proto != 17 {
		t.Errorf("frame %x > %x %v proto %d", p.EthSrc, p.EthDst, p.Src, p.Proto)
	}
	if ipChecksum(pi.Data[frIPOff:frIPOff+20]) != 0 {
		t.Error("bad IPv4 header checksum")
	}
}

func TestScanAnswers(t *testing.T) {
	mac := hostMAC(7, 42)
	other := [6]byte{2, 9, 9, 9, 9, 9}
	for _, tc := range []struct {
		name string
		m    ofp.Message
		want [6]byte
		ok   bool
	}{
		{"flow-mod eth_src", &ofp.FlowMod{Command: ofp.FlowAdd, Match: ofp.Match{Fields: []ofp.OXM{
			ofp.MatchInPort(3), ofp.MatchEthDst(other[:]), ofp.MatchEthSrc(mac[:])}}}, mac, true},
		{"flow-mod eth_dst", &ofp.FlowMod{Command: ofp.FlowAdd, Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchEthDst(mac[:])}}}, mac, true},
		{"flow-mod delete", &ofp.FlowMod{Command: ofp.FlowDelete, Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchEthSrc(mac[:])}}}, [6]byte{}, false},
		{"flow-mod no mac", &ofp.FlowMod{Command: ofp.FlowAdd, Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchInPort(3)}}}, [6]byte{}, false},
		{"packet-out", &ofp.PacketOut{BufferID: ofp.NoBuffer, InPort: 3, Actions: []ofp.Action{&ofp.ActionOutput{Port: ofp.PortFlood}},
			Data: append(append(other[:], mac[:]...), 8, 0)}, mac, true},
	} {
		b := ofp.Marshal(1, tc.m)
		var got [6]byte
		var ok bool
		if tc.m.Type() == ofp.TypeFlowMod {
			got, ok = flowModMAC(b)
		} else {
			got, ok = packetOutMAC(b)
		}
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: %x %v, want %x %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestHistQuantile(t *testing.T) {
	var h hist
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}} {
		got := h.quantile(tc.q)
		if d := got - tc.want; d > tc.want/32 || -d > tc.want/32 {
			t.Errorf("q%v = %v, want %v within 1/32", tc.q, got, tc.want)
		}
	}
}

// FuzzScan: the answer scanners never panic, and when the codec decodes a
// flow-mod or packet-out they agree with it.
func FuzzScan(f *testing.F) {
	mac := hostMAC(1, 1)
	f.Add(ofp.Marshal(1, &ofp.FlowMod{Command: ofp.FlowAdd, Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchEthSrc(mac[:])}}}))
	f.Add(ofp.Marshal(1, &ofp.PacketOut{BufferID: ofp.NoBuffer, Data: make([]byte, 14)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		fm, fok := flowModMAC(b)
		po, pok := packetOutMAC(b)
		_, m, err := ofp.Unmarshal(b)
		if err != nil {
			return
		}
		switch m := m.(type) {
		case *ofp.FlowMod:
			var want [6]byte
			wok := false
			if m.Command == ofp.FlowAdd {
				if o, ok := m.Match.Get(ofp.OXMClassOpenflowBasic, ofp.OXMEthSrc); ok && len(o.Value) == 6 {
					copy(want[:], o.Value)
					wok = true
				} else if o, ok := m.Match.Get(ofp.OXMClassOpenflowBasic, ofp.OXMEthDst); ok && len(o.Value) == 6 {
					copy(want[:], o.Value)
					wok = true
				}
			}
			if fok != wok || fm != want {
				t.Fatalf("flowModMAC %x %v, codec %x %v", fm, fok, want, wok)
			}
		case *ofp.PacketOut:
			if (len(m.Data) >= 12) != pok || pok && [6]byte(m.Data[6:12]) != po {
				t.Fatalf("packetOutMAC %x %v, codec data %x", po, pok, m.Data)
			}
		}
	})
}

// ReadCPU reads a process's CPU time: it grows while the process computes.
func TestReadCPU(t *testing.T) {
	start, err := ReadCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x := uint64(1)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		for range 1 << 20 {
			x = x*6364136223846793005 + 1442695040888963407
		}
		now, err := ReadCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if now > start {
			return
		}
	}
	t.Fatalf("CPU time stayed at %v through 20 s of computing (%d)", start, x)
}
