package postgres

import (
	"strings"
	"testing"
)

// The group statements are appendSQL edited by string replacement: an
// edit of appendSQL that the replacements no longer match must fail here,
// not silently send every group one append at a time.
func TestGroupStatementsBuilt(t *testing.T) {
	if groupAppendSQL == appendSQL || !strings.Contains(groupAppendSQL, "page.ordinal + $14") {
		t.Fatal("groupAppendSQL is appendSQL unchanged: its ordinals would not follow the group's")
	}
	if groupKeyedSQL == groupAppendSQL || !strings.Contains(groupKeyedSQL, "keyed AS (") {
		t.Fatal("groupKeyedSQL is groupAppendSQL unchanged: it would store no key")
	}
}
