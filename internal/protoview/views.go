package protoview

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/eventedpb"
)

// The views below are what the client commands print with --output json:
// plain JSON with payloads decoded, stable field names, for jq and scripts.

// Event is one stored event.
type Event struct {
	Sequence  uint32 `json:"sequence"`
	CreatedAt string `json:"created_at,omitempty"`
	Payload
	// Cause is the event's metadata; nil for an event stored before
	// evented recorded it.
	Cause *Cause `json:"cause,omitempty"`
}

// Cause is an event's causation and correlation.
type Cause struct {
	CorrelationID string `json:"correlation_id,omitempty"`
	CommandID     string `json:"command_id,omitempty"`
	// CausedBy is the event whose saga sent the command, as
	// "domain/root/sequence"; empty for a client's command.
	CausedBy string `json:"caused_by,omitempty"`
	Depth    uint32 `json:"depth"`
}

// NewCause is the view of m, nil for none.
func NewCause(m *eventedpb.EventMetadata) *Cause {
	if m == nil {
		return nil
	}
	v := &Cause{CorrelationID: m.GetCorrelationId(), CommandID: m.GetCommandId(), Depth: m.GetDepth()}
	if by := m.GetCausedBy(); by != nil {
		v.CausedBy = fmt.Sprintf("%s/%s/%d", by.GetDomain(), RootText(by.GetRoot()), m.GetCausedBySequence())
	}
	return v
}

// Snapshot is a stored snapshot.
type Snapshot struct {
	// Sequence is the first sequence not folded into State.
	Sequence    uint32          `json:"sequence"`
	Type        string          `json:"type"`
	TypeURL     string          `json:"type_url"`
	State       json.RawMessage `json:"state,omitempty"`
	StateBase64 string          `json:"state_base64,omitempty"`
}

// Book is an aggregate's events (and snapshot), one cover.
type Book struct {
	Domain   string    `json:"domain"`
	Root     string    `json:"root"`
	Snapshot *Snapshot `json:"snapshot,omitempty"`
	Events   []Event   `json:"events"`
}

// commandView is one command of a book a saga emitted.
type CommandBook struct {
	Domain   string    `json:"domain"`
	Root     string    `json:"root"`
	Commands []Payload `json:"commands"`
}

// Projection is a synchronous projector's answer.
type Projection struct {
	Domain    string `json:"domain"`
	Root      string `json:"root"`
	Projector string `json:"projector"`
	Sequence  uint32 `json:"sequence"`
	Payload
}

// Reply is the reply to a command.
type Reply struct {
	Books       []Book        `json:"books"`
	Projections []Projection  `json:"projections,omitempty"`
	Commands    []CommandBook `json:"commands,omitempty"`
	// DeliveryFailures names the synchronous consumers that failed
	// ("name: error"), from the evented-delivery-failures trailer.
	DeliveryFailures []string `json:"delivery_failures,omitempty"`
}

// RootText is a root UUID as text (hex when it is not 16 bytes).
func RootText(u *eventedpb.UUID) string {
	if id, err := uuid.FromBytes(u.GetValue()); err == nil {
		return id.String()
	}
	return hex.EncodeToString(u.GetValue())
}

// TimeText formats t in UTC, "" for nil.
func TimeText(t *timestamppb.Timestamp, layout string) string {
	if t == nil {
		return ""
	}
	return t.AsTime().UTC().Format(layout)
}

// Any decodes a.
func (r *Registry) Any(a *anypb.Any) Payload {
	if a == nil {
		return Payload{}
	}
	return r.Decode(a.GetTypeUrl(), a.GetValue())
}

// AddBook appends b's snapshot and pages to v (a long history arrives as
// several books of one cover).
func (r *Registry) AddBook(v *Book, b *eventedpb.EventBook) {
	v.Domain, v.Root = b.GetCover().GetDomain(), RootText(b.GetCover().GetRoot())
	if s := b.GetSnapshot(); s != nil && v.Snapshot == nil {
		p := r.Any(s.GetState())
		v.Snapshot = &Snapshot{Sequence: s.GetSequence(), Type: p.Type, TypeURL: p.TypeURL, State: p.JSON, StateBase64: p.Base64}
	}
	for _, pg := range b.GetPages() {
		v.Events = append(v.Events, Event{
			Sequence:  pg.GetNum(),
			CreatedAt: TimeText(pg.GetCreatedAt(), time.RFC3339Nano),
			Payload:   r.Any(pg.GetEvent()),
			Cause:     NewCause(pg.GetMetadata()),
		})
	}
}

// Reply is the view of a command's reply.
func (r *Registry) Reply(resp *eventedpb.SynchronousProcessingResponse) Reply {
	v := Reply{Books: []Book{}}
	for _, b := range resp.GetBooks() {
		bv := Book{Events: []Event{}}
		r.AddBook(&bv, b)
		v.Books = append(v.Books, bv)
	}
	for _, p := range resp.GetProjections() {
		v.Projections = append(v.Projections, Projection{
			Domain: p.GetCover().GetDomain(), Root: RootText(p.GetCover().GetRoot()),
			Projector: p.GetProjector(), Sequence: p.GetSequence(), Payload: r.Any(p.GetProjection()),
		})
	}
	for _, c := range resp.GetCommands() {
		cv := CommandBook{Domain: c.GetCover().GetDomain(), Root: RootText(c.GetCover().GetRoot())}
		for _, pg := range c.GetPages() {
			cv.Commands = append(cv.Commands, r.Any(pg.GetCommand()))
		}
		v.Commands = append(v.Commands, cv)
	}
	return v
}
