// Package prometheus holds Portcullis's Prometheus alert rules
// (alerts.yml: scanner blocked, block failed, no switch, switch down, meter
// drops, install latency, events dropped, controller down) and their
// promtool unit tests (alerts_test.yml). Its Go tests run `promtool check
// rules` and `promtool test rules`; test/e2e TestOperatorMetrics checks that
// every metric the rules name is exported by a running controller.
package prometheus
