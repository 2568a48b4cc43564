package redis

import "sync"

// MarkFull makes the store behave as after a write refused at maxmemory.
func MarkFull(s *Store) { s.full.Store(true) }

// InfoField is infoField, for tests.
var InfoField = infoField

// HoldWriter keeps every append of s from being written, its own or a
// group, until the returned func is called: appends made meanwhile queue.
// Release it again as often as wanted.
func HoldWriter(s *Store) (release func()) {
	s.writing.Lock()
	var once sync.Once
	return func() { once.Do(s.writing.Unlock) }
}

// Queued is the number of appends queued for s's writer, not yet received.
func Queued(s *Store) int { return len(s.appends) }

// Groups is the number of groups s's writer made.
func Groups(s *Store) int64 { return s.groups.Load() }

// Begun is the number of groups s's writer began: it received their first
// append (and then waits to write, while HoldWriter holds it).
func Begun(s *Store) int64 { return s.begun.Load() }

// Alone is the number of appends of s that their callers wrote alone.
func Alone(s *Store) int64 { return s.alone.Load() }
