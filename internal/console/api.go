package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/grpcapi"
	"github.com/evented/evented/internal/protoview"
	"github.com/evented/evented/internal/wire"
	"github.com/evented/evented/sdk"
)

func (c *Console) routes() {
	m := c.mux
	m.HandleFunc("GET /api/overview", c.overview)
	m.HandleFunc("GET /api/aggregates", c.aggregates)
	m.HandleFunc("GET /api/aggregates/{domain}/{root}", c.aggregate)
	m.HandleFunc("GET /api/log", c.logPage)
	m.HandleFunc("GET /api/tail", c.tail)
	m.HandleFunc("GET /api/subscriptions", c.subscriptions)
	m.HandleFunc("POST /api/subscriptions/{name}/reset", c.reset)
	m.HandleFunc("POST /api/cutover", c.cutover)
	m.HandleFunc("GET /api/parked", c.parked)
	m.HandleFunc("POST /api/parked/{name}/replay", c.replay)
	m.HandleFunc("POST /api/parked/{name}/discard", c.discard)
	m.HandleFunc("GET /api/types", c.types)
	m.HandleFunc("POST /api/send", c.send)
	m.HandleFunc("GET /api/config", c.config)
	m.HandleFunc("GET /api/deadlines", c.deadlines)
	m.HandleFunc("GET /api/snapshots", c.snapshots)
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such console API call: "+r.Method+" "+r.URL.Path)
	})
}

// maxBody bounds a request body of the API.
const maxBody = 1 << 20

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v) // fails only when the client is gone
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg}) // fails only when the client is gone
}

// fail answers err as the gRPC ports would have mapped it, with an HTTP
// code of the same meaning.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, method string, err error) {
	st, ok := status.FromError(err)
	if !ok {
		st, _ = status.FromError(grpcapi.Status(r.Context(), c.o.Log, method, err))
	}
	code := map[codes.Code]int{
		codes.InvalidArgument: http.StatusBadRequest, codes.NotFound: http.StatusNotFound,
		codes.FailedPrecondition: http.StatusConflict, codes.Aborted: http.StatusConflict,
		codes.AlreadyExists: http.StatusConflict, codes.Unavailable: http.StatusBadGateway,
		codes.DeadlineExceeded: http.StatusGatewayTimeout, codes.PermissionDenied: http.StatusForbidden,
		codes.ResourceExhausted: http.StatusTooManyRequests, codes.OutOfRange: http.StatusBadRequest,
	}[st.Code()]
	if code == 0 {
		code = http.StatusInternalServerError
	}
	writeError(w, code, st.Code().String()+": "+st.Message())
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "the request body is not the JSON this call takes: "+err.Error())
		return false
	}
	return true
}

// call runs a gRPC handler as the ports would: through the interceptor
// (metrics), its error mapped to a status, inside a stream that keeps the
// trailer it sets.
func (c *Console) call(ctx context.Context, method string, req any, fn func(ctx context.Context) (any, error)) (any, metadata.MD, error) {
	ts := &trailerStream{method: method}
	ctx = grpc.NewContextWithServerTransportStream(ctx, ts)
	out, err := c.o.Intercept(ctx, req, &grpc.UnaryServerInfo{FullMethod: method}, func(ctx context.Context, _ any) (any, error) {
		out, err := fn(ctx)
		return out, grpcapi.Status(ctx, c.o.Log, method, err)
	})
	return out, ts.trailer, err
}

type trailerStream struct {
	method  string
	trailer metadata.MD
}

func (t *trailerStream) Method() string               { return t.method }
func (t *trailerStream) SetHeader(metadata.MD) error  { return nil }
func (t *trailerStream) SendHeader(metadata.MD) error { return nil }
func (t *trailerStream) SetTrailer(md metadata.MD) error {
	t.trailer = metadata.Join(t.trailer, md)
	return nil
}

// --- Overview

type subscriptionView struct {
	Name        string        `json:"name"`
	Kind        string        `json:"kind"`
	Projector   string        `json:"projector,omitempty"`
	Version     int           `json:"version"`
	State       string        `json:"state"`
	Synchronous bool          `json:"synchronous"`
	Checkpoint  uint64        `json:"checkpoint"`
	Head        uint64        `json:"head"`
	Lag         uint64        `json:"lag"`
	LagSeconds  float64       `json:"lag_seconds"`
	Rate        float64       `json:"rate"`
	EtaSeconds  float64       `json:"eta_seconds"`
	Delivered   uint64        `json:"delivered"`
	Retries     uint64        `json:"retries"`
	Pending     int           `json:"pending"`
	Parked      int           `json:"parked"`
	ReplayUntil uint64        `json:"replay_until"`
	LastError   string        `json:"last_error,omitempty"`
	Replica     string        `json:"replica"`
	Segments    []segmentView `json:"segments"`
}

type segmentView struct {
	Index    int    `json:"index"`
	Of       int    `json:"of"`
	Owner    string `json:"owner"`
	Position uint64 `json:"position"`
	Lag      uint64 `json:"lag"`
	Expires  string `json:"expires,omitempty"`
	Local    bool   `json:"local"`
}

// kinds names each subscription's kind from the configuration.
func (c *Console) kinds() map[string]string {
	k := map[string]string{}
	for _, p := range c.o.Config.Projectors {
		k[p.Name] = "projector"
		if p.Version > 0 {
			k[delivery.VersionName(p.Name, p.Version)] = "projector"
		}
	}
	for _, s := range c.o.Config.Sagas {
		k[s.Name] = "saga"
	}
	return k
}

func (c *Console) subscriptionViews(ctx context.Context) ([]subscriptionView, uint64, error) {
	head, err := c.o.Store.Head(ctx)
	if err != nil {
		return nil, 0, err
	}
	kinds := c.kinds()
	views := []subscriptionView{}
	now := time.Now()
	for _, sub := range c.o.Hub.Subscriptions() {
		st := sub.Status()
		kind := kinds[st.Name]
		if kind == "" {
			kind = "relay"
		}
		v := subscriptionView{Name: st.Name, Kind: kind, Projector: st.Projector, Version: st.Version, State: st.State,
			Synchronous: st.Synchronous, Checkpoint: st.Checkpoint, Head: head, Rate: st.Rate, Delivered: st.Delivered, Retries: st.Retries,
			Pending: st.Pending, ReplayUntil: st.ReplayUntil, LastError: st.LastError, Replica: st.Replica, Segments: []segmentView{}}
		if head > st.Checkpoint {
			v.Lag = head - st.Checkpoint
		}
		v.LagSeconds, v.EtaSeconds = delivery.CatchUp(st, head, now)
		for _, seg := range st.Segments {
			sv := segmentView{Index: seg.Index, Of: seg.Of, Owner: seg.Owner, Position: seg.Position, Local: seg.Owner == st.Replica}
			if head > seg.Position {
				sv.Lag = head - seg.Position
			}
			if !seg.Expires.IsZero() {
				sv.Expires = seg.Expires.UTC().Format(time.RFC3339)
			}
			v.Segments = append(v.Segments, sv)
		}
		if parked, err := sub.Parked(ctx); err == nil {
			v.Parked = len(parked)
		}
		views = append(views, v)
	}
	return views, head, nil
}

type serviceView struct {
	TargetState
	// LastErrorAt is "" when there was none.
	LastErrorAt string `json:"last_error_at"`
	// Subscription errors of a projector's or saga's deliveries.
	DeliveryError string `json:"delivery_error,omitempty"`
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	subs, head, err := c.subscriptionViews(r.Context())
	if err != nil {
		c.fail(w, r, "overview", err)
		return
	}
	lastErr := map[string]string{}
	for _, s := range subs {
		name := s.Name
		if s.Projector != "" {
			name = s.Projector
		}
		if s.LastError != "" {
			lastErr[s.Kind+"/"+name] = s.LastError
		}
	}
	services := []serviceView{}
	for _, st := range c.o.Reach.States() {
		st.Address = redactURL(st.Address)
		v := serviceView{TargetState: st, DeliveryError: lastErr[st.Kind+"/"+st.Name]}
		if !st.LastErrorAt.IsZero() {
			v.LastErrorAt = st.LastErrorAt.UTC().Format(time.RFC3339)
		}
		services = append(services, v)
	}
	parked := 0
	for _, s := range subs {
		parked += s.Parked
	}
	cfg := c.o.Config
	storage := cfg.Storage.Type
	switch cfg.Storage.Type {
	case "sqlite":
		storage += " " + cfg.Storage.Path
	case "postgres", "redis":
		storage += " " + redactURL(cfg.Storage.URL)
	}
	bus := cfg.Bus.Type
	if bus == "" {
		bus = "none"
	}
	if cfg.Bus.URL != "" && bus != "none" {
		bus += " " + redactURL(cfg.Bus.URL)
	}
	writeJSON(w, map[string]any{
		"version": c.o.Version, "storage": storage, "bus": bus, "head": head,
		"started": c.o.Started.UTC().Format(time.RFC3339), "uptime_seconds": int(time.Since(c.o.Started).Seconds()),
		"samples": c.o.Samples.Samples(), "services": services, "subscriptions": subs, "parked": parked,
		"domains": configuredDomains(cfg),
	})
}

func configuredDomains(cfg config.Config) []string {
	d := []string{}
	for _, b := range cfg.BusinessLogic {
		d = append(d, b.Domain)
	}
	return d
}

func redactURL(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL, hidden)"
}

// --- Events

type aggregateView struct {
	Domain string `json:"domain"`
	Root   string `json:"root"`
	// Name is the name the root was derived from, when known.
	Name string `json:"name,omitempty"`
}

// maxAggregates bounds one listing of aggregates.
const maxAggregates = 1000

func (c *Console) aggregates(w http.ResponseWriter, r *http.Request) {
	domain := r.URL.Query().Get("domain")
	out := []aggregateView{}
	domains := map[string]int{}
	stop := errors.New("enough")
	err := c.o.Store.Roots(r.Context(), func(cv eventstore.Cover) error {
		domains[cv.Domain]++
		if (domain == "" || cv.Domain == domain) && len(out) < maxAggregates {
			out = append(out, aggregateView{Domain: cv.Domain, Root: cv.Root.String(), Name: c.names.Get(cv.Root)})
		}
		if len(domains) > 10_000 {
			return stop
		}
		return nil
	})
	if err != nil && !errors.Is(err, stop) {
		c.fail(w, r, "aggregates", err)
		return
	}
	c.nameAll(r.Context(), out)
	writeJSON(w, map[string]any{"domains": domains, "aggregates": out, "truncated": len(out) >= maxAggregates})
}

// lookupsPerListing bounds the aggregates whose first events one listing
// reads to find their names; the next listing goes on with the others.
const lookupsPerListing = 200

// nameAll fills in the names of the aggregates listed from their first
// events (protoview.NameFromEvents), remembering what it found: a name, or
// none once the aggregate has as many events as are looked at.
func (c *Console) nameAll(ctx context.Context, out []aggregateView) {
	budget := lookupsPerListing
	for i := range out {
		root, err := uuid.Parse(out[i].Root)
		if err != nil || out[i].Name != "" {
			continue
		}
		if _, known := c.names.Lookup(root); known || budget == 0 {
			continue
		}
		budget--
		events, err := c.o.Store.Read(ctx, eventstore.Cover{Domain: out[i].Domain, Root: root}, 0, protoview.NameEvents)
		if err != nil {
			return // the listing stands without the names
		}
		v := protoview.Book{}
		c.o.Registry.AddBook(&v, &eventedpb.EventBook{Pages: wire.PBEvents(events)})
		if name := protoview.NameFromEvents(root, v.Events); name != "" {
			c.names.Add(name, root)
			out[i].Name = name
		} else if len(events) >= protoview.NameEvents {
			c.names.NoName(root)
		}
	}
}

func (c *Console) cover(w http.ResponseWriter, r *http.Request) (eventstore.Cover, string, bool) {
	domain, id := r.PathValue("domain"), r.PathValue("root")
	if domain == "" || id == "" {
		writeError(w, http.StatusBadRequest, "want /api/aggregates/DOMAIN/ID, ID a UUID or a name")
		return eventstore.Cover{}, "", false
	}
	root := sdk.Root(id)
	name := c.names.Get(root)
	if _, err := uuid.Parse(id); err != nil {
		name = id
	}
	return eventstore.Cover{Domain: domain, Root: root}, name, true
}

func (c *Console) aggregate(w http.ResponseWriter, r *http.Request) {
	cv, name, ok := c.cover(w, r)
	if !ok {
		return
	}
	events, err := c.o.Store.Read(r.Context(), cv, 0, 0)
	if err != nil {
		c.fail(w, r, "events", err)
		return
	}
	book := &eventedpb.EventBook{Cover: wire.PBCover(cv), Pages: wire.PBEvents(events)}
	if snap, ok, err := c.o.Store.Snapshot(r.Context(), cv); err == nil && ok {
		book.Snapshot = &eventedpb.Snapshot{Sequence: snap.Sequence, State: &anypb.Any{TypeUrl: snap.TypeURL, Value: snap.State}}
	}
	v := protoview.Book{Events: []protoview.Event{}}
	c.o.Registry.AddBook(&v, book)
	v.Domain, v.Root = cv.Domain, cv.Root.String()
	if name != "" && len(events) > 0 {
		c.names.Add(name, cv.Root) // looked up by name: remember it
	}
	if name == "" {
		name = protoview.NameFromEvents(cv.Root, v.Events)
		if name != "" {
			c.names.Add(name, cv.Root)
		}
	}
	writeJSON(w, map[string]any{"book": v, "name": name, "snapshots": c.keptSnapshots(r, cv)})
}

// logEntry is one event of the global log.
type logEntry struct {
	Position uint64 `json:"position"`
	Domain   string `json:"domain"`
	Root     string `json:"root"`
	Name     string `json:"name,omitempty"`
	protoview.Event
}

func (c *Console) entries(events []eventstore.Logged) []logEntry {
	out := make([]logEntry, 0, len(events))
	for _, e := range events {
		pages := wire.PBEvents([]eventstore.Event{e.Event})
		ev := protoview.Event{Sequence: e.Sequence, CreatedAt: e.CreatedAt.UTC().Format(time.RFC3339Nano),
			Payload: c.o.Registry.Decode(e.TypeURL, e.Payload), Cause: protoview.NewCause(pages[0].GetMetadata())}
		out = append(out, logEntry{Position: e.Position, Domain: e.Cover.Domain, Root: e.Cover.Root.String(), Name: c.names.Get(e.Cover.Root), Event: ev})
	}
	return out
}

// logFilter selects log entries by domain, type (a part of the type name)
// and time.
type logFilter struct {
	domain, typ string
	since       time.Time
}

func parseFilter(q url.Values) (logFilter, error) {
	f := logFilter{domain: q.Get("domain"), typ: q.Get("type")}
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return f, fmt.Errorf("since %q is not an RFC 3339 time (2026-01-02T15:04:05Z)", s)
		}
		f.since = t
	}
	return f, nil
}

func (f logFilter) match(e eventstore.Logged) bool {
	return (f.domain == "" || e.Cover.Domain == f.domain) &&
		(f.typ == "" || strings.Contains(strings.ToLower(e.TypeURL), strings.ToLower(f.typ))) &&
		(f.since.IsZero() || !e.CreatedAt.Before(f.since))
}

// logPage is the latest events of the log, newest last, filtered:
// ?before=POSITION pages back; at most limit (100) are returned, from at
// most 5000 read.
func (c *Console) logPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := parseFilter(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	head, err := c.o.Store.Head(r.Context())
	if err != nil {
		c.fail(w, r, "log", err)
		return
	}
	before := head + 1
	if b, err := strconv.ParseUint(q.Get("before"), 10, 64); err == nil && b > 0 && b <= head+1 {
		before = b
	}
	limit := 100
	if l, err := strconv.Atoi(q.Get("limit")); err == nil && l > 0 && l < limit {
		limit = l
	}
	var matched []eventstore.Logged
	const window, maxRead = 500, 5000
	read := uint64(0)
	for end := before; end > 1 && len(matched) < limit && read < maxRead; {
		start := uint64(0)
		if end > window+1 {
			start = end - window - 1
		}
		batch, err := c.o.Store.ReadLog(r.Context(), start, window)
		if err != nil {
			c.fail(w, r, "log", err)
			return
		}
		var keep []eventstore.Logged
		for _, e := range batch {
			if e.Position < end && f.match(e) {
				keep = append(keep, e)
			}
		}
		matched = append(keep, matched...)
		read += window
		end = start + 1
	}
	if len(matched) > limit {
		matched = matched[len(matched)-limit:]
	}
	writeJSON(w, map[string]any{"head": head, "events": c.entries(matched)})
}

// tail streams the log's new events as Server-Sent Events, from after
// ?after=POSITION (the head when absent), filtered like /api/log, until the
// client goes away.
func (c *Console) tail(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming is not supported here")
		return
	}
	ctx := r.Context()
	after, err := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
	if err != nil {
		if after, err = c.o.Store.Head(ctx); err != nil {
			c.fail(w, r, "tail", err)
			return
		}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, "event: start\ndata: {\"after\":%d}\n\n", after)
	fl.Flush()
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		wake := c.o.Store.Appended()
		batch, err := c.o.Store.ReadLog(ctx, after, 100)
		if err != nil {
			if ctx.Err() == nil {
				fmt.Fprintf(w, "event: failure\ndata: %q\n\n", err.Error())
				fl.Flush()
			}
			return
		}
		var keep []eventstore.Logged
		for _, e := range batch {
			after = e.Position
			if f.match(e) {
				keep = append(keep, e)
			}
		}
		for _, e := range c.entries(keep) {
			var buf bytes.Buffer
			_ = json.NewEncoder(&buf).Encode(e) // a plain struct into a buffer: cannot fail
			fmt.Fprintf(w, "id: %d\ndata: %s\n", e.Position, bytes.TrimSpace(buf.Bytes()))
		}
		if len(batch) > 0 {
			fl.Flush()
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-time.After(time.Second): // commits by other processes
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
		}
	}
}

// --- Subscriptions and parked events

func (c *Console) subscriptions(w http.ResponseWriter, r *http.Request) {
	subs, head, err := c.subscriptionViews(r.Context())
	if err != nil {
		c.fail(w, r, "subscriptions", err)
		return
	}
	queries := []liveQueryView{}
	if c.o.Live != nil {
		for _, q := range c.o.Live() {
			queries = append(queries, liveQueryView{Projector: q.Projector, Key: q.Key, Client: q.Client,
				Since: q.Since.UTC().Format(time.RFC3339), Version: q.Version, Updates: q.Updates})
		}
	}
	writeJSON(w, map[string]any{"head": head, "subscriptions": subs, "queries": queries})
}

// liveQueryView is a subscription query this replica serves.
type liveQueryView struct {
	Projector string `json:"projector"`
	Key       string `json:"key"`
	Client    string `json:"client"`
	Since     string `json:"since"`
	Version   uint64 `json:"version"`
	Updates   uint64 `json:"updates"`
}

func (c *Console) reset(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AfterPosition *uint64 `json:"after_position"`
		Time          string  `json:"time"`
		SagaCommands  bool    `json:"saga_commands"`
		Confirm       bool    `json:"confirm"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	if !in.Confirm {
		writeError(w, http.StatusBadRequest, "a reset delivers events again: confirm it (confirm: true)")
		return
	}
	req := &eventedpb.ResetRequest{Subscriber: r.PathValue("name"), SagaCommands: in.SagaCommands}
	switch {
	case in.AfterPosition != nil:
		req.To = &eventedpb.ResetRequest_AfterPosition{AfterPosition: *in.AfterPosition}
	case in.Time != "":
		t, err := time.Parse(time.RFC3339, in.Time)
		if err != nil {
			writeError(w, http.StatusBadRequest, "time is not an RFC 3339 time")
			return
		}
		req.To = &eventedpb.ResetRequest_Time{Time: timestamppb.New(t)}
	default:
		req.To = &eventedpb.ResetRequest_Beginning{Beginning: true}
	}
	method := eventedpb.DeliveryAdmin_ResetSubscription_FullMethodName
	out, _, err := c.call(r.Context(), method, req, func(ctx context.Context) (any, error) { return c.o.Admin.ResetSubscription(ctx, req) })
	if err != nil {
		c.fail(w, r, method, err)
		return
	}
	res := out.(*eventedpb.ResetResult)
	writeJSON(w, map[string]any{"subscriber": req.Subscriber, "position": res.GetPosition(), "replay_until": res.GetReplayUntil(), "segments": res.GetSegments()})
}

func (c *Console) cutover(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Projector string `json:"projector"`
		Version   uint32 `json:"version"`
		Force     bool   `json:"force"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	method := eventedpb.DeliveryAdmin_CutOver_FullMethodName
	req := &eventedpb.CutOverRequest{Projector: in.Projector, Version: in.Version, Force: in.Force}
	out, _, err := c.call(r.Context(), method, req, func(ctx context.Context) (any, error) { return c.o.Admin.CutOver(ctx, req) })
	if err != nil {
		c.fail(w, r, method, err)
		return
	}
	res := out.(*eventedpb.CutOverResult)
	writeJSON(w, map[string]any{"projector": res.GetProjector(), "version": res.GetVersion(), "previous": res.GetPrevious()})
}

type parkedView struct {
	Subscriber string `json:"subscriber"`
	Position   uint64 `json:"position"`
	Domain     string `json:"domain"`
	Root       string `json:"root"`
	Name       string `json:"name,omitempty"`
	protoview.Event
	Reason   string `json:"reason"`
	Attempts int    `json:"attempts"`
	ParkedAt string `json:"parked_at"`
}

// maxParked bounds the parked events listed per subscriber.
const maxParked = 500

func (c *Console) parked(w http.ResponseWriter, r *http.Request) {
	only := r.URL.Query().Get("subscriber")
	out := []parkedView{}
	counts := map[string]int{}
	for _, sub := range c.o.Hub.Subscriptions() {
		if only != "" && sub.Name() != only {
			continue
		}
		parked, err := sub.Parked(r.Context())
		if err != nil {
			c.fail(w, r, "parked", err)
			return
		}
		counts[sub.Name()] = len(parked)
		for _, p := range parked[:min(len(parked), maxParked)] {
			e := c.entries([]eventstore.Logged{p.Logged})[0]
			out = append(out, parkedView{Subscriber: sub.Name(), Position: p.Position, Domain: e.Domain, Root: e.Root, Name: e.Name,
				Event: e.Event, Reason: p.Reason, Attempts: p.Attempts, ParkedAt: p.ParkedAt.UTC().Format(time.RFC3339)})
		}
	}
	writeJSON(w, map[string]any{"parked": out, "counts": counts})
}

// aggregatesBody names aggregates as domain and root (a UUID or a name).
type aggregatesBody struct {
	Aggregates []struct {
		Domain string `json:"domain"`
		Root   string `json:"root"`
	} `json:"aggregates"`
	Confirm bool `json:"confirm"`
}

func (b aggregatesBody) covers() ([]*eventedpb.Cover, error) {
	var out []*eventedpb.Cover
	for i, a := range b.Aggregates {
		if a.Domain == "" || a.Root == "" {
			return nil, fmt.Errorf("aggregates[%d]: want a domain and a root", i)
		}
		root := sdk.Root(a.Root)
		out = append(out, &eventedpb.Cover{Domain: a.Domain, Root: &eventedpb.UUID{Value: root[:]}})
	}
	return out, nil
}

func (c *Console) replay(w http.ResponseWriter, r *http.Request) {
	var in aggregatesBody
	if !decodeBody(w, r, &in) {
		return
	}
	covers, err := in.covers()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	method := eventedpb.DeliveryAdmin_ReplayParked_FullMethodName
	req := &eventedpb.ParkedQuery{Subscriber: r.PathValue("name"), Covers: covers}
	out, _, err := c.call(r.Context(), method, req, func(ctx context.Context) (any, error) { return c.o.Admin.ReplayParked(ctx, req) })
	if err != nil {
		c.fail(w, r, method, err)
		return
	}
	res := out.(*eventedpb.ReplayResult)
	failed := []map[string]string{}
	for _, f := range res.GetFailed() {
		failed = append(failed, map[string]string{"domain": f.GetCover().GetDomain(), "root": protoview.RootText(f.GetCover().GetRoot()), "error": f.GetError()})
	}
	writeJSON(w, map[string]any{"subscriber": r.PathValue("name"), "replayed": res.GetReplayed(), "failed": failed})
}

func (c *Console) discard(w http.ResponseWriter, r *http.Request) {
	var in aggregatesBody
	if !decodeBody(w, r, &in) {
		return
	}
	covers, err := in.covers()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	method := eventedpb.DeliveryAdmin_DiscardParked_FullMethodName
	req := &eventedpb.DiscardRequest{Subscriber: r.PathValue("name"), Covers: covers, Confirm: in.Confirm}
	out, _, err := c.call(r.Context(), method, req, func(ctx context.Context) (any, error) { return c.o.Admin.DiscardParked(ctx, req) })
	if err != nil {
		c.fail(w, r, method, err)
		return
	}
	res := out.(*eventedpb.DiscardResult)
	aggs := []string{}
	for _, cv := range res.GetCovers() {
		aggs = append(aggs, cv.GetDomain()+"/"+protoview.RootText(cv.GetRoot()))
	}
	writeJSON(w, map[string]any{"subscriber": r.PathValue("name"), "discarded": res.GetDiscarded(), "aggregates": aggs})
}

// --- Send a command

func (c *Console) types(w http.ResponseWriter, _ *http.Request) {
	types := c.o.Registry.Known()
	if types == nil {
		types = []string{}
	}
	writeJSON(w, map[string]any{"types": types, "domains": configuredDomains(c.o.Config)})
}

func (c *Console) send(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Domain         string          `json:"domain"`
		ID             string          `json:"id"`
		Type           string          `json:"type"`
		Payload        json.RawMessage `json:"payload"`
		IdempotencyKey string          `json:"idempotency_key"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	switch {
	case in.Domain == "":
		writeError(w, http.StatusBadRequest, "the domain is empty; name one, e.g. customer")
		return
	case in.ID == "":
		writeError(w, http.StatusBadRequest, "the aggregate id is empty; give a UUID or any name, e.g. cust-001")
		return
	}
	mt, err := c.o.Registry.Message(in.Type)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	body := string(in.Payload)
	if strings.TrimSpace(body) == "" || body == "null" {
		body = "{}"
	}
	msg, err := c.o.Registry.Parse(mt, body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	command, err := anypb.New(msg)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	root := sdk.Root(in.ID)
	c.names.Add(in.ID, root)
	ctx := r.Context()
	if in.IdempotencyKey != "" {
		ctx = metadata.NewIncomingContext(ctx, metadata.Pairs(grpcapi.KeyMetadata, in.IdempotencyKey))
	}
	method := eventedpb.BusinessCoordinator_Handle_FullMethodName
	req := &eventedpb.CommandBook{
		Cover: &eventedpb.Cover{Domain: in.Domain, Root: &eventedpb.UUID{Value: root[:]}},
		Pages: []*eventedpb.CommandPage{{Command: command}},
	}
	out, trailer, err := c.call(ctx, method, req, func(ctx context.Context) (any, error) { return c.o.Commands.Handle(ctx, req) })
	if err != nil {
		c.fail(w, r, method, err)
		return
	}
	v := c.o.Registry.Reply(out.(*eventedpb.SynchronousProcessingResponse))
	v.DeliveryFailures = trailer.Get(grpcapi.FailuresTrailer)
	writeJSON(w, map[string]any{"domain": in.Domain, "root": root.String(), "name": c.names.Get(root), "reply": v})
}

// --- Configuration

// config is the effective configuration as evented config print shows it
// (the source of every value), with secrets hidden: URLs lose their
// passwords; files of tokens and keys are shown by path, never read.
func (c *Console) config(w http.ResponseWriter, _ *http.Request) {
	cfg := c.o.Config
	cfg.Bus.URL = redactURL(cfg.Bus.URL)
	cfg.Storage.URL = redactURL(cfg.Storage.URL)
	cfg.Auth.OIDC.JWKSURL = redactURL(cfg.Auth.OIDC.JWKSURL)
	var buf bytes.Buffer
	if err := config.Print(&buf, cfg, c.o.Sources); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	files := []string{}
	for _, v := range c.o.Sources {
		if f, ok := strings.CutPrefix(v, "file "); ok && !slices.Contains(files, f) {
			files = append(files, f)
		}
	}
	writeJSON(w, map[string]any{"yaml": buf.String(), "files": files})
}
