// Package console is evented's web console, served on the admin port at
// /: static pages embedded in the binary (plain HTML, CSS and JavaScript
// modules, no build step, nothing fetched from elsewhere) and a JSON API
// under /api/ that they call. The API reads the server's parts in-process
// (store, subscriptions, the gRPC services' handlers) and calls them as the
// gRPC ports would, so a command sent from the console is handled exactly
// as one sent with evented send.
//
// The console does not authenticate: the server guards /api/ on the admin
// port like /metrics (an admin caller, when authentication is on) and
// serves the static files openly; the page asks for a token when the API
// answers 401 and keeps it in sessionStorage.
package console

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/protoview"
)

//go:embed static
var static embed.FS

// Options are the server's parts the console shows and operates.
type Options struct {
	Version string
	Config  config.Config
	Sources config.Sources
	Store   delivery.Storage
	Hub     *delivery.Hub
	// Commands and Admin are the gRPC services' handlers, called directly.
	Commands eventedpb.BusinessCoordinatorServer
	Admin    eventedpb.DeliveryAdminServer
	// Intercept wraps each call of Commands and Admin as on the gRPC
	// ports (metrics); nil calls them as they are.
	Intercept grpc.UnaryServerInterceptor
	Reach     *Reach
	Samples   *Sampler
	Registry  *protoview.Registry
	Log       *slog.Logger
	Started   time.Time
}

// Console serves the pages and the API.
type Console struct {
	o     Options
	names protoview.Names
	mux   *http.ServeMux
}

// New returns the console's handler; mount it at / of the admin port.
func New(o Options) *Console {
	if o.Registry == nil {
		o.Registry, _ = protoview.Load(nil)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Intercept == nil {
		o.Intercept = func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			return h(ctx, req)
		}
	}
	c := &Console{o: o, mux: http.NewServeMux()}
	files, _ := fs.Sub(static, "static")
	fileServer := http.FileServerFS(files)
	c.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the console's pages are read with GET", http.StatusMethodNotAllowed)
			return
		}
		fileServer.ServeHTTP(w, r)
	})
	c.routes()
	return c
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	// Who asked, for the log of what the API does (a discard names its
	// caller): the authenticated identity when there is one (the admin
	// port's guard puts it in the context), else this peer.
	if addr, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
		r = r.WithContext(peer.NewContext(r.Context(), &peer.Peer{Addr: addr}))
	}
	c.mux.ServeHTTP(w, r)
}

// IsAPI reports whether path is one of the console's API calls, which
// need an admin caller when authentication is on; the rest of the
// console's paths are its static pages.
func IsAPI(path string) bool { return len(path) >= 5 && path[:5] == "/api/" || path == "/api" }
