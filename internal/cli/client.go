package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/sdk"
)

// This file holds what the client commands (send, events, snapshot,
// aggregates) share: where the server is, how to dial it, and how to turn a
// gRPC error into a message that says what to do.

// loader loads the effective configuration (the root's --config flag).
type loader func() (config.Config, config.Sources, error)

// port is one of the two ports of a server.
type port struct {
	name    string // "command", "query"
	service string // the gRPC service it serves
	flag    string // the flag that overrides its address
	key     string // its config key
	def     int    // its default number
	number  func(config.Server) int
}

var (
	commandPort = port{"command", eventedpb.BusinessCoordinator_ServiceDesc.ServiceName, "command-addr",
		"server.command_handler_port", 1313, func(s config.Server) int { return s.CommandHandlerPort }}
	queryPort = port{"query", eventedpb.EventQuery_ServiceDesc.ServiceName, "query-addr",
		"server.event_query_port", 1314, func(s config.Server) int { return s.EventQueryPort }}
)

// client is the connection settings of a client command.
type client struct {
	load    loader
	port    port
	addr    string
	timeout time.Duration
	sec     security
}

// addFlags registers --<port>-addr, --timeout and the TLS and token flags
// on cmd.
func (c *client) addFlags(cmd *cobra.Command, timeout time.Duration) {
	cmd.Flags().StringVar(&c.addr, c.port.flag, "", fmt.Sprintf(
		"address of evented's %s port (default localhost:%d, or localhost and %s of the loaded configuration)", c.port.name, c.port.def, c.port.key))
	cmd.Flags().DurationVar(&c.timeout, "timeout", timeout, "give up after this long")
	c.sec.addFlags(cmd)
}

// address is --<port>-addr, else localhost (or the configured host) and the
// configured port.
func (c *client) address() (string, error) {
	if c.addr != "" {
		return c.addr, nil
	}
	cfg, _, err := c.load()
	if err != nil {
		return "", fmt.Errorf("%w\n(the %s port's address comes from %s of the configuration: fix it, or pass --%s HOST:PORT)",
			err, c.port.name, c.port.key, c.port.flag)
	}
	host := cfg.Server.Host
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost" // the server listens everywhere; reach it here
	}
	return net.JoinHostPort(host, strconv.Itoa(c.port.number(cfg.Server))), nil
}

// conn is one dialled port.
type conn struct {
	*grpc.ClientConn
	port port
	addr string
	tls  bool // dialled with TLS
}

// dial connects lazily to the port; errors surface on the first call.
func (c *client) dial() (*conn, error) {
	addr, err := c.address()
	if err != nil {
		return nil, err
	}
	opts, err := c.sec.dialOptions()
	if err != nil {
		return nil, err
	}
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("--%s %q: %w", c.port.flag, addr, err)
	}
	return &conn{ClientConn: cc, port: c.port, addr: addr, tls: c.sec.enabled()}, nil
}

// context bounds one command's calls by --timeout.
func (c *client) context(parent context.Context) (context.Context, context.CancelFunc) {
	if c.timeout <= 0 {
		return context.WithCancel(parent)
	}
	return context.WithTimeout(parent, c.timeout)
}

// explain turns an error of a call on cn into one that says what happened
// and, where there is one, what to do about it.
func (cn *conn) explain(err error, timeout time.Duration) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	code, msg := codeName(st.Code()), st.Message()
	switch st.Code() {
	case codes.Unavailable:
		if cn.unreachable() {
			if hint := tlsHint(msg, cn.tls); hint != "" {
				return fmt.Errorf("cannot connect to evented's %s port at %s: %s\n%s", cn.port.name, cn.addr, cause(msg), hint)
			}
			return fmt.Errorf("cannot reach evented's %s port at %s: %s\n"+
				"Start the server with `evented serve` (from a clone of the repository: `go run ./cmd/evented serve`), "+
				"or point --%s at a running one (the %s port is %s in its configuration)",
				cn.port.name, cn.addr, cause(msg), cn.port.flag, cn.port.name, cn.port.key)
		}
	case codes.Unauthenticated:
		if strings.Contains(msg, "no bearer token") {
			return fmt.Errorf("%s: %s\nPass a token with --token, --token-file or $%s (or a client certificate with --tls-cert and --tls-key)",
				code, msg, config.EnvToken)
		}
		return fmt.Errorf("%s: %s\nThe server refused the token: check that it is the whole token, meant for this server, and not expired", code, msg)
	case codes.PermissionDenied:
		return fmt.Errorf("%s: %s\nAsk for a token with the role named, or use one that has it", code, msg)
	case codes.Unimplemented:
		return fmt.Errorf("%s does not serve %s (%s: %s)\n"+
			"Is it the other port? evented serves %s on the command port (%d by default) and %s on the query port (%d)",
			cn.addr, cn.port.service, code, msg,
			commandPort.service, commandPort.def, queryPort.service, queryPort.def)
	case codes.DeadlineExceeded:
		if timeout > 0 {
			return fmt.Errorf("%s: %s (this command waits --timeout %s)", code, msg, timeout)
		}
	}
	return fmt.Errorf("%s: %s", code, msg)
}

// receiveAll connects to the client's port, opens a server stream with
// open and returns all its messages; errors are explained (explain).
func receiveAll[T any](cmd *cobra.Command, c *client, open func(context.Context, grpc.ClientConnInterface) (grpc.ServerStreamingClient[T], error)) ([]*T, error) {
	cn, err := c.dial()
	if err != nil {
		return nil, err
	}
	defer cn.Close()
	ctx, cancel := c.context(cmd.Context())
	defer cancel()
	stream, err := open(ctx, cn)
	if err != nil {
		return nil, cn.explain(err, c.timeout)
	}
	var all []*T
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return all, nil
		}
		if err != nil {
			return nil, cn.explain(err, c.timeout)
		}
		all = append(all, m)
	}
}

// unreachable tells a connection that could not be made (the server is not
// running, the name does not resolve) from an UNAVAILABLE the server
// returned: one whose message names a business logic service evented could
// not reach says "connection error" and "dial tcp" too, so only the
// connection's own state tells them apart.
func (cn *conn) unreachable() bool {
	return cn.GetState() != connectivity.Ready
}

// cause trims gRPC's transport wording down to the network error.
func cause(msg string) string {
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.Contains(msg, "transport:") {
		return strings.TrimSuffix(msg[i+2:], `"`)
	}
	return msg
}

// codeName spells a code as the gRPC specification does: FAILED_PRECONDITION.
func codeName(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// aggregate is an aggregate named on the command line.
type aggregate struct {
	domain string
	id     string // as given: a UUID or any string
	root   uuid.UUID
}

func newAggregate(domain, id string) (aggregate, error) {
	if domain == "" {
		return aggregate{}, fmt.Errorf("the domain is empty; name one, e.g. customer")
	}
	if id == "" {
		return aggregate{}, fmt.Errorf("the aggregate id is empty; give a UUID or any name, e.g. cust-001")
	}
	return aggregate{domain: domain, id: id, root: sdk.Root(id)}, nil
}

func (a aggregate) cover() *eventedpb.Cover {
	return &eventedpb.Cover{Domain: a.domain, Root: &eventedpb.UUID{Value: a.root[:]}}
}

// String names the aggregate and the root its id maps to.
func (a aggregate) String() string {
	if _, err := uuid.Parse(a.id); err == nil {
		return fmt.Sprintf("%s %s", a.domain, a.root)
	}
	return fmt.Sprintf("%s %s (root %s, the name-based UUID of %q)", a.domain, a.id, a.root, a.id)
}

// output is the --output flag.
type output string

func addOutputFlag(cmd *cobra.Command, o *output) {
	*o = "table"
	cmd.Flags().VarP(o, "output", "o", "table or json")
	cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json"}, cobra.ShellCompDirectiveNoFileComp))
}

func (o *output) String() string { return string(*o) }
func (o *output) Type() string   { return "format" }
func (o *output) Set(s string) error {
	switch s {
	case "table", "json":
		*o = output(s)
		return nil
	}
	return fmt.Errorf("want table or json, got %q", s)
}
