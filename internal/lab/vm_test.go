package lab

import (
	"bytes"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// cpioEntry is one member of a newc archive, as the kernel's initramfs
// unpacker reads it.
type cpioEntry struct {
	name       string
	mode       uint32
	rmaj, rmin int
	data       []byte
}

// readNewc parses a newc archive, checking magic, alignment and the trailer.
func readNewc(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	field := func(i int) int {
		v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
		if err != nil {
			t.Fatalf("offset %d field %d: %v", off, i, err)
		}
		return int(v)
	}
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		if off+110 > len(b) || string(b[off:off+6]) != "070701" {
			t.Fatalf("offset %d: no newc header", off)
		}
		mode, size, rmaj, rmin, nameLen := field(1), field(6), field(9), field(10), field(11)
		name := string(b[off+110 : off+110+nameLen-1])
		if b[off+110+nameLen-1] != 0 {
			t.Fatalf("%s: name not NUL-terminated", name)
		}
		dataOff := align(off + 110 + nameLen)
		if name == "TRAILER!!!" {
			return out
		}
		out = append(out, cpioEntry{name, uint32(mode), rmaj, rmin, b[dataOff : dataOff+size]})
		off = align(dataOff + size)
	}
}

// The initramfs archive is what the kernel unpacks: newc headers, 4-byte
// alignment, parents before children, device nodes with their numbers.
func TestCpioWriter(t *testing.T) {
	var w cpioWriter
	w.dir("bin", 0o755)
	w.dirAll("usr/lib/x86_64-linux-gnu")
	w.dir("bin", 0o755) // once only
	w.node("dev/console", 0o020600, 5, 1)
	w.file("init", 0o755, []byte("#!/bin/sh\n"))
	w.file("odd", 0o644, []byte("12345"))
	got := readNewc(t, w.close())
	var names []string
	for _, e := range got {
		names = append(names, e.name)
	}
	want := "bin usr usr/lib usr/lib/x86_64-linux-gnu dev/console init odd"
	if strings.Join(names, " ") != want {
		t.Fatalf("entries %q, want %q", names, want)
	}
	if e := got[4]; e.mode != 0o020600 || e.rmaj != 5 || e.rmin != 1 {
		t.Errorf("dev/console: mode %o rdev %d:%d", e.mode, e.rmaj, e.rmin)
	}
	if e := got[6]; e.mode != 0o100644 || !bytes.Equal(e.data, []byte("12345")) {
		t.Errorf("odd: mode %o data %q", e.mode, e.data)
	}
}

// A dynamically linked program brings its loader and libraries; the
// initramfs has no /lib otherwise.
func TestSharedLibs(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	libs, err := sharedLibs(sh)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(libs, " ")
	if !strings.Contains(joined, "ld-linux") || !strings.Contains(joined, "libc.so") {
		t.Errorf("%s needs %v: want the loader and libc", sh, libs)
	}
}
