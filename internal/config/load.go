package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Sources maps every leaf key path of Config ("storage.type",
// "server.command_handler_port", "business_logic", …) to where its effective
// value came from: "default", "file <path>" or "env <NAME>". A list-valued key
// is one leaf: it is always replaced whole, never merged item by item.
type Sources map[string]string

// Variables that are read but are not keys.
const (
	// EnvConfig names the config file when Load gets no path.
	EnvConfig = "EVENTED_CONFIG"
	// EnvLog overrides log.level; package logging reads it.
	EnvLog = "EVENTED_LOG"
	// EnvToken is the bearer token the CLI's client commands send; the
	// server does not read it.
	EnvToken = "EVENTED_TOKEN"
)

// envPrefix starts the systematic variable of every key: EVENTED_ and the key
// path upper-cased with "__" between levels (see EnvName).
const envPrefix = "EVENTED_"

// legacyEnv are the variables evented-rs read, kept so that deployments
// written for it keep working. The systematic variable of the same key wins.
var legacyEnv = map[string]string{
	"storage.path":                "STORAGE_PATH",
	"server.command_handler_port": "COMMAND_HANDLER_PORT",
	"server.event_query_port":     "EVENT_QUERY_PORT",
	"server.host":                 "SERVER_HOST",
}

const defaultFile = "config.yaml"

var durationType = reflect.TypeFor[time.Duration]()

// Load returns the effective configuration and where each value came from.
//
// It starts from Default, overlays one YAML file, then the environment, and
// validates the result. The file is path if non-empty, else the file named by
// EVENTED_CONFIG, else ./config.yaml if it exists; a file that was named but
// is missing is an error. A key written with no value ("host:") keeps the
// value it had.
//
// env looks up variables: os.Getenv in production, a map in tests; nil means
// none are set, and an empty value counts as unset. A lookup function cannot
// list names, so the EVENTED_ variables that name no key are found among the
// names of the process environment (os.Environ) whose value env reports as
// set: in production those are the same, and a test's env keeps stray
// variables of the process out.
//
// Every problem is reported at once, joined (errors.Join): unknown keys and
// variables, values of the wrong type, and everything Validate rejects. The
// Config and Sources returned with an error are what could be loaded, for
// diagnostics only.
func Load(path string, env func(string) string) (Config, Sources, error) {
	cfg := Default()
	src := Sources{}
	for _, k := range leafKeys(reflect.TypeFor[Config](), "") {
		src[k] = "default"
	}
	if env == nil {
		env = func(string) string { return "" }
	}

	if path == "" {
		path = env(EnvConfig)
	}
	var data []byte
	var err error
	if path != "" {
		data, err = os.ReadFile(path)
	} else if data, err = os.ReadFile(defaultFile); err == nil {
		path = defaultFile
	} else if errors.Is(err, fs.ErrNotExist) {
		err = nil // ./config.yaml is optional; a named file is not
	}
	if err != nil {
		return cfg, src, fmt.Errorf("config: %w", err)
	}

	var errs []error
	if path != "" {
		o := &overlay{src: src, origin: "file " + path, lines: true}
		if err := o.file(data, &cfg); err != nil {
			return cfg, src, fmt.Errorf("config %s: %w", path, err)
		}
		errs = append(errs, o.errs...)
	}
	errs = append(errs, overlayEnv(env, &cfg, src)...)
	if v := env(EnvLog); v != "" {
		// EVENTED_LOG beats log.level, so that config print shows the
		// level the server logs at.
		if level, found, err := LogLevel(v); err != nil {
			errs = append(errs, fmt.Errorf("env %s: %w", EnvLog, err))
		} else if found {
			cfg.Log.Level = level
			src["log.level"] = "env " + EnvLog
		}
	}

	if err := cfg.Validate(); err != nil {
		for _, e := range unjoin(err) {
			var ke *keyError
			if errors.As(e, &ke) {
				// Say which setting to fix: the default, the file or a variable.
				leaf, _, _ := strings.Cut(ke.key, "[")
				ke.origin = src[leaf]
			}
			errs = append(errs, e)
		}
	}
	return cfg, src, errors.Join(errs...)
}

// File returns the file Load reads when given path: path if non-empty, else
// the file named by EVENTED_CONFIG, else ./config.yaml if it exists, else ""
// (defaults and the environment only). env is as for Load.
func File(path string, env func(string) string) string {
	if path == "" && env != nil {
		path = env(EnvConfig)
	}
	if path == "" {
		if _, err := os.Stat(defaultFile); err == nil {
			path = defaultFile
		}
	}
	return path
}

// EnvName returns the systematic variable of a key path:
// EnvName("server.command_handler_port") is
// "EVENTED_SERVER__COMMAND_HANDLER_PORT".
func EnvName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "__"))
}

// LegacyEnvName returns the evented-rs variable that also sets key
// ("STORAGE_PATH" for storage.path), or "" when it has none.
func LegacyEnvName(key string) string { return legacyEnv[key] }

// overlayEnv applies the variables of every key to cfg and reports those
// EVENTED_ variables that name no key.
func overlayEnv(env func(string) string, cfg *Config, src Sources) []error {
	var errs []error
	known := map[string]bool{EnvConfig: true, EnvLog: true, EnvToken: true}
	root := reflect.ValueOf(cfg).Elem()
	for _, key := range leafKeys(root.Type(), "") {
		known[EnvName(key)] = true
		// Legacy first so that the systematic name wins.
		for _, name := range []string{legacyEnv[key], EnvName(key)} {
			if name == "" {
				continue
			}
			val := env(name)
			if val == "" {
				continue
			}
			field := fieldByPath(root, key)
			n, err := envNode(val, field.Type())
			if err != nil {
				errs = append(errs, &keyError{key: key, origin: "env " + name,
					msg: fmt.Sprintf("invalid value %q: want %s: %v", val, want(field.Type()), err)})
				continue
			}
			o := &overlay{src: src, origin: "env " + name}
			o.decode(n, field, key)
			errs = append(errs, o.errs...)
		}
	}
	var unknown []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, envPrefix) && !known[name] && env(name) != "" {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	unknown = slices.Compact(unknown)
	if len(unknown) > 0 {
		names := strings.Join(slices.Sorted(maps.Keys(known)), ", ")
		for _, name := range unknown {
			errs = append(errs, fmt.Errorf("env %s: unknown variable; known: %s", name, names))
		}
	}
	return errs
}

// envNode turns a variable's value into the node to decode. A string is taken
// literally (a path or URL may contain '#' or ": "); anything else is YAML, so
// that numbers, durations, booleans and lists share the file's rules.
func envNode(val string, t reflect.Type) (*yaml.Node, error) {
	if t.Kind() == reflect.String {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: val}, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(val), &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}, nil
	}
	return doc.Content[0], nil
}

// overlay decodes YAML nodes onto a Config, checking every key against the
// struct's yaml tags. Unlike yaml.Node.Decode of the whole document, it names
// the key path of each problem and keeps going after one.
type overlay struct {
	src    Sources
	origin string // recorded in src for every leaf set
	lines  bool   // report line numbers (file, not env)
	errs   []error

	aliases int
}

func (o *overlay) file(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file: defaults
		}
		return err
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return fmt.Errorf("line %d: a second YAML document; want one", extra.Line)
	case !errors.Is(err, io.EOF):
		return err
	}
	if len(doc.Content) > 0 {
		o.decode(doc.Content[0], reflect.ValueOf(cfg).Elem(), "")
	}
	return nil
}

func (o *overlay) fail(key string, n *yaml.Node, format string, args ...any) {
	e := &keyError{key: key, origin: o.origin, msg: fmt.Sprintf(format, args...)}
	if o.lines {
		e.line = n.Line
	}
	o.errs = append(o.errs, e)
}

// maxAliases bounds how many aliases one overlay follows. The node tree
// yaml.v3 returns does not expand them, and a few nested merges of merges
// (or an anchor merged into itself) would otherwise take forever.
const maxAliases = 1000

// decode overlays n onto v, the field at key path key.
func (o *overlay) decode(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind == yaml.AliasNode {
		o.aliases++
		if o.aliases == maxAliases+1 {
			o.fail(key, n, "more than %d aliases", maxAliases)
		}
		if o.aliases > maxAliases || n.Alias == nil {
			return
		}
		n = n.Alias
	}
	if n.ShortTag() == "!!null" {
		return // "key:" with no value keeps the value it had
	}
	switch {
	case v.Kind() == reflect.Struct:
		o.mapping(n, v, key)
	case v.Kind() == reflect.Slice:
		o.sequence(n, v, key)
	default:
		o.scalar(n, v, key)
	}
}

// set records where the value of key came from, if key is a leaf of Config
// (and not, say, a field of a list item).
func (o *overlay) set(key string) {
	if _, leaf := o.src[key]; leaf {
		o.src[key] = o.origin
	}
}

func (o *overlay) mapping(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.MappingNode {
		o.fail(key, n, "invalid value %s: want %s", show(n), want(v.Type()))
		return
	}
	fields := tagIndex(v.Type())
	// Merge keys ("<<: *base") first: keys written beside them win.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].ShortTag() == "!!merge" {
			for _, m := range mergeSources(n.Content[i+1]) {
				o.decode(m, v, key)
			}
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			continue
		}
		path := join(key, k.Value)
		if k.Kind != yaml.ScalarNode {
			o.fail(key, k, "a key that is not a string; want one of %s", strings.Join(tagNames(v.Type()), ", "))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			o.fail(path, k, "duplicate key (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields[k.Value]
		if !ok {
			o.fail(path, k, "unknown key; known keys: %s", strings.Join(tagNames(v.Type()), ", "))
			continue
		}
		o.decode(val, v.Field(idx), path)
	}
}

// mergeSources returns the mappings a merge key's value names: one alias or a
// list of them.
func mergeSources(n *yaml.Node) []*yaml.Node {
	if n.Kind == yaml.SequenceNode {
		return n.Content
	}
	return []*yaml.Node{n}
}

func (o *overlay) sequence(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.SequenceNode {
		o.fail(key, n, "invalid value %s: want %s", show(n), want(v.Type()))
		return
	}
	if len(n.Content) == 0 {
		v.SetZero() // [] and no key at all are the same: nil
		o.set(key)
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		o.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", key, i))
	}
	v.Set(s)
	o.set(key)
}

func (o *overlay) scalar(n *yaml.Node, v reflect.Value, key string) {
	// yaml.v3 would truncate 1.5 into an int; only an integer is one.
	intOK := v.Kind() != reflect.Int || v.Type() == durationType || n.ShortTag() == "!!int"
	if n.Kind != yaml.ScalarNode || !intOK || n.Decode(v.Addr().Interface()) != nil {
		o.fail(key, n, "invalid value %s: want %s", show(n), want(v.Type()))
		return
	}
	o.set(key)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// show quotes a node's value for a message.
func show(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "(a mapping)"
	case yaml.SequenceNode:
		return "(a list)"
	}
	return fmt.Sprintf("%q", n.Value)
}

// want says in words what a field of type t accepts.
func want(t reflect.Type) string {
	switch {
	case t == durationType:
		return `a duration such as "10s" or "1m30s"`
	case t.Kind() == reflect.Int:
		return "an integer"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Slice:
		return "a list of " + strings.TrimPrefix(want(t.Elem()), "a ")
	case t.Kind() == reflect.Struct:
		return "a mapping with keys " + strings.Join(tagNames(t), ", ")
	}
	return t.String()
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func tagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

func tagNames(t reflect.Type) []string {
	var names []string
	for f := range t.Fields() {
		names = append(names, tagName(f))
	}
	return names
}

func tagIndex(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := range t.NumField() {
		m[tagName(t.Field(i))] = i
	}
	return m
}

// leafKeys lists the key paths of t's scalar and list fields, in field order.
func leafKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for f := range t.Fields() {
		path := join(prefix, tagName(f))
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, leafKeys(f.Type, path)...)
		} else {
			keys = append(keys, path)
		}
	}
	return keys
}

func fieldByPath(v reflect.Value, path string) reflect.Value {
	for name := range strings.SplitSeq(path, ".") {
		v = v.Field(tagIndex(v.Type())[name])
	}
	return v
}
