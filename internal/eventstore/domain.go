package eventstore

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// DefaultMaxDomain is the default bound on a domain's length, in bytes.
const DefaultMaxDomain = 64

// MaxDomainLimit is the highest bound a configuration may set: an AMQP
// routing key (domain, a dot and 32 hex digits of the root) is at most 255
// bytes.
const MaxDomainLimit = 222

// DomainRule says which domains are allowed, for error messages.
const DomainRule = "letters, digits, '-' and '_', with '.' only between two of them"

// DomainProblem says what is wrong with domain, or "" when it is allowed:
// 1 to max bytes of valid UTF-8, letters, digits, '-' and '_', and dots
// between non-empty words. Every bus carries such a name as a routing key
// word and a NATS subject token (no spaces, no control characters, no
// wildcards * > #), and it is a safe metrics label and key part.
func DomainProblem(domain string, max int) string {
	if domain == "" {
		return "must not be empty; want 1 to " + fmt.Sprint(max) + " bytes of " + DomainRule
	}
	if len(domain) > max {
		return fmt.Sprintf("is %d bytes long: want at most %d bytes of %s", len(domain), max, DomainRule)
	}
	if !utf8.ValidString(domain) {
		return fmt.Sprintf("%q is not valid UTF-8: want %s", domain, DomainRule)
	}
	prevDot := true // a dot may not come first
	for i, r := range domain {
		switch {
		case r == '.':
			if prevDot || i == len(domain)-1 {
				return fmt.Sprintf("%q: a '.' must sit between two words (no leading, trailing or double dot): want %s", domain, DomainRule)
			}
			prevDot = true
			continue
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
		default:
			return fmt.Sprintf("%q: character %q at byte %d is not allowed: want %s", domain, r, i, DomainRule)
		}
		prevDot = false
	}
	return ""
}

// CheckDomain returns an *InvalidError naming field when domain is not
// allowed (see DomainProblem).
func CheckDomain(field, domain string, max int) error {
	if p := DomainProblem(domain, max); p != "" {
		return Invalid(field, "%s", p)
	}
	return nil
}
