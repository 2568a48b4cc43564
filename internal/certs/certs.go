// Package certs serves a TLS certificate and key from files, and the CA
// that client certificates must be signed by, re-reading the files when they
// change: a certificate renewed on disk (cert-manager, a Kubernetes Secret,
// certbot) is used by the next handshake, with no restart.
//
// Every handshake compares the files' size and modification time with those
// last read (a stat each, cheap beside the handshake). A change is loaded
// whole; if the new files do not load (half written, key and certificate
// not matching) the previous ones stay in use and the error is logged, once
// per change.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Files names the PEM files of a server.
type Files struct {
	// Cert is the certificate chain, leaf first; Key its private key.
	Cert, Key string
	// ClientCA, when set, holds the certificates that sign the clients'
	// certificates: every client must present one (mutual TLS).
	ClientCA string
}

// Server serves Files as a tls.Config.
type Server struct {
	files  Files
	log    *slog.Logger
	protos []string

	mu      sync.Mutex
	stamp   string // size and modification time of the files last loaded
	failed  string // stamp of the files that last failed to load
	current *tls.Config
}

// NewServer loads files and returns a Server whose Config offers protos
// (ALPN: "h2" for gRPC, "h2" and "http/1.1" for HTTP). An error names the
// file that does not load.
func NewServer(files Files, protos []string, log *slog.Logger) (*Server, error) {
	s := &Server{files: files, log: log, protos: protos}
	cfg, err := s.load()
	if err != nil {
		return nil, err
	}
	s.current, s.stamp = cfg, s.stat()
	return s, nil
}

// Config is the tls.Config to serve with: every handshake gets the files'
// current content.
func (s *Server) Config() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		NextProtos:         s.protos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return s.config(), nil },
	}
}

// config returns the tls.Config of the files as they are now.
func (s *Server) config() *tls.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	stamp := s.stat()
	if stamp == s.stamp || stamp == s.failed {
		return s.current
	}
	cfg, err := s.load()
	if err != nil {
		s.failed = stamp
		s.log.Error("TLS files changed but do not load; still serving the previous certificate", "err", err)
		return s.current
	}
	s.current, s.stamp, s.failed = cfg, stamp, ""
	s.log.Info("TLS files changed; serving the new certificate", "cert_file", s.files.Cert)
	return s.current
}

// stat sums up the files' sizes and modification times.
func (s *Server) stat() string {
	var stamp string
	for _, p := range []string{s.files.Cert, s.files.Key, s.files.ClientCA} {
		if p == "" {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			stamp += "missing;"
			continue
		}
		stamp += fmt.Sprintf("%d@%s;", fi.Size(), fi.ModTime().Format(time.RFC3339Nano))
	}
	return stamp
}

// load reads the files into a tls.Config.
func (s *Server) load() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(s.files.Cert, s.files.Key)
	if err != nil {
		return nil, fmt.Errorf("server.tls.cert_file %q and key_file %q: %w", s.files.Cert, s.files.Key, err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		NextProtos:   s.protos,
		Certificates: []tls.Certificate{cert},
	}
	if s.files.ClientCA != "" {
		pool, err := Pool(s.files.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("server.tls.client_ca_file: %w", err)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// Pool reads a PEM file of CA certificates.
func Pool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New(path + ": no PEM certificate in it")
	}
	return pool, nil
}
