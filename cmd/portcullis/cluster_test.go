package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"portcullis/internal/api"
	"portcullis/internal/api/apitest"
)

// clusterFake is the API's fake backend with a cluster.
type clusterFake struct {
	*apitest.Fake
	c api.Cluster
}

func (f clusterFake) Cluster(context.Context) api.Cluster { return f.c }

func TestCLIClusterStatus(t *testing.T) {
	c := api.Cluster{Enabled: true, Name: "b", Role: "follower", Leader: "a", Generation: 42, Switches: 1, Failovers: 1,
		Members: []api.ClusterMember{{Name: "a", API: "http://10.0.0.5:6680", Leader: true}, {Name: "b", API: "http://10.0.0.6:6680"}}}
	srv := httptest.NewServer(api.New(clusterFake{apitest.Demo(), c}, api.Options{OpenReadsOnLoopback: true}))
	t.Cleanup(srv.Close)
	t.Setenv("PORTCULLIS_API", srv.URL)
	t.Setenv("PORTCULLIS_TOKEN", "")
	code, out, errs := run("cluster", "status")
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	for _, w := range []string{"role:", "follower", "leader:", "generation:", "42", "MEMBER", "http://10.0.0.5:6680", "yes"} {
		if !strings.Contains(out, w) {
			t.Errorf("stdout lacks %q:\n%s", w, out)
		}
	}
	code, out, _ = run("cluster", "status", "--json")
	var got api.Cluster
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || got.Leader != "a" || len(got.Members) != 2 {
		t.Errorf("--json: exit %d, %s", code, out)
	}
}

func TestCLIClusterNoRoute(t *testing.T) {
	cliServer(t) // a backend without Cluster (an older controller): no route, an error
	code, _, errs := run("cluster", "status")
	if code == 0 || errs == "" {
		t.Errorf("cluster status against a controller without the route: exit %d, stderr %q", code, errs)
	}
}
