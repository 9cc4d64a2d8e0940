//go:build !race

package controller

const raceSlowdown = 1
