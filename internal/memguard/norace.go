//go:build !race

package memguard

const raceEnabled = false
