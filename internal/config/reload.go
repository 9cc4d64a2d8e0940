package config

import "reflect"

// restartKeys are the settings a running controller cannot change without
// dropping its listeners or its state: SIGHUP leaves them as they are.
var restartKeys = []struct {
	key string
	get func(*Config) any
}{
	{"listen.openflow", func(c *Config) any { return c.Listen.OpenFlow }},
	{"tls", func(c *Config) any { return c.TLS }},
	{"api.listen", func(c *Config) any { return c.API.Listen }},
	{"api.tls", func(c *Config) any { return c.API.TLS }},
	{"state_dir", func(c *Config) any { return c.StateDir }},
}

// NeedsRestart lists the keys that differ between old and new but only take
// effect after a restart (listeners, TLS, state dir). A SIGHUP reload applies
// everything else and should log these.
func NeedsRestart(old, new Config) []string {
	var out []string
	for _, k := range restartKeys {
		if !reflect.DeepEqual(k.get(&old), k.get(&new)) {
			out = append(out, k.key)
		}
	}
	return out
}
