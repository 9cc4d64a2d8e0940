package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Memory is a process's resident memory from /proc/PID/status, in bytes.
type Memory struct {
	RSS  uint64 // VmRSS: resident now
	Peak uint64 // VmHWM: the most resident so far
}

// ReadMemory reads VmRSS and VmHWM of process pid.
func ReadMemory(pid int) (Memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, fmt.Errorf("bench: %w", err)
	}
	defer f.Close()
	var m Memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *uint64
		switch k {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.Peak
		default:
			continue
		}
		f := strings.Fields(v) // "123456 kB"
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("bench: /proc/%d/status: %s: %q", pid, k, v)
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("bench: /proc/%d/status: %s: %w", pid, k, err)
		}
		*dst = n << 10
	}
	if err := sc.Err(); err != nil {
		return m, fmt.Errorf("bench: /proc/%d/status: %w", pid, err)
	}
	if m.RSS == 0 {
		return m, fmt.Errorf("bench: /proc/%d/status has no VmRSS", pid)
	}
	return m, nil
}
