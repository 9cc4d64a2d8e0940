package config

import (
	"strings"
	"testing"
	"time"
)

func TestBlockAuditInterval(t *testing.T) {
	if d := Default().Block.AuditInterval; d != 15*time.Second {
		t.Errorf("default block.audit_interval %v, want 15s", d)
	}
	for _, c := range []struct {
		d  time.Duration
		ok bool
	}{{0, true}, {time.Second, true}, {time.Hour, true}, {500 * time.Millisecond, false}, {2 * time.Hour, false}, {-time.Second, false}} {
		cfg := Default()
		cfg.Block.AuditInterval = c.d
		err := cfg.Validate()
		if (err == nil) != c.ok {
			t.Errorf("audit_interval %v: %v, want ok=%v", c.d, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "block.audit_interval") {
			t.Errorf("audit_interval %v: error %q does not name the key", c.d, err)
		}
	}
}
