package delivery

import "github.com/evented/evented/internal/eventstore"

// Share is how many of n segments owner should hold among members: an
// equal share, the first n%len(members) members (by ID) taking one more.
// Other workers split by segment leases (deadlines) balance by it too.
func Share(members []eventstore.Member, owner string, n int) int { return share(members, owner, n) }
