package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"portcullis/internal/api"
)

// GET /api/v1/blocks says, per block, on which switches it is confirmed:
// "switches": [{"dpid", "state", "confirmed_at"}], confirmed_at only once
// confirmed, an empty list (never null) for a block on no switch yet.
func TestBlockSwitchStates(t *testing.T) {
	_, h := newAPI(t)
	rec := do(h, loop, "GET", "/api/v1/blocks", "", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET: %d %s", rec.Code, rec.Body)
	}
	var raw struct {
		Blocks []struct {
			Switches []map[string]any `json:"switches"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	sw := raw.Blocks[0].Switches
	if len(sw) != 2 || sw[0]["dpid"] != "0000000000000001" || sw[0]["state"] != api.BlockConfirmed ||
		sw[0]["confirmed_at"] == nil || sw[1]["state"] != api.BlockPending || sw[1]["confirmed_at"] != nil {
		t.Errorf("switches %v", sw)
	}

	rec = do(h, loop, "POST", "/api/v1/blocks", token, `{"ip":"10.0.0.9"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	var m map[string]any
	json.Unmarshal(rec.Body.Bytes(), &m)
	if l, ok := m["switches"].([]any); !ok || len(l) != 0 {
		t.Errorf("new block: switches %#v, want []", m["switches"])
	}
}
