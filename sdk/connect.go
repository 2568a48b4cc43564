package sdk

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// AuthorizationMetadata is the gRPC metadata that carries a bearer token:
// "authorization: Bearer <token>".
const AuthorizationMetadata = "authorization"

// DialOption configures Dial.
type DialOption func(*dialOptions)

type dialOptions struct {
	tls               bool
	caPEM             []byte
	caFile            string
	certFile, keyFile string
	serverName        string
	token             string
	grpc              []grpc.DialOption
}

// WithTLS connects with TLS, verifying the server with the system's roots
// (WithCAFile or WithCA verify with a CA of your own instead).
func WithTLS() DialOption { return func(o *dialOptions) { o.tls = true } }

// WithCAFile connects with TLS, verifying the server's certificate with
// the CA certificates of a PEM file.
func WithCAFile(path string) DialOption {
	return func(o *dialOptions) { o.tls, o.caFile = true, path }
}

// WithCA connects with TLS, verifying the server's certificate with the CA
// certificates of pem.
func WithCA(pem []byte) DialOption {
	return func(o *dialOptions) { o.tls, o.caPEM = true, pem }
}

// WithClientCertificate connects with TLS and presents the certificate and
// key of two PEM files to servers that require one (mutual TLS).
func WithClientCertificate(certFile, keyFile string) DialOption {
	return func(o *dialOptions) { o.tls, o.certFile, o.keyFile = true, certFile, keyFile }
}

// WithServerName sets the name the server's certificate must hold, when it
// is not the host of the target.
func WithServerName(name string) DialOption {
	return func(o *dialOptions) { o.serverName = name }
}

// WithToken sends "authorization: Bearer <token>" with every call. A token
// crosses the network only over TLS: without it, Dial accepts a loopback
// target only.
func WithToken(token string) DialOption { return func(o *dialOptions) { o.token = token } }

// WithGRPCOptions adds options of grpc.NewClient (interceptors, message
// sizes, …).
func WithGRPCOptions(opts ...grpc.DialOption) DialOption {
	return func(o *dialOptions) { o.grpc = append(o.grpc, opts...) }
}

// Dial returns a client connection to target ("evented.example.com:1313"),
// evented's command or query port or any gRPC server. Without options it
// is plaintext, for a server on this machine; with TLS and a token it
// reaches a server that requires both:
//
//	conn, err := sdk.Dial("evented.example.com:1313",
//		sdk.WithCAFile("ca.pem"), sdk.WithToken(os.Getenv("EVENTED_TOKEN")))
//	coordinator := eventedpb.NewBusinessCoordinatorClient(conn)
//
// Files are read here; a problem with one is an error naming it. Like
// grpc.NewClient, Dial does not wait for the server: a handshake that fails
// (a certificate signed by another CA) fails the calls with UNAVAILABLE.
func Dial(target string, opts ...DialOption) (*grpc.ClientConn, error) {
	var o dialOptions
	for _, opt := range opts {
		opt(&o)
	}
	creds := insecure.NewCredentials()
	if o.tls {
		tc, err := o.tlsConfig()
		if err != nil {
			return nil, fmt.Errorf("sdk: Dial %s: %w", target, err)
		}
		creds = credentials.NewTLS(tc)
	}
	dopts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if o.token != "" {
		if !o.tls && !loopback(target) {
			return nil, fmt.Errorf("sdk: Dial %s: a token without TLS would cross the network in clear: add WithCAFile, WithCA or WithTLS, or dial a loopback address", target)
		}
		if err := checkToken(o.token); err != nil {
			return nil, fmt.Errorf("sdk: Dial %s: %w", target, err)
		}
		dopts = append(dopts, grpc.WithPerRPCCredentials(bearer{"Bearer " + o.token, o.tls}))
	}
	conn, err := grpc.NewClient(target, append(dopts, o.grpc...)...)
	if err != nil {
		return nil, fmt.Errorf("sdk: Dial %s: %w", target, err)
	}
	return conn, nil
}

func (o *dialOptions) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.serverName}
	pem := o.caPEM
	if o.caFile != "" {
		var err error
		if pem, err = os.ReadFile(o.caFile); err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
	}
	if pem != nil {
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA %q: no PEM certificate in it", o.caFile)
		}
	}
	if o.certFile != "" || o.keyFile != "" {
		c, err := tls.LoadX509KeyPair(o.certFile, o.keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate %q with key %q: %w", o.certFile, o.keyFile, err)
		}
		tc.Certificates = []tls.Certificate{c}
	}
	return tc, nil
}

// TokenCredentials sends "authorization: Bearer <token>" with every call
// of a connection made with grpc.WithPerRPCCredentials, for connections
// you build yourself; gRPC sends it over TLS only. A token is printable
// ASCII without spaces.
func TokenCredentials(token string) (credentials.PerRPCCredentials, error) {
	if err := checkToken(token); err != nil {
		return nil, err
	}
	return bearer{"Bearer " + token, true}, nil
}

func checkToken(token string) error {
	if token == "" {
		return errors.New("token: empty")
	}
	for _, c := range []byte(token) {
		if c <= ' ' || c > '~' {
			return errors.New("token: want printable ASCII without spaces or line breaks")
		}
	}
	return nil
}

type bearer struct {
	value  string
	secure bool // false only for a plaintext loopback target (Dial checks)
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{AuthorizationMetadata: b.value}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }

// loopback reports whether target names this machine: localhost or a
// loopback IP, with a port, optionally after "dns:///" or "passthrough:///".
func loopback(target string) bool {
	if i := strings.Index(target, ":///"); i >= 0 {
		target = target[i+4:]
	}
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
