package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// leafKeys returns every key of t that is not a section (a struct).
func leafKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		key := strings.TrimPrefix(prefix+"."+yamlName(f), ".")
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
			out = append(out, leafKeys(f.Type, key)...)
			continue
		}
		out = append(out, key)
	}
	return out
}

// Every key of Config is covered by exactly one ReloadTable entry (itself
// or its section), and every entry names a key that exists: adding a config
// key without deciding what SIGHUP does with it fails here.
func TestReloadTableCoversEveryKey(t *testing.T) {
	v := reflect.ValueOf(Default())
	for _, e := range ReloadTable {
		if !fieldAt(v, e.Key).IsValid() {
			t.Errorf("ReloadTable names %q, which is not a key of Config", e.Key)
		}
		if e.Effect != Live && e.Effect != Restart {
			t.Errorf("ReloadTable %q: effect %d", e.Key, e.Effect)
		}
	}
	leaves := leafKeys(reflect.TypeOf(Config{}), "")
	if len(leaves) < 40 {
		t.Fatalf("only %d keys found: the walk is broken", len(leaves))
	}
	for _, k := range leaves {
		var by []string
		for _, e := range ReloadTable {
			if k == e.Key || strings.HasPrefix(k, e.Key+".") {
				by = append(by, e.Key)
			}
		}
		if len(by) != 1 {
			t.Errorf("config key %s is covered by %d ReloadTable entries %q, want exactly 1: say whether SIGHUP applies it", k, len(by), by)
		}
	}
}

func TestDiff(t *testing.T) {
	old := Default()
	if d := Diff(old, old); len(d) != 0 {
		t.Fatalf("Diff of equal configs = %v", d)
	}
	n := Default()
	n.API.Tokens = []string{"a-secret-token-0123456789"}
	n.Block.NoisyPorts = []uint16{53}
	n.Notify.Webhook.URL = "https://hooks.example/x"
	n.Block.Durations = []time.Duration{time.Minute}
	n.Detect.TRW.Alpha = 0.02
	n.Meters.PacketInRate = 77
	got := Diff(old, n)
	want := []Change{{"api.tokens", Live}, {"detect.trw.alpha", Restart}, {"block.durations", Live}, {"block.noisy_ports", Live},
		{"meters.packet_in_rate", Restart}, {"notify.webhook.url", Live}}
	if !slices.Equal(got, want) {
		t.Errorf("Diff = %v, want %v", got, want)
	}
	if r := NeedsRestart(old, n); !slices.Equal(r, []string{"detect.trw.alpha", "meters.packet_in_rate"}) {
		t.Errorf("NeedsRestart = %v", r)
	}
	if Live.String() != "applied" || Restart.String() != "needs a restart" {
		t.Errorf("Effect strings %q %q", Live, Restart)
	}
}
