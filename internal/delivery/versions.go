package delivery

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Versions of a projector run side by side (blue/green): a new version
// starts from the beginning under its own name and checkpoints, its
// catching up delivered as a replay, while the active one goes on. When
// the new one has caught up, a cut-over (an operator's, or automatic)
// makes it the active one, on every replica, through a record in the
// store; older versions then retire: they deliver nothing more and give
// their leases back. Only the active version delivers inline (its
// projections are the ones in command replies).

// VersionName is the subscription name of version v of projector: the
// projector's own name for version 1 (so an unversioned projector keeps its
// checkpoints when a version 2 is added), name@vN after.
func VersionName(projector string, v int) string {
	if v <= 1 {
		return projector
	}
	return projector + "@v" + strconv.Itoa(v)
}

// ParseVersionName splits a subscription name into projector and version.
func ParseVersionName(name string) (string, int) {
	if base, v, ok := strings.Cut(name, "@v"); ok {
		if n, err := strconv.Atoi(v); err == nil && n > 1 {
			return base, n
		}
	}
	return name, 1
}

// activeCheckpoint names the checkpoint that records a projector's active
// version. Subscriber names hold no ':'.
func activeCheckpoint(projector string) string { return "active:" + projector }

// projector is the subscription's projector name and version.
func (s *Subscription) projector() (string, int) {
	if s.opts.Projector == "" {
		return s.Name(), 1
	}
	return s.opts.Projector, max(s.opts.Version, 1)
}

// ActiveVersion is the projector's active version: the one cut over to,
// else the lowest configured (Options.FirstVersion).
func (s *Subscription) ActiveVersion(ctx context.Context) (int, error) {
	name, _ := s.projector()
	v, err := s.store.Checkpoint(ctx, activeCheckpoint(name))
	if err != nil {
		return 0, fmt.Errorf("active version of %s: %w", name, err)
	}
	if v == 0 {
		return max(s.opts.FirstVersion, 1), nil
	}
	return int(v), nil
}

// versionState is where the subscription's version stands against the
// active one, as of the last look.
type versionState int

const (
	versionActive    versionState = iota // delivers, inline too
	versionCandidate                     // newer: catches up, not inline
	versionRetired                       // older: delivers nothing
)

func (v versionState) String() string {
	return [...]string{"active", "candidate", "retired"}[v]
}

// lookVersion refreshes the subscription's state from the store's record,
// and cuts over to this version when it is a candidate set to do so
// automatically and has caught up.
func (s *Subscription) lookVersion(ctx context.Context, caughtUp bool) (versionState, error) {
	_, mine := s.projector()
	active, err := s.ActiveVersion(ctx)
	if err != nil {
		return versionActive, err
	}
	if mine > active && s.opts.AutoCutover && caughtUp {
		if err := s.CutOver(ctx); err != nil {
			return versionCandidate, err
		}
		active = mine
	}
	st := versionActive
	switch {
	case mine < active:
		st = versionRetired
	case mine > active:
		st = versionCandidate
	}
	s.mu.Lock()
	was := s.version
	s.version = st
	s.mu.Unlock()
	if st != was {
		s.log.Info("projector version state", "state", st.String(), "version", mine, "active", active)
	}
	return st, nil
}

// CutOver makes this subscription's version the projector's active one on
// every replica (each sees it within a third of a lease).
func (s *Subscription) CutOver(ctx context.Context) error {
	name, mine := s.projector()
	if err := s.store.SaveCheckpoint(ctx, activeCheckpoint(name), uint64(mine)); err != nil {
		return fmt.Errorf("cut %s over to version %d: %w", name, mine, err)
	}
	s.log.Info("projector cut over", "projector", name, "version", mine)
	s.mu.Lock()
	s.version = versionActive
	s.mu.Unlock()
	s.kick()
	return nil
}

// inlineActive reports whether the subscription may deliver inline: it is
// the active version.
func (s *Subscription) inlineActive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version == versionActive
}

// CatchUp is a subscriber's lag in seconds (the age of the first event it
// has not handled) and the estimated seconds until it catches up (the
// events behind head at its rate; 0 when caught up or not delivering).
func CatchUp(st Status, head uint64, now time.Time) (lagSeconds, etaSeconds float64) {
	if st.Checkpoint >= head || st.OldestUnhandled.IsZero() {
		return 0, 0
	}
	lagSeconds = max(now.Sub(st.OldestUnhandled).Seconds(), 0)
	if st.Rate > 0 {
		etaSeconds = float64(head-st.Checkpoint) / st.Rate
	}
	return lagSeconds, etaSeconds
}
