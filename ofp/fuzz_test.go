package ofp

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// goldenSeeds returns every golden and captured message, the seeds of all fuzz targets.
func goldenSeeds(t testing.TB) map[string][]byte {
	files, _ := filepath.Glob("testdata/*.hex")
	ovs, _ := filepath.Glob("testdata/ovs/*.hex")
	seeds := map[string][]byte{}
	for _, f := range append(files, ovs...) {
		seeds[filepath.Base(filepath.Dir(f))+"_"+filepath.Base(f)] = readHex(t, f)
	}
	return seeds
}

// TestWriteFuzzSeeds writes the golden messages into testdata/fuzz as seed corpus (with -update).
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz seeds")
	}
	for _, target := range []string{"FuzzUnmarshal", "FuzzRoundTrip"} {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range goldenSeeds(t) {
			data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, "seed_"+name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func addSeeds(f *testing.F) {
	for _, b := range goldenSeeds(f) {
		f.Add(b)
	}
}

// FuzzUnmarshal: no input may panic; an error must be a *DecodeError; a decoded message must encode
// to exactly Len() bytes.
func FuzzUnmarshal(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, m, err := Unmarshal(b)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is %T, not *DecodeError", err, err)
			}
			return
		}
		if m.Len() > MaxLen {
			return // a HELLO whose last element lacked its padding can grow past the limit
		}
		if enc := Marshal(1, m); len(enc) != m.Len() {
			t.Fatalf("Len() = %d, encoded %d", m.Len(), len(enc))
		}
	})
}

// FuzzRoundTrip: decode, encode, decode again; the two decodings must be equal and the second
// encoding must reproduce the first.
func FuzzRoundTrip(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, m1, err := Unmarshal(b)
		if err != nil || m1.Len() > MaxLen {
			return
		}
		if hello, ok := m1.(*Hello); ok {
			hello.HeaderVersion = Version // the encoder always writes Version
		}
		enc1 := Marshal(h.Xid, m1)
		h2, m2, err := Unmarshal(enc1)
		if err != nil {
			t.Fatalf("re-decoding %x (from %x): %v", enc1, b, err)
		}
		if h2.Xid != h.Xid || h2.Type != h.Type {
			t.Fatalf("header %+v became %+v", h, h2)
		}
		enc2 := Marshal(h.Xid, m2)
		if !bytes.Equal(enc1, enc2) {
			t.Fatalf("re-encoding differs:\n%x\n%x", enc1, enc2)
		}
		if !equalMsg(m1, m2) {
			t.Fatalf("decodings differ:\n%#v\n%#v", m1, m2)
		}
	})
}

// FuzzParseHeader: ParseHeader never panics and accepts exactly the headers with length >= 8.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{4, 0, 0, 8, 0, 0, 0, 1})
	f.Add([]byte{4, 0, 0, 7, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		ok := len(b) >= HeaderLen && int(b[2])<<8|int(b[3]) >= HeaderLen
		if (err == nil) != ok {
			t.Fatalf("ParseHeader(%x) = %+v, %v", b, h, err)
		}
	})
}

// FuzzMergeMultipart: merging any two decoded multipart replies never panics, and a successful merge
// holds a body of the parts' type without the more flag.
func FuzzMergeMultipart(f *testing.F) {
	seeds := goldenSeeds(f)
	for _, a := range seeds {
		if len(a) > 1 && a[1] == byte(TypeMultipartReply) {
			more := bytes.Clone(a)
			more[11] |= 1
			f.Add(more, a)
		}
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		_, ma, errA := Unmarshal(a)
		_, mb, errB := Unmarshal(b)
		ra, okA := ma.(*MultipartReply)
		rb, okB := mb.(*MultipartReply)
		if errA != nil || errB != nil || !okA || !okB {
			return
		}
		out, err := MergeMultipart([]*MultipartReply{ra, rb})
		if err != nil {
			return
		}
		if out.More() || out.Body.MultipartType() != ra.Body.MultipartType() {
			t.Fatalf("merged %+v", out)
		}
	})
}
