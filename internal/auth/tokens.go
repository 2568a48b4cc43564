package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/evented/evented/internal/config"
)

// TokensFile is the format of auth.tokens_file:
//
//	tokens:
//	  - name: billing                  # shown in logs and denials
//	    sha256: 3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b
//	    roles: [command, query]
//	    domains: [invoice]             # optional: only these domains
type TokensFile struct {
	Tokens []TokenEntry `yaml:"tokens"`
}

// TokenEntry is one static token, by the SHA-256 of its text.
type TokenEntry struct {
	Name    string   `yaml:"name"`
	SHA256  string   `yaml:"sha256"`
	Roles   []string `yaml:"roles"`
	Domains []string `yaml:"domains,omitempty"`
}

// HashToken is the hex SHA-256 of a token, as auth.tokens_file stores it.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// NewToken returns a new random token: "evt_" and 32 random bytes in
// base64url.
func NewToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return "evt_" + base64.RawURLEncoding.EncodeToString(b)
}

// ParseTokens reads and checks a tokens file; every problem is reported,
// naming the entry and the field.
func ParseTokens(data []byte) (map[string]*Identity, error) {
	var f TokensFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	var errs []error
	bad := func(i int, field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("tokens[%d].%s: %s", i, field, fmt.Sprintf(format, args...)))
	}
	byHash := map[string]*Identity{}
	names := map[string]int{}
	for i, t := range f.Tokens {
		if t.Name == "" {
			bad(i, "name", "empty: want a name for logs, such as billing")
		} else if first, dup := names[t.Name]; dup {
			bad(i, "name", "%q is also tokens[%d]: want each name once", t.Name, first)
		} else {
			names[t.Name] = i
		}
		h := strings.ToLower(t.SHA256)
		if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
			bad(i, "sha256", "want the token's SHA-256 as 64 hex digits (evented token hash), never the token itself")
		} else if _, dup := byHash[h]; dup {
			bad(i, "sha256", "the same token as an earlier entry")
		}
		if len(t.Roles) == 0 {
			bad(i, "roles", "empty: want one or more of %s", strings.Join(config.Roles, ", "))
		}
		for j, r := range t.Roles {
			if !slices.Contains(config.Roles, r) {
				bad(i, fmt.Sprintf("roles[%d]", j), "invalid value %q: want one of %s", r, strings.Join(config.Roles, ", "))
			}
			if r == RoleAdmin && len(t.Domains) > 0 {
				bad(i, "domains", "set with role admin: admin calls are not about one domain; give admin to a token without domains")
			}
		}
		for j, d := range t.Domains {
			if d == "" {
				bad(i, fmt.Sprintf("domains[%d]", j), "empty: want a domain name, such as customer")
			}
		}
		byHash[h] = &Identity{Name: t.Name, Source: "token", Roles: t.Roles, Domains: t.Domains}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return byHash, nil
}

// tokenCheckEvery bounds how often the tokens file is looked at for a
// change.
const tokenCheckEvery = time.Second

// tokenFile is auth.tokens_file, read again when it changes.
type tokenFile struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex
	checked time.Time
	stamp   string
	byHash  map[string]*Identity
}

func openTokens(path string, log *slog.Logger) (*tokenFile, error) {
	t := &tokenFile{path: path, log: log}
	stamp, byHash, err := t.read()
	if err != nil {
		return nil, err
	}
	t.stamp, t.byHash, t.checked = stamp, byHash, time.Now()
	return t, nil
}

func (t *tokenFile) read() (string, map[string]*Identity, error) {
	fi, err := os.Stat(t.path)
	if err != nil {
		return "", nil, fmt.Errorf("auth.tokens_file: %w", err)
	}
	data, err := os.ReadFile(t.path)
	if err != nil {
		return "", nil, fmt.Errorf("auth.tokens_file: %w", err)
	}
	byHash, err := ParseTokens(data)
	if err != nil {
		return "", nil, fmt.Errorf("auth.tokens_file %s: %w", t.path, err)
	}
	return fmt.Sprintf("%d@%s", fi.Size(), fi.ModTime().Format(time.RFC3339Nano)), byHash, nil
}

// lookup returns the identity of token, or nil.
func (t *tokenFile) lookup(token string) *Identity {
	h := HashToken(token)
	t.mu.Lock()
	defer t.mu.Unlock()
	if now := time.Now(); now.Sub(t.checked) >= tokenCheckEvery {
		t.checked = now
		t.reload()
	}
	return t.byHash[h]
}

// reload reads the file again if it changed; a file that does not load
// leaves the previous tokens in use. Called with mu held.
func (t *tokenFile) reload() {
	fi, err := os.Stat(t.path)
	if err != nil {
		return
	}
	stamp := fmt.Sprintf("%d@%s", fi.Size(), fi.ModTime().Format(time.RFC3339Nano))
	if stamp == t.stamp {
		return
	}
	t.stamp = stamp // a file that fails is reported once, not at every call
	_, byHash, err := t.read()
	if err != nil {
		t.log.Error("auth.tokens_file changed but does not load; the previous tokens stay valid", "err", err)
		return
	}
	t.byHash = byHash
	t.log.Info("auth.tokens_file changed; tokens reloaded", "tokens", len(byHash))
}
