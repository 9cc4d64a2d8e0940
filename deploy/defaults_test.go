package deploy

import (
	"slices"
	"testing"

	"portcullis/internal/config"
)

// The production configuration differs from the defaults only where it means to: it shows some
// defaults (durations, scope, log level, ...) for the operator to see and edit, and a value shown
// there must be today's default, or the shipped file would pin an old one once a default moves.
func TestConfigDiffersFromDefaultsOnPurpose(t *testing.T) {
	c, err := config.Load(configFile)
	if err != nil {
		t.Fatal(err)
	}
	onPurpose := []string{
		"listen.openflow",   // loopback: the bridges are on this host
		"block.allowlist",   // examples to replace
		"block.never_block", // examples to replace
		"block.scope",       // ingress: a switch on 127.0.0.1 without TLS may be any local user's
		"notify.jsonl",      // the unit's LogsDirectory
	}
	for _, ch := range config.Diff(config.Default(), c) {
		if !slices.Contains(onPurpose, ch.Key) {
			t.Errorf("%s: %s differs from config.Default(): a default changed since the file was written, or the file means it (then add it here)", configFile, ch.Key)
		}
	}
}
