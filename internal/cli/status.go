package cli

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/evented/evented/internal/certs"
)

// statusView is the console's overview (GET /api/overview on the admin
// port), as evented status prints it.
type statusView struct {
	Version       string `json:"version"`
	Storage       string `json:"storage"`
	Bus           string `json:"bus"`
	Head          uint64 `json:"head"`
	UptimeSeconds int    `json:"uptime_seconds"`
	Parked        int    `json:"parked"`
	Samples       []struct {
		Rate      float64 `json:"rate"`
		LatencyMs float64 `json:"latency_ms"`
		Commands  uint64  `json:"commands"`
	} `json:"samples"`
	Services []struct {
		Kind          string `json:"kind"`
		Name          string `json:"name"`
		Address       string `json:"address"`
		Reachable     bool   `json:"reachable"`
		LastError     string `json:"last_error"`
		LastErrorAt   string `json:"last_error_at"`
		DeliveryError string `json:"delivery_error"`
	} `json:"services"`
	Subscriptions []struct {
		Name       string  `json:"name"`
		Kind       string  `json:"kind"`
		State      string  `json:"state"`
		Checkpoint uint64  `json:"checkpoint"`
		Lag        uint64  `json:"lag"`
		LagSeconds float64 `json:"lag_seconds"`
		Rate       float64 `json:"rate"`
		Retries    uint64  `json:"retries"`
		Parked     int     `json:"parked"`
		LastError  string  `json:"last_error"`
	} `json:"subscriptions"`
}

func newStatusCmd(load loader) *cobra.Command {
	var sec security
	var addr string
	var out output
	timeout := 10 * time.Second
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a running server at a glance: version, store, rates, services evented calls and whether they answer, subscriptions",
		Long: `Show what the console's overview shows, from the admin port (GET /api/overview; a
caller with role admin when authentication is on): the version, storage and bus, the
log head, the event rate and command latency of the last minute, every business-logic
service, projector, saga and broker with whether evented can reach it (checked in the
background) and its last error, and every subscription's progress. Exits 1 when a
service is unreachable or events are parked, so that scripts can check.`,
		Example: `  evented status
  evented status --admin-addr evented.internal:1315 --tls-ca ca.pem --token-file admin.token
  evented status -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			scheme, base, err := adminAddress(load, addr, sec.enabled())
			if err != nil {
				return err
			}
			client := &http.Client{Timeout: timeout}
			if sec.enabled() {
				cfg, err := sec.tlsConfig()
				if err != nil {
					return err
				}
				client.Transport = &http.Transport{TLSClientConfig: cfg}
			}
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, scheme+"://"+base+"/api/overview", nil)
			if err != nil {
				return err
			}
			tok, err := sec.bearer()
			if err != nil {
				return err
			}
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("cannot reach evented's admin port at %s: %v\nStart the server with `evented serve`, or point --admin-addr at a running one (server.admin_port in its configuration)%s",
					base, err, tlsHintFor(err.Error(), sec.enabled()))
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				msg := strings.TrimSpace(string(body))
				var e struct{ Error string }
				if json.Unmarshal(body, &e) == nil && e.Error != "" {
					msg = e.Error
				}
				if resp.StatusCode == http.StatusUnauthorized {
					msg += "\nAuthentication is on: pass a token with role admin (--token, --token-file or $EVENTED_TOKEN)"
				}
				return fmt.Errorf("admin port %s: %s: %s", base, resp.Status, msg)
			}
			var v statusView
			if err := json.Unmarshal(body, &v); err != nil {
				return fmt.Errorf("admin port %s: not the console's overview (an older evented?): %v", base, err)
			}
			w := cmd.OutOrStdout()
			if out == "json" {
				if _, err := w.Write(body); err != nil {
					return err
				}
			} else if err := writeStatus(w, v); err != nil {
				return err
			}
			down := 0
			for _, s := range v.Services {
				if !s.Reachable {
					down++
				}
			}
			switch {
			case down > 0:
				return fmt.Errorf("%d service(s) unreachable", down)
			case v.Parked > 0:
				return fmt.Errorf("%d event(s) parked (evented parked SUBSCRIBER lists them)", v.Parked)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "admin-addr", "", "address of evented's admin port (default localhost:1315, or localhost and server.admin_port of the loaded configuration)")
	cmd.Flags().DurationVar(&timeout, "timeout", timeout, "give up after this long")
	sec.addFlags(cmd)
	addOutputFlag(cmd, &out)
	return cmd
}

func writeStatus(w io.Writer, v statusView) error {
	var rate, latency float64
	var commands uint64
	n := min(len(v.Samples), 12) // about the last minute
	for _, s := range v.Samples[len(v.Samples)-n:] {
		rate += s.Rate
		commands += s.Commands
		latency += s.LatencyMs * float64(s.Commands)
	}
	if n > 0 {
		rate /= float64(n)
	}
	if commands > 0 {
		latency /= float64(commands)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "version\t%s (up %s)\n", v.Version, time.Duration(v.UptimeSeconds)*time.Second)
	fmt.Fprintf(tw, "storage\t%s\n", v.Storage)
	fmt.Fprintf(tw, "bus\t%s\n", v.Bus)
	fmt.Fprintf(tw, "log head\t%d\n", v.Head)
	fmt.Fprintf(tw, "events/s\t%.1f (last minute)\n", rate)
	fmt.Fprintf(tw, "commands\t%d, mean %.1f ms (last minute)\n", commands, latency)
	fmt.Fprintf(tw, "parked\t%d\n", v.Parked)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(v.Services) == 0 {
		fmt.Fprintln(w, "no business logic, projector, saga or broker configured (placeholder business logic)")
	} else {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tNAME\tADDRESS\tREACHABLE\tLAST ERROR")
		for _, s := range v.Services {
			reach := "yes"
			if !s.Reachable {
				reach = "NO"
			}
			last := s.DeliveryError
			if last == "" {
				last = s.LastError
				if last != "" && s.LastErrorAt != "" {
					last = s.LastErrorAt + " " + last
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Kind, s.Name, s.Address, reach, oneLine(last))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(v.Subscriptions) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SUBSCRIPTION\tKIND\tSTATE\tCHECKPOINT\tLAG\tLAG TIME\tRATE\tRETRIES\tPARKED\tLAST ERROR")
		for _, s := range v.Subscriptions {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.1fs\t%.1f/s\t%d\t%d\t%s\n", s.Name, s.Kind, s.State, s.Checkpoint, s.Lag, s.LagSeconds, s.Rate, s.Retries, s.Parked, oneLine(s.LastError))
		}
		return tw.Flush()
	}
	return nil
}

// adminAddress is --admin-addr, else localhost (or the configured host)
// and server.admin_port.
func adminAddress(load loader, addr string, withTLS bool) (scheme, hostPort string, err error) {
	scheme = "http"
	if withTLS {
		scheme = "https"
	}
	if addr != "" {
		if s, rest, ok := strings.Cut(addr, "://"); ok {
			return s, strings.TrimSuffix(rest, "/"), nil
		}
		return scheme, addr, nil
	}
	cfg, _, err := load()
	if err != nil {
		return "", "", fmt.Errorf("%w\n(the admin port's address comes from server.admin_port of the configuration: fix it, or pass --admin-addr HOST:PORT)", err)
	}
	if cfg.Server.AdminPort < 0 {
		return "", "", fmt.Errorf("the configuration turns the admin port off (server.admin_port: -1); pass --admin-addr HOST:PORT of a server that has one")
	}
	host := cfg.Server.Host
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	if !withTLS && cfg.Server.TLS.CertFile != "" {
		scheme = "https"
	}
	return scheme, net.JoinHostPort(host, strconv.Itoa(cfg.Server.AdminPort)), nil
}

// tlsConfig is the TLS of the --tls flags, for HTTP.
func (s *security) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.serverName}
	if s.ca != "" {
		pool, err := certs.Pool(s.ca)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		cfg.RootCAs = pool
	}
	if s.cert != "" {
		c, err := tls.LoadX509KeyPair(s.cert, s.key)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert %s and --tls-key %s: %w", s.cert, s.key, err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg, nil
}

func tlsHintFor(msg string, withTLS bool) string {
	if h := tlsHint(msg, withTLS); h != "" {
		return "\n" + h
	}
	return ""
}
