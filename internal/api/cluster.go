package api

import (
	"context"
	"net/http"
	"time"
)

// Cluster is GET /api/v1/cluster: the cluster as the answering instance sees it (docs/ha.md).
type Cluster struct {
	// Enabled is false for a single instance (no store.etcd): Role is then "standalone".
	Enabled bool   `json:"enabled"`
	Name    string `json:"name,omitempty"` // this instance
	Role    string `json:"role"`           // "leader", "follower" or "standalone"
	Leader  string `json:"leader"`         // the leader's name, "" while none is known
	// Generation is the leader's generation: the generation_id of its OFPT_ROLE_REQUEST MASTER.
	Generation uint64          `json:"generation"`
	Elections  uint64          `json:"elections"` // times this instance became leader
	Failovers  uint64          `json:"failovers"` // times it saw the leadership pass to another instance
	Switches   int             `json:"switches"`  // switch sessions this instance has
	Master     int             `json:"master"`    // of which it is the master of (set up)
	Members    []ClusterMember `json:"members"`
	// Error says why Members could not be read (etcd unreachable); the rest is this instance's own.
	Error string `json:"error,omitempty"`
}

// ClusterMember is one instance registered in etcd.
type ClusterMember struct {
	Name   string `json:"name"`
	API    string `json:"api,omitempty"`
	Leader bool   `json:"leader"`
}

// ClusterBackend is implemented by a Backend that can be part of a cluster; the route exists only
// then.
type ClusterBackend interface {
	Cluster(ctx context.Context) Cluster
}

func (s *server) clusterRoutes() {
	cb, ok := s.b.(ClusterBackend)
	if !ok {
		return
	}
	s.mux.Handle("GET /api/v1/cluster", s.read(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		c := cb.Cluster(ctx)
		c.Members = nonNil(c.Members)
		writeJSON(w, http.StatusOK, c)
	}))
}
