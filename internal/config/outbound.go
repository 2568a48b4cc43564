package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"net"
	"os"
	"strings"
)

// ServiceTLS secures evented's connection to one business logic service,
// projector or saga. The zero value is plaintext, as before TLS existed.
//
//	business_logic:
//	  - domain: customer
//	    address: customer.internal:50052
//	    tls:
//	      ca_file: /etc/evented/services-ca.pem   # the service's CA
//	      cert_file: /etc/evented/client.pem      # evented's certificate (mTLS)
//	      key_file: /etc/evented/client-key.pem
//	      server_name: customer.internal          # name checked in the service's certificate
//	    token_file: /etc/evented/customer-token   # sent as authorization: Bearer <token>
type ServiceTLS struct {
	// Enabled turns TLS on with the system's roots; any other key set turns
	// it on too.
	Enabled bool `yaml:"enabled,omitempty"`
	// CAFile is the PEM file of the CA that signed the service's
	// certificate; empty means the system's roots.
	CAFile string `yaml:"ca_file,omitempty"`
	// CertFile and KeyFile are evented's client certificate and key (PEM),
	// for services that require mutual TLS. Both or neither.
	CertFile string `yaml:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty"`
	// ServerName is the name the service's certificate must hold; empty
	// means the host of the address.
	ServerName string `yaml:"server_name,omitempty"`
}

// On reports whether the connection uses TLS.
func (t ServiceTLS) On() bool { return t != ServiceTLS{} }

// service checks the tls block and token_file of the service at key.
func (v *validator) service(key, address string, t ServiceTLS, tokenFile string) {
	if t.CAFile != "" {
		if pem, ok := v.readFile(key+".tls.ca_file", t.CAFile, "the PEM file of the service's CA"); ok {
			if !x509.NewCertPool().AppendCertsFromPEM(pem) {
				v.add(key+".tls.ca_file", "%q holds no PEM certificate: want the PEM file of the CA that signed the service's certificate", t.CAFile)
			}
		}
	}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		v.add(key+".tls.key_file", "empty while tls.cert_file is set: want the PEM file of the client certificate's private key")
	case t.KeyFile != "" && t.CertFile == "":
		v.add(key+".tls.cert_file", "empty while tls.key_file is set: want the PEM file of evented's client certificate")
	case t.CertFile != "":
		_, certOK := v.readFile(key+".tls.cert_file", t.CertFile, "evented's client certificate (PEM)")
		_, keyOK := v.readFile(key+".tls.key_file", t.KeyFile, "the client certificate's private key (PEM)")
		if certOK && keyOK {
			if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
				v.add(key+".tls.cert_file", "%q with tls.key_file %q: %v: want a PEM certificate and its private key", t.CertFile, t.KeyFile, err)
			}
		}
	}
	if strings.ContainsAny(t.ServerName, " /:") {
		v.add(key+".tls.server_name", "invalid value %q: want a host name such as customer.internal", t.ServerName)
	}
	if tokenFile == "" {
		return
	}
	if data, ok := v.readFile(key+".token_file", tokenFile, "a file holding the bearer token"); ok {
		if _, err := ReadToken(data); err != nil {
			v.add(key+".token_file", "%q: %v", tokenFile, err)
		}
	}
	if !t.On() && !loopback(address) {
		v.add(key+".token_file", "set while the connection to %q is plaintext: the token would cross the network in clear; want a tls block (tls.enabled: true, or tls.ca_file) or a loopback address", address)
	}
}

// readFile reads a file named by key, reporting why it cannot.
func (v *validator) readFile(key, path, what string) ([]byte, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		v.add(key, "cannot read %q: %v: want %s", path, err, what)
		return nil, false
	}
	return data, true
}

// ReadToken returns the bearer token held in a token file's contents: one
// line of printable ASCII without spaces, surrounding white space ignored.
func ReadToken(data []byte) (string, error) {
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", errors.New("empty: want one line holding the token")
	}
	for _, c := range []byte(tok) {
		if c <= ' ' || c > '~' {
			return "", errors.New("the token holds a space, a line break or a byte that is not printable ASCII: want one line holding the token")
		}
	}
	return tok, nil
}

// loopback reports whether address (host:port) names this machine.
func loopback(address string) bool {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
