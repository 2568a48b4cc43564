package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// textBlocks splits a JSON object into the one-line JSON of its other
// fields and its top-level string fields of several lines (a receipt's
// formatted_text), which read as text only when printed as lines: escaped
// into one line ("Receipt…\nCustomer…") they do not. Anything but an object
// comes back whole.
func textBlocks(js []byte) (line string, blocks [][2]string) {
	dec := json.NewDecoder(bytes.NewReader(js))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return string(js), nil
	}
	var out bytes.Buffer
	out.WriteByte('{')
	for dec.More() {
		tok, err := dec.Token()
		key, ok := tok.(string)
		var raw json.RawMessage
		if err != nil || !ok || dec.Decode(&raw) != nil {
			return string(js), nil
		}
		var s string
		if json.Unmarshal(raw, &s) == nil && strings.Contains(strings.TrimRight(s, "\n"), "\n") {
			blocks = append(blocks, [2]string{key, s})
			continue
		}
		if out.Len() > 1 {
			out.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		out.Write(k)
		out.WriteByte(':')
		out.Write(raw)
	}
	out.WriteByte('}')
	return out.String(), blocks
}

// writeTextBlocks prints each block as its field's name, then its lines
// indented.
func writeTextBlocks(w io.Writer, blocks [][2]string) {
	for _, b := range blocks {
		fmt.Fprintf(w, "  %s:\n", b[0])
		for l := range strings.Lines(strings.TrimRight(b[1], "\n")) {
			fmt.Fprintf(w, "    %s", l)
		}
		fmt.Fprintln(w)
	}
}
