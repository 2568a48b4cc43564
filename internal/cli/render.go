package cli

import (
	"cmp"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/eventedpb"
)

// The views below are what the client commands print with --output json:
// plain JSON with payloads decoded, stable field names, for jq and scripts.

// eventView is one stored event.
type eventView struct {
	Sequence  uint32 `json:"sequence"`
	CreatedAt string `json:"created_at,omitempty"`
	payload
	// Cause is the event's metadata; nil for an event stored before
	// evented recorded it.
	Cause *causeView `json:"cause,omitempty"`
}

// causeView is an event's causation and correlation.
type causeView struct {
	CorrelationID string `json:"correlation_id,omitempty"`
	CommandID     string `json:"command_id,omitempty"`
	// CausedBy is the event whose saga sent the command, as
	// "domain/root/sequence"; empty for a client's command.
	CausedBy string `json:"caused_by,omitempty"`
	Depth    uint32 `json:"depth"`
}

func newCauseView(m *eventedpb.EventMetadata) *causeView {
	if m == nil {
		return nil
	}
	v := &causeView{CorrelationID: m.GetCorrelationId(), CommandID: m.GetCommandId(), Depth: m.GetDepth()}
	if by := m.GetCausedBy(); by != nil {
		v.CausedBy = fmt.Sprintf("%s/%s/%d", by.GetDomain(), rootText(by.GetRoot()), m.GetCausedBySequence())
	}
	return v
}

// snapshotView is a stored snapshot.
type snapshotView struct {
	// Sequence is the first sequence not folded into State.
	Sequence    uint32          `json:"sequence"`
	Type        string          `json:"type"`
	TypeURL     string          `json:"type_url"`
	State       json.RawMessage `json:"state,omitempty"`
	StateBase64 string          `json:"state_base64,omitempty"`
}

// bookView is an aggregate's events (and snapshot), one cover.
type bookView struct {
	Domain   string        `json:"domain"`
	Root     string        `json:"root"`
	Snapshot *snapshotView `json:"snapshot,omitempty"`
	Events   []eventView   `json:"events"`
}

// commandView is one command of a book a saga emitted.
type commandBookView struct {
	Domain   string    `json:"domain"`
	Root     string    `json:"root"`
	Commands []payload `json:"commands"`
}

// projectionView is a synchronous projector's answer.
type projectionView struct {
	Domain    string `json:"domain"`
	Root      string `json:"root"`
	Projector string `json:"projector"`
	Sequence  uint32 `json:"sequence"`
	payload
}

// replyView is the reply to a command.
type replyView struct {
	Books       []bookView        `json:"books"`
	Projections []projectionView  `json:"projections,omitempty"`
	Commands    []commandBookView `json:"commands,omitempty"`
	// DeliveryFailures names the synchronous consumers that failed
	// ("name: error"), from the evented-delivery-failures trailer.
	DeliveryFailures []string `json:"delivery_failures,omitempty"`
}

func rootText(u *eventedpb.UUID) string {
	if id, err := uuid.FromBytes(u.GetValue()); err == nil {
		return id.String()
	}
	return hex.EncodeToString(u.GetValue())
}

func timeText(t *timestamppb.Timestamp, layout string) string {
	if t == nil {
		return ""
	}
	return t.AsTime().UTC().Format(layout)
}

func (r *registry) any(a *anypb.Any) payload {
	if a == nil {
		return payload{}
	}
	return r.decode(a.GetTypeUrl(), a.GetValue())
}

// addBook appends b's snapshot and pages to v (a long history arrives as
// several books of one cover).
func (r *registry) addBook(v *bookView, b *eventedpb.EventBook) {
	v.Domain, v.Root = b.GetCover().GetDomain(), rootText(b.GetCover().GetRoot())
	if s := b.GetSnapshot(); s != nil && v.Snapshot == nil {
		p := r.any(s.GetState())
		v.Snapshot = &snapshotView{Sequence: s.GetSequence(), Type: p.Type, TypeURL: p.TypeURL, State: p.JSON, StateBase64: p.Base64}
	}
	for _, pg := range b.GetPages() {
		v.Events = append(v.Events, eventView{
			Sequence:  pg.GetNum(),
			CreatedAt: timeText(pg.GetCreatedAt(), time.RFC3339Nano),
			payload:   r.any(pg.GetEvent()),
			Cause:     newCauseView(pg.GetMetadata()),
		})
	}
}

func (r *registry) reply(resp *eventedpb.SynchronousProcessingResponse) replyView {
	v := replyView{Books: []bookView{}}
	for _, b := range resp.GetBooks() {
		bv := bookView{Events: []eventView{}}
		r.addBook(&bv, b)
		v.Books = append(v.Books, bv)
	}
	for _, p := range resp.GetProjections() {
		v.Projections = append(v.Projections, projectionView{
			Domain: p.GetCover().GetDomain(), Root: rootText(p.GetCover().GetRoot()),
			Projector: p.GetProjector(), Sequence: p.GetSequence(), payload: r.any(p.GetProjection()),
		})
	}
	for _, c := range resp.GetCommands() {
		cv := commandBookView{Domain: c.GetCover().GetDomain(), Root: rootText(c.GetCover().GetRoot())}
		for _, pg := range c.GetPages() {
			cv.Commands = append(cv.Commands, r.any(pg.GetCommand()))
		}
		v.Commands = append(v.Commands, cv)
	}
	return v
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// tableTime is created_at in tables: UTC, milliseconds.
const tableTime = "2006-01-02T15:04:05.000Z07:00"

// writeEvents prints events as a table: sequence, created_at, type, payload.
func writeEvents(w io.Writer, events []eventView) error {
	return writeEventTable(w, events, false)
}

// writeEventTable writes events as a table; with causes, each event's
// correlation id, depth and triggering event ("-" where there is none)
// come before the payload.
func writeEventTable(w io.Writer, events []eventView, causes bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if causes {
		fmt.Fprintln(tw, "SEQUENCE\tCREATED_AT\tTYPE\tCORRELATION_ID\tDEPTH\tCAUSED_BY\tPAYLOAD")
	} else {
		fmt.Fprintln(tw, "SEQUENCE\tCREATED_AT\tTYPE\tPAYLOAD")
	}
	for _, e := range events {
		created := e.CreatedAt
		if t, err := time.Parse(time.RFC3339Nano, created); err == nil {
			created = t.Format(tableTime)
		}
		if !causes {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", e.Sequence, created, e.Type, e.text())
			continue
		}
		correlation, depth, by := "-", "-", "-"
		if c := e.Cause; c != nil {
			correlation, depth = cmp.Or(c.CorrelationID, "-"), fmt.Sprint(c.Depth)
			by = cmp.Or(c.CausedBy, "-")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Sequence, created, e.Type, correlation, depth, by, e.text())
	}
	return tw.Flush()
}
