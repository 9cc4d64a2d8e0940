package config

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Store selects where durable state lives: bbolt under state_dir (the
// default, one instance), or etcd when store.etcd.endpoints is set (two or
// three instances sharing one network; docs/ha.md).
type Store struct {
	Etcd Etcd `yaml:"etcd"`
}

// Etcd is the etcd cluster the instances share. Instances that guard one
// network use the same endpoints and prefix.
type Etcd struct {
	Endpoints   []string      `yaml:"endpoints"`    // client URLs, http:// or https://
	Prefix      string        `yaml:"prefix"`       // root of every key, default "/portcullis/"
	Cert        string        `yaml:"cert"`         // client certificate (PEM), with key
	Key         string        `yaml:"key"`          // its private key (PEM)
	CA          string        `yaml:"ca"`           // CA that signed etcd's certificate (PEM)
	DialTimeout time.Duration `yaml:"dial_timeout"` // first contact at start, default 5s
}

// Enabled reports whether the etcd store is configured.
func (e Etcd) Enabled() bool { return len(e.Endpoints) > 0 }

// Cluster is this instance's part in a cluster on etcd (only with store.etcd).
type Cluster struct {
	// Name is this instance's name, unique in the cluster; the host name
	// when empty (NodeName).
	Name string `yaml:"name"`
	// LeaseTTL is how long a dead leader holds the role before another
	// instance takes over (etcd rounds it to whole seconds). A leader that
	// has not renewed its lease for 3/4 of it stops writing to switches.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
}

// NodeName is Name, or the host name when Name is empty.
func (c Cluster) NodeName() string {
	if c.Name != "" {
		return c.Name
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "portcullis"
	}
	return h
}

// DefaultPrefix is the etcd key prefix when store.etcd.prefix is empty.
const DefaultPrefix = "/portcullis/"

func defaultCluster() Cluster { return Cluster{LeaseTTL: 2 * time.Second} }

func defaultStore() Store {
	return Store{Etcd: Etcd{Prefix: DefaultPrefix, DialTimeout: 5 * time.Second}}
}

func (v *v) validateCluster(c *Config) {
	e := c.Store.Etcd
	for i, ep := range e.Endpoints {
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add(fmt.Sprintf("store.etcd.endpoints[%d]", i), "must be an http:// or https:// URL of an etcd client endpoint, got %q", ep)
		}
	}
	if e.Prefix == "" || !strings.HasPrefix(e.Prefix, "/") || strings.ContainsAny(e.Prefix, " \t\n") {
		v.add("store.etcd.prefix", "must be a key prefix starting with / and without spaces, got %q", e.Prefix)
	}
	if (e.Cert == "") != (e.Key == "") {
		if e.Cert == "" {
			v.add("store.etcd.cert", "must be set together with store.etcd.key")
		} else {
			v.add("store.etcd.key", "must be set together with store.etcd.cert")
		}
	}
	if (e.Cert != "" || e.CA != "") && !e.Enabled() {
		v.add("store.etcd.endpoints", "must be set when store.etcd.cert or store.etcd.ca is")
	}
	v.durationIn("store.etcd.dial_timeout", e.DialTimeout, 100*time.Millisecond, time.Minute)
	n := c.Cluster.Name
	if strings.ContainsAny(n, "/ \t\n") || len(n) > 64 {
		v.add("cluster.name", "must be at most 64 characters without slashes or spaces, got %q", n)
	}
	v.durationIn("cluster.lease_ttl", c.Cluster.LeaseTTL, time.Second, time.Minute)
}
