// Package grafana holds Portcullis's Grafana dashboard (portcullis.json),
// built on the Prometheus metrics of the controller's /metrics. Its Go test
// checks the dashboard's structure and compiles every query with promtool;
// test/e2e TestOperatorMetrics checks that every metric the queries name is
// exported by a running controller.
package grafana
