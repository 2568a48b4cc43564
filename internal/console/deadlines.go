package console

import (
	"net/http"
	"strings"
	"time"

	"github.com/evented/evented/internal/deadline"
	"github.com/evented/evented/internal/eventstore"
)

// maxDeadlines bounds the pending deadlines one page lists (earliest first).
const maxDeadlines = 500

// deadlineView is a pending deadline as the Deadlines page shows it: what
// `evented deadlines` prints.
type deadlineView struct {
	ID        string   `json:"id"`
	Due       string   `json:"due"`
	Overdue   bool     `json:"overdue"`
	Domain    string   `json:"domain"`
	Root      string   `json:"root"`
	Commands  []string `json:"commands"`
	Key       string   `json:"key"`
	CreatedAt string   `json:"created_at"`
}

// deadlines lists the pending deadlines, of ?domain= when given, and
// counts them (all, and those overdue) when the store can.
func (c *Console) deadlines(w http.ResponseWriter, r *http.Request) {
	domain := r.URL.Query().Get("domain")
	ds, err := c.o.Store.PendingDeadlines(r.Context(), domain, maxDeadlines+1)
	if err != nil {
		c.fail(w, r, "deadlines", err)
		return
	}
	now := time.Now()
	out := make([]deadlineView, 0, min(len(ds), maxDeadlines))
	for _, d := range ds[:min(len(ds), maxDeadlines)] {
		v := deadlineView{ID: d.ID, Due: d.Due.UTC().Format(time.RFC3339Nano), Overdue: !d.Due.After(now), Domain: d.Cover.Domain,
			Root: d.Cover.Root.String(), Key: d.Key, CreatedAt: d.CreatedAt.UTC().Format(time.RFC3339)}
		if cmd, err := deadline.Decode(d); err == nil {
			for _, p := range cmd.Pages {
				v.Commands = append(v.Commands, p.TypeURL[strings.LastIndexByte(p.TypeURL, '/')+1:])
			}
		}
		out = append(out, v)
	}
	res := map[string]any{"deadlines": out, "more": len(ds) > maxDeadlines}
	if cnt, ok := c.o.Store.(eventstore.DeadlineCounter); ok && domain == "" {
		if pending, due, err := cnt.CountDeadlines(r.Context(), now); err == nil {
			res["pending"], res["due"] = pending, due
		}
	}
	writeJSON(w, res)
}
