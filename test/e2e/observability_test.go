package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"portcullis/internal/metrics"
)

// This file: the Grafana dashboard (deploy/grafana/portcullis.json) and the
// alert rules (deploy/prometheus/alerts.yml) checked against what a running
// controller exports. TestOperatorMetrics calls opCheckObservability with
// its scrape after a scan, a block and its removal.

var (
	// A metric name in a query, with its label matchers if any.
	promMetricRE = regexp.MustCompile(`\b(portcullis_[a-z0-9_]+)(\{[^}]*\})?`)
	// One label matcher: name, operator, quoted value.
	promMatcherRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"`)
	// A by (...) or without (...) clause.
	promByRE = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	// A query in the dashboard's JSON or the rules' YAML.
	dashExprRE  = regexp.MustCompile(`"expr":\s*"((?:[^"\\]|\\.)*)"`)
	rulesExprRE = regexp.MustCompile(`(?m)^\s*expr:\s*(\|\s*\n\s*)?(.+)$`)
)

// opQueries returns the PromQL queries of the dashboard and the rules, each
// with where it comes from.
func opQueries(t testing.TB) map[string]string {
	t.Helper()
	root := repoRoot()
	q := map[string]string{}
	dash, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "portcullis.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range dashExprRE.FindAllStringSubmatch(string(dash), -1) {
		e := strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(m[1])
		q[e] = "deploy/grafana/portcullis.json"
	}
	rules, err := os.ReadFile(filepath.Join(root, "deploy", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range rulesExprRE.FindAllStringSubmatch(string(rules), -1) {
		q[strings.TrimSpace(m[2])] = "deploy/prometheus/alerts.yml"
	}
	if len(q) < 10 {
		t.Fatalf("found only %d queries in the dashboard and the rules", len(q))
	}
	return q
}

// opDeclared returns the names of every metric family internal/metrics
// declares, observed or not (a vector without series is not scraped).
func opDeclared() map[string]bool {
	ch := make(chan *prometheus.Desc)
	go func() { metrics.New().Registry().Describe(ch); close(ch) }()
	names := map[string]bool{}
	descName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		if m := descName.FindStringSubmatch(d.String()); m != nil {
			names[m[1]] = true
		}
	}
	return names
}

// opCheckObservability: every metric a dashboard query or an alert rule
// names is in the controller's /metrics (or, for a vector nothing has
// touched yet in this run, declared by internal/metrics), and every label a
// query matches or groups by is a label of the metrics it names.
func opCheckObservability(t *testing.T, fams map[string]*opFamily) {
	declared := opDeclared()
	labelsOf := func(name string) (map[string]bool, bool) {
		f, ok := fams[name]
		if !ok {
			return nil, false
		}
		ls := map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				ls[lp.GetName()] = true
			}
		}
		return ls, true
	}
	// Labels Prometheus adds (job, instance) or histograms have (le).
	implicit := []string{"job", "instance", "le", "__name__"}
	for expr, file := range opQueries(t) {
		exprLabels := map[string]bool{}
		for _, m := range promMetricRE.FindAllStringSubmatch(expr, -1) {
			name := m[1]
			fam := name
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suf); ok {
					if f, ok := fams[base]; ok && f.GetType().String() == "HISTOGRAM" {
						fam = base
					} else if declared[base] && !declared[name] {
						fam = base
					}
				}
			}
			ls, ok := labelsOf(fam)
			if !ok {
				if declared[fam] {
					t.Logf("%s: %s has no series yet in this run (declared in internal/metrics)", file, fam)
					continue
				}
				t.Errorf("%s: query %q names %s, which the controller does not export", file, expr, name)
				continue
			}
			for l := range ls {
				exprLabels[l] = true
			}
			for _, mm := range promMatcherRE.FindAllStringSubmatch(m[2], -1) {
				if l := mm[1]; !ls[l] && !slices.Contains(implicit, l) {
					t.Errorf("%s: query %q matches label %q, which %s does not have (it has %v)", file, expr, l, fam, ls)
				}
			}
		}
		for _, m := range promByRE.FindAllStringSubmatch(expr, -1) {
			for _, l := range strings.Split(m[1], ",") {
				l = strings.TrimSpace(l)
				if l != "" && !exprLabels[l] && !slices.Contains(implicit, l) && len(exprLabels) > 0 {
					t.Errorf("%s: query %q groups by %q, a label none of its metrics has", file, expr, l)
				}
			}
		}
	}
}
