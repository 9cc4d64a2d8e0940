package notice

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadKey(t *testing.T) {
	raw32 := []byte("\x00\x01raw key bytes, not hex at all!!") // 32 bytes
	hex32 := "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    []byte // nil: error expected
		errHas  string
	}{
		{"hex", hex32, 0o600, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31}, ""},
		{"hex with newline, upper case", strings.ToUpper(hex32) + "\n", 0o400, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31}, ""},
		{"raw", string(raw32), 0o600, raw32, ""},
		{"group-readable is fine", hex32, 0o640, nil, ""},
		{"world-readable", hex32, 0o604, nil, "accessible by others"},
		{"world-writable", hex32, 0o602, nil, "accessible by others"},
		{"short hex", hex32[:62], 0o600, nil, "31 bytes"},
		{"short raw", string(raw32[:31]), 0o600, nil, "31 bytes"},
		{"odd hex", hex32 + "0", 0o600, nil, "odd number"},
		{"empty", "", 0o600, nil, "0 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "key")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			got, err := LoadKey(path)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) || !strings.HasPrefix(err.Error(), "notice: ") {
					t.Fatalf("err = %v, want one containing %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadKey: %v", err)
			}
			if tt.want != nil && !bytes.Equal(got, tt.want) {
				t.Errorf("key = %x, want %x", got, tt.want)
			}
		})
	}
}

func TestLoadKeyNotAFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadKey(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file: no error")
	}
	os.Chmod(dir, 0o700)
	if _, err := LoadKey(dir); err == nil {
		t.Error("directory: no error")
	}
}
