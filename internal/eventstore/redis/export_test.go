package redis

// MarkFull makes the store behave as after a write refused at maxmemory.
func MarkFull(s *Store) { s.full.Store(true) }

// InfoField is infoField, for tests.
var InfoField = infoField
