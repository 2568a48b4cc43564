package config

import (
	"fmt"
	"strings"
)

// LogLevels are the values of log.level, least to most severe; off logs
// nothing. trace is debug: evented has no finer level, and accepts trace so
// that habits from evented-rs keep working.
var LogLevels = []string{"trace", "debug", "info", "warn", "error", "off"}

// LogLevel reads the value of EVENTED_LOG: a plain level (LogLevels, any
// case) or, so that habits from evented-rs keep working, RUST_LOG-style
// comma-separated directives: "evented=debug", "info,evented=debug",
// "sqlx=debug,evented=info". A directive for the evented target (or
// evented::…) beats a plain level, and the most verbose of those wins;
// directives for other targets are ignored, since evented has one level for
// everything. found is false when v only names other targets, leaving
// log.level as it is.
func LogLevel(v string) (level string, found bool, err error) {
	var global, target string
	for d := range strings.SplitSeq(v, ",") {
		d = strings.TrimSpace(d)
		if d == "" {
			continue
		}
		name, lvl := "", d
		if i := strings.LastIndex(d, "="); i >= 0 {
			name, lvl = d[:i], d[i+1:]
		} else if isEvented(d) {
			// A bare target enables everything for it.
			name, lvl = d, "trace"
		}
		lvl = strings.ToLower(lvl)
		rank := levelRank(lvl)
		if rank < 0 {
			return "", false, fmt.Errorf("invalid level %q in %q: want %s, alone or as directives such as evented=debug or info,evented=debug",
				lvl, v, strings.Join(LogLevels[:len(LogLevels)-1], ", ")+" or off")
		}
		switch {
		case name == "":
			global = lvl
		case isEvented(name):
			if target == "" || rank < levelRank(target) {
				target = lvl
			}
		}
	}
	switch {
	case target != "":
		return target, true, nil
	case global != "":
		return global, true, nil
	}
	return "", false, nil
}

// levelRank is the index of lvl in LogLevels, or -1.
func levelRank(lvl string) int {
	for i, l := range LogLevels {
		if l == lvl {
			return i
		}
	}
	return -1
}

func isEvented(target string) bool {
	return target == "evented" || strings.HasPrefix(target, "evented::")
}
