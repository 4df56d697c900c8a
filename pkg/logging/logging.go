// Package logging builds the zerolog logger every entry point uses: JSON lines, one per decision.
package logging

import (
	"io"
	"time"

	"github.com/rs/zerolog"
)

// New returns a JSON logger writing to w at level ("debug", "info", "warn", "error").
func New(w io.Writer, level string) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		lvl = zerolog.InfoLevel
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("service", "ami-kms-remediator").Logger()
}
