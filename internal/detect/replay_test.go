package detect

import (
	"bufio"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"portcullis/internal/packet"
	"portcullis/internal/testenv"
)

// pcapDir finds the shared captures: $PORTCULLIS_PCAPS, else
// ../../../shared/pcaps relative to this package.
func pcapDir(t testing.TB) string {
	dir := os.Getenv("PORTCULLIS_PCAPS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "pcaps")
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.tsv")); err != nil {
		testenv.Missing(t, "shared captures not found (%v); set PORTCULLIS_PCAPS", err)
	}
	return dir
}

type manifestRow struct {
	file, label       string
	shouldBlock       []netip.Addr
	mustNotBlock      []netip.Addr
	mustNotBlockAll   bool
	flagAnomalyNeeded bool
}

func readManifest(t *testing.T, dir string) []manifestRow {
	f, err := os.Open(filepath.Join(dir, "manifest.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []manifestRow
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		c := strings.Split(line, "\t")
		if len(c) < 5 {
			t.Fatalf("manifest line %q: %d columns", line, len(c))
		}
		r := manifestRow{file: c[0], label: c[1]}
		r.shouldBlock = addrs(t, c[3])
		r.flagAnomalyNeeded = strings.Contains(c[3], "flag-anomaly")
		if c[4] == "all" {
			r.mustNotBlockAll = true
		} else {
			r.mustNotBlock = addrs(t, c[4])
		}
		rows = append(rows, r)
	}
	return rows
}

// addrs pulls every IP address out of a manifest cell such as
// "159.65.89.175,159.89.32.101 (top 5 ...)" or "192.168.1.178 (only if ...)".
func addrs(t *testing.T, cell string) []netip.Addr {
	var out []netip.Addr
	for _, f := range strings.FieldsFunc(cell, func(r rune) bool { return r == ',' || r == ' ' || r == '(' || r == ')' }) {
		if a, err := netip.ParseAddr(f); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// replay feeds a capture to a Detector. Captures carry no ingress port, so
// the Source is (DPID 0, port 1, the frame's source MAC); the LBNL border
// traces show every Internet host behind one router MAC, which is exactly
// the shared-ingress case the per-address actors exist for. Tick runs every
// 100 ms of capture time, and once more NoAnswerTimeout after the last frame
// so that one-way captures' unanswered probes count.
func replay(t *testing.T, path string, cfg Config) []Verdict {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := packet.NewPcapReader(f)
	if err != nil {
		t.Fatal(err)
	}
	d := New(cfg)
	var out []Verdict
	var p packet.Packet
	var last, nextTick time.Time
	for {
		ts, frame, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if nextTick.IsZero() {
			nextTick = ts
		}
		for !ts.Before(nextTick) {
			out = append(out, d.Tick(nextTick)...)
			nextTick = nextTick.Add(100 * time.Millisecond)
		}
		last = ts
		if Parse(frame, &p) != nil && !p.Src.IsValid() && p.EthType != packet.EthTypeARP {
			continue
		}
		if v, ok := d.Observe(ts, Source{Port: 1, MAC: p.EthSrc}, &p); ok {
			out = append(out, v)
		}
	}
	out = append(out, d.Tick(last.Add(d.cfg.NoAnswerTimeout+time.Second))...)
	return out
}

// Parse is packet.Parse; a frame with a broken L4 header still counts for
// what was parsed before it.
var Parse = packet.Parse

func TestReplaySharedCaptures(t *testing.T) {
	dir := pcapDir(t)
	rows := readManifest(t, dir)
	if len(rows) < 11 {
		t.Fatalf("manifest has %d rows, want 11", len(rows))
	}
	for _, row := range rows {
		t.Run(row.file, func(t *testing.T) {
			verdicts := replay(t, filepath.Join(dir, row.file), DefaultConfig())
			decided := map[netip.Addr]Verdict{}
			for _, v := range verdicts {
				for _, ip := range v.IPs {
					if _, ok := decided[ip]; !ok {
						decided[ip] = v
					}
				}
			}
			if row.mustNotBlockAll {
				for _, v := range verdicts {
					t.Errorf("benign capture gave a verdict: %s %v %s: %s\n  %s", v.Kind, v.IPs, v.Source, v.Reason, strings.Join(v.Evidence, "\n  "))
				}
				return
			}
			for _, ip := range row.shouldBlock {
				v, ok := decided[ip]
				if !ok {
					t.Errorf("%s (should block) was not decided", ip)
					continue
				}
				t.Logf("%s: %s after %d probes in %v: %s", ip, v.Kind, v.Probes, v.At.Sub(v.First), v.Reason)
			}
			for _, ip := range row.mustNotBlock {
				if v, ok := decided[ip]; ok {
					t.Errorf("%s (must not block) was decided: %s: %s", ip, v.Kind, v.Reason)
				}
			}
		})
	}
}
