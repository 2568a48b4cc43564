// Package docs holds evented's documentation, in plain Markdown, and the
// tests that keep it true: its links resolve, its commands run as written,
// and its generated reference pages match the code.
//
// The pages of reference/config.md and reference/cli/ are generated:
//
//go:generate go run ../internal/docgen/gendocs -root ..
package docs
