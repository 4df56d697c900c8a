package main

import (
	"bytes"
	"strings"
	"testing"
)

// The bench command's argument handling (the measurement itself is `make bench`, never a test).
func TestBenchArguments(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string
	}{
		"no fresh starts": {[]string{"-n", "0"}, "-n must be at least 1"},
		"unknown flag":    {[]string{"-fast"}, "flag provided but not defined"},
		"not a number":    {[]string{"-n", "x"}, "invalid value"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out, errw bytes.Buffer
			if code := dispatch(append([]string{"bench"}, tc.args...), nil, &out, &errw); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(errw.String(), tc.want) || out.Len() != 0 {
				t.Errorf("stderr %q (want %q), stdout %q", errw.String(), tc.want, out.String())
			}
		})
	}
}
