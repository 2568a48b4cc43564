package grpcapi

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/auth"
)

// Guard authenticates and authorizes every call of a gRPC server: the
// caller's identity (bearer token in the "authorization" metadata, or
// client certificate) must hold the role of the RPC's group (auth.Policy),
// and, when it is limited to domains, every book or query it sends must be
// in one of them; aggregate roots of other domains are left out of what it
// receives. Denials are UNAUTHENTICATED (no identity) or PERMISSION_DENIED
// (the identity lacks a role or domain), each counted and logged.
type Guard struct {
	Auth *auth.Authenticator
	Log  *slog.Logger
	// Denied counts a denial by group and reason (bounded words).
	Denied func(group auth.Group, reason string)
}

// AuthMetadata is the gRPC metadata key of the bearer token.
const AuthMetadata = "authorization"

// deniedLog lets the same denial (caller, method, reason) be logged once
// per deniedEvery: a client retrying in a loop does not flood the log.
var deniedLog = &limiter{every: deniedEvery, last: map[string]time.Time{}}

const deniedEvery = 10 * time.Second

// Options are the server options that apply the guard; they come before
// every other interceptor.
func (g *Guard) Options() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.InTapHandle(g.Tap), grpc.ChainUnaryInterceptor(g.Unary), grpc.ChainStreamInterceptor(g.Stream)}
}

// Tap refuses, before the request is read or decoded, a call to an RPC the
// policy does not know and a call that carries no credentials at all: an
// anonymous caller cannot make evented read its payload. It does nothing
// that could block (the interceptors verify the credentials).
func (g *Guard) Tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	group, ok := auth.GroupOf(info.FullMethodName)
	if !ok || group == auth.GroupOpen {
		return ctx, nil // the interceptors deny or let through
	}
	if len(info.Header.Get(AuthMetadata)) > 0 || peerCert(ctx) != nil {
		return ctx, nil
	}
	_, err := g.Auth.Authenticate(ctx, "", nil)
	return ctx, g.deny(ctx, nil, info.FullMethodName, group, auth.Reason(err),
		status.Errorf(codes.Unauthenticated, "%s needs a caller with role %s: %v", info.FullMethodName, roleName(group), err))
}

// Unary guards a unary call.
func (g *Guard) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	id, _, err := g.check(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	if err := g.domain(ctx, id, info.FullMethod, req); err != nil {
		return nil, err
	}
	if id != nil {
		ctx = auth.NewContext(ctx, id)
	}
	return h(ctx, req)
}

// Stream guards a streaming call, and each message a domain-limited
// caller sends or receives.
func (g *Guard) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	id, _, err := g.check(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	if id != nil && len(id.Domains) > 0 {
		ss = &domainStream{ServerStream: ss, g: g, id: id, method: info.FullMethod}
	}
	if id != nil {
		ss = &identityStream{ServerStream: ss, ctx: auth.NewContext(ss.Context(), id)}
	}
	return h(srv, ss)
}

// check authenticates the caller of method and checks its role; the
// identity is nil for an open RPC.
func (g *Guard) check(ctx context.Context, method string) (*auth.Identity, auth.Group, error) {
	group, ok := auth.GroupOf(method)
	if !ok {
		return nil, auth.GroupUnmapped, g.deny(ctx, nil, method, auth.GroupUnmapped, "unmapped",
			status.Errorf(codes.PermissionDenied, "%s is not in evented's authorization policy: nobody may call it", method))
	}
	if group == auth.GroupOpen {
		return nil, group, nil
	}
	bearer, err := bearerOf(ctx)
	if err != nil {
		return nil, group, g.deny(ctx, nil, method, group, "malformed", status.Error(codes.Unauthenticated, err.Error()))
	}
	id, err := g.Auth.Authenticate(ctx, bearer, peerCert(ctx))
	if err != nil {
		return nil, group, g.deny(ctx, nil, method, group, auth.Reason(err),
			status.Errorf(codes.Unauthenticated, "%s needs a caller with role %s: %v", method, roleName(group), err))
	}
	if role := group.Role(); role != "" && !id.Has(role) {
		return nil, group, g.deny(ctx, id, method, group, "missing_role",
			status.Errorf(codes.PermissionDenied, "%s lacks role %s, which %s needs (it has: %s)", id, role, method, strings.Join(id.Roles, ", ")))
	}
	return id, group, nil
}

func roleName(g auth.Group) string {
	if r := g.Role(); r != "" {
		return r
	}
	return "any role"
}

// domain checks that id may touch the domain msg is about.
func (g *Guard) domain(ctx context.Context, id *auth.Identity, method string, msg any) error {
	if id == nil || len(id.Domains) == 0 {
		return nil
	}
	d, ok := domainOf(msg)
	if !ok || id.Allows(d) {
		return nil
	}
	group, _ := auth.GroupOf(method)
	return g.deny(ctx, id, method, group, "domain",
		status.Errorf(codes.PermissionDenied, "%s may not touch domain %q (it may: %s)", id, d, strings.Join(id.Domains, ", ")))
}

// domainOf is the domain a request is about.
func domainOf(msg any) (string, bool) {
	switch m := msg.(type) {
	case *eventedpb.CommandBook:
		return m.GetCover().GetDomain(), true
	case *eventedpb.EventBook:
		return m.GetCover().GetDomain(), true
	case *eventedpb.Query:
		return m.GetDomain(), true
	}
	return "", false
}

// domainStream checks every message a domain-limited caller sends, and
// leaves out the aggregate roots of other domains from what it receives.
type domainStream struct {
	grpc.ServerStream
	g      *Guard
	id     *auth.Identity
	method string
}

func (s *domainStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.g.domain(s.Context(), s.id, s.method, m)
}

func (s *domainStream) SendMsg(m any) error {
	if r, ok := m.(*eventedpb.AggregateRoot); ok && !s.id.Allows(r.GetDomain()) {
		return nil
	}
	return s.ServerStream.SendMsg(m)
}

// deny counts and logs a denial and returns err.
func (g *Guard) deny(ctx context.Context, id *auth.Identity, method string, group auth.Group, reason string, err error) error {
	if g.Denied != nil {
		g.Denied(group, reason)
	}
	caller := "anonymous"
	if id != nil {
		caller = id.String()
	}
	if deniedLog.allow(caller + "|" + method + "|" + reason) {
		addr := ""
		if p, ok := peer.FromContext(ctx); ok {
			addr = p.Addr.String()
		}
		g.Log.WarnContext(ctx, "call denied", "caller", caller, "method", method, "group", string(group),
			"reason", reason, "peer", addr, "err", status.Convert(err).Message())
	}
	return err
}

// bearerOf is the bearer token of the call's metadata, "" when none.
func bearerOf(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(AuthMetadata)
	switch len(vals) {
	case 0:
		return "", nil
	case 1:
		tok, ok := auth.Bearer(vals[0])
		if !ok {
			return "", fmt.Errorf("metadata %q is not \"Bearer <token>\"", AuthMetadata)
		}
		return tok, nil
	}
	return "", fmt.Errorf("metadata %q sent %d times; send it once", AuthMetadata, len(vals))
}

// peerCert is the client's verified certificate, nil without mutual TLS.
func peerCert(ctx context.Context) *x509.Certificate {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return nil
	}
	return info.State.VerifiedChains[0][0]
}

// identityStream carries the authenticated caller in its context.
type identityStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *identityStream) Context() context.Context { return s.ctx }
