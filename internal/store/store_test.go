package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// impls runs a test against every Store implementation.
func impls(t *testing.T, f func(t *testing.T, s Store)) {
	t.Run("memory", func(t *testing.T) {
		s := NewMemory()
		defer s.Close()
		f(t, s)
	})
	t.Run("bolt", func(t *testing.T) {
		s, err := Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		f(t, s)
	})
	t.Run("etcd", func(t *testing.T) {
		s := openEtcd(t)
		defer s.Close()
		f(t, s)
	})
}

func TestPutGetDeleteList(t *testing.T) {
	impls(t, func(t *testing.T, s Store) {
		if _, ok, err := s.Get("blocks", "nope"); err != nil || ok {
			t.Fatalf("Get on missing bucket = ok %v err %v, want false nil", ok, err)
		}
		if kvs, err := s.List("blocks"); err != nil || len(kvs) != 0 {
			t.Fatalf("List on missing bucket = %v, %v", kvs, err)
		}
		if err := s.Delete("blocks", "nope"); err != nil {
			t.Fatalf("Delete on missing bucket: %v", err)
		}
		for _, k := range []string{"b", "c", "a"} {
			if err := s.Put("blocks", k, []byte("v"+k)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Put("allow", "a", []byte("other bucket")); err != nil {
			t.Fatal(err)
		}
		if err := s.Put("blocks", "b", []byte("overwritten")); err != nil {
			t.Fatal(err)
		}
		v, ok, err := s.Get("blocks", "b")
		if err != nil || !ok || string(v) != "overwritten" {
			t.Fatalf("Get = %q %v %v", v, ok, err)
		}
		v[0] = 'X' // the caller owns returned bytes
		if v2, _, _ := s.Get("blocks", "b"); string(v2) != "overwritten" {
			t.Fatalf("mutating a returned value changed the store: %q", v2)
		}
		kvs, err := s.List("blocks")
		if err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprint(kvs)
		want := fmt.Sprint([]KV{{"a", []byte("va")}, {"b", []byte("overwritten")}, {"c", []byte("vc")}})
		if got != want {
			t.Fatalf("List = %s, want %s", got, want)
		}
		if err := s.Delete("blocks", "b"); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := s.Get("blocks", "b"); ok {
			t.Fatal("deleted key still there")
		}
		if kvs, _ := s.List("blocks"); len(kvs) != 2 {
			t.Fatalf("after delete List has %d entries, want 2", len(kvs))
		}
		if _, ok, _ := s.Get("allow", "a"); !ok {
			t.Fatal("bucket allow lost its key")
		}
	})
}

func TestPutKeepsCallerBuffer(t *testing.T) {
	impls(t, func(t *testing.T, s Store) {
		buf := []byte("original")
		if err := s.Put("b", "k", buf); err != nil {
			t.Fatal(err)
		}
		copy(buf, "XXXXXXXX")
		v, _, _ := s.Get("b", "k")
		if string(v) != "original" {
			t.Fatalf("store aliased the caller's buffer: %q", v)
		}
	})
}

func TestEmptyValueAndNames(t *testing.T) {
	impls(t, func(t *testing.T, s Store) {
		if err := s.Put("b", "k", nil); err != nil {
			t.Fatal(err)
		}
		v, ok, err := s.Get("b", "k")
		if err != nil || !ok || len(v) != 0 {
			t.Fatalf("empty value: %q %v %v", v, ok, err)
		}
		for _, c := range [][2]string{{"", "k"}, {"b", ""}} {
			if err := s.Put(c[0], c[1], []byte("x")); !errors.Is(err, ErrEmptyName) {
				t.Errorf("Put(%q,%q) err = %v, want ErrEmptyName", c[0], c[1], err)
			}
		}
		if _, err := s.List(""); !errors.Is(err, ErrEmptyName) {
			t.Errorf("List(\"\") err = %v", err)
		}
	})
}

func TestClosed(t *testing.T) {
	impls(t, func(t *testing.T, s Store) {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if err := s.Put("b", "k", nil); !errors.Is(err, ErrClosed) {
			t.Errorf("Put after Close = %v, want ErrClosed", err)
		}
		if _, _, err := s.Get("b", "k"); !errors.Is(err, ErrClosed) {
			t.Errorf("Get after Close = %v, want ErrClosed", err)
		}
		if _, err := s.List("b"); !errors.Is(err, ErrClosed) {
			t.Errorf("List after Close = %v, want ErrClosed", err)
		}
		if err := s.Delete("b", "k"); !errors.Is(err, ErrClosed) {
			t.Errorf("Delete after Close = %v, want ErrClosed", err)
		}
	})
}

func TestConcurrent(t *testing.T) {
	impls(t, func(t *testing.T, s Store) {
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 25 {
					k := fmt.Sprintf("%d-%02d", g, i)
					if err := s.Put("b", k, []byte(k)); err != nil {
						t.Error(err)
						return
					}
					if _, err := s.List("b"); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		kvs, _ := s.List("b")
		if len(kvs) != 100 {
			t.Fatalf("have %d keys, want 100", len(kvs))
		}
	})
}

type block struct {
	ID    string   `json:"id"`
	IPs   []string `json:"ips"`
	Level int      `json:"level"`
}

func TestJSONHelpers(t *testing.T) {
	impls(t, func(t *testing.T, s Store) {
		b1 := block{ID: "b1", IPs: []string{"10.0.0.1"}, Level: 2}
		b2 := block{ID: "b2", Level: 0}
		if err := PutJSON(s, BucketBlocks, b2.ID, b2); err != nil {
			t.Fatal(err)
		}
		if err := PutJSON(s, BucketBlocks, b1.ID, b1); err != nil {
			t.Fatal(err)
		}
		got, ok, err := GetJSON[block](s, BucketBlocks, "b1")
		if err != nil || !ok || got.ID != "b1" || got.Level != 2 || len(got.IPs) != 1 {
			t.Fatalf("GetJSON = %+v %v %v", got, ok, err)
		}
		if _, ok, err := GetJSON[block](s, BucketBlocks, "missing"); ok || err != nil {
			t.Fatalf("GetJSON missing = %v %v", ok, err)
		}
		items, err := ListJSON[block](s, BucketBlocks)
		if err != nil || len(items) != 2 || items[0].Key != "b1" || items[1].Value.ID != "b2" {
			t.Fatalf("ListJSON = %+v %v", items, err)
		}
		if err := s.Put(BucketBlocks, "bad", []byte("{not json")); err != nil {
			t.Fatal(err)
		}
		if _, err := ListJSON[block](s, BucketBlocks); err == nil || !strings.Contains(err.Error(), "blocks/bad") {
			t.Fatalf("ListJSON with a bad value: err = %v, want one naming blocks/bad", err)
		}
		if _, _, err := GetJSON[block](s, BucketBlocks, "bad"); err == nil {
			t.Fatal("GetJSON of a bad value gave no error")
		}
		if err := PutJSON(s, BucketBlocks, "ch", make(chan int)); err == nil {
			t.Fatal("PutJSON of a channel gave no error")
		}
	})
}

func TestBoltPersists(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "nested")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode = %v, want 0700", fi.Mode().Perm())
	}
	if err := s.Put(BucketBlocks, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err = os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode = %v, want 0600", fi.Mode().Perm())
	}
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, ok, err := s.Get(BucketBlocks, "k"); err != nil || !ok || string(v) != "v" {
		t.Fatalf("after reopen Get = %q %v %v", v, ok, err)
	}
	if s.Path() != filepath.Join(dir, FileName) {
		t.Errorf("Path = %q", s.Path())
	}
}

func TestBoltLocked(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// flock locks belong to the open file description, so a second Open in
	// the same process conflicts exactly like a second controller would.
	s2, err := Open(dir)
	if err == nil {
		s2.Close()
		t.Fatal("second Open on a held state dir succeeded")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "state dir locked by another process") {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q does not name the file", err)
	}
}

func TestBoltCorruptFileKept(t *testing.T) {
	garbage := map[string][]byte{
		"short text":   []byte("this is not a bbolt database\n"),
		"page of junk": bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 4096),
		"zero pages":   make([]byte, 3*4096),
	}
	for name, data := range garbage {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(dir)
			if err == nil {
				s.Close()
				t.Fatal("Open of a corrupt file succeeded")
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want ErrCorrupt naming %s", err, path)
			}
			after, rerr := os.ReadFile(path)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if !bytes.Equal(after, data) {
				t.Fatalf("Open changed the corrupt file (%d bytes before, %d after)", len(data), len(after))
			}
		})
	}
}

func TestBoltStateFileIsADirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, FileName), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), FileName) {
		t.Fatalf("err = %v, want ErrCorrupt naming the file", err)
	}
}

func TestOpenBadDir(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(filepath.Join(f, "sub")); err == nil || !strings.HasPrefix(err.Error(), "store: ") {
		t.Fatalf("Open under a regular file: err = %v", err)
	}
	if _, err := Open(""); err == nil {
		t.Fatal("Open(\"\") succeeded")
	}
}

func BenchmarkPut(b *testing.B) {
	for _, impl := range []string{"memory", "bolt"} {
		b.Run(impl, func(b *testing.B) {
			var s Store = NewMemory()
			if impl == "bolt" {
				bs, err := Open(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				s = bs
			}
			defer s.Close()
			v := bytes.Repeat([]byte("x"), 200)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Put(BucketBlocks, "key", v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkGet(b *testing.B) {
	for _, impl := range []string{"memory", "bolt"} {
		b.Run(impl, func(b *testing.B) {
			var s Store = NewMemory()
			if impl == "bolt" {
				bs, err := Open(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				s = bs
			}
			defer s.Close()
			if err := s.Put(BucketBlocks, "key", bytes.Repeat([]byte("x"), 200)); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.Get(BucketBlocks, "key"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A state file cut short (a crash or a full disk) must give a clear error
// naming the file, not a SIGBUS from bbolt's memory map, and stay untouched.
func TestOpenTruncatedFile(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		if err := s.Put(BucketBlocks, fmt.Sprintf("k%05d", i), bytes.Repeat([]byte{'x'}, 100)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	path := filepath.Join(dir, FileName)
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cut := full[:len(full)/3]
	if err := os.WriteFile(path, cut, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open of a truncated file: %v, want ErrCorrupt naming %s", err, path)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(after, cut) {
		t.Error("the truncated file was modified")
	}
}
