package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestClusterParse(t *testing.T) {
	c, err := Parse("c.yaml", []byte("store:\n  etcd:\n    endpoints: [http://127.0.0.1:2379, https://10.0.0.2:2379]\n    prefix: /net1/\n"+
		"cluster:\n  name: ctl-a\n  lease_ttl: 3s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Store.Etcd.Enabled() || len(c.Store.Etcd.Endpoints) != 2 || c.Store.Etcd.Prefix != "/net1/" ||
		c.Store.Etcd.DialTimeout != 5*time.Second || c.Cluster.NodeName() != "ctl-a" || c.Cluster.LeaseTTL != 3*time.Second {
		t.Fatalf("got %+v %+v", c.Store, c.Cluster)
	}
	d := Default()
	if d.Store.Etcd.Enabled() || d.Cluster.LeaseTTL != 2*time.Second || d.Cluster.NodeName() == "" {
		t.Fatalf("defaults: %+v %+v (name %q)", d.Store, d.Cluster, d.Cluster.NodeName())
	}
}

func TestClusterErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"endpoint not a URL", "store:\n  etcd:\n    endpoints: [127.0.0.1:2379]\n",
			`store.etcd.endpoints[0]: must be an http:// or https:// URL of an etcd client endpoint, got "127.0.0.1:2379"`},
		{"prefix relative", "store:\n  etcd:\n    endpoints: [http://127.0.0.1:2379]\n    prefix: net1\n",
			`store.etcd.prefix: must be a key prefix starting with / and without spaces, got "net1"`},
		{"cert without key", "store:\n  etcd:\n    endpoints: [http://127.0.0.1:2379]\n    cert: /c.pem\n",
			"store.etcd.key: must be set together with store.etcd.cert"},
		{"tls without endpoints", "store:\n  etcd:\n    ca: /ca.pem\n",
			"store.etcd.endpoints: must be set when store.etcd.cert or store.etcd.ca is"},
		{"name with slash", "cluster:\n  name: a/b\n",
			`cluster.name: must be at most 64 characters without slashes or spaces, got "a/b"`},
		{"ttl too short", "cluster:\n  lease_ttl: 100ms\n",
			"cluster.lease_ttl: must be a duration from 1s to 1m, got 100ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
}

func TestClusterNeedsRestart(t *testing.T) {
	a, b := Default(), Default()
	b.Store.Etcd.Endpoints = []string{"http://127.0.0.1:2379"}
	b.Cluster.LeaseTTL = 5 * time.Second
	got := NeedsRestart(a, b)
	if !slices.Contains(got, "store.etcd.endpoints") || !slices.Contains(got, "cluster.lease_ttl") {
		t.Fatalf("NeedsRestart = %v, want store.etcd.endpoints and cluster.lease_ttl", got)
	}
}
