package cli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// tableTime is created_at in tables: UTC, milliseconds.
const tableTime = "2006-01-02T15:04:05.000Z07:00"

// writeEvents prints events as a table: sequence, created_at, type, payload.
func writeEvents(w io.Writer, events []eventView) error {
	return writeEventTable(w, events, false)
}

// writeEventTable writes events as a table; with causes, each event's
// correlation id, depth and triggering event ("-" where there is none)
// come before the payload.
func writeEventTable(w io.Writer, events []eventView, causes bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if causes {
		fmt.Fprintln(tw, "SEQUENCE\tCREATED_AT\tTYPE\tCORRELATION_ID\tDEPTH\tCAUSED_BY\tPAYLOAD")
	} else {
		fmt.Fprintln(tw, "SEQUENCE\tCREATED_AT\tTYPE\tPAYLOAD")
	}
	for _, e := range events {
		created := e.CreatedAt
		if t, err := time.Parse(time.RFC3339Nano, created); err == nil {
			created = t.Format(tableTime)
		}
		if !causes {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", e.Sequence, created, e.Type, e.Text())
			continue
		}
		correlation, depth, by := "-", "-", "-"
		if c := e.Cause; c != nil {
			correlation, depth = cmp.Or(c.CorrelationID, "-"), fmt.Sprint(c.Depth)
			by = cmp.Or(c.CausedBy, "-")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Sequence, created, e.Type, correlation, depth, by, e.Text())
	}
	return tw.Flush()
}

// list prints a list command's views: as JSON with -o json, else a line
// empty when there are none, or a table (the header, then one row per
// view from row) and the footer line.
func list[V any](w io.Writer, out output, views []V, empty, header string, row func(V) string, footer string) error {
	if out == "json" {
		return writeJSON(w, views)
	}
	if len(views) == 0 {
		_, err := fmt.Fprintln(w, empty)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, v := range views {
		fmt.Fprintln(tw, row(v))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, footer)
	return err
}
