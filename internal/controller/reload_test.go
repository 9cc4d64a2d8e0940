package controller

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"portcullis/internal/forward"
	"portcullis/internal/notice"
	"portcullis/internal/ofconn/ofconntest"
	"portcullis/internal/store"
	"portcullis/ofp"
)

// noticeOut returns the UDP destination port and payload of a notice the
// controller sent as a PACKET_OUT (an IPv4 frame from notice.Frame).
func noticeOut(r ofconntest.Received) (uint16, []byte, bool) {
	po, ok := r.Msg.(*ofp.PacketOut)
	if !ok || len(po.Data) < 14+20+8 || binary.BigEndian.Uint16(po.Data[12:]) != 0x0800 || po.Data[14+9] != 17 {
		return 0, nil, false
	}
	ihl := int(po.Data[14]&0xf) * 4
	udp := po.Data[14+ihl:]
	return binary.BigEndian.Uint16(udp[2:]), udp[8:], true
}

// The notice key and port are applied by a reload: the key file, rewritten
// in place (the same configuration), is read again; the next notice is
// sealed with the new key and sent to the new port, and the reload names
// the key file and the port as applied.
func TestReloadNoticeKey(t *testing.T) {
	keyA, keyB := bytes.Repeat([]byte{0xa1}, notice.MinKeySize), bytes.Repeat([]byte{0xb2}, notice.MinKeySize)
	keyFile := filepath.Join(t.TempDir(), "notice.key")
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(keyA)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Notify.Notice.KeyFile = keyFile
	h := startController(t, cfg, store.NewMemory())
	fs := h.connect(0x1, 12)
	fs.learn(hostV)

	// nextNotice runs a scan of hostV from a fresh scanner and returns the
	// notice sent to hostV's port.
	nextNotice := func(n byte) (uint16, []byte) {
		t.Helper()
		scanner := newHost(n, uint32(n-23)) // ports 7, 8, 9
		fs.learn(scanner)
		from := fs.count()
		fs.synScan(scanner, scanner, hostV, 21, 22, 23, 25, 80, 110)
		_, r := fs.waitFor(from, "a notice to the victim", func(r ofconntest.Received) bool {
			po, ok := r.Msg.(*ofp.PacketOut)
			_, _, isNotice := noticeOut(r)
			return ok && isNotice && len(po.Actions) == 1 && po.Actions[0].(*ofp.ActionOutput).Port == hostV.port
		})
		port, payload, _ := noticeOut(r)
		return port, payload
	}
	port, payload := nextNotice(30)
	if _, err := notice.Open(keyA, payload, time.Now()); err != nil || port != notice.DefaultPort {
		t.Fatalf("first notice: port %d (want %d), open with the first key: %v", port, notice.DefaultPort, err)
	}

	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(keyB)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	next := cfg
	next.Notify.Notice.Port = 7777
	if err := h.c.Reload(next); err != nil {
		t.Fatal(err)
	}
	port, payload = nextNotice(31)
	if _, err := notice.Open(keyB, payload, time.Now()); err != nil {
		t.Errorf("notice after the reload does not open with the new key: %v", err)
	}
	if _, err := notice.Open(keyA, payload, time.Now()); err == nil {
		t.Errorf("notice after the reload still opens with the old key")
	}
	if port != 7777 {
		t.Errorf("notice after the reload to port %d, want 7777", port)
	}
	var msg string
	eventually(t, "a config_reloaded event", func() bool {
		ev := h.events("config_reloaded")
		if len(ev) == 1 {
			msg = ev[0].Message
		}
		return len(ev) == 1
	})
	for _, k := range []string{"notify.notice.port", "notify.notice.key_file"} {
		if !strings.Contains(msg, k) || strings.Contains(msg, "restart") {
			t.Errorf("config_reloaded %q: want %s applied, nothing kept until a restart", msg, k)
		}
	}

	// A key file that cannot be read refuses the reload; notices keep the
	// running key.
	if err := os.WriteFile(keyFile, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.c.Reload(next); err == nil {
		t.Fatal("Reload with a bad notice key succeeded")
	}
	_, payload = nextNotice(32)
	if _, err := notice.Open(keyB, payload, time.Now()); err != nil {
		t.Errorf("notice after a refused reload does not open with the running key: %v", err)
	}
}

// forward.idle_timeout is applied by a reload to the flows learned after
// it, on a switch that was connected before it and on one that connects
// after it.
func TestReloadIdleTimeout(t *testing.T) {
	cfg := testConfig(t)
	h := startController(t, cfg, store.NewMemory())
	fs := h.connect(0x1, 8)
	idleOf := func(fs *fakeSwitch, x host) uint16 {
		t.Helper()
		from := fs.count()
		fs.learn(x)
		for _, r := range fs.recorded(from) {
			if learnFlowFor(r, forward.TableLearn, x.mac, x.port) {
				fm, _ := flowMod(r)
				return fm.IdleTimeout
			}
		}
		t.Fatalf("no learned flow for %s", x.macString())
		return 0
	}
	if got, want := idleOf(fs, hostA), uint16(cfg.Forward.IdleTimeout/time.Second); got != want {
		t.Fatalf("idle timeout before the reload %d, want %d", got, want)
	}
	next := cfg
	next.Forward.IdleTimeout = 42 * time.Second
	if err := h.c.Reload(next); err != nil {
		t.Fatal(err)
	}
	if got := idleOf(fs, hostS); got != 42 {
		t.Errorf("idle timeout learned after the reload %d, want 42", got)
	}
	fs2 := h.connect(0x2, 8)
	if got := idleOf(fs2, hostV); got != 42 {
		t.Errorf("idle timeout on a switch connected after the reload %d, want 42", got)
	}
	eventually(t, "a config_reloaded event naming forward.idle_timeout", func() bool {
		ev := h.events("config_reloaded")
		return len(ev) == 1 && strings.Contains(ev[0].Message, "applied: forward.idle_timeout (new learned flows")
	})
}

// block.noisy_ports is applied by a reload to the packets observed after
// it: mDNS between peers is no probe with the defaults, and is one once
// the reload leaves 5353 off the list.
func TestReloadNoisyPorts(t *testing.T) {
	cfg := testConfig(t)
	h := startController(t, cfg, store.NewMemory())
	fs := h.connect(0x1, 12)
	fs.learn(hostS)
	mdns := func(first byte) {
		for i := range byte(3) {
			fs.packetIn(watchCopy(hostS.port, udpFrame(hostS, newHost(first+i, 9), 5353, 5353, []byte("mdns"))))
		}
		fs.fence() // the session handles packet-ins in order: these were observed
	}
	mdns(40)
	if n := h.c.det.Stats().Probes; n != 0 {
		t.Fatalf("mDNS with the default noisy ports: %d probes, want 0", n)
	}
	next := cfg
	next.Block.NoisyPorts = []uint16{67, 68}
	if err := h.c.Reload(next); err != nil {
		t.Fatal(err)
	}
	mdns(50)
	if n := h.c.det.Stats().Probes; n != 3 {
		t.Errorf("mDNS once 5353 is not a noisy port: %d probes, want 3", n)
	}
	eventually(t, "a config_reloaded event naming block.noisy_ports", func() bool {
		ev := h.events("config_reloaded")
		return len(ev) == 1 && strings.Contains(ev[0].Message, "applied: block.noisy_ports (packets from now on")
	})
}

// A reload that points notify.jsonl at a file the controller cannot open
// (here a missing directory; confined, anything outside its state
// directory) is refused: the running sinks keep writing the old file, and
// the refusal itself is in it.
func TestReloadRefusesUnwritableEventsFile(t *testing.T) {
	cfg := testConfig(t)
	dir := t.TempDir()
	old := filepath.Join(dir, "events.jsonl")
	cfg.Notify.JSONL = old
	h := startController(t, cfg, store.NewMemory())
	next := cfg
	next.Notify.JSONL = filepath.Join(dir, "missing", "events.jsonl")
	err := h.c.Reload(next)
	if err == nil || !strings.Contains(err.Error(), "notify.jsonl") {
		t.Fatalf("Reload to an unwritable events file: %v, want an error naming notify.jsonl", err)
	}
	eventually(t, "the refusal written to the old events file", func() bool {
		b, _ := os.ReadFile(old)
		return bytes.Contains(b, []byte(`"config_reload_failed"`)) && bytes.Contains(b, []byte("notify.jsonl"))
	})
	if _, err := os.Stat(next.Notify.JSONL); err == nil {
		t.Errorf("%s exists", next.Notify.JSONL)
	}
}
