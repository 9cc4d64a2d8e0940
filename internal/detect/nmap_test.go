package detect

import (
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"portcullis/internal/packet"
)

// The captures in testdata/nmap were recorded for this package: nmap 7.93
// in one network namespace (10.77.0.1, fd77::1) scanning a Linux host in
// another (10.77.0.2, fd77::2, listening on TCP 22/80/443 and UDP 53),
// tcpdump on the scanner's veth, cut to the first few hundred packets. The
// command for each is in the table. They are our own traffic, free to ship.
var nmapCaptures = []struct {
	file, cmd string
	kind      Kind
	// maxLearned bounds the ports whose state (open or closed) the target
	// revealed to the scanner before the verdict; 0 = not checked.
	maxLearned int
	// minOSShapes is the number of distinct nmap -O probe shapes that must be
	// recognized in the capture.
	minOSShapes int
	// noSignature turns the raw-SYN signature and the fan-out rule off, so
	// that nmap -O's own port scan does not decide before its OS probes are
	// seen.
	noSignature bool
}{
	{"nmap_sS.pcap", "nmap -sS -T4 --top-ports 1000", KindPortScan, 5, 0, false},
	{"nmap_sT.pcap", "nmap -sT -T4 --top-ports 200", KindPortScan, 10, 0, false},
	{"nmap_sF.pcap", "nmap -sF -T4 --top-ports 100", KindStealthScan, 5, 0, false},
	{"nmap_sN.pcap", "nmap -sN -T4 --top-ports 100", KindStealthScan, 5, 0, false},
	{"nmap_sX.pcap", "nmap -sX -T4 --top-ports 100", KindStealthScan, 5, 0, false},
	{"nmap_sM.pcap", "nmap -sM -T4 --top-ports 100", KindStealthScan, 5, 0, false},
	{"nmap_sA.pcap", "nmap -sA -T4 --top-ports 100", KindStealthScan, 5, 0, false},
	{"nmap_sW.pcap", "nmap -sW -T4 --top-ports 100", KindStealthScan, 5, 0, false},
	{"nmap_sU.pcap", "nmap -sU -T4 --top-ports 50", KindUDPScan, 0, 0, false},
	{"nmap_sO.pcap", "nmap -sO -T4 -p 1-60", KindIPProtoScan, 0, 0, false},
	{"nmap_sY.pcap", "nmap -sY -T4 --top-ports 50", KindPortScan, 0, 0, false},
	{"nmap_O.pcap", "nmap -O -T4 -p 22,80,443,1", KindPortScan, 5, 0, false},
	{"nmap_O.pcap", "nmap -O -T4 -p 22,80,443,1 (signature off)", KindOSFingerprint, 0, 14, true},
	{"nmap_6sS.pcap", "nmap -6 -sS -T4 --top-ports 200", KindPortScan, 5, 0, false},
	{"nmap_6sU.pcap", "nmap -6 -sU -T4 --top-ports 30", KindUDPScan, 0, 0, false},
	{"nmap_6O.pcap", "nmap -6 -O -T4 -p 22,80,1", KindPortScan, 5, 0, false},
	{"nmap_6O.pcap", "nmap -6 -O -T4 -p 22,80,1 (signature off)", KindOSFingerprint, 0, 6, true},
	{"nmap_D.pcap", "nmap -sS -T4 -D 10.77.0.50,10.77.0.51,ME --top-ports 100", KindPortScan, 5, 0, false},
	{"nmap_snARP.pcap", "nmap -sn 10.77.0.0/26", KindARPSweep, 0, 0, false},
	{"nmap_6sn.pcap", "nmap -6 -sn fd77::/122", KindNDSweep, 0, 0, false},
	// Sweeps of a subnet behind the target (a route via 10.77.0.2 / fd77::2,
	// which does not forward): the probes leave the scanner; on the local
	// subnet the kernel's ARP for each address is what is seen, above.
	{"nmap_snPE.pcap", "nmap -sn -PE --send-ip 10.78.0.0/26", KindPingSweep, 0, 0, false},
	{"nmap_snPP.pcap", "nmap -sn -PP --send-ip 10.78.0.0/26", KindPingSweep, 0, 0, false},
	{"nmap_6snPE.pcap", "nmap -6 -sn -PE --send-ip fd78::/122", KindPingSweep, 0, 0, false},
	{"nmap_snR.pcap", "nmap -sn --send-ip 10.78.0.0/27 (echo, SYN 443, ACK 80, timestamp)", "", 0, 0, false},
}

var (
	nmapScanner = []netip.Addr{netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("fd77::1")}
	nmapTarget  = []netip.Addr{netip.MustParseAddr("10.77.0.2"), netip.MustParseAddr("fd77::2")}
)

func TestNmapCaptures(t *testing.T) {
	for _, c := range nmapCaptures {
		t.Run(c.cmd, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", "nmap", c.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, err := packet.NewPcapReader(f)
			if err != nil {
				t.Fatal(err)
			}
			cfg := DefaultConfig()
			if c.noSignature {
				cfg.SignatureProbes = 1 << 20
				cfg.FanoutPorts = 1 << 20 // its 4 ports, one closed, would decide too
			}
			d := New(cfg)
			var scannerMAC, targetMAC [6]byte
			var p packet.Packet
			var verdicts []Verdict
			var last time.Time
			learned := map[uint16]bool{} // ports the target answered for before the verdict
			decidedAt := -1
			n := 0
			for {
				ts, frame, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				n++
				verdicts = append(verdicts, d.Tick(ts)...)
				if err := packet.Parse(frame, &p); err != nil {
					continue
				}
				last = ts
				from := p.Src
				if p.EthType == packet.EthTypeARP {
					from = p.ARPSenderIP
				}
				if slices.Contains(nmapScanner, from) {
					scannerMAC = p.EthSrc
				}
				if slices.Contains(nmapTarget, from) {
					targetMAC = p.EthSrc
					if len(verdicts) == 0 && p.Proto == packet.ProtoTCP && p.TCPFlags&(packet.TCPSyn|packet.TCPRst) != 0 {
						learned[p.SrcPort] = true
					}
				}
				if v, ok := d.Observe(ts, Source{Port: 1, MAC: p.EthSrc}, &p); ok {
					verdicts = append(verdicts, v)
				}
				if len(verdicts) > 0 && decidedAt < 0 {
					decidedAt = n
				}
			}
			verdicts = append(verdicts, d.Tick(last.Add(time.Minute))...)
			if len(verdicts) == 0 {
				t.Fatalf("%s: no verdict in %d packets", c.cmd, n)
			}
			v := verdicts[0]
			t.Logf("%s: %s at packet %d after %d probes, %d ports learned: %s", c.cmd, v.Kind, decidedAt, v.Probes, len(learned), v.Reason)
			if c.kind != "" && v.Kind != c.kind {
				t.Errorf("first verdict %s, want %s", v.Kind, c.kind)
			}
			for _, v := range verdicts {
				if v.Source.MAC == targetMAC {
					t.Errorf("the target was decided: %s %v: %s", v.Kind, v.IPs, v.Reason)
				}
				if v.Source.MAC != scannerMAC {
					t.Errorf("verdict for an unknown source %v", v.Source)
				}
				for _, ip := range v.IPs {
					if ip == netip.MustParseAddr("10.77.0.2") || ip == netip.MustParseAddr("fd77::2") {
						t.Errorf("verdict names the target's address: %v", v.IPs)
					}
				}
			}
			shapes := 0
			for _, a := range d.actors {
				if a.key.src.MAC == scannerMAC {
					shapes = max(shapes, popcount(a.osMask))
				}
			}
			if shapes < c.minOSShapes {
				t.Errorf("recognized %d nmap -O probe shapes, want >= %d", shapes, c.minOSShapes)
			}
			if c.maxLearned > 0 && len(learned) > c.maxLearned {
				t.Errorf("the scanner learned %d ports before the verdict, want <= %d", len(learned), c.maxLearned)
			}
		})
	}
}
