package config

import (
	"io"
	"net/url"

	"go.yaml.in/yaml/v3"
)

// Print writes cfg as YAML that Load accepts, each leaf followed by a comment
// saying where its value came from:
//
//	storage:
//	  type: postgres # env EVENTED_STORAGE__TYPE
//	  path: ./data/events.db # default
//
// The password of storage.url is replaced by "xxxxx" so that the output can be
// pasted into an issue.
func Print(w io.Writer, cfg Config, src Sources) error {
	cfg.Storage.URL = redacted(cfg.Storage.URL)
	var root yaml.Node
	if err := root.Encode(cfg); err != nil {
		return err
	}
	comment(&root, "", src)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return err
	}
	return enc.Close()
}

// comment sets the source of every leaf key below the mapping n at path.
func comment(n *yaml.Node, path string, src Sources) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		if s, leaf := src[p]; leaf {
			// yaml.v3 misplaces a key's comment when the value is written
			// on the same line ("[]"); the value's is right there.
			if v.Kind == yaml.SequenceNode && len(v.Content) > 0 {
				k.LineComment = s
			} else {
				v.LineComment = s
			}
		} else if v.Kind == yaml.MappingNode {
			comment(v, p, src)
		}
	}
}

// redacted hides the password of a URL.
func redacted(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return s
}
