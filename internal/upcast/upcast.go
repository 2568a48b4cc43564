// Package upcast changes old events into their newest shape as they leave
// the store, without rewriting what is stored.
//
// Every stored event carries a schema version (eventstore.Event.SchemaVersion,
// 0 meaning 1). An upcaster turns an event type from version N into version
// N+1, possibly under a new type URL; steps chain, so an event stored at v1
// is read at v3 when steps v1→v2 and v2→v3 are registered. A Registry holds
// the steps per domain and is checked once, at start (Check): two upcasters
// for one step, or a chain with a hole, is an error naming them. Cycles
// cannot happen: every step raises the version by exactly one, and the
// result of each call is checked against that.
//
// Storage wraps a store so that everything read from it — a command's
// history, queries, the log that feeds projectors, sagas and the bus, parked
// events replayed — comes out upcast. Results are cached per stored event
// (cover, sequence) under a byte bound, so a hot aggregate is not upcast
// again on every command.
//
// The package is part of the core: it imports no gRPC. Upcasters served by
// other processes (any language) are adapted in upcast/remote.
package upcast

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Event is what an upcaster sees and returns: an event's type, the version
// of its shape, and its payload (the protobuf bytes of the type).
type Event struct {
	TypeURL string
	// Version is the shape's version, 1 or more (a stored 0 is given as 1).
	Version uint32
	Payload []byte
}

// Upcaster raises events by one version each.
//
// Upcast is given events of the steps it was registered for, all of one
// domain, and returns as many, in the same order, each with Version equal
// to its input's Version+1 and the TypeURL its step declared. It may be
// called concurrently and must not keep or change the slices it is given.
type Upcaster interface {
	Upcast(ctx context.Context, domain string, events []Event) ([]Event, error)
}

// Func is an in-process upcaster of one step, for Register.
type Func func(ctx context.Context, e Event) (Event, error)

// Upcast calls f for each event.
func (f Func) Upcast(ctx context.Context, _ string, events []Event) ([]Event, error) {
	out := make([]Event, len(events))
	for i, e := range events {
		up, err := f(ctx, e)
		if err != nil {
			return nil, err
		}
		out[i] = up
	}
	return out, nil
}

// Step is one registered upcast: events of Domain with type From and
// version Version become version Version+1 of type To (To empty: From).
type Step struct {
	// Domain is the domain whose events the step applies to; "" applies
	// to every domain that has no step of its own for the same type and
	// version.
	Domain  string
	From    string
	Version uint32
	To      string
	// Name says who upcasts, for errors and logs (a Go function's name, a
	// service's address).
	Name string
}

func (s Step) to() string {
	if s.To == "" {
		return s.From
	}
	return s.To
}

func (s Step) String() string {
	d := s.Domain
	if d == "" {
		d = "*"
	}
	return fmt.Sprintf("%s: %s v%d→%s v%d (%s)", d, s.From, s.Version, s.to(), s.Version+1, s.Name)
}

type key struct {
	domain, typeURL string
	version         uint32
}

type registered struct {
	Step
	u Upcaster
}

// ErrChain is matched by every error of Check: the registered steps do not
// form chains evented can apply.
var ErrChain = errors.New("invalid upcaster chain")

// ErrUpcast is matched by errors of upcasters at run time: a failed call,
// or a result that is not the next version.
var ErrUpcast = errors.New("upcast failed")

// MaxSteps bounds the steps one event goes through in one read.
const MaxSteps = 1000

// Registry holds upcast steps. Register everything, then Check, then use
// it (read-only, safe for concurrent use) through Storage.
type Registry struct {
	steps map[key]registered
	dups  []error
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{steps: map[key]registered{}} }

// Register adds step s, done by u. A second upcaster for the same step is
// reported by Check.
func (r *Registry) Register(s Step, u Upcaster) {
	if s.Version == 0 {
		s.Version = 1
	}
	k := key{s.Domain, s.From, s.Version}
	if prev, ok := r.steps[k]; ok {
		r.dups = append(r.dups, fmt.Errorf("%w: two upcasters for one step: %s and %s", ErrChain, prev.Step, s))
		return
	}
	r.steps[k] = registered{Step: s, u: u}
}

// RegisterFunc registers f for events of type from, version version, of
// domain ("" for every domain); they become version+1 of type to (to ""
// keeps the type).
func (r *Registry) RegisterFunc(domain, from string, version uint32, to string, name string, f Func) {
	r.Register(Step{Domain: domain, From: from, Version: version, To: to, Name: name}, f)
}

// Upcaster returns the upcaster registered for step s (nil when none), so
// that the steps of one registry can be registered in another.
func (r *Registry) Upcaster(s Step) Upcaster {
	if s.Version == 0 {
		s.Version = 1
	}
	return r.steps[key{s.Domain, s.From, s.Version}].u
}

// Empty reports whether no step is registered (Storage is then a no-op).
func (r *Registry) Empty() bool { return r == nil || len(r.steps) == 0 }

// Steps lists the registered steps, sorted.
func (r *Registry) Steps() []Step {
	out := make([]Step, 0, len(r.steps))
	for _, s := range r.steps {
		out = append(out, s.Step)
	}
	slices.SortFunc(out, func(a, b Step) int {
		return strings.Compare(fmt.Sprintf("%s\x00%s\x00%010d", a.Domain, a.From, a.Version), fmt.Sprintf("%s\x00%s\x00%010d", b.Domain, b.From, b.Version))
	})
	return out
}

// Check reports every problem of the registered steps at once: a step
// registered twice, a step with no type, and a hole in a chain — a step
// from version N > 1 of a type that no step of the same domain (or of
// every domain) produces, so events at version N-1 would never reach it.
func (r *Registry) Check() error {
	if r == nil {
		return nil
	}
	errs := slices.Clone(r.dups)
	produced := map[key]bool{}
	for _, s := range r.steps {
		produced[key{s.Domain, s.to(), s.Version + 1}] = true
	}
	for _, s := range r.Steps() {
		if s.From == "" {
			errs = append(errs, fmt.Errorf("%w: %s: the type to upcast from is empty", ErrChain, s))
			continue
		}
		if s.Version == MaxSteps {
			errs = append(errs, fmt.Errorf("%w: %s: version %d is the last evented upcasts from", ErrChain, s, MaxSteps-1))
		}
		if s.Version > 1 && !produced[key{s.Domain, s.From, s.Version}] && !produced[key{"", s.From, s.Version}] {
			errs = append(errs, fmt.Errorf("%w: gap before %s: no step upcasts to %s v%d (a step from v%d is missing)",
				ErrChain, s, s.From, s.Version, s.Version-1))
		}
	}
	return errors.Join(errs...)
}

// lookup finds the step for an event of domain at (typeURL, version).
func (r *Registry) lookup(domain, typeURL string, version uint32) (registered, bool) {
	if version == 0 {
		version = 1
	}
	if s, ok := r.steps[key{domain, typeURL, version}]; ok {
		return s, true
	}
	s, ok := r.steps[key{"", typeURL, version}]
	return s, ok
}

// Needs reports whether an event of domain at (typeURL, version) has a
// step to go through.
func (r *Registry) Needs(domain, typeURL string, version uint32) bool {
	if r.Empty() {
		return false
	}
	_, ok := r.lookup(domain, typeURL, version)
	return ok
}

// Apply upcasts events of domain through every step that applies, in
// rounds: each round calls each step's upcaster once with all the events at
// that step. It returns a new slice (events is not changed); events without
// a step are returned as they are.
func (r *Registry) Apply(ctx context.Context, domain string, events []Event) ([]Event, error) {
	out := slices.Clone(events)
	for round := 0; ; round++ {
		type batch struct {
			u     Upcaster
			idx   []int
			steps []Step
		}
		var batches []*batch
		byStep := map[key]*batch{} // upcasters may be funcs: not comparable
		for i, e := range out {
			s, ok := r.lookup(domain, e.TypeURL, e.Version)
			if !ok {
				continue
			}
			k := key{s.Domain, s.From, s.Version}
			b := byStep[k]
			if b == nil {
				b = &batch{u: s.u}
				byStep[k] = b
				batches = append(batches, b)
			}
			b.idx = append(b.idx, i)
			b.steps = append(b.steps, s.Step)
		}
		if len(batches) == 0 {
			return out, nil
		}
		if round == MaxSteps {
			return nil, fmt.Errorf("%w: domain %s: more than %d steps", ErrUpcast, domain, MaxSteps)
		}
		for _, b := range batches {
			in := make([]Event, len(b.idx))
			for j, i := range b.idx {
				in[j] = out[i]
				if in[j].Version == 0 {
					in[j].Version = 1
				}
			}
			up, err := b.u.Upcast(ctx, domain, in)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrUpcast, b.steps[0], err)
			}
			if len(up) != len(in) {
				return nil, fmt.Errorf("%w: %s: returned %d events for %d", ErrUpcast, b.steps[0], len(up), len(in))
			}
			for j, i := range b.idx {
				s := b.steps[j]
				if up[j].Version != in[j].Version+1 || up[j].TypeURL != s.to() {
					return nil, fmt.Errorf("%w: %s: returned %s v%d; want %s v%d",
						ErrUpcast, s, up[j].TypeURL, up[j].Version, s.to(), in[j].Version+1)
				}
				out[i] = up[j]
			}
		}
	}
}
