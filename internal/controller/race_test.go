//go:build race

package controller

// raceSlowdown stretches the harness's waits under the race detector, which
// runs the controller several times slower.
const raceSlowdown = 4
