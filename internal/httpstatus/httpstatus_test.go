package httpstatus

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRecorder(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
		want int
	}{
		{"explicit", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(404); w.WriteHeader(500) }, 404},
		{"implicit 200", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("x")) }, 200},
		{"nothing", func(http.ResponseWriter, *http.Request) {}, 0},
	} {
		rec := &Recorder{ResponseWriter: httptest.NewRecorder()}
		tc.h(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Status != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, rec.Status, tc.want)
		}
	}
	if err := http.NewResponseController(&Recorder{ResponseWriter: httptest.NewRecorder()}).Flush(); err != nil {
		t.Errorf("flush through the recorder: %v", err)
	}
}
