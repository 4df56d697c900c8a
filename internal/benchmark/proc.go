package benchmark

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// PeakRSSKB returns a process's peak resident set size in KiB (VmHWM in /proc/<pid>/status):
// read it before the process exits.
func PeakRSSKB(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read peak RSS of %d: %w", pid, err)
	}
	defer f.Close()
	return statusField(bufio.NewScanner(f), "VmHWM")
}

// statusField reads a "Name:   1234 kB" line of /proc/<pid>/status.
func statusField(sc *bufio.Scanner, name string) (int, error) {
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != name {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s: unexpected value %q", name, v)
		}
		n, err := strconv.Atoi(f[0])
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		return n, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: not in the status file", name)
}
