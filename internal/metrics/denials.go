package metrics

import "github.com/prometheus/client_golang/prometheus"

// Denials counts calls refused by authentication or authorization:
// evented_auth_denials_total{group, reason}. Both labels take a few fixed
// words (auth.Group, and no_credentials, unknown_token, expired,
// invalid_token, unknown_certificate, malformed, missing_role, domain,
// unmapped), so a flood of bad calls cannot grow the series.
type Denials struct{ c *prometheus.CounterVec }

// NewDenials registers the counter in m's registry.
func (m *Metrics) NewDenials() *Denials {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "evented_auth_denials_total",
		Help: "Calls refused by authentication (UNAUTHENTICATED) or authorization (PERMISSION_DENIED), by RPC group and reason.",
	}, []string{"group", "reason"})
	m.Registry.MustRegister(c)
	return &Denials{c: c}
}

// Deny counts one denial.
func (d *Denials) Deny(group, reason string) { d.c.WithLabelValues(group, reason).Inc() }
