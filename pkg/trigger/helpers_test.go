package trigger

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// corpusDir is the shared corpus of real recorded samples (../shared/corpus beside the repo).
// AMIKMS_CORPUS_DIR overrides it. A missing corpus fails the test: it is a required input.
func corpusDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("AMIKMS_CORPUS_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "corpus")
	}
	if _, err := os.Stat(filepath.Join(dir, "cloudtrail")); err != nil {
		t.Fatalf("corpus not found at %s (set AMIKMS_CORPUS_DIR): %v", dir, err)
	}
	return dir
}

// eventsDir is the repository's events/ directory.
const eventsDir = "../../events"

// jsonFiles lists dir/*.json sorted by name.
func jsonFiles(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no JSON files in %s", dir)
	}
	sort.Strings(files)
	return files
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// decodeOne decodes raw and requires exactly one record without error.
func decodeOne(t *testing.T, raw []byte) Trigger {
	t.Helper()
	inv, err := Decode(raw)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(inv.Records) != 1 {
		t.Fatalf("got %d records, want 1", len(inv.Records))
	}
	if inv.Records[0].Err != nil {
		t.Fatalf("record error: %v", inv.Records[0].Err)
	}
	return inv.Records[0].Trigger
}

func principalARN(tr Trigger) string {
	if tr.Principal == nil {
		return ""
	}
	return tr.Principal.ARN
}
