package server

import (
	"fmt"
	"io"

	"google.golang.org/grpc"

	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/upcast"
	uremote "github.com/evented/evented/internal/upcast/remote"
)

// WithUpcasters adds the steps of r (in-process Go upcasters) to those of
// the configured upcaster services; the chains are checked together at
// start.
func WithUpcasters(r *upcast.Registry) Option {
	return func(o *options) { o.upcasters = r }
}

// upcasters builds the registry of every upcast step: the in-process ones,
// then one client per configured service. It fails when the steps do not
// chain (upcast.Registry.Check), naming them.
func upcasters(cfg []config.Upcaster, inProcess *upcast.Registry, opts ...grpc.DialOption) (*upcast.Registry, []io.Closer, error) {
	reg := upcast.NewRegistry()
	if inProcess != nil {
		for _, s := range inProcess.Steps() {
			reg.Register(s, inProcess.Upcaster(s))
		}
	}
	var closers []io.Closer
	fail := func(err error) (*upcast.Registry, []io.Closer, error) {
		for _, c := range closers {
			c.Close()
		}
		return nil, nil, err
	}
	for i, u := range cfg {
		key := fmt.Sprintf("upcasters[%d]", i)
		sec, err := serviceDialOptions(key, u.TLS, u.TokenFile)
		if err != nil {
			return fail(err)
		}
		c, err := uremote.Dial(u.Address, append(sec, opts...)...)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", key, err))
		}
		closers = append(closers, c)
		for _, s := range u.Steps {
			reg.Register(upcast.Step{Domain: u.Domain, From: s.Type, Version: uint32(s.FromVersion), To: s.To, Name: c.Name()}, c)
		}
	}
	if err := reg.Check(); err != nil {
		return fail(fmt.Errorf("upcasters: %w", err))
	}
	return reg, closers, nil
}

// upcastCacheBytes maps command.upcast_cache_bytes (0: keep none) to
// upcast.Options.CacheBytes (negative: none).
func upcastCacheBytes(n int) int64 {
	if n == 0 {
		return -1
	}
	return int64(n)
}
