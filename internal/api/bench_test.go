package api_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"portcullis/internal/api"
	"portcullis/internal/api/apitest"
)

// BenchmarkListBlocks measures GET /api/v1/blocks with 1000 blocks.
func BenchmarkListBlocks(b *testing.B) {
	f := apitest.New()
	blocks := make([]api.Block, 1000)
	for i := range blocks {
		blocks[i] = api.Block{ID: fmt.Sprint(i), DPID: api.FormatDPID(1), Port: uint32(i), MAC: "02:00:00:00:00:01",
			IPs: []string{"10.0.0.1"}, Reason: "port scan", Kind: "port-scan", Evidence: []string{"a", "b"}}
	}
	f.SetBlocks(blocks)
	h := api.New(f, api.Options{OpenReadsOnLoopback: true})
	req := httptest.NewRequest("GET", "/api/v1/blocks", nil)
	req.RemoteAddr = "127.0.0.1:1"
	req.Host = "127.0.0.1:6680"
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkAddBlock measures a POST with token check, decode and validation.
func BenchmarkAddBlock(b *testing.B) {
	f := apitest.New()
	h := api.New(f, api.Options{Tokens: []string{"t"}})
	body := `{"ip":"10.0.0.9","mac":"02:00:00:00:00:09","duration":"1h","reason":"bench"}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/api/v1/blocks", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer t")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 201 {
			b.Fatal(rec.Code, rec.Body.String())
		}
		f.SetBlocks(nil)
	}
}

// BenchmarkFilterEvents measures a type filter over 10000 recorded events.
func BenchmarkFilterEvents(b *testing.B) {
	ev := make([]api.Event, 10000)
	for i := range ev {
		ev[i] = api.Event{ID: uint64(i + 1), Type: []string{"blocked", "scan_detected", "switch_up"}[i%3]}
	}
	f := api.EventFilter{Types: []string{"blocked"}, AfterID: 5000, Limit: 100}
	b.ReportAllocs()
	for b.Loop() {
		if got := api.FilterEvents(ev, f); len(got) != 100 {
			b.Fatal(len(got))
		}
	}
}
