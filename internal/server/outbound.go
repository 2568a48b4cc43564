package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/evented/evented/internal/config"
)

// serviceDialOptions secures the connection to a business logic service,
// projector or saga as its tls block and token_file say; none of either is
// plaintext, the remote packages' default. key names the service's entry
// ("business_logic[0]") in errors.
func serviceDialOptions(key string, t config.ServiceTLS, tokenFile string) ([]grpc.DialOption, error) {
	var opts []grpc.DialOption
	if t.On() {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return nil, fmt.Errorf("%s.tls.ca_file: %w", key, err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s.tls.ca_file: %q holds no PEM certificate", key, t.CAFile)
			}
		}
		if t.CertFile != "" {
			kp := &keyPair{certFile: t.CertFile, keyFile: t.KeyFile}
			if _, err := kp.get(); err != nil {
				return nil, fmt.Errorf("%s.tls.cert_file: %w", key, err)
			}
			tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.get() }
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	}
	if tokenFile != "" {
		tok := &tokenCreds{file: tokenFile, secure: t.On()}
		if _, err := tok.token(); err != nil {
			return nil, fmt.Errorf("%s.token_file: %w", key, err)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(tok))
	}
	return opts, nil
}

// keyPair is a client certificate read again when its files change, so
// that a rotated certificate is used from the next handshake on.
type keyPair struct {
	certFile, keyFile string

	mu      sync.Mutex
	stamp   [2]time.Time
	current *tls.Certificate
}

func (k *keyPair) get() (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	stamp, err := modTimes(k.certFile, k.keyFile)
	if err == nil && k.current != nil && stamp == k.stamp {
		return k.current, nil
	}
	c, lerr := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if lerr != nil {
		if k.current != nil {
			return k.current, nil // half-written rotation: keep the last good pair
		}
		return nil, lerr
	}
	k.current, k.stamp = &c, stamp
	return k.current, nil
}

func modTimes(files ...string) ([2]time.Time, error) {
	var out [2]time.Time
	for i, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return out, err
		}
		out[i] = fi.ModTime()
	}
	return out, nil
}

// tokenCreds sends "authorization: Bearer <token>" with every call, the
// token read from its file again when the file changes (a rotated
// Kubernetes secret is picked up without a restart).
type tokenCreds struct {
	file   string
	secure bool // the connection uses TLS: gRPC then refuses to send it in clear

	mu    sync.Mutex
	stamp time.Time
	tok   string
}

func (c *tokenCreds) token() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fi, err := os.Stat(c.file)
	if err == nil && c.tok != "" && fi.ModTime().Equal(c.stamp) {
		return c.tok, nil
	}
	if err != nil {
		if c.tok != "" {
			return c.tok, nil
		}
		return "", err
	}
	data, err := os.ReadFile(c.file)
	if err == nil {
		var tok string
		if tok, err = config.ReadToken(data); err == nil {
			c.tok, c.stamp = tok, fi.ModTime()
		}
	}
	if err != nil && c.tok == "" {
		return "", fmt.Errorf("%q: %w", c.file, err)
	}
	return c.tok, nil
}

func (c *tokenCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	tok, err := c.token()
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer " + tok}, nil
}

func (c *tokenCreds) RequireTransportSecurity() bool { return c.secure }
