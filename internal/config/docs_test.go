package config

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"portcullis/internal/forward"
)

// The prose of the docs that states a default states Default()'s (the
// example configuration is checked whole by TestExample). Each claim is
// formatted from the value, so changing a default without the sentence
// that names it fails here.
func TestDocsStateTheDefaults(t *testing.T) {
	d := Default()
	m, pb := d.Meters, d.Meters.ProbeBudget
	esc := d.Block.Durations
	claims := []struct{ file, text string }{
		{"pipeline.md", fmt.Sprintf("`detect.flood.syn_rate` (default %d/s) for `detect.flood.sustain` (default %s)", d.Detect.Flood.SYNRate, human(d.Detect.Flood.Sustain))},
		{"pipeline.md", fmt.Sprintf("default %d/s, burst %d, `meters.first_contact_*`", m.FirstContactRate, m.FirstContactBurst)},
		{"pipeline.md", fmt.Sprintf("`meters.reply_rate` default %d/s,\n  `meters.reply_burst` default %d)", m.ReplyRate, m.ReplyBurst)},
		{"pipeline.md", fmt.Sprintf("| `goto_table:3` | idle (default %d s) |", d.Forward.IdleTimeout/time.Second)},
		{"pipeline.md", fmt.Sprintf("`block.audit_interval` (default %s;", human(d.Block.AuditInterval))},
		{"pipeline.md", fmt.Sprintf("| stray | pure ACK, FIN/ACK, URG/ACK (ACK, window, Maimon scans; a conversation's packets before its bypass) | %d/s, %d |", pb.StrayRate, pb.StrayBurst)},
		{"pipeline.md", fmt.Sprintf("| **off** (rate %d; measured with 100/s, burst %d) |", pb.UDPRate, pb.UDPBurst)},
		{"pipeline.md", fmt.Sprintf("pings of a pair already answered (echo bypass, below) | %d/s, %d |", pb.ICMPRate, pb.ICMPBurst)},
		{"pipeline.md", fmt.Sprintf("| other | any other IP protocol (SCTP, GRE, ESP, raw numbers) to a unicast MAC | %d/s, %d |", pb.OtherRate, pb.OtherBurst)},
		{"pipeline.md", fmt.Sprintf("unrecognized next header (priority 1402) | %d/s, %d |", pb.RefusalRate, pb.RefusalBurst)},
		{"pipeline.md", fmt.Sprintf("TCP RSTs outside a bypassed conversation (priority 1882) | %d/s, %d |", pb.ResetRate, pb.ResetBurst)},
		{"events.md", fmt.Sprintf("0 first offence (%s by default), 1 second (%s)", human(esc[0]), human(esc[1]))},
		{"deploy.md", fmt.Sprintf("(for escalation: %s, %s, %s, then %s by default)", short(esc[0]), short(esc[1]), short(esc[2]), short(esc[3]))},
		{"ha.md", fmt.Sprintf("lease_ttl, %s by default", human(d.Cluster.LeaseTTL))},
		{"deploy.md", fmt.Sprintf("`notify.alert_rate` limits each sink (%d events per minute by\n  default;", d.Notify.AlertRate)},
		{"deploy.md", fmt.Sprintf("(after the %s start-up grace", human(d.Detect.GracePeriod))},
		{"pipeline.md", fmt.Sprintf("the %s no-answer", human(d.Detect.FirstContactTimeout))},
		{"pipeline.md", fmt.Sprintf("(`MaxHosts`, default %d per switch)", forward.DefaultMaxHosts)},
	}
	if len(esc) != 4 {
		t.Fatalf("block.durations has %d steps; the claims above name 4", len(esc))
	}
	if pb.UDPRate != 0 {
		t.Errorf("meters.probe_budget.udp_rate defaults to %d: pipeline.md's budget table says the class is off", pb.UDPRate)
	}
	docs := map[string]string{}
	for _, c := range claims {
		text, ok := docs[c.file]
		if !ok {
			b, err := os.ReadFile("../../docs/" + c.file)
			if err != nil {
				t.Fatal(err)
			}
			text = string(b)
			docs[c.file] = text
		}
		if !strings.Contains(text, c.text) {
			t.Errorf("docs/%s does not say %q: its default differs from Default() or its wording moved", c.file, c.text)
		}
	}
}

// human writes a duration as the docs' prose does: "2 s", "15 s", "10 min", "1 h".
func human(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%d h", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	default:
		return fmt.Sprintf("%g s", d.Seconds())
	}
}

// short writes a duration as the configuration does: 10m, 1h, 168h.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// docs/deploy.md's table of what SIGHUP does says what ReloadTable says, for every entry of it.
func TestDeployDocReloadTable(t *testing.T) {
	b, err := os.ReadFile("../../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "| Keys | On `SIGHUP` |\n|---|---|\n")
	if !ok {
		t.Fatal("docs/deploy.md has no table | Keys | On `SIGHUP` |")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	top := map[string]bool{}
	for _, k := range allKeys(reflect.TypeOf(Config{}), "") {
		if !strings.Contains(k, ".") {
			top[k] = true
		}
	}
	effectOf := func(key string) (Effect, bool) {
		var eff Effect
		for _, e := range ReloadTable {
			if e.Key == key || strings.HasPrefix(key, e.Key+".") || strings.HasPrefix(e.Key, key+".") {
				if eff != 0 && eff != e.Effect {
					return 0, false // a section whose keys differ: the doc must name them
				}
				eff = e.Effect
			}
		}
		return eff, eff != 0
	}
	inDoc := map[string]bool{}
	for _, row := range strings.Split(table, "\n") {
		cells := strings.Split(row, "|")
		if len(cells) != 4 {
			t.Fatalf("docs/deploy.md reload table row %q: want 2 cells", row)
		}
		keys, what := cells[1], strings.TrimSpace(cells[2])
		want := Live
		if strings.HasPrefix(what, "restart") {
			want = Restart
		} else if !strings.HasPrefix(what, "applied") {
			t.Errorf("docs/deploy.md reload table row %q: say applied or restart first", row)
		}
		for strings.Contains(keys, "(") { // parenthesised notes name sub-keys: not rows of their own
			i, j := strings.Index(keys, "("), strings.Index(keys, ")")
			if j < i {
				break
			}
			keys = keys[:i] + keys[j+1:]
		}
		section := ""
		for _, f := range strings.Split(keys, "`")[1:] {
			k := strings.TrimSpace(f)
			if k == "" || strings.HasPrefix(k, ",") {
				continue
			}
			switch {
			case strings.Contains(k, "."):
				section = k[:strings.LastIndex(k, ".")+1]
			case top[k]:
				section = ""
			default:
				k = section + k
			}
			inDoc[k] = true
			eff, ok := effectOf(k)
			if !ok {
				t.Errorf("docs/deploy.md names %q in its reload table: not a key of ReloadTable with one effect", k)
			} else if eff != want {
				t.Errorf("docs/deploy.md says %q is %v on SIGHUP; ReloadTable says %v", k, want, eff)
			}
		}
	}
	for _, e := range ReloadTable {
		covered := false
		for k := range inDoc {
			if k == e.Key || strings.HasPrefix(e.Key, k+".") || strings.HasPrefix(k, e.Key+".") {
				covered = true
			}
		}
		if !covered {
			t.Errorf("docs/deploy.md's reload table does not say what SIGHUP does with %s (%v)", e.Key, e.Effect)
		}
	}
}
