package grpcapi

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
)

// TestErrorCodesAreDocumented: every code codeTable answers has its row in
// docs/reference/errors.md, and every message of its own is quoted there,
// so that the reference cannot lose a code the server gives.
func TestErrorCodesAreDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/reference/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	// Beside the table: anything unmapped (INTERNAL), and the
	// authentication interceptor's codes.
	for _, c := range []codes.Code{codes.Internal, codes.Unauthenticated, codes.PermissionDenied} {
		if name := upperSnake(c.String()); !strings.Contains(page, "\n| `"+name+"` |") {
			t.Errorf("docs/reference/errors.md has no row for %s", name)
		}
	}
	for _, e := range codeTable {
		name := upperSnake(e.code.String())
		if !strings.Contains(page, "\n| `"+name+"` |") {
			t.Errorf("docs/reference/errors.md has no row for %s (%v)", name, e.err)
		}
		if e.message != "" {
			prefix, _, _ := strings.Cut(e.message, " (")
			prefix, _, _ = strings.Cut(prefix, ":")
			if !strings.Contains(page, prefix) {
				t.Errorf("docs/reference/errors.md does not quote %q, the message of %v", prefix, e.err)
			}
		}
	}
}

var wordStart = regexp.MustCompile(`([a-z])([A-Z])`)

// upperSnake writes a code's Go name as gRPC writes it: InvalidArgument is
// INVALID_ARGUMENT; Canceled is CANCELLED.
func upperSnake(s string) string {
	if s == "Canceled" {
		return "CANCELLED"
	}
	return strings.ToUpper(wordStart.ReplaceAllString(s, "${1}_${2}"))
}
