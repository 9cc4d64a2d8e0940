package detect

import (
	"net/netip"

	"portcullis/internal/packet"
)

// Established-flow memory (so a handshake's own ACK and FIN are not stray).

func connHash(a, b netip.Addr, ap, bp uint16) uint64 {
	// order-independent: the same for both directions
	x, y := targetHash(a, 0, ap), targetHash(b, 0, bp)
	h := x ^ y
	h = h*0x9e3779b97f4a7c15 + (x + y)
	if h == 0 {
		h = 1
	}
	return h
}

func (d *Detector) rememberConn(p *packet.Packet) {
	if d.spoofed {
		return // a forged answer establishes nothing
	}
	h := connHash(p.Src, p.Dst, p.SrcPort, p.DstPort)
	if d.knownConn(p) {
		return
	}
	n := uint64(len(d.conns[0]))
	if d.nConns >= len(d.conns[0])*3/4 {
		d.conns[0], d.conns[1] = d.conns[1], d.conns[0]
		clear(d.conns[0])
		d.nConns = 0
	}
	for i := h % n; ; i = (i + 1) % n {
		if d.conns[0][i] == 0 {
			d.conns[0][i] = h
			d.nConns++
			return
		}
	}
}

func (d *Detector) knownConn(p *packet.Packet) bool {
	h := connHash(p.Src, p.Dst, p.SrcPort, p.DstPort)
	for g := range 2 {
		t := d.conns[g]
		n := uint64(len(t))
		for i, k := h%n, 0; k < len(t); i, k = (i+1)%n, k+1 {
			switch t[i] {
			case h:
				return true
			case 0:
				k = len(t)
			}
		}
	}
	return false
}
