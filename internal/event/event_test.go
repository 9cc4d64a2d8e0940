package event

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestFormatParseDPID(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		fmt  string
	}{
		{"00:00:00:00:00:00:00:01", 1, "0000000000000001"},
		{"0000aabbccddeeff", 0xaabbccddeeff, "0000aabbccddeeff"},
		{"FFFFFFFFFFFFFFFF", ^uint64(0), "ffffffffffffffff"},
		{"FF:00:00:00:00:00:00:0a", 0xff0000000000000a, "ff0000000000000a"},
	}
	for _, tc := range tests {
		got, err := ParseDPID(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDPID(%q) = %#x, %v; want %#x", tc.in, got, err, tc.want)
		}
		if s := FormatDPID(got); s != tc.fmt {
			t.Errorf("FormatDPID(%#x) = %q, want %q", got, s, tc.fmt)
		}
	}
	// Decimal and 0x forms are ambiguous or not what any tool prints: one
	// grammar (package dpid) refuses them everywhere.
	for _, bad := range []string{"", "zz", "00:00:00:00:00:00:00", "0:00:00:00:00:00:00:001", "0xgg", "-1", "00:00:00:00:00:00:00:zz",
		"0x1", "42", "18446744073709551615"} {
		if _, err := ParseDPID(bad); err == nil {
			t.Errorf("ParseDPID(%q) succeeded", bad)
		}
	}
}

func TestEventJSONSchema(t *testing.T) {
	exp := time.Date(2026, 11, 26, 13, 10, 0, 0, time.UTC)
	e := Event{
		ID: 7, Time: time.Date(2026, 11, 26, 13, 0, 0, 500, time.UTC), Type: Blocked, Severity: SeverityWarning,
		DPID: 1, Port: 3, MAC: "02:00:00:00:00:03", IP: "10.0.0.3", Kind: "port-scan",
		BlockID: "b-1", Reason: "trw", Probes: 4, Expires: &exp,
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":7,"time":"2026-11-26T13:00:00.0000005Z","type":"blocked","severity":"warning",` +
		`"port":3,"mac":"02:00:00:00:00:03","ip":"10.0.0.3","kind":"port-scan","block_id":"b-1",` +
		`"reason":"trw","probes":4,"expires":"2026-11-26T13:10:00Z","dpid":"0000000000000001"}`
	if string(b) != want {
		t.Fatalf("JSON =\n%s\nwant\n%s", b, want)
	}
	var back Event
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.DPID != 1 || back.Port != 3 || back.ID != 7 || !back.Expires.Equal(exp) || back.Type != Blocked {
		t.Fatalf("round trip = %+v", back)
	}
	// The minimum: no zero fields but id, time, type and severity.
	b, _ = json.Marshal(Event{ID: 1, Type: SwitchUp, Severity: SeverityNotice})
	if want := `{"id":1,"time":"0001-01-01T00:00:00Z","type":"switch_up","severity":"notice"}`; string(b) != want {
		t.Fatalf("minimal JSON = %s, want %s", b, want)
	}
}

func TestEventUnmarshalDPIDForms(t *testing.T) {
	for in, want := range map[string]uint64{
		`{"dpid":"00:00:00:00:00:00:01:00"}`: 256,
		`{"dpid":256}`:                       256,
		`{"dpid":null}`:                      0,
		`{}`:                                 0,
	} {
		var e Event
		if err := json.Unmarshal([]byte(in), &e); err != nil || e.DPID != want {
			t.Errorf("Unmarshal(%s) dpid = %d, %v; want %d", in, e.DPID, err, want)
		}
	}
	for _, bad := range []string{`{"dpid":"nope"}`, `{"dpid":true}`, `{"id":"x"}`, `[`} {
		var e Event
		if err := json.Unmarshal([]byte(bad), &e); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
}

func TestSummary(t *testing.T) {
	exp := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		e    Event
		want string
	}{
		{Event{Type: Blocked, Message: "custom"}, "custom"},
		{Event{Type: ScanDetected, Kind: "port-scan", IP: "10.0.0.3", MAC: "02:00:00:00:00:03", DPID: 1, Port: 3, Probes: 4, Reason: "trw"},
			"scan_detected port-scan source 10.0.0.3 (02:00:00:00:00:03) switch 0000000000000001 port 3 after 4 probes: trw"},
		{Event{Type: Blocked, MAC: "02:00:00:00:00:03", Expires: &exp}, "blocked source 02:00:00:00:00:03 until 2026-01-02T03:04:05Z"},
		{Event{Type: SwitchUp, DPID: 2}, "switch_up switch 0000000000000002"},
	}
	for _, tc := range tests {
		if got := tc.e.Summary(); got != tc.want {
			t.Errorf("Summary() = %q, want %q", got, tc.want)
		}
	}
}

func TestTypesAndSeverities(t *testing.T) {
	seen := map[Type]bool{}
	for _, ty := range Types {
		if !ty.Valid() || seen[ty] || strings.ToLower(string(ty)) != string(ty) {
			t.Errorf("type %q: duplicate or badly named", ty)
		}
		seen[ty] = true
		if _, ok := severityCodes[DefaultSeverity(ty)]; !ok {
			t.Errorf("DefaultSeverity(%q) = %q is not an RFC 5424 name", ty, DefaultSeverity(ty))
		}
	}
	if Type("nonsense").Valid() {
		t.Error("nonsense type is valid")
	}
	if SeverityCode(SeverityError) != 3 || SeverityCode(SeverityDebug) != 7 || SeverityCode("bogus") != 5 {
		t.Error("SeverityCode does not follow RFC 5424 table 2")
	}
}

func FuzzEventJSON(f *testing.F) {
	f.Add([]byte(`{"id":7,"time":"2026-11-26T13:00:00Z","type":"blocked","dpid":"00:00:00:00:00:00:00:01","expires":"2026-11-26T13:10:00Z"}`))
	f.Add([]byte(`{"dpid":12}`))
	f.Add([]byte(`{"dpid":"0x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Event
		if err := json.Unmarshal(b, &e); err != nil {
			return
		}
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var e2 Event
		if err := json.Unmarshal(out, &e2); err != nil {
			t.Fatalf("decode of our own encoding %s: %v", out, err)
		}
		if e2.DPID != e.DPID || e2.ID != e.ID || e2.Type != e.Type {
			t.Fatalf("round trip changed the event: %+v vs %+v", e, e2)
		}
	})
}

func FuzzParseDPID(f *testing.F) {
	for _, s := range []string{"00:00:00:00:00:00:00:01", "0x1", "0000000000000001", "1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDPID(s)
		if err != nil {
			return
		}
		if back, err := ParseDPID(FormatDPID(d)); err != nil || back != d {
			t.Fatalf("FormatDPID(%#x) does not parse back: %v %v", d, back, err)
		}
	})
}
