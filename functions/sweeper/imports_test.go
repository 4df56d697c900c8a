package main

import (
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/imports"
)

// The sweeper is the product only, as bootstrap is.
func TestSweeperImportsNoWorkshop(t *testing.T) { imports.CheckProductOnly(t) }
