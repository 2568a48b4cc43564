package sdk

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// ServeTLS is Serve over TLS: evented connects with the tls block of the
// service's entry in its configuration (ca_file, and cert_file/key_file
// when tc requires client certificates). ServerTLSConfig builds tc from
// files.
//
//	tc, err := sdk.ServerTLSConfig("tls.crt", "tls.key", "evented-ca.pem")
//	err = sdk.ServeTLS(ctx, ":50052", tc, customer.New())
func ServeTLS(ctx context.Context, addr string, tc *tls.Config, svcs ...Service) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sdk: ServeTLS: %w", err)
	}
	return ServeTLSListener(ctx, lis, tc, svcs...)
}

// ServeTLSListener is ServeTLS on a listener it takes over (and closes).
func ServeTLSListener(ctx context.Context, lis net.Listener, tc *tls.Config, svcs ...Service) error {
	if tc == nil {
		_ = lis.Close()
		return fmt.Errorf("sdk: ServeTLS %s: no TLS configuration", lis.Addr())
	}
	return serveListener(ctx, lis, tc, svcs)
}

// ServerTLSConfig is a TLS configuration serving the certificate and key
// of two PEM files, read again when they change (a renewed certificate is
// served from the next connection on). With clientCAFile, clients must
// present a certificate signed by one of its CAs (mutual TLS); empty means
// no client certificate is asked for.
func ServerTLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	kp := &servedPair{certFile: certFile, keyFile: keyFile}
	if _, err := kp.get(); err != nil {
		return nil, fmt.Errorf("sdk: certificate %q with key %q: %w", certFile, keyFile, err)
	}
	tc := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.get() },
	}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("sdk: client CA: %w", err)
		}
		tc.ClientCAs = x509.NewCertPool()
		if !tc.ClientCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("sdk: client CA %q: no PEM certificate in it", clientCAFile)
		}
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// servedPair is a certificate read again when its files' times change.
type servedPair struct {
	certFile, keyFile string

	mu      sync.Mutex
	stamp   [2]time.Time
	current *tls.Certificate
}

func (p *servedPair) get() (*tls.Certificate, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var stamp [2]time.Time
	var statErr error
	for i, f := range []string{p.certFile, p.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			statErr = err
			break
		}
		stamp[i] = fi.ModTime()
	}
	if statErr == nil && p.current != nil && stamp == p.stamp {
		return p.current, nil
	}
	c, err := tls.LoadX509KeyPair(p.certFile, p.keyFile)
	if err != nil {
		if p.current != nil {
			return p.current, nil // a rotation half written: keep the last good pair
		}
		return nil, err
	}
	p.current, p.stamp = &c, stamp
	return p.current, nil
}
