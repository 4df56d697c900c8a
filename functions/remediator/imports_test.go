package main

import (
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/imports"
)

// The Lambda is the product only: the local AWS, scenarios, benchmark and emulator harnesses in
// internal/ (and test-only packages) must never be linked into bootstrap.
func TestBootstrapImportsNoWorkshop(t *testing.T) { imports.CheckProductOnly(t) }
